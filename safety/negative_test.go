package safety

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

var testMap = &Map{Name: "m", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4, SpinLockOff: -1}

func prog(t ebpf.ProgramType, insns ...bpf.Insn) *Program {
	p := &Program{Name: "t", Type: t, Insns: insns, Refs: map[int]Ref{}}
	for k, in := range insns {
		if in.IsLdImm64() && in.Src == bpf.PseudoMapFD {
			p.Refs[k] = Ref{Map: testMap, Target: -1}
		}
	}
	return p
}

// lookup is "r0 = bpf_map_lookup_elem(&m, fp-4)" with an unknown key.
var lookup = []bpf.Insn{
	bpf.LdxW(bpf.R2, bpf.R1, 16), // ingress_ifindex: an unknown key
	bpf.StxW(bpf.R10, bpf.R2, -4),
	bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -4),
	bpf.LdMapFD(bpf.R1, 0),
	bpf.Call(1),
}

func seq(parts ...[]bpf.Insn) []bpf.Insn {
	var out []bpf.Insn
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestNegative has one program per class of rejection; each must fail with
// the expected property (and so class) and its good twin must pass.
func TestNegative(t *testing.T) {
	tests := []struct {
		name   string
		bad    *Program
		good   *Program
		prop   Property
		unpriv bool
	}{
		{"packet read without data_end check", prog(ebpf.XDP,
			bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.LdxW(bpf.R0, bpf.R2, 0), bpf.Exit()),
			prog(ebpf.XDP, bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.LdxW(bpf.R3, bpf.R1, 4), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Add64Imm(bpf.R4, 4),
				bpf.Mov64Imm(bpf.R0, 0), bpf.JgtReg(bpf.R4, bpf.R3, 1), bpf.LdxW(bpf.R0, bpf.R2, 0), bpf.Exit()),
			PacketBounds, false},
		{"NULL map value dereference", prog(ebpf.XDP, seq(lookup, []bpf.Insn{bpf.LdxW(bpf.R0, bpf.R0, 0), bpf.Exit()})...),
			prog(ebpf.XDP, seq(lookup, []bpf.Insn{bpf.JeqImm(bpf.R0, 0, 1), bpf.LdxW(bpf.R0, bpf.R0, 0), bpf.Exit()})...),
			NullDeref, false},
		{"uninitialised stack read", prog(ebpf.XDP, bpf.LdxW(bpf.R0, bpf.R10, -8), bpf.Exit()),
			prog(ebpf.XDP, bpf.StW(bpf.R10, -8, 1), bpf.LdxW(bpf.R0, bpf.R10, -8), bpf.Exit()),
			Uninit, true},
		{"uninitialised register read", prog(ebpf.XDP, bpf.Mov64Reg(bpf.R0, bpf.R5), bpf.Exit()),
			prog(ebpf.XDP, bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()),
			Uninit, false},
		{"misaligned stack access", prog(ebpf.XDP, bpf.StW(bpf.R10, -6, 0), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()),
			prog(ebpf.XDP, bpf.StW(bpf.R10, -8, 0), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()),
			Alignment, false},
		{"bad helper argument type", prog(ebpf.XDP, bpf.Mov64Imm(bpf.R1, 0), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -4), bpf.StW(bpf.R10, -4, 0), bpf.Call(1), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()),
			prog(ebpf.XDP, seq(lookup, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()})...),
			HelperArg, false},
		{"write to read-only ctx field", prog(ebpf.SchedCLS, bpf.Mov64Imm(bpf.R2, 7), bpf.StxW(bpf.R1, bpf.R2, 0), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()),
			prog(ebpf.SchedCLS, bpf.Mov64Imm(bpf.R2, 7), bpf.StxW(bpf.R1, bpf.R2, 8), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()),
			CtxAccess, false},
		{"bad return value", prog(ebpf.CGroupSockAddr, bpf.Mov64Imm(bpf.R0, 2), bpf.Exit()),
			prog(ebpf.CGroupSockAddr, bpf.Mov64Imm(bpf.R0, 1), bpf.Exit()),
			ReturnValue, false},
		{"unbounded loop", prog(ebpf.XDP, bpf.Mov64Imm(bpf.R0, 0), bpf.Add64Imm(bpf.R0, 1), bpf.JneImm(bpf.R0, 0, -2), bpf.Exit()),
			prog(ebpf.XDP, bpf.Mov64Imm(bpf.R0, 0), bpf.Add64Imm(bpf.R0, 1), bpf.JltImm(bpf.R0, 10, -2), bpf.Exit()),
			Termination, false},
		{"infinite loop without progress", prog(ebpf.XDP, bpf.Mov64Imm(bpf.R0, 0), bpf.JeqImm(bpf.R0, 0, -1), bpf.Exit()),
			prog(ebpf.XDP, bpf.Mov64Imm(bpf.R0, 0), bpf.JeqImm(bpf.R0, 1, -1), bpf.Exit()),
			Termination, false},
		{"helper not allowed for the program type", prog(ebpf.XDP, bpf.Mov64Imm(bpf.R2, 0), bpf.Call(26), bpf.Exit()),
			prog(ebpf.XDP, bpf.Call(5), bpf.Exit()),
			HelperUse, false},
		{"unreleased ringbuf reference", prog(ebpf.Kprobe, bpf.Call(14), bpf.Exit()),
			prog(ebpf.Kprobe, bpf.Call(14), bpf.Exit()),
			0, false},
		{"map value out of bounds", prog(ebpf.XDP, seq(lookup, []bpf.Insn{bpf.JeqImm(bpf.R0, 0, 1), bpf.LdxW(bpf.R0, bpf.R0, 8), bpf.Exit()})...),
			prog(ebpf.XDP, seq(lookup, []bpf.Insn{bpf.JeqImm(bpf.R0, 0, 1), bpf.LdxW(bpf.R0, bpf.R0, 4), bpf.Exit()})...),
			MapBounds, false},
		{"division by constant zero", prog(ebpf.XDP, bpf.Mov64Imm(bpf.R0, 1), bpf.Insn{Code: 0x37, Dst: bpf.R0}, bpf.Exit()),
			prog(ebpf.XDP, bpf.Mov64Imm(bpf.R0, 1), bpf.Div64Imm(bpf.R0, 1), bpf.Exit()),
			Division, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{Unprivileged: tt.unpriv, MaxProcessed: 100_000}
			if tt.prop != 0 {
				res := Verify(tt.bad, opts)
				if res.Accepted {
					t.Fatalf("bad program accepted")
				}
				if res.Diag.Property != tt.prop {
					t.Fatalf("rejected for %v (%v), want %v", res.Diag.Property, res.Diag, tt.prop)
				}
				msg := res.Diag.Error()
				if !strings.Contains(msg, tt.prop.Class().String()) || !strings.Contains(msg, "insn ") {
					t.Errorf("diagnostic %q lacks the class or the instruction", msg)
				}
				t.Log(msg)
			}
			if res := Verify(tt.good, opts); !res.Accepted {
				t.Fatalf("good twin rejected: %v", res.Diag)
			}
		})
	}
}

// TestRingbufDiscipline: a reserved sample must be submitted on every path.
func TestRingbufDiscipline(t *testing.T) {
	rb := &Map{Name: "rb", Type: ebpf.RingBuf, MaxEntries: 4096, SpinLockOff: -1}
	mk := func(submit bool) *Program {
		insns := []bpf.Insn{bpf.LdMapFD(bpf.R1, 0), bpf.Mov64Imm(bpf.R2, 8), bpf.Mov64Imm(bpf.R3, 0), bpf.Call(131),
			bpf.JeqImm(bpf.R0, 0, 4), bpf.StDW(bpf.R0, 0, 1), bpf.Mov64Reg(bpf.R1, bpf.R0), bpf.Mov64Imm(bpf.R2, 0), bpf.Call(132), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}
		if !submit {
			insns[8] = bpf.Mov64Imm(bpf.R0, 0) // no submit
		}
		p := prog(ebpf.Kprobe, insns...)
		p.Refs[0] = Ref{Map: rb, Target: -1}
		return p
	}
	if res := Verify(mk(true), nil); !res.Accepted {
		t.Fatalf("submit path rejected: %v", res.Diag)
	}
	res := Verify(mk(false), nil)
	if res.Accepted || res.Diag.Property != RefLock || res.Diag.Class() != Interface {
		t.Fatalf("leaked reference: got %v", res.Diag)
	}
}

// TestSummaries: per-instruction states carry the facts equiv needs.
func TestSummaries(t *testing.T) {
	p := prog(ebpf.XDP, bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.LdxW(bpf.R3, bpf.R1, 4), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Add64Imm(bpf.R4, 14),
		bpf.Mov64Imm(bpf.R0, 1), bpf.JgtReg(bpf.R4, bpf.R3, 2), bpf.LdxB(bpf.R5, bpf.R2, 13), bpf.And64Imm(bpf.R5, 0xf), bpf.Exit())
	res := Verify(p, &Options{Summaries: true})
	if !res.Accepted {
		t.Fatal(res.Diag)
	}
	b := res.Before[6] // the packet load after the check
	if b == nil || b.Regs[bpf.R2].Type != PtrPacket || b.Regs[bpf.R2].Range != 14 {
		t.Fatalf("before insn 6: r2 = %+v, want pkt with range 14", b)
	}
	a := res.After[7]
	if a == nil || a.Regs[bpf.R5].V.Umax != 15 {
		t.Fatalf("after insn 7: r5 = %v, want [0,15]", a.Regs[bpf.R5])
	}
}
