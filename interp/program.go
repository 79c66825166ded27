package interp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sync"

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
	// initSafe: from slot 0 with r1 and r10 set, every instruction's
	// register reads are initialised on every path (staticInit), so a
	// whole-program run needs no init-bit bookkeeping.
	initSafe bool

	reachOnce sync.Once
	reach     []EdgeReach
	ctxRead   []bool
}

// branchReach is BranchReach(p), computed once.
func (p *Program) branchReach() []EdgeReach {
	p.reachOnce.Do(func() { p.reach, p.ctxRead = analyze(p) })
	return p.reach
}

// ctxBytesRead reports which context bytes the program may read.
func (p *Program) ctxBytesRead() []bool {
	p.branchReach()
	return p.ctxRead
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
	// for the fast loop (exec.go)
	fast   bool  // handled by the fast loop
	cond   bool  // conditional jump (coverage)
	jmp    bool  // conditional or unconditional jump
	sx     bool  // sign-extending load
	immSrc bool  // the source operand is imm
	srcReg bool  // store from a register
	step   uint8 // slots to the next instruction
	fk     uint8 // handler in threaded (threaded.go); 0 = not there
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
		c.step = uint8(in.Slots())
		c.cond = info.Flags&bpf.FlagCondJump != 0 && info.Kind != bpf.KindMayGoto
		c.jmp = c.cond || info.Kind == bpf.KindJa
		c.sx = info.Kind == bpf.KindLoadSX
		c.immSrc = info.ImmSrc
		c.srcReg = info.Kind == bpf.KindStore || info.Kind == bpf.KindStoreRelease
		switch {
		case info.Class == bpf.ClassALU || info.Class == bpf.ClassALU64:
			c.fast = info.Kind != bpf.KindAddrSpaceCast
		case c.cond, info.Kind == bpf.KindJa:
			c.fast = true
		case info.Kind == bpf.KindLdImm64:
			c.fast = info.Pseudo == bpf.PseudoNone
		case info.Kind == bpf.KindLoad, info.Kind == bpf.KindLoadSX, info.Kind == bpf.KindStoreImm,
			info.Kind == bpf.KindStore, info.Kind == bpf.KindLoadAcquire, info.Kind == bpf.KindStoreRelease:
			c.fast = true
		}
		if c.fast {
			c.fk = fastKind[op]
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
	p.initSafe = staticInit(p.code)
	return p, nil
}

// staticInit reports whether, from slot 0 with r1 and r10 initialised,
// every instruction's register reads are initialised on every path: a
// must-be-initialised forward dataflow over the slots. Programs with
// bpf-to-bpf calls or callbacks (frames save and kill registers) and
// helpers that leave r0 uninitialised are not analysed (false).
func staticInit(code []inst) bool {
	n := len(code)
	if n == 0 {
		return false
	}
	for _, c := range code {
		switch c.op {
		case bpf.OpCallLocal, bpf.OpLddwFunc:
			return false
		case bpf.OpCall:
			switch c.imm {
			case hTailCall, hRingbufSubmit, hRingbufDiscard, hLoop:
				return false
			}
		}
	}
	const top = 0xffff
	in := make([]uint16, n)
	for i := range in {
		in[i] = top
	}
	in[0] = 1<<bpf.R1 | 1<<bpf.R10
	reached := make([]bool, n)
	reached[0] = true
	work := []int{0}
	push := func(pc int, set uint16) {
		if pc < 0 || pc >= n {
			return
		}
		if !reached[pc] || in[pc]&set != in[pc] {
			in[pc] &= set
			reached[pc] = true
			work = append(work, pc)
		}
	}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		c := &code[pc]
		if c.op == opBadSlot {
			continue // a jump into an ld_imm64: the run faults there
		}
		out := in[pc]&^c.kill | c.gen
		info := c.op.Info()
		switch {
		case info.Kind == bpf.KindExit:
		case info.Kind == bpf.KindJa:
			push(int(c.tgt), out)
		case info.Flags&bpf.FlagCondJump != 0:
			push(pc+1, out)
			push(int(c.tgt), out)
		case info.Kind == bpf.KindLdImm64:
			push(pc+2, out)
		case info.Kind == bpf.KindLdAbs || info.Kind == bpf.KindLdInd:
			push(pc+1, out) // (or the program ends with r0 = 0)
		default:
			push(pc+1, out)
		}
	}
	for pc, c := range code {
		if reached[pc] && c.op != opBadSlot && c.reads&^in[pc] != 0 {
			return false
		}
	}
	return true
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
