package synth

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
)

// problem is one window's search task, shared read-only by its chains.
type problem struct {
	orig []cinsn
	// liveOut[j] are the registers compared when the window is left by
	// exit j (0: its end; j: Window.Exits[j-1]).
	liveOut  [][]uint8
	exitLive []bpf.RegSet // the same as sets
	freq     []float64    // execution weight per window position (latency)
	obj      cost.Objective
	form     cost.ErrorForm
	consts   []int64
	offs     []int16
	hasMem   bool
	// maxCPU is the newest ISA version (bpf.OpInfo.CPU) the function
	// already uses: candidates stay within it, so that an object built
	// for -mcpu=v3 does not come back needing a v4 kernel.
	maxCPU uint8
	// deadStack[j] marks the stack bytes not read after leaving by exit j
	// (nil: none): writes to them are not compared.
	deadStack []*[StackSize]bool
}

// cpuOK reports whether every instruction of c is within p.maxCPU.
func (p *problem) cpuOK(c []cinsn) bool {
	if p.maxCPU >= newestCPU {
		return true // every op is allowed: no scan on the hot path
	}
	for i := range c {
		if opCPU[c[i].op] > p.maxCPU {
			return false
		}
	}
	return true
}

// opCPU is each op's ISA version; newestCPU the largest.
var opCPU = func() (t [bpf.NumOps + 1]uint8) {
	for _, op := range bpf.Ops() {
		t[op] = op.Info().CPU
	}
	return t
}()

var newestCPU = slices.Max(opCPU[:])

// dead reports whether a write to byte off of region is not compared
// when the window is left by exit j.
func (p *problem) dead(j int, region uint8, off uint32) bool {
	return region == RegStack && j < len(p.deadStack) && p.deadStack[j] != nil && p.deadStack[j][off]
}

// deadAll reports whether stack byte off is dead at every exit.
func (p *problem) deadAll(off int) bool {
	for j := range p.liveOut {
		if !p.dead(j, RegStack, uint32(off)) {
			return false
		}
	}
	return true
}

// perf is the performance term of a candidate: slots (size, complexity)
// or path-weighted cycles (latency).
func (p *problem) perf(c []cinsn) float64 {
	t := 0.0
	for i := range c {
		if c[i].isNop() {
			continue
		}
		if p.obj == cost.Latency {
			t += p.freq[i] * cost.OpCycles(c[i].op)
		} else if c[i].op == bpf.OpLddw {
			t += 2
		} else {
			t++
		}
	}
	return t
}

// setWant runs the original window on t and records the expected outputs.
// It reports false when the original faults (the test is useless).
func (p *problem) setWant(m *machine, t *Test) bool {
	if f := m.run(p.orig, t); f != fNone {
		m.undo()
		return false
	}
	t.want = [bpf.NumRegs]uint64{}
	copy(t.want[:], m.r[:bpf.NumRegs])
	t.wantInit = bpf.RegSet(m.init)
	t.wantExit = m.exit
	t.wantMem = t.wantMem[:0]
	for _, e := range m.log {
		if p.dead(m.exit, e.region, e.off) {
			continue
		}
		dup := false
		for _, w := range t.wantMem {
			if w.region == e.region && w.off == e.off {
				dup = true
				break
			}
		}
		if !dup {
			t.wantMem = append(t.wantMem, memByte{region: e.region, off: e.off, val: t.Mem[e.region][e.off]})
		}
	}
	m.undo()
	return true
}

// faultErr is the error of a run that faulted where the original did not.
const faultErr = cost.FailPenalty + 64*4

// testErr is the error of candidate c on t: the value error of every
// live-out register and every memory byte either program wrote, plus
// cost.FailPenalty when anything differs.
func (p *problem) testErr(m *machine, c []cinsn, t *Test) uint64 {
	if f := m.run(c, t); f != fNone || m.exit != t.wantExit {
		m.undo()
		return faultErr
	}
	var e uint64
	for _, r := range p.liveOut[t.wantExit] {
		if !t.wantInit.Has(bpf.Reg(r)) {
			continue
		}
		if m.init&(1<<r) == 0 {
			e += 64
		} else {
			e += cost.ValueError(p.form, t.want[r], m.r[r])
		}
	}
	for _, w := range t.wantMem {
		if cur := t.Mem[w.region][w.off]; cur != w.val {
			e += uint64(bits.OnesCount8(cur ^ w.val))
		}
	}
	for i, le := range m.log {
		if p.dead(t.wantExit, le.region, le.off) || wrote(t.wantMem, le.region, le.off) || loggedBefore(m.log[:i], le) {
			continue
		}
		if cur := t.Mem[le.region][le.off]; cur != le.old {
			e += uint64(bits.OnesCount8(cur ^ le.old))
		}
	}
	m.undo()
	if e > 0 {
		e += cost.FailPenalty
	}
	return e
}

func wrote(ws []memByte, region uint8, off uint32) bool {
	for _, w := range ws {
		if w.region == region && w.off == off {
			return true
		}
	}
	return false
}

func loggedBefore(log []logEntry, e logEntry) bool {
	for _, l := range log {
		if l.region == e.region && l.off == e.off {
			return true
		}
	}
	return false
}

// Move kinds, for statistics.
const (
	MoveOperand = iota
	MoveReplace
	MoveNop
	MoveReplace2
	MoveRename
	MoveInsert
	MoveMerge
	NumMoves
)

// MoveNames names the move kinds.
var MoveNames = [NumMoves]string{"operand", "replace", "nop", "replace2", "rename", "insert", "merge"}

// move weights (out of their sum).
var moveWeights = [NumMoves]int{MoveOperand: 30, MoveReplace: 20, MoveNop: 15, MoveReplace2: 10, MoveRename: 5, MoveInsert: 10, MoveMerge: 10}

var moveTotal = func() (n int) {
	for _, w := range moveWeights {
		n += w
	}
	return
}()

// Op pools for proposals.
var (
	aluPool   []bpf.Op
	jumpPool  []bpf.Op
	loadPool  []bpf.Op
	storePool []bpf.Op // register stores
	stImmPool []bpf.Op
	atomicOf  = map[[2]int32]bpf.Op{} // {AtomicAdd..., size} -> op
)

func init() {
	for _, op := range bpf.Ops() {
		if !sems[op].ok {
			continue
		}
		i := op.Info()
		switch {
		case i.Class == bpf.ClassALU || i.Class == bpf.ClassALU64 || op == bpf.OpLddw:
			aluPool = append(aluPool, op)
		case i.Has(bpf.FlagCondJump):
			jumpPool = append(jumpPool, op)
		case i.Kind == bpf.KindLoad || i.Kind == bpf.KindLoadSX:
			loadPool = append(loadPool, op)
		case i.Kind == bpf.KindStore:
			storePool = append(storePool, op)
		case i.Kind == bpf.KindStoreImm:
			stImmPool = append(stImmPool, op)
		case i.Kind == bpf.KindAtomic && i.Atomic&bpf.AtomicFetch == 0:
			atomicOf[[2]int32{i.Atomic, int32(i.Size)}] = op
		}
	}
}

// smallConsts are the useful values every window's constant pool has.
var smallConsts = []int64{0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 24, 31, 32, 48, 56, 63, 64, 0xff, 0xffff, 0x7fffffff, -0x80000000, -2, -8, -16}

// chain is one Metropolis-Hastings chain over a window.
type chain struct {
	p     *problem
	rng   *rand.Rand
	m     machine
	tests []*Test
	w     cost.Weights
	beta  float64

	cur, prev []cinsn
	curCost   float64
	curErr    uint64
	best      []cinsn
	bestPerf  float64
	proposals int64
	accepted  [NumMoves]int64
	proposed  [NumMoves]int64
	lastMove  int
	seenBest  int             // the windowSearch best version cur last restarted from
	onZeroErr func(ch *chain) // called when cur has zero error and beats best
}

func newChain(p *problem, tests []*Test, rng *rand.Rand, w cost.Weights, beta float64) *chain {
	ch := &chain{p: p, rng: rng, w: w, beta: beta}
	for _, t := range tests {
		ch.tests = append(ch.tests, t.Clone())
	}
	ch.cur = append([]cinsn(nil), p.orig...)
	ch.prev = make([]cinsn, len(p.orig))
	ch.best = append([]cinsn(nil), p.orig...)
	ch.bestPerf = p.perf(p.orig)
	ch.m.log = make([]logEntry, 0, 256)
	ch.recost()
	return ch
}

// restart moves the chain to c (a proven best).
func (ch *chain) restart(c []cinsn, perf float64) {
	copy(ch.cur, c)
	copy(ch.best, c)
	ch.bestPerf = perf
	ch.recost()
}

// recost evaluates cur without a bound (after the tests changed).
func (ch *chain) recost() {
	c, e, _, _ := ch.eval(ch.cur, math.Inf(1))
	ch.curCost, ch.curErr = c, e
}

// eval returns the cost of c, giving up (ok false) once it exceeds bound.
func (ch *chain) eval(c []cinsn, bound float64) (total float64, err uint64, perf float64, ok bool) {
	perf = ch.p.perf(c)
	base := ch.w.Perf * perf
	if base > bound {
		return 0, 0, perf, false
	}
	for _, t := range ch.tests {
		err += ch.p.testErr(&ch.m, c, t)
		if base+ch.w.Error*float64(err) > bound {
			return 0, err, perf, false
		}
	}
	return base + ch.w.Error*float64(err), err, perf, true
}

// step makes one proposal and accepts or rejects it.
func (ch *chain) step() {
	copy(ch.prev, ch.cur)
	mv := ch.propose()
	if mv < 0 {
		return
	}
	if !ch.p.cpuOK(ch.cur) {
		copy(ch.cur, ch.prev)
		return
	}
	ch.proposals++
	ch.proposed[mv]++
	// Metropolis-Hastings: accept with probability min(1, exp(-beta*(c'-c))),
	// i.e. when c' <= c - ln(u)/beta; the bound lets eval stop early.
	u := 1 - ch.rng.Float64()
	bound := ch.curCost - math.Log(u)/ch.beta
	c, e, perf, ok := ch.eval(ch.cur, bound)
	if !ok {
		copy(ch.cur, ch.prev)
		return
	}
	ch.accepted[mv]++
	ch.curCost, ch.curErr = c, e
	if e == 0 && perf < ch.bestPerf && ch.onZeroErr != nil {
		ch.onZeroErr(ch)
	}
}

func (ch *chain) reg() uint8 { return uint8(ch.rng.IntN(10)) }

// readReg is a register to read: r10 now and then (frame pointer moves).
func (ch *chain) readReg() uint8 {
	if ch.rng.IntN(16) == 0 {
		return 10
	}
	return uint8(ch.rng.IntN(10))
}

func (ch *chain) constant() int64 {
	switch ch.rng.IntN(4) {
	case 0:
		return smallConsts[ch.rng.IntN(len(smallConsts))]
	case 1:
		return int64(int32(ch.rng.Uint32()))
	}
	if len(ch.p.consts) == 0 {
		return smallConsts[ch.rng.IntN(len(smallConsts))]
	}
	return ch.p.consts[ch.rng.IntN(len(ch.p.consts))]
}

func (ch *chain) offset() int16 {
	if len(ch.p.offs) == 0 || ch.rng.IntN(4) == 0 {
		return int16(-8 * (1 + ch.rng.IntN(8)))
	}
	return ch.p.offs[ch.rng.IntN(len(ch.p.offs))]
}

// fixImm makes c.imm valid for its op's imm role.
func (ch *chain) fixImm(c *cinsn) {
	i := c.op.Info()
	switch i.ImmF {
	case bpf.FZero:
		c.imm = 0
	case bpf.FFixed:
		c.imm = int64(i.Imm)
	case bpf.FShift:
		c.imm &= int64(i.Width - 1)
	case bpf.FNonZero:
		if int32(c.imm) == 0 {
			c.imm = 1
		}
	}
	if c.op != bpf.OpLddw {
		c.imm = int64(int32(c.imm))
	}
}

// randomize fills c's operands for op c.op.
func (ch *chain) randomize(c *cinsn) {
	i := c.op.Info()
	c.dst, c.src, c.off = 0, 0, 0
	switch i.DstF {
	case bpf.FRegW, bpf.FRegRW:
		c.dst = ch.reg()
	case bpf.FRegR:
		c.dst = ch.readReg()
	}
	if i.SrcF == bpf.FRegR || i.SrcF == bpf.FRegRW {
		c.src = ch.readReg()
	}
	if i.OffF == bpf.FAny && !i.Has(bpf.FlagJump) {
		c.off = ch.offset()
	}
	if i.Disc == bpf.DiscOff {
		c.off = i.Off
	}
	if i.ImmF == bpf.FShift {
		c.imm = int64(ch.rng.IntN(int(i.Width)))
	} else if c.op == bpf.OpLddw && ch.rng.IntN(2) == 0 {
		c.imm = int64(ch.rng.Uint64())
	} else {
		c.imm = ch.constant()
	}
	ch.fixImm(c)
}

// newALU draws a fresh ALU instruction.
func (ch *chain) newALU() cinsn {
	c := cinsn{op: aluPool[ch.rng.IntN(len(aluPool))], tgt: 0}
	ch.randomize(&c)
	return c
}

// replace proposes a new instruction for position k; false when k is an
// unconditional jump (kept: it shapes the window's control flow).
func (ch *chain) replace(k int) bool {
	c := &ch.cur[k]
	if c.isNop() {
		if ch.p.hasMem && ch.rng.IntN(4) == 0 {
			pools := [][]bpf.Op{loadPool, storePool, stImmPool}
			pool := pools[ch.rng.IntN(3)]
			*c = cinsn{op: pool[ch.rng.IntN(len(pool))]}
			ch.randomize(c)
			return true
		}
		*c = ch.newALU()
		return true
	}
	s := &sems[c.op]
	info := c.op.Info()
	switch {
	case c.op == bpf.OpJa:
		return false
	case info.Has(bpf.FlagCondJump):
		tgt := c.tgt
		c.op = jumpPool[ch.rng.IntN(len(jumpPool))]
		ch.randomize(c)
		c.tgt = tgt
	case s.size != 0 && ch.rng.IntN(4) != 0:
		// memory: another width or type, same operands
		var pool []bpf.Op
		switch s.kind {
		case bpf.KindLoad, bpf.KindLoadSX:
			pool = loadPool
		case bpf.KindStore:
			pool = storePool
		case bpf.KindStoreImm:
			pool = stImmPool
		default:
			return false
		}
		c.op = pool[ch.rng.IntN(len(pool))]
		ch.fixImm(c)
	default:
		keep := c.dst
		*c = ch.newALU()
		if ch.rng.IntN(2) == 0 && c.op.Info().DstF != bpf.FZero && keep < 10 {
			c.dst = keep
		}
	}
	return true
}

// propose mutates cur and returns the move kind, or -1 when nothing
// changed.
func (ch *chain) propose() int {
	n := len(ch.cur)
	x := ch.rng.IntN(moveTotal)
	mv := 0
	for ; x >= moveWeights[mv]; mv++ {
		x -= moveWeights[mv]
	}
	k := ch.rng.IntN(n)
	switch mv {
	case MoveOperand:
		c := &ch.cur[k]
		if c.isNop() {
			return -1
		}
		i := c.op.Info()
		switch ch.rng.IntN(4) {
		case 0:
			switch i.DstF {
			case bpf.FRegW, bpf.FRegRW:
				c.dst = ch.reg()
			case bpf.FRegR:
				c.dst = ch.readReg()
			default:
				return -1
			}
		case 1:
			if i.SrcF != bpf.FRegR && i.SrcF != bpf.FRegRW {
				return -1
			}
			c.src = ch.readReg()
		case 2:
			if i.ImmF != bpf.FAny && i.ImmF != bpf.FShift && i.ImmF != bpf.FNonZero && c.op != bpf.OpLddw {
				return -1
			}
			if ch.rng.IntN(2) == 0 {
				c.imm += int64(ch.rng.IntN(9) - 4)
			} else {
				c.imm = ch.constant()
			}
			ch.fixImm(c)
		case 3:
			if i.OffF != bpf.FAny || i.Has(bpf.FlagJump) {
				return -1
			}
			c.off = ch.offset()
		}
	case MoveReplace:
		if !ch.replace(k) {
			return -1
		}
	case MoveNop:
		if ch.cur[k].isNop() {
			return -1
		}
		ch.cur[k] = nop
	case MoveReplace2:
		if k+1 >= n || !ch.replace(k) || !ch.replace(k+1) {
			copy(ch.cur, ch.prev)
			return -1
		}
	case MoveRename:
		a, b := ch.reg(), ch.reg()
		if a == b {
			return -1
		}
		for i := range ch.cur {
			c := &ch.cur[i]
			if c.isNop() {
				continue
			}
			info := c.op.Info()
			if info.DstF >= bpf.FRegR && info.DstF <= bpf.FRegRW {
				c.dst = swapReg(c.dst, a, b)
			}
			if info.SrcF >= bpf.FRegR && info.SrcF <= bpf.FRegRW {
				c.src = swapReg(c.src, a, b)
			}
		}
	case MoveInsert:
		q := -1
		for i := k + 1; i < n; i++ {
			if ch.cur[i].isNop() {
				q = i
				break
			}
		}
		if q < 0 {
			return -1
		}
		copy(ch.cur[k+1:q+1], ch.cur[k:q])
		ch.cur[k] = ch.newALU()
		for i := range ch.cur {
			c := &ch.cur[i]
			if c.isNop() || !c.op.Info().Has(bpf.FlagJump) {
				continue
			}
			switch t := int(c.tgt); {
			case t >= k && t < q:
				c.tgt++
			case t == q:
				c.tgt = int16(q + 1)
			}
		}
	case MoveMerge:
		if !ch.merge() {
			return -1
		}
	}
	return mv
}

func swapReg(r, a, b uint8) uint8 {
	switch r {
	case a:
		return b
	case b:
		return a
	}
	return r
}

// merge combines memory operations: two narrow constant stores to
// adjacent bytes into one wider store, or load/op/store of one location
// into an atomic op. It picks one applicable site at random.
func (ch *chain) merge() bool {
	n := len(ch.cur)
	type site struct{ i, j, k int }
	var sites [8]site
	ns := 0
	for i := 0; i < n && ns < len(sites); i++ {
		a := &ch.cur[i]
		if a.isNop() {
			continue
		}
		sa := &sems[a.op]
		for j := i + 1; j < n && ns < len(sites); j++ {
			b := &ch.cur[j]
			if b.isNop() {
				continue
			}
			sb := &sems[b.op]
			if sa.kind == bpf.KindStoreImm && sb.kind == bpf.KindStoreImm && sa.size == sb.size && sa.size < 8 &&
				a.dst == b.dst && absDiff(a.off, b.off) == int(sa.size) {
				sites[ns] = site{i, j, -1}
				ns++
			}
			if sa.kind == bpf.KindLoad && (sa.size == 4 || sa.size == 8) && sb.kind <= bpf.KindXor &&
				b.dst == a.dst && a.src != a.dst && (sb.immSrc || b.src != a.dst) && isAtomicKind(sb.kind) {
				for k := j + 1; k < n && ns < len(sites); k++ {
					c := &ch.cur[k]
					if !c.isNop() && sems[c.op].kind == bpf.KindStore && sems[c.op].size == sa.size &&
						c.dst == a.src && c.off == a.off && c.src == a.dst {
						sites[ns] = site{i, j, k}
						ns++
					}
				}
			}
		}
	}
	if ns == 0 {
		return false
	}
	s := sites[ch.rng.IntN(ns)]
	a, b := &ch.cur[s.i], &ch.cur[s.j]
	if s.k < 0 {
		size := sems[a.op].size
		lo, hi := a, b
		if b.off < a.off {
			lo, hi = b, a
		}
		v := uint64(lo.imm)&(1<<(8*size)-1) | uint64(hi.imm)<<(8*size)
		wide := map[uint8]bpf.Op{1: bpf.OpStH, 2: bpf.OpStW, 4: bpf.OpStDW}[size]
		if size == 4 && int64(int32(v)) != int64(v) {
			return false
		}
		*a = cinsn{op: wide, dst: lo.dst, off: lo.off, imm: int64(int32(v))}
		*b = nop
		return true
	}
	size := int32(sems[a.op].size)
	code := map[bpf.Kind]int32{bpf.KindAdd: bpf.AtomicAdd, bpf.KindOr: bpf.AtomicOr, bpf.KindAnd: bpf.AtomicAnd, bpf.KindXor: bpf.AtomicXor}[sems[b.op].kind]
	op, ok := atomicOf[[2]int32{code, size}]
	if !ok {
		return false
	}
	if sems[b.op].immSrc {
		// "r1 = *(u64 *)(r0 + 0); r1 += 1; *(u64 *)(r0 + 0) = r1" ->
		// "r1 = 1; lock *(u64 *)(r0 + 0) += r1" (r1 must be dead after)
		ld, imm := *a, b.imm
		*a = cinsn{op: bpf.OpMov64Imm, dst: ld.dst, imm: imm}
		*b = cinsn{op: op, dst: ld.src, src: ld.dst, off: ld.off, imm: int64(op.Info().Imm)}
		ch.cur[s.k] = nop
		return true
	}
	*a = cinsn{op: op, dst: a.src, src: b.src, off: a.off, imm: int64(op.Info().Imm)}
	*b = nop
	ch.cur[s.k] = nop
	return true
}

func isAtomicKind(k bpf.Kind) bool {
	return k == bpf.KindAdd || k == bpf.KindOr || k == bpf.KindAnd || k == bpf.KindXor
}

func absDiff(a, b int16) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
