package synth

import (
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/interp"
)

// TestEvaluatorAgreesWithInterp: random windows of every ALU op the
// proposals use (and forward jumps) give the same registers in the
// search's evaluator and in interp.RunWindow.
func TestEvaluatorAgreesWithInterp(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	p := &problem{}
	ch := newChain(p, nil, rng, cost.WeightsFor(cost.Size), 1)
	var m machine
	for iter := range 3000 {
		n := 2 + rng.IntN(10)
		cand := make([]cinsn, n)
		for i := range cand {
			if rng.IntN(6) == 0 && i+1 < n {
				cand[i] = cinsn{op: jumpPool[rng.IntN(len(jumpPool))]}
				ch.randomize(&cand[i])
				cand[i].tgt = int16(i + 1 + rng.IntN(n-i+2)) // up to exit 2
				continue
			}
			cand[i] = ch.newALU()
		}
		for i := range cand { // keep to initialised, non-r10 registers
			cand[i].src %= 10
		}
		// exit j lands on the (j+1)-th of three r9 increments: r9 counts 3-j
		insns := append(straight(cand), bpf.Add64Imm(bpf.R9, 1), bpf.Add64Imm(bpf.R9, 1), bpf.Add64Imm(bpf.R9, 1), bpf.Exit())
		ip, err := interp.NewProgram("w", ebpf.XDP, insns, nil)
		if err != nil {
			t.Fatalf("iter %d: %v\n%s", iter, err, bpf.Disasm(insns))
		}
		im := interp.NewMachine(ip, nil)
		var tt Test
		tt.StackInit = make([]bool, StackSize)
		tt.Mem[RegStack] = make([]byte, StackSize)
		in := &interp.Input{}
		for r := range 10 {
			v := interp.RandValue(rng)
			tt.Regs[r], in.Regs[r] = v, v
		}
		tt.Init = bpf.RegSet(1<<10 - 1)
		in.RegInit = tt.Init
		f := m.run(cand, &tt)
		m.undo()
		out := im.RunWindow(in, 0, bpf.SlotCount(insns)-1)
		if f == fPtrOp {
			continue // a value happened to carry the pointer tag: interp has no pointer rules
		}
		if (f != fNone) != !out.Fault.Ok() {
			t.Fatalf("iter %d: fault %d vs %v\n%s", iter, f, out.Fault, bpf.Disasm(insns))
		}
		if f == fNone {
			m.r[9] += uint64(3 - m.exit)
		}
		for r := range 10 {
			if m.r[r] != out.Regs[r] {
				t.Fatalf("iter %d: r%d = %#x, interp %#x\n%s", iter, r, m.r[r], out.Regs[r], bpf.Disasm(insns))
			}
		}
	}
}

// TestPointerCompares: the evaluator takes a pointer compared with a
// constant only as the verifier's NULL check (64-bit == 0 or != 0);
// other comparisons fault, so that a candidate cannot turn `if r0 == 0`
// into `if r0 <= 4`, the same branch on every real pointer that leaves
// r0 _or_null to the verifier. Pointer against pointer stays allowed.
func TestPointerCompares(t *testing.T) {
	for _, tc := range []struct {
		name string
		jump cinsn
		ok   bool
	}{
		{"jeq 0", cinsn{op: bpf.OpJeqImm, dst: 1, imm: 0, tgt: 1}, true},
		{"jne 0", cinsn{op: bpf.OpJneImm, dst: 1, imm: 0, tgt: 1}, true},
		{"jle 4", cinsn{op: bpf.OpJleImm, dst: 1, imm: 4, tgt: 1}, false},
		{"jeq 4", cinsn{op: bpf.OpJeqImm, dst: 1, imm: 4, tgt: 1}, false},
		{"jeq32 0", cinsn{op: bpf.OpJeq32Imm, dst: 1, imm: 0, tgt: 1}, false},
		{"jgt pointer pointer", cinsn{op: bpf.OpJgtReg, dst: 1, src: 2, tgt: 1}, true},
	} {
		var m machine
		tt := &Test{StackInit: make([]bool, StackSize), Init: bpf.RegsOf(bpf.R1, bpf.R2)}
		tt.Mem[RegStack] = make([]byte, StackSize)
		tt.Regs[1], tt.Regs[2] = Ptr(RegStack, 8), Ptr(RegStack, 16)
		f := m.run([]cinsn{tc.jump}, tt)
		m.undo()
		if (f == fNone) != tc.ok {
			t.Errorf("%s: fault %d, want ok=%v", tc.name, f, tc.ok)
		}
	}
}
