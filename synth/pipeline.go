package synth

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/safety"
)

// Options configure a search. Flags live in cmd/k2opt.
type Options struct {
	Objective cost.Objective
	Form      cost.ErrorForm
	// Time and Iters bound the search of one program (all its windows);
	// Iters counts proposals per chain. With neither, DefaultIters.
	Time  time.Duration
	Iters int64
	Seed  uint64
	// Jobs is the number of chains per window, each on its own goroutine
	// with its own temperature and weights. Jobs 1 with Iters (no Time)
	// is reproducible: same seed, same output.
	Jobs int
	// Prover decides equivalence; without one nothing is ever emitted.
	Prover Prover
	// Tests is the number of generated tests per window (default 32).
	Tests int
	// MaxProofs bounds the prover calls per window (default 100): a
	// window whose chains keep finding candidates the prover or the
	// whole-program check refuses stops asking.
	MaxProofs int
	// Rules is the rule cache (rules.go; nil: none): matching rules are
	// applied (each proven and checked) before the search, and what the
	// search finds is learned into it.
	Rules *RuleSet
	// Rounds is the number of passes over a program (default 2): each
	// round after the first searches the previous round's result, with
	// window boundaries shifted by half a window. Iters is per round;
	// Time is split evenly between the rounds.
	Rounds int
}

// DefaultRounds is the number of rounds when Options give none.
const DefaultRounds = 2

// DefaultIters is the proposal budget of one program when Options give none.
const DefaultIters = 200_000

// Func is a function prepared for search: its instructions, which ones
// are pinned, safety's entry states and the latency model's frequencies.
type Func struct {
	Name   string
	Type   ebpf.ProgramType
	Insns  []bpf.Insn
	Pinned []bool
	// Before[k] is safety's summary of states reaching instruction k (nil
	// entries or a nil slice: unknown, tests then draw plain scalars).
	Before []*safety.Summary
	// After[k]: the summary of states leaving instruction k (may be nil).
	After []*safety.Summary
	// Freq[k] is instruction k's execution weight (nil: all 1).
	Freq []float64
	// Ext marks relocated calls and function references (by slot).
	Ext bpf.External
	// StackLive[k] is the set of own-frame stack bytes that may be read
	// from instruction k on (nil: all live); bytes dead at a window's end
	// are not compared, so dead stores can go.
	StackLive []StackSet
	// Check, when set, is asked about every proven candidate (its window
	// edits, bpf.Rewrite form); only a nil answer makes it the window's
	// best. OptimizeProgram checks the whole program with safety.Verify.
	Check func(edits map[int][]bpf.Insn) error
	// Shifted moves the window boundaries of long runs by half a window
	// (a later round's windows straddle an earlier round's boundaries).
	Shifted bool
	slot    []int
}

// NewFunc prepares insns; pinned may be nil (then Pinned(insn, false)).
func NewFunc(name string, typ ebpf.ProgramType, insns []bpf.Insn, pinned []bool) *Func {
	f := &Func{Name: name, Type: typ, Insns: insns, Pinned: pinned, slot: bpf.SlotOffsets(insns)}
	if f.Pinned == nil {
		f.Pinned = make([]bool, len(insns))
		for k, in := range insns {
			f.Pinned[k] = Pinned(in, false)
		}
	}
	return f
}

// Windows selects f's windows.
func (f *Func) Windows() ([]Window, error) { return selectWindows(f.Insns, f.Pinned, f.Ext, f.Shifted) }

// WindowResult is the outcome of one window's search.
type WindowResult struct {
	Window Window
	// Edits replaces instructions of the window (bpf.Rewrite form: empty
	// = deleted); nil when nothing proven better was found.
	Edits           map[int][]bpf.Insn
	PerfBefore      float64
	PerfAfter       float64
	Proposals       int64
	Tests           int
	ProofsAttempted int64
	ProofsProven    int64
	ProofsUnsafe    int64 // proven, but refused by Func.Check
	TimeToBest      time.Duration
	Proposed        [NumMoves]int64
	Accepted        [NumMoves]int64
	RulesFired      int  // rule rewrites (exact or sliding) that became the best
	RuleSkipped     bool // a cache entry ended the window without search
}

// windowSearch is the state chains share: proven best and counterexamples.
// A prover answer of Unknown that took slowProof or longer counts as a
// timeout; a window stops proving after maxSlowProofs of them.
const (
	slowProof     = time.Second
	maxSlowProofs = 3
)

type windowSearch struct {
	slow      int         // Unknown answers that took slowProof or longer
	st        *entryState // what tests are drawn from
	mu        sync.Mutex
	ctx       context.Context
	f         *Func
	w         Window
	p         *problem
	prover    Prover
	start     time.Time
	best      []cinsn
	bestPerf  float64
	bestChain int
	bestVer   int // bumped whenever best changes
	maxProofs int64
	tried     map[uint64]bool
	cex       []*Test
	attempts  int64
	proven    int64
	unsafe    int64
	toBest    time.Duration
}

// OptimizeWindow searches for a cheaper proven replacement of window w
// of f with the given per-chain proposal budget and deadline (zero: none).
func OptimizeWindow(ctx context.Context, f *Func, w Window, opts Options, iters int64, deadline time.Time) (*WindowResult, error) {
	p := newProblem(f, w, opts)
	ws := &windowSearch{ctx: ctx, f: f, w: w, p: p, prover: opts.Prover, start: time.Now(),
		best: slices.Clone(p.orig), bestPerf: p.perf(p.orig), bestChain: -1, tried: map[uint64]bool{}}
	ws.maxProofs = int64(opts.MaxProofs)
	if ws.maxProofs <= 0 {
		ws.maxProofs = 100
	}
	res := &WindowResult{Window: w, PerfBefore: ws.bestPerf, PerfAfter: ws.bestPerf}

	rng := rand.New(rand.NewPCG(opts.Seed, uint64(w.Start)<<20|uint64(w.End)))
	var sum *safety.Summary
	if w.Start < len(f.Before) {
		sum = f.Before[w.Start]
	}
	st := newEntryState(f.Type, sum)
	ws.st = st
	// rule cache (rules.go): a cached rewrite or no-better entry may end the window here
	rst, skip := ws.rulesBefore(opts, iters, deadline, res)
	if skip {
		return res, nil
	}
	ntests := opts.Tests
	if ntests <= 0 {
		ntests = 32
	}
	var m machine
	tests := p.genTests(rng, st, w.LiveIn, ntests, &m)
	res.Tests = len(tests)
	if len(tests) == 0 || opts.Prover == nil {
		return res, nil
	}
	ws.rulesSlide(rst, tests) // rule cache: trimmed rules at every position

	// the peephole pre-pass; a counterexample sends it round again
	for round := 0; round < 3; round++ {
		pt := append(slices.Clone(tests), ws.cex...)
		ncex := len(ws.cex)
		proved := false
		for _, c := range p.peepholes(f, w, pt) {
			if ws.prove(c, 0, nil) {
				proved = true
				break
			}
			if len(ws.cex) > ncex {
				break
			}
		}
		if proved || len(ws.cex) == ncex {
			break
		}
	}

	jobs := max(opts.Jobs, 1)
	chains := make([]*chain, jobs)
	betas := []float64{1, 0.5, 2, 0.25, 4, 1, 0.5, 2}
	for i := range chains {
		wt := cost.WeightsFor(opts.Objective)
		if i%2 == 1 {
			wt.Error *= 2
		}
		crng := rand.New(rand.NewPCG(opts.Seed^0x9e3779b97f4a7c15, uint64(w.Start)<<20|uint64(i)))
		ch := newChain(p, tests, crng, wt, betas[i%len(betas)])
		idx := i
		ch.onZeroErr = func(ch *chain) { ws.tryProve(ch, idx) }
		if ws.bestChain >= 0 {
			ch.restart(ws.best, ws.bestPerf)
			ch.seenBest = ws.bestVer
		}
		chains[i] = ch
	}
	run := func(i int) {
		ch := chains[i]
		seen := 0
		for it := int64(0); iters <= 0 || it < iters; it++ {
			if it&1023 == 0 {
				if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
					return
				}
				seen = ws.syncTests(ch, seen)
			}
			ch.step()
		}
	}
	if jobs == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for i := range chains {
			wg.Add(1)
			go func() { defer wg.Done(); run(i) }()
		}
		wg.Wait()
	}
	for _, ch := range chains {
		res.Proposals += ch.proposals
		for k := range NumMoves {
			res.Proposed[k] += ch.proposed[k]
			res.Accepted[k] += ch.accepted[k]
		}
	}
	res.Tests = len(tests) + len(ws.cex)
	res.ProofsAttempted, res.ProofsProven, res.ProofsUnsafe = ws.attempts, ws.proven, ws.unsafe
	if ws.bestChain >= 0 {
		res.PerfAfter = ws.bestPerf
		res.TimeToBest = ws.toBest
		res.Edits = map[int][]bpf.Insn{}
		for i, e := range fromC(ws.best, w, f.slot) {
			res.Edits[w.Start+i] = e
		}
	}
	ws.rulesAfter(rst, res) // rule cache: learn this window's outcome
	return res, nil
}

// syncTests gives ch the counterexamples other chains found.
func (ws *windowSearch) syncTests(ch *chain, seen int) int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ch.seenBest != ws.bestVer {
		// restart from the best proven candidate
		ch.seenBest = ws.bestVer
		ch.restart(ws.best, ws.bestPerf)
	}
	if seen == len(ws.cex) {
		return seen
	}
	for _, t := range ws.cex[seen:] {
		ch.tests = append(ch.tests, t.Clone())
	}
	ch.recost()
	return len(ws.cex)
}

func hashC(c []cinsn) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for _, x := range c {
		if x.isNop() {
			continue
		}
		b[0], b[1], b[2] = byte(x.op), x.dst, x.src
		b[3], b[4] = byte(x.off), byte(x.off>>8)
		b[5], b[6] = byte(x.tgt), byte(x.tgt>>8)
		for i := range 8 {
			b[8+i] = byte(x.imm >> (8 * i))
		}
		h.Write(b[:])
	}
	return h.Sum64()
}

// tryProve asks the prover about ch.cur, which passes every test and is
// cheaper than the best proven candidate.
func (ws *windowSearch) tryProve(ch *chain, idx int) {
	ws.prove(ch.cur, idx, ch)
	ws.mu.Lock()
	ch.bestPerf = ws.bestPerf
	ws.mu.Unlock()
}

// prove asks the prover about cand (passing every test) and, when proven
// and accepted by Func.Check, makes it the best. ch (may be nil) takes a
// counterexample at once. It reports whether cand became the best.
func (ws *windowSearch) prove(cand []cinsn, idx int, ch *chain) bool {
	perf := ws.p.perf(cand)
	if !ws.p.cpuOK(cand) {
		return false
	}
	key := hashC(cand)
	ws.mu.Lock()
	if perf >= ws.bestPerf || ws.tried[key] || ws.attempts >= ws.maxProofs {
		ws.mu.Unlock()
		return false
	}
	ws.tried[key] = true
	ws.attempts++
	ws.mu.Unlock()

	q := &Query{Program: ws.f.Name, Type: ws.f.Type, Insns: ws.f.Insns, Window: ws.w,
		Orig: straight(ws.p.orig), Cand: straight(cand)}
	if ws.w.Start < len(ws.f.Before) {
		q.Entry = ws.f.Before[ws.w.Start]
	}
	if d := ws.p.deadStack[0]; d != nil {
		q.StackDead = d[:]
	}
	for j, e := range ws.w.Exits {
		qe := QueryExit{Live: e.Live}
		if d := ws.p.deadStack[j+1]; d != nil {
			qe.StackDead = d[:]
		}
		q.Exits = append(q.Exits, qe)
	}
	t0 := time.Now()
	v, cex, err := ws.prover.Equivalent(ws.ctx, q)
	if err != nil {
		return false
	}
	if v == Unknown && time.Since(t0) >= slowProof {
		// a solver timeout: a window whose candidates time out keeps
		// doing so; after a few, stop asking (bounds the window's time
		// to a few proof timeouts instead of MaxProofs of them)
		ws.mu.Lock()
		if ws.slow++; ws.slow >= maxSlowProofs {
			ws.attempts = max(ws.attempts, ws.maxProofs)
		}
		ws.mu.Unlock()
	}
	switch v {
	case Equivalent:
		ws.mu.Lock()
		ws.proven++
		ws.mu.Unlock()
		if ws.f.Check != nil {
			edits := map[int][]bpf.Insn{}
			for i, e := range fromC(cand, ws.w, ws.f.slot) {
				edits[ws.w.Start+i] = e
			}
			if ws.f.Check(edits) != nil {
				ws.mu.Lock()
				ws.unsafe++
				ws.mu.Unlock()
				return false
			}
		}
		ws.mu.Lock()
		defer ws.mu.Unlock()
		if perf < ws.bestPerf || (perf == ws.bestPerf && idx < ws.bestChain) {
			ws.best = slices.Clone(cand)
			ws.bestPerf = perf
			ws.bestChain = idx
			ws.bestVer++
			ws.toBest = time.Since(ws.start)
			return true
		}
	case NotEquivalent, Unknown:
		// Unknown (a timeout, something the encoder does not model) may
		// still be a wrong candidate our tests missed: look for a test
		// that exposes it, so the chains stop proposing its kind.
		var m machine
		var t *Test
		if cex != nil && v == NotEquivalent {
			t = testFromInput(ws.f.Type, cex)
		}
		if t == nil || !ws.p.setWant(&m, t) || ws.p.testErr(&m, cand, t) == 0 {
			// no usable counterexample (e.g. one that needs a map
			// lookup to set up): look for a test of our own that tells
			// the two apart, or the chains keep proposing the same kind
			// of wrong candidate
			if t = ws.distinguish(cand, &m); t == nil {
				return false
			}
		}
		ws.mu.Lock()
		ws.cex = append(ws.cex, t)
		ws.mu.Unlock()
		if ch != nil {
			// this chain takes it now; the others at their next sync
			ch.tests = append(ch.tests, t.Clone())
			ch.recost()
		}
	}
	return false
}

// genTests draws n window tests the original runs without faulting,
// spread over the paths through the window: random inputs alone rarely
// take a branch like "if w3 == w4", and a chain whose tests never take it
// deletes it. Half the draws alias a scalar live-in to another one or to
// a program constant (within the entry state's bounds); tests are then
// picked round-robin over the distinct paths seen.
func (p *problem) genTests(rng *rand.Rand, st *entryState, liveIn bpf.RegSet, n int, m *machine) []*Test {
	type bucket struct {
		key   uint64
		tests []*Test
	}
	var buckets []*bucket
	var all []*Test
	add := func(t *Test) {
		if !p.setWant(m, t) {
			return
		}
		all = append(all, t)
		key := m.path*8 + uint64(m.exit)
		i := slices.IndexFunc(buckets, func(b *bucket) bool { return b.key == key })
		if i < 0 {
			i = len(buckets)
			buckets = append(buckets, &bucket{key: key})
		}
		buckets[i].tests = append(buckets[i].tests, t)
	}
	for try := 0; len(all) < 2*n && try < 8*n; try++ {
		t := genTest(rng, st, liveIn)
		if try%2 == 1 {
			p.alias(rng, st, liveIn, t)
		}
		add(t)
	}
	// flip branches of tests found so far, flipped ones included, so
	// that branches behind branches are reached too
	var tr tracker
	for round := 0; round < 2*n && len(all) > 0; round++ {
		t := all[rng.IntN(len(all))]
		m.track = &tr
		m.run(p.orig, t)
		m.undo()
		m.track = nil
		for _, c := range flipTests(rng, t, &tr, st.sum, 2) {
			add(c)
		}
	}
	var tests []*Test
	for k := 0; len(tests) < n; k++ {
		took := false
		for _, b := range buckets {
			if k < len(b.tests) && len(tests) < n {
				tests = append(tests, b.tests[k])
				took = true
			}
		}
		if !took {
			break
		}
	}
	return tests
}

// alias makes one scalar live-in of t equal (in 64 or 32 bits, or off by
// one) to another scalar live-in or to a constant of the program, when
// the entry state allows the value.
func (p *problem) alias(rng *rand.Rand, st *entryState, liveIn bpf.RegSet, t *Test) {
	var scalars []bpf.Reg
	for _, r := range liveIn.Regs() {
		if r == bpf.R10 || isPtr(t.Regs[r]) || !t.Init.Has(r) {
			continue
		}
		if st.sum != nil && st.sum.Regs[r].Type != safety.ScalarValue {
			continue
		}
		scalars = append(scalars, r)
	}
	if len(scalars) == 0 {
		return
	}
	r := scalars[rng.IntN(len(scalars))]
	var v uint64
	switch {
	case len(scalars) > 1 && rng.IntN(2) == 0:
		o := scalars[rng.IntN(len(scalars))]
		v = t.Regs[o]
	case len(p.consts) > 0:
		v = uint64(p.consts[rng.IntN(len(p.consts))])
	default:
		return
	}
	switch rng.IntN(4) {
	case 0:
		v = t.Regs[r]&^0xffffffff | v&0xffffffff // equal in the low 32 bits
	case 1:
		v += uint64(rng.IntN(3)) - 1
	}
	if scalarAllows(st.sum, r, v) {
		t.Regs[r] = v
	}
}

// distinguish draws many more tests for the window (random, aliased,
// branch-flipped) and returns the first on which cand differs from the
// original (nil: none found).
func (ws *windowSearch) distinguish(cand []cinsn, m *machine) *Test {
	ws.mu.Lock()
	seed := uint64(ws.attempts)
	ws.mu.Unlock()
	rng := rand.New(rand.NewPCG(seed, uint64(ws.w.Start)<<20|uint64(ws.w.End)))
	for range 4 {
		for _, t := range ws.p.genTests(rng, ws.st, ws.w.LiveIn, 256, m) {
			if ws.p.testErr(m, cand, t) != 0 {
				return t
			}
		}
	}
	return nil
}

// addExit appends the registers compared at the window's next exit.
func (p *problem) addExit(live bpf.RegSet) {
	var regs []uint8
	for _, r := range live.Regs() {
		if r != bpf.R10 {
			regs = append(regs, uint8(r))
		}
	}
	p.liveOut = append(p.liveOut, regs)
	p.exitLive = append(p.exitLive, live)
}

// newProblem builds the search task of window w.
func newProblem(f *Func, w Window, opts Options) *problem {
	p := &problem{orig: toC(f.Insns, w, f.slot), obj: opts.Objective, form: opts.Form}
	for _, in := range f.Insns {
		if op := in.Op(); op.Valid() {
			p.maxCPU = max(p.maxCPU, opCPU[op])
		}
	}
	exits := append([]Exit{{Insn: w.End, Live: w.LiveOut}}, w.Exits...)
	for _, e := range exits {
		p.addExit(e.Live)
		var dead *[StackSize]bool
		if f.StackLive != nil && e.Insn < len(f.StackLive) {
			live := &f.StackLive[e.Insn]
			var d [StackSize]bool
			any := false
			for i := range d {
				d[i] = !live.Has(i)
				any = any || d[i]
			}
			if any {
				dead = &d
			}
		}
		p.deadStack = append(p.deadStack, dead)
	}
	p.freq = make([]float64, len(p.orig))
	for i := range p.freq {
		p.freq[i] = 1
		if f.Freq != nil {
			p.freq[i] = f.Freq[w.Start+i]
		}
	}
	seen := map[int64]bool{}
	for _, in := range f.Insns {
		info := in.Info()
		if info.ImmF == bpf.FAny && !in.IsCall() && !seen[int64(in.Imm)] {
			seen[int64(in.Imm)] = true
			p.consts = append(p.consts, int64(in.Imm))
		}
	}
	offs := map[int16]bool{}
	for _, c := range p.orig {
		if s := sems[c.op]; s.size != 0 {
			p.hasMem = true
			for _, d := range []int16{0, -int16(s.size), int16(s.size)} {
				if !offs[c.off+d] {
					offs[c.off+d] = true
					p.offs = append(p.offs, c.off+d)
				}
			}
		}
	}
	slices.Sort(p.consts)
	slices.Sort(p.offs)
	return p
}

// Report is what one program's optimisation did (--report).
type Report struct {
	Program         string              `json:"program"`
	SlotsBefore     int                 `json:"slots_before"`
	SlotsAfter      int                 `json:"slots_after"`
	LatencyBefore   float64             `json:"latency_before"`
	LatencyAfter    float64             `json:"latency_after"`
	ProcessedBefore int                 `json:"processed_before"`
	ProcessedAfter  int                 `json:"processed_after"`
	Windows         int                 `json:"windows"`
	WindowsImproved int                 `json:"windows_improved"`
	Proposals       int64               `json:"proposals"`
	ProposalsPerSec float64             `json:"proposals_per_sec"`
	ProofsAttempted int64               `json:"proofs_attempted"`
	ProofsProven    int64               `json:"proofs_proven"`
	ProofsUnsafe    int64               `json:"proofs_unsafe"` // proven but refused by the whole-program check
	CacheHits       int64               `json:"cache_hits"`
	TailMerges      int                 `json:"tail_merges"`     // runs replaced by a jump to an identical run
	JumpsThreaded   int                 `json:"jumps_threaded"`  // jumps redirected past gotos, inverted or removed (jumps.go)
	RulesFired      int64               `json:"rules_fired"`     // rule rewrites that became a window's best
	RulesSkipped    int64               `json:"windows_skipped"` // windows a rule cache entry ended without search
	TimeToBest      time.Duration       `json:"time_to_best_ns"`
	Elapsed         time.Duration       `json:"elapsed_ns"`
	Moves           map[string][2]int64 `json:"moves"` // proposed, accepted
	Note            string              `json:"note,omitempty"`
}

func (r *Report) String() string {
	return fmt.Sprintf("%s: %d -> %d slots, latency %.0f -> %.0f, %d windows (%d improved), %d proposals (%.0f/s), proofs %d/%d",
		r.Program, r.SlotsBefore, r.SlotsAfter, r.LatencyBefore, r.LatencyAfter, r.Windows, r.WindowsImproved,
		r.Proposals, r.ProposalsPerSec, r.ProofsProven, r.ProofsAttempted)
}
