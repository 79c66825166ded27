package equiv

import (
	"encoding/binary"
	"slices"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/smt"
)

// WindowExit describes what is live after one way of leaving a window
// (named so as not to clash with bpf.Exit in dot-importing tests).
type WindowExit struct {
	// LiveOut registers are compared when both runs leave this way.
	LiveOut bpf.RegSet
	// StackDead marks the stack bytes not read after this exit (nil: none):
	// StackDead[i] is the byte at r10-len(StackDead)+i, so a 512-entry
	// mask covers the whole stack. Dead bytes are not compared, so a
	// candidate may drop or add stores to them.
	StackDead []bool
}

// stackSize is the BPF stack frame.
const stackSize = 512

// regsR0R9 are the registers compared at an exit nothing is known about.
const regsR0R9 = bpf.RegSet(1<<10 - 1)

// outs is what a window query compares at each exit code k >= 1 (exit
// code 0, an exit instruction, compares r0 and no stack). With exits nil
// the legacy fields apply to every exit.
type outs struct {
	liveOut   bpf.RegSet
	stackDead bool
	exits     []WindowExit
}

func (w *Window) outs() outs {
	if len(w.Exits) == 0 {
		return outs{liveOut: w.LiveOut, stackDead: w.StackDead}
	}
	return outs{exits: w.Exits}
}

// exit returns the description of exit code k >= 1, or nil when exits
// are given but k is beyond them (everything compared).
func (o *outs) exit(k int) (*WindowExit, bool) {
	if o.exits == nil {
		return nil, true
	}
	if k >= 1 && k-1 < len(o.exits) {
		return &o.exits[k-1], true
	}
	return nil, false
}

// liveAt is the set of registers compared at exit code k >= 1.
func (o *outs) liveAt(k int) bpf.RegSet {
	if o.exits == nil {
		return o.liveOut
	}
	if e, ok := o.exit(k); ok {
		return e.LiveOut
	}
	return regsR0R9
}

// deadAt reports whether the stack byte at r10+off is not compared at
// exit code k >= 1. known is false for a write at an offset the encoder
// does not know: such a byte is dead only when the whole stack is.
func (o *outs) deadAt(k int, off int64, known bool) bool {
	if o.exits == nil {
		return o.stackDead
	}
	e, ok := o.exit(k)
	if !ok || e.StackDead == nil {
		return false
	}
	if !known {
		return allTrue(e.StackDead) && len(e.StackDead) >= stackSize
	}
	i := off + int64(len(e.StackDead))
	return off < 0 && i >= 0 && e.StackDead[i]
}

// anyStackCompared: some stack byte may be compared at one of the exits.
func (o *outs) anyStackCompared(ec *exitConds) bool {
	if o.exits == nil {
		return !o.stackDead
	}
	_, ok := ec.mask(func(k int) bool { return !o.deadAt(k, 0, false) })
	return ok
}

func allTrue(m []bool) bool {
	for _, d := range m {
		if !d {
			return false
		}
	}
	return true
}

// exitCodes lists the exit codes >= 1 either side can take: 1 (falling
// off the end) and 1+t-len for every jump to slot t past the end.
func exitCodes(a, b []bpf.Insn) []int {
	codes := []int{1}
	for _, insns := range [][]bpf.Insn{a, b} {
		total := bpf.SlotCount(insns)
		slots := bpf.SlotOffsets(insns)
		for i := range insns {
			if t, ok := insns[i].JumpTarget(slots[i]); ok && t >= total && insns[i].Code != 0x85 {
				codes = append(codes, 1+t-total)
			}
		}
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// exitConds builds "A left by one of the codes in a set" terms, memoised
// per set (a bit mask over the query's exit codes).
type exitConds struct {
	z     *smt.Context
	exit  smt.Term
	codes []int
	is    map[int]smt.Term
	memo  map[uint64]smt.Term
	notEx smt.Term // any exit code >= 1
}

func newExitConds(z *smt.Context, exit smt.Term, codes []int, notAtExit smt.Term) *exitConds {
	return &exitConds{z: z, exit: exit, codes: codes, is: map[int]smt.Term{},
		memo: map[uint64]smt.Term{}, notEx: notAtExit}
}

// mask is the set of codes for which f holds; with more than 64 codes
// every code is in (conservative: compares more).
func (e *exitConds) mask(f func(k int) bool) (m uint64, any bool) {
	if len(e.codes) > 64 {
		for _, k := range e.codes {
			if f(k) {
				return ^uint64(0), true
			}
		}
		return 0, false
	}
	for i, k := range e.codes {
		if f(k) {
			m |= 1 << i
		}
	}
	return m, m != 0
}

// cond is the term for a mask from mask().
func (e *exitConds) cond(m uint64) smt.Term {
	full := uint64(1)<<len(e.codes) - 1
	if len(e.codes) >= 64 {
		full = ^uint64(0)
	}
	if m&full == full {
		return e.notEx
	}
	if t, ok := e.memo[m]; ok {
		return t
	}
	var ts []smt.Term
	for i := range e.codes {
		if m&(1<<i) == 0 {
			continue
		}
		t, ok := e.is[i]
		if !ok {
			t = e.z.Eq(e.exit, e.z.BV(uint64(e.codes[i]), 16))
			e.is[i] = t
		}
		ts = append(ts, t)
	}
	t := ts[0]
	if len(ts) > 1 {
		t = e.z.Or(ts...)
	}
	e.memo[m] = t
	return t
}

// appendOuts serialises what the window compares for a cache key, live
// sets renamed by rs. Dead masks are normalised to the 512-byte frame, so
// nil and all-false masks share a key.
func appendOuts(b []byte, w *Window, rs func(bpf.RegSet) uint16) []byte {
	if len(w.Exits) == 0 {
		b = append(b, 0, boolByte(w.StackDead))
		return binary.LittleEndian.AppendUint16(b, rs(w.LiveOut))
	}
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(w.Exits)))
	for _, e := range w.Exits {
		b = binary.LittleEndian.AppendUint16(b, rs(e.LiveOut))
		var bits [stackSize / 8]byte
		anyDead := false
		for i, d := range e.StackDead {
			off := i - len(e.StackDead) + stackSize // index in the frame
			if d && off >= 0 {
				bits[off/8] |= 1 << (off % 8)
				anyDead = true
			}
		}
		if !anyDead {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = append(b, bits[:]...)
	}
	return b
}

// exitLiveUnion: every register some exit compares (for renaming).
func (w *Window) exitLiveUnion() bpf.RegSet {
	if len(w.Exits) == 0 {
		return w.LiveOut
	}
	var s bpf.RegSet
	for _, e := range w.Exits {
		s |= e.LiveOut
	}
	return s
}

// liveBytes is the mask of the bytes of the stack word at r10+off that
// are compared at exit code k >= 1 (replay).
func (o *outs) liveBytes(k int, off int) uint64 {
	var m uint64
	for j := range 8 {
		if !o.deadAt(k, int64(off+j), true) {
			m |= 0xff << (8 * j)
		}
	}
	return m
}
