package equiv

import (
	"context"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// TestModByHand: the remainder clang computes by hand (copy, divide,
// multiply, subtract) is proven equal to the mod instruction, 32 and 64
// bit, unsigned and signed (zero divisor and MIN/-1 included), and an
// off-by-one variant is not. Bit-blasting alone times out on these.
func TestModByHand(t *testing.T) {
	byHand := func(mov, div, mul, sub bpf.Op) []bpf.Insn {
		return []bpf.Insn{
			bpf.New(mov, bpf.R2, bpf.R0, 0, 0), bpf.New(div, bpf.R2, bpf.R1, 0, 0),
			bpf.New(mul, bpf.R2, bpf.R1, 0, 0), bpf.New(sub, bpf.R0, bpf.R2, 0, 0),
		}
	}
	for _, tc := range []struct {
		name string
		a, b []bpf.Insn
		want Verdict
	}{
		{"u32", byHand(bpf.OpMov32Reg, bpf.OpDiv32Reg, bpf.OpMul32Reg, bpf.OpSub32Reg), []bpf.Insn{bpf.Mod32Reg(bpf.R0, bpf.R1)}, Equal},
		{"u64", byHand(bpf.OpMov64Reg, bpf.OpDiv64Reg, bpf.OpMul64Reg, bpf.OpSub64Reg), []bpf.Insn{bpf.New(bpf.OpMod64Reg, bpf.R0, bpf.R1, 0, 0)}, Equal},
		{"s32", byHand(bpf.OpMov32Reg, bpf.OpSDiv32Reg, bpf.OpMul32Reg, bpf.OpSub32Reg), []bpf.Insn{bpf.New(bpf.OpSMod32Reg, bpf.R0, bpf.R1, 0, 0)}, Equal},
		{"s64", byHand(bpf.OpMov64Reg, bpf.OpSDiv64Reg, bpf.OpMul64Reg, bpf.OpSub64Reg), []bpf.Insn{bpf.New(bpf.OpSMod64Reg, bpf.R0, bpf.R1, 0, 0)}, Equal},
		{"u32 signed mod is not it", byHand(bpf.OpMov32Reg, bpf.OpDiv32Reg, bpf.OpMul32Reg, bpf.OpSub32Reg), []bpf.Insn{bpf.New(bpf.OpSMod32Reg, bpf.R0, bpf.R1, 0, 0)}, NotEqual},
		{"u32 plus one is not it", append(byHand(bpf.OpMov32Reg, bpf.OpDiv32Reg, bpf.OpMul32Reg, bpf.OpSub32Reg), bpf.Add32Imm(bpf.R0, 1)), []bpf.Insn{bpf.Mod32Reg(bpf.R0, bpf.R1)}, NotEqual},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(&Options{Timeout: 30 * time.Second, NoCache: true})
			defer c.Close()
			r, err := c.Window(context.Background(), &Window{A: tc.a, B: tc.b, LiveIn: bpf.RegsOf(bpf.R0, bpf.R1),
				LiveOut: bpf.RegsOf(bpf.R0), Type: ebpf.CGroupSockAddr})
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != tc.want {
				t.Fatalf("verdict %v (%s), want %v", r.Verdict, r.Reason, tc.want)
			}
		})
	}
}
