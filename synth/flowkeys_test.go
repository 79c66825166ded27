package synth

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
)

// TestEvaluatorFlowKeysAgreesWithInterp: random flow dissector windows
// that load and store through the flow keys (a live-in pointer at an
// offset, or one loaded from __sk_buff.flow_keys), in bounds and out,
// give the same faults, registers and flow keys bytes in the search's
// evaluator and in interp.RunWindow; undo restores the flow keys.
func TestEvaluatorFlowKeysAgreesWithInterp(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	loads := []func(dst, src bpf.Reg, off int16) bpf.Insn{bpf.LdxB, bpf.LdxH, bpf.LdxW, bpf.LdxDW}
	stores := []func(dst, src bpf.Reg, off int16) bpf.Insn{bpf.StxB, bpf.StxH, bpf.StxW, bpf.StxDW}
	storeImms := []func(dst bpf.Reg, off int16, imm int32) bpf.Insn{bpf.StB, bpf.StH, bpf.StW, bpf.StDW}
	scalar := func() bpf.Reg { return bpf.Reg(2 + rng.IntN(4)) } // r2-r5
	var m machine
	faults, stored := 0, 0
	for iter := range 3000 {
		n := 2 + rng.IntN(8)
		var insns []bpf.Insn
		r7 := false
		for range n {
			base := bpf.R8
			if r7 && rng.IntN(2) == 0 || rng.IntN(40) == 0 {
				base = bpf.R7 // loaded from the ctx (rarely: not yet)
			}
			k := rng.IntN(4)
			off := int16(rng.IntN(40 - 1<<k))
			if rng.IntN(10) == 0 {
				off = int16(rng.IntN(80) - 12) // some past either end
			}
			switch rng.IntN(8) {
			case 0, 1:
				insns = append(insns, loads[k](scalar(), base, off))
			case 2, 3:
				insns = append(insns, stores[k](base, scalar(), off))
			case 4:
				insns = append(insns, storeImms[k](base, off, int32(rng.Uint32())))
			case 5:
				insns = append(insns, bpf.LdxDW(bpf.R7, bpf.R1, 144))
				r7 = true
			case 6:
				insns = append(insns, bpf.Add64Imm(base, int32(rng.IntN(9)-4)))
			default:
				insns = append(insns, bpf.Xor64Reg(scalar(), scalar()), bpf.Add32Imm(scalar(), int32(rng.Uint32())))
			}
		}
		insns = append(insns, bpf.Exit())
		ip, err := interp.NewProgram("w", ebpf.FlowDissector, insns, nil)
		if err != nil {
			t.Fatalf("iter %d: %v\n%s", iter, err, bpf.Disasm(insns))
		}
		im := interp.NewMachine(ip, nil)
		cand := fromStraight(insns[:len(insns)-1])

		st := newEntryState(ebpf.FlowDissector, nil)
		tt := genTest(rng, st, 0)
		o8 := rng.IntN(20)
		in := &interp.Input{Ctx: append([]byte(nil), tt.Mem[RegCtx]...), Packet: append([]byte(nil), tt.Mem[RegPacket]...),
			Aux: append([]byte(nil), tt.Mem[RegAux]...)}
		tt.Regs[bpf.R1], in.Regs[bpf.R1] = Ptr(RegCtx, 0), im.Pointer(interp.RegionCtx, 0)
		tt.Regs[bpf.R8], in.Regs[bpf.R8] = Ptr(RegAux, o8), im.Pointer(interp.RegionAux, o8)
		for r := bpf.R2; r <= bpf.R5; r++ {
			v := untag(interp.RandValue(rng))
			tt.Regs[r], in.Regs[r] = v, v
		}
		tt.Init = bpf.RegsOf(bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5, bpf.R8)
		in.RegInit = tt.Init
		before := append([]byte(nil), tt.Mem[RegAux]...)

		f := m.run(cand, tt)
		after := append([]byte(nil), tt.Mem[RegAux]...)
		m.undo()
		if !bytes.Equal(tt.Mem[RegAux], before) {
			t.Fatalf("iter %d: undo left flow keys %x, want %x", iter, tt.Mem[RegAux], before)
		}
		out := im.RunWindow(in, 0, bpf.SlotCount(insns)-1)
		if (f != fNone) != !out.Fault.Ok() {
			t.Fatalf("iter %d: evaluator fault %d, interp %v\n%s", iter, f, out.Fault, bpf.Disasm(insns))
		}
		if f != fNone {
			faults++
			continue
		}
		if !bytes.Equal(after, out.Aux) {
			t.Fatalf("iter %d: flow keys %x, interp %x\n%s", iter, after, out.Aux, bpf.Disasm(insns))
		}
		if !bytes.Equal(after, before) {
			stored++
		}
		for r := bpf.R0; r < bpf.R10; r++ {
			if m.init&(1<<r) == 0 {
				if out.RegInit.Has(r) {
					t.Fatalf("iter %d: r%d uninitialised, interp has %#x", iter, r, out.Regs[r])
				}
				continue
			}
			want := m.r[r]
			if isPtr(want) {
				region := map[int]interp.Region{RegCtx: interp.RegionCtx, RegAux: interp.RegionAux}[int(want>>48&0xff)]
				want = im.Pointer(region, int(int64(uint32(want))-ptrBias))
			}
			if out.Regs[r] != want {
				t.Fatalf("iter %d: r%d = %#x (interp form %#x), interp %#x\n%s", iter, r, m.r[r], want, out.Regs[r], bpf.Disasm(insns))
			}
		}
	}
	// both outcomes must be common, or the comparison tested little
	if faults < 300 || stored < 300 {
		t.Fatalf("%d faulting runs, %d runs that changed the flow keys: too few", faults, stored)
	}
	t.Logf("%d faulting runs, %d runs that changed the flow keys", faults, stored)
}

// TestFlowKeysTests: tests of flow dissector windows carry the flow keys
// (genTest, testFromInput), flow_keys live-ins point into them, and the
// ctx field gives a pointer to them; other types keep sockets opaque.
func TestFlowKeysTests(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sum := &safety.Summary{Paths: 1}
	sum.Regs[bpf.R8] = safety.Reg{Type: safety.PtrFlowKeys, V: safety.Const(0), Off: 4}
	cases := []struct {
		name    string
		typ     ebpf.ProgramType
		wantAux int
		wantR8  uint64
		ctxOff  int    // an 8-byte ctx load there
		wantCtx uint64 // gives this
	}{
		{"flow dissector", ebpf.FlowDissector, 56, Ptr(RegAux, 4), 144, Ptr(RegAux, 0)},
		{"tc: socket opaque", ebpf.SchedCLS, 0, Ptr(RegOpaque, 64*8), 168, Ptr(RegOpaque, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := genTest(rng, newEntryState(c.typ, sum), bpf.RegsOf(bpf.R8))
			if len(tt.Mem[RegAux]) != c.wantAux {
				t.Fatalf("genTest: %d aux bytes, want %d", len(tt.Mem[RegAux]), c.wantAux)
			}
			if tt.Regs[bpf.R8] != c.wantR8 {
				t.Fatalf("genTest: r8 = %#x, want %#x", tt.Regs[bpf.R8], c.wantR8)
			}
			var m machine
			m.t = tt
			v, f := m.load(Ptr(RegCtx, c.ctxOff), 8)
			if f != fNone || v != c.wantCtx {
				t.Fatalf("ctx load at %d: %#x (fault %d), want %#x", c.ctxOff, v, f, c.wantCtx)
			}
			if c.wantAux == 0 {
				return
			}
			// a counterexample with flow keys and a pointer into them
			p, err := interp.NewProgram("x", c.typ, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			im := interp.NewMachine(p, nil)
			in := &interp.Input{Aux: make([]byte, c.wantAux), RegInit: bpf.RegsOf(bpf.R8)}
			for i := range in.Aux {
				in.Aux[i] = byte(i + 1)
			}
			in.Regs[bpf.R8] = im.Pointer(interp.RegionAux, 8)
			ct := testFromInput(c.typ, in)
			if !bytes.Equal(ct.Mem[RegAux], in.Aux) {
				t.Fatalf("testFromInput: aux %x, want %x", ct.Mem[RegAux], in.Aux)
			}
			if ct.Regs[bpf.R8] != Ptr(RegAux, 8) {
				t.Fatalf("testFromInput: r8 = %#x, want %#x", ct.Regs[bpf.R8], Ptr(RegAux, 8))
			}
		})
	}
}
