package synth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/safety/kernel"
)

// ProgramResult is an optimised program: the new instructions with the
// old-to-new map object.File.Encode wants, and the report.
type ProgramResult struct {
	Rewrite object.Rewrite
	Changed bool
	Report  Report
	// keepPinned marks instructions of Rewrite a later round must not
	// touch (optimizeRound).
	keepPinned []bool
}

// OptimizeProgram searches every window of function fn of file f (an
// entry program, or a subprogram in .text: then every entry program that
// links it is checked) and assembles the proven replacements. Every
// proven window candidate is checked at once against the whole program
// (safety.Verify of each linking program with the window and all windows
// accepted before it applied), so that a candidate the verifier would
// refuse never becomes a window's best. The complexity objective
// additionally needs a lower processed count, confirmed by the kernel
// verifier when this process may load BPF.
func OptimizeProgram(ctx context.Context, f *object.File, fn *object.Function, opts Options) (*ProgramResult, error) {
	start := time.Now()
	rounds := opts.Rounds
	if rounds <= 0 {
		rounds = DefaultRounds
	}
	opts.Time /= time.Duration(rounds)
	res, err := optimizeRound(ctx, f, fn, opts, 0, nil)
	for r := 1; r < rounds && err == nil && res.Changed && ctx.Err() == nil; r++ {
		// The next round searches this round's output as a program of
		// its own (fresh safety summaries, liveness and windows).
		data, eerr := f.Encode(map[string]object.Rewrite{fn.Name: res.Rewrite}, object.Options{})
		if eerr != nil {
			break
		}
		f2, perr := object.Parse(f.Path, data)
		if perr != nil {
			break
		}
		fn2 := f2.Function(fn.Name)
		if fn2 == nil {
			break
		}
		next, rerr := optimizeRound(ctx, f2, fn2, opts, r, res.keepPinned)
		if rerr != nil {
			break
		}
		res = chainRounds(res, next, time.Since(start))
		if !next.Changed {
			break
		}
	}
	return res, err
}

// chainRounds composes round a (original -> mid) with round b (mid ->
// out) into one result over the original, with b's counts added to a's.
func chainRounds(a, b *ProgramResult, elapsed time.Duration) *ProgramResult {
	ra, rb := &a.Report, &b.Report
	out := &ProgramResult{Rewrite: a.Rewrite, Changed: a.Changed || b.Changed, Report: *ra, keepPinned: a.keepPinned}
	r := &out.Report
	if b.Changed {
		o2n := make([]int, len(a.Rewrite.OldToNew))
		for k, m := range a.Rewrite.OldToNew {
			o2n[k] = -1
			if m >= 0 && m < len(b.Rewrite.OldToNew) {
				o2n[k] = b.Rewrite.OldToNew[m]
			}
		}
		out.Rewrite = object.Rewrite{Insns: b.Rewrite.Insns, OldToNew: o2n}
		out.keepPinned = b.keepPinned
		r.SlotsAfter, r.LatencyAfter, r.ProcessedAfter = rb.SlotsAfter, rb.LatencyAfter, rb.ProcessedAfter
		r.WindowsImproved += rb.WindowsImproved // (only round 0 merges tails or threads jumps)
		r.TimeToBest = ra.Elapsed + rb.TimeToBest
		if rb.Note != "" {
			r.Note = rb.Note
		}
	}
	r.Windows += rb.Windows
	r.Proposals += rb.Proposals
	r.ProofsAttempted += rb.ProofsAttempted
	r.ProofsProven += rb.ProofsProven
	r.ProofsUnsafe += rb.ProofsUnsafe
	r.RulesFired += rb.RulesFired
	r.RulesSkipped += rb.RulesSkipped
	r.CacheHits = max(r.CacheHits, rb.CacheHits)
	r.Moves = map[string][2]int64{}
	for _, m := range []map[string][2]int64{ra.Moves, rb.Moves} {
		for k, v := range m {
			x := r.Moves[k]
			r.Moves[k] = [2]int64{x[0] + v[0], x[1] + v[1]}
		}
	}
	r.Elapsed = elapsed
	if s := elapsed.Seconds(); s > 0 {
		r.ProposalsPerSec = float64(r.Proposals) / s
	}
	return out
}

// optimizeRound is round number round (from 0) of OptimizeProgram: odd
// rounds use the shifted window boundaries, only the first merges tails
// and threads jumps.
//
// extra (indexed by fn's instructions, may be nil) pins instructions an
// earlier round's tail merging or jump threading involved: a later
// round's window must not rewrite a merged run, nor the jump that
// replaced one, or `k2opt check` could no longer recognise the merge
// against the original.
func optimizeRound(ctx context.Context, f *object.File, fn *object.Function, opts Options, round int, extra []bool) (*ProgramResult, error) {
	start := time.Now()
	insns := fn.Insns
	res := &ProgramResult{Rewrite: identity(insns)}
	rep := &res.Report
	rep.Program = fn.Name
	rep.SlotsBefore = bpf.SlotCount(insns)
	rep.SlotsAfter = rep.SlotsBefore
	rep.Moves = map[string][2]int64{}
	if opts.Rules != nil {
		// rule cache: this program sees the loaded rules and its own;
		// what it learns joins the set when it ends (rules.go)
		opts.Rules = opts.Rules.Fork()
		defer opts.Rules.commit()
	}

	links, err := linkedPrograms(f, fn)
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		rep.Note = "no entry program links this function: not optimised"
		rep.Elapsed = time.Since(start)
		return res, nil
	}
	var before, after []*safety.Summary
	for _, l := range links {
		// The summaries follow the rules the check will apply: a program
		// that passes the unprivileged rules must keep passing them, and
		// under those a map lookup with a constant key may return NULL
		// (privileged, an in-bounds array lookup cannot). Summaries from
		// the privileged rules made NULL checks look redundant to the
		// tests and proofs; the check then refused every such candidate.
		l.strict = safety.Verify(l.p, &safety.Options{Unprivileged: true}).Accepted
		vr := safety.Verify(l.p, &safety.Options{Summaries: true, Unprivileged: l.strict})
		if !vr.Accepted {
			rep.Note = "program " + l.p.Name + " rejected by the static verifier: not optimised"
			rep.Elapsed = time.Since(start)
			return res, nil
		}
		l.processed = vr.Processed
		rep.ProcessedBefore += vr.Processed
		fu := l.p.Funcs[l.fi]
		if len(vr.Before) >= fu.End && fu.End-fu.Start == len(insns) {
			before = joinSummaries(before, vr.Before[fu.Start:fu.End])
			after = joinSummaries(after, vr.After[fu.Start:fu.End])
		}
	}
	rep.ProcessedAfter = rep.ProcessedBefore

	pinned := make([]bool, len(insns))
	ext := bpf.External{}
	slots := bpf.SlotOffsets(insns)
	for k, in := range insns {
		_, rel := fn.Reloc(k)
		pinned[k] = Pinned(in, rel || fn.IsCodeRef(k)) || k < len(extra) && extra[k]
		if rel {
			ext[slots[k]] = true
		}
	}
	// Tail merging and jump threading first (tailmerge.go, jumps.go); the
	// instructions they involve are then left alone by the windows. They
	// are dropped below if the program with them does not pass the check.
	keep := make([]bool, len(insns))
	for k := range insns {
		_, rel := fn.Reloc(k)
		keep[k] = rel || fn.IsCodeRef(k)
	}
	var base map[int][]bpf.Insn
	typ := fn.Type
	if !fn.Entry {
		typ = links[0].p.Type
	}
	sf := NewFunc(fn.Name, typ, insns, pinned)
	sf.Shifted = round%2 == 1
	sf.Ext = ext
	sf.Before, sf.After = before, after
	sf.StackLive = StackLiveness(insns, before)
	if fn.Entry {
		sf.Freq = frequencies(f, fn, opts.Seed)
	}
	rep.LatencyBefore = cost.Cycles(insns, sf.Freq)
	rep.LatencyAfter = rep.LatencyBefore

	// check verifies every linking program with edits applied on top of
	// the accepted ones; it returns the processed total.
	accepted := map[int][]bpf.Insn{}
	why := "" // the last reason a candidate was refused, for the report
	var whyMu sync.Mutex
	check := func(edits map[int][]bpf.Insn) (object.Rewrite, int, error) {
		all := make(map[int][]bpf.Insn, len(base)+len(accepted)+len(edits))
		for k, e := range base {
			all[k] = e
		}
		for k, e := range accepted {
			all[k] = e
		}
		for k, e := range edits {
			all[k] = e
		}
		rw, err := buildRewrite(insns, all, ext)
		if err != nil {
			return rw, 0, err
		}
		proc := 0
		for _, l := range links {
			q, err := relink(l.p, fn.Name, rw)
			if err != nil {
				return rw, 0, err
			}
			v := safety.Verify(q, &safety.Options{Unprivileged: l.strict})
			if !v.Accepted {
				return rw, 0, fmt.Errorf("safety rejected: %v", v.Err())
			}
			proc += v.Processed
		}
		if opts.Objective == cost.Complexity && proc > rep.ProcessedBefore {
			return rw, 0, fmt.Errorf("processed count grew: %d -> %d", rep.ProcessedBefore, proc)
		}
		return rw, proc, nil
	}
	sf.Check = func(edits map[int][]bpf.Insn) error {
		_, _, err := check(edits)
		if err != nil {
			whyMu.Lock()
			why = err.Error()
			whyMu.Unlock()
		}
		return err
	}

	var touched []bool
	if round == 0 {
		// Only the first round merges tails and threads jumps: a later
		// round's merge may join runs that were different code in the
		// original and became identical through the first round's
		// windows, which `k2opt check` (comparing with the original) can
		// then neither match syntactically nor prove as one hunk.
		base, touched, rep.TailMerges, rep.JumpsThreaded = structural(insns, keep, func(e map[int][]bpf.Insn) bool {
			base = e
			_, _, err := check(nil)
			return err == nil
		})
	}
	for k, t := range touched {
		pinned[k] = pinned[k] || t
	}
	ws, err := sf.Windows()
	if err != nil {
		return nil, fmt.Errorf("%s: program %s: %w", f.Path, fn.Name, err)
	}
	rep.Windows = len(ws)
	iters := opts.Iters
	if iters == 0 && opts.Time == 0 {
		iters = DefaultIters
	}
	budget := windowBudgets(sf, ws)
	var deadline time.Time
	var results []*WindowResult
	for i, w := range ws {
		wi := int64(0)
		if iters > 0 {
			wi = max(int64(float64(iters)*budget[i]), 100)
		}
		if opts.Time > 0 {
			deadline = time.Now().Add(time.Duration(float64(opts.Time) * budget[i]))
		}
		wr, err := OptimizeWindow(ctx, sf, w, opts, wi, deadline)
		if err != nil {
			return nil, err
		}
		rep.Proposals += wr.Proposals
		rep.ProofsAttempted += wr.ProofsAttempted
		rep.ProofsProven += wr.ProofsProven
		rep.ProofsUnsafe += wr.ProofsUnsafe
		rep.RulesFired += int64(wr.RulesFired)
		if wr.RuleSkipped {
			rep.RulesSkipped++
		}
		for k := range NumMoves {
			m := rep.Moves[MoveNames[k]]
			rep.Moves[MoveNames[k]] = [2]int64{m[0] + wr.Proposed[k], m[1] + wr.Accepted[k]}
		}
		if wr.Edits != nil {
			results = append(results, wr)
			for k, e := range wr.Edits {
				accepted[k] = e
			}
			rep.TimeToBest = time.Since(start)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if cc, ok := opts.Prover.(CacheCounter); ok {
		rep.CacheHits = cc.CacheHits()
	}

	// Every window passed the whole-program check on top of the ones
	// before it; the object encoding is checked once for all. Should
	// either fail, windows are added one at a time and kept if all pass.
	final := func(rs []*WindowResult) (object.Rewrite, int, bool) {
		accepted = map[int][]bpf.Insn{}
		edits := map[int][]bpf.Insn{}
		for _, r := range rs {
			for k, e := range r.Edits {
				edits[k] = e
			}
		}
		rw, proc, err := check(edits)
		if err != nil {
			why = err.Error()
			return rw, 0, false
		}
		if _, err := f.Encode(map[string]object.Rewrite{fn.Name: rw}, object.Options{}); err != nil {
			why = "encode: " + err.Error()
			return rw, 0, false
		}
		return rw, proc, true
	}
	var kept []*WindowResult
	if base != nil {
		if rw, proc, ok := final(nil); ok {
			res.Rewrite, rep.ProcessedAfter = rw, proc
		} else {
			base, rep.TailMerges, rep.JumpsThreaded = nil, 0, 0
		}
	}
	if len(results) > 0 {
		if rw, proc, ok := final(results); ok {
			kept = results
			res.Rewrite, rep.ProcessedAfter = rw, proc
		} else {
			for _, r := range results {
				if rw, proc, ok := final(append(kept[:len(kept):len(kept)], r)); ok {
					kept = append(kept, r)
					res.Rewrite, rep.ProcessedAfter = rw, proc
				}
			}
		}
	}
	if (len(kept) > 0 || base != nil) && opts.Objective == cost.Complexity && kernel.Available() == nil && fn.Entry {
		if !kernelLowers(f, fn.Name, res.Rewrite) {
			kept, base, rep.TailMerges, rep.JumpsThreaded = nil, nil, 0, 0
			res.Rewrite = identity(insns)
			rep.ProcessedAfter = rep.ProcessedBefore
			rep.Note = "kernel verifier did not confirm a lower processed count"
		}
	}
	rep.WindowsImproved = len(kept)
	if len(kept) < len(results) && rep.Note == "" {
		rep.Note = fmt.Sprintf("%d proven window(s) dropped; last: %s", len(results)-len(kept), firstLine(why))
	} else if rep.ProofsUnsafe > 0 && rep.Note == "" {
		rep.Note = fmt.Sprintf("%d proven candidate(s) refused by the whole-program check; last: %s", rep.ProofsUnsafe, firstLine(why))
	}
	res.Changed = len(kept) > 0 || base != nil
	// what the next round must leave alone, in this round's output
	res.keepPinned = make([]bool, len(res.Rewrite.Insns))
	for k, n := range res.Rewrite.OldToNew {
		if n >= 0 && (k < len(extra) && extra[k] || base != nil && k < len(touched) && touched[k]) {
			res.keepPinned[n] = true
		}
	}
	rep.SlotsAfter = bpf.SlotCount(res.Rewrite.Insns)
	if res.Changed {
		newFreq := make([]float64, len(res.Rewrite.Insns))
		for k, n := range res.Rewrite.OldToNew {
			if n >= 0 && sf.Freq != nil {
				newFreq[n] = sf.Freq[k]
			} else if n >= 0 {
				newFreq[n] = 1
			}
		}
		rep.LatencyAfter = cost.Cycles(res.Rewrite.Insns, newFreq)
	}
	rep.Elapsed = time.Since(start)
	if s := rep.Elapsed.Seconds(); s > 0 {
		rep.ProposalsPerSec = float64(rep.Proposals) / s
	}
	return res, nil
}

// linkedProg is one entry program that links the function being optimised.
type linkedProg struct {
	p         *safety.Program
	fi        int // index of the function in p.Funcs
	processed int
	// strict: the original also passes the unprivileged rules (no read of
	// uninitialised stack), so candidates must too. Window proofs assume
	// the stack they read is initialised; a root-only uninitialised read
	// would make the rewrite non-deterministic.
	strict bool
}

// linkedPrograms links fn itself (an entry program) or every entry program
// of f whose linked form includes fn (a subprogram).
func linkedPrograms(f *object.File, fn *object.Function) ([]*linkedProg, error) {
	var out []*linkedProg
	add := func(name string) error {
		sp, err := safety.FromObject(f, name, nil)
		if err != nil {
			return fmt.Errorf("%s: program %s: %w", f.Path, name, err)
		}
		for i, fu := range sp.Funcs {
			if fu.Name == fn.Name {
				out = append(out, &linkedProg{p: sp, fi: i})
				break
			}
		}
		return nil
	}
	if fn.Entry {
		return out, add(fn.Name)
	}
	for _, e := range f.Programs() {
		if err := add(e.Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// joinSummaries joins per-instruction summaries of one function reached
// from several programs (a nil acc: b itself). Registers whose types
// differ become Mixed.
func joinSummaries(acc, b []*safety.Summary) []*safety.Summary {
	if acc == nil {
		return append([]*safety.Summary(nil), b...)
	}
	for k := range acc {
		switch {
		case b[k] == nil:
		case acc[k] == nil:
			acc[k] = b[k]
		default:
			j := *acc[k]
			j.Paths += b[k].Paths
			for r := range j.Regs {
				x, y := &j.Regs[r], b[k].Regs[r]
				switch {
				case x.Type == safety.Mixed:
				case x.Type != y.Type || x.Map != y.Map || x.Off != y.Off || x.Frame != y.Frame:
					*x = safety.Reg{Type: safety.Mixed}
				default:
					x.V = safety.Join(x.V, y.V)
					x.Range = min(x.Range, y.Range)
					x.Null = x.Null || y.Null
					x.ID = 0
				}
			}
			acc[k] = &j
		}
	}
	return acc
}

// buildRewrite applies edits (bpf.Rewrite form) and returns the object
// writer's form (deleted instructions map to -1).
func buildRewrite(insns []bpf.Insn, edits map[int][]bpf.Insn, ext bpf.External) (object.Rewrite, error) {
	out, o2n, err := bpf.Rewrite(insns, edits, ext)
	if err != nil {
		return object.Rewrite{}, fmt.Errorf("rewrite: %w", err)
	}
	for k := range insns {
		if e, ok := edits[k]; ok && len(e) == 0 {
			o2n[k] = -1
		}
	}
	return object.Rewrite{Insns: out, OldToNew: o2n[:len(insns)]}, nil
}

// windowBudgets splits the program's budget over its windows: by length,
// with a bonus for windows with more visible potential (stores of
// registers, moves, 32-bit ops that may be redundant, narrow loads).
func windowBudgets(f *Func, ws []Window) []float64 {
	out := make([]float64, len(ws))
	total := 0.0
	for i, w := range ws {
		n := float64(w.End - w.Start)
		extra := 0.0
		for k := w.Start; k < w.End; k++ {
			info := f.Insns[k].Info()
			switch {
			case info.Kind == bpf.KindStore, info.Kind == bpf.KindMov, info.Kind == bpf.KindLoad && info.Size < 4:
				extra += 0.5
			}
		}
		out[i] = n + extra
		total += out[i]
	}
	for i := range out {
		out[i] /= total
	}
	return out
}

func identity(insns []bpf.Insn) object.Rewrite {
	o2n := make([]int, len(insns))
	for k := range o2n {
		o2n[k] = k
	}
	return object.Rewrite{Insns: insns, OldToNew: o2n}
}

// frequencies runs interp's coverage-guided inputs on the program for the
// latency model's path weights; nil (all 1) when the interpreter cannot
// run it.
func frequencies(f *object.File, fn *object.Function, seed uint64) []float64 {
	if f.Spec == nil {
		return nil
	}
	p, err := interp.FromSpec(f.Spec, fn.Name)
	if err != nil || len(p.Insns) < len(fn.Insns) {
		return nil
	}
	inputs, _, _ := interp.GenCoverage(p, rand.New(rand.NewPCG(seed, 1)), 2000)
	freq, err := cost.Frequencies(p, inputs)
	if err != nil {
		return nil
	}
	return freq[:len(fn.Insns)]
}

// kernelLowers loads the original and the rewritten object into the
// kernel and reports whether the rewritten program's processed count is
// lower.
func kernelLowers(f *object.File, name string, rw object.Rewrite) bool {
	newObj, err := f.Encode(map[string]object.Rewrite{name: rw}, object.Options{})
	if err != nil {
		return false
	}
	processed := func(b []byte) int {
		o, err := kernel.Load(b, &kernel.Options{BriefRejectLog: true})
		if err != nil {
			return -1
		}
		defer o.Close()
		v, ok := o.Verdict(name)
		if !ok || !v.Accepted {
			return -1
		}
		return v.Processed
	}
	before, after := processed(f.Raw()), processed(newObj)
	return after >= 0 && (before < 0 || after < before)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
