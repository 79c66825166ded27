package synth

import (
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

// TestSelectWindowsExits: jumps out of a window (forward past its end or
// backward before its start) become exits with their live registers; a
// jump back into the window (a loop) or too many exits split windows.
func TestSelectWindowsExits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		want  []Window // Start, End, Exits (insn) only
	}{
		{"two branches to one target", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Jeq32Reg(bpf.R3, bpf.R4, 5),
			bpf.Mov64Reg(bpf.R4, bpf.R1), bpf.Jeq32Reg(bpf.R3, bpf.R4, 3), bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Imm(bpf.R3, 2), bpf.Exit(), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(),
		}, []Window{{Start: 0, End: 7, Exits: []Exit{{Insn: 8}}}}},
		{"branch into the window's middle splits it", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0), bpf.JeqImm(bpf.R1, 0, 2), bpf.Mov64Imm(bpf.R0, 1), bpf.Mov64Imm(bpf.R2, 1),
			bpf.Mov64Imm(bpf.R3, 1), bpf.Add64Reg(bpf.R0, bpf.R3), bpf.Exit(),
		}, []Window{{Start: 0, End: 6}}},
		{"loop back edge to a window's start is an exit", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.Add64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 1), bpf.JltImm(bpf.R0, 10, -3),
			bpf.Exit(),
		}, []Window{{Start: 1, End: 4, Exits: []Exit{{Insn: 1}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFunc("t", 0, tc.insns, nil)
			ws, err := f.Windows()
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != len(tc.want) {
				t.Fatalf("windows %v, want %d", ws, len(tc.want))
			}
			for i, w := range ws {
				want := tc.want[i]
				if w.Start != want.Start || w.End != want.End || len(w.Exits) != len(want.Exits) {
					t.Fatalf("window %v, want %v", w, want)
				}
				for j := range w.Exits {
					if w.Exits[j].Insn != want.Exits[j].Insn {
						t.Fatalf("window %v, want %v", w, want)
					}
				}
			}
		})
	}
}
