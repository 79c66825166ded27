package interp

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/k2opt/k2opt/bpf"
)

// EdgeReach says whether a branch edge (one direction of a conditional
// jump) can be taken, and if not, why. Coverage figures count only
// feasible edges; every other class is a proof, not a guess: the
// analysis (BranchReach) over-approximates what the program can do, so a
// run that takes an edge it calls infeasible is a bug in the analysis
// (TestCorpusCoverage checks that no generated input ever does).
type EdgeReach uint8

// Edge classes.
const (
	EdgeFeasible EdgeReach = iota // not ruled out
	EdgeDead                      // the jump itself is unreachable (only reached through infeasible edges)
	EdgeConst                     // the condition has the same value on every path (intervals of constants)
	EdgeNonNull                   // a null test of a pointer that cannot be null (stack, ctx, packet, global data, or an array-map lookup with an in-range key)
	EdgeRodata                    // the condition is fixed by read-only data (.rodata, frozen at load: the kernel's verifier prunes it too)
	numEdgeReach
)

var edgeReachNames = [numEdgeReach]string{"feasible", "dead code", "constant condition", "non-null pointer", "read-only data"}

func (e EdgeReach) String() string {
	if e < numEdgeReach {
		return edgeReachNames[e]
	}
	return "?"
}

// Abstract values of the reachability analysis: a small non-relational
// domain (kinds of pointers, unsigned intervals of scalars).
type akind uint8

const (
	aTop      akind = iota // anything, including a pointer
	aScalar                // a number in [lo, hi] (unsigned 64-bit)
	aStack                 // this frame's stack at offset lo (512 = r10)
	aCtx                   // the context at offset lo
	aPtr                   // a non-null pointer that is not into the stack (packet, map value, ...)
	aNullable              // a map lookup's result: NULL or an aPtr
	aMap                   // a map handle
	aRO                    // read-only map data with contents: map lo, offset hi
)

type aval struct {
	k      akind
	lo, hi uint64
	ro     bool // (scalars) derived from read-only data
}

var (
	top    = aval{k: aTop}
	full64 = aval{k: aScalar, lo: 0, hi: math.MaxUint64}
	full32 = aval{k: aScalar, lo: 0, hi: math.MaxUint32}
)

func konst(v uint64) aval { return aval{k: aScalar, lo: v, hi: v} }

func (a aval) isConst() bool { return a.k == aScalar && a.lo == a.hi }

// rangeOf is the interval of an s-byte unsigned quantity.
func rangeOf(size uint8) aval {
	if size >= 8 {
		return full64
	}
	return aval{k: aScalar, lo: 0, hi: 1<<(8*size) - 1}
}

func join(a, b aval) aval {
	if a == b {
		return a
	}
	switch {
	case a.k == aScalar && b.k == aScalar:
		return aval{aScalar, min(a.lo, b.lo), max(a.hi, b.hi), a.ro || b.ro}
	case a.k == b.k && (a.k == aPtr || a.k == aNullable):
		return a
	case (a.k == aPtr || a.k == aNullable) && (b.k == aPtr || b.k == aNullable):
		return aval{k: aNullable}
	case (a.k == aPtr || a.k == aNullable) && b == konst(0), a == konst(0) && (b.k == aPtr || b.k == aNullable):
		return aval{k: aNullable}
	}
	return top
}

// widen is join that jumps a growing interval bound to its extreme, so
// loops reach a fixpoint.
func widen(old, nw aval) aval {
	j := join(old, nw)
	if j.k == aScalar && old.k == aScalar {
		if j.lo < old.lo {
			j.lo = 0
		}
		if j.hi > old.hi { // thresholds: a loop counter of a 32-bit register stays 32-bit
			for _, t := range [...]uint64{math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64} {
				if j.hi <= t {
					j.hi = t
					break
				}
			}
		}
	}
	return j
}

// stEnt is a value stored at a known offset of the frame's stack.
type stEnt struct {
	off  int32
	size uint8
	v    aval
}

type astate struct {
	r  [bpf.NumRegs]aval
	st []stEnt // sorted by off, non-overlapping
}

func (s *astate) clone() *astate {
	c := &astate{r: s.r}
	c.st = append([]stEnt(nil), s.st...)
	return c
}

// kill forgets stack entries overlapping [off, off+size).
func (s *astate) kill(off int32, size uint8) {
	out := s.st[:0]
	for _, e := range s.st {
		if e.off+int32(e.size) <= off || off+int32(size) <= e.off {
			out = append(out, e)
		}
	}
	s.st = out
}

func (s *astate) put(off int32, size uint8, v aval) {
	s.kill(off, size)
	i := 0
	for i < len(s.st) && s.st[i].off < off {
		i++
	}
	s.st = append(s.st, stEnt{})
	copy(s.st[i+1:], s.st[i:])
	s.st[i] = stEnt{off, size, v}
}

func (s *astate) get(off int32, size uint8, sxt bool) aval {
	for _, e := range s.st {
		if e.off != off {
			continue
		}
		v := e.v
		switch {
		case e.size == size && !sxt:
			return v
		case e.size >= size && v.k == aScalar && v.hi < 1<<(8*min(size, 7)) && (!sxt || v.hi < 1<<(8*size-1)):
			return v // the low bytes of a small number (little-endian)
		}
		break
	}
	if sxt {
		return full64
	}
	if size == 8 {
		return top // a spilled pointer we lost track of
	}
	return rangeOf(size)
}

// joinState merges b into a; it reports whether a changed.
func joinState(a, b *astate, wide bool) bool {
	changed := false
	for i := range a.r {
		var j aval
		if wide {
			j = widen(a.r[i], b.r[i])
		} else {
			j = join(a.r[i], b.r[i])
		}
		if j != a.r[i] {
			a.r[i], changed = j, true
		}
	}
	out := a.st[:0]
	for _, e := range a.st {
		for _, f := range b.st {
			if f.off == e.off && f.size == e.size {
				var j aval
				if wide {
					j = widen(e.v, f.v)
				} else {
					j = join(e.v, f.v)
				}
				if j != e.v {
					changed = true
				}
				out = append(out, stEnt{e.off, e.size, j})
				break
			}
		}
	}
	if len(out) != len(a.st) {
		changed = true
	}
	a.st = out
	return changed
}

// Helpers that never write through their pointer arguments (the stack
// entries the analysis tracks survive them).
var pureHelpers = map[int64]bool{
	hMapLookup: true, hMapUpdate: true, hMapDelete: true, hKtime: true, hKtimeBoot: true, hKtimeCoarse: true,
	hPrandom: true, hSmpID: true, 6 /* trace_printk */ : true, 14 /* get_current_pid_tgid */ : true,
	15 /* get_current_uid_gid */ : true, 25 /* perf_event_output */ : true, 28 /* csum_diff */ : true,
	130 /* ringbuf_output */ : true, 93 /* spin_lock */ : true, 94 /* spin_unlock */ : true,
	23 /* redirect */ : true, 51 /* redirect_map */ : true,
}

// BranchReach classifies every branch edge of p: result[2*pc] is the
// fall-through of the conditional jump at slot pc, result[2*pc+1] the
// jump taken (other slots: EdgeDead). It is an abstract interpretation
// over the slots (pointer kinds, intervals, the stack's constant slots)
// that assumes what the kernel's verifier guarantees of an accepted
// program: pointer arithmetic keeps packet and map-value pointers
// in bounds, so they are never NULL.
func BranchReach(p *Program) []EdgeReach {
	r, _ := analyze(p)
	return r
}

// analyze is BranchReach; it also returns which context bytes the program
// may read (all of them when a load's base is not known to be the ctx or
// another region), for input generation.
func analyze(p *Program) ([]EdgeReach, []bool) {
	code := p.code
	ctxRead := make([]bool, layoutFor(p.Type).size)
	n := len(code)
	res := make([]EdgeReach, 2*n)
	if n == 0 {
		return res, ctxRead
	}
	feas := make([]bool, 2*n)
	why := make([]EdgeReach, 2*n)
	reached := make([]bool, n)
	states := make([]*astate, n)
	visits := make([]int, n)
	ev := newConstEval(p)
	var work []int
	flow := func(pc int, s *astate) {
		if pc < 0 || pc >= n || s == nil {
			return
		}
		if states[pc] == nil {
			states[pc] = s.clone()
			work = append(work, pc)
			return
		}
		visits[pc]++
		if joinState(states[pc], s, visits[pc] > 6) {
			work = append(work, pc)
		}
	}
	entry := func(pc int, ctx bool) {
		s := &astate{}
		for i := range s.r {
			s.r[i] = top
		}
		if ctx {
			s.r[bpf.R1] = aval{k: aCtx}
		}
		s.r[bpf.R10] = aval{k: aStack, lo: StackSize, hi: StackSize}
		flow(pc, s)
	}
	entry(0, true)
	for _, c := range code {
		if c.op == bpf.OpCallLocal || c.op == bpf.OpLddwFunc {
			entry(int(c.tgt), false) // subprograms and callbacks: arguments unknown
		}
	}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		reached[pc] = true
		s := states[pc].clone()
		c := &code[pc]
		if c.op == opBadSlot {
			continue
		}
		info := c.op.Info()
		if info.Flags&bpf.FlagCondJump != 0 && info.Kind != bpf.KindMayGoto {
			ft, tk, reason := decide(c, info, s)
			if ft != nil {
				feas[2*pc] = true
			} else if why[2*pc] == 0 {
				why[2*pc] = reason
			}
			if tk != nil {
				feas[2*pc+1] = true
			} else if why[2*pc+1] == 0 {
				why[2*pc+1] = reason
			}
			flow(pc+1, ft)
			flow(int(c.tgt), tk)
			continue
		}
		switch info.Kind {
		case bpf.KindExit:
			continue
		case bpf.KindJa:
			flow(int(c.tgt), s)
			continue
		case bpf.KindMayGoto:
			feas[2*pc], feas[2*pc+1] = true, true
			flow(pc+1, s)
			flow(int(c.tgt), s)
			continue
		}
		if info.Kind == bpf.KindLoad || info.Kind == bpf.KindLoadSX || info.Kind == bpf.KindLoadAcquire {
			switch base := s.r[c.src&15]; base.k {
			case aCtx:
				for o := int64(base.lo) + int64(c.off); o < int64(base.lo)+int64(c.off)+int64(info.Size); o++ {
					if o >= 0 && o < int64(len(ctxRead)) {
						ctxRead[o] = true
					}
				}
			case aTop:
				for i := range ctxRead {
					ctxRead[i] = true
				}
			}
		}
		transfer(p, ev, pc, c, info, s)
		flow(pc+int(c.step), s)
	}
	for pc := range n {
		for k := 2 * pc; k < 2*pc+2; k++ {
			switch {
			case !reached[pc]:
				res[k] = EdgeDead
			case feas[k]:
				res[k] = EdgeFeasible
			default:
				res[k] = why[k]
			}
		}
	}
	return res, ctxRead
}

// transfer applies a non-branch instruction to s.
func transfer(p *Program, ev *constEval, pc int, c *inst, info *bpf.OpInfo, s *astate) {
	d, sr := c.dst&15, c.src&15
	if d >= bpf.NumRegs || sr >= bpf.NumRegs {
		return
	}
	switch info.Kind {
	case bpf.KindLdImm64:
		switch info.Pseudo {
		case bpf.PseudoNone:
			s.r[d] = konst(uint64(c.imm))
		case bpf.PseudoMapFD, bpf.PseudoMapIdx:
			s.r[d] = aval{k: aMap, lo: uint64(uint32(c.imm))}
		case bpf.PseudoMapValue, bpf.PseudoMapIdxValue:
			s.r[d] = aval{k: aPtr}
			if mi := int(uint32(c.imm)); mi < len(p.Maps) && p.Maps[mi].ReadOnly && p.Maps[mi].Contents != nil {
				s.r[d] = aval{k: aRO, lo: uint64(mi), hi: uint64(c.imm) >> 32}
			}
		default:
			s.r[d] = top
		}
	case bpf.KindLdAbs, bpf.KindLdInd:
		for r := bpf.R1; r <= bpf.R5; r++ {
			s.r[r] = top
		}
		s.r[0] = rangeOf(info.Size)
	case bpf.KindLoad, bpf.KindLoadSX, bpf.KindLoadAcquire:
		base := s.r[sr]
		sxt := info.Kind == bpf.KindLoadSX
		switch {
		case base.k == aStack:
			s.r[d] = s.get(int32(base.lo)+int32(c.off), info.Size, sxt)
		case base.k == aCtx && isPacketPtrField(p, int64(base.lo)+int64(c.off)):
			s.r[d] = aval{k: aPtr}
		case base.k == aRO:
			s.r[d] = roLoad(p, base, int64(c.off), info.Size, sxt)
		case sxt:
			s.r[d] = full64
		case info.Size == 8:
			s.r[d] = top
		default:
			s.r[d] = rangeOf(info.Size)
		}
	case bpf.KindStore, bpf.KindStoreImm, bpf.KindStoreRelease:
		v := konst(uint64(c.imm))
		if info.Kind != bpf.KindStoreImm {
			v = s.r[sr]
		}
		if info.Size < 8 {
			switch {
			case v.isConst():
				v = konst(v.lo & (1<<(8*info.Size) - 1))
			case v.k == aScalar && v.hi < 1<<(8*info.Size):
			default:
				v = rangeOf(info.Size)
			}
		}
		base := s.r[d]
		switch base.k {
		case aStack:
			s.put(int32(base.lo)+int32(c.off), info.Size, v)
		case aTop, aScalar:
			s.st = s.st[:0] // may point into the stack
		}
	case bpf.KindAtomic:
		base := s.r[d]
		switch base.k {
		case aStack:
			s.kill(int32(base.lo)+int32(c.off), info.Size)
		case aTop, aScalar:
			s.st = s.st[:0]
		}
		if info.Atomic == bpf.AtomicCmpxchg {
			s.r[0] = top
		} else if info.Atomic&bpf.AtomicFetch != 0 {
			s.r[sr] = top
		}
	case bpf.KindCall:
		clobber := !pureHelpers[c.imm]
		if clobber {
			clobber = false
			for r := bpf.R1; r <= bpf.R5; r++ {
				if k := s.r[r].k; k == aStack || k == aTop {
					clobber = true
				}
			}
		}
		r0 := top
		if c.imm == hMapLookup {
			r0 = lookupResult(p, s)
		}
		for r := bpf.R1; r <= bpf.R5; r++ {
			s.r[r] = top
		}
		s.r[0] = r0
		if clobber {
			s.st = s.st[:0]
		}
	case bpf.KindCallLocal, bpf.KindCallKfunc:
		for r := bpf.R0; r <= bpf.R5; r++ {
			s.r[r] = top
		}
		s.st = s.st[:0]
	default:
		if info.Class == bpf.ClassALU || info.Class == bpf.ClassALU64 {
			ro := s.r[d].ro || !info.ImmSrc && s.r[sr].ro
			s.r[d] = alu(ev, pc, c, info, s)
			if s.r[d].k == aScalar && ro {
				s.r[d].ro = true
			}
		} else {
			// anything else (kfunc-related, unknown): forget what it may touch
			for r := bpf.R0; r <= bpf.R9; r++ {
				s.r[r] = top
			}
			s.st = s.st[:0]
		}
	}
}

func isPacketPtrField(p *Program, off int64) bool {
	for _, f := range layoutFor(p.Type).ptrs {
		if int64(f.off) == off && f.kind != cpAux {
			return true
		}
	}
	return false
}

// roLoad reads a constant from read-only map contents (array element 0,
// where global data lives).
func roLoad(p *Program, base aval, off int64, size uint8, sxt bool) aval {
	ms := &p.Maps[base.lo]
	o := int64(base.hi) + off
	for _, kv := range ms.Contents {
		if len(kv.Key) != 4 || binary.LittleEndian.Uint32(kv.Key) != 0 || o < 0 || o+int64(size) > int64(len(kv.Value)) {
			continue
		}
		v := loadLE(kv.Value[o:], size)
		if sxt {
			v = sx(v, size)
		}
		v2 := konst(v)
		v2.ro = true
		return v2
	}
	if sxt {
		return full64
	}
	return rangeOf(size)
}

// lookupResult is bpf_map_lookup_elem's result: never NULL for an array
// map whose key is known to be in range (the kernel's
// array_map_lookup_elem fails only for index >= max_entries).
func lookupResult(p *Program, s *astate) aval {
	m, k := s.r[bpf.R1], s.r[bpf.R2]
	if m.k != aMap || m.lo >= uint64(len(p.Maps)) || k.k != aStack {
		return aval{k: aNullable}
	}
	ms := &p.Maps[m.lo]
	if mapKind(ms.Type) != mkArray || ms.KeySize != 4 {
		return aval{k: aNullable}
	}
	key := s.get(int32(k.lo), 4, false)
	if key.k == aScalar && key.hi < uint64(ms.MaxEntries) {
		return aval{k: aPtr}
	}
	return aval{k: aNullable}
}

// alu is the abstract result of an ALU instruction.
func alu(ev *constEval, pc int, c *inst, info *bpf.OpInfo, s *astate) aval {
	a := s.r[c.dst&15]
	b := konst(uint64(c.imm))
	if !info.ImmSrc {
		b = s.r[c.src&15]
	}
	w64 := info.Class == bpf.ClassALU64
	fullW := full64
	if !w64 {
		fullW = full32
	}
	switch info.Kind {
	case bpf.KindMov:
		if w64 {
			return b
		}
		return trunc32(b)
	case bpf.KindLe, bpf.KindBe, bpf.KindBswap:
		if a.isConst() {
			return konst(ev.eval(pc, c, a.lo, 0))
		}
		if info.Kind == bpf.KindLe && a.k == aScalar && info.Width < 64 && a.hi < 1<<info.Width {
			return a
		}
		if info.Width < 64 {
			return aval{k: aScalar, lo: 0, hi: 1<<info.Width - 1}
		}
		return full64
	case bpf.KindAddrSpaceCast:
		return top
	}
	if info.Kind == bpf.KindMovSX || info.Kind == bpf.KindNeg {
		if info.Kind == bpf.KindMovSX && b.isConst() {
			return konst(ev.eval(pc, c, 0, b.lo))
		}
		if info.Kind == bpf.KindNeg && a.isConst() {
			return konst(ev.eval(pc, c, a.lo, 0))
		}
		return fullW
	}
	// pointer arithmetic
	if w64 && (info.Kind == bpf.KindAdd || info.Kind == bpf.KindSub) {
		ptrLike := func(k akind) bool { return k == aStack || k == aCtx || k == aPtr || k == aRO }
		switch {
		case a.k == aRO && b.isConst():
			delta := b.lo
			if info.Kind == bpf.KindSub {
				delta = -delta
			}
			return aval{k: aRO, lo: a.lo, hi: a.hi + delta}
		case ptrLike(a.k) && b.isConst():
			if a.k == aPtr {
				return a
			}
			delta := b.lo
			if info.Kind == bpf.KindSub {
				delta = -delta
			}
			return aval{k: a.k, lo: a.lo + delta}
		case (a.k == aPtr || a.k == aRO) && b.k == aScalar && small(b):
			return aval{k: aPtr}
		case info.Kind == bpf.KindAdd && b.k == aPtr && a.k == aScalar && small(a):
			return b
		case ptrLike(a.k) && ptrLike(b.k) && info.Kind == bpf.KindSub:
			return full64
		}
	}
	if a.k != aScalar || b.k != aScalar {
		if w64 {
			return top
		}
		return full32
	}
	if !w64 {
		a, b = trunc32(a), trunc32(b)
	}
	if a.isConst() && b.isConst() {
		return konst(ev.eval(pc, c, a.lo, b.lo))
	}
	wmax := fullW.hi
	fits := func(lo, hi uint64, ok bool) aval {
		if !ok || lo > hi || hi > wmax {
			return fullW
		}
		return aval{k: aScalar, lo: lo, hi: hi}
	}
	switch info.Kind {
	case bpf.KindAdd:
		lo, c1 := bits.Add64(a.lo, b.lo, 0)
		hi, c2 := bits.Add64(a.hi, b.hi, 0)
		if b.isConst() { // adding a (negative) constant: fine unless the interval wraps
			lo, hi = (a.lo+b.lo)&wmax, (a.hi+b.lo)&wmax
			return fits(lo, hi, hi-lo == a.hi-a.lo)
		}
		return fits(lo, hi, c1 == 0 && c2 == 0)
	case bpf.KindSub:
		if a.lo >= b.hi {
			return fits(a.lo-b.hi, a.hi-b.lo, true)
		}
		if b.isConst() {
			lo, hi := (a.lo-b.lo)&wmax, (a.hi-b.lo)&wmax
			return fits(lo, hi, hi-lo == a.hi-a.lo)
		}
	case bpf.KindAnd:
		return aval{k: aScalar, hi: min(a.hi, b.hi)}
	case bpf.KindOr, bpf.KindXor:
		m := max(a.hi, b.hi)
		hi := uint64(math.MaxUint64)
		if l := bits.Len64(m); l < 64 {
			hi = 1<<l - 1
		}
		lo := uint64(0)
		if info.Kind == bpf.KindOr {
			lo = max(a.lo, b.lo)
		}
		return fits(lo, hi, true)
	case bpf.KindLsh:
		if b.isConst() {
			k := b.lo & uint64(info.ShiftMask)
			return fits(a.lo<<k, a.hi<<k, a.hi<<k>>k == a.hi)
		}
	case bpf.KindRsh:
		if b.isConst() {
			k := b.lo & uint64(info.ShiftMask)
			return aval{k: aScalar, lo: a.lo >> k, hi: a.hi >> k}
		}
		return aval{k: aScalar, lo: 0, hi: a.hi}
	case bpf.KindArsh:
		if b.isConst() && a.hi <= wmax>>1 {
			k := b.lo & uint64(info.ShiftMask)
			return aval{k: aScalar, lo: a.lo >> k, hi: a.hi >> k}
		}
	case bpf.KindMul:
		hi, lo := bits.Mul64(a.hi, b.hi)
		return fits(a.lo*b.lo, lo, hi == 0)
	case bpf.KindDiv:
		if b.lo > 0 {
			return aval{k: aScalar, lo: a.lo / b.hi, hi: a.hi / b.lo}
		}
		return aval{k: aScalar, lo: 0, hi: a.hi} // x/0 = 0
	case bpf.KindMod:
		if b.lo > 0 {
			return aval{k: aScalar, hi: min(a.hi, b.hi-1)}
		}
		return aval{k: aScalar, lo: 0, hi: a.hi} // x%0 = x
	}
	return fullW
}

// small: a scalar the verifier would let a pointer move by.
func small(v aval) bool {
	return v.hi < 1<<31 || v.lo > math.MaxUint64-(1<<31)
}

func trunc32(v aval) aval {
	switch {
	case v.isConst():
		c := konst(uint64(uint32(v.lo)))
		c.ro = v.ro
		return c
	case v.k == aScalar && v.hi <= math.MaxUint32:
		return v
	}
	return full32
}

// decide evaluates a conditional jump on s: the states of the
// fall-through and taken edges (nil when infeasible, refined otherwise),
// and whether an edge was ruled out by a pointer's non-nullness.
func decide(c *inst, info *bpf.OpInfo, s *astate) (ft, tk *astate, reason EdgeReach) {
	a := s.r[c.dst&15]
	b := konst(uint64(c.imm))
	if !info.ImmSrc {
		b = s.r[c.src&15]
	}
	w64 := info.Width == 64
	canT, canF := true, true
	switch {
	case a.k == aScalar && b.k == aScalar:
		if !w64 {
			a, b = trunc32(a), trunc32(b)
		}
		canT, canF = cmpIntervals(info, a, b)
		reason = EdgeConst
		if a.ro || b.ro {
			reason = EdgeRodata
		}
	case w64 && b == konst(0) && (info.Kind == bpf.KindJeq || info.Kind == bpf.KindJne) &&
		(a.k == aPtr || a.k == aStack || a.k == aCtx || a.k == aRO):
		// "p == 0" / "p != 0" of a pointer that is never NULL
		reason = EdgeNonNull
		if info.Kind == bpf.KindJeq {
			canT = false
		} else {
			canF = false
		}
	}
	if canF {
		ft = s
		if canT {
			ft = s.clone()
		}
		refine(c, info, ft, false)
	}
	if canT {
		tk = s
		refine(c, info, tk, true)
	}
	return ft, tk, reason
}

// cmpIntervals says whether the comparison can be true and can be false
// for some values in the intervals (both within the jump's width).
func cmpIntervals(info *bpf.OpInfo, a, b aval) (canT, canF bool) {
	signed := info.Flags&bpf.FlagSigned != 0
	if signed {
		half := uint64(math.MaxInt64)
		if info.Width != 64 {
			half = math.MaxInt32
		}
		if a.hi > half || b.hi > half {
			if a.isConst() && b.isConst() {
				t := concreteCmp(info, a.lo, b.lo)
				return t, !t
			}
			return true, true
		}
		// both non-negative: signed order is unsigned order
	}
	switch info.Kind {
	case bpf.KindJeq, bpf.KindJne:
		overlap := a.lo <= b.hi && b.lo <= a.hi
		same := a.isConst() && b.isConst() && a.lo == b.lo
		if info.Kind == bpf.KindJeq {
			return overlap, !same
		}
		return !same, overlap
	case bpf.KindJgt, bpf.KindJsgt:
		return a.hi > b.lo, a.lo <= b.hi
	case bpf.KindJge, bpf.KindJsge:
		return a.hi >= b.lo, a.lo < b.hi
	case bpf.KindJlt, bpf.KindJslt:
		return a.lo < b.hi, a.hi >= b.lo
	case bpf.KindJle, bpf.KindJsle:
		return a.lo <= b.hi, a.hi > b.lo
	case bpf.KindJset:
		if a.isConst() && b.isConst() {
			t := a.lo&b.lo != 0
			return t, !t
		}
		if a == konst(0) || b == konst(0) {
			return false, true
		}
	}
	return true, true
}

func concreteCmp(info *bpf.OpInfo, a, b uint64) bool {
	if info.Width != 64 {
		a, b = uint64(int64(int32(a))), uint64(int64(int32(b)))
	}
	switch info.Kind {
	case bpf.KindJsgt:
		return int64(a) > int64(b)
	case bpf.KindJsge:
		return int64(a) >= int64(b)
	case bpf.KindJslt:
		return int64(a) < int64(b)
	case bpf.KindJsle:
		return int64(a) <= int64(b)
	}
	return false
}

// refine narrows the compared register on one edge of a jump: unsigned
// comparisons against a constant, and null tests of lookup results.
func refine(c *inst, info *bpf.OpInfo, s *astate, taken bool) {
	d := c.dst & 15
	a := s.r[d]
	b := konst(uint64(c.imm))
	if !info.ImmSrc {
		b = s.r[c.src&15]
	}
	kind := info.Kind
	if !taken { // the fall-through is the negated comparison
		switch kind {
		case bpf.KindJeq:
			kind = bpf.KindJne
		case bpf.KindJne:
			kind = bpf.KindJeq
		case bpf.KindJgt:
			kind = bpf.KindJle
		case bpf.KindJle:
			kind = bpf.KindJgt
		case bpf.KindJge:
			kind = bpf.KindJlt
		case bpf.KindJlt:
			kind = bpf.KindJge
		default:
			return
		}
	}
	if a.k == aNullable && info.Width == 64 && b == konst(0) {
		switch kind {
		case bpf.KindJeq:
			s.r[d] = konst(0)
		case bpf.KindJne:
			s.r[d] = aval{k: aPtr}
		}
		return
	}
	if a.k != aScalar || !b.isConst() || (info.Width != 64 && (a.hi > math.MaxUint32 || b.lo > math.MaxUint32)) {
		return
	}
	v := b.lo
	switch kind {
	case bpf.KindJeq:
		if v >= a.lo && v <= a.hi {
			a = konst(v)
		}
	case bpf.KindJgt:
		if v < math.MaxUint64 {
			a.lo = max(a.lo, v+1)
		}
	case bpf.KindJge:
		a.lo = max(a.lo, v)
	case bpf.KindJlt:
		if v > 0 {
			a.hi = min(a.hi, v-1)
		}
	case bpf.KindJle:
		a.hi = min(a.hi, v)
	}
	if a.lo <= a.hi {
		s.r[d] = a
	}
}

// constEval runs one ALU instruction of the program concretely (on the
// interpreter itself, so constant folding has exactly its semantics).
type constEval struct {
	p  *Program
	m  *Machine
	in Input
}

func newConstEval(p *Program) *constEval { return &constEval{p: p} }

func (e *constEval) eval(pc int, c *inst, a, b uint64) uint64 {
	if e.m == nil {
		e.m = NewMachine(e.p, nil)
		e.in.Maps = make([][]KV, len(e.p.Maps)) // empty maps: cheap resets
	}
	e.in.Regs = [bpf.NumRegs]uint64{}
	e.in.Regs[c.dst&15] = a
	if !c.op.Info().ImmSrc && c.src&15 < bpf.NumRegs {
		e.in.Regs[c.src&15] = b
	}
	e.in.RegInit = bpf.RegSet(1<<bpf.NumRegs - 1)
	out := e.m.RunWindow(&e.in, pc, pc+1)
	return out.Regs[c.dst&15]
}
