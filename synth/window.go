package synth

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
)

// Window is a region of a function the search rewrites: instructions
// [Start, End) entered only at Start and left by falling through to (or
// jumping to) End, or by a jump to one of Exits (instructions outside
// the window, before or after it). Jumps landing inside it go forward,
// so it is loop-free.
type Window struct {
	Start, End int        // instruction indices
	LiveIn     bpf.RegSet // live at Start
	LiveOut    bpf.RegSet // live at End
	// Exits are the other ways out: in the search form a jump to window
	// position n+j (n = End-Start) leaves to Exits[j-1].
	Exits []Exit
}

// Exit is a jump target outside a window and what is live there.
type Exit struct {
	Insn int        // instruction index
	Live bpf.RegSet // live at Insn
}

func (w Window) String() string {
	s := fmt.Sprintf("[%d,%d) in %v out %v", w.Start, w.End, w.LiveIn, w.LiveOut)
	for _, e := range w.Exits {
		s += fmt.Sprintf(" exit %d %v", e.Insn, e.Live)
	}
	return s
}

// Window lengths and exits.
const (
	MinWindow = 2
	MaxWindow = 20
	MaxExits  = 6 // jump targets outside a window besides its end
)

// Pinned reports whether the search must leave insns[k] alone: calls,
// exits, pseudo ld_imm64 loads (maps, functions, BTF ids), anything the
// window evaluator does not model (ld_abs/ind, may_goto, gotol,
// addr_space_cast), and anything with a relocation (reloc, may be nil).
func Pinned(in bpf.Insn, relocated bool) bool {
	if relocated {
		return true
	}
	op := in.Op()
	if !op.Valid() {
		return true
	}
	return !sems[op].ok
}

// SelectWindows picks maximal windows of MinWindow..MaxWindow instructions
// between pinned ones (pinned[k] true), greedily from the start; ext
// marks relocated calls (see bpf.External). A window
// never contains a jump target from outside it except its start; its
// jumps land forward inside it, at its end, or outside it (at most
// MaxExits distinct targets other than its end).
func SelectWindows(insns []bpf.Insn, pinned []bool, ext bpf.External) ([]Window, error) {
	return selectWindows(insns, pinned, ext, false)
}

// selectWindows is SelectWindows; with shifted, the first window of every
// run longer than MaxWindow is at most half as long, so that a second
// round's windows straddle the first round's boundaries (a rewrite whose
// instructions a boundary separated, such as a copy and its only use,
// then lies inside one window).
func selectWindows(insns []bpf.Insn, pinned []bool, ext bpf.External, shifted bool) ([]Window, error) {
	cfg, err := bpf.NewCFG(insns, &bpf.CFGOptions{External: ext})
	if err != nil {
		return nil, err
	}
	live := cfg.Liveness()
	slotToInsn := make(map[int]int, len(insns))
	for k := range insns {
		slotToInsn[cfg.Slot[k]] = k
	}
	slotToInsn[cfg.Slot[len(insns)]] = len(insns)
	// target[k]: the instruction index a jump at k lands on (-1: none).
	target := make([]int, len(insns))
	incoming := make([][]int, len(insns)+1)
	for k, in := range insns {
		target[k] = -1
		if t, ok := in.JumpTarget(cfg.Slot[k]); ok {
			if ti, ok := slotToInsn[t]; ok {
				target[k] = ti
				incoming[ti] = append(incoming[ti], k)
			}
		}
	}
	valid := func(s, e int) bool {
		if e >= len(insns) || cfg.SubprogOf(s) != cfg.SubprogOf(e) {
			return false
		}
		var exits []int
		for k := s; k < e; k++ {
			if insns[k].IsJump() {
				t := target[k]
				switch {
				case t < 0 || (t > s && t <= k):
					return false // unknown target or a loop inside the window
				case (t <= s || t > e) && !slices.Contains(exits, t):
					if len(exits) == MaxExits || cfg.SubprogOf(t) != cfg.SubprogOf(s) {
						return false
					}
					exits = append(exits, t)
				}
			}
			if k > s {
				for _, from := range incoming[k] {
					if from < s || from >= e {
						return false
					}
				}
			}
		}
		return true
	}
	var ws []Window
	for s := 0; s < len(insns); {
		if pinned[s] || cfg.Blocks[cfg.BlockOf[s]].Reachable == false {
			s++
			continue
		}
		run := s
		for run < len(insns) && run-s < MaxWindow && !pinned[run] && cfg.SubprogOf(run) == cfg.SubprogOf(s) {
			run++
		}
		// A run cut by the length limit ends where the fewest registers
		// are live among the longer valid ends: every live register at a
		// boundary is a value both windows must keep as it is.
		lengthCut := run-s == MaxWindow && run < len(insns) && !pinned[run]
		lo := s + MinWindow
		if lengthCut {
			if shifted && (s == 0 || pinned[s-1] || len(ws) == 0 || ws[len(ws)-1].End != s) {
				run = s + MaxWindow/2
			}
			lo = max(lo, s+(run-s)*2/3)
		}
		best := -1
		for e := run; e >= s+MinWindow; e-- {
			if !valid(s, e) {
				continue
			}
			if !lengthCut {
				best = e
				break
			}
			if e < lo {
				if best < 0 {
					best = e
				}
				break
			}
			if best < 0 || live.In[e].Len() < live.In[best].Len() {
				best = e
			}
		}
		if best < 0 {
			s++
			continue
		}
		w := Window{Start: s, End: best, LiveIn: live.In[s], LiveOut: live.In[best]}
		for k := s; k < best; k++ {
			if t := target[k]; insns[k].IsJump() && (t <= s || t > best) && !slices.ContainsFunc(w.Exits, func(x Exit) bool { return x.Insn == t }) {
				w.Exits = append(w.Exits, Exit{Insn: t, Live: live.In[t]})
			}
		}
		ws = append(ws, w)
		s = best
	}
	return ws, nil
}

// toC converts the window's instructions to the search form.
func toC(insns []bpf.Insn, w Window, slot []int) []cinsn {
	out := make([]cinsn, w.End-w.Start)
	for i := range out {
		in := insns[w.Start+i]
		c := cinsn{op: in.Op(), dst: uint8(in.Dst), src: uint8(in.Src), off: in.Off, imm: int64(in.Imm)}
		if in.IsLdImm64() {
			c.imm = int64(in.Imm64())
		}
		if t, ok := in.JumpTarget(slot[w.Start+i]); ok {
			for k := w.Start + i + 1; k <= w.End; k++ {
				if slot[k] == t {
					c.tgt = int16(k - w.Start)
				}
			}
			for j, e := range w.Exits {
				if slot[e.Insn] == t && (e.Insn <= w.Start || e.Insn > w.End) {
					c.tgt = int16(len(out) + 1 + j)
				}
			}
		}
		out[i] = c
	}
	return out
}

// fromStraight converts a self-contained list (straight's form: a jump
// past the end to total+j slots leaves by exit j) back to the search form.
func fromStraight(insns []bpf.Insn) []cinsn {
	slot := bpf.SlotOffsets(insns)
	total := bpf.SlotCount(insns)
	out := toC(insns, Window{Start: 0, End: len(insns)}, slot)
	for i, in := range insns {
		if t, ok := in.JumpTarget(slot[i]); ok && t > total {
			out[i].tgt = int16(len(insns) + t - total)
		}
	}
	return out
}

// fromC converts a candidate back to instructions, one per window
// position (NOPs stay as cost.Nop-style "goto +0" placeholders are not
// emitted: nil marks a deletion). Jump offsets are computed against the
// original slot layout, as bpf.Rewrite expects of replacements.
func fromC(cand []cinsn, w Window, slot []int) [][]bpf.Insn {
	out := make([][]bpf.Insn, len(cand))
	for i, c := range cand {
		if c.isNop() {
			continue
		}
		out[i] = []bpf.Insn{c.insn(slot[w.Start+i], w.targetSlot(int(c.tgt), slot))}
	}
	return out
}

// targetSlot is the original slot of window position tgt: inside the
// window or its end, or an exit's instruction.
func (w Window) targetSlot(tgt int, slot []int) int {
	n := w.End - w.Start
	if tgt > n {
		return slot[w.Exits[tgt-n-1].Insn]
	}
	return slot[w.Start+tgt]
}

// insn builds the instruction of c placed at slot pc, jumping to slot tgt.
func (c cinsn) insn(pc, tgt int) bpf.Insn {
	if c.op == bpf.OpLddw {
		return bpf.LdImm64(bpf.Reg(c.dst), uint64(c.imm))
	}
	off := c.off
	if c.op.Info().Has(bpf.FlagJump) {
		off = int16(tgt - pc - 1)
	}
	return bpf.New(c.op, bpf.Reg(c.dst), bpf.Reg(c.src), off, int32(c.imm))
}

// Straight converts a candidate into a self-contained instruction list
// (NOPs removed, jump offsets for the compacted layout), e.g. for a prover.
func straight(cand []cinsn) []bpf.Insn {
	// slot of each kept position in the compacted layout
	pos := make([]int, len(cand)+1)
	s := 0
	for i, c := range cand {
		pos[i] = s
		if !c.isNop() {
			s++
			if c.op == bpf.OpLddw {
				s++
			}
		}
	}
	pos[len(cand)] = s
	var out []bpf.Insn
	for i, c := range cand {
		if c.isNop() {
			continue
		}
		t := 0
		switch n := len(cand); {
		case int(c.tgt) > n:
			t = pos[n] + int(c.tgt) - n // exit j: past the end, Exit code 1+j
		case c.tgt >= 0:
			t = pos[c.tgt]
		}
		out = append(out, c.insn(pos[i], t))
	}
	return out
}

// entryState is what the tests of a window are drawn from: the types of
// the live-in registers (from safety's summaries, when available) and the
// program type.
type entryState struct {
	typ  ebpf.ProgramType
	sum  *safety.Summary
	maps []*safety.Map // distinct maps of map-value pointers, up to 4
}

func newEntryState(typ ebpf.ProgramType, sum *safety.Summary) *entryState {
	st := &entryState{typ: typ, sum: sum}
	if sum != nil {
		for _, r := range sum.Regs {
			if r.Type == safety.PtrMapValue && r.Map != nil && !slices.Contains(st.maps, r.Map) && len(st.maps) < 4 {
				st.maps = append(st.maps, r.Map)
			}
		}
	}
	return st
}

// genTest draws one window input.
func genTest(rng *rand.Rand, st *entryState, liveIn bpf.RegSet) *Test {
	t := &Test{StackInit: make([]bool, StackSize), typ: st.typ}
	t.Mem[RegStack] = make([]byte, StackSize)
	for i := range t.Mem[RegStack] {
		t.Mem[RegStack][i] = byte(rng.Uint32())
		t.StackInit[i] = true
	}
	csize := interp.CtxSize(st.typ)
	if csize == 0 {
		csize = 64
	}
	t.Mem[RegCtx] = make([]byte, csize)
	for i := range t.Mem[RegCtx] {
		t.Mem[RegCtx][i] = byte(rng.Uint32())
	}
	t.Mem[RegPacket] = interp.GenPacket(rng, rng.IntN(interp.PktDNS+1))
	if n := auxSize(st.typ); n > 0 {
		t.Mem[RegAux] = make([]byte, n)
		for i := range t.Mem[RegAux] {
			t.Mem[RegAux][i] = byte(rng.Uint32())
		}
	}
	for i := range 4 {
		n := 64
		if i < len(st.maps) && st.maps[i].ValueSize > 0 {
			n = int(st.maps[i].ValueSize)
		}
		t.Mem[RegMap0+i] = make([]byte, n)
		for j := range t.Mem[RegMap0+i] {
			t.Mem[RegMap0+i][j] = byte(rng.Uint32())
		}
	}
	need := 0 // packet bytes the verifier knows to be there
	var ends bpf.RegSet
	for r := bpf.R0; r < bpf.R10; r++ {
		if !liveIn.Has(r) {
			continue
		}
		t.Init = t.Init.Add(r)
		t.Regs[r] = untag(interp.RandValue(rng))
		if st.sum == nil {
			continue
		}
		reg := st.sum.Regs[r]
		if reg.Null && rng.IntN(4) == 0 {
			t.Regs[r] = 0 // the _or_null case
			continue
		}
		switch reg.Type {
		case safety.NotInit:
			t.Init &^= bpf.RegsOf(r)
		case safety.Mixed:
			if rng.IntN(4) == 0 {
				t.Init &^= bpf.RegsOf(r) // uninitialised on some paths
			}
		case safety.ScalarValue:
			t.Regs[r] = drawScalar(rng, reg.V)
		case safety.PtrStack:
			t.Regs[r] = Ptr(RegStack, StackSize+int(reg.Off)+int(varOff(reg)))
		case safety.PtrCtx:
			t.Regs[r] = Ptr(RegCtx, int(reg.Off)+int(varOff(reg)))
		case safety.PtrFlowKeys:
			t.Regs[r] = Ptr(RegOpaque, 64*int(r))
			if len(t.Mem[RegAux]) > 0 {
				t.Regs[r] = Ptr(RegAux, int(reg.Off)+int(varOff(reg)))
			}
		case safety.PtrPacket, safety.PtrPacketMeta:
			v := int(reg.Off) + int(varOff(reg))
			if !reg.V.IsConst() && reg.V.Umax < 1<<16 {
				v = int(reg.Off) + int(drawScalar(rng, reg.V))
			}
			t.Regs[r] = Ptr(RegPacket, v)
			// known in bounds: Range past the variable part
			need = max(need, v, int(reg.Range)+v-int(reg.Off))
		case safety.PtrPacketEnd:
			t.Regs[r] = Ptr(RegPacket, len(t.Mem[RegPacket]))
			ends = ends.Add(r)
		case safety.PtrMapValue:
			t.Regs[r] = Ptr(RegOpaque, 64*int(r))
			for i, m := range st.maps {
				if m == reg.Map {
					t.Regs[r] = Ptr(RegMap0+i, int(reg.Off)+int(varOff(reg)))
				}
			}
		default:
			if reg.Type.IsPtr() {
				// map pointers, sockets, ring buffer memory...: copied and
				// compared, never dereferenced or offset by the search
				t.Regs[r] = Ptr(RegOpaque, 64*int(r))
			}
		}
	}
	if need == 0 && rng.IntN(6) == 0 {
		// no packet pointer on entry: a short packet, so that bounds
		// checks on pointers the window loads from the context fail too
		t.Mem[RegPacket] = t.Mem[RegPacket][:rng.IntN(len(t.Mem[RegPacket])+1)]
	}
	if need > 0 && rng.IntN(2) == 0 {
		// a packet just long enough for what the verifier knows is in
		// bounds, so that candidates reading further fault
		n := need + rng.IntN(6)
		for len(t.Mem[RegPacket]) < n {
			t.Mem[RegPacket] = append(t.Mem[RegPacket], byte(rng.Uint32()))
		}
		t.Mem[RegPacket] = t.Mem[RegPacket][:n]
		for _, r := range ends.Regs() {
			t.Regs[r] = Ptr(RegPacket, n)
		}
	}
	return t
}

// untag keeps a random scalar from looking like a test pointer.
func untag(v uint64) uint64 {
	if isPtr(v) {
		v ^= 1 << 62
	}
	return v
}

// varOff picks a pointer's variable offset: its minimum, which the
// verifier proved safe.
func varOff(r safety.Reg) int64 {
	if r.V.Umax == 0 {
		return 0
	}
	return int64(r.V.Umin)
}

// drawScalar draws a value the verifier's abstraction allows, biased
// towards its bounds.
func drawScalar(rng *rand.Rand, v safety.Scalar) uint64 {
	if v.T.Mask == 0 {
		return v.T.Value
	}
	switch rng.IntN(8) {
	case 0:
		if v.Umin&^v.T.Mask == v.T.Value {
			return v.Umin
		}
	case 1:
		if v.Umax&^v.T.Mask == v.T.Value {
			return v.Umax
		}
	}
	for range 8 {
		x := v.T.Value | interp.RandValue(rng)&v.T.Mask
		if x >= v.Umin && x <= v.Umax && int64(x) >= v.Smin && int64(x) <= v.Smax {
			return x
		}
	}
	return v.Umin | v.T.Value
}
