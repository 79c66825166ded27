package safety

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// TestHelperWritesForgetStack: a helper that writes its memory argument
// (bpf_fib_lookup fills in the MAC addresses) leaves unknown bytes behind
// in the stack, not the constants stored there before the call. The
// optimizer's window proofs take their preconditions from these
// summaries: keeping the constant once let `*(u8 *)(r7 + 7) = 0` replace a
// copy of a byte the helper had written (xdp_router).
func TestHelperWritesForgetStack(t *testing.T) {
	for _, tc := range []struct {
		helper int32
		known  bool // the stored constant survives the call
	}{
		{69, false}, // bpf_fib_lookup: ARG_PTR_TO_MEM, written
		{28, true},  // bpf_csum_diff: read only
	} {
		insns := []bpf.Insn{
			bpf.StDW(bpf.R10, -64, 0), bpf.StDW(bpf.R10, -56, 0), bpf.StDW(bpf.R10, -48, 0), bpf.StDW(bpf.R10, -40, 0),
			bpf.StDW(bpf.R10, -32, 0), bpf.StDW(bpf.R10, -24, 0), bpf.StDW(bpf.R10, -16, 0), bpf.StDW(bpf.R10, -8, 0),
		}
		if tc.helper == 69 {
			insns = append(insns, bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -64), bpf.Mov64Imm(bpf.R3, 64),
				bpf.Mov64Imm(bpf.R4, 0))
		} else {
			insns = append(insns, bpf.Mov64Reg(bpf.R1, bpf.R10), bpf.Add64Imm(bpf.R1, -64), bpf.Mov64Imm(bpf.R2, 64),
				bpf.Mov64Imm(bpf.R3, 0), bpf.Mov64Imm(bpf.R4, 0), bpf.Mov64Imm(bpf.R5, 0))
		}
		insns = append(insns, bpf.Call(tc.helper), bpf.LdxW(bpf.R0, bpf.R10, -20), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit())
		p := prog(ebpf.XDP, insns...)
		res := Verify(p, &Options{Summaries: true})
		if !res.Accepted {
			t.Fatalf("helper %d: rejected: %v", tc.helper, res.Err())
		}
		load := len(insns) - 3
		s := res.After[load]
		if s == nil {
			t.Fatalf("helper %d: no summary after the load", tc.helper)
		}
		g := s.Regs[0]
		known := g.Type == ScalarValue && g.V.IsConst()
		if known != tc.known {
			t.Errorf("helper %d: r0 after the load known constant = %v, want %v (%v)", tc.helper, known, tc.known, g)
		}
	}
}
