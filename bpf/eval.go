package bpf

// Concrete semantics of the binary ALU ops and the conditional jumps, with
// the kernel's edge cases (x/0 = 0, x%0 = x, MIN/-1 = MIN, MIN%-1 = 0,
// shift counts masked by width, 32-bit results zero-extended). The static
// checker's constant folding and the search's window evaluator share them;
// the interpreter's hand-tuned loops are checked against the kernel.

// EvalALU computes the binary ALU op of kind k at width w (32 or 64) on a
// (dst) and b (src or imm). ok is false for kinds that are not binary ALU
// ops (neg, mov, byte swaps, ...).
func EvalALU(k Kind, w int, a, b uint64) (r uint64, ok bool) {
	if w == 32 {
		a, b = uint64(uint32(a)), uint64(uint32(b))
	}
	mask := uint64(w - 1)
	switch k {
	case KindAdd:
		r = a + b
	case KindSub:
		r = a - b
	case KindMul:
		r = a * b
	case KindDiv:
		if b != 0 {
			r = a / b
		}
	case KindMod:
		r = a
		if b != 0 {
			r = a % b
		}
	case KindSDiv, KindSMod:
		x, y := int64(a), int64(b)
		if w == 32 {
			x, y = int64(int32(a)), int64(int32(b))
		}
		switch {
		case y == 0 && k == KindSDiv:
			r = 0
		case y == 0:
			r = a
		case y == -1 && k == KindSDiv:
			r = uint64(-x)
		case y == -1:
			r = 0
		case k == KindSDiv:
			r = uint64(x / y)
		default:
			r = uint64(x % y)
		}
	case KindAnd:
		r = a & b
	case KindOr:
		r = a | b
	case KindXor:
		r = a ^ b
	case KindLsh:
		r = a << (b & mask)
	case KindRsh:
		r = a >> (b & mask)
	case KindArsh:
		if w == 32 {
			r = uint64(uint32(int32(uint32(a)) >> (b & mask)))
		} else {
			r = uint64(int64(a) >> (b & mask))
		}
	default:
		return 0, false
	}
	if w == 32 {
		r = uint64(uint32(r))
	}
	return r, true
}

// EvalCond reports whether the conditional jump of kind k at width w (32 or
// 64) is taken for dst value a and src/imm value b. ok is false for kinds
// that are not conditional jumps.
func EvalCond(k Kind, w int, a, b uint64) (taken, ok bool) {
	var sa, sb int64
	if w == 32 {
		a, b = uint64(uint32(a)), uint64(uint32(b))
		sa, sb = int64(int32(a)), int64(int32(b))
	} else {
		sa, sb = int64(a), int64(b)
	}
	switch k {
	case KindJeq:
		return a == b, true
	case KindJne:
		return a != b, true
	case KindJgt:
		return a > b, true
	case KindJge:
		return a >= b, true
	case KindJlt:
		return a < b, true
	case KindJle:
		return a <= b, true
	case KindJset:
		return a&b != 0, true
	case KindJsgt:
		return sa > sb, true
	case KindJsge:
		return sa >= sb, true
	case KindJslt:
		return sa < sb, true
	case KindJsle:
		return sa <= sb, true
	}
	return false, false
}
