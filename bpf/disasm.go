package bpf

import (
	"fmt"
	"strconv"
	"strings"
)

// Disassembly follows llvm-objdump -d (LLVM 14) instruction text. Where
// LLVM 14 prints <unknown> or text that hides the semantics (sdiv shown as
// div, movsx as mov, 32-bit atomic fetch ops as lock adds), the text is
// that of newer LLVM (llvm-objdump-19, decimal immediates), and for 32-bit
// atomics the alu32 form ("w2 = atomic_fetch_add((u32 *)(r1 + 0), w2)").
// load_acquire/store_release follow the kernel's and clang's spelling.

var aluSym = [...]string{
	KindAdd: "+=", KindSub: "-=", KindMul: "*=", KindDiv: "/=", KindSDiv: "s/=",
	KindMod: "%=", KindSMod: "s%=", KindOr: "|=", KindAnd: "&=", KindLsh: "<<=",
	KindRsh: ">>=", KindArsh: "s>>=", KindXor: "^=", KindMov: "=",
}

var jmpSym = [...]string{
	KindJeq: "==", KindJgt: ">", KindJge: ">=", KindJset: "&", KindJne: "!=",
	KindJsgt: "s>", KindJsge: "s>=", KindJlt: "<", KindJle: "<=", KindJslt: "s<", KindJsle: "s<=",
}

var atomicName = map[int32]string{AtomicAdd: "add", AtomicOr: "or", AtomicAnd: "and", AtomicXor: "xor"}

var sizeName = [9]string{1: "u8", 2: "u16", 4: "u32", 8: "u64"}

func reg(r Reg, w uint8) string {
	if w == 32 {
		return "w" + strconv.Itoa(int(r))
	}
	return "r" + strconv.Itoa(int(r))
}

// memAddr formats "r1 + 4" / "r10 - 8".
func memAddr(r Reg, off int16) string {
	if off < 0 {
		return fmt.Sprintf("r%d - %d", r, -int(off))
	}
	return fmt.Sprintf("r%d + %d", r, off)
}

func rel(off int64) string {
	if off < 0 {
		return strconv.FormatInt(off, 10)
	}
	return "+" + strconv.FormatInt(off, 10)
}

// String returns the instruction in llvm-objdump syntax.
func (i Insn) String() string {
	op := i.Op()
	if op == OpInvalid {
		return fmt.Sprintf("<unknown opcode 0x%02x>", i.Code)
	}
	r := &opTable[op]
	switch r.Kind {
	case KindAdd, KindSub, KindMul, KindDiv, KindSDiv, KindMod, KindSMod, KindOr, KindAnd,
		KindLsh, KindRsh, KindArsh, KindXor, KindMov:
		if r.ImmSrc {
			return fmt.Sprintf("%s %s %d", reg(i.Dst, r.Width), aluSym[r.Kind], i.Imm)
		}
		return fmt.Sprintf("%s %s %s", reg(i.Dst, r.Width), aluSym[r.Kind], reg(i.Src, r.Width))
	case KindNeg:
		return fmt.Sprintf("%s = -%s", reg(i.Dst, r.Width), reg(i.Dst, r.Width))
	case KindMovSX:
		return fmt.Sprintf("%s = (s%d)%s", reg(i.Dst, r.Width), r.SrcBits, reg(i.Src, r.Width))
	case KindAddrSpaceCast:
		return fmt.Sprintf("r%d = addr_space_cast(r%d, %d, %d)", i.Dst, i.Src, uint32(i.Imm)>>16, uint32(i.Imm)&0xffff)
	case KindLe, KindBe, KindBswap:
		return fmt.Sprintf("r%d = %s r%d", i.Dst, r.Mnemonic, i.Dst)
	case KindJa:
		if op == OpGotol {
			return "gotol " + rel(int64(i.Imm))
		}
		return "goto " + rel(int64(i.Off))
	case KindMayGoto:
		return "may_goto " + rel(int64(i.Off))
	case KindJeq, KindJgt, KindJge, KindJset, KindJne, KindJsgt, KindJsge, KindJlt, KindJle, KindJslt, KindJsle:
		rhs := strconv.Itoa(int(i.Imm))
		if !r.ImmSrc {
			rhs = reg(i.Src, r.Width)
		}
		return fmt.Sprintf("if %s %s %s goto %s", reg(i.Dst, r.Width), jmpSym[r.Kind], rhs, rel(int64(i.Off)))
	case KindCall, KindCallLocal, KindCallKfunc:
		return "call " + strconv.Itoa(int(i.Imm))
	case KindExit:
		return "exit"
	case KindLdImm64:
		if i.Src == PseudoNone {
			return fmt.Sprintf("r%d = %d ll", i.Dst, int64(i.Imm64()))
		}
		return fmt.Sprintf("ld_pseudo r%d, %d, %d", i.Dst, i.Src, uint32(i.Imm))
	case KindLdAbs:
		return fmt.Sprintf("r0 = *(%s *)skb[%d]", sizeName[r.Size], i.Imm)
	case KindLdInd:
		return fmt.Sprintf("r0 = *(%s *)skb[r%d]", sizeName[r.Size], i.Src)
	case KindLoad:
		return fmt.Sprintf("r%d = *(%s *)(%s)", i.Dst, sizeName[r.Size], memAddr(i.Src, i.Off))
	case KindLoadSX:
		return fmt.Sprintf("r%d = *(s%d *)(%s)", i.Dst, r.Size*8, memAddr(i.Src, i.Off))
	case KindStoreImm:
		return fmt.Sprintf("*(%s *)(%s) = %d", sizeName[r.Size], memAddr(i.Dst, i.Off), i.Imm)
	case KindStore:
		return fmt.Sprintf("*(%s *)(%s) = r%d", sizeName[r.Size], memAddr(i.Dst, i.Off), i.Src)
	case KindAtomic:
		return atomicString(i, r)
	case KindLoadAcquire:
		return fmt.Sprintf("%s = load_acquire((%s *)(%s))", reg(i.Dst, r.Size*8), sizeName[r.Size], memAddr(i.Src, i.Off))
	case KindStoreRelease:
		return fmt.Sprintf("store_release((%s *)(%s), %s)", sizeName[r.Size], memAddr(i.Dst, i.Off), reg(i.Src, r.Size*8))
	}
	return fmt.Sprintf("<op %s>", r.Name)
}

func atomicString(i Insn, r *OpInfo) string {
	w, sz, addr := r.Width, sizeName[r.Size], memAddr(i.Dst, i.Off)
	switch r.Atomic {
	case AtomicXchg:
		if w == 64 {
			return fmt.Sprintf("r%d = xchg_64(%s, r%d)", i.Src, addr, i.Src)
		}
		return fmt.Sprintf("w%d = xchg32_32(%s, w%d)", i.Src, addr, i.Src)
	case AtomicCmpxchg:
		if w == 64 {
			return fmt.Sprintf("r0 = cmpxchg_64(%s, r0, r%d)", addr, i.Src)
		}
		return fmt.Sprintf("w0 = cmpxchg32_32(%s, w0, w%d)", addr, i.Src)
	}
	name := atomicName[r.Atomic&^AtomicFetch]
	if r.Atomic&AtomicFetch != 0 {
		s := reg(i.Src, w)
		return fmt.Sprintf("%s = atomic_fetch_%s((%s *)(%s), %s)", s, name, sz, addr, s)
	}
	return fmt.Sprintf("lock *(%s *)(%s) %s %s", sz, addr, aluSym[aluKindOfAtomic[r.Atomic]], reg(i.Src, w))
}

var aluKindOfAtomic = map[int32]Kind{AtomicAdd: KindAdd, AtomicOr: KindOr, AtomicAnd: KindAnd, AtomicXor: KindXor}

// Disasm formats insns one per line as "slot: text", slots numbered as in
// llvm-objdump.
func Disasm(insns []Insn) string {
	var b strings.Builder
	slot := 0
	for _, in := range insns {
		fmt.Fprintf(&b, "%5d: %s\n", slot, in.String())
		slot += in.Slots()
	}
	return b.String()
}
