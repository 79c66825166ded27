package check

import (
	"slices"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
)

func testSide(t *testing.T, insns []bpf.Insn) *side {
	t.Helper()
	f := &object.File{Path: "test.o"}
	s, err := newSide(f, &object.Function{Name: "p", Insns: insns, Entry: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAlign: hunks found between two instruction lists, with jumps
// aligned only when their targets correspond.
func TestAlign(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []bpf.Insn
		want []Hunk
		tail []bool // per hunk: accepted as a tail merge
	}{
		{"identical", []bpf.Insn{bpf.Mov64Imm(bpf.R0, 1), bpf.Exit()}, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 1), bpf.Exit()}, nil, nil},
		{"one insn changed",
			[]bpf.Insn{bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 1), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()},
			[]Hunk{{0, 2, 0, 1}}, []bool{false}},
		{"deletion, jumps retargeted",
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 2), bpf.Mov64Imm(bpf.R2, 1), bpf.Mov64Imm(bpf.R2, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()},
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 1), bpf.Mov64Imm(bpf.R2, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()},
			[]Hunk{{1, 2, 1, 1}}, []bool{false}},
		{"jump to a different place is not aligned",
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 1), bpf.Mov64Imm(bpf.R0, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()},
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 0), bpf.Mov64Imm(bpf.R0, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()},
			[]Hunk{{0, 1, 0, 1}}, []bool{false}},
		{"tail merge: a run and its goto become a goto to the copy",
			// if r1 == 0 goto L; r0 = 1; r0 += 2; goto out; L: r0 = 1; r0 += 2; out: exit
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 3), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Ja(2), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 1), bpf.Ja(0), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]Hunk{{1, 4, 1, 2}}, []bool{true}},
		{"tail merge: the run falls into its copy",
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 3), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Ja(2), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 0), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]Hunk{{1, 4, 1, 1}}, []bool{true}},
		{"not a tail merge: the copy differs",
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 3), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 3), bpf.Ja(2), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 0), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]Hunk{{1, 4, 1, 1}}, []bool{false}},
		{"not a tail merge: the goto skips the copy",
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 3), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Ja(2), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			// (the gotos align: the run is a deletion, which is no merge)
			[]bpf.Insn{bpf.JeqImm(bpf.R1, 0, 1), bpf.Ja(2), bpf.Mov64Imm(bpf.R0, 1), bpf.Add64Imm(bpf.R0, 2), bpf.Exit()},
			[]Hunk{{1, 3, 1, 1}}, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := testSide(t, tc.a), testSide(t, tc.b)
			al, err := align(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(al.Hunks, tc.want) {
				t.Fatalf("hunks %v, want %v", al.Hunks, tc.want)
			}
			// consistency: every aligned jump lands on corresponding points
			for i, j := range al.AtoB[:len(tc.a)] {
				if j >= 0 && a.target[i] >= 0 && al.mapA[a.target[i]] != b.target[j] {
					t.Errorf("aligned jump %d->%d lands on %d / %d", i, j, a.target[i], b.target[j])
				}
			}
			fc := &funcCheck{a: a, b: b, al: al}
			for k, h := range al.Hunks {
				if got := fc.tailMerge(h); got != tc.tail[k] {
					t.Errorf("hunk %v: tail merge %v, want %v", h, got, tc.tail[k])
				}
			}
		})
	}
}
