package bpf

import (
	"testing"
)

func TestTableConsistent(t *testing.T) {
	for op := Op(1); op < NumOps; op++ {
		r := op.Info()
		if r.Name == "" || r.Mnemonic == "" || r.Kind == KindInvalid {
			t.Errorf("op %d: incomplete row %+v", op, r)
			continue
		}
		if ClassOf(r.Code) != r.Class {
			t.Errorf("%s: code 0x%02x has class %s, row says %s", r.Name, r.Code, ClassOf(r.Code), r.Class)
		}
		if r.CPU < 1 || r.CPU > 4 {
			t.Errorf("%s: cpu %d", r.Name, r.CPU)
		}
		for _, in := range samples(op) {
			if got := in.Op(); got != op {
				t.Errorf("%s: sample %+v decodes as %s", r.Name, in, got)
			}
			if err := in.Validate(); err != nil {
				t.Errorf("%s: sample %+v: %v", r.Name, in, err)
			}
		}
	}
}

func TestOpOfKnownEncodings(t *testing.T) {
	tests := []struct {
		name string
		in   Insn
		want Op
	}{
		{"sdiv is div with off 1", Insn{Code: 0x3f, Off: 1}, OpSDiv64Reg},
		{"div", Insn{Code: 0x3f}, OpDiv64Reg},
		{"smod32 imm", Insn{Code: 0x94, Off: 1, Imm: 3}, OpSMod32Imm},
		{"div off 2 is nothing", Insn{Code: 0x3f, Off: 2}, OpInvalid},
		{"movsx8", Insn{Code: 0xbf, Off: 8}, OpMovSX64B},
		{"movsx32", Insn{Code: 0xbf, Off: 32}, OpMovSX64W},
		{"alu32 movsx32 does not exist", Insn{Code: 0xbc, Off: 32}, OpInvalid},
		{"addr_space_cast", Insn{Code: 0xbf, Off: 1, Imm: 1}, OpAddrSpaceCast},
		{"bswap16", Insn{Code: 0xd7, Imm: 16}, OpBswap16},
		{"be64", Insn{Code: 0xdc, Imm: 64}, OpBe64},
		{"le with imm 8", Insn{Code: 0xd4, Imm: 8}, OpInvalid},
		{"bswap with X bit", Insn{Code: 0xdf, Imm: 16}, OpInvalid},
		{"gotol", Insn{Code: 0x06, Imm: 100}, OpGotol},
		{"may_goto", Insn{Code: 0xe5, Off: 3}, OpMayGoto},
		{"jmp32 call does not exist", Insn{Code: 0x86}, OpInvalid},
		{"helper call", Insn{Code: 0x85, Imm: 1}, OpCall},
		{"pseudo call", Insn{Code: 0x85, Src: 1, Imm: 3}, OpCallLocal},
		{"kfunc call", Insn{Code: 0x85, Src: 2, Imm: 3}, OpCallKfunc},
		{"call src 3", Insn{Code: 0x85, Src: 3}, OpInvalid},
		{"lddw map value", Insn{Code: 0x18, Src: 2}, OpLddwMapValue},
		{"lddw map idx value", Insn{Code: 0x18, Src: 6}, OpLddwMapIdxValue},
		{"lddw src 7", Insn{Code: 0x18, Src: 7}, OpInvalid},
		{"ldxsb", Insn{Code: 0x91}, OpLdxSB},
		{"ldxsdw does not exist", Insn{Code: 0x99}, OpInvalid},
		{"atomic fetch or", Insn{Code: 0xdb, Imm: 0x41}, OpAtomicFetchOrDW},
		{"xchg32", Insn{Code: 0xc3, Imm: 0xe1}, OpAtomicXchgW},
		{"cmpxchg64", Insn{Code: 0xdb, Imm: 0xf1}, OpAtomicCmpxchgDW},
		{"xchg without fetch bit", Insn{Code: 0xdb, Imm: 0xe0}, OpInvalid},
		{"load acquire u8", Insn{Code: 0xd3, Imm: 0x100}, OpLoadAcqB},
		{"store release u64", Insn{Code: 0xdb, Imm: 0x110}, OpStoreRelDW},
		{"atomic add on u8", Insn{Code: 0xd3, Imm: 0}, OpInvalid},
		{"neg with X bit", Insn{Code: 0x8f}, OpInvalid},
		{"ld abs dw", Insn{Code: 0x38}, OpInvalid},
		{"ld ind b", Insn{Code: 0x50}, OpLdIndB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Op(); got != tt.want {
				t.Errorf("Op(%+v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadsWrites(t *testing.T) {
	tests := []struct {
		in            Insn
		reads, writes RegSet
	}{
		{Add64Reg(R1, R2), RegsOf(R1, R2), RegsOf(R1)},
		{Mov64Reg(R1, R2), RegsOf(R2), RegsOf(R1)},
		{Mov32Imm(R3, 1), 0, RegsOf(R3)},
		{Neg64(R4), RegsOf(R4), RegsOf(R4)},
		{Be(R4, 16), RegsOf(R4), RegsOf(R4)},
		{LdxW(R0, R1, 4), RegsOf(R1), RegsOf(R0)},
		{StxDW(R10, R1, -8), RegsOf(R10, R1), 0},
		{StW(R10, -8, 1), RegsOf(R10), 0},
		{JeqImm(R1, 0, 1), RegsOf(R1), 0},
		{JgtReg(R1, R2, 1), RegsOf(R1, R2), 0},
		{Ja(1), 0, 0},
		{MayGoto(1), 0, 0},
		{Exit(), RegsOf(R0), 0},
		{Call(5), RegsOf(R1, R2, R3, R4, R5), RegsOf(R0, R1, R2, R3, R4, R5)},
		{LdImm64(R2, 7), 0, RegsOf(R2)},
		{LdAbsB(3), RegsOf(R6), RegsOf(R0, R1, R2, R3, R4, R5)},
		{LdIndW(R7, 3), RegsOf(R6, R7), RegsOf(R0, R1, R2, R3, R4, R5)},
		{Atomic(OpAtomicAddDW, R1, R2, 0), RegsOf(R1, R2), 0},
		{Atomic(OpAtomicFetchAddDW, R1, R2, 0), RegsOf(R1, R2), RegsOf(R2)},
		{Atomic(OpAtomicXchgW, R1, R2, 0), RegsOf(R1, R2), RegsOf(R2)},
		{Atomic(OpAtomicCmpxchgDW, R1, R2, 0), RegsOf(R0, R1, R2), RegsOf(R0)},
		{Atomic(OpLoadAcqW, R3, R1, 0), RegsOf(R1), RegsOf(R3)},
		{Atomic(OpStoreRelB, R1, R2, 0), RegsOf(R1, R2), 0},
		{Insn{Code: 0xff}, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.in.Reads(); got != tt.reads {
			t.Errorf("%v: Reads = %v, want %v", tt.in, got, tt.reads)
		}
		if got := tt.in.Writes(); got != tt.writes {
			t.Errorf("%v: Writes = %v, want %v", tt.in, got, tt.writes)
		}
	}
}

func TestCallReadsUsesHelperArity(t *testing.T) {
	tests := []struct {
		id   int32
		want RegSet
	}{
		{1, RegsOf(R1, R2)},                  // bpf_map_lookup_elem(map, key)
		{2, RegsOf(R1, R2, R3, R4)},          // bpf_map_update_elem(map, key, value, flags)
		{5, 0},                               // bpf_ktime_get_ns(void)
		{6, RegsOf(R1, R2, R3, R4, R5)},      // bpf_trace_printk(fmt, size, ...)
		{100000, RegsOf(R1, R2, R3, R4, R5)}, // unknown: assume all five
	}
	for _, tt := range tests {
		if got := Call(tt.id).CallReads(); got != tt.want {
			t.Errorf("call %d: CallReads = %v, want %v", tt.id, got, tt.want)
		}
	}
	if HelperName(1) != "bpf_map_lookup_elem" {
		t.Errorf("HelperName(1) = %q", HelperName(1))
	}
}

func TestEdgeSemanticsFields(t *testing.T) {
	if r := OpDiv64Reg.Info(); r.ZeroDiv != ZeroIsZero {
		t.Errorf("div: ZeroDiv = %d", r.ZeroDiv)
	}
	if r := OpMod32Imm.Info(); r.ZeroDiv != ZeroKeepDst {
		t.Errorf("mod32: ZeroDiv = %d", r.ZeroDiv)
	}
	if r := OpLsh32Reg.Info(); r.ShiftMask != 31 {
		t.Errorf("lsh32: ShiftMask = %d", r.ShiftMask)
	}
	if r := OpArsh64Imm.Info(); r.ShiftMask != 63 || !r.Has(FlagSigned) {
		t.Errorf("arsh64: %+v", r)
	}
	if !OpAdd64Reg.Info().Has(FlagCommutative) || OpSub64Reg.Info().Has(FlagCommutative) {
		t.Error("commutativity of add/sub wrong")
	}
}
