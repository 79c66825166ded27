package synth

import (
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
)

// TestTailMerge: identical runs continuing to the same place become a
// jump to one copy; the result runs like the original on random inputs
// (same r0, same steps modulo the jumps), and runs that differ in one
// operand or are entered in the middle are left alone.
func TestTailMerge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		saved int // slots
	}{
		{"copy falls into the jump target", []bpf.Insn{
			bpf.JeqImm(bpf.R1, 0, 4), // 0 -> 5
			bpf.Mov64Imm(bpf.R0, 1),  // 1  A
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Lsh64Imm(bpf.R0, 3),
			bpf.Exit(),              // 4  (A continues here)
			bpf.Mov64Imm(bpf.R3, 7), // 5
			bpf.Mov64Imm(bpf.R0, 1), // 6  B
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Lsh64Imm(bpf.R0, 3),
			bpf.Ja(-6), // 9 -> 4
		}, 3},
		{"two identical exits", []bpf.Insn{
			bpf.JeqImm(bpf.R1, 0, 3),
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Imm(bpf.R0, 5), bpf.Exit(),
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Imm(bpf.R0, 5), bpf.Exit(),
		}, 3}, // the first copy goes: control falls into the second
		{"one operand differs", []bpf.Insn{
			bpf.JeqImm(bpf.R1, 0, 3),
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Imm(bpf.R0, 5), bpf.Exit(),
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Imm(bpf.R0, 6), bpf.Exit(),
		}, 0},
		{"entered in the middle", []bpf.Insn{
			bpf.JeqImm(bpf.R1, 0, 4), // -> 5, the middle of the second copy
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Imm(bpf.R0, 5), bpf.Exit(),
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Imm(bpf.R0, 5), bpf.Exit(),
		}, 3}, // the first copy (entered at its start only) goes: control falls into the second
	} {
		t.Run(tc.name, func(t *testing.T) {
			edits, touched := tailMerge(tc.insns, nil)
			out, _, err := bpf.Rewrite(tc.insns, edits, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := bpf.Check(out); err != nil {
				t.Fatalf("%v\n%s", err, bpf.Disasm(out))
			}
			if got := bpf.SlotCount(tc.insns) - bpf.SlotCount(out); got != tc.saved {
				t.Fatalf("saved %d slots, want %d:\n%s", got, tc.saved, bpf.Disasm(out))
			}
			if tc.saved > 0 && len(touched) != len(tc.insns) {
				t.Fatalf("touched has %d entries", len(touched))
			}
			pa, err := interp.NewProgram("a", ebpf.SocketFilter, tc.insns, nil)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := interp.NewProgram("b", ebpf.SocketFilter, out, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			ma, mb := interp.NewMachine(pa, nil), interp.NewMachine(pb, nil)
			for range 200 {
				in := &interp.Input{RegInit: bpf.RegsOf(bpf.R1, bpf.R2)}
				in.Regs[1] = uint64(rng.IntN(2))
				in.Regs[2] = rng.Uint64()
				a, b := ma.RunWindow(in, 0, 1<<20), mb.RunWindow(in, 0, 1<<20)
				if a.Fault != b.Fault || a.Regs[0] != b.Regs[0] {
					t.Fatalf("input %v: r0 %#x (%v) vs %#x (%v)\n%s", in.Regs[:3], a.Regs[0], a.Fault, b.Regs[0], b.Fault, bpf.Disasm(out))
				}
			}
		})
	}
}
