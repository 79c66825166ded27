package equiv

import (
	"context"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	. "github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/smt"
)

type I = []Insn

// allRegs: r0-r9.
const allRegs = RegSet(1<<10 - 1)

type tcase struct {
	name string
	a, b I
	want Verdict
	// window options (zero: live-in and live-out r0-r9, all scalars)
	in, out RegSet
	pre     map[Reg]RegPre
	dead    bool // stack dead
	prog    bool // whole program (XDP) instead of a window
	maps    []interp.MapSpec
}

var hashMap = []interp.MapSpec{{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16}}
var arrMap = []interp.MapSpec{{Name: "a", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4}}

// xdp bounds-checked load prologue: r2 = data, r3 = data_end.
var pktPro = I{LdxW(R2, R1, 0), LdxW(R3, R1, 4)}

func cat(parts ...I) I {
	var out I
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// lookup stores key k at r10-4 and looks it up in map 0.
func lookup(store Insn) I {
	return I{store, Mov64Reg(R2, R10), Add64Imm(R2, -4), LdMapFD(R1, 0), Call(1)}
}

var cases = []tcase{
	// 32-bit ops zero-extend
	{name: "mov32 zext", a: I{Mov32Reg(R0, R1)}, b: I{Mov64Reg(R0, R1), Lsh64Imm(R0, 32), Rsh64Imm(R0, 32)}, want: Equal},
	{name: "add32 vs add64", a: I{Add32Reg(R0, R1)}, b: I{Add64Reg(R0, R1)}, want: NotEqual},
	{name: "add32 = add64+trunc", a: I{Add32Reg(R0, R1)}, b: I{Add64Reg(R0, R1), Lsh64Imm(R0, 32), Rsh64Imm(R0, 32)}, want: Equal},
	{name: "mov32 -1", a: I{Mov32Imm(R0, -1)}, b: I{LdImm64(R0, 0xffffffff)}, want: Equal},
	{name: "mov64 -1 sign-extends", a: I{Mov64Imm(R0, -1)}, b: I{LdImm64(R0, ^uint64(0))}, want: Equal},
	{name: "mov32 vs mov64 -1", a: I{Mov32Imm(R0, -1)}, b: I{Mov64Imm(R0, -1)}, want: NotEqual},
	{name: "neg32 vs neg64", a: I{Neg32(R0)}, b: I{Neg64(R0)}, want: NotEqual},
	{name: "neg = not+1", a: I{Neg64(R0)}, b: I{Xor64Imm(R0, -1), Add64Imm(R0, 1)}, want: Equal},
	{name: "and32 self zext", a: I{And32Reg(R0, R0)}, b: I{Mov32Reg(R0, R0)}, want: Equal},
	{name: "and64 imm sign-extends", a: I{And64Imm(R0, -1)}, b: I{}, want: Equal},
	{name: "and32 imm", a: I{And32Imm(R0, -1)}, b: I{}, want: NotEqual},
	// division and modulo by zero
	{name: "x/0=0 guard", a: I{Div64Reg(R0, R1)}, b: I{JneImm(R1, 0, 2), Mov64Imm(R0, 0), Ja(1), Div64Reg(R0, R1)}, want: Equal},
	{name: "x%0=x guard", a: I{Mod64Reg(R0, R1)}, b: I{JeqImm(R1, 0, 1), Mod64Reg(R0, R1)}, want: Equal},
	{name: "mod32 by 0 zext", a: I{Mod32Reg(R0, R1)}, b: I{Jeq32Imm(R1, 0, 2), Mod32Reg(R0, R1), Ja(1), Mov32Reg(R0, R0)}, want: Equal},
	{name: "mod32 by 0 keeps high half?", a: I{Mod32Reg(R0, R1)}, b: I{Jeq32Imm(R1, 0, 1), Mod32Reg(R0, R1)}, want: NotEqual},
	{name: "div by const 0 reg", a: I{Div64Reg(R0, R1)}, b: I{Mov64Imm(R0, 0)}, pre: map[Reg]RegPre{R1: ConstScalar(0)}, want: Equal},
	{name: "div by 0 is not x", a: I{Div64Reg(R0, R1)}, b: I{}, pre: map[Reg]RegPre{R1: ConstScalar(0)}, want: NotEqual},
	{name: "div 1", a: I{Div64Imm(R0, 1)}, b: I{}, want: Equal},
	{name: "sdiv -1 = neg", a: I{SDiv64Imm(R0, -1)}, b: I{Neg64(R0)}, want: Equal},
	{name: "smod -1 = 0", a: I{SMod64Imm(R0, -1)}, b: I{Mov64Imm(R0, 0)}, want: Equal},
	{name: "div 2 = rsh", a: I{Div64Imm(R0, 2)}, b: I{Rsh64Imm(R0, 1)}, want: Equal},
	{name: "sdiv 2 != arsh", a: I{SDiv64Imm(R0, 2)}, b: I{Arsh64Imm(R0, 1)}, want: NotEqual},
	{name: "smod sign of dividend", a: I{SMod64Imm(R0, 3)}, b: I{Mod64Imm(R0, 3)}, want: NotEqual},
	{name: "mod 8 = and 7", a: I{Mod64Imm(R0, 8)}, b: I{And64Imm(R0, 7)}, want: Equal},
	{name: "mod32 8 = and32 7", a: I{Mod32Imm(R0, 8)}, b: I{And32Imm(R0, 7)}, want: Equal},
	// multiplication
	{name: "mul 2 = lsh 1", a: I{Mul64Imm(R0, 2)}, b: I{Lsh64Imm(R0, 1)}, want: Equal},
	{name: "mul32 2 = lsh32 1", a: I{Mul32Imm(R0, 2)}, b: I{Lsh32Imm(R0, 1)}, want: Equal},
	{name: "mul 3 via add", a: I{Mul64Imm(R0, 3)}, b: I{Mov64Reg(R1, R0), Lsh64Imm(R0, 1), Add64Reg(R0, R1)}, out: RegsOf(R0), want: Equal},
	{name: "mul 3 clobbers r1", a: I{Mul64Imm(R0, 3)}, b: I{Mov64Reg(R1, R0), Lsh64Imm(R0, 1), Add64Reg(R0, R1)}, want: NotEqual},
	// shifts masked by width
	{name: "lsh64 masks 63", a: I{Lsh64Reg(R0, R1)}, b: I{And64Imm(R1, 63), Lsh64Reg(R0, R1)}, out: RegsOf(R0), want: Equal},
	{name: "lsh32 masks 31", a: I{Lsh32Reg(R0, R1)}, b: I{And64Imm(R1, 31), Lsh32Reg(R0, R1)}, out: RegsOf(R0), want: Equal},
	{name: "lsh64 is not mask 31", a: I{Lsh64Reg(R0, R1)}, b: I{And64Imm(R1, 31), Lsh64Reg(R0, R1)}, out: RegsOf(R0), want: NotEqual},
	{name: "rsh32 vs rsh64", a: I{Rsh32Imm(R0, 4)}, b: I{Rsh64Imm(R0, 4)}, want: NotEqual},
	{name: "arsh 63 = sign", a: I{Arsh64Imm(R0, 63)}, b: I{JsltImm(R0, 0, 2), Mov64Imm(R0, 0), Ja(1), Mov64Imm(R0, -1)}, want: Equal},
	{name: "arsh32 zext", a: I{Arsh32Imm(R0, 31)}, b: I{Arsh64Imm(R0, 31)}, want: NotEqual},
	// sign-extending moves
	{name: "movsx8 = lsh+arsh", a: I{MovSX64(R0, R1, 8)}, b: I{Mov64Reg(R0, R1), Lsh64Imm(R0, 56), Arsh64Imm(R0, 56)}, want: Equal},
	{name: "movsx32", a: I{MovSX64(R0, R1, 32)}, b: I{Mov32Reg(R0, R1), Lsh64Imm(R0, 32), Arsh64Imm(R0, 32)}, want: Equal},
	{name: "movsx32 8 zext", a: I{MovSX32(R0, R1, 8)}, b: I{MovSX64(R0, R1, 8)}, want: NotEqual},
	{name: "movsx32 16 = movsx64+mov32", a: I{MovSX32(R0, R1, 16)}, b: I{MovSX64(R0, R1, 16), Mov32Reg(R0, R0)}, want: Equal},
	// byte swaps
	{name: "be16 = bswap16", a: I{Be(R0, 16)}, b: I{Bswap(R0, 16)}, want: Equal},
	{name: "le16 truncates", a: I{Le(R0, 16)}, b: I{And64Imm(R0, 0xffff)}, want: Equal},
	{name: "le32 truncates", a: I{Le(R0, 32)}, b: I{Mov32Reg(R0, R0)}, want: Equal},
	{name: "le64 nop", a: I{Le(R0, 64)}, b: I{}, want: Equal},
	{name: "be32 vs be64", a: I{Be(R0, 32)}, b: I{Be(R0, 64)}, want: NotEqual},
	{name: "be64>>32 = be32", a: I{Be(R0, 32)}, b: I{Be(R0, 64), Rsh64Imm(R0, 32)}, want: Equal},
	{name: "be16 twice", a: I{Be(R0, 16), Be(R0, 16)}, b: I{And64Imm(R0, 0xffff)}, want: Equal},
	// narrow loads: little-endian
	{name: "ldxb low byte", a: I{StxDW(R10, R1, -8), LdxB(R0, R10, -8)}, b: I{StxDW(R10, R1, -8), Mov64Reg(R0, R1), And64Imm(R0, 0xff)}, want: Equal},
	{name: "ldxb top byte", a: I{StxDW(R10, R1, -8), LdxB(R0, R10, -1)}, b: I{StxDW(R10, R1, -8), Mov64Reg(R0, R1), Rsh64Imm(R0, 56)}, want: Equal},
	{name: "ldxb is not big-endian", a: I{StxDW(R10, R1, -8), LdxB(R0, R10, -8)}, b: I{StxDW(R10, R1, -8), Mov64Reg(R0, R1), Rsh64Imm(R0, 56)}, want: NotEqual},
	{name: "ldxh low half", a: I{StxDW(R10, R1, -8), LdxH(R0, R10, -8)}, b: I{StxDW(R10, R1, -8), Mov64Reg(R0, R1), And64Imm(R0, 0xffff)}, want: Equal},
	// sign-extending loads
	{name: "ldxsb = movsx8", a: I{StxDW(R10, R1, -8), LdxSB(R0, R10, -8)}, b: I{StxDW(R10, R1, -8), MovSX64(R0, R1, 8)}, want: Equal},
	{name: "ldxsw = movsx32", a: I{StxDW(R10, R1, -8), LdxSW(R0, R10, -8)}, b: I{StxDW(R10, R1, -8), MovSX64(R0, R1, 32)}, want: Equal},
	{name: "ldxsh vs ldxh", a: I{StxDW(R10, R1, -8), LdxSH(R0, R10, -8)}, b: I{StxDW(R10, R1, -8), LdxH(R0, R10, -8)}, want: NotEqual},
	// overlapping stores
	{name: "overlap dw then w", a: I{StxDW(R10, R1, -8), StxW(R10, R2, -8), LdxDW(R0, R10, -8)},
		b: I{Mov64Reg(R0, R1), Rsh64Imm(R0, 32), Lsh64Imm(R0, 32), Mov32Reg(R3, R2), Or64Reg(R0, R3)}, out: RegsOf(R0), dead: true, want: Equal},
	{name: "overlap: stack live", a: I{StxDW(R10, R1, -8), StxW(R10, R2, -8), LdxDW(R0, R10, -8)},
		b: I{Mov64Reg(R0, R1), Rsh64Imm(R0, 32), Lsh64Imm(R0, 32), Mov32Reg(R3, R2), Or64Reg(R0, R3)}, out: RegsOf(R0), want: NotEqual},
	{name: "last store wins", a: I{StW(R10, -8, 1), StW(R10, -8, 2)}, b: I{StW(R10, -8, 2)}, want: Equal},
	{name: "store order matters", a: I{StW(R10, -8, 2), StW(R10, -8, 1)}, b: I{StW(R10, -8, 2)}, want: NotEqual},
	{name: "two words = one dword", a: I{StxW(R10, R1, -8), StxW(R10, R2, -4)},
		b: I{Mov64Reg(R3, R2), Lsh64Imm(R3, 32), Mov32Reg(R4, R1), Or64Reg(R3, R4), StxDW(R10, R3, -8)}, out: RegsOf(R0, R1, R2), want: Equal},
	{name: "byte store into dword", a: I{StxDW(R10, R1, -8), StB(R10, -7, 0)}, b: I{StB(R10, -7, 0), StxDW(R10, R1, -8)}, want: NotEqual},
	{name: "initial stack", a: I{LdxDW(R0, R10, -16)}, b: I{LdxW(R0, R10, -16), LdxW(R1, R10, -12), Lsh64Imm(R1, 32), Or64Reg(R0, R1)}, out: RegsOf(R0), want: Equal},
	{name: "stack out of bounds in b", a: I{StB(R10, -512, 1)}, b: I{StB(R10, -513, 1)}, want: NotEqual},
	// branches inside the window
	{name: "clear if nonzero", a: I{JeqImm(R1, 0, 1), Mov64Imm(R1, 0)}, b: I{Mov64Imm(R1, 0)}, want: Equal},
	{name: "jgt vs jge", a: I{Mov64Imm(R0, 0), JgtImm(R1, 5, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JgeImm(R1, 5, 1), Mov64Imm(R0, 1)}, want: NotEqual},
	{name: "jgt = jge+1", a: I{Mov64Imm(R0, 0), JgtImm(R1, 5, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JgeImm(R1, 6, 1), Mov64Imm(R0, 1)}, want: Equal},
	{name: "jsgt vs jgt", a: I{Mov64Imm(R0, 0), JsgtImm(R1, 5, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JgtImm(R1, 5, 1), Mov64Imm(R0, 1)}, want: NotEqual},
	{name: "jsgt = jgt on small", a: I{Mov64Imm(R0, 0), JsgtImm(R1, 5, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JgtImm(R1, 5, 1), Mov64Imm(R0, 1)},
		pre: map[Reg]RegPre{R1: {Kind: smt.Scalar, Umax: 100}}, want: Equal},
	{name: "jlt32 vs jlt", a: I{Mov64Imm(R0, 0), Jlt32Imm(R1, 10, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JltImm(R1, 10, 1), Mov64Imm(R0, 1)}, want: NotEqual},
	{name: "jlt32 = jlt below 2^32", a: I{Mov64Imm(R0, 0), Jlt32Imm(R1, 10, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JltImm(R1, 10, 1), Mov64Imm(R0, 1)},
		pre: map[Reg]RegPre{R1: {Kind: smt.Scalar, Known: 0xffffffff00000000}}, want: Equal},
	{name: "jset = and+jne", a: I{Mov64Imm(R0, 0), JsetImm(R1, 1, 1), Mov64Imm(R0, 1)},
		b: I{Mov64Imm(R0, 0), Mov64Reg(R2, R1), And64Imm(R2, 1), JneImm(R2, 0, 1), Mov64Imm(R0, 1)}, out: RegsOf(R0), want: Equal},
	{name: "leaves window differently", a: I{JeqImm(R1, 0, 1), Mov64Imm(R2, 0)}, b: I{Mov64Imm(R2, 0)}, out: RegsOf(R2), want: NotEqual},
	{name: "jump to next = nop", a: I{JneImm(R1, 0, 0)}, b: I{}, want: Equal},
	{name: "diamond vs select", a: I{JeqImm(R1, 0, 2), Mov64Imm(R0, 1), Ja(1), Mov64Imm(R0, 2)},
		b: I{Mov64Imm(R0, 1), JneImm(R1, 0, 1), Mov64Imm(R0, 2)}, want: Equal},
	{name: "known constant folds branch", a: I{JeqImm(R1, 5, 1), Mov64Imm(R0, 7)}, b: I{}, pre: map[Reg]RegPre{R1: ConstScalar(5)}, want: Equal},
	// pointers compared with numbers: real addresses are negative signed
	{name: "r10 s> 0 is false", a: I{Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 0), JsgtImm(R10, 0, 1), Mov64Imm(R0, 1)}, want: Equal},
	{name: "r10 s> 0 does not skip", a: I{Mov64Imm(R0, 0)}, b: I{Mov64Imm(R0, 0), JsgtImm(R10, 0, 1), Mov64Imm(R0, 1)}, want: NotEqual},
	{name: "r10 s<= 32 is true", a: I{Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 1), JsleImm(R10, 32, 1), Mov64Imm(R0, 0)}, want: Equal},
	// initialisation
	{name: "b reads uninit", a: I{Mov64Imm(R0, 0)}, b: I{Mov64Reg(R0, R5), And64Imm(R0, 0)}, in: RegsOf(R0), out: RegsOf(R0), want: NotEqual},
	{name: "b leaves live-out uninit", a: I{Mov64Imm(R2, 1)}, b: I{}, in: RegsOf(R0), out: RegsOf(R2), want: NotEqual},
	// whole programs: exit, packet bounds, maps, helper order
	{name: "exit value", prog: true, a: I{Mov64Imm(R0, 1), Exit()}, b: I{Mov64Imm(R0, 2), Exit()}, want: NotEqual},
	{name: "exit mov32", prog: true, a: I{Mov64Imm(R0, 1), Exit()}, b: I{Mov32Imm(R0, 1), Exit()}, want: Equal},
	{name: "ldxsh of ctx->data faults", prog: true, a: I{LdxW(R2, R1, 0), Mov64Imm(R0, 0), Exit()},
		b: I{LdxSH(R2, R1, 0), Mov64Imm(R0, 0), Exit()}, want: NotEqual},
	{name: "packet bounds dropped", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 2), LdxB(R0, R2, 12), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(pktPro, I{LdxB(R0, R2, 12), Exit()}), want: NotEqual},
	{name: "packet bounds jgt = jge-1", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 2), LdxB(R0, R2, 12), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 13), JgeReg(R4, R3, 2), LdxB(R0, R2, 12), Exit(), Mov64Imm(R0, 0), Exit()}), want: Equal},
	{name: "packet off by one", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 2), LdxB(R0, R2, 13), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 13), JgtReg(R4, R3, 2), LdxB(R0, R2, 13), Exit(), Mov64Imm(R0, 0), Exit()}), want: NotEqual},
	{name: "packet ldxh is little-endian", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 2), LdxH(R0, R2, 12), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 5), LdxB(R0, R2, 13), Lsh64Imm(R0, 8), LdxB(R5, R2, 12), Or64Reg(R0, R5), Exit(), Mov64Imm(R0, 0), Exit()}), want: Equal},
	{name: "packet ldxh byte order", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 2), LdxH(R0, R2, 12), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 5), LdxB(R0, R2, 12), Lsh64Imm(R0, 8), LdxB(R5, R2, 13), Or64Reg(R0, R5), Exit(), Mov64Imm(R0, 0), Exit()}), want: NotEqual},
	{name: "packet store differs", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 1), StB(R2, 0, 1), Mov64Imm(R0, 2), Exit()}),
		b: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 1), StB(R2, 1, 1), Mov64Imm(R0, 2), Exit()}), want: NotEqual},
	{name: "packet store = store", prog: true,
		a: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 1), StH(R2, 0, 0x0102), Mov64Imm(R0, 2), Exit()}),
		b: cat(pktPro, I{Mov64Reg(R4, R2), Add64Imm(R4, 14), JgtReg(R4, R3, 2), StB(R2, 1, 1), StB(R2, 0, 2), Mov64Imm(R0, 2), Exit()}), want: Equal},
	{name: "lookup NULL unchecked", prog: true, maps: hashMap,
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(lookup(StW(R10, -4, 1)), I{LdxW(R0, R0, 0), Exit()}), want: NotEqual},
	{name: "array lookup in range never NULL", prog: true, maps: arrMap,
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(lookup(StW(R10, -4, 1)), I{LdxW(R0, R0, 0), Exit()}), want: Equal},
	{name: "lookup key differs", prog: true, maps: hashMap,
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(lookup(StW(R10, -4, 2)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), Exit(), Mov64Imm(R0, 0), Exit()}), want: NotEqual},
	{name: "lookup key built differently", prog: true, maps: hashMap,
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), Exit(), Mov64Imm(R0, 0), Exit()}),
		b: cat(I{Mov64Imm(R3, 1)}, lookup(StxW(R10, R3, -4)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), Exit(), Mov64Imm(R0, 0), Exit()}), want: Equal},
	{name: "map value write", prog: true, maps: hashMap,
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 1), StW(R0, 0, 7), Mov64Imm(R0, 0), Exit()}),
		b: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 1), StW(R0, 4, 7), Mov64Imm(R0, 0), Exit()}), want: NotEqual},
	{name: "helper call order", prog: true,
		a: I{Mov64Imm(R1, 1), Mov64Imm(R2, 0), Call(23), Mov64Imm(R1, 2), Mov64Imm(R2, 0), Call(23), Mov64Imm(R0, 0), Exit()},
		b: I{Mov64Imm(R1, 2), Mov64Imm(R2, 0), Call(23), Mov64Imm(R1, 1), Mov64Imm(R2, 0), Call(23), Mov64Imm(R0, 0), Exit()}, want: NotEqual},
	{name: "helper calls same", prog: true,
		a: I{Mov64Imm(R1, 1), Mov64Imm(R2, 0), Call(23), Mov64Imm(R0, 0), Exit()},
		b: I{Mov64Imm(R2, 0), Mov64Imm(R1, 1), Call(23), Mov64Imm(R0, 0), Exit()}, want: Equal},
	{name: "helper result used", prog: true,
		a: I{Mov64Imm(R1, 1), Mov64Imm(R2, 0), Call(23), Exit()},
		b: I{Mov64Imm(R1, 1), Mov64Imm(R2, 0), Call(23), Mov64Imm(R0, 99), Exit()}, want: NotEqual},
}

func runCase(t *testing.T, ck *Checker, c tcase) Result {
	t.Helper()
	ctx := context.Background()
	if c.prog {
		pa, err := interp.NewProgram("a", ebpf.XDP, c.a, c.maps)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := interp.NewProgram("b", ebpf.XDP, c.b, c.maps)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ck.Programs(ctx, pa, pb)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	w := &Window{A: c.a, B: c.b, LiveIn: c.in, LiveOut: c.out, StackDead: c.dead, Type: ebpf.XDP, Maps: c.maps}
	if w.LiveIn == 0 {
		w.LiveIn = allRegs
	}
	if w.LiveOut == 0 {
		w.LiveOut = allRegs
	}
	for r, p := range c.pre {
		w.Pre[r] = p
	}
	r, err := ck.Window(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTable(t *testing.T) {
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	// a generous solver limit: under a loaded make test one case took more
	// than the default 10 s (0.2 s alone); the verdicts are what this checks
	ck := NewChecker(&Options{NoCache: true, Timeout: time.Minute})
	defer ck.Close()
	neq := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCase(t, ck, c)
			if r.Verdict != c.want {
				t.Fatalf("verdict %s (%s), want %s", r.Verdict, r.Reason, c.want)
			}
			if r.Verdict == NotEqual {
				neq++
				if r.Counterexample == nil || r.Counterexample.Diff == "" {
					t.Fatalf("not equal without a reproduced counterexample")
				}
				t.Logf("counterexample: %s", r.Counterexample.Diff)
			}
		})
	}
	t.Logf("%d cases, %d not equal", len(cases), neq)
}
