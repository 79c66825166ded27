package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/k2opt/k2opt/check"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/object"
)

// cmdCheck proves the same-named functions of two objects equivalent:
// whole programs when that is cheap, otherwise hunk by hunk after
// aligning the two instruction lists (package check).
// Exit 0 equivalent, 1 not (with a counterexample), 2 error or undecided.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	prog := fs.String("prog", "", "check only the function `NAME` (a program or a .text subprogram)")
	timeout := fs.Duration("timeout", 20*time.Second, "solver time limit per query")
	verbose := fs.Bool("v", false, "print per-function time and hunk counts")
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
	fns, err := checkedFunctions(fa, fb, *prog)
	if err != nil {
		return err
	}
	ck := check.New(&check.Options{Timeout: *timeout})
	defer ck.Close()
	var notEqual, unknown []string
	for _, name := range fns {
		res, err := ck.Function(context.Background(), fa, fb, name)
		if err != nil {
			return usageErr("check %s: %s", name, firstLine(err))
		}
		fmt.Fprintln(stdout, res.Line())
		if *verbose {
			fmt.Fprintf(stderr, "%s: %d hunks, %d windows, %v\n", name, res.Hunks, res.Windows, res.Elapsed.Round(time.Millisecond))
		}
		if res.HunkText != "" {
			fmt.Fprint(stdout, indent(res.HunkText)+"\n")
		}
		if cex := res.Counterexample; cex != nil {
			title := "counterexample:"
			if res.WindowCounterexample {
				title = "the hunk's two sides differ on this entry state (maybe unreachable):"
			}
			fmt.Fprintf(stdout, "%s\n%s\n", title, indent(cex.String()))
		}
		switch res.Verdict {
		case equiv.NotEqual:
			notEqual = append(notEqual, name)
		case equiv.Unknown:
			unknown = append(unknown, name)
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

// checkedFunctions lists the functions to check: the one named, or every
// entry program and subprogram of a, all of which b must have (and b no
// program a lacks).
func checkedFunctions(a, b *object.File, prog string) ([]string, error) {
	if prog != "" {
		fns, err := selectFunctions(a, prog, false)
		if err != nil {
			return nil, err
		}
		return []string{fns[0].Name}, nil
	}
	var out []string
	for _, fn := range a.Functions {
		if b.Function(fn.Name) == nil {
			return nil, usageErr("%s: no function %q (it is in %s)", b.Path, fn.Name, a.Path)
		}
		out = append(out, fn.Name)
	}
	for _, fn := range b.Programs() {
		if a.Function(fn.Name) == nil {
			return nil, usageErr("%s: program %q is not in %s", b.Path, fn.Name, a.Path)
		}
	}
	return out, nil
}
