package synth

import (
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
)

// TestGenTestsCoverPaths: branches on loaded values and on live-ins that
// random inputs practically never take are taken by some generated test
// (the flips), and every test still runs the original without a fault.
func TestGenTestsCoverPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		exits int // distinct exits the tests must reach (end included)
	}{
		{"loaded u16 against a register", []bpf.Insn{
			bpf.LdxH(bpf.R3, bpf.R10, -8), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Jeq32Reg(bpf.R3, bpf.R4, 3),
			bpf.Mov64Reg(bpf.R4, bpf.R1), bpf.Jeq32Reg(bpf.R3, bpf.R4, 2), bpf.Mov64Imm(bpf.R0, 1),
			bpf.Exit(), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(),
		}, 2},
		{"a loaded value plus a register against a bound", []bpf.Insn{
			bpf.LdxW(bpf.R1, bpf.R10, -8), bpf.Add32Reg(bpf.R1, bpf.R2), bpf.JgtImm(bpf.R1, 4095, 2),
			bpf.Mov64Imm(bpf.R0, 1), bpf.Exit(), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(),
		}, 2},
		{"two registers, 64-bit, then a constant", []bpf.Insn{
			bpf.JeqReg(bpf.R1, bpf.R2, 4), bpf.Mov64Reg(bpf.R5, bpf.R3), bpf.JeqImm(bpf.R5, 0x12345678, 3), bpf.Mov64Imm(bpf.R0, 1),
			bpf.Exit(), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(), bpf.Mov64Imm(bpf.R0, 3), bpf.Exit(),
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFunc("t", 0, tc.insns, nil)
			ws, err := f.Windows()
			if err != nil || len(ws) == 0 {
				t.Fatalf("windows %v: %v", ws, err)
			}
			w := ws[0]
			p := newProblem(f, w, Options{})
			var m machine
			rng := rand.New(rand.NewPCG(3, 4))
			tests := p.genTests(rng, newEntryState(0, nil), w.LiveIn, 32, &m)
			seen := map[int]bool{}
			for _, tt := range tests {
				if m.run(p.orig, tt) != fNone {
					t.Fatal("a test faults on the original")
				}
				seen[m.exit] = true
				m.undo()
			}
			if len(seen) < tc.exits {
				t.Errorf("tests reach exits %v, want %d distinct (window %v)", seen, tc.exits, w)
			}
		})
	}
}

// TestCtxPacketPointers: loads of xdp_md's data/data_end give packet
// pointers in tests, so a window that bounds-checks and then reads the
// packet is tested on both sides of the check (it used to see random
// scalars, fault past the check, and only keep tests taking the early
// exit); other sizes and writes of those fields fault, as the verifier
// refuses them.
func TestCtxPacketPointers(t *testing.T) {
	insns := []bpf.Insn{
		bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.LdxW(bpf.R3, bpf.R1, 4), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Add64Imm(bpf.R4, 14),
		bpf.JgtReg(bpf.R4, bpf.R3, 2), bpf.LdxB(bpf.R0, bpf.R2, 12), bpf.Exit(),
		bpf.Mov64Imm(bpf.R0, 1), bpf.Exit(),
	}
	f := NewFunc("t", ebpf.XDP, insns, nil)
	ws, err := f.Windows()
	if err != nil || len(ws) == 0 {
		t.Fatal(ws, err)
	}
	w := ws[0]
	var sum safety.Summary
	sum.Regs[bpf.R1] = safety.Reg{Type: safety.PtrCtx}
	sum.Regs[bpf.R10] = safety.Reg{Type: safety.PtrStack}
	p := newProblem(f, w, Options{})
	var m machine
	tests := p.genTests(rand.New(rand.NewPCG(1, 1)), newEntryState(ebpf.XDP, &sum), w.LiveIn, 32, &m)
	exits := map[int]int{}
	for _, tt := range tests {
		if m.run(p.orig, tt) != fNone {
			t.Fatal("a test faults on the original")
		}
		exits[m.exit]++
		m.undo()
	}
	if len(exits) != 2 {
		t.Fatalf("exits taken %v, want both sides of the bounds check (window %v)", exits, w)
	}
	for _, c := range []cinsn{
		{op: bpf.OpLdxDW, dst: 2, src: 1, off: 0}, // 8-byte load of data
		{op: bpf.OpStW, dst: 1, off: 4},           // write data_end
	} {
		if f := m.run([]cinsn{c}, tests[0]); f != fPtrOp {
			t.Errorf("%v: fault %d, want fPtrOp", c.op, f)
		}
		m.undo()
	}
}
