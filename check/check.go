package check

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/synth"
)

// Options configure a Checker. Zero values take the defaults.
type Options struct {
	// Timeout bounds each solver check of a hunk (default 20 s).
	Timeout time.Duration
	// WholeTimeout bounds the whole-program first attempt (default 5 s);
	// WholeMaxInsns: it is made only for loop-free programs of at most
	// this many instructions (default 250; negative: never).
	WholeTimeout  time.Duration
	WholeMaxInsns int
	// MaxSpan bounds, in original instructions, a window made of several
	// hunks and the aligned instructions between them (default 64).
	MaxSpan int
	// GrowTimeout bounds the time spent growing one unproven hunk into
	// larger spans (default 60 s): each span may take a solver timeout,
	// and a hunk none of them proves made one check take 500 s.
	GrowTimeout time.Duration
	// ReproduceInputs is the whole-program input budget spent on turning
	// a hunk's counterexample into a real difference (default 3000).
	ReproduceInputs int
}

// Result is the verdict on one function.
type Result struct {
	Name    string
	Verdict equiv.Verdict
	// How Equal was reached: identical bodies, the whole-program proof,
	// or hunk by hunk: Hunks in all, of which TailMerges were accepted
	// syntactically, Unreachable are never reached by the original, and
	// the rest were proven by window proofs (Windows of them, a window
	// possibly covering several hunks).
	Identical, Whole               bool
	Hunks, TailMerges, Unreachable int
	Threaded                       int // hunks of threaded jumps, accepted syntactically (jumps.go)
	Windows                        int
	Reason                         string // why Unknown
	Hunk                           *Hunk  // the hunk that failed (NotEqual, or Unknown on a hunk)
	HunkText                       string // its two sides, disassembled
	Counterexample                 *equiv.Counterexample
	WindowCounterexample           bool // Counterexample is a hunk-entry state, not a program input
	Elapsed                        time.Duration
}

// Line is the one-line verdict printed by k2opt check.
func (r *Result) Line() string {
	switch r.Verdict {
	case equiv.Equal:
		switch {
		case r.Identical:
			return r.Name + ": equivalent (identical)"
		case r.Whole:
			return r.Name + ": equivalent (whole program)"
		}
		s := fmt.Sprintf("%s: equivalent (%d hunks proven, %d tail merges", r.Name, r.Hunks-r.TailMerges-r.Unreachable-r.Threaded, r.TailMerges)
		if r.Threaded > 0 {
			s += fmt.Sprintf(", %d threaded jumps", r.Threaded)
		}
		if r.Unreachable > 0 {
			s += fmt.Sprintf(", %d unreachable", r.Unreachable)
		}
		return s + ")"
	case equiv.NotEqual:
		return r.Name + ": NOT equivalent"
	}
	return r.Name + ": unknown: " + r.Reason
}

// Checker checks functions of two objects. It owns one equiv.Checker
// (one Z3 context): not safe for concurrent use.
type Checker struct {
	eq   *equiv.Checker
	opts Options
}

// New makes a Checker.
func New(opts *Options) *Checker {
	c := &Checker{}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Timeout == 0 {
		c.opts.Timeout = 20 * time.Second
	}
	if c.opts.WholeTimeout == 0 {
		c.opts.WholeTimeout = 5 * time.Second
	}
	if c.opts.WholeMaxInsns == 0 {
		c.opts.WholeMaxInsns = 250
	}
	if c.opts.MaxSpan == 0 {
		c.opts.MaxSpan = 64
	}
	if c.opts.GrowTimeout == 0 {
		c.opts.GrowTimeout = time.Minute
	}
	if c.opts.ReproduceInputs == 0 {
		c.opts.ReproduceInputs = 3000
	}
	// no cache: every query is asked once, and a cached verdict would
	// hide nothing the solver would not say again
	c.eq = equiv.NewChecker(&equiv.Options{Timeout: c.opts.Timeout, NoCache: true})
	return c
}

// Close releases the solver.
func (c *Checker) Close() { c.eq.Close() }

// Function checks function name (an entry program or a .text
// subprogram) of fa (original) against the same-named function of fb
// (optimised). An error is bad input (a missing function, one that
// cannot be linked or decoded); undecided is Verdict Unknown.
func (c *Checker) Function(ctx context.Context, fa, fb *object.File, name string) (*Result, error) {
	start := time.Now()
	res, err := c.function(ctx, fa, fb, name)
	if res != nil {
		res.Elapsed = time.Since(start)
	}
	return res, err
}

func (c *Checker) function(ctx context.Context, fa, fb *object.File, name string) (*Result, error) {
	fnA, fnB := fa.Function(name), fb.Function(name)
	if fnA == nil {
		return nil, fmt.Errorf("%s: no function %q", fa.Path, name)
	}
	if fnB == nil {
		return nil, fmt.Errorf("%s: no function %q (it is in %s)", fb.Path, name, fa.Path)
	}
	if fnA.Entry != fnB.Entry || fnA.Type != fnB.Type {
		return nil, fmt.Errorf("%s: function %s is not the same kind of program as in %s", fb.Path, name, fa.Path)
	}
	a, err := newSide(fa, fnA)
	if err != nil {
		return nil, err
	}
	b, err := newSide(fb, fnB)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: name}
	if slices.Equal(a.keys, b.keys) && slices.Equal(a.target, b.target) {
		res.Verdict, res.Identical = equiv.Equal, true
		return res, nil
	}
	if r := c.whole(ctx, fa, fb, fnA, fnB); r != nil {
		r.Name = name
		return r, nil
	}
	al, err := align(a, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fb.Path, err)
	}
	fc, note, err := newFuncCheck(a, b, al)
	if err != nil {
		return nil, err
	}
	res.Hunks = len(al.Hunks)
	if fc == nil {
		res.Reason = "no preconditions: " + note
		return res, nil
	}
	return c.hunks(ctx, fc, res), nil
}

// whole tries the whole-program proof when it is cheap; nil when it
// does not decide.
func (c *Checker) whole(ctx context.Context, fa, fb *object.File, fnA, fnB *object.Function) *Result {
	if !fnA.Entry || c.opts.WholeMaxInsns < 0 || len(fnA.Insns) > c.opts.WholeMaxInsns || len(fnB.Insns) > c.opts.WholeMaxInsns ||
		fa.Spec == nil || fb.Spec == nil {
		return nil
	}
	for _, fn := range []*object.Function{fnA, fnB} {
		for k, in := range fn.Insns {
			if in.IsPseudoCall() || fn.IsCodeRef(k) {
				return nil
			}
		}
		cfg, err := bpf.NewCFG(fn.Insns, &bpf.CFGOptions{External: external(fn)})
		if err != nil || cfg.HasLoops() {
			return nil
		}
	}
	pa, err := interp.FromSpec(fa.Spec, fnA.Name)
	if err != nil {
		return nil
	}
	pb, err := interp.FromSpec(fb.Spec, fnB.Name)
	if err != nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.WholeTimeout)
	defer cancel()
	r, err := c.eq.Programs(wctx, pa, pb)
	if err != nil {
		return nil
	}
	switch r.Verdict {
	case equiv.Equal:
		return &Result{Verdict: equiv.Equal, Whole: true}
	case equiv.NotEqual:
		if r.Counterexample != nil && !r.Counterexample.Window && r.Counterexample.Prologue == nil {
			return &Result{Verdict: equiv.NotEqual, Whole: true, Counterexample: r.Counterexample}
		}
	}
	return nil
}

// external marks the relocated calls and every code reference of fn: a
// lone function's calls into other functions have no target in its body.
func external(fn *object.Function) bpf.External {
	ext := bpf.External{}
	slots := bpf.SlotOffsets(fn.Insns)
	for k := range fn.Insns {
		if _, rel := fn.Reloc(k); rel || fn.IsCodeRef(k) {
			ext[slots[k]] = true
		}
	}
	return ext
}

// funcCheck is what the hunk proofs of one function share: both sides,
// their alignment and the original's entry states and liveness.
type funcCheck struct {
	a, b   *side
	al     *Alignment
	typ    ebpf.ProgramType
	before []*safety.Summary
	live   *bpf.Liveness
	stack  []synth.StackSet // nil: every stack byte live
}

func newFuncCheck(a, b *side, al *Alignment) (*funcCheck, string, error) {
	typ, before, note, err := synth.FunctionEntryStates(a.f, a.fn)
	if err != nil {
		return nil, "", err
	}
	if before == nil {
		return nil, note, nil
	}
	cfg, err := bpf.NewCFG(a.insns, &bpf.CFGOptions{External: external(a.fn)})
	if err != nil {
		return nil, "", fmt.Errorf("%s: program %s: %w", a.f.Path, a.fn.Name, err)
	}
	return &funcCheck{a: a, b: b, al: al, typ: typ, before: before, live: cfg.Liveness(),
		stack: synth.StackLiveness(a.insns, before)}, "", nil
}

// hunks proves every hunk: alone, else merged with its neighbours (an LCS
// may split one rewritten window into several hunks that are equivalent
// only together).
func (c *Checker) hunks(ctx context.Context, fc *funcCheck, res *Result) *Result {
	hs := fc.al.Hunks
	dec := make([]how, len(hs))
	for i := 0; i < len(hs); {
		first, d := c.proveSpan(ctx, fc, hs[i])
		if d != failed {
			if d == proven {
				d = provenFirst
			}
			dec[i] = d
			i++
			continue
		}
		done := false
		growStart := time.Now()
		for _, m := range fc.grown(hs, i, c.opts.MaxSpan) {
			if time.Since(growStart) > c.opts.GrowTimeout {
				break // undecided; the first span's answer is reported
			}
			if _, d := c.proveSpan(ctx, fc, m.Hunk); d != failed {
				for x := m.k; x <= m.j; x++ {
					dec[x] = d
				}
				if d == proven {
					for x := m.k; x <= m.j; x++ {
						if dec[x] == provenFirst {
							res.Windows-- // now part of this window
						}
					}
					for x := m.k; x <= m.j; x++ {
						dec[x] = proven
					}
					res.Windows++
				}
				i, done = m.j+1, true
				break
			}
		}
		if done {
			continue
		}
		h := hs[i]
		res.Hunk = &h
		res.HunkText = fc.hunkText(h)
		switch first.Verdict {
		case equiv.NotEqual:
			if cex := reproduce(fc.a, fc.b, c.opts.ReproduceInputs); cex != nil {
				res.Verdict, res.Counterexample = equiv.NotEqual, cex
				return res
			}
			res.Counterexample, res.WindowCounterexample = first.Counterexample, true
			res.Reason = fmt.Sprintf("hunk %v differs on an entry state no whole-program input reproduced", h)
		default:
			res.Reason = fmt.Sprintf("hunk %v: %s", h, first.Reason)
		}
		return res
	}
	for _, h := range dec {
		switch h {
		case tailMerged:
			res.TailMerges++
		case unreachable:
			res.Unreachable++
		case jumpsThreaded:
			res.Threaded++
		case provenFirst:
			res.Windows++
		}
	}
	res.Verdict = equiv.Equal
	return res
}

type how int

const (
	failed how = iota
	proven
	provenFirst // the first hunk of a window that covers several
	tailMerged
	unreachable
	jumpsThreaded // jumps.go
)

// span is a window over hunks k..j and aligned instructions around them.
type span struct {
	Hunk
	k, j int
}

// grown lists windows around failing hunk i, smallest first: its
// neighbouring hunks and up to MaxWindow aligned instructions either side
// (an LCS may split one rewritten window into pieces equivalent only
// together, or leave out an aligned instruction a rewrite relied on, such
// as a copy made before the hunk). Each is single-entry on both sides
// and its ends are aligned points.
func (fc *funcCheck) grown(hs []Hunk, i, maxSpan int) []span {
	al := fc.al
	n := len(fc.a.insns)
	h := hs[i]
	// boundary points: aligned instructions and hunk starts
	point := func(t int) bool { return t >= 0 && t <= n && al.mapA[t] >= 0 }
	var out []span
	for size := 1; size <= 2*synth.MaxWindow && len(out) < 200; size++ {
		for back := 0; back <= size; back++ {
			s, e := h.A0-back, h.A1+size-back
			if s < 0 || e > n || e-s > maxSpan || !point(s) || !point(e) {
				continue
			}
			m := span{Hunk: Hunk{A0: s, A1: e, B0: al.mapA[s], B1: al.mapA[e]}, k: i, j: i}
			// B1: the end's counterpart without an insertion before it
			if al.AtoB[e] >= 0 {
				m.B1 = al.AtoB[e]
			}
			if m.B1 < m.B0 || m.B1-m.B0 > maxSpan {
				continue
			}
			for m.k > 0 && hs[m.k-1].A0 >= s && hs[m.k-1].B0 >= m.B0 {
				m.k--
			}
			for m.j+1 < len(hs) && hs[m.j+1].A1 <= e && hs[m.j+1].B1 <= m.B1 {
				m.j++
			}
			if (m.k > 0 && hs[m.k-1].A1 > s) || (m.j+1 < len(hs) && hs[m.j+1].A0 < e) || !fc.singleEntry(m.Hunk) {
				continue // cuts a hunk, or entered in the middle
			}
			out = append(out, m)
		}
	}
	return out
}

// singleEntry reports whether no jump from outside h lands inside it
// (other than at its start), on either side.
func (fc *funcCheck) singleEntry(h Hunk) bool {
	for i, t := range fc.a.target {
		if t > h.A0 && t < h.A1 && (i < h.A0 || i >= h.A1) {
			return false
		}
	}
	for j, t := range fc.b.target {
		if t > h.B0 && t < h.B1 && (j < h.B0 || j >= h.B1) {
			return false
		}
	}
	return true
}

// proveSpan decides one window: unreachable in the original, a tail
// merge, or a window proof. The equiv.Result is the proof's (Unknown with
// a reason when no proof was made).
func (c *Checker) proveSpan(ctx context.Context, fc *funcCheck, h Hunk) (equiv.Result, how) {
	n := len(fc.a.insns)
	if h.A0 >= n || fc.before[h.A0] == nil {
		// safety's summaries cover every state reaching an instruction:
		// none reach it, and the optimised side is entered only where
		// the original would be
		return equiv.Result{}, unreachable
	}
	if fc.tailMerge(h) {
		return equiv.Result{}, tailMerged
	}
	if fc.jumpHunk(h) {
		return equiv.Result{}, jumpsThreaded
	}
	for i := h.A0; i < h.A1; i++ {
		if fc.a.fixed[i] {
			return equiv.Result{Reason: fmt.Sprintf("original insn %d (%v) is relocated or calls a function and is not aligned", i, fc.a.insns[i])}, failed
		}
	}
	for j := h.B0; j < h.B1; j++ {
		if fc.b.fixed[j] {
			return equiv.Result{Reason: fmt.Sprintf("optimised insn %d (%v) is relocated or calls a function and is not aligned", j, fc.b.insns[j])}, failed
		}
	}
	w, reason := fc.window(h)
	if w == nil && debug {
		fmt.Fprintf(os.Stderr, "check: %s %v: no window: %s\n", fc.a.fn.Name, h, reason)
	}
	if w == nil {
		return equiv.Result{Reason: reason}, failed
	}
	r, err := c.eq.Window(ctx, w)
	if debug {
		fmt.Fprintf(os.Stderr, "check: %s %v: %v %s\n", fc.a.fn.Name, h, r.Verdict, r.Reason)
	}
	if err != nil {
		return equiv.Result{Reason: firstLine(err.Error())}, failed
	}
	if r.Verdict == equiv.Equal {
		return r, proven
	}
	if r.Verdict == equiv.Unknown && r.Reason == "" {
		r.Reason = "solver gave no verdict"
	}
	return r, failed
}

// window builds the equivalence query of hunk h: both sides in the
// straight form (a jump past the end to total+k slots leaves by exit
// code 1+k), the original's exits in order of appearance, the
// optimised side's exits mapped onto them through the alignment.
func (fc *funcCheck) window(h Hunk) (*equiv.Window, string) {
	a, b, al := fc.a, fc.b, fc.al
	n := len(a.insns)
	var exits []int // original points other than A1
	exitOf := func(t int) int {
		if t == h.A1 {
			return 0
		}
		for k, e := range exits {
			if e == t {
				return k + 1
			}
		}
		exits = append(exits, t)
		return len(exits)
	}
	aIns, err := straighten(a, h.A0, h.A1, func(t int) int { return exitOf(t) })
	if err != "" {
		return nil, err
	}
	// where each original exit lands in the optimised function
	bExit := map[int]int{h.B1: 0}
	for k, e := range exits {
		u := al.mapA[e]
		if u < 0 {
			return nil, fmt.Sprintf("exit to original insn %d has no counterpart", e)
		}
		if _, dup := bExit[u]; dup {
			return nil, fmt.Sprintf("two exits of hunk %v land on one optimised insn %d", h, u)
		}
		bExit[u] = k + 1
	}
	extra := len(exits)
	bIns, err := straighten(b, h.B0, h.B1, func(u int) int {
		if k, ok := bExit[u]; ok {
			return k
		}
		// an exit the original never takes: a code of its own, so that
		// taking it differs from every original exit
		extra++
		bExit[u] = extra
		return extra
	})
	if err != "" {
		return nil, err
	}
	w := &equiv.Window{A: aIns, B: bIns, Type: fc.typ}
	w.LiveIn = fc.live.In[h.A0]
	exitDesc := func(p int) equiv.WindowExit {
		if p >= n {
			return equiv.WindowExit{} // past the end: nothing runs after
		}
		e := equiv.WindowExit{LiveOut: fc.live.In[p]}
		if fc.stack != nil {
			d := make([]bool, synth.StackSize)
			for i := range d {
				d[i] = !fc.stack[p].Has(i)
			}
			e.StackDead = d
		}
		return e
	}
	w.Exits = append(w.Exits, exitDesc(h.A1))
	for _, e := range exits {
		w.Exits = append(w.Exits, exitDesc(e))
	}
	// A register live after the hunk that the original overwrites may be
	// passed through by the optimised side ("w0 = 2" dropped where r0 is
	// already 2): it is live on entry for that side, so its entry state
	// (from the original's summary, the same at this aligned point) counts.
	for _, e := range w.Exits {
		w.LiveIn |= e.LiveOut &^ bpf.RegsOf(bpf.R10)
	}
	w.LiveIn |= bpf.RegsOf(bpf.R10) & fc.live.In[h.A0]
	pre, _, ok := equiv.PreForWindow(fc.before[h.A0], w.LiveIn, aIns, bIns)
	if !ok {
		return nil, "a live-in register's type cannot be stated as a precondition"
	}
	w.Pre = pre
	return w, ""
}

// straighten copies s.insns[lo:hi] with jumps rewritten for the straight
// form: inside targets keep their place, a target outside [lo+1, hi)
// goes to total+exit(t) slots.
func straighten(s *side, lo, hi int, exit func(t int) int) ([]bpf.Insn, string) {
	out := slices.Clone(s.insns[lo:hi])
	slots := bpf.SlotOffsets(out)
	total := slots[len(out)]
	for i, in := range out {
		t := s.target[lo+i]
		if t < 0 {
			continue
		}
		var dst int
		if t > lo && t < hi {
			dst = slots[t-lo]
		} else {
			dst = total + exit(t)
		}
		off := dst - slots[i] - 1
		if in.Op() == bpf.OpGotol {
			out[i].Imm = int32(off)
			continue
		}
		if off < -32768 || off > 32767 {
			return nil, fmt.Sprintf("insn %d: jump offset out of range in the window", lo+i)
		}
		out[i].Off = int16(off)
	}
	return out, ""
}

// tailMerge accepts hunk h without a proof when the optimised side is a
// jump to (or a fall into) aligned code that does exactly what the
// original run does: from the hunk's start and from the original point t
// aligned with the jump's target, the original executes the same
// instructions (operands equal, jumps to the same places or to the same
// relative place in the two runs) until both reach one point or exit.
// Every instruction run from t on the way must be aligned and entered in
// the optimised code exactly as in the original (no hunk on the way), so
// the optimised side runs those same instructions too. This is a
// bisimulation over pairs of original points.
func (fc *funcCheck) tailMerge(h Hunk) bool {
	a, al := fc.a, fc.al
	n := len(a.insns)
	var u int
	switch h.B1 - h.B0 {
	case 0:
		u = h.B1
	case 1:
		if in := fc.b.insns[h.B0]; !in.IsUncondJump() {
			return false
		}
		u = fc.b.target[h.B0]
		if u == h.B0 {
			return false // an endless loop
		}
	default:
		return false
	}
	t := al.BtoA[u]
	if t < 0 || al.mapA[t] != u || h.A1 == h.A0 {
		return false
	}
	// okQ: the optimised code at t's counterpart is t's instruction,
	// reached from an aligned predecessor or jump with no hunk between
	okQ := func(q int) bool {
		return q < n && al.AtoB[q] >= 0 && al.mapA[q] == al.AtoB[q] && !a.fixed[q]
	}
	// norm follows unconditional jumps (no-ops for the machine state);
	// on the q side each one must be aligned too
	norm := func(p int, q bool) (int, bool) {
		for hops := 0; p < n && a.insns[p].IsUncondJump() && hops < 64; hops++ {
			if q && !okQ(p) {
				return p, false
			}
			p = a.target[p]
		}
		return p, true
	}
	type pair struct{ p, q int }
	seen := map[pair]bool{}
	work := []pair{{h.A0, t}}
	for len(work) > 0 && len(seen) < 4096 {
		x := work[len(work)-1]
		work = work[:len(work)-1]
		p, _ := norm(x.p, false)
		q, ok := norm(x.q, true)
		if !ok {
			return false
		}
		if p == q {
			continue // converged: the same code from here on
		}
		if seen[pair{p, q}] {
			continue
		}
		seen[pair{p, q}] = true
		if !okQ(q) || p >= n || a.fixed[p] {
			return false
		}
		ip, iq := a.insns[p], a.insns[q]
		switch {
		case ip.IsUncondJump() || iq.IsUncondJump():
			return false // a jump chain norm gave up on
		case ip.Info().Kind == bpf.KindMayGoto || iq.Info().Kind == bpf.KindMayGoto:
			return false
		case ip.IsJump():
			if a.keys[p] != a.keys[q] {
				return false
			}
			work = append(work, pair{p + 1, q + 1}, pair{a.target[p], a.target[q]})
		case ip.IsExit():
			if !iq.IsExit() {
				return false
			}
		default:
			if ip != iq {
				return false
			}
			work = append(work, pair{p + 1, q + 1})
		}
	}
	return len(work) == 0
}

// reproduce looks for a whole-program input on which the two programs
// differ (r0, fault, packet, helper calls); nil when none is found or
// the programs cannot run in the interpreter (subprograms, no spec).
func reproduce(a, b *side, budget int) *equiv.Counterexample {
	if !a.fn.Entry {
		return nil
	}
	if cex := Reproduce(a.f, b.f, a.fn.Name, budget); cex != nil && cex.Input != nil {
		return cex // NOT equivalent only with an input that shows it
	}
	return nil
}

// Reproduce runs entry program name of fa and fb in the interpreter on
// generated inputs (a coverage search over fa's branches with budget
// inputs, then budget/3 random ones) and returns the first input on which
// they differ (r0, a fault of fb's, the packet, the helper calls made);
// nil when none does or the interpreter cannot run fa's program. An
// optimised program fb that does not load in the interpreter differs on
// every input.
func Reproduce(fa, fb *object.File, name string, budget int) *equiv.Counterexample {
	if fa.Spec == nil || fb.Spec == nil {
		return nil
	}
	pa, err := interp.FromSpec(fa.Spec, name)
	if err != nil {
		return nil
	}
	pb, err := interp.FromSpec(fb.Spec, name)
	if err != nil {
		return &equiv.Counterexample{Diff: "the optimised program does not load in the interpreter: " + err.Error()}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	inputs, _, _ := interp.GenCoverage(pa, rng, budget)
	inputs = append(inputs, interp.GenInputs(pa, rng, budget/3)...)
	ma, mb := interp.NewMachine(pa, nil), interp.NewMachine(pb, nil)
	for _, in := range inputs {
		oa := ma.Run(in)
		if !oa.Fault.Ok() {
			continue
		}
		r0, pkt := oa.R0, bytes.Clone(oa.Packet)
		calls := slices.Clone(oa.Calls)
		ob := mb.Run(in)
		var diff string
		switch {
		case !ob.Fault.Ok():
			diff = "optimised faults: " + ob.Fault.String()
		case ob.R0 != r0:
			diff = fmt.Sprintf("r0: original=%#x optimised=%#x", r0, ob.R0)
		case !bytes.Equal(ob.Packet, pkt):
			diff = "packet contents differ"
		case !sameCalls(calls, ob.Calls):
			diff = "helper calls differ"
		default:
			continue
		}
		return &equiv.Counterexample{Input: in, Diff: diff}
	}
	return nil
}

func sameCalls(x, y []interp.Call) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].Helper != y[i].Helper || x[i].Args != y[i].Args || !bytes.Equal(x[i].Data, y[i].Data) {
			return false
		}
	}
	return true
}

// maxShown bounds the instructions hunkText prints per side.
const maxShown = 40

// hunkText disassembles both sides of h.
func (fc *funcCheck) hunkText(h Hunk) string {
	var s strings.Builder
	side := func(title string, sd *side, lo, hi int) {
		fmt.Fprintf(&s, "%s:\n", title)
		if lo == hi {
			s.WriteString("    (empty)\n")
		}
		for k := lo; k < hi; k++ {
			if k == lo+maxShown {
				fmt.Fprintf(&s, "    ... %d more\n", hi-k)
				break
			}
			fmt.Fprintf(&s, "    %4d: %v", k, sd.insns[k])
			if t := sd.target[k]; t >= 0 {
				fmt.Fprintf(&s, "    ; -> %d", t)
			}
			s.WriteString("\n")
		}
	}
	side(fmt.Sprintf("original [%d,%d)", h.A0, h.A1), fc.a, h.A0, h.A1)
	side(fmt.Sprintf("optimised [%d,%d)", h.B0, h.B1), fc.b, h.B0, h.B1)
	return s.String()
}

var debug = os.Getenv("K2OPT_DEBUG") == "check"

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
