package kernel

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Tests here need no kernel.

func TestRejectReasonParse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		log       string
		reason    string
		insn      int
		processed int
	}{
		{
			"trace with two message lines",
			"0: R1=ctx() R10=fp0\n0: (61) r1 = *(u32 *)(r1 +0)   ; R1=pkt(r=0)\n1: (61) r0 = *(u32 *)(r1 +0)\ninvalid access to packet, off=0 size=4\nR1 offset is outside of the packet\nverification time 34 usec\nstack depth 0\nprocessed 2 insns (limit 1000000) max_states_per_insn 0",
			"invalid access to packet, off=0 size=4: R1 offset is outside of the packet", 1, 2,
		},
		{
			"stats only",
			"R0 !read_ok\nprocessed 1 insns (limit 1000000) max_states_per_insn 0",
			"R0 !read_ok", -1, 1,
		},
		{
			"one message after trace",
			"5: (85) call bpf_map_lookup_elem#1\nR1 type=scalar expected=map_ptr\nprocessed 6 insns (limit 1000000)",
			"R1 type=scalar expected=map_ptr", 5, 6,
		},
		{"empty", "", "", -1, -1},
		{
			"source annotation is a message",
			"3: (b7) r0 = 0\n; return 0; @ x.c:3\nunreachable insn 4\n",
			"; return 0; @ x.c:3: unreachable insn 4", 3, -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, insn := rejectReason(logLines(tc.log))
			if reason != tc.reason || insn != tc.insn {
				t.Errorf("got (%q, %d), want (%q, %d)", reason, insn, tc.reason, tc.insn)
			}
			if p := parseProcessed(tc.log); p != tc.processed {
				t.Errorf("processed %d, want %d", p, tc.processed)
			}
		})
	}
}

// addrSpaceCast is r1 = addr_space_cast(r2, 0, 1): ALU64 MOV X, off=1,
// imm=1 (to address space 0 from 1 is encoded as imm = 1).
func addrSpaceCast() asm.Instruction {
	ins := asm.Mov.Reg(asm.R1, asm.R2)
	ins.Offset = 1
	ins.Constant = 1
	return ins
}

func TestEncodeKeepOffsets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns asm.Instructions
		raw   bool
	}{
		{"plain", asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}, false},
		{"sdiv and movsx keep cilium's encoding", asm.Instructions{
			asm.SDiv.Imm(asm.R0, 3), asm.MovSX16.Reg(asm.R1, asm.R2), asm.Return()}, false},
		{"addr_space_cast after ld_imm64", asm.Instructions{
			asm.LoadImm(asm.R3, 1<<40, asm.DWord), addrSpaceCast(), asm.Mov.Imm(asm.R0, 0), asm.Return()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsRaw(tc.insns); got != tc.raw {
				t.Fatalf("needsRaw = %v, want %v", got, tc.raw)
			}
			var want bytes.Buffer
			if err := tc.insns.Marshal(&want, nativeOrder); err != nil {
				t.Fatal(err)
			}
			got, err := encodeKeepOffsets(tc.insns)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.raw {
				if !bytes.Equal(got, want.Bytes()) {
					t.Errorf("encoding differs from cilium's without ALU offsets:\n%x\n%x", got, want.Bytes())
				}
				return
			}
			// The cast sits in slot 2 (after the two-slot ld_imm64).
			slot := got[2*8 : 3*8]
			if slot[0] != 0xbf || nativeOrder.Uint16(slot[2:]) != 1 || nativeOrder.Uint32(slot[4:]) != 1 {
				t.Errorf("addr_space_cast encoded as %x, want bf .. 0100 01000000", slot)
			}
			if !bytes.Equal(got[:16], want.Bytes()[:16]) || !bytes.Equal(got[24:], want.Bytes()[24:]) {
				t.Errorf("other slots changed:\n%x\n%x", got, want.Bytes())
			}
		})
	}
}

// TestArenaSpecDecodes checks the assumption the raw loader rests on: the
// ELF reader keeps off=1 on addr_space_cast.
func TestArenaSpecDecodes(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("testdata/arena.o")
	if err != nil {
		t.Fatal(err)
	}
	p := spec.Programs["arena_sum"]
	if p == nil {
		t.Fatal("no arena_sum")
	}
	casts := 0
	for _, ins := range p.Instructions {
		if ins.OpCode.ALUOp() == asm.Mov && ins.OpCode.Class() == asm.ALU64Class && ins.Offset == 1 {
			casts++
		}
	}
	if casts == 0 || !needsRaw(p.Instructions) {
		t.Errorf("found %d addr_space_cast, needsRaw=%v; want >0 and true", casts, needsRaw(p.Instructions))
	}
}

func TestProgName(t *testing.T) {
	for in, want := range map[string]string{
		"xdp_prog":                   "xdp_prog",
		"a-b/c":                      "abc",
		"a_very_long_program_name_x": "a_very_long_pro",
	} {
		if got := progName(in); got != want {
			t.Errorf("progName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsNative(t *testing.T) {
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	if isNative(binary.LittleEndian) != little || isNative(binary.BigEndian) == little || !isNative(nil) {
		t.Error("isNative disagrees with binary.NativeEndian")
	}
}
