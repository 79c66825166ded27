package cost

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
)

func TestSlots(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		want  int
	}{
		{"empty", nil, 0},
		{"alu", []bpf.Insn{bpf.Mov64Imm(bpf.R0, 1), bpf.Exit()}, 2},
		{"ldimm64 counts two", []bpf.Insn{bpf.LdImm64(bpf.R1, 1<<40), bpf.Exit()}, 3},
		{"nop counts zero", []bpf.Insn{Nop, bpf.Mov64Imm(bpf.R0, 1), Nop, bpf.Exit()}, 2},
	} {
		if got := Slots(tc.insns); got != tc.want {
			t.Errorf("%s: Slots = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestParseObjective(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Objective
		err  bool
	}{
		{"size", Size, false}, {"", Size, false}, {"latency", Latency, false},
		{"complexity", Complexity, false}, {"speed", 0, true},
	} {
		got, err := ParseObjective(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseObjective(%q) = %v, %v", tc.in, got, err)
		}
		if !tc.err && tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func TestValueError(t *testing.T) {
	for _, tc := range []struct {
		form      ErrorForm
		want, got uint64
		e         uint64
	}{
		{Popcount, 0, 0, 0},
		{Popcount, 0xff, 0x0f, 4},
		{Popcount, 0, ^uint64(0), 64},
		{AbsDiff, 10, 3, 7},
		{AbsDiff, 3, 10, 7},
		{AbsDiff, 1 << 63, 0, 1<<63 - 1},
	} {
		if e := ValueError(tc.form, tc.want, tc.got); e != tc.e {
			t.Errorf("ValueError(%d, %#x, %#x) = %d, want %d", tc.form, tc.want, tc.got, e, tc.e)
		}
	}
}

func TestCyclesModel(t *testing.T) {
	add := bpf.Add64Reg(bpf.R1, bpf.R2)
	for _, tc := range []struct {
		name    string
		a, b    bpf.Insn
		cheaper bool // a costs less than b
	}{
		// Orders the calibrated table (calibrated.json) shows with a
		// margin of many standard errors on this machine.
		{"add < div", add, bpf.Div64Reg(bpf.R1, bpf.R2), true},
		{"mul < div", bpf.Mul64Reg(bpf.R1, bpf.R2), bpf.Div64Reg(bpf.R1, bpf.R2), true},
		{"add < atomic", add, bpf.Atomic(bpf.OpAtomicAddDW, bpf.R10, bpf.R1, -8), true},
		{"div < helper call", bpf.Div64Reg(bpf.R1, bpf.R2), bpf.Call(1), true},
		{"load < helper call", bpf.LdxW(bpf.R1, bpf.R10, -4), bpf.Call(1), true},
		{"nop < add", Nop, add, true},
		{"nop < le16", Nop, bpf.Le(bpf.R1, 16), true},
	} {
		if got := InsnCycles(tc.a) < InsnCycles(tc.b); got != tc.cheaper {
			t.Errorf("%s: %v (%v) vs %v (%v)", tc.name, tc.a, InsnCycles(tc.a), tc.b, InsnCycles(tc.b))
		}
	}
	insns := []bpf.Insn{add, bpf.Div64Reg(bpf.R1, bpf.R2)}
	if got, want := Cycles(insns, []float64{1, 0.5}), InsnCycles(insns[0])+0.5*InsnCycles(insns[1]); got != want {
		t.Errorf("weighted Cycles = %v, want %v", got, want)
	}
	if got, want := Cycles(insns, nil), InsnCycles(insns[0])+InsnCycles(insns[1]); got != want {
		t.Errorf("unweighted Cycles = %v, want %v", got, want)
	}
}

// TestFrequencies: an XDP program branching on ingress_ifindex; half of the
// inputs take each side.
func TestFrequencies(t *testing.T) {
	insns := []bpf.Insn{
		bpf.LdxW(bpf.R2, bpf.R1, 12), // ingress_ifindex
		bpf.Mov64Imm(bpf.R0, 0),
		bpf.JneImm(bpf.R2, 5, 1),
		bpf.Mov64Imm(bpf.R0, 1),
		bpf.Exit(),
	}
	p, err := interp.NewProgram("f", ebpf.XDP, insns, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := func(ifindex byte) *interp.Input {
		c := make([]byte, 24)
		c[12] = ifindex
		return &interp.Input{Ctx: c}
	}
	for _, tc := range []struct {
		name   string
		inputs []*interp.Input
		want   []float64
	}{
		{"none", nil, []float64{1, 1, 1, 1, 1}},
		{"always 5", []*interp.Input{ctx(5)}, []float64{1, 1, 1, 1, 1}},
		{"never 5", []*interp.Input{ctx(7), ctx(8)}, []float64{1, 1, 1, 0, 1}},
		{"half", []*interp.Input{ctx(5), ctx(7)}, []float64{1, 1, 1, 0.5, 1}},
	} {
		got, err := Frequencies(p, tc.inputs)
		if err != nil {
			t.Fatal(err)
		}
		for k := range got {
			if got[k] != tc.want[k] {
				t.Errorf("%s: freq = %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}
