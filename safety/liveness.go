package safety

import "github.com/k2opt/k2opt/bpf"

// liveIn computes, per instruction, the registers read before being written
// on some path from it (backward dataflow inside each function). State
// pruning ignores dead registers, as the kernel's read marks do.
func liveIn(p *Program, meta []insnMeta, sc *scratch) []bpf.RegSet {
	n := len(p.Insns)
	buf := grow(&sc.useDef, 2*n)
	use, def, live := buf[:n], buf[n:], make([]bpf.RegSet, n)
	for i, in := range p.Insns {
		info := meta[i].info()
		var r, w bpf.RegSet
		switch meta[i].op {
		case bpf.OpCallLocal:
			r = bpf.RegsOf(bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5)
		case bpf.OpExit:
			r = bpf.RegsOf(bpf.R0)
		case bpf.OpCall:
			r = bpf.RegsOf(bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5)
			if n, ok := bpf.HelperArity(in.Imm); ok {
				r = bpf.RegSet((1<<(n+1) - 1) &^ 1)
			}
		default: // Insn.Reads from the decoded op
			r = info.ImplicitReads
			if info.DstF == bpf.FRegR || info.DstF == bpf.FRegRW {
				r |= 1 << (in.Dst & 15)
			}
			if info.SrcF == bpf.FRegR || info.SrcF == bpf.FRegRW {
				r |= 1 << (in.Src & 15)
			}
		}
		w = info.ImplicitWrites
		if info.DstF == bpf.FRegW || info.DstF == bpf.FRegRW {
			w |= 1 << (in.Dst & 15)
		}
		if info.SrcF == bpf.FRegRW {
			w |= 1 << (in.Src & 15)
		}
		if info.Kind == bpf.KindLdAbs || info.Kind == bpf.KindLdInd {
			r |= bpf.RegsOf(bpf.R6)
			w |= bpf.RegsOf(bpf.R0, bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5)
		}
		use[i], def[i] = r|bpf.RegsOf(bpf.R10), w
	}
	for changed := true; changed; {
		changed = false
		for i := n - 1; i >= 0; i-- {
			var out bpf.RegSet
			m := &meta[i]
			if m.target >= 0 {
				out |= live[m.target]
			}
			if m.flags&mFall != 0 {
				out |= live[i+1]
			}
			v := use[i] | out&^def[i]
			if v != live[i] {
				live[i], changed = v, true
			}
		}
	}
	return live
}
