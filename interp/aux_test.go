package interp

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// TestAuxInputOutput: Input.Aux sets a flow dissector's initial flow keys
// (nil keeps the test run's start values), Output.Aux returns them after
// the run, and accesses past the 56 bytes fault.
func TestAuxInputOutput(t *testing.T) {
	pkt := make([]byte, 64)
	pkt[12], pkt[13] = 0x08, 0x00
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0xa0 + i)
		}
		return b
	}
	// r2 = flow keys; r0 = *(u16 *)(r2 + 4); *(u32 *)(r2 + 16) = 0x11223344
	prog := []bpf.Insn{
		bpf.LdxDW(bpf.R2, bpf.R1, 144),
		bpf.LdxH(bpf.R0, bpf.R2, 4),
		bpf.StW(bpf.R2, 16, 0x11223344),
		bpf.Exit(),
	}
	cases := []struct {
		name    string
		insns   []bpf.Insn
		aux     []byte
		window  bool
		wantR0  uint64
		wantAux func() []byte // nil: the run faults
	}{
		{"given", prog, seq(56), false, 0xa5a4, func() []byte {
			b := seq(56)
			copy(b[16:], []byte{0x44, 0x33, 0x22, 0x11})
			return b
		}},
		{"short input zero-filled", prog, seq(6), false, 0xa5a4, func() []byte {
			b := make([]byte, 56)
			copy(b, seq(6))
			copy(b[16:], []byte{0x44, 0x33, 0x22, 0x11})
			return b
		}},
		{"nil: test-run start values", prog, nil, false, 0, func() []byte {
			b := make([]byte, 56)
			b[0], b[2], b[10], b[11] = 14, 14, 0x08, 0x00
			copy(b[16:], []byte{0x44, 0x33, 0x22, 0x11})
			return b
		}},
		{"window pointer", []bpf.Insn{bpf.LdxW(bpf.R0, bpf.R3, 8), bpf.StxB(bpf.R3, bpf.R0, 0), bpf.Exit()},
			seq(56), true, 0xb3b2b1b0, func() []byte {
				b := seq(56)
				b[8] = 0xb0
				return b
			}},
		{"load past the end faults", []bpf.Insn{bpf.LdxDW(bpf.R2, bpf.R1, 144), bpf.LdxW(bpf.R0, bpf.R2, 53), bpf.Exit()},
			seq(56), false, 0, nil},
		{"store past the end faults", []bpf.Insn{bpf.LdxDW(bpf.R2, bpf.R1, 144), bpf.StDW(bpf.R2, 49, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()},
			seq(56), false, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewProgram("aux", ebpf.FlowDissector, c.insns, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := NewMachine(p, nil)
			in := &Input{Packet: pkt, Aux: c.aux}
			var out Output
			if c.window {
				in.Regs[bpf.R3] = m.Pointer(RegionAux, 8)
				in.RegInit = bpf.RegsOf(bpf.R3)
				out = m.RunWindow(in, 0, bpf.SlotCount(c.insns))
			} else {
				out = m.Run(in)
			}
			if c.wantAux == nil {
				if out.Fault.Ok() {
					t.Fatalf("no fault, r0=%#x", out.R0)
				}
				return
			}
			if !out.Fault.Ok() {
				t.Fatalf("fault %v", out.Fault)
			}
			if !c.window && out.R0 != c.wantR0 || c.window && out.Regs[0] != c.wantR0 {
				t.Errorf("r0 = %#x, want %#x", out.R0, c.wantR0)
			}
			if want := c.wantAux(); !bytes.Equal(out.Aux, want) {
				t.Errorf("aux = %x\nwant  %x", out.Aux, want)
			}
		})
	}
}

// TestAuxNilForTypesWithout: programs without an auxiliary object report
// none.
func TestAuxNilForTypesWithout(t *testing.T) {
	p, err := NewProgram("x", ebpf.XDP, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := NewMachine(p, nil).Run(&Input{Packet: make([]byte, 20), Aux: []byte{1, 2}}); out.Aux != nil {
		t.Fatalf("XDP output aux = %x, want nil", out.Aux)
	}
}
