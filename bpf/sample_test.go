package bpf

// samples returns two valid instances of op with different operands, used
// by the disassembly, round-trip and kernel tests.
func samples(op Op) []Insn {
	r := op.Info()
	var out []Insn
	for v := 0; v < 2; v++ {
		dst, src := Reg(1+v*8), Reg(2+v*8) // r1/r2, r9/r10
		off, imm := int16(4), int32(5)
		if v == 1 {
			off, imm = -8, -7
		}
		switch r.ImmF {
		case FShift:
			imm = 3
			if v == 1 {
				imm = int32(r.Width) - 1
			}
		case FAddrAS:
			imm = 1
			if v == 1 {
				imm = 1 << 16
			}
		}
		if r.Flags&FlagJump != 0 || r.Flags&FlagCall != 0 {
			off, imm = int16(v), int32(v)
		}
		if r.SrcF == FRegRW && src == R10 {
			src = R3
		}
		in := New(op, dst, src, off, imm)
		switch r.Kind {
		case KindLdImm64:
			in.Imm2 = 0
			if r.Imm2F == FAny {
				in.Imm2 = int32(9 * v)
			}
			if r.Pseudo == PseudoNone {
				in.SetImm64([]uint64{0x1122334455667788, 0xffffffff80000000}[v])
			}
		case KindAtomic:
			if r.Atomic == AtomicCmpxchg {
				in.Dst = Reg(1 + v)
			}
		}
		out = append(out, in)
	}
	return out
}
