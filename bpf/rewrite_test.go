package bpf

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name     string
		prog     []Insn
		edits    map[int][]Insn
		want     []Insn
		oldToNew []int
		err      string
	}{
		{
			name:     "delete inside a forward jump",
			prog:     []Insn{JeqImm(R1, 0, 2), Mov64Imm(R0, 1), Mov64Imm(R0, 2), Exit()},
			edits:    map[int][]Insn{1: nil},
			want:     []Insn{JeqImm(R1, 0, 1), Mov64Imm(R0, 2), Exit()},
			oldToNew: []int{0, 1, 1, 2, 3},
		},
		{
			name:     "deleted target moves to the next instruction",
			prog:     []Insn{JeqImm(R1, 0, 1), Mov64Imm(R0, 1), Mov64Imm(R0, 2), Exit()},
			edits:    map[int][]Insn{2: nil},
			want:     []Insn{JeqImm(R1, 0, 1), Mov64Imm(R0, 1), Exit()},
			oldToNew: []int{0, 1, 2, 2, 3},
		},
		{
			name:     "backward jump over an ld_imm64 and a deletion",
			prog:     []Insn{Mov64Imm(R0, 0), LdImm64(R1, 7), Add64Imm(R0, 1), Mov64Imm(R2, 0), JltImm(R0, 9, -6), Exit()},
			edits:    map[int][]Insn{3: nil},
			want:     []Insn{Mov64Imm(R0, 0), LdImm64(R1, 7), Add64Imm(R0, 1), JltImm(R0, 9, -5), Exit()},
			oldToNew: []int{0, 1, 2, 3, 3, 4, 5},
		},
		{
			name:     "one-for-two replacement grows offsets",
			prog:     []Insn{Ja(2), Mov64Imm(R0, 1), Mov64Imm(R0, 2), Exit()},
			edits:    map[int][]Insn{1: {Mov64Imm(R0, 1), Add64Imm(R0, 1)}},
			want:     []Insn{Ja(3), Mov64Imm(R0, 1), Add64Imm(R0, 1), Mov64Imm(R0, 2), Exit()},
			oldToNew: []int{0, 1, 3, 4, 5},
		},
		{
			name:     "replaced jump keeps its target",
			prog:     []Insn{Mov64Imm(R0, 0), JgtImm(R1, 3, 2), Mov64Imm(R0, 1), Mov64Imm(R0, 2), Exit()},
			edits:    map[int][]Insn{1: {JgeImm(R1, 4, 2)}, 2: nil},
			want:     []Insn{Mov64Imm(R0, 0), JgeImm(R1, 4, 1), Mov64Imm(R0, 2), Exit()},
			oldToNew: []int{0, 1, 2, 2, 3, 4},
		},
		{
			name:     "gotol and may_goto",
			prog:     []Insn{MayGoto(3), Gotol(2), Mov64Imm(R0, 1), Mov64Imm(R0, 2), Exit()},
			edits:    map[int][]Insn{2: nil},
			want:     []Insn{MayGoto(2), Gotol(1), Mov64Imm(R0, 2), Exit()},
			oldToNew: []int{0, 1, 2, 2, 3, 4},
		},
		{
			name: "pseudo call and func address into a later function",
			prog: []Insn{
				LdFunc(R2, 5),   // slots 0-1 -> slot 6
				Mov64Imm(R3, 0), // deleted
				CallLocal(2),    // slot 3 -> slot 6
				CallLocal(-1),   // relocation placeholder: untouched
				Exit(),
				Mov64Imm(R0, 1), // slot 6
				Exit(),
			},
			edits:    map[int][]Insn{1: nil},
			want:     []Insn{LdFunc(R2, 4), CallLocal(2), CallLocal(-1), Exit(), Mov64Imm(R0, 1), Exit()},
			oldToNew: []int{0, 1, 1, 2, 3, 4, 5, 6},
		},
		{
			name:  "removing a jump target at the end fails",
			prog:  []Insn{JeqImm(R1, 0, 1), Exit(), Exit()},
			edits: map[int][]Insn{2: nil},
			err:   "nothing follows",
		},
		{
			name:  "removing the last instruction of a called function fails",
			prog:  []Insn{CallLocal(2), JeqImm(R1, 0, 0), Exit(), Mov64Imm(R0, 0), Exit()},
			edits: map[int][]Insn{2: nil},
			err:   "last of its subprogram",
		},
		{
			name:  "edit out of range",
			prog:  []Insn{Exit()},
			edits: map[int][]Insn{1: nil},
			err:   "out of range",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, m, err := Rewrite(tt.prog, tt.edits, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%swant\n%s", Disasm(got), Disasm(tt.want))
			}
			if !reflect.DeepEqual(m, tt.oldToNew) {
				t.Errorf("oldToNew = %v, want %v", m, tt.oldToNew)
			}
		})
	}
}

func TestRewriteExternalCallsUntouched(t *testing.T) {
	prog := []Insn{Mov64Imm(R1, 0), CallLocal(1), Exit(), Exit()}
	got, _, err := Delete(prog, []int{0}, External{1: true})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Imm != 1 {
		t.Errorf("relocated call imm changed to %d", got[0].Imm)
	}
}

// TestDeletePreservesTargets deletes random straight-line instructions from
// real programs and checks every surviving jump still reaches the image of
// its old target.
func TestDeletePreservesTargets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for _, path := range testObjects(t) {
		for _, s := range progSections(t, path) {
			insns, err := Decode(s.code, s.order)
			if err != nil || len(insns) < 4 {
				continue
			}
			oldSlot := SlotOffsets(insns)
			var del []int
			for k, in := range insns {
				if !in.IsJump() && !in.IsExit() && !in.IsCall() && !s.ext[oldSlot[k]] && rng.IntN(4) == 0 {
					del = append(del, k)
				}
			}
			out, m, err := Delete(insns, del, s.ext)
			if err != nil {
				t.Errorf("%s:%s: %v", path, s.name, err)
				continue
			}
			if err := Check(out); err != nil {
				t.Errorf("%s:%s: rewritten program invalid: %v", path, s.name, err)
			}
			newSlot := SlotOffsets(out)
			oldIndex, newIndex := map[int]int{}, map[int]int{}
			for k := range insns {
				oldIndex[oldSlot[k]] = k
			}
			for k := range out {
				newIndex[newSlot[k]] = k
			}
			for k, in := range insns {
				if m[k] == m[k+1] {
					continue // deleted
				}
				ot, ok := in.JumpTarget(oldSlot[k])
				if !ok {
					continue
				}
				nt, _ := out[m[k]].JumpTarget(newSlot[m[k]])
				oldTargetIdx := oldIndex[ot]
				if newIndex[nt] != m[oldTargetIdx] {
					t.Fatalf("%s:%s: jump %d -> %d became %d -> %d, want -> %d", path, s.name, k, oldTargetIdx, m[k], newIndex[nt], m[oldTargetIdx])
				}
				checked++
			}
		}
	}
	t.Logf("checked %d jumps", checked)
}
