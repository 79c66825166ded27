package interp

import (
	"math/rand/v2"

	"github.com/k2opt/k2opt/bpf"
)

// Random programs for differential testing (interpreter vs kernel, SMT vs
// interpreter). RandomXDP builds an XDP program the verifier accepts:
//
//	prologue  r6 = data; bounds check data+RandPacketLen <= data_end;
//	          stack slots [r10-RandStackLo, r10-RandStackHi) and r0-r5,
//	          r7-r9 loaded from the packet
//	body      random ALU64/ALU32 (every op, imm and reg), forward
//	          JMP/JMP32 jumps, stack and packet loads/stores of every
//	          width, sign-extending loads, atomics on the stack
//	epilogue  registers stored at packet offset RandOutRegs, the stack
//	          area copied to RandOutStack, return XDP_PASS
//
// so the output packet carries every 64-bit result. r6 (the packet
// pointer) is never written by the body.
const (
	RandPacketLen = 320
	RandScratch   = 64  // body packet accesses stay in [0, RandScratch)
	RandRegsIn    = 64  // registers are loaded from here
	RandOutRegs   = 136 // 9 registers stored here
	RandOutStack  = 208 // the stack area copied here
	RandStackLo   = 112 // stack area: r10-RandStackLo .. r10-RandStackLo+RandStackLen
	RandStackLen  = 64
)

var randRegs = [...]bpf.Reg{bpf.R0, bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5, bpf.R7, bpf.R8, bpf.R9}

// RandOptions tune RandomXDP.
type RandOptions struct {
	Body int  // body instructions (default 40)
	V4   bool // use cpu v4 instructions (sdiv, smod, movsx, ldsx, bswap, gotol)
}

func randAluOps(v4 bool) []bpf.Op {
	var ops []bpf.Op
	for _, op := range bpf.Ops() {
		info := op.Info()
		if info.Class != bpf.ClassALU && info.Class != bpf.ClassALU64 {
			continue
		}
		if info.Kind == bpf.KindAddrSpaceCast || (!v4 && info.CPU >= 4) {
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

func randJmpOps(v4 bool) []bpf.Op {
	var ops []bpf.Op
	for _, op := range bpf.Ops() {
		info := op.Info()
		if info.Flags&bpf.FlagCondJump == 0 || info.Kind == bpf.KindMayGoto || (!v4 && info.CPU >= 4) {
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

// interesting values for immediates and packet words.
var interesting64 = []uint64{0, 1, 2, 7, 8, 31, 32, 63, 64, 0xff, 0x7f, 0x80, 0xffff, 0x8000, 0x7fffffff, 0x80000000,
	0xffffffff, 0x100000000, 1<<63 - 1, 1 << 63, ^uint64(0), ^uint64(0) - 1, 0xffffffff80000000, 0xffffffff7fffffff}

// RandValue returns a random 64-bit value biased towards boundaries.
func RandValue(rng *rand.Rand) uint64 {
	switch rng.IntN(4) {
	case 0:
		return interesting64[rng.IntN(len(interesting64))]
	case 1:
		return uint64(int64(rng.IntN(33) - 16))
	case 2:
		return interesting64[rng.IntN(len(interesting64))] + uint64(int64(rng.IntN(5)-2))
	}
	return rng.Uint64()
}

func randImm(rng *rand.Rand) int32 {
	switch rng.IntN(3) {
	case 0:
		return int32(interesting64[rng.IntN(len(interesting64))])
	case 1:
		return int32(rng.IntN(33) - 16)
	}
	return int32(rng.Uint32())
}

// RandomXDP returns a random verifier-acceptable XDP program.
func RandomXDP(rng *rand.Rand, o RandOptions) []bpf.Insn {
	n := o.Body
	if n == 0 {
		n = 40
	}
	alu := randAluOps(o.V4)
	jmp := randJmpOps(o.V4)
	var p []bpf.Insn
	// prologue
	p = append(p,
		bpf.LdxW(bpf.R6, bpf.R1, 0),
		bpf.LdxW(bpf.R7, bpf.R1, 4),
		bpf.Mov64Reg(bpf.R8, bpf.R6),
		bpf.Add64Imm(bpf.R8, RandPacketLen),
		bpf.JleReg(bpf.R8, bpf.R7, 2),
		bpf.Mov64Imm(bpf.R0, 1),
		bpf.Exit(),
	)
	for k := 0; k < RandStackLen/8; k++ {
		p = append(p, bpf.LdxDW(bpf.R1, bpf.R6, int16(8*k)), bpf.StxDW(bpf.R10, bpf.R1, int16(-RandStackLo+8*k)))
	}
	for k, r := range randRegs {
		p = append(p, bpf.LdxDW(r, bpf.R6, int16(RandRegsIn+8*k)))
	}
	// body: jumps are patched once the body length is known
	body := make([]bpf.Insn, 0, n)
	type fix struct{ at, to int }
	var fixes []fix
	reg := func() bpf.Reg { return randRegs[rng.IntN(len(randRegs))] }
	sizes := []uint8{1, 2, 4, 8}
	for len(body) < n {
		switch k := rng.IntN(20); {
		case k < 11: // ALU
			op := alu[rng.IntN(len(alu))]
			info := op.Info()
			in := bpf.New(op, reg(), reg(), 0, randImm(rng))
			switch {
			case info.ImmF == bpf.FShift:
				in.Imm = int32(rng.IntN(int(info.Width)))
			case info.ImmF == bpf.FNonZero && in.Imm == 0:
				in.Imm = -1
			case info.Kind == bpf.KindLe || info.Kind == bpf.KindBe || info.Kind == bpf.KindBswap:
				in.Imm = int32(info.Width)
			}
			body = append(body, in)
		case k < 14: // conditional or unconditional forward jump
			if rng.IntN(8) == 0 {
				// an unconditional jump may only skip code another path
				// reaches, or the verifier reports it unreachable: +0
				if o.V4 && rng.IntN(2) == 0 {
					body = append(body, bpf.Gotol(0))
				} else {
					body = append(body, bpf.Ja(0))
				}
				continue
			}
			in := bpf.New(jmp[rng.IntN(len(jmp))], reg(), reg(), 0, randImm(rng))
			to := len(body) + 1 + rng.IntN(n-len(body))
			fixes = append(fixes, fix{len(body), to})
			body = append(body, in)
		case k < 16: // stack load / store
			sz := sizes[rng.IntN(4)]
			off := int16(-RandStackLo + int(sz)*rng.IntN(RandStackLen/int(sz)))
			body = append(body, memOp(rng, sz, bpf.R10, off, reg(), o.V4))
		case k < 18: // packet load / store
			sz := sizes[rng.IntN(4)]
			off := int16(rng.IntN(RandScratch - int(sz) + 1))
			body = append(body, memOp(rng, sz, bpf.R6, off, reg(), o.V4))
		default: // atomic on the stack
			dw := rng.IntN(2) == 0
			sz := 4
			var ops []bpf.Op
			if dw {
				sz = 8
				ops = []bpf.Op{bpf.OpAtomicAddDW, bpf.OpAtomicOrDW, bpf.OpAtomicAndDW, bpf.OpAtomicXorDW, bpf.OpAtomicFetchAddDW,
					bpf.OpAtomicFetchOrDW, bpf.OpAtomicFetchAndDW, bpf.OpAtomicFetchXorDW, bpf.OpAtomicXchgDW, bpf.OpAtomicCmpxchgDW}
			} else {
				ops = []bpf.Op{bpf.OpAtomicAddW, bpf.OpAtomicOrW, bpf.OpAtomicAndW, bpf.OpAtomicXorW, bpf.OpAtomicFetchAddW,
					bpf.OpAtomicFetchOrW, bpf.OpAtomicFetchAndW, bpf.OpAtomicFetchXorW, bpf.OpAtomicXchgW, bpf.OpAtomicCmpxchgW}
			}
			off := int16(-RandStackLo + sz*rng.IntN(RandStackLen/sz))
			op := ops[rng.IntN(len(ops))]
			body = append(body, bpf.Atomic(op, bpf.R10, reg(), off))
			if op == bpf.OpAtomicCmpxchgW {
				// Kernel 6.18 bug worked around: the verifier inserts the
				// zero-extension of r0 after a 32-bit cmpxchg only when
				// it sees a 64-bit read of r0 on a path it did not prune;
				// x86's cmpxchg leaves rax's high half alone on success,
				// so the kernel's r0 depends on state pruning. The ISA
				// (and this interpreter) zero-extend; an explicit w0 = w0
				// keeps the comparison about the ISA. See docs/interp.md.
				body = append(body, bpf.Mov32Reg(bpf.R0, bpf.R0))
			}
		}
	}
	for _, f := range fixes {
		body[f.at].Off = int16(f.to - f.at - 1)
	}
	p = append(p, body...)
	// epilogue
	for k, r := range randRegs {
		p = append(p, bpf.StxDW(bpf.R6, r, int16(RandOutRegs+8*k)))
	}
	for k := 0; k < RandStackLen/8; k++ {
		p = append(p, bpf.LdxDW(bpf.R1, bpf.R10, int16(-RandStackLo+8*k)), bpf.StxDW(bpf.R6, bpf.R1, int16(RandOutStack+8*k)))
	}
	p = append(p, bpf.Mov64Imm(bpf.R0, 2), bpf.Exit())
	return p
}

func memOp(rng *rand.Rand, sz uint8, base bpf.Reg, off int16, r bpf.Reg, v4 bool) bpf.Insn {
	var ld, ldsx, st, stx bpf.Op
	switch sz {
	case 1:
		ld, ldsx, st, stx = bpf.OpLdxB, bpf.OpLdxSB, bpf.OpStB, bpf.OpStxB
	case 2:
		ld, ldsx, st, stx = bpf.OpLdxH, bpf.OpLdxSH, bpf.OpStH, bpf.OpStxH
	case 4:
		ld, ldsx, st, stx = bpf.OpLdxW, bpf.OpLdxSW, bpf.OpStW, bpf.OpStxW
	default:
		ld, ldsx, st, stx = bpf.OpLdxDW, bpf.OpLdxDW, bpf.OpStDW, bpf.OpStxDW
	}
	switch rng.IntN(4) {
	case 0:
		return bpf.New(ld, r, base, off, 0)
	case 1:
		if v4 {
			return bpf.New(ldsx, r, base, off, 0)
		}
		return bpf.New(ld, r, base, off, 0)
	case 2:
		return bpf.New(st, base, 0, off, randImm(rng))
	}
	return bpf.New(stx, base, r, off, 0)
}

// RandomPacket returns a packet for RandomXDP programs: words biased
// towards boundary values.
func RandomPacket(rng *rand.Rand) []byte {
	p := make([]byte, RandPacketLen)
	for k := 0; k+8 <= len(p); k += 8 {
		v := RandValue(rng)
		for b := 0; b < 8; b++ {
			p[k+b] = byte(v >> (8 * b))
		}
	}
	return p
}
