package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Decode splits b into instructions and validates them as the Linux 6.18
// verifier does before it looks at types: unknown opcodes, reserved fields
// that must be zero, register numbers above r10, writes to r10, constant
// division by zero, out-of-range constant shifts, and jumps that leave the
// program or land on the second slot of an ld_imm64.
//
// Pseudo-call and pseudo-func targets are not checked: in an object file
// they are often relocation placeholders that the loader resolves. Decode
// also accepts a program whose last instruction falls through; CFG reports
// that.
func Decode(b []byte, order binary.ByteOrder) ([]Insn, error) {
	insns, err := DecodeRaw(b, order)
	if err != nil {
		return nil, err
	}
	if err := Check(insns); err != nil {
		return nil, err
	}
	return insns, nil
}

// Check validates every instruction of insns and their jump targets, as
// Decode does. Errors are *DecodeError naming the slot.
func Check(insns []Insn) error {
	nslots := SlotCount(insns)
	// second[s] marks the second slot of an ld_imm64.
	var second []bool
	slot := 0
	for _, in := range insns {
		if reason := in.check(); reason != "" {
			return &DecodeError{Slot: slot, Reason: reason}
		}
		if in.IsLdImm64() {
			if second == nil {
				second = make([]bool, nslots)
			}
			second[slot+1] = true
		}
		slot += in.Slots()
	}
	slot = 0
	for _, in := range insns {
		if t, ok := in.JumpTarget(slot); ok {
			switch {
			case t < 0 || t >= nslots:
				return &DecodeError{Slot: slot, Reason: fmt.Sprintf("jump target %d is outside the program (%d slots)", t, nslots)}
			case second != nil && second[t]:
				return &DecodeError{Slot: slot, Reason: fmt.Sprintf("jump target %d is the second slot of an ld_imm64", t)}
			}
		}
		slot += in.Slots()
	}
	return nil
}

// Validate checks one instruction's opcode and fields against the table.
func (i Insn) Validate() error {
	if r := i.check(); r != "" {
		return errors.New(r)
	}
	return nil
}

var discField = [...]string{DiscOff: "off", DiscImm: "imm", DiscSrc: "src"}

// check returns why the instruction is invalid, or "".
func (i Insn) check() string {
	e := &codeIndex[i.Code]
	if e.disc == DiscNone && e.op == OpInvalid {
		return fmt.Sprintf("unknown opcode 0x%02x", i.Code)
	}
	op := i.Op()
	if op == OpInvalid {
		name := opTable[discRows[e.first]].Mnemonic
		var v int64
		switch e.disc {
		case DiscOff:
			v = int64(i.Off)
		case DiscImm:
			v = int64(i.Imm)
		case DiscSrc:
			v = int64(i.Src)
		}
		return fmt.Sprintf("opcode 0x%02x (%s) with %s %d is not an instruction", i.Code, name, discField[e.disc], v)
	}
	r := &opTable[op]
	if msg := checkReg("dst", i.Dst, r.DstF); msg != "" {
		return r.Mnemonic + ": " + msg
	}
	if msg := checkReg("src", i.Src, r.SrcF); msg != "" {
		return r.Mnemonic + ": " + msg
	}
	if r.OffF == FZero && i.Off != 0 {
		return fmt.Sprintf("%s: reserved off field is %d, want 0", r.Mnemonic, i.Off)
	}
	switch r.ImmF {
	case FZero:
		if i.Imm != 0 {
			return fmt.Sprintf("%s: reserved imm field is %d, want 0", r.Mnemonic, i.Imm)
		}
	case FShift:
		if i.Imm < 0 || i.Imm >= int32(r.Width) {
			return fmt.Sprintf("%s: invalid shift %d", r.Mnemonic, i.Imm)
		}
	case FNonZero:
		if i.Imm == 0 {
			return fmt.Sprintf("%s: division by zero", r.Mnemonic)
		}
	case FAddrAS:
		if i.Imm != 1 && i.Imm != 1<<16 {
			return fmt.Sprintf("addr_space_cast: imm 0x%x must convert between address spaces 0 and 1", i.Imm)
		}
	}
	if r.Imm2F == FZero && i.Imm2 != 0 {
		if i.IsLdImm64() {
			return fmt.Sprintf("%s: second slot imm is %d, want 0 for this pseudo source", r.Name, i.Imm2)
		}
		return fmt.Sprintf("%s: Imm2 is %d on a single-slot instruction", r.Mnemonic, i.Imm2)
	}
	return ""
}

func checkReg(name string, reg Reg, f Field) string {
	switch f {
	case FZero:
		if reg != 0 {
			return fmt.Sprintf("reserved %s field is %d, want 0", name, reg)
		}
	case FRegR, FRegW, FRegRW:
		if reg > R10 {
			return fmt.Sprintf("invalid %s register r%d", name, reg)
		}
		if reg == R10 && f != FRegR {
			return fmt.Sprintf("%s register r10 (frame pointer) is read-only", name)
		}
	}
	return ""
}
