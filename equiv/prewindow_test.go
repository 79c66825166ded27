package equiv

import (
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
)

// TestPreForWindow: a live-in one side overwrites and the other passes
// through gets its entry state (r0 = 2 below); one neither side touches
// does not; an uninitialised read register becomes any scalar.
func TestPreForWindow(t *testing.T) {
	var s safety.Summary
	s.Regs[bpf.R0] = safety.Reg{Type: safety.ScalarValue, V: safety.Const(2)}
	s.Regs[bpf.R3] = safety.Reg{Type: safety.ScalarValue, V: safety.Const(9)}
	s.Regs[bpf.R4] = safety.Reg{Type: safety.NotInit}
	a := []bpf.Insn{bpf.Mov32Imm(bpf.R0, 2), bpf.Add64Reg(bpf.R1, bpf.R4)}
	b := []bpf.Insn{bpf.Add64Reg(bpf.R1, bpf.R4)}
	live := bpf.RegsOf(bpf.R0, bpf.R1, bpf.R3, bpf.R4)
	pre, need, ok := PreForWindow(&s, live, a, b)
	if !ok {
		t.Fatal("no precondition")
	}
	if want := bpf.RegsOf(bpf.R0, bpf.R1, bpf.R4); need != want {
		t.Errorf("need %v, want %v", need, want)
	}
	if p := pre[bpf.R0]; p.Kind != smt.Scalar || p.Known != ^uint64(0) || p.Value != 2 {
		t.Errorf("r0 precondition %+v, want the constant 2", p)
	}
	if p := pre[bpf.R3]; p.Known != 0 {
		t.Errorf("r3 (untouched) precondition %+v, want none", p)
	}
	if p := pre[bpf.R4]; p.Kind != smt.Scalar || p.Known != 0 {
		t.Errorf("r4 (uninitialised) precondition %+v, want any scalar", p)
	}
	if _, _, ok := PreForWindow(nil, live, a, b); ok {
		t.Error("a nil entry state gave a precondition")
	}
}
