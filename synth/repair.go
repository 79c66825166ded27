package synth

import (
	"slices"

	"github.com/k2opt/k2opt/bpf"
)

// Delete and repair, the last step of the aggressive pre-pass: an
// instruction whose deletion alone fails a test is deleted anyway when
// one operand change elsewhere in the window (a register, or an immediate
// from a small set derived from the window) makes every test pass again:
// `w8 = 1; if r0 != 0 goto +1; w8 = 0; w8 <<= 1` loses the shift when the
// 1 becomes 2. Such two-instruction rewrites need the chains to accept a
// worse program first, which they seldom do in a small budget; here they
// cost one pass of single edits per deleted instruction.

// repairImms are the immediates tried in place of v.
func repairImms(v int64, window []int64) []int64 {
	out := []int64{0, 1, 2, -1, v + 1, v - 1, v * 2, v / 2, -v, v << 1, v >> 1}
	out = append(out, window...)
	slices.Sort(out)
	return slices.Compact(out)
}

// repairs appends the single-operand variants of x.
func (p *problem) repairs(x cinsn, window []int64, out []cinsn) []cinsn {
	info := x.op.Info()
	if info.DstF == bpf.FRegR || info.DstF == bpf.FRegRW || info.DstF == bpf.FRegW {
		for r := uint8(0); r < 10; r++ {
			if r != x.dst {
				y := x
				y.dst = r
				out = append(out, y)
			}
		}
	}
	if !info.ImmSrc && (info.SrcF == bpf.FRegR || info.SrcF == bpf.FRegRW) {
		for r := uint8(0); r <= 10; r++ {
			if r != x.src {
				y := x
				y.src = r
				out = append(out, y)
			}
		}
	}
	if info.ImmF == bpf.FAny || info.ImmF == bpf.FShift || info.ImmF == bpf.FNonZero {
		for _, v := range repairImms(x.imm, window) {
			if v == x.imm || int64(int32(v)) != v {
				continue
			}
			y := x
			y.imm = v
			p.fixImmFor(&y)
			if y.imm != x.imm {
				out = append(out, y)
			}
		}
	}
	return out
}

// deleteRepair applies delete-and-repair where the tests agree.
func (p *problem) deleteRepair(m *machine, tests []*Test, c []cinsn) {
	var window []int64
	for _, x := range c {
		if !x.isNop() && x.op.Info().ImmF == bpf.FAny {
			window = append(window, x.imm)
		}
	}
	var vars []cinsn
	for i := len(c) - 1; i >= 0; i-- {
		saved := c[i]
		if saved.isNop() {
			continue
		}
		c[i] = nop
		if p.zeroErr(m, c, tests) {
			continue
		}
		fixed := false
		for j := range c {
			if j == i || c[j].isNop() || c[j].op == bpf.OpJa {
				continue
			}
			vars = p.repairs(c[j], window, vars[:0])
			for _, v := range vars {
				if fixed = p.tryEdit(m, tests, c, j, v); fixed {
					break
				}
			}
			if fixed {
				break
			}
		}
		if !fixed {
			c[i] = saved
		}
	}
}
