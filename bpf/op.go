package bpf

// The opcode table. Every instruction Linux 6.18 accepts (cpu v1-v4) is one
// row of opTable below, keyed by a dense semantic Op id. A row says which
// encoding selects it (the code byte, plus off, imm or src where those
// discriminate: sdiv is div with off 1, movsx is mov with off 8/16/32, the
// atomic operations are told apart by imm), what each field means, which
// registers it reads and writes, and the edge semantics the interpreter and
// the SMT encoder must agree on.
//
// Opcode byte layout (instruction-set.rst):
//
//	ALU/JMP:  +----------------+--------+--------------------+
//	          |   4 bits op    | 1 src  |  3 bits class      |
//	          +----------------+--------+--------------------+
//	LD/ST:    +--------+-------+--------+--------------------+
//	          | 3 mode | 2 size|        |  3 bits class      |
//	          +--------+-------+--------+--------------------+

// Class is the low three bits of the opcode byte.
type Class uint8

// Instruction classes.
const (
	ClassLD    Class = 0x00
	ClassLDX   Class = 0x01
	ClassST    Class = 0x02
	ClassSTX   Class = 0x03
	ClassALU   Class = 0x04
	ClassJMP   Class = 0x05
	ClassJMP32 Class = 0x06
	ClassALU64 Class = 0x07
)

var classNames = [8]string{"ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64"}

func (c Class) String() string { return classNames[c&7] }

// ClassOf returns the class of an opcode byte.
func ClassOf(code uint8) Class { return Class(code & 7) }

// Kind is the semantic family of an instruction, independent of width,
// operand source and encoding.
type Kind uint8

// Instruction kinds.
const (
	KindInvalid Kind = iota
	// ALU
	KindAdd
	KindSub
	KindMul
	KindDiv  // unsigned; x/0 = 0
	KindSDiv // signed; x/0 = 0, MIN/-1 = MIN
	KindMod  // unsigned; x%0 = x
	KindSMod // signed; x%0 = x, MIN%-1 = 0
	KindOr
	KindAnd
	KindLsh
	KindRsh
	KindArsh
	KindNeg
	KindMov
	KindMovSX // sign-extending move from the low SrcBits of src
	KindXor
	// le/be convert the low Width bits to the named byte order and zero the
	// rest: on a little-endian target le is a truncation and be a byte swap.
	KindLe
	KindBe
	KindBswap // unconditional byte swap of the low Width bits
	KindAddrSpaceCast
	// JMP
	KindJa
	KindJeq
	KindJgt
	KindJge
	KindJset
	KindJne
	KindJsgt
	KindJsge
	KindJlt
	KindJle
	KindJslt
	KindJsle
	KindMayGoto
	KindCall      // helper call, imm = helper id
	KindCallLocal // bpf-to-bpf call, target = pc + 1 + imm
	KindCallKfunc // kfunc call, imm = BTF id, off = module BTF fd index
	KindExit
	// LD
	KindLdImm64 // see OpInfo.Pseudo for the pseudo source
	KindLdAbs
	KindLdInd
	// LDX, ST, STX
	KindLoad
	KindLoadSX
	KindStoreImm
	KindStore
	KindAtomic // read-modify-write, see OpInfo.Atomic
	KindLoadAcquire
	KindStoreRelease
)

// Pseudo values of an ld_imm64's src field (include/uapi/linux/bpf.h).
const (
	PseudoNone        = 0
	PseudoMapFD       = 1
	PseudoMapValue    = 2
	PseudoBTFID       = 3
	PseudoFunc        = 4
	PseudoMapIdx      = 5
	PseudoMapIdxValue = 6
)

// Src values of a call instruction.
const (
	PseudoCallHelper = 0
	PseudoCall       = 1
	PseudoKfuncCall  = 2
)

// Atomic operation codes carried in imm of an STX|ATOMIC instruction.
const (
	AtomicAdd      = 0x00
	AtomicOr       = 0x40
	AtomicAnd      = 0x50
	AtomicXor      = 0xa0
	AtomicFetch    = 0x01
	AtomicXchg     = 0xe0 | AtomicFetch
	AtomicCmpxchg  = 0xf0 | AtomicFetch
	AtomicLoadAcq  = 0x100
	AtomicStoreRel = 0x110
)

// Disc says which field besides the code byte selects a row.
type Disc uint8

// Discriminators.
const (
	DiscNone Disc = iota
	DiscOff
	DiscImm
	DiscSrc
)

// Field says what an instruction field may hold and, for registers, how it
// is used. Decode checks every field against its row; Reads and Writes derive
// from the register fields.
type Field uint8

// Field roles.
const (
	FZero    Field = iota // reserved: must be zero
	FAny                  // any value (offset, immediate, helper id)
	FFixed                // discriminator: equals the row's Off/Imm/Src
	FRegR                 // register, read
	FRegW                 // register, written only
	FRegRW                // register, read and written
	FShift                // shift count: 0 <= imm < Width
	FNonZero              // constant divisor: imm != 0
	FAddrAS               // addr_space_cast: imm is 1 or 1<<16
)

// ZeroRule is what division-like ops produce for a zero divisor.
type ZeroRule uint8

// Divisor-zero rules (instruction-set.rst, "Arithmetic instructions").
const (
	ZeroNone    ZeroRule = iota
	ZeroIsZero           // x / 0 = 0
	ZeroKeepDst          // x % 0 = x (for 32-bit ops: the low 32 bits, zero-extended)
)

// Flag is a set of boolean properties of a row.
type Flag uint32

// Row flags.
const (
	FlagCommutative Flag = 1 << iota // swapping dst and src operand values gives the same result
	FlagSigned                       // signed compare / division / shift / extension
	FlagJump                         // may transfer control to a pc-relative target
	FlagCondJump                     // conditional: also falls through
	FlagCall                         // any call
	FlagExit                         // returns from the (sub)program
	FlagLoad                         // reads memory
	FlagStore                        // writes memory
	FlagAtomic                       // atomic memory access
	FlagFetch                        // atomic op that returns the old value
	FlagMayExit                      // may end the program (ld_abs/ind out of bounds: r0 = 0)
	FlagImm64                        // two-slot ld_imm64
)

// OpInfo is one row of the opcode table.
type OpInfo struct {
	Name     string // Go-style op name, e.g. "Add64Imm"
	Mnemonic string // gas normal-syntax mnemonic, e.g. "add", "add32", "ldxw"
	Kind     Kind
	Code     uint8 // the opcode byte
	Class    Class
	Disc     Disc  // which field besides Code selects this row
	Off      int16 // discriminating off (Disc == DiscOff)
	Imm      int32 // discriminating imm (Disc == DiscImm)
	Src      Reg   // discriminating src (Disc == DiscSrc)

	// Field roles, checked by Decode.
	DstF, SrcF, OffF, ImmF, Imm2F Field

	// Width is the operation width in bits: 32/64 for ALU ops and jumps (a
	// 32-bit ALU op writes the low half and zeroes the upper half of dst;
	// a 32-bit jump compares the low halves), 16/32/64 for le/be/bswap, the
	// access width for atomics.
	Width   uint8
	SrcBits uint8 // movsx: the sign-extended source width (8, 16, 32)
	Size    uint8 // memory access size in bytes (1, 2, 4, 8), 0 when no memory access
	ImmSrc  bool  // the second operand is imm (BPF_K) rather than src (BPF_X)
	Pseudo  uint8 // ld_imm64: the pseudo src kind
	Atomic  int32 // KindAtomic: the imm value (AtomicAdd, AtomicOr|AtomicFetch, ...)
	Flags   Flag

	ZeroDiv   ZeroRule // rule for a zero divisor
	ShiftMask uint8    // shift count mask: 31 or 63 (0 when not a shift)

	ImplicitReads  RegSet // registers read besides dst/src (exit: r0; calls: r1-r5)
	ImplicitWrites RegSet // registers written besides dst/src (calls: r0-r5)

	CPU uint8 // lowest -mcpu level (1-4) at which clang emits it
}

// Has reports whether all flags f are set.
func (o *OpInfo) Has(f Flag) bool { return o.Flags&f == f }

// Op is a dense semantic instruction id; OpInvalid (0) for none.
type Op uint8

// Every instruction of the table. Imm/Reg is the BPF_K/BPF_X source.
const (
	OpInvalid Op = iota

	OpAdd64Imm
	OpAdd64Reg
	OpSub64Imm
	OpSub64Reg
	OpMul64Imm
	OpMul64Reg
	OpDiv64Imm
	OpDiv64Reg
	OpSDiv64Imm
	OpSDiv64Reg
	OpOr64Imm
	OpOr64Reg
	OpAnd64Imm
	OpAnd64Reg
	OpLsh64Imm
	OpLsh64Reg
	OpRsh64Imm
	OpRsh64Reg
	OpNeg64
	OpMod64Imm
	OpMod64Reg
	OpSMod64Imm
	OpSMod64Reg
	OpXor64Imm
	OpXor64Reg
	OpMov64Imm
	OpMov64Reg
	OpMovSX64B
	OpMovSX64H
	OpMovSX64W
	OpAddrSpaceCast
	OpArsh64Imm
	OpArsh64Reg
	OpBswap16
	OpBswap32
	OpBswap64

	OpAdd32Imm
	OpAdd32Reg
	OpSub32Imm
	OpSub32Reg
	OpMul32Imm
	OpMul32Reg
	OpDiv32Imm
	OpDiv32Reg
	OpSDiv32Imm
	OpSDiv32Reg
	OpOr32Imm
	OpOr32Reg
	OpAnd32Imm
	OpAnd32Reg
	OpLsh32Imm
	OpLsh32Reg
	OpRsh32Imm
	OpRsh32Reg
	OpNeg32
	OpMod32Imm
	OpMod32Reg
	OpSMod32Imm
	OpSMod32Reg
	OpXor32Imm
	OpXor32Reg
	OpMov32Imm
	OpMov32Reg
	OpMovSX32B
	OpMovSX32H
	OpArsh32Imm
	OpArsh32Reg
	OpLe16
	OpLe32
	OpLe64
	OpBe16
	OpBe32
	OpBe64

	OpJa
	OpJeqImm
	OpJeqReg
	OpJgtImm
	OpJgtReg
	OpJgeImm
	OpJgeReg
	OpJsetImm
	OpJsetReg
	OpJneImm
	OpJneReg
	OpJsgtImm
	OpJsgtReg
	OpJsgeImm
	OpJsgeReg
	OpCall
	OpCallLocal
	OpCallKfunc
	OpExit
	OpJltImm
	OpJltReg
	OpJleImm
	OpJleReg
	OpJsltImm
	OpJsltReg
	OpJsleImm
	OpJsleReg
	OpMayGoto

	OpGotol
	OpJeq32Imm
	OpJeq32Reg
	OpJgt32Imm
	OpJgt32Reg
	OpJge32Imm
	OpJge32Reg
	OpJset32Imm
	OpJset32Reg
	OpJne32Imm
	OpJne32Reg
	OpJsgt32Imm
	OpJsgt32Reg
	OpJsge32Imm
	OpJsge32Reg
	OpJlt32Imm
	OpJlt32Reg
	OpJle32Imm
	OpJle32Reg
	OpJslt32Imm
	OpJslt32Reg
	OpJsle32Imm
	OpJsle32Reg

	OpLddw            // ld_imm64, plain constant
	OpLddwMapFD       // src 1
	OpLddwMapValue    // src 2
	OpLddwBTFID       // src 3
	OpLddwFunc        // src 4
	OpLddwMapIdx      // src 5
	OpLddwMapIdxValue // src 6
	OpLdAbsW
	OpLdAbsH
	OpLdAbsB
	OpLdIndW
	OpLdIndH
	OpLdIndB

	OpLdxW
	OpLdxH
	OpLdxB
	OpLdxDW
	OpLdxSW
	OpLdxSH
	OpLdxSB
	OpStW
	OpStH
	OpStB
	OpStDW
	OpStxW
	OpStxH
	OpStxB
	OpStxDW

	OpAtomicAddW
	OpAtomicOrW
	OpAtomicAndW
	OpAtomicXorW
	OpAtomicFetchAddW
	OpAtomicFetchOrW
	OpAtomicFetchAndW
	OpAtomicFetchXorW
	OpAtomicXchgW
	OpAtomicCmpxchgW
	OpAtomicAddDW
	OpAtomicOrDW
	OpAtomicAndDW
	OpAtomicXorDW
	OpAtomicFetchAddDW
	OpAtomicFetchOrDW
	OpAtomicFetchAndDW
	OpAtomicFetchXorDW
	OpAtomicXchgDW
	OpAtomicCmpxchgDW
	OpLoadAcqB
	OpLoadAcqH
	OpLoadAcqW
	OpLoadAcqDW
	OpStoreRelB
	OpStoreRelH
	OpStoreRelW
	OpStoreRelDW

	// NumOps is one past the last op id.
	NumOps
)

// Opcode byte building blocks.
const (
	srcK = 0x00
	srcX = 0x08

	sizeW  = 0x00
	sizeH  = 0x08
	sizeB  = 0x10
	sizeDW = 0x18

	modeIMM    = 0x00
	modeABS    = 0x20
	modeIND    = 0x40
	modeMEM    = 0x60
	modeMEMSX  = 0x80
	modeATOMIC = 0xc0
)

// callerSaved are the registers a call clobbers (and may read as arguments).
const callerSaved = RegSet(1<<R1 | 1<<R2 | 1<<R3 | 1<<R4 | 1<<R5)

// row constructors keep the table below one line per instruction.

// alu: a binary ALU op. opnib is the op nibble, cls ALU or ALU64.
func alu(name, mn string, k Kind, cls Class, opnib uint8, src uint8, fl Flag) OpInfo {
	w := uint8(32)
	if cls == ClassALU64 {
		w = 64
	}
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: opnib | src | uint8(cls), Class: cls,
		DstF: FRegRW, SrcF: FZero, OffF: FZero, ImmF: FAny, Width: w, Flags: fl, CPU: 1}
	if src == srcX {
		o.SrcF, o.ImmF = FRegR, FZero
	} else {
		o.ImmSrc = true
	}
	switch k {
	case KindMov:
		o.DstF = FRegW
	case KindLsh, KindRsh, KindArsh:
		o.ShiftMask = w - 1
		if o.ImmSrc {
			o.ImmF = FShift
		}
	case KindDiv, KindSDiv, KindMod, KindSMod:
		o.ZeroDiv = ZeroIsZero
		if k == KindMod || k == KindSMod {
			o.ZeroDiv = ZeroKeepDst
		}
		if o.ImmSrc {
			o.ImmF = FNonZero
		}
		// div/mod share a code byte with sdiv/smod; off tells them apart.
		o.Disc, o.OffF = DiscOff, FFixed
		if k == KindSDiv || k == KindSMod {
			o.Off, o.CPU = 1, 4
		}
	}
	return o
}

func unary(name, mn string, k Kind, cls Class, code uint8, w uint8, disc Disc, imm int32, cpu uint8) OpInfo {
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: code, Class: cls, DstF: FRegRW, Width: w, CPU: cpu}
	if disc == DiscImm {
		o.Disc, o.Imm, o.ImmF = DiscImm, imm, FFixed
	}
	return o
}

// movx: a mov-from-register variant told apart by off.
func movx(name, mn string, k Kind, cls Class, off int16, srcBits uint8, cpu uint8) OpInfo {
	w := uint8(32)
	if cls == ClassALU64 {
		w = 64
	}
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: 0xb0 | srcX | uint8(cls), Class: cls, Disc: DiscOff, Off: off,
		DstF: FRegW, SrcF: FRegR, OffF: FFixed, ImmF: FZero, Width: w, SrcBits: srcBits, CPU: cpu}
	if srcBits != 0 {
		o.Flags = FlagSigned
	}
	if k == KindAddrSpaceCast {
		o.ImmF = FAddrAS
	}
	return o
}

func jmp(name, mn string, k Kind, cls Class, opnib uint8, src uint8, fl Flag, cpu uint8) OpInfo {
	w := uint8(64)
	if cls == ClassJMP32 {
		w = 32
	}
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: opnib | src | uint8(cls), Class: cls,
		DstF: FRegR, SrcF: FZero, OffF: FAny, ImmF: FAny, Width: w, ImmSrc: src == srcK,
		Flags: FlagJump | FlagCondJump | fl, CPU: cpu}
	if src == srcX {
		o.SrcF, o.ImmF = FRegR, FZero
	}
	return o
}

func lddw(name string, pseudo uint8, imm2 Field) OpInfo {
	return OpInfo{Name: name, Mnemonic: "lddw", Kind: KindLdImm64, Code: OpLdImm64, Class: ClassLD, Disc: DiscSrc, Src: Reg(pseudo),
		DstF: FRegW, SrcF: FFixed, OffF: FZero, ImmF: FAny, Imm2F: imm2, Width: 64, Pseudo: pseudo, Flags: FlagImm64, CPU: 1}
}

func ldpkt(name, mn string, k Kind, mode, size uint8, bytes uint8) OpInfo {
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: mode | size | uint8(ClassLD), Class: ClassLD,
		DstF: FZero, SrcF: FZero, OffF: FZero, ImmF: FAny, Size: bytes, Width: 64,
		Flags: FlagLoad | FlagMayExit, ImplicitReads: RegSet(1 << R6), ImplicitWrites: 1<<R0 | callerSaved, CPU: 1}
	if k == KindLdInd {
		o.SrcF = FRegR
	}
	return o
}

func mem(name, mn string, k Kind, cls Class, mode, size uint8, bytes uint8, cpu uint8) OpInfo {
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: mode | size | uint8(cls), Class: cls, OffF: FAny, Size: bytes, Width: 64, CPU: cpu}
	switch k {
	case KindLoad, KindLoadSX:
		o.DstF, o.SrcF, o.ImmF, o.Flags = FRegW, FRegR, FZero, FlagLoad
		if k == KindLoadSX {
			o.Flags |= FlagSigned
		}
	case KindStoreImm:
		o.DstF, o.SrcF, o.ImmF, o.Flags = FRegR, FZero, FAny, FlagStore
	case KindStore:
		o.DstF, o.SrcF, o.ImmF, o.Flags = FRegR, FRegR, FZero, FlagStore
	}
	return o
}

func atomicRow(name, mn string, size uint8, bytes uint8, aop int32) OpInfo {
	o := OpInfo{Name: name, Mnemonic: mn, Kind: KindAtomic, Code: modeATOMIC | size | uint8(ClassSTX), Class: ClassSTX,
		Disc: DiscImm, Imm: aop, DstF: FRegR, SrcF: FRegR, OffF: FAny, ImmF: FFixed, Size: bytes, Width: bytes * 8,
		Atomic: aop, Flags: FlagLoad | FlagStore | FlagAtomic, CPU: 3}
	switch {
	case aop == AtomicCmpxchg:
		o.Flags |= FlagFetch
		o.ImplicitReads, o.ImplicitWrites = RegSet(1<<R0), RegSet(1<<R0)
	case aop&AtomicFetch != 0:
		o.Flags |= FlagFetch
		o.SrcF = FRegRW
	}
	if aop == AtomicAdd {
		o.CPU = 1 // the original xadd
	}
	return o
}

func acqrel(name, mn string, k Kind, size uint8, bytes uint8) OpInfo {
	o := OpInfo{Name: name, Mnemonic: mn, Kind: k, Code: modeATOMIC | size | uint8(ClassSTX), Class: ClassSTX, Disc: DiscImm,
		DstF: FRegR, SrcF: FRegR, OffF: FAny, ImmF: FFixed, Size: bytes, Width: 64, Flags: FlagAtomic, CPU: 4}
	if k == KindLoadAcquire {
		o.Imm, o.Atomic, o.DstF = AtomicLoadAcq, AtomicLoadAcq, FRegW
		o.Flags |= FlagLoad
	} else {
		o.Imm, o.Atomic = AtomicStoreRel, AtomicStoreRel
		o.Flags |= FlagStore
	}
	return o
}

const (
	a64 = ClassALU64
	a32 = ClassALU
	j64 = ClassJMP
	j32 = ClassJMP32
	com = FlagCommutative
	sgn = FlagSigned
)

// opTable is the single source of truth for instruction semantics.
var opTable = [NumOps]OpInfo{
	OpAdd64Imm:      alu("Add64Imm", "add", KindAdd, a64, 0x00, srcK, com),
	OpAdd64Reg:      alu("Add64Reg", "add", KindAdd, a64, 0x00, srcX, com),
	OpSub64Imm:      alu("Sub64Imm", "sub", KindSub, a64, 0x10, srcK, 0),
	OpSub64Reg:      alu("Sub64Reg", "sub", KindSub, a64, 0x10, srcX, 0),
	OpMul64Imm:      alu("Mul64Imm", "mul", KindMul, a64, 0x20, srcK, com),
	OpMul64Reg:      alu("Mul64Reg", "mul", KindMul, a64, 0x20, srcX, com),
	OpDiv64Imm:      alu("Div64Imm", "div", KindDiv, a64, 0x30, srcK, 0),
	OpDiv64Reg:      alu("Div64Reg", "div", KindDiv, a64, 0x30, srcX, 0),
	OpSDiv64Imm:     alu("SDiv64Imm", "sdiv", KindSDiv, a64, 0x30, srcK, sgn),
	OpSDiv64Reg:     alu("SDiv64Reg", "sdiv", KindSDiv, a64, 0x30, srcX, sgn),
	OpOr64Imm:       alu("Or64Imm", "or", KindOr, a64, 0x40, srcK, com),
	OpOr64Reg:       alu("Or64Reg", "or", KindOr, a64, 0x40, srcX, com),
	OpAnd64Imm:      alu("And64Imm", "and", KindAnd, a64, 0x50, srcK, com),
	OpAnd64Reg:      alu("And64Reg", "and", KindAnd, a64, 0x50, srcX, com),
	OpLsh64Imm:      alu("Lsh64Imm", "lsh", KindLsh, a64, 0x60, srcK, 0),
	OpLsh64Reg:      alu("Lsh64Reg", "lsh", KindLsh, a64, 0x60, srcX, 0),
	OpRsh64Imm:      alu("Rsh64Imm", "rsh", KindRsh, a64, 0x70, srcK, 0),
	OpRsh64Reg:      alu("Rsh64Reg", "rsh", KindRsh, a64, 0x70, srcX, 0),
	OpNeg64:         unary("Neg64", "neg", KindNeg, a64, 0x87, 64, DiscNone, 0, 1),
	OpMod64Imm:      alu("Mod64Imm", "mod", KindMod, a64, 0x90, srcK, 0),
	OpMod64Reg:      alu("Mod64Reg", "mod", KindMod, a64, 0x90, srcX, 0),
	OpSMod64Imm:     alu("SMod64Imm", "smod", KindSMod, a64, 0x90, srcK, sgn),
	OpSMod64Reg:     alu("SMod64Reg", "smod", KindSMod, a64, 0x90, srcX, sgn),
	OpXor64Imm:      alu("Xor64Imm", "xor", KindXor, a64, 0xa0, srcK, com),
	OpXor64Reg:      alu("Xor64Reg", "xor", KindXor, a64, 0xa0, srcX, com),
	OpMov64Imm:      alu("Mov64Imm", "mov", KindMov, a64, 0xb0, srcK, 0),
	OpMov64Reg:      movx("Mov64Reg", "mov", KindMov, a64, 0, 0, 1),
	OpMovSX64B:      movx("MovSX64B", "movs", KindMovSX, a64, 8, 8, 4),
	OpMovSX64H:      movx("MovSX64H", "movs", KindMovSX, a64, 16, 16, 4),
	OpMovSX64W:      movx("MovSX64W", "movs", KindMovSX, a64, 32, 32, 4),
	OpAddrSpaceCast: movx("AddrSpaceCast", "addr_space_cast", KindAddrSpaceCast, a64, 1, 0, 4),
	OpArsh64Imm:     alu("Arsh64Imm", "arsh", KindArsh, a64, 0xc0, srcK, sgn),
	OpArsh64Reg:     alu("Arsh64Reg", "arsh", KindArsh, a64, 0xc0, srcX, sgn),
	OpBswap16:       unary("Bswap16", "bswap16", KindBswap, a64, 0xd7, 16, DiscImm, 16, 4),
	OpBswap32:       unary("Bswap32", "bswap32", KindBswap, a64, 0xd7, 32, DiscImm, 32, 4),
	OpBswap64:       unary("Bswap64", "bswap64", KindBswap, a64, 0xd7, 64, DiscImm, 64, 4),

	OpAdd32Imm:  alu("Add32Imm", "add32", KindAdd, a32, 0x00, srcK, com),
	OpAdd32Reg:  alu("Add32Reg", "add32", KindAdd, a32, 0x00, srcX, com),
	OpSub32Imm:  alu("Sub32Imm", "sub32", KindSub, a32, 0x10, srcK, 0),
	OpSub32Reg:  alu("Sub32Reg", "sub32", KindSub, a32, 0x10, srcX, 0),
	OpMul32Imm:  alu("Mul32Imm", "mul32", KindMul, a32, 0x20, srcK, com),
	OpMul32Reg:  alu("Mul32Reg", "mul32", KindMul, a32, 0x20, srcX, com),
	OpDiv32Imm:  alu("Div32Imm", "div32", KindDiv, a32, 0x30, srcK, 0),
	OpDiv32Reg:  alu("Div32Reg", "div32", KindDiv, a32, 0x30, srcX, 0),
	OpSDiv32Imm: alu("SDiv32Imm", "sdiv32", KindSDiv, a32, 0x30, srcK, sgn),
	OpSDiv32Reg: alu("SDiv32Reg", "sdiv32", KindSDiv, a32, 0x30, srcX, sgn),
	OpOr32Imm:   alu("Or32Imm", "or32", KindOr, a32, 0x40, srcK, com),
	OpOr32Reg:   alu("Or32Reg", "or32", KindOr, a32, 0x40, srcX, com),
	OpAnd32Imm:  alu("And32Imm", "and32", KindAnd, a32, 0x50, srcK, com),
	OpAnd32Reg:  alu("And32Reg", "and32", KindAnd, a32, 0x50, srcX, com),
	OpLsh32Imm:  alu("Lsh32Imm", "lsh32", KindLsh, a32, 0x60, srcK, 0),
	OpLsh32Reg:  alu("Lsh32Reg", "lsh32", KindLsh, a32, 0x60, srcX, 0),
	OpRsh32Imm:  alu("Rsh32Imm", "rsh32", KindRsh, a32, 0x70, srcK, 0),
	OpRsh32Reg:  alu("Rsh32Reg", "rsh32", KindRsh, a32, 0x70, srcX, 0),
	OpNeg32:     unary("Neg32", "neg32", KindNeg, a32, 0x84, 32, DiscNone, 0, 1),
	OpMod32Imm:  alu("Mod32Imm", "mod32", KindMod, a32, 0x90, srcK, 0),
	OpMod32Reg:  alu("Mod32Reg", "mod32", KindMod, a32, 0x90, srcX, 0),
	OpSMod32Imm: alu("SMod32Imm", "smod32", KindSMod, a32, 0x90, srcK, sgn),
	OpSMod32Reg: alu("SMod32Reg", "smod32", KindSMod, a32, 0x90, srcX, sgn),
	OpXor32Imm:  alu("Xor32Imm", "xor32", KindXor, a32, 0xa0, srcK, com),
	OpXor32Reg:  alu("Xor32Reg", "xor32", KindXor, a32, 0xa0, srcX, com),
	OpMov32Imm:  alu("Mov32Imm", "mov32", KindMov, a32, 0xb0, srcK, 0),
	OpMov32Reg:  movx("Mov32Reg", "mov32", KindMov, a32, 0, 0, 1),
	OpMovSX32B:  movx("MovSX32B", "movs32", KindMovSX, a32, 8, 8, 4),
	OpMovSX32H:  movx("MovSX32H", "movs32", KindMovSX, a32, 16, 16, 4),
	OpArsh32Imm: alu("Arsh32Imm", "arsh32", KindArsh, a32, 0xc0, srcK, sgn),
	OpArsh32Reg: alu("Arsh32Reg", "arsh32", KindArsh, a32, 0xc0, srcX, sgn),
	OpLe16:      unary("Le16", "le16", KindLe, a32, 0xd4, 16, DiscImm, 16, 1),
	OpLe32:      unary("Le32", "le32", KindLe, a32, 0xd4, 32, DiscImm, 32, 1),
	OpLe64:      unary("Le64", "le64", KindLe, a32, 0xd4, 64, DiscImm, 64, 1),
	OpBe16:      unary("Be16", "be16", KindBe, a32, 0xdc, 16, DiscImm, 16, 1),
	OpBe32:      unary("Be32", "be32", KindBe, a32, 0xdc, 32, DiscImm, 32, 1),
	OpBe64:      unary("Be64", "be64", KindBe, a32, 0xdc, 64, DiscImm, 64, 1),

	OpJa:      {Name: "Ja", Mnemonic: "ja", Kind: KindJa, Code: 0x05, Class: j64, OffF: FAny, Width: 64, Flags: FlagJump, CPU: 1},
	OpJeqImm:  jmp("JeqImm", "jeq", KindJeq, j64, 0x10, srcK, com, 1),
	OpJeqReg:  jmp("JeqReg", "jeq", KindJeq, j64, 0x10, srcX, com, 1),
	OpJgtImm:  jmp("JgtImm", "jgt", KindJgt, j64, 0x20, srcK, 0, 1),
	OpJgtReg:  jmp("JgtReg", "jgt", KindJgt, j64, 0x20, srcX, 0, 1),
	OpJgeImm:  jmp("JgeImm", "jge", KindJge, j64, 0x30, srcK, 0, 1),
	OpJgeReg:  jmp("JgeReg", "jge", KindJge, j64, 0x30, srcX, 0, 1),
	OpJsetImm: jmp("JsetImm", "jset", KindJset, j64, 0x40, srcK, com, 1),
	OpJsetReg: jmp("JsetReg", "jset", KindJset, j64, 0x40, srcX, com, 1),
	OpJneImm:  jmp("JneImm", "jne", KindJne, j64, 0x50, srcK, com, 1),
	OpJneReg:  jmp("JneReg", "jne", KindJne, j64, 0x50, srcX, com, 1),
	OpJsgtImm: jmp("JsgtImm", "jsgt", KindJsgt, j64, 0x60, srcK, sgn, 1),
	OpJsgtReg: jmp("JsgtReg", "jsgt", KindJsgt, j64, 0x60, srcX, sgn, 1),
	OpJsgeImm: jmp("JsgeImm", "jsge", KindJsge, j64, 0x70, srcK, sgn, 1),
	OpJsgeReg: jmp("JsgeReg", "jsge", KindJsge, j64, 0x70, srcX, sgn, 1),
	OpCall: {Name: "Call", Mnemonic: "call", Kind: KindCall, Code: 0x85, Class: j64, Disc: DiscSrc, Src: PseudoCallHelper,
		SrcF: FFixed, ImmF: FAny, Flags: FlagCall, ImplicitReads: callerSaved, ImplicitWrites: 1<<R0 | callerSaved, CPU: 1},
	OpCallLocal: {Name: "CallLocal", Mnemonic: "call", Kind: KindCallLocal, Code: 0x85, Class: j64, Disc: DiscSrc, Src: PseudoCall,
		SrcF: FFixed, ImmF: FAny, Flags: FlagCall, ImplicitReads: callerSaved, ImplicitWrites: 1<<R0 | callerSaved, CPU: 1},
	OpCallKfunc: {Name: "CallKfunc", Mnemonic: "call", Kind: KindCallKfunc, Code: 0x85, Class: j64, Disc: DiscSrc, Src: PseudoKfuncCall,
		SrcF: FFixed, OffF: FAny, ImmF: FAny, Flags: FlagCall, ImplicitReads: callerSaved, ImplicitWrites: 1<<R0 | callerSaved, CPU: 1},
	// The kernel ignores exit's off (it checks dst, src and imm only).
	OpExit:    {Name: "Exit", Mnemonic: "exit", Kind: KindExit, Code: 0x95, Class: j64, OffF: FAny, Flags: FlagExit, ImplicitReads: 1 << R0, CPU: 1},
	OpJltImm:  jmp("JltImm", "jlt", KindJlt, j64, 0xa0, srcK, 0, 2),
	OpJltReg:  jmp("JltReg", "jlt", KindJlt, j64, 0xa0, srcX, 0, 2),
	OpJleImm:  jmp("JleImm", "jle", KindJle, j64, 0xb0, srcK, 0, 2),
	OpJleReg:  jmp("JleReg", "jle", KindJle, j64, 0xb0, srcX, 0, 2),
	OpJsltImm: jmp("JsltImm", "jslt", KindJslt, j64, 0xc0, srcK, sgn, 2),
	OpJsltReg: jmp("JsltReg", "jslt", KindJslt, j64, 0xc0, srcX, sgn, 2),
	OpJsleImm: jmp("JsleImm", "jsle", KindJsle, j64, 0xd0, srcK, sgn, 2),
	OpJsleReg: jmp("JsleReg", "jsle", KindJsle, j64, 0xd0, srcX, sgn, 2),
	// may_goto: src 0 is BPF_MAY_GOTO, the only JCOND defined.
	OpMayGoto: {Name: "MayGoto", Mnemonic: "may_goto", Kind: KindMayGoto, Code: 0xe5, Class: j64, OffF: FAny,
		Flags: FlagJump | FlagCondJump, CPU: 4},

	OpGotol:     {Name: "Gotol", Mnemonic: "jal", Kind: KindJa, Code: 0x06, Class: j32, ImmF: FAny, Width: 32, Flags: FlagJump, CPU: 4},
	OpJeq32Imm:  jmp("Jeq32Imm", "jeq32", KindJeq, j32, 0x10, srcK, com, 3),
	OpJeq32Reg:  jmp("Jeq32Reg", "jeq32", KindJeq, j32, 0x10, srcX, com, 3),
	OpJgt32Imm:  jmp("Jgt32Imm", "jgt32", KindJgt, j32, 0x20, srcK, 0, 3),
	OpJgt32Reg:  jmp("Jgt32Reg", "jgt32", KindJgt, j32, 0x20, srcX, 0, 3),
	OpJge32Imm:  jmp("Jge32Imm", "jge32", KindJge, j32, 0x30, srcK, 0, 3),
	OpJge32Reg:  jmp("Jge32Reg", "jge32", KindJge, j32, 0x30, srcX, 0, 3),
	OpJset32Imm: jmp("Jset32Imm", "jset32", KindJset, j32, 0x40, srcK, com, 3),
	OpJset32Reg: jmp("Jset32Reg", "jset32", KindJset, j32, 0x40, srcX, com, 3),
	OpJne32Imm:  jmp("Jne32Imm", "jne32", KindJne, j32, 0x50, srcK, com, 3),
	OpJne32Reg:  jmp("Jne32Reg", "jne32", KindJne, j32, 0x50, srcX, com, 3),
	OpJsgt32Imm: jmp("Jsgt32Imm", "jsgt32", KindJsgt, j32, 0x60, srcK, sgn, 3),
	OpJsgt32Reg: jmp("Jsgt32Reg", "jsgt32", KindJsgt, j32, 0x60, srcX, sgn, 3),
	OpJsge32Imm: jmp("Jsge32Imm", "jsge32", KindJsge, j32, 0x70, srcK, sgn, 3),
	OpJsge32Reg: jmp("Jsge32Reg", "jsge32", KindJsge, j32, 0x70, srcX, sgn, 3),
	OpJlt32Imm:  jmp("Jlt32Imm", "jlt32", KindJlt, j32, 0xa0, srcK, 0, 3),
	OpJlt32Reg:  jmp("Jlt32Reg", "jlt32", KindJlt, j32, 0xa0, srcX, 0, 3),
	OpJle32Imm:  jmp("Jle32Imm", "jle32", KindJle, j32, 0xb0, srcK, 0, 3),
	OpJle32Reg:  jmp("Jle32Reg", "jle32", KindJle, j32, 0xb0, srcX, 0, 3),
	OpJslt32Imm: jmp("Jslt32Imm", "jslt32", KindJslt, j32, 0xc0, srcK, sgn, 3),
	OpJslt32Reg: jmp("Jslt32Reg", "jslt32", KindJslt, j32, 0xc0, srcX, sgn, 3),
	OpJsle32Imm: jmp("Jsle32Imm", "jsle32", KindJsle, j32, 0xd0, srcK, sgn, 3),
	OpJsle32Reg: jmp("Jsle32Reg", "jsle32", KindJsle, j32, 0xd0, srcX, sgn, 3),

	OpLddw:            lddw("Lddw", PseudoNone, FAny),
	OpLddwMapFD:       lddw("LddwMapFD", PseudoMapFD, FZero),
	OpLddwMapValue:    lddw("LddwMapValue", PseudoMapValue, FAny),
	OpLddwBTFID:       lddw("LddwBTFID", PseudoBTFID, FAny),
	OpLddwFunc:        lddw("LddwFunc", PseudoFunc, FAny),
	OpLddwMapIdx:      lddw("LddwMapIdx", PseudoMapIdx, FZero),
	OpLddwMapIdxValue: lddw("LddwMapIdxValue", PseudoMapIdxValue, FAny),
	OpLdAbsW:          ldpkt("LdAbsW", "ldabsw", KindLdAbs, modeABS, sizeW, 4),
	OpLdAbsH:          ldpkt("LdAbsH", "ldabsh", KindLdAbs, modeABS, sizeH, 2),
	OpLdAbsB:          ldpkt("LdAbsB", "ldabsb", KindLdAbs, modeABS, sizeB, 1),
	OpLdIndW:          ldpkt("LdIndW", "ldindw", KindLdInd, modeIND, sizeW, 4),
	OpLdIndH:          ldpkt("LdIndH", "ldindh", KindLdInd, modeIND, sizeH, 2),
	OpLdIndB:          ldpkt("LdIndB", "ldindb", KindLdInd, modeIND, sizeB, 1),

	OpLdxW:  mem("LdxW", "ldxw", KindLoad, ClassLDX, modeMEM, sizeW, 4, 1),
	OpLdxH:  mem("LdxH", "ldxh", KindLoad, ClassLDX, modeMEM, sizeH, 2, 1),
	OpLdxB:  mem("LdxB", "ldxb", KindLoad, ClassLDX, modeMEM, sizeB, 1, 1),
	OpLdxDW: mem("LdxDW", "ldxdw", KindLoad, ClassLDX, modeMEM, sizeDW, 8, 1),
	OpLdxSW: mem("LdxSW", "ldxsw", KindLoadSX, ClassLDX, modeMEMSX, sizeW, 4, 4),
	OpLdxSH: mem("LdxSH", "ldxsh", KindLoadSX, ClassLDX, modeMEMSX, sizeH, 2, 4),
	OpLdxSB: mem("LdxSB", "ldxsb", KindLoadSX, ClassLDX, modeMEMSX, sizeB, 1, 4),
	OpStW:   mem("StW", "stw", KindStoreImm, ClassST, modeMEM, sizeW, 4, 1),
	OpStH:   mem("StH", "sth", KindStoreImm, ClassST, modeMEM, sizeH, 2, 1),
	OpStB:   mem("StB", "stb", KindStoreImm, ClassST, modeMEM, sizeB, 1, 1),
	OpStDW:  mem("StDW", "stdw", KindStoreImm, ClassST, modeMEM, sizeDW, 8, 1),
	OpStxW:  mem("StxW", "stxw", KindStore, ClassSTX, modeMEM, sizeW, 4, 1),
	OpStxH:  mem("StxH", "stxh", KindStore, ClassSTX, modeMEM, sizeH, 2, 1),
	OpStxB:  mem("StxB", "stxb", KindStore, ClassSTX, modeMEM, sizeB, 1, 1),
	OpStxDW: mem("StxDW", "stxdw", KindStore, ClassSTX, modeMEM, sizeDW, 8, 1),

	OpAtomicAddW:       atomicRow("AtomicAddW", "xaddw", sizeW, 4, AtomicAdd),
	OpAtomicOrW:        atomicRow("AtomicOrW", "xorw", sizeW, 4, AtomicOr),
	OpAtomicAndW:       atomicRow("AtomicAndW", "xandw", sizeW, 4, AtomicAnd),
	OpAtomicXorW:       atomicRow("AtomicXorW", "xxorw", sizeW, 4, AtomicXor),
	OpAtomicFetchAddW:  atomicRow("AtomicFetchAddW", "xfaddw", sizeW, 4, AtomicAdd|AtomicFetch),
	OpAtomicFetchOrW:   atomicRow("AtomicFetchOrW", "xforw", sizeW, 4, AtomicOr|AtomicFetch),
	OpAtomicFetchAndW:  atomicRow("AtomicFetchAndW", "xfandw", sizeW, 4, AtomicAnd|AtomicFetch),
	OpAtomicFetchXorW:  atomicRow("AtomicFetchXorW", "xfxorw", sizeW, 4, AtomicXor|AtomicFetch),
	OpAtomicXchgW:      atomicRow("AtomicXchgW", "xchgw", sizeW, 4, AtomicXchg),
	OpAtomicCmpxchgW:   atomicRow("AtomicCmpxchgW", "xcmpw", sizeW, 4, AtomicCmpxchg),
	OpAtomicAddDW:      atomicRow("AtomicAddDW", "xadddw", sizeDW, 8, AtomicAdd),
	OpAtomicOrDW:       atomicRow("AtomicOrDW", "xordw", sizeDW, 8, AtomicOr),
	OpAtomicAndDW:      atomicRow("AtomicAndDW", "xanddw", sizeDW, 8, AtomicAnd),
	OpAtomicXorDW:      atomicRow("AtomicXorDW", "xxordw", sizeDW, 8, AtomicXor),
	OpAtomicFetchAddDW: atomicRow("AtomicFetchAddDW", "xfadddw", sizeDW, 8, AtomicAdd|AtomicFetch),
	OpAtomicFetchOrDW:  atomicRow("AtomicFetchOrDW", "xfordw", sizeDW, 8, AtomicOr|AtomicFetch),
	OpAtomicFetchAndDW: atomicRow("AtomicFetchAndDW", "xfanddw", sizeDW, 8, AtomicAnd|AtomicFetch),
	OpAtomicFetchXorDW: atomicRow("AtomicFetchXorDW", "xfxordw", sizeDW, 8, AtomicXor|AtomicFetch),
	OpAtomicXchgDW:     atomicRow("AtomicXchgDW", "xchgdw", sizeDW, 8, AtomicXchg),
	OpAtomicCmpxchgDW:  atomicRow("AtomicCmpxchgDW", "xcmpdw", sizeDW, 8, AtomicCmpxchg),
	OpLoadAcqB:         acqrel("LoadAcqB", "ldacqb", KindLoadAcquire, sizeB, 1),
	OpLoadAcqH:         acqrel("LoadAcqH", "ldacqh", KindLoadAcquire, sizeH, 2),
	OpLoadAcqW:         acqrel("LoadAcqW", "ldacqw", KindLoadAcquire, sizeW, 4),
	OpLoadAcqDW:        acqrel("LoadAcqDW", "ldacqdw", KindLoadAcquire, sizeDW, 8),
	OpStoreRelB:        acqrel("StoreRelB", "strelb", KindStoreRelease, sizeB, 1),
	OpStoreRelH:        acqrel("StoreRelH", "strelh", KindStoreRelease, sizeH, 2),
	OpStoreRelW:        acqrel("StoreRelW", "strelw", KindStoreRelease, sizeW, 4),
	OpStoreRelDW:       acqrel("StoreRelDW", "streldw", KindStoreRelease, sizeDW, 8),
}

// codeEntry is the per-code-byte dispatch: either one op, or a short run of
// rows in discRows told apart by Disc.
type codeEntry struct {
	op    Op // the op when disc == DiscNone
	disc  Disc
	first uint8 // index into discRows
	n     uint8
}

var (
	codeIndex [256]codeEntry
	discRows  []Op
	// opByCode is the fast path: the op of every code byte that needs no
	// discriminator, or the op selected by a zero discriminator field.
	opByCode [256]Op
)

func init() {
	// Group rows by code byte; rows of one code must agree on Disc.
	var byCode [256][]Op
	for op := Op(1); op < NumOps; op++ {
		r := &opTable[op]
		if r.Name == "" {
			panic("bpf: op table row missing for op id " + itoa(int(op)))
		}
		byCode[r.Code] = append(byCode[r.Code], op)
	}
	for code, ops := range byCode {
		switch {
		case len(ops) == 0:
		case len(ops) == 1 && opTable[ops[0]].Disc == DiscNone:
			codeIndex[code] = codeEntry{op: ops[0]}
			opByCode[code] = ops[0]
		default:
			d := opTable[ops[0]].Disc
			for _, op := range ops {
				if opTable[op].Disc != d || d == DiscNone {
					panic("bpf: op table rows of code " + itoa(code) + " disagree on their discriminator")
				}
			}
			codeIndex[code] = codeEntry{disc: d, first: uint8(len(discRows)), n: uint8(len(ops))}
			discRows = append(discRows, ops...)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Op returns the semantic op of the instruction, or OpInvalid when the code
// byte and its discriminating field select no row. Op does not check the
// other fields; Validate does.
func (i Insn) Op() Op {
	if op := opByCode[i.Code]; op != OpInvalid {
		return op
	}
	return i.opDisc()
}

// opDisc is Op for code bytes whose rows are told apart by a field.
func (i Insn) opDisc() Op {
	e := &codeIndex[i.Code]
	if e.disc == DiscNone {
		return e.op
	}
	rows := discRows[e.first : e.first+e.n]
	switch e.disc {
	case DiscOff:
		for _, op := range rows {
			if opTable[op].Off == i.Off {
				return op
			}
		}
	case DiscImm:
		for _, op := range rows {
			if opTable[op].Imm == i.Imm {
				return op
			}
		}
	case DiscSrc:
		for _, op := range rows {
			if opTable[op].Src == i.Src {
				return op
			}
		}
	}
	return OpInvalid
}

// Info returns the table row of op. The row of OpInvalid is all zero.
func (o Op) Info() *OpInfo {
	if o >= NumOps {
		return &opTable[OpInvalid]
	}
	return &opTable[o]
}

// Valid reports whether o names an instruction.
func (o Op) Valid() bool { return o > OpInvalid && o < NumOps }

func (o Op) String() string {
	if !o.Valid() {
		return "Invalid"
	}
	return opTable[o].Name
}

// Ops returns every valid op id in table order (for move pools).
func Ops() []Op {
	ops := make([]Op, 0, NumOps-1)
	for op := Op(1); op < NumOps; op++ {
		ops = append(ops, op)
	}
	return ops
}

// Info returns the table row of the instruction's op (the zero row when invalid).
func (i Insn) Info() *OpInfo { return &opTable[i.Op()] }

// New builds an instruction of op with the given operands; the
// discriminating field (off, imm or src) is taken from the row and
// overrides the argument. Fields the row reserves are zeroed.
func New(op Op, dst, src Reg, off int16, imm int32) Insn {
	r := op.Info()
	in := Insn{Code: r.Code, Dst: dst, Src: src, Off: off, Imm: imm}
	if r.DstF == FZero {
		in.Dst = 0
	}
	if r.SrcF == FZero {
		in.Src = 0
	}
	if r.OffF == FZero {
		in.Off = 0
	}
	if r.ImmF == FZero {
		in.Imm = 0
	}
	switch r.Disc {
	case DiscOff:
		in.Off = r.Off
	case DiscImm:
		in.Imm = r.Imm
	case DiscSrc:
		in.Src = r.Src
	}
	return in
}

// Predicates read the table; they are false for invalid instructions.

// IsJump reports whether the instruction may jump to a pc-relative target
// (ja, gotol, conditional jumps, may_goto). Calls and exit are not jumps.
func (i Insn) IsJump() bool { return i.Info().Flags&FlagJump != 0 }

// IsCondJump reports whether the instruction is a conditional jump (it also
// falls through). may_goto counts as conditional.
func (i Insn) IsCondJump() bool { return i.Info().Flags&FlagCondJump != 0 }

// IsUncondJump reports whether the instruction is ja or gotol.
func (i Insn) IsUncondJump() bool { return i.Info().Kind == KindJa }

// IsCall reports whether the instruction is a call of any kind.
func (i Insn) IsCall() bool { return i.Info().Flags&FlagCall != 0 }

// IsExit reports whether the instruction is exit.
func (i Insn) IsExit() bool { return i.Code == 0x95 }

// IsLoad reports whether the instruction reads memory (including atomics and ld_abs/ind).
func (i Insn) IsLoad() bool { return i.Info().Flags&FlagLoad != 0 }

// IsStore reports whether the instruction writes memory (including atomics).
func (i Insn) IsStore() bool { return i.Info().Flags&FlagStore != 0 }

// MemSize is the memory access size in bytes, 0 when there is none.
func (i Insn) MemSize() int { return int(i.Info().Size) }

// IsPseudoCall reports a bpf-to-bpf call (src 1).
func (i Insn) IsPseudoCall() bool { return i.Code == 0x85 && i.Src == PseudoCall }

// IsPseudoFunc reports an ld_imm64 of a subprogram address (src 4).
func (i Insn) IsPseudoFunc() bool { return i.Code == OpLdImm64 && i.Src == PseudoFunc }

// JumpTarget returns the slot a jump at slot pc transfers control to (ja and
// conditional jumps: pc+1+off; gotol: pc+1+imm). ok is false when the
// instruction is not a jump.
func (i Insn) JumpTarget(pc int) (target int, ok bool) {
	switch op := i.Op(); {
	case op == OpGotol:
		return pc + 1 + int(i.Imm), true
	case opTable[op].Flags&FlagJump != 0:
		return pc + 1 + int(i.Off), true
	}
	return 0, false
}

// CallTarget returns the slot a pseudo call or an ld_imm64 pseudo func at
// slot pc refers to (pc+1+imm). In an object file the imm may still be a
// relocation placeholder (-1); the object layer resolves those.
func (i Insn) CallTarget(pc int) (target int, ok bool) {
	if i.IsPseudoCall() || i.IsPseudoFunc() {
		return pc + 1 + int(i.Imm), true
	}
	return 0, false
}

// Reads returns the registers the instruction reads. Calls are assumed to
// read all of r1-r5 (see CallReads for a helper-arity-aware answer).
func (i Insn) Reads() RegSet {
	r := i.Info()
	s := r.ImplicitReads
	if r.DstF == FRegR || r.DstF == FRegRW {
		s |= 1 << (i.Dst & 15)
	}
	if r.SrcF == FRegR || r.SrcF == FRegRW {
		s |= 1 << (i.Src & 15)
	}
	return s
}

// Writes returns the registers the instruction writes or clobbers.
func (i Insn) Writes() RegSet {
	r := i.Info()
	s := r.ImplicitWrites
	if r.DstF == FRegW || r.DstF == FRegRW {
		s |= 1 << (i.Dst & 15)
	}
	if r.SrcF == FRegRW {
		s |= 1 << (i.Src & 15)
	}
	return s
}

// CallReads returns the argument registers a helper call reads: r1..rN
// where N is the helper's arity from HelperArity, or all of r1-r5 when
// unknown. For other instructions it is Reads().
func (i Insn) CallReads() RegSet {
	if i.Op() == OpCall {
		if n, ok := HelperArity(i.Imm); ok {
			return RegSet((1<<(n+1) - 1) &^ 1)
		}
	}
	return i.Reads()
}
