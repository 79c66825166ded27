package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/safety/kernel"
	"github.com/k2opt/k2opt/synth"
)

// programReport is one program's line of --report.
type programReport struct {
	synth.Report
	Status       string `json:"status"` // optimized, unchanged, reverted
	Reason       string `json:"reason,omitempty"`
	WholeProof   string `json:"whole_program_proof"` // equal, unknown: why, skipped
	KernelBefore int    `json:"kernel_processed_before"`
	KernelAfter  int    `json:"kernel_processed_after"`
}

type runReport struct {
	Input     string           `json:"input"`
	Output    string           `json:"output"`
	Objective string           `json:"objective"`
	Seed      uint64           `json:"seed"`
	Jobs      int              `json:"jobs"`
	Verify    string           `json:"verify"`
	Programs  []programReport  `json:"programs"`
	Elapsed   time.Duration    `json:"elapsed_ns"`
	Rules     *synth.RuleStats `json:"rules,omitempty"` // the rule cache's size and what it did
}

func cmdOptimize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("k2opt", flag.ContinueOnError)
	out := fs.String("o", "", "write the optimized object to `OUT.o` (required)")
	o0 := fs.Bool("O0", false, "no search: read and write back (round trip)")
	prog := fs.String("prog", "", "optimize only program `NAME`")
	objective := fs.String("objective", "size", "`GOAL`: size, latency or complexity (verifier processed insns)")
	budget := fs.Duration("time", 0, "search time budget per program (e.g. 30s); default: --iters")
	iters := fs.Int64("iters", 0, "proposals per chain per program (default: synth's default)")
	rounds := fs.Int("rounds", synth.DefaultRounds, "passes over each program, each on the previous one's result")
	seed := fs.Uint64("seed", 1, "random seed; same seed and --jobs 1 give the same output")
	jobs := fs.Int("jobs", 1, "parallel chains per window")
	verify := fs.String("verify", "auto", "`MODE`: auto (kernel verifier when this process may load BPF), kernel, static")
	reportPath := fs.String("report", "", "write a JSON report to `FILE.json`")
	proofTimeout := fs.Duration("proof-timeout", 3*time.Second, "solver time limit per equivalence check")
	maxTime := fs.Duration("max-time", 60*time.Second, "hard cap on the search of one program; it stops and keeps what it proved (0: none)")
	rules := addRuleFlags(fs)
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, usage+"\n\nflags:\n"+flagHelp(fs))
		return nil
	}
	if len(pos) != 1 {
		return usageErr("want exactly one input object, got %d arguments (see k2opt help)", len(pos))
	}
	if *out == "" {
		return usageErr("missing -o OUT.o")
	}
	obj, err := cost.ParseObjective(*objective)
	if err != nil {
		return usageErr("--objective: %v", err)
	}
	if *verify != "auto" && *verify != "kernel" && *verify != "static" {
		return usageErr("--verify must be auto, kernel or static, not %q", *verify)
	}
	if *jobs < 1 {
		return usageErr("--jobs must be at least 1")
	}
	if *rounds < 1 {
		return usageErr("--rounds must be at least 1")
	}
	f, err := openObject(pos[0])
	if err != nil {
		return err
	}
	progs, err := selectFunctions(f, *prog, false)
	if err != nil {
		return err
	}
	if *prog == "" {
		progs = searchable(f)
	}
	if *o0 {
		return writeObject(f, *out, nil)
	}
	ruleSet, err := rules.load()
	if err != nil {
		return err
	}
	useKernel := *verify != "static"
	if kerr := kernel.Available(); kerr != nil && useKernel {
		if *verify == "kernel" {
			return usageErr("--verify kernel: kernel verifier unavailable: %v", kerr)
		}
		fmt.Fprintf(stderr, "k2opt: kernel verifier unavailable (%v); outputs are checked statically only\n", kerr)
		useKernel = false
	}
	if f.Spec == nil {
		return usageErr("%s: cilium/ebpf cannot read this object: %v", f.Path, f.SpecErr)
	}

	// Ctrl-C stops the search; the best proven programs so far are written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	prover := newProver(*proofTimeout)
	prover.proofs = ruleSet
	defer prover.Close()
	opts := synth.Options{Objective: obj, Time: *budget, Iters: *iters, Seed: *seed, Jobs: *jobs, Prover: prover, Rules: ruleSet, Rounds: *rounds}
	searchCap = *maxTime
	rep := runReport{Input: pos[0], Output: *out, Objective: obj.String(), Seed: *seed, Jobs: *jobs, Verify: *verify}
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	data, err := optimizeFile(ctx, f, progs, opts, useKernel, *proofTimeout, &rep, progress)
	if err != nil {
		return err
	}
	if err := object.WriteFile(*out, data, f.Path); err != nil {
		return usageErr("write %s: %v", *out, err)
	}
	if err := rules.save(ruleSet); err != nil {
		return err
	}
	printSummary(stdout, &rep)
	if line := rules.summary(ruleSet); line != "" {
		fmt.Fprintln(stdout, line)
		st := ruleSet.Stats()
		rep.Rules = &st
	}
	if *reportPath != "" {
		b, _ := json.MarshalIndent(&rep, "", "  ")
		if err := object.WriteFile(*reportPath, append(b, '\n'), f.Path); err != nil {
			return usageErr("write %s: %v", *reportPath, err)
		}
	}
	return nil
}

// searchCap is the hard per-program search cap (--max-time).
var searchCap = 60 * time.Second

// optimizeFile searches every program of progs and returns the bytes of the
// new object, which passed the final gate (finalCheck); rep gets one entry
// per program. progress, when not nil, receives a live status line.
func optimizeFile(ctx context.Context, f *object.File, progs []*object.Function, opts synth.Options, useKernel bool, proofTimeout time.Duration, rep *runReport, progress io.Writer) ([]byte, error) {
	start := time.Now()
	rws := map[string]object.Rewrite{}
	for _, fn := range progs {
		pr := programReport{WholeProof: "skipped", KernelBefore: -1, KernelAfter: -1}
		if progress != nil {
			fmt.Fprintf(progress, "\r\033[K%s: searching...", fn.Name)
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if searchCap > 0 {
			pctx, cancel = context.WithTimeout(ctx, searchCap)
		}
		res, err := synth.OptimizeProgram(pctx, f, fn, opts)
		if pctx.Err() == context.DeadlineExceeded && ctx.Err() == nil && err == nil {
			res.Report.Note = strings.TrimPrefix(res.Report.Note+"; search stopped at --max-time", "; ")
		}
		cancel()
		if classify(&pr, res, err, synth.Report{Program: fn.Name}) {
			rws[fn.Name] = res.Rewrite
		}
		if progress != nil {
			fmt.Fprintf(progress, "\r\033[K%s: %d -> %d slots, %d/%d proofs, %s\n", fn.Name, pr.SlotsBefore, pr.SlotsAfter,
				pr.ProofsProven, pr.ProofsAttempted, pr.Elapsed.Round(time.Millisecond))
		}
		rep.Programs = append(rep.Programs, pr)
	}
	// Final gate: the whole new object is checked once more, program by
	// program; a program that fails any check is written back unchanged.
	data, err := finalCheck(ctx, f, rws, rep, useKernel, proofTimeout, opts.Rules)
	rep.Elapsed = time.Since(start)
	return data, err
}

// classify fills pr from one program's search (onErr is its report when
// the search failed) and reports whether the program changed.
func classify(pr *programReport, res *synth.ProgramResult, err error, onErr synth.Report) bool {
	switch {
	case err != nil:
		pr.Report = onErr
		pr.Status, pr.Reason = "unchanged", firstLine(err)
	case !res.Changed:
		pr.Report = res.Report
		pr.Status, pr.Reason = "unchanged", res.Report.Note
		if pr.Reason == "" {
			pr.Reason = "no proven improvement found"
		}
	default:
		pr.Report = res.Report
		pr.Status = "optimized"
		return true
	}
	return false
}

// finalCheck encodes the rewrites and re-checks every changed program:
// static safety, a whole-program proof (loop-free programs; otherwise the
// window proofs stand), and the kernel verifier. Failing programs are
// reverted one at a time until everything passes.
// rules (may be nil) keeps whole-program proof verdicts between runs.
func finalCheck(ctx context.Context, f *object.File, rws map[string]object.Rewrite, rep *runReport, useKernel bool, timeout time.Duration, rules *synth.RuleSet) ([]byte, error) {
	idx := map[string]*programReport{}
	for i := range rep.Programs {
		idx[rep.Programs[i].Program] = &rep.Programs[i]
	}
	revert := func(name, why string) {
		delete(rws, name)
		pr := idx[name]
		pr.Status, pr.Reason = "reverted", why
		pr.SlotsAfter, pr.LatencyAfter, pr.ProcessedAfter = pr.SlotsBefore, pr.LatencyBefore, pr.ProcessedBefore
		pr.KernelAfter = pr.KernelBefore
	}
	var before map[string]kernel.Verdict
	if useKernel {
		before = kernelVerdicts(f.Raw())
		for name, v := range before {
			if pr := idx[name]; pr != nil {
				pr.KernelBefore = v.Processed
				pr.KernelAfter = v.Processed
			}
		}
	}
	ck := equiv.NewChecker(&equiv.Options{Timeout: min(timeout, wholeProofTimeout), NoCache: true})
	defer ck.Close()
	for {
		data, err := f.Encode(rws, object.Options{})
		if err != nil {
			var oe *object.Error
			if errors.As(err, &oe) && oe.Program != "" && rws[oe.Program].Insns != nil {
				revert(oe.Program, "object writer: "+oe.Msg)
				continue
			}
			return nil, usageErr("%v", err)
		}
		if len(rws) == 0 {
			return data, nil
		}
		nf, err := object.Parse(f.Path, data)
		if err != nil {
			return nil, fmt.Errorf("re-reading the written object: %w", err)
		}
		failed := false
		var after map[string]kernel.Verdict
		if useKernel {
			after = kernelVerdicts(data)
		}
		// loads checks one entry program of the new object: static
		// safety and the kernel verifier ("" when it passes).
		loads := func(t string) (string, int) {
			sp, err := safety.FromObject(nf, t, nil)
			if err != nil {
				return "static check: " + firstLine(err), 0
			}
			// Where the original passes the unprivileged rules (no read of
			// uninitialised stack), the result must too: window proofs
			// assume the stack they read is initialised.
			strict := false
			if op, err := safety.FromObject(f, t, nil); err == nil {
				strict = safety.Verify(op, &safety.Options{Unprivileged: true}).Accepted
			}
			if res := safety.Verify(sp, &safety.Options{Unprivileged: strict}); !res.Accepted {
				return "static check rejected the result", 0
			}
			if useKernel {
				v, ok := after[t]
				if !ok || (before[t].Status == kernel.Accepted && v.Status != kernel.Accepted) {
					return "kernel verifier rejected the result: " + firstLine(v.Err), 0
				}
				return "", v.Processed
			}
			return "", -1
		}
		for _, name := range slices.Sorted(maps.Keys(rws)) {
			pr := idx[name]
			if fn := f.Function(name); fn != nil && !fn.Entry {
				// a subprogram: every entry program (any may link it) must
				// still pass; window proofs held under the joined entry
				// states of all its callers
				bad := ""
				for _, p := range f.Programs() {
					if why, _ := loads(p.Name); why != "" {
						bad = p.Name + ": " + why
						break
					}
					if d := interpDiffers(f, nf, p.Name, interpBudget); d != "" {
						bad = p.Name + ": interpreter found a difference: " + d
						break
					}
				}
				if bad != "" {
					revert(name, bad)
					failed = true
				} else {
					pr.WholeProof = "unknown: not proven whole (a subprogram; every calling program verified)"
				}
				continue
			}
			why, processed := loads(name)
			if why != "" {
				revert(name, why)
				failed = true
				continue
			}
			if d := interpDiffers(f, nf, name, interpBudget); d != "" {
				// every change was proven, yet the interpreter sees a
				// difference: a proof's assumptions were wrong; never emit it
				revert(name, "interpreter found a difference: "+d)
				failed = true
				continue
			}
			if processed >= 0 {
				pr.KernelAfter = processed
			}
			pr.WholeProof = cachedWholeProof(ctx, ck, f, nf, data, name, rules)
			if strings.HasPrefix(pr.WholeProof, "NOT EQUAL") {
				// A window proof and the whole-program proof disagree:
				// a bug somewhere; never emit it.
				revert(name, "whole-program check found a difference: "+pr.WholeProof)
				failed = true
			}
		}
		if !failed {
			return data, nil
		}
	}
}

// interpBudget is the final gate's coverage budget per program for the
// interpreter differential (interpDiffers), plus half as many random
// inputs.
const interpBudget = 600

func kernelVerdicts(data []byte) map[string]kernel.Verdict {
	m := map[string]kernel.Verdict{}
	vs, err := kernel.Verify(data, &kernel.Options{BriefRejectLog: true})
	if err != nil {
		return m
	}
	for _, v := range vs {
		m[v.Program] = v
	}
	return m
}

// cachedWholeProof is wholeProof through the rule file's verdicts, keyed
// by both objects' contents and the program: a second run over the same
// inputs with the same result does not prove it again. A difference is
// never stored (it reverts the program and must be found every time).
func cachedWholeProof(ctx context.Context, ck *equiv.Checker, a, b *object.File, data []byte, name string, rules *synth.RuleSet) string {
	if rules == nil {
		return wholeProof(ctx, ck, a, b, name)
	}
	ha, hb := sha256.Sum256(a.Raw()), sha256.Sum256(data)
	key := hex.EncodeToString(ha[:12]) + ":" + hex.EncodeToString(hb[:12]) + ":" + name
	if v, ok := rules.WholeProof(key); ok {
		return v
	}
	v := wholeProof(ctx, ck, a, b, name)
	if !strings.HasPrefix(v, "NOT EQUAL") && ctx.Err() == nil {
		rules.SetWholeProof(key, v)
	}
	return v
}

// The final gate's whole-program proof is a second line of defence on top
// of the window proofs: it is attempted on programs of up to
// wholeProofMaxInsns instructions and given at most wholeProofTimeout
// (larger ones never finished: xdp_crc_check's 38,835 slots spent 27 s in
// the encoding alone).
const (
	wholeProofMaxInsns = 1000
	wholeProofTimeout  = 3 * time.Second
)

// wholeProof checks one program of the original and the rewritten object.
func wholeProof(ctx context.Context, ck *equiv.Checker, a, b *object.File, name string) string {
	pa, err := interp.FromSpec(a.Spec, name)
	if err != nil {
		return "unknown: " + firstLine(err)
	}
	if n := len(pa.Insns); n > wholeProofMaxInsns {
		return fmt.Sprintf("unknown: not attempted (%d instructions; the window proofs stand)", n)
	}
	pb, err := interp.FromSpec(b.Spec, name)
	if err != nil {
		return "unknown: " + firstLine(err)
	}
	res, err := ck.Programs(ctx, pa, pb)
	if err != nil {
		return "unknown: " + firstLine(err)
	}
	switch res.Verdict {
	case equiv.Equal:
		return "equal"
	case equiv.NotEqual:
		d := ""
		if res.Counterexample != nil {
			d = res.Counterexample.Diff
		}
		return "NOT EQUAL: " + d
	}
	return "unknown: " + res.Reason
}

func writeObject(f *object.File, out string, rws map[string]object.Rewrite) error {
	if err := f.WriteFile(out, rws); err != nil {
		var oe *object.Error
		if errors.As(err, &oe) {
			return usageErr("%v", err)
		}
		return usageErr("write %s: %v", out, err)
	}
	return nil
}

func printSummary(w io.Writer, rep *runReport) {
	fmt.Fprintf(w, "%-24s %6s %6s %7s %9s %9s  %s\n", "PROGRAM", "BEFORE", "AFTER", "CHANGE", "PROOFS", "TIME", "STATUS")
	tb, ta := 0, 0
	for _, p := range rep.Programs {
		tb += p.SlotsBefore
		ta += p.SlotsAfter
		status := p.Status
		if p.Reason != "" {
			status += ": " + p.Reason
		}
		fmt.Fprintf(w, "%-24s %6d %6d %6.1f%% %4d/%-4d %9s  %s\n", p.Program, p.SlotsBefore, p.SlotsAfter,
			pct(p.SlotsBefore, p.SlotsAfter), p.ProofsProven, p.ProofsAttempted, p.Elapsed.Round(time.Millisecond), status)
	}
	fmt.Fprintf(w, "%-24s %6d %6d %6.1f%%   (%s -> %s in %s)\n", "total", tb, ta, pct(tb, ta), rep.Input, rep.Output, rep.Elapsed.Round(time.Millisecond))
}

func pct(before, after int) float64 {
	if before == 0 {
		return 0
	}
	return 100 * float64(after-before) / float64(before)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
