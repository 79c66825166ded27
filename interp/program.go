package interp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/k2opt/k2opt/bpf"
)

// MapSpec describes one map a program refers to. In Program.Insns an
// ld_imm64 with src PseudoMapFD/PseudoMapIdx carries the map's index in
// Program.Maps as imm (src PseudoMapValue/PseudoMapIdxValue: index in imm,
// value offset in the second imm).
type MapSpec struct {
	Name       string
	Type       ebpf.MapType
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// Contents is the map's initial contents when Input.Maps gives none
	// (global data sections: .rodata, .data).
	Contents []KV
	// ReadOnly maps (.rodata, BPF_F_RDONLY_PROG) fault on program stores.
	ReadOnly bool
}

// KV is one map entry.
type KV struct {
	Key, Value []byte
}

// Program is a program ready to run: its instructions, type and maps, and
// the pre-decoded form the interpreter executes.
type Program struct {
	Name  string
	Type  ebpf.ProgramType
	Insns []bpf.Insn
	Maps  []MapSpec

	code []inst // one per slot; the second slot of an ld_imm64 is opBadSlot
}

// inst is the pre-decoded form of one instruction: everything the hot loop
// needs, read once from the opcode table.
type inst struct {
	op    bpf.Op
	dst   uint8
	src   uint8
	size  uint8
	off   int16
	reads uint16 // registers that must be initialised
	kill  uint16 // registers made uninitialised (call clobbers)
	gen   uint16 // registers initialised
	imm   int64  // sign-extended imm, the 64-bit immediate, or the helper id
	tgt   int32  // jump / call target slot
}

// opBadSlot marks the second slot of an ld_imm64 (never a valid op id).
const opBadSlot = bpf.NumOps

// NewProgram checks insns (bpf.Check) and pre-decodes them.
func NewProgram(name string, typ ebpf.ProgramType, insns []bpf.Insn, maps []MapSpec) (*Program, error) {
	if err := bpf.Check(insns); err != nil {
		return nil, fmt.Errorf("program %s: %w", name, err)
	}
	p := &Program{Name: name, Type: typ, Insns: insns, Maps: maps}
	slot := 0
	p.code = make([]inst, bpf.SlotCount(insns))
	for _, in := range insns {
		op := in.Op()
		info := op.Info()
		c := inst{op: op, dst: uint8(in.Dst), src: uint8(in.Src), off: in.Off, size: info.Size, imm: int64(in.Imm)}
		reads, writes := in.Reads(), in.Writes()
		switch info.Kind {
		case bpf.KindCall:
			reads = in.CallReads() // only the helper's arguments must be set
			c.kill = uint16(writes)
			writes = bpf.RegsOf(bpf.R0)
		case bpf.KindCallLocal:
			// the callee checks what it reads; r1-r5 are dead after return
			reads, writes = 0, 0
			c.tgt = int32(slot + 1 + int(in.Imm))
		case bpf.KindLdAbs, bpf.KindLdInd:
			c.kill = uint16(info.ImplicitWrites)
			writes = bpf.RegsOf(bpf.R0)
		case bpf.KindCallKfunc:
			reads, writes = 0, 0
		case bpf.KindLdImm64:
			c.imm = int64(in.Imm64())
			if info.Pseudo != bpf.PseudoNone && info.Pseudo != bpf.PseudoFunc {
				if int(in.Imm) < 0 || int(in.Imm) >= len(maps) {
					return nil, fmt.Errorf("program %s: insn %d (%s): map index %d out of range (%d maps)", name, slot, in, in.Imm, len(maps))
				}
			}
			if info.Pseudo == bpf.PseudoFunc {
				c.tgt = int32(slot + 1 + int(in.Imm))
			}
		}
		if t, ok := in.JumpTarget(slot); ok {
			c.tgt = int32(t)
		}
		// r10 is always initialised; never let it count as a read hazard.
		c.reads = uint16(reads) &^ (1 << bpf.R10)
		c.gen = uint16(writes)
		p.code[slot] = c
		if in.IsLdImm64() {
			p.code[slot+1] = inst{op: opBadSlot}
		}
		slot += in.Slots()
	}
	return p, nil
}

// Slots is the program length in slots.
func (p *Program) Slots() int { return len(p.code) }

// FromSpec builds the named program of a cilium/ebpf collection spec: the
// program with its bpf-to-bpf callees (cilium/ebpf flattens them), with
// map references turned into indices into Program.Maps.
func FromSpec(spec *ebpf.CollectionSpec, prog string) (*Program, error) {
	ps := spec.Programs[prog]
	if ps == nil {
		return nil, fmt.Errorf("no program %s", prog)
	}
	insns := slicesClone(ps.Instructions)
	var maps []MapSpec
	index := map[string]int{}
	for i := range insns {
		ins := &insns[i]
		if !ins.IsLoadFromMap() {
			continue
		}
		name := ins.Reference()
		if name == "" {
			return nil, fmt.Errorf("program %s: insn %d: map load without a map reference", prog, i)
		}
		k, ok := index[name]
		if !ok {
			ms := spec.Maps[name]
			if ms == nil {
				return nil, fmt.Errorf("program %s: insn %d: unknown map %s", prog, i, name)
			}
			k = len(maps)
			index[name] = k
			maps = append(maps, mapSpecOf(ms, spec.ByteOrder))
		}
		off := uint64(ins.Constant) & (math.MaxUint32 << 32)
		ins.Constant = int64(off | uint64(k))
	}
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, spec.ByteOrder); err != nil {
		return nil, fmt.Errorf("program %s: %w", prog, err)
	}
	raw, err := bpf.DecodeRaw(buf.Bytes(), spec.ByteOrder)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", prog, err)
	}
	return NewProgram(prog, ps.Type, raw, maps)
}

func slicesClone(insns asm.Instructions) asm.Instructions {
	out := make(asm.Instructions, len(insns))
	copy(out, insns)
	return out
}

func mapSpecOf(ms *ebpf.MapSpec, bo binary.ByteOrder) MapSpec {
	s := MapSpec{Name: ms.Name, Type: ms.Type, KeySize: ms.KeySize, ValueSize: ms.ValueSize, MaxEntries: ms.MaxEntries, Flags: ms.Flags}
	const rdonlyProg = 1 << 7 // BPF_F_RDONLY_PROG
	s.ReadOnly = ms.Flags&rdonlyProg != 0
	for _, kv := range ms.Contents {
		key, kok := kv.Key.(uint32)
		val, vok := kv.Value.([]byte)
		if !kok || !vok {
			continue
		}
		kb := make([]byte, 4)
		bo.PutUint32(kb, key)
		s.Contents = append(s.Contents, KV{Key: kb, Value: append([]byte(nil), val...)})
	}
	return s
}
