package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/interp"
)

// cmdCheck proves the same-named programs of two objects equivalent.
// Exit 0 equivalent, 1 not (with a counterexample), 2 error or undecided.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	prog := fs.String("prog", "", "check only the program `NAME`")
	timeout := fs.Duration("timeout", 60*time.Second, "solver time limit per program")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt check A.o B.o [--prog NAME]\n"+flagHelp(fs))
		return nil
	}
	if len(pos) != 2 {
		return usageErr("check: want two object files, got %d arguments", len(pos))
	}
	fa, err := openObject(pos[0])
	if err != nil {
		return err
	}
	fb, err := openObject(pos[1])
	if err != nil {
		return err
	}
	fns, err := selectFunctions(fa, *prog, false)
	if err != nil {
		return err
	}
	ck := equiv.NewChecker(&equiv.Options{Timeout: *timeout, NoCache: true})
	defer ck.Close()
	var notEqual, unknown []string
	for _, fn := range fns {
		if fb.Function(fn.Name) == nil {
			return usageErr("%s: no program %q (it is in %s)", fb.Path, fn.Name, fa.Path)
		}
		pa, err := interp.FromSpec(fa.Spec, fn.Name)
		if err != nil {
			return usageErr("%s: program %s: %s", fa.Path, fn.Name, firstLine(err))
		}
		pb, err := interp.FromSpec(fb.Spec, fn.Name)
		if err != nil {
			return usageErr("%s: program %s: %s", fb.Path, fn.Name, firstLine(err))
		}
		res, err := ck.Programs(context.Background(), pa, pb)
		if err != nil {
			return usageErr("check %s: %s", fn.Name, firstLine(err))
		}
		switch res.Verdict {
		case equiv.Equal:
			fmt.Fprintf(stdout, "%s: equivalent\n", fn.Name)
		case equiv.NotEqual:
			notEqual = append(notEqual, fn.Name)
			fmt.Fprintf(stdout, "%s: NOT equivalent\ncounterexample:\n%s\n", fn.Name, indent(res.Counterexample.String()))
		default:
			unknown = append(unknown, fn.Name)
			fmt.Fprintf(stdout, "%s: unknown: %s\n", fn.Name, res.Reason)
		}
	}
	if len(notEqual) > 0 {
		return problem("check: not equivalent: %s", strings.Join(notEqual, ", "))
	}
	if len(unknown) > 0 {
		return usageErr("check: could not decide: %s", strings.Join(unknown, ", "))
	}
	return nil
}
