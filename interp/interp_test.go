package interp

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// unsupportedOps are the ops the interpreter reports as FaultUnsupported.
var unsupportedOps = map[bpf.Op]bool{bpf.OpCallKfunc: true, bpf.OpAddrSpaceCast: true, bpf.OpLddwBTFID: true}

// TestEveryOp walks the opcode table: every op either executes or faults
// with FaultUnsupported, never silently.
func TestEveryOp(t *testing.T) {
	maps := []MapSpec{{Name: "arr", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4}}
	var stack [StackSize]byte
	var sinit [StackSize]bool
	for i := range sinit {
		sinit[i] = true
	}
	for _, op := range bpf.Ops() {
		info := op.Info()
		in := bpf.New(op, bpf.R1, bpf.R2, 0, 4)
		switch {
		case info.Kind == bpf.KindCall:
			in.Imm = 5 // bpf_ktime_get_ns
		case info.Kind == bpf.KindLe || info.Kind == bpf.KindBe || info.Kind == bpf.KindBswap:
			in.Imm = int32(info.Width)
		case info.Kind == bpf.KindAddrSpaceCast:
			in.Imm = 1
		case info.Kind == bpf.KindLdImm64 || op == bpf.OpGotol:
			in.Imm = 0
		}
		if info.Class == bpf.ClassLD && info.Kind != bpf.KindLdImm64 {
			in.Imm = 0
		}
		insns := []bpf.Insn{in, bpf.Exit()}
		p, err := NewProgram(op.String(), ebpf.SchedCLS, insns, maps)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		m := NewMachine(p, nil)
		var w Input
		w.Packet = make([]byte, 64)
		w.Stack, w.StackInit = &stack, &sinit
		for r := bpf.R0; r <= bpf.R9; r++ {
			w.Regs[r] = m.Pointer(RegionStack, 256)
		}
		w.Regs[bpf.R6] = m.Pointer(RegionCtx, 0)
		w.RegInit = bpf.AllRegs
		out := m.RunWindow(&w, 0, 1)
		switch {
		case unsupportedOps[op]:
			if out.Fault.Kind != FaultUnsupported {
				t.Errorf("%s: want FaultUnsupported, got %v", op, out.Fault)
			}
		case out.Fault.Kind == FaultUnsupported || out.Fault.Kind == FaultBadJump:
			t.Errorf("%s (%s): not implemented: %v", op, in, out.Fault)
		}
	}
}

func run(t *testing.T, typ ebpf.ProgramType, insns []bpf.Insn, maps []MapSpec, in *Input) Output {
	t.Helper()
	p, err := NewProgram("t", typ, insns, maps)
	if err != nil {
		t.Fatal(err)
	}
	if in == nil {
		in = &Input{}
	}
	return NewMachine(p, &Options{StepBudget: 10000}).Run(in)
}

// TestFaults: every fault kind is reported with the faulting slot.
func TestFaults(t *testing.T) {
	arr := []MapSpec{{Name: "arr", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2}}
	ro := []MapSpec{{Name: ".rodata", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1, ReadOnly: true}}
	tests := []struct {
		name  string
		typ   ebpf.ProgramType
		maps  []MapSpec
		insns []bpf.Insn
		want  FaultKind
		pc    int
	}{
		{"uninit reg", ebpf.XDP, nil, []bpf.Insn{bpf.Mov64Reg(bpf.R0, bpf.R5), bpf.Exit()}, FaultUninitReg, 0},
		{"uninit r0 at exit", ebpf.XDP, nil, []bpf.Insn{bpf.Exit()}, FaultUninitReg, 0},
		{"uninit stack", ebpf.XDP, nil, []bpf.Insn{bpf.StW(bpf.R10, -8, 1), bpf.LdxDW(bpf.R0, bpf.R10, -8), bpf.Exit()}, FaultUninitStack, 1},
		{"stack below frame", ebpf.XDP, nil, []bpf.Insn{bpf.StDW(bpf.R10, -520, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, FaultOutOfBounds, 0},
		{"stack above frame", ebpf.XDP, nil, []bpf.Insn{bpf.StB(bpf.R10, 0, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, FaultOutOfBounds, 0},
		{"scalar deref", ebpf.XDP, nil, []bpf.Insn{bpf.Mov64Imm(bpf.R2, 4096), bpf.LdxW(bpf.R0, bpf.R2, 0), bpf.Exit()}, FaultBadAddress, 1},
		{"packet past end", ebpf.XDP, nil, []bpf.Insn{bpf.LdxW(bpf.R2, bpf.R1, 4), bpf.LdxB(bpf.R0, bpf.R2, 0), bpf.Exit()}, FaultOutOfBounds, 1},
		{"xdp ctx write", ebpf.XDP, nil, []bpf.Insn{bpf.StW(bpf.R1, 12, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, FaultCtxAccess, 0},
		{"ctx past end", ebpf.XDP, nil, []bpf.Insn{bpf.LdxW(bpf.R0, bpf.R1, 24), bpf.Exit()}, FaultCtxAccess, 0},
		{"partial ctx pointer", ebpf.XDP, nil, []bpf.Insn{bpf.LdxH(bpf.R0, bpf.R1, 0), bpf.Exit()}, FaultCtxAccess, 0},
		{"rodata write", ebpf.XDP, ro, []bpf.Insn{bpf.LdMapValue(bpf.R2, 0, 0), bpf.StB(bpf.R2, 0, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, FaultReadOnly, 2},
		{"map value past end", ebpf.XDP, arr, []bpf.Insn{bpf.LdMapValue(bpf.R2, 0, 0), bpf.LdxW(bpf.R0, bpf.R2, 6), bpf.Exit()}, FaultOutOfBounds, 2},
		{"map handle deref", ebpf.XDP, arr, []bpf.Insn{bpf.LdMapFD(bpf.R2, 0), bpf.LdxW(bpf.R0, bpf.R2, 0), bpf.Exit()}, FaultBadAddress, 2},
		{"helper without model", ebpf.XDP, nil, []bpf.Insn{bpf.Call(35), bpf.Exit()}, FaultUnsupported, 0},
		{"lookup on non-map", ebpf.XDP, nil, []bpf.Insn{bpf.Mov64Reg(bpf.R1, bpf.R10), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Call(1), bpf.Exit()}, FaultHelperArg, 2},
		{"infinite loop", ebpf.XDP, nil, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Ja(-1), bpf.Exit()}, FaultStepBudget, 1},
		{"fall off the end", ebpf.XDP, nil, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0)}, FaultBadJump, 1},
		{"kfunc", ebpf.XDP, nil, []bpf.Insn{bpf.CallKfunc(1, 0), bpf.Exit()}, FaultUnsupported, 0},
		{"r1 dead after call", ebpf.XDP, nil, []bpf.Insn{bpf.Call(5), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit()}, FaultUninitReg, 1},
		{"recursion depth", ebpf.XDP, nil, []bpf.Insn{bpf.CallLocal(-1), bpf.Exit()}, FaultCallDepth, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.typ, tc.insns, tc.maps, &Input{Packet: make([]byte, 20)})
			if out.Fault.Kind != tc.want || out.Fault.PC != tc.pc {
				t.Errorf("got %v, want %v at insn %d", out.Fault, tc.want, tc.pc)
			}
		})
	}
}

// TestDivisionSemantics pins BPF's defined division results (no faults).
func TestDivisionSemantics(t *testing.T) {
	const min64 = 1 << 63
	tests := []struct {
		name     string
		insn     bpf.Insn
		dst, src uint64
		want     uint64
	}{
		{"udiv64 by 0", bpf.Div64Reg(bpf.R0, bpf.R1), 7, 0, 0},
		{"umod64 by 0", bpf.Mod64Reg(bpf.R0, bpf.R1), 7, 0, 7},
		{"udiv32 by 0", bpf.Div32Reg(bpf.R0, bpf.R1), 0xffffffff00000007, 0xffffffff00000000, 0},
		{"umod32 by 0 truncates", bpf.Mod32Reg(bpf.R0, bpf.R1), 0xffffffff00000007, 0xffffffff00000000, 7},
		{"sdiv64 MIN/-1", bpf.SDiv64Reg(bpf.R0, bpf.R1), min64, ^uint64(0), min64},
		{"smod64 MIN%-1", bpf.SMod64Reg(bpf.R0, bpf.R1), min64, ^uint64(0), 0},
		{"sdiv32 MIN/-1", bpf.SDiv32Reg(bpf.R0, bpf.R1), 0x80000000, 0xffffffff, 0x80000000},
		{"smod32 -7%2", bpf.SMod32Reg(bpf.R0, bpf.R1), 0xfffffff9, 2, 0xffffffff},
		{"smod64 by 0", bpf.SMod64Reg(bpf.R0, bpf.R1), min64, 0, min64},
		{"lsh64 masks count", bpf.Lsh64Reg(bpf.R0, bpf.R1), 1, 65, 2},
		{"arsh32 masks count, zero-extends", bpf.Arsh32Reg(bpf.R0, bpf.R1), 0x80000000, 33, 0xc0000000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProgram("div", ebpf.XDP, []bpf.Insn{tc.insn, bpf.Exit()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := NewMachine(p, nil)
			in := Input{RegInit: bpf.RegsOf(bpf.R0, bpf.R1)}
			in.Regs[0], in.Regs[1] = tc.dst, tc.src
			out := m.RunWindow(&in, 0, 2)
			if !out.Fault.Ok() || out.R0 != tc.want {
				t.Errorf("%s: got %#x (%v), want %#x", tc.insn, out.R0, out.Fault, tc.want)
			}
		})
	}
}

// TestMapsAndCalls: lookups hit and miss, updates persist within a run and
// are undone between runs, bpf-to-bpf calls keep r6-r9.
func TestMapsAndCalls(t *testing.T) {
	maps := []MapSpec{{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16}}
	// r0 = h[1] ? *h[1] + 1 : 99; h[1] = r0
	insns := []bpf.Insn{
		bpf.StW(bpf.R10, -4, 1),
		bpf.LdMapFD(bpf.R1, 0),
		bpf.Mov64Reg(bpf.R2, bpf.R10),
		bpf.Add64Imm(bpf.R2, -4),
		bpf.Call(1),
		bpf.JeqImm(bpf.R0, 0, 3),
		bpf.LdxDW(bpf.R0, bpf.R0, 0),
		bpf.Add64Imm(bpf.R0, 1),
		bpf.Ja(1),
		bpf.Mov64Imm(bpf.R0, 99),
		bpf.StxDW(bpf.R10, bpf.R0, -16),
		bpf.Mov64Reg(bpf.R6, bpf.R0),
		bpf.LdMapFD(bpf.R1, 0),
		bpf.Mov64Reg(bpf.R2, bpf.R10),
		bpf.Add64Imm(bpf.R2, -4),
		bpf.Mov64Reg(bpf.R3, bpf.R10),
		bpf.Add64Imm(bpf.R3, -16),
		bpf.Mov64Imm(bpf.R4, 0),
		bpf.Call(2),
		bpf.Mov64Reg(bpf.R0, bpf.R6),
		bpf.Exit(),
	}
	p, err := NewProgram("maps", ebpf.XDP, insns, maps)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMachine(p, nil)
	key := []byte{1, 0, 0, 0}
	val := binary.LittleEndian.AppendUint64(nil, 41)
	hit := &Input{Packet: make([]byte, 14), Maps: [][]KV{{{Key: key, Value: val}}}}
	miss := &Input{Packet: make([]byte, 14)}
	for round := range 3 {
		if out := m.Run(hit); !out.Fault.Ok() || out.R0 != 42 {
			t.Fatalf("round %d hit: r0 %d %v", round, out.R0, out.Fault)
		}
		if c := m.Contents(0); len(c) != 1 || binary.LittleEndian.Uint64(c[0].Value) != 42 {
			t.Fatalf("round %d: map after hit %v", round, c)
		}
		if out := m.Run(miss); !out.Fault.Ok() || out.R0 != 99 {
			t.Fatalf("round %d miss: r0 %d %v", round, out.R0, out.Fault)
		}
	}
}
