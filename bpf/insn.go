package bpf

import (
	"encoding/binary"
	"fmt"
)

// InsnSize is the size in bytes of one instruction slot.
const InsnSize = 8

// Reg is a BPF register number. R10 is the read-only frame pointer.
type Reg uint8

// The eleven registers of the BPF machine.
const (
	R0 Reg = iota
	R1
	R2
	R3
	R4
	R5
	R6
	R7
	R8
	R9
	R10
	// NumRegs is the number of architectural registers.
	NumRegs = 11
)

func (r Reg) String() string { return fmt.Sprintf("r%d", uint8(r)) }

// Insn is one logical BPF instruction exactly as it was encoded: the raw opcode
// byte and fields, so that decoding then encoding reproduces the input bytes.
// An ld_imm64 (Code == 0x18) is one Insn covering two slots; Imm holds the
// first slot's imm and Imm2 the second's. Semantics are read through the opcode
// table (see op.go), never from raw bits scattered through the code base.
type Insn struct {
	Code uint8
	Dst  Reg
	Src  Reg
	Off  int16
	Imm  int32
	Imm2 int32 // second slot imm of an ld_imm64; zero otherwise
}

// OpLdImm64 is the opcode byte of the two-slot ld_imm64 instruction.
const OpLdImm64 = 0x18

// IsLdImm64 reports whether the instruction occupies two slots.
func (i Insn) IsLdImm64() bool { return i.Code == OpLdImm64 }

// Slots is the number of 8-byte slots the instruction occupies (1 or 2).
func (i Insn) Slots() int {
	if i.IsLdImm64() {
		return 2
	}
	return 1
}

// Imm64 is the 64-bit immediate of an ld_imm64 (Imm low, Imm2 high).
func (i Insn) Imm64() uint64 { return uint64(uint32(i.Imm)) | uint64(uint32(i.Imm2))<<32 }

// SetImm64 stores v into Imm (low 32 bits) and Imm2 (high 32 bits).
func (i *Insn) SetImm64(v uint64) { i.Imm, i.Imm2 = int32(uint32(v)), int32(uint32(v>>32)) }

// SlotCount is the total number of slots taken by insns.
func SlotCount(insns []Insn) int {
	n := 0
	for _, in := range insns {
		n += in.Slots()
	}
	return n
}

// SlotOffsets returns, for each instruction, its slot index; the extra last
// element is the total slot count.
func SlotOffsets(insns []Insn) []int {
	offs := make([]int, len(insns)+1)
	n := 0
	for k, in := range insns {
		offs[k] = n
		n += in.Slots()
	}
	offs[len(insns)] = n
	return offs
}

// DecodeError reports an instruction stream that cannot be decoded. Slot is
// the index of the offending 8-byte slot.
type DecodeError struct {
	Slot   int
	Reason string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("insn %d: %s", e.Slot, e.Reason) }

// DecodeRaw splits b into instructions without validating opcodes: it only
// checks the length and the ld_imm64 pairing. Use Decode for validation.
func DecodeRaw(b []byte, order binary.ByteOrder) ([]Insn, error) {
	if len(b)%InsnSize != 0 {
		return nil, &DecodeError{Slot: len(b) / InsnSize, Reason: fmt.Sprintf("length %d is not a multiple of %d", len(b), InsnSize)}
	}
	n := len(b) / InsnSize
	insns := make([]Insn, 0, n)
	for s := 0; s < n; s++ {
		in := decodeSlot(b[s*InsnSize:], order)
		if in.IsLdImm64() {
			if s+1 >= n {
				return nil, &DecodeError{Slot: s, Reason: "ld_imm64 is missing its second slot"}
			}
			second := decodeSlot(b[(s+1)*InsnSize:], order)
			if second.Code != 0 || second.Dst != 0 || second.Src != 0 || second.Off != 0 {
				return nil, &DecodeError{Slot: s + 1, Reason: "ld_imm64 second slot has non-zero code, registers or offset"}
			}
			in.Imm2 = second.Imm
			s++
		}
		insns = append(insns, in)
	}
	return insns, nil
}

func decodeSlot(b []byte, order binary.ByteOrder) Insn {
	regs := b[1]
	var dst, src Reg
	if order == binary.BigEndian {
		dst, src = Reg(regs>>4), Reg(regs&0xf)
	} else {
		dst, src = Reg(regs&0xf), Reg(regs>>4)
	}
	return Insn{
		Code: b[0],
		Dst:  dst,
		Src:  src,
		Off:  int16(order.Uint16(b[2:])),
		Imm:  int32(order.Uint32(b[4:])),
	}
}

// AppendEncode appends the byte encoding of insns to b.
func AppendEncode(b []byte, insns []Insn, order binary.ByteOrder) []byte {
	for _, in := range insns {
		b = appendSlot(b, in.Code, in.Dst, in.Src, in.Off, in.Imm, order)
		if in.IsLdImm64() {
			b = appendSlot(b, 0, 0, 0, 0, in.Imm2, order)
		}
	}
	return b
}

// Encode returns the byte encoding of insns.
func Encode(insns []Insn, order binary.ByteOrder) []byte {
	return AppendEncode(make([]byte, 0, SlotCount(insns)*InsnSize), insns, order)
}

func appendSlot(b []byte, code uint8, dst, src Reg, off int16, imm int32, order binary.ByteOrder) []byte {
	var regs byte
	if order == binary.BigEndian {
		regs = byte(dst&0xf)<<4 | byte(src&0xf)
	} else {
		regs = byte(src&0xf)<<4 | byte(dst&0xf)
	}
	var slot [InsnSize]byte
	slot[0], slot[1] = code, regs
	order.PutUint16(slot[2:], uint16(off))
	order.PutUint32(slot[4:], uint32(imm))
	return append(b, slot[:]...)
}
