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

// TestSelectWindowsCuts: a run longer than MaxWindow is cut where the
// fewest registers are live (within its last third), and shifted windows
// (a later round) start with a half-length window so that their
// boundaries fall inside the first round's windows.
func TestSelectWindowsCuts(t *testing.T) {
	// r1..r5 are live everywhere except right after insn 15, where only
	// r0 and r1 are: insns 0..14 build r2..r5 from r1, 15 folds them into
	// r1, then 16.. build them again.
	var insns []bpf.Insn
	for k := range 15 {
		r := bpf.Reg(2 + k%4)
		insns = append(insns, bpf.Add64Reg(r, bpf.R1))
	}
	insns = append(insns, bpf.Add64Reg(bpf.R1, bpf.R2), bpf.Mov64Imm(bpf.R2, 0), bpf.Mov64Imm(bpf.R3, 0),
		bpf.Mov64Imm(bpf.R4, 0), bpf.Mov64Imm(bpf.R5, 0))
	for k := range 20 {
		r := bpf.Reg(2 + k%4)
		insns = append(insns, bpf.Add64Reg(r, bpf.R1))
	}
	insns = append(insns, bpf.Add64Reg(bpf.R0, bpf.R2), bpf.Add64Reg(bpf.R0, bpf.R3), bpf.Add64Reg(bpf.R0, bpf.R4),
		bpf.Add64Reg(bpf.R0, bpf.R5), bpf.Exit())
	f := NewFunc("t", 0, insns, nil)
	ws, err := f.Windows()
	if err != nil || len(ws) < 2 {
		t.Fatalf("windows %v: %v", ws, err)
	}
	if ws[0].Start != 0 || ws[0].End != 16 {
		t.Errorf("first window %v, want [0,16): the cut with the fewest live registers", ws[0])
	}
	f.Shifted = true
	sh, err := f.Windows()
	if err != nil || len(sh) < 2 {
		t.Fatalf("shifted windows %v: %v", sh, err)
	}
	if sh[0].Start != 0 || sh[0].End > MaxWindow/2 {
		t.Errorf("first shifted window %v, want at most %d long", sh[0], MaxWindow/2)
	}
	for i := range min(len(ws), len(sh)) - 1 {
		if ws[i].End == sh[i].End {
			t.Errorf("shifted window %d ends where round one's does (%d)", i, ws[i].End)
		}
	}
}
