package smt

import (
	"errors"
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

// xdpCtx is XDP's context as equiv gives it: data, data_end, data_meta.
var xdpCtx = &CtxLayout{Size: 24, ReadOnly: true,
	Ptrs: []CtxField{{Off: 0, Kind: CtxData}, {Off: 4, Kind: CtxDataEnd}, {Off: 8, Kind: CtxDataMeta}}}

// Loads of context pointer fields: a partial read faults (as in interp,
// sign-extending or not), a whole read is a packet pointer, and ldxsw of
// a whole field (interp sign-extends the tagged pointer) is unsupported.
// Map helpers on a NoLookup map (LPM trie) are unsupported.
func TestEncodeLoadsAndLookups(t *testing.T) {
	cases := []struct {
		name        string
		insns       []bpf.Insn
		maps        []MapInfo
		fault       Result // Unsat: never faults; Sat: may fault (prove(Not(Fault)))
		kind        Kind   // r7's kind when it does not fault
		unsupported bool
	}{
		{name: "ldxw data", insns: []bpf.Insn{bpf.LdxW(bpf.R7, bpf.R1, 0)}, fault: Unsat, kind: PtrPacket},
		{name: "ldxw data_end", insns: []bpf.Insn{bpf.LdxW(bpf.R7, bpf.R1, 4)}, fault: Unsat, kind: PtrPacket},
		{name: "ldxh data", insns: []bpf.Insn{bpf.LdxH(bpf.R7, bpf.R1, 0)}, fault: Sat},
		{name: "ldxsh data", insns: []bpf.Insn{bpf.LdxSH(bpf.R7, bpf.R1, 0)}, fault: Sat},
		{name: "ldxsb inside data_end", insns: []bpf.Insn{bpf.LdxSB(bpf.R7, bpf.R1, 5)}, fault: Sat},
		{name: "ldxsh straddling data/data_end", insns: []bpf.Insn{bpf.LdxSH(bpf.R7, bpf.R1, 3)}, fault: Sat},
		{name: "ldxsw data", insns: []bpf.Insn{bpf.LdxSW(bpf.R7, bpf.R1, 0)}, unsupported: true},
		{name: "ldxdw data", insns: []bpf.Insn{bpf.LdxDW(bpf.R7, bpf.R1, 0)}, fault: Sat},
		{name: "ldxsh past the fields", insns: []bpf.Insn{bpf.LdxSH(bpf.R7, bpf.R1, 12)}, fault: Unsat, kind: Scalar},
		{name: "lookup in an LPM trie", maps: []MapInfo{{KeySize: 8, ValueSize: 8, MaxEntries: 4, NoLookup: true}},
			insns: []bpf.Insn{bpf.StDW(bpf.R10, -8, 0), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -8),
				bpf.LdMapFD(bpf.R1, 0), bpf.Call(1), bpf.Mov64Reg(bpf.R7, bpf.R0)}, unsupported: true},
		{name: "lookup in a hash map", maps: []MapInfo{{KeySize: 8, ValueSize: 8, MaxEntries: 4}},
			insns: []bpf.Insn{bpf.StDW(bpf.R10, -8, 0), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -8),
				bpf.LdMapFD(bpf.R1, 0), bpf.Call(1), bpf.Mov64Reg(bpf.R7, bpf.R0)}, fault: Unsat, kind: PtrMapVal},
	}
	c, s := newCS(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := c.Scope()
			defer sc.Release()
			e := NewEncoder(c, &Config{StackInit: true, Ctx: xdpCtx, Maps: tc.maps})
			var in [bpf.NumRegs]Val
			for r := range in {
				in[r] = e.Uninit()
			}
			in[bpf.R1] = e.ConstPtr(PtrCtx, 0)
			in[bpf.R10] = e.ConstPtr(PtrStack, 0)
			f, err := e.Run(tc.insns, in, "a")
			var u *Unsupported
			if tc.unsupported {
				if !errors.As(err, &u) {
					t.Fatalf("err %v, want Unsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.Push()
			s.Assert(e.Assume...)
			got := prove(t, c, s, c.Not(f.Fault))
			s.Pop(1)
			if got != tc.fault {
				t.Fatalf("fault check %v, want %v", got, tc.fault)
			}
			if tc.fault == Unsat && f.Regs[bpf.R7].Kind != tc.kind {
				t.Fatalf("r7 kind %s, want %s", f.Regs[bpf.R7].Kind, tc.kind)
			}
		})
	}
}
