package synth

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

// TestCopyForwardAndLoadReuse runs the two pre-pass rewrites on one
// window and checks both what they must do and what they must not.
func TestCopyForwardAndLoadReuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		want  []bpf.Insn // the window after copyForward/loadReuse + dce (nops dropped)
	}{
		{"copies feeding exits go", []bpf.Insn{
			bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Jeq32Reg(bpf.R3, bpf.R4, 3),
			bpf.Mov64Reg(bpf.R4, bpf.R1), bpf.Jeq32Reg(bpf.R3, bpf.R4, 1),
			bpf.Mov64Imm(bpf.R0, 1), bpf.Exit(),
		}, []bpf.Insn{
			bpf.Jeq32Reg(bpf.R3, bpf.R2, 3), bpf.Jeq32Reg(bpf.R3, bpf.R1, 1), bpf.Mov64Imm(bpf.R0, 1),
		}},
		{"copy live at the end stays", []bpf.Insn{
			bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Reg(bpf.R3, bpf.R0), bpf.Mov64Reg(bpf.R0, bpf.R3), bpf.Exit(),
		}, []bpf.Insn{
			bpf.Add64Reg(bpf.R3, bpf.R2), bpf.Mov64Reg(bpf.R0, bpf.R3),
		}},
		{"source changed before the use: copy stays", []bpf.Insn{
			bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Add64Imm(bpf.R2, 1), bpf.Add64Reg(bpf.R4, bpf.R2),
			bpf.Mov64Reg(bpf.R0, bpf.R4), bpf.Exit(),
		}, []bpf.Insn{
			bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Add64Imm(bpf.R2, 1), bpf.Add64Reg(bpf.R4, bpf.R2), bpf.Mov64Reg(bpf.R0, bpf.R4),
		}},
		{"reload of an unchanged address", []bpf.Insn{
			bpf.LdxW(bpf.R2, bpf.R10, -8), bpf.JeqImm(bpf.R2, 0, 2), bpf.LdxW(bpf.R1, bpf.R10, -8),
			bpf.Add64Reg(bpf.R9, bpf.R1), bpf.Mov64Reg(bpf.R0, bpf.R9), bpf.Exit(),
		}, []bpf.Insn{
			bpf.LdxW(bpf.R2, bpf.R10, -8), bpf.JeqImm(bpf.R2, 0, 2), bpf.Add64Reg(bpf.R9, bpf.R2), bpf.Mov64Reg(bpf.R0, bpf.R9),
		}},
		{"reload after a store reads the stored value, not the first load's", []bpf.Insn{
			bpf.LdxW(bpf.R2, bpf.R10, -8), bpf.StW(bpf.R10, -8, 7), bpf.LdxW(bpf.R1, bpf.R10, -8),
			bpf.Add64Reg(bpf.R1, bpf.R2), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit(),
		}, []bpf.Insn{
			bpf.LdxW(bpf.R2, bpf.R10, -8), bpf.StW(bpf.R10, -8, 7), bpf.Mov32Imm(bpf.R1, 7),
			bpf.Add64Reg(bpf.R1, bpf.R2), bpf.Mov64Reg(bpf.R0, bpf.R1),
		}},
		{"reload after a store through another pointer stays", []bpf.Insn{
			bpf.LdxW(bpf.R2, bpf.R3, 0), bpf.StxW(bpf.R4, bpf.R9, 0), bpf.LdxW(bpf.R1, bpf.R3, 0),
			bpf.Add64Reg(bpf.R1, bpf.R2), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit(),
		}, nil},
		{"load of what was just stored", []bpf.Insn{
			bpf.StxDW(bpf.R10, bpf.R3, -16), bpf.LdxDW(bpf.R1, bpf.R10, -16), bpf.Add64Imm(bpf.R1, 1),
			bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit(),
		}, []bpf.Insn{
			bpf.StxDW(bpf.R10, bpf.R3, -16), bpf.Mov64Reg(bpf.R1, bpf.R3), bpf.Add64Imm(bpf.R1, 1), bpf.Mov64Reg(bpf.R0, bpf.R1),
		}},
		{"narrow store then load: the sign extension only sees the low half", []bpf.Insn{
			bpf.StxH(bpf.R0, bpf.R1, 46), bpf.StxB(bpf.R0, bpf.R2, 48), bpf.LdxH(bpf.R8, bpf.R0, 46),
			bpf.Lsh32Imm(bpf.R8, 16), bpf.Arsh32Imm(bpf.R8, 16), bpf.Mov64Reg(bpf.R0, bpf.R8), bpf.Exit(),
		}, []bpf.Insn{
			bpf.StxH(bpf.R0, bpf.R1, 46), bpf.StxB(bpf.R0, bpf.R2, 48), bpf.Mov32Reg(bpf.R8, bpf.R1),
			bpf.Lsh32Imm(bpf.R8, 16), bpf.Arsh32Imm(bpf.R8, 16), bpf.Mov64Reg(bpf.R0, bpf.R8),
		}},
		{"narrow store then a full-width use stays", []bpf.Insn{
			bpf.StxH(bpf.R10, bpf.R1, -8), bpf.LdxH(bpf.R8, bpf.R10, -8), bpf.Mov64Reg(bpf.R0, bpf.R8), bpf.Exit(),
		}, nil},
		{"stored constant", []bpf.Insn{
			bpf.StW(bpf.R10, -4, -2), bpf.LdxW(bpf.R1, bpf.R10, -4), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit(),
		}, []bpf.Insn{
			bpf.StW(bpf.R10, -4, -2), bpf.Mov32Imm(bpf.R1, -2), bpf.Mov64Reg(bpf.R0, bpf.R1),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prepass(t, tc.insns, tc.want, func(p *problem, m *machine, tests []*Test, c []cinsn) {
				p.loadReuse(m, tests, c)
				p.copyForward(m, tests, c)
				p.dce(m, tests, c)
			})
		})
	}
}

// prepass runs steps on the only window of insns (64 generated tests)
// and compares the result, deletions dropped, with want (nil: insns
// without their final exit, i.e. unchanged).
func prepass(t *testing.T, insns, want []bpf.Insn, steps func(p *problem, m *machine, tests []*Test, c []cinsn)) {
	t.Helper()
	f := NewFunc("t", 0, insns, nil)
	ws, err := f.Windows()
	if err != nil || len(ws) != 1 {
		t.Fatalf("windows %v: %v", ws, err)
	}
	w := ws[0]
	p := newProblem(f, w, Options{})
	var m machine
	m.log = make([]logEntry, 0, 256)
	tests := p.genTests(rand.New(rand.NewPCG(1, 2)), newEntryState(0, nil), w.LiveIn, 64, &m)
	c := slices.Clone(p.orig)
	steps(p, &m, tests, c)
	var got []bpf.Insn
	for k, x := range c {
		if !x.isNop() {
			got = append(got, x.insn(k, int(x.tgt)))
		}
	}
	if want == nil {
		want = insns[:len(insns)-1]
	}
	if bpf.Disasm(got) != bpf.Disasm(want) {
		t.Errorf("got\n%s\nwant\n%s", bpf.Disasm(got), bpf.Disasm(want))
	}
}

// TestDeleteRepair: an instruction whose deletion needs one operand
// changed elsewhere goes, with that change; one that no single change
// can replace stays.
func TestDeleteRepair(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		want  []bpf.Insn
	}{
		{"shift folded into the constants", []bpf.Insn{
			bpf.Mov32Imm(bpf.R8, 1), bpf.JneImm(bpf.R1, 0, 1), bpf.Mov32Imm(bpf.R8, 0), bpf.Lsh32Imm(bpf.R8, 1),
			bpf.Mov64Reg(bpf.R0, bpf.R8), bpf.Exit(),
		}, []bpf.Insn{
			bpf.Mov32Imm(bpf.R8, 2), bpf.JneImm(bpf.R1, 0, 1), bpf.Mov32Imm(bpf.R8, 0), bpf.Mov64Reg(bpf.R0, bpf.R8),
		}},
		{"a real computation stays", []bpf.Insn{
			bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Mul64Reg(bpf.R0, bpf.R2), bpf.Xor64Reg(bpf.R0, bpf.R3), bpf.Exit(),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prepass(t, tc.insns, tc.want, func(p *problem, m *machine, tests []*Test, c []cinsn) {
				p.deleteRepair(m, tests, c)
			})
		})
	}
}
