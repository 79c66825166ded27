package safety

import "github.com/k2opt/k2opt/bpf"

// liveIn computes, per instruction, the registers read before being written
// on some path from it (backward dataflow inside each function). State
// pruning ignores dead registers, as the kernel's read marks do.
func liveIn(p *Program, succ [][]int, sc *scratch) []bpf.RegSet {
	n := len(p.Insns)
	use := grow(&sc.use, n)
	def := grow(&sc.def, n)
	for i, in := range p.Insns {
		r, w := in.CallReads(), in.Writes()
		switch in.Op() {
		case bpf.OpCallLocal:
			r = bpf.RegsOf(bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5)
		case bpf.OpExit:
			r = bpf.RegsOf(bpf.R0)
		}
		if in.Info().Kind == bpf.KindLdAbs || in.Info().Kind == bpf.KindLdInd {
			r |= bpf.RegsOf(bpf.R6)
			w |= bpf.RegsOf(bpf.R0, bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5)
		}
		use[i], def[i] = r|bpf.RegsOf(bpf.R10), w
	}
	live := grow(&sc.live, n)
	clear(live)
	for changed := true; changed; {
		changed = false
		for i := n - 1; i >= 0; i-- {
			var out bpf.RegSet
			for _, s := range succ[i] {
				out |= live[s]
			}
			v := use[i] | out&^def[i]
			if v != live[i] {
				live[i], changed = v, true
			}
		}
	}
	return live
}
