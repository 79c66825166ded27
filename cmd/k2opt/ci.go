package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/k2opt/k2opt/check"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
)

// ciLimits are the budgets a CI run enforces on every output program.
type ciLimits struct {
	maxSlots     int // 0: none
	maxProcessed int // verifier-processed instructions; 0: none
}

// cmdCI is a batch run with fixed settings (seed, --iters, --jobs 1) and
// kernel verification, followed by an independent re-check of every
// written object read back from disk: each changed program must be proven
// equivalent (or at least not refuted), every program must load, and the
// limits must hold. Each failure is one readable line; any failure exits 1.
func cmdCI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ci", flag.ContinueOnError)
	v, help := batchFlags(fs)
	fs.Lookup("verify").DefValue = "kernel"
	fs.Set("verify", "kernel")
	maxSlots := fs.Int("max-slots", 0, "fail when an output program has more than `N` instruction slots (0: no limit)")
	maxProc := fs.Int("max-processed", 0, "fail when the verifier processes more than `N` instructions for an output program (0: no limit)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt ci -o OUTDIR [--max-slots N] [--max-processed N] [flags] IN...\n\nflags:\n"+flagHelp(fs))
		return nil
	}
	if *maxSlots < 0 || *maxProc < 0 {
		return usageErr("ci: --max-slots and --max-processed must not be negative")
	}
	if err := v.finish(fs, stderr); err != nil {
		return err
	}
	if *maxProc > 0 && v.cfg.Verify != "kernel" {
		return usageErr("ci: --max-processed needs the kernel verifier (--verify kernel)")
	}
	rep, err := runBatch(v, pos, stdout, stderr)
	if err != nil {
		return err
	}
	lim := ciLimits{maxSlots: *maxSlots, maxProcessed: *maxProc}
	var fails []string
	nprogs := 0
	ctx := context.Background()
	for _, o := range rep.Objects {
		if o.Status == "error" {
			fails = append(fails, o.Key+": "+o.Error)
			continue
		}
		nprogs += len(o.Programs)
		in := o.Input
		out := filepath.Join(v.cfg.outDir, o.Key)
		fails = append(fails, ciCheck(ctx, in, out, lim, v.cfg.Verify == "kernel", v.cfg.ProofTimeout)...)
	}
	fmt.Fprintln(stdout)
	if len(fails) > 0 {
		for _, f := range fails {
			fmt.Fprintln(stdout, "FAIL "+f)
		}
		return problem("ci: %d check(s) failed; first: %s", len(fails), fails[0])
	}
	fmt.Fprintf(stdout, "ci: ok: %d object(s), %d program(s): outputs equivalent (or unchanged), loadable, within limits\n", len(rep.Objects), nprogs)
	return nil
}

// ciCheck re-reads an input and its output from disk and returns one line
// per problem: a program not equivalent, not loadable, or over a limit.
func ciCheck(ctx context.Context, inPath, outPath string, lim ciLimits, useKernel bool, timeout time.Duration) []string {
	in, err := object.Open(inPath)
	if err != nil {
		return []string{firstLine(err)}
	}
	out, err := object.Open(outPath)
	if err != nil {
		return []string{firstLine(err)}
	}
	var fails []string
	var verdicts map[string]kernel.Verdict
	if useKernel {
		b, err := os.ReadFile(outPath)
		if err != nil {
			return []string{fmt.Sprintf("%s: %v", outPath, err)}
		}
		vs, err := kernel.Verify(b, &kernel.Options{BriefRejectLog: true})
		if err != nil {
			return []string{fmt.Sprintf("%s: does not load: %s", outPath, firstLine(err))}
		}
		verdicts = map[string]kernel.Verdict{}
		for _, v := range vs {
			verdicts[v.Program] = v
		}
	}
	var ck *check.Checker
	defer func() {
		if ck != nil {
			ck.Close()
		}
	}()
	for _, fn := range out.Programs() {
		name := fn.Name
		orig := in.Function(name)
		if orig == nil {
			fails = append(fails, fmt.Sprintf("%s: program %s is not in the input %s", outPath, name, inPath))
			continue
		}
		if !slices.Equal(orig.Insns, fn.Insns) {
			if in.Spec == nil || out.Spec == nil {
				fails = append(fails, fmt.Sprintf("%s: program %s changed but cannot be checked (cilium/ebpf cannot read the object)", outPath, name))
			} else {
				if ck == nil {
					ck = check.New(&check.Options{Timeout: timeout})
				}
				// the compositional check of 'k2opt check'; unknown is not a
				// failure (the window proofs the optimizer made stand), NOT
				// equivalent comes with an input that shows it
				if r, err := ck.Function(ctx, in, out, name); err == nil && r.Verdict == equiv.NotEqual {
					why := "a hunk differs"
					if r.Counterexample != nil {
						why = r.Counterexample.Diff
					}
					fails = append(fails, fmt.Sprintf("%s: program %s is not equivalent to %s: %s", outPath, name, inPath, why))
				}
			}
		}
		if lim.maxSlots > 0 && fn.Slots() > lim.maxSlots {
			fails = append(fails, fmt.Sprintf("%s: program %s has %d instruction slots after optimization (%d before), over --max-slots %d",
				outPath, name, fn.Slots(), orig.Slots(), lim.maxSlots))
		}
		if !useKernel {
			continue
		}
		v, ok := verdicts[name]
		switch {
		case !ok:
			fails = append(fails, fmt.Sprintf("%s: program %s: no kernel verdict", outPath, name))
		case v.Status == kernel.Rejected || v.Status == kernel.Failed:
			fails = append(fails, fmt.Sprintf("%s: program %s does not load: %s", outPath, name, firstLine(v.Err)))
		case lim.maxProcessed > 0 && v.Processed > lim.maxProcessed:
			fails = append(fails, fmt.Sprintf("%s: program %s: the verifier processed %d instructions, over --max-processed %d",
				outPath, name, v.Processed, lim.maxProcessed))
		}
	}
	return fails
}
