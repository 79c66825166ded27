package synth

import (
	"context"
	"fmt"
	"math/rand/v2"
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
}

// OptimizeProgram searches every window of entry program fn of file f and
// assembles the proven replacements. The result must pass safety.Verify
// (and, for the complexity objective, lower the processed count, confirmed
// by the kernel verifier when this process may load BPF); windows whose
// replacement breaks that are dropped one by one.
func OptimizeProgram(ctx context.Context, f *object.File, fn *object.Function, opts Options) (*ProgramResult, error) {
	start := time.Now()
	insns := fn.Insns
	res := &ProgramResult{Rewrite: identity(insns)}
	rep := &res.Report
	rep.Program = fn.Name
	rep.SlotsBefore = bpf.SlotCount(insns)
	rep.SlotsAfter = rep.SlotsBefore
	rep.Moves = map[string][2]int64{}

	sp, err := safety.FromObject(f, fn.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: program %s: %w", f.Path, fn.Name, err)
	}
	vr := safety.Verify(sp, &safety.Options{Summaries: true})
	if !vr.Accepted {
		rep.Note = "original rejected by the static verifier: not optimised"
		rep.Elapsed = time.Since(start)
		return res, nil
	}
	rep.ProcessedBefore, rep.ProcessedAfter = vr.Processed, vr.Processed

	pinned := make([]bool, len(insns))
	ext := bpf.External{}
	slots := bpf.SlotOffsets(insns)
	for k, in := range insns {
		_, rel := fn.Reloc(k)
		pinned[k] = Pinned(in, rel || fn.IsCodeRef(k))
		if rel {
			ext[slots[k]] = true
		}
	}
	sf := NewFunc(fn.Name, fn.Type, insns, pinned)
	sf.Ext = ext
	if len(vr.Before) >= len(insns) {
		sf.Before = vr.Before[:len(insns)]
	}
	sf.Freq = frequencies(f, fn, opts.Seed)
	rep.LatencyBefore = cost.Cycles(insns, sf.Freq)
	rep.LatencyAfter = rep.LatencyBefore

	ws, err := sf.Windows()
	if err != nil {
		return nil, fmt.Errorf("%s: program %s: %w", f.Path, fn.Name, err)
	}
	rep.Windows = len(ws)
	total := 0
	for _, w := range ws {
		total += w.End - w.Start
	}
	iters := opts.Iters
	if iters == 0 && opts.Time == 0 {
		iters = DefaultIters
	}
	var deadline time.Time
	var results []*WindowResult
	for _, w := range ws {
		n := int64(w.End - w.Start)
		wi := int64(0)
		if iters > 0 {
			wi = max(iters*n/int64(total), 100)
		}
		if opts.Time > 0 {
			deadline = time.Now().Add(time.Duration(int64(opts.Time) * n / int64(total)))
		}
		wr, err := OptimizeWindow(ctx, sf, w, opts, wi, deadline)
		if err != nil {
			return nil, err
		}
		rep.Proposals += wr.Proposals
		rep.ProofsAttempted += wr.ProofsAttempted
		rep.ProofsProven += wr.ProofsProven
		for k := range NumMoves {
			m := rep.Moves[MoveNames[k]]
			rep.Moves[MoveNames[k]] = [2]int64{m[0] + wr.Proposed[k], m[1] + wr.Accepted[k]}
		}
		if wr.Edits != nil {
			results = append(results, wr)
			rep.TimeToBest = time.Since(start)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if cc, ok := opts.Prover.(CacheCounter); ok {
		rep.CacheHits = cc.CacheHits()
	}

	// Assemble all improvements; if the whole is not accepted, add them
	// one at a time and keep those that are.
	why := "" // the last reason a window was dropped, for the report
	accept := func(rs []*WindowResult) (object.Rewrite, int, bool) {
		edits := map[int][]bpf.Insn{}
		for _, r := range rs {
			for k, e := range r.Edits {
				edits[k] = e
			}
		}
		out, o2n, err := bpf.Rewrite(insns, edits, ext)
		if err != nil {
			why = "rewrite: " + err.Error()
			return object.Rewrite{}, 0, false
		}
		for k := range insns {
			if e, ok := edits[k]; ok && len(e) == 0 {
				o2n[k] = -1
			}
		}
		rw := object.Rewrite{Insns: out, OldToNew: o2n[:len(insns)]}
		p2, err := safety.FromObject(f, fn.Name, out)
		if err != nil {
			why = "safety: " + err.Error()
			return rw, 0, false
		}
		v := safety.Verify(p2, nil)
		if !v.Accepted {
			why = "safety rejected: " + v.Err().Error()
			return rw, 0, false
		}
		if opts.Objective == cost.Complexity && v.Processed >= rep.ProcessedBefore {
			return rw, 0, false
		}
		if _, err := f.Encode(map[string]object.Rewrite{fn.Name: rw}, object.Options{}); err != nil {
			why = "encode: " + err.Error()
			return rw, 0, false
		}
		return rw, v.Processed, true
	}
	var kept []*WindowResult
	if len(results) > 0 {
		if rw, proc, ok := accept(results); ok {
			kept = results
			res.Rewrite, rep.ProcessedAfter = rw, proc
		} else {
			for _, r := range results {
				if rw, proc, ok := accept(append(kept[:len(kept):len(kept)], r)); ok {
					kept = append(kept, r)
					res.Rewrite, rep.ProcessedAfter = rw, proc
				}
			}
		}
	}
	if len(kept) > 0 && opts.Objective == cost.Complexity && kernel.Available() == nil {
		if !kernelLowers(f, fn.Name, res.Rewrite) {
			kept = nil
			res.Rewrite = identity(insns)
			rep.ProcessedAfter = rep.ProcessedBefore
			rep.Note = "kernel verifier did not confirm a lower processed count"
		}
	}
	rep.WindowsImproved = len(kept)
	if len(kept) < len(results) && rep.Note == "" {
		rep.Note = fmt.Sprintf("%d proven window(s) dropped; last: %s", len(results)-len(kept), firstLine(why))
	}
	res.Changed = len(kept) > 0
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
