package synth

import (
	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
)

// StackSet is a set of bytes of the function's own stack frame: bit i is
// the byte at r10-StackSize+i.
type StackSet [StackSize / 64]uint64

func (s *StackSet) addRange(lo, hi int) {
	lo, hi = max(lo, 0), min(hi, StackSize)
	for i := lo; i < hi; i++ {
		s[i/64] |= 1 << (i % 64)
	}
}

func (s *StackSet) delRange(lo, hi int) {
	lo, hi = max(lo, 0), min(hi, StackSize)
	for i := lo; i < hi; i++ {
		s[i/64] &^= 1 << (i % 64)
	}
}

// Has reports whether byte i (r10-StackSize+i) is in s.
func (s *StackSet) Has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }

func allStack() StackSet {
	var s StackSet
	for i := range s {
		s[i] = ^uint64(0)
	}
	return s
}

// StackLiveness computes, for every instruction k of a function, the
// stack bytes of its own frame that may be read after control reaches k
// (before k executes) before being overwritten: a store to a byte nobody
// reads later is dead. Register types come from safety's per-instruction
// summaries (before, indexed like insns); nil when the analysis cannot
// tell (no summaries, pointers into other frames, stack pointers stored
// outside the stack), and then every byte counts as live.
//
// Reads: loads through r10 or a stack pointer with a constant offset (a
// variable offset reads the whole frame); atomics; and every call reads
// the frame from each stack-pointer argument up to r10 (helpers, kfuncs
// and subprograms may read their buffers). Kills: stores with a constant
// offset. exit: nothing is live.
func StackLiveness(insns []bpf.Insn, before []*safety.Summary) []StackSet {
	n := len(insns)
	if len(before) < n {
		return nil
	}
	slots := bpf.SlotOffsets(insns)
	at := make(map[int]int, n)
	for k := range insns {
		at[slots[k]] = k
	}
	all := allStack()
	gen := make([]StackSet, n)
	kill := make([]StackSet, n)
	succ := make([][2]int, n)
	// addr returns the frame offset (0..StackSize) a pointer register
	// designates plus ok=false when it may be the own frame at an unknown
	// offset, and own=false when it is surely not the own frame.
	for k, in := range insns {
		succ[k] = [2]int{k + 1, -1}
		info := in.Info()
		if t, ok := in.JumpTarget(slots[k]); ok {
			ti, ok := at[t]
			if !ok {
				return nil
			}
			if info.Kind == bpf.KindJa {
				succ[k] = [2]int{ti, -1}
			} else {
				succ[k][1] = ti
			}
		}
		if in.IsExit() {
			succ[k] = [2]int{-1, -1}
		}
		sum := before[k]
		if sum == nil {
			continue // unreachable
		}
		own := sum.Regs[bpf.R10].Frame
		if sum.Regs[bpf.R10].Type != safety.PtrStack {
			return nil
		}
		for _, r := range sum.Regs {
			if r.Type == safety.PtrStack && r.Frame != own {
				return nil
			}
		}
		// where reg r points: (offset in the frame, known, maybe stack)
		where := func(r bpf.Reg, off int16) (int, bool, bool) {
			g := sum.Regs[r]
			switch g.Type {
			case safety.PtrStack:
				if !g.V.IsConst() {
					return 0, false, true
				}
				return StackSize + int(g.Off) + int(int64(g.V.T.Value)) + int(off), true, true
			case safety.Mixed:
				return 0, false, true
			}
			return 0, false, false
		}
		switch {
		case info.Kind == bpf.KindLoad || info.Kind == bpf.KindLoadSX || info.Kind == bpf.KindLoadAcquire:
			if o, known, st := where(in.Src, in.Off); st {
				if known {
					gen[k].addRange(o, o+int(info.Size))
				} else {
					gen[k] = all
				}
			}
		case info.Kind == bpf.KindStore || info.Kind == bpf.KindStoreImm || info.Kind == bpf.KindStoreRelease:
			o, known, st := where(in.Dst, in.Off)
			if known {
				kill[k].addRange(o, o+int(info.Size))
			}
			if info.Kind != bpf.KindStoreImm {
				if t := sum.Regs[in.Src].Type; (t == safety.PtrStack || t == safety.Mixed) && !st {
					return nil // a stack pointer escapes into other memory
				}
			}
		case info.Kind == bpf.KindAtomic:
			if _, _, st := where(in.Dst, in.Off); st {
				gen[k] = all
			}
		case in.IsCall():
			for r := bpf.R1; r <= bpf.R5; r++ {
				if o, known, st := where(r, 0); st {
					if known {
						gen[k].addRange(o, StackSize)
					} else {
						gen[k] = all
					}
				}
			}
		}
	}
	live := make([]StackSet, n+1) // live[k]: before k
	for changed := true; changed; {
		changed = false
		for k := n - 1; k >= 0; k-- {
			var out StackSet
			for _, s := range succ[k] {
				if s >= 0 && s <= n {
					for i := range out {
						out[i] |= live[s][i]
					}
				}
			}
			var in StackSet
			for i := range in {
				in[i] = out[i]&^kill[k][i] | gen[k][i]
			}
			if in != live[k] {
				live[k] = in
				changed = true
			}
		}
	}
	return live[:n]
}
