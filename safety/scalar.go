package safety

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/k2opt/k2opt/bpf"
)

// Scalar is the verifier's abstraction of a 64-bit value: a tnum plus
// unsigned and signed bounds on the full value and on its low 32 bits. Every
// constructor and operation leaves it synchronized (reg_bounds_sync); a
// Scalar whose bounds are empty describes no value (an infeasible branch).
type Scalar struct {
	T              Tnum
	Umin, Umax     uint64
	Smin, Smax     int64
	U32min, U32max uint32
	S32min, S32max int32
}

// Unknown is the scalar that may hold any value.
func Unknown() Scalar {
	return Scalar{T: TnumUnknown, Umax: math.MaxUint64, Smin: math.MinInt64, Smax: math.MaxInt64,
		U32max: math.MaxUint32, S32min: math.MinInt32, S32max: math.MaxInt32}
}

// Const is the known constant v.
func Const(v uint64) Scalar {
	return Scalar{T: TnumConst(v), Umin: v, Umax: v, Smin: int64(v), Smax: int64(v),
		U32min: uint32(v), U32max: uint32(v), S32min: int32(v), S32max: int32(v)}
}

// URange is an unknown value known to lie in [lo, hi] (unsigned).
func URange(lo, hi uint64) Scalar {
	s := Unknown()
	s.Umin, s.Umax = lo, hi
	s.sync()
	return s
}

// IsConst reports whether the value is known.
func (s Scalar) IsConst() bool { return s.T.IsConst() }

// Valid reports whether some value satisfies every bound.
func (s Scalar) Valid() bool {
	return s.Umin <= s.Umax && s.Smin <= s.Smax && s.U32min <= s.U32max && s.S32min <= s.S32max &&
		s.T.Value&s.T.Mask == 0 && s.Umin <= s.T.Max() && s.Umax >= s.T.Min()
}

func (s Scalar) String() string {
	if s.IsConst() {
		return fmt.Sprintf("%d", int64(s.T.Value))
	}
	out := ""
	if s.Umin != 0 || s.Umax != math.MaxUint64 {
		out += fmt.Sprintf(" umin=%d umax=%d", s.Umin, s.Umax)
	}
	if s.Smin != math.MinInt64 || s.Smax != math.MaxInt64 {
		out += fmt.Sprintf(" smin=%d smax=%d", s.Smin, s.Smax)
	}
	if s.U32min != 0 || s.U32max != math.MaxUint32 {
		out += fmt.Sprintf(" u32=[%d,%d]", s.U32min, s.U32max)
	}
	if s.T.Mask != ^uint64(0) {
		out += " var_off=" + s.T.String()
	}
	if out == "" {
		return "unknown"
	}
	return out[1:]
}

// sync is reg_bounds_sync: derive each bound from the others until stable.
func (s *Scalar) sync() {
	if s.T.Mask == 0 && s.holds(s.T.Value) {
		// A known value inside every bound: the bounds collapse onto it
		// (what the rounds below compute, without running them).
		*s = Const(s.T.Value)
		return
	}
	// The kernel's fixed sequence (reg_bounds_sync in recent kernels):
	// bounds from the tnum, three deduction rounds, the tnum from the
	// bounds, bounds from the tnum again.
	s.fromTnum()
	s.deduce()
	s.deduce()
	s.deduce()
	s.toTnum()
	s.fromTnum()
}

// holds reports whether v is inside all of s's ranges (the tnum aside).
func (s *Scalar) holds(v uint64) bool {
	return s.Umin <= v && v <= s.Umax && s.Smin <= int64(v) && int64(v) <= s.Smax &&
		s.U32min <= uint32(v) && uint32(v) <= s.U32max && s.S32min <= int32(v) && int32(v) <= s.S32max
}

func (s *Scalar) fromTnum() {
	t := s.T
	const sign = uint64(1) << 63
	s.Smin = max(s.Smin, int64(t.Value|(t.Mask&sign)))
	s.Smax = min(s.Smax, int64(t.Value|(t.Mask&^sign)))
	s.Umin = max(s.Umin, t.Value)
	s.Umax = min(s.Umax, t.Value|t.Mask)
	v, m := uint32(t.Value), uint32(t.Mask)
	const sign32 = uint32(1) << 31
	s.S32min = max(s.S32min, int32(v|(m&sign32)))
	s.S32max = min(s.S32max, int32(v|(m&^sign32)))
	s.U32min = max(s.U32min, v)
	s.U32max = min(s.U32max, v|m)
}

func (s *Scalar) deduce() {
	// 32-bit signed <-> unsigned when the range does not cross the sign.
	if int32(s.U32min) <= int32(s.U32max) {
		s.S32min = max(s.S32min, int32(s.U32min))
		s.S32max = min(s.S32max, int32(s.U32max))
	}
	if uint32(s.S32min) <= uint32(s.S32max) {
		s.U32min = max(s.U32min, uint32(s.S32min))
		s.U32max = min(s.U32max, uint32(s.S32max))
	}
	// 64-bit signed <-> unsigned.
	if int64(s.Umin) <= int64(s.Umax) {
		s.Smin = max(s.Smin, int64(s.Umin))
		s.Smax = min(s.Smax, int64(s.Umax))
	}
	if uint64(s.Smin) <= uint64(s.Smax) {
		s.Umin = max(s.Umin, uint64(s.Smin))
		s.Umax = min(s.Umax, uint64(s.Smax))
	}
	// 64 -> 32: when the upper halves agree the low halves are ordered.
	if s.Umin>>32 == s.Umax>>32 {
		lo, hi := uint32(s.Umin), uint32(s.Umax)
		s.U32min, s.U32max = max(s.U32min, lo), min(s.U32max, hi)
		if int32(lo) <= int32(hi) {
			s.S32min, s.S32max = max(s.S32min, int32(lo)), min(s.S32max, int32(hi))
		}
	}
	if s.Smin>>32 == s.Smax>>32 {
		lo, hi := uint32(s.Smin), uint32(s.Smax)
		if lo <= hi {
			s.U32min, s.U32max = max(s.U32min, lo), min(s.U32max, hi)
		}
		if int32(lo) <= int32(hi) {
			s.S32min, s.S32max = max(s.S32min, int32(lo)), min(s.S32max, int32(hi))
		}
	}
	// 32 -> 64: a known upper half bounds the full value.
	if s.T.Mask>>32 == 0 {
		hi := s.T.Value &^ math.MaxUint32
		s.Umin = max(s.Umin, hi|uint64(s.U32min))
		s.Umax = min(s.Umax, hi|uint64(s.U32max))
	}
}

func (s *Scalar) toTnum() {
	if s.Umin > s.Umax || s.U32min > s.U32max {
		return
	}
	t := tnumIntersect(s.T, TnumRange(s.Umin, s.Umax))
	lo := tnumIntersect(t.subreg(), TnumRange(uint64(s.U32min), uint64(s.U32max)))
	s.T = Tnum{t.Value&^math.MaxUint32 | lo.Value, t.Mask&^math.MaxUint32 | lo.Mask}
}

// Contains reports whether every value of u is a value of s (u ⊆ s).
func (s Scalar) Contains(u Scalar) bool {
	return s.Umin <= u.Umin && u.Umax <= s.Umax && s.Smin <= u.Smin && u.Smax <= s.Smax &&
		s.U32min <= u.U32min && u.U32max <= s.U32max && s.S32min <= u.S32min && u.S32max <= s.S32max &&
		s.T.Contains(u.T)
}

// zext32 is the value after a 32-bit operation: the low half, zero-extended.
func (s Scalar) zext32() Scalar {
	r := Unknown()
	r.T = s.T.subreg()
	r.Umin, r.Umax = uint64(s.U32min), uint64(s.U32max)
	r.U32min, r.U32max, r.S32min, r.S32max = s.U32min, s.U32max, s.S32min, s.S32max
	r.sync()
	return r
}

// rng is one width's view of a scalar: unsigned and signed bounds.
type rng struct {
	umin, umax uint64
	smin, smax int64
}

func (s Scalar) rng(w int) rng {
	if w == 32 {
		return rng{uint64(s.U32min), uint64(s.U32max), int64(s.S32min), int64(s.S32max)}
	}
	return rng{s.Umin, s.Umax, s.Smin, s.Smax}
}

func umaxOf(w int) uint64 {
	if w == 32 {
		return math.MaxUint32
	}
	return math.MaxUint64
}

func sminOf(w int) int64 {
	if w == 32 {
		return math.MinInt32
	}
	return math.MinInt64
}

func smaxOf(w int) int64 {
	if w == 32 {
		return math.MaxInt32
	}
	return math.MaxInt64
}

func fullRng(w int) rng { return rng{0, umaxOf(w), sminOf(w), smaxOf(w)} }

func (r *rng) unknownSigned(w int)   { r.smin, r.smax = sminOf(w), smaxOf(w) }
func (r *rng) unknownUnsigned(w int) { r.umin, r.umax = 0, umaxOf(w) }

// addU adds with overflow detection at width w.
func addU(a, b uint64, w int) (uint64, bool) {
	s, c := bits.Add64(a, b, 0)
	return s, c == 0 && s <= umaxOf(w)
}

func addS(a, b int64, w int) (int64, bool) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, false
	}
	return s, s >= sminOf(w) && s <= smaxOf(w)
}

func subS(a, b int64, w int) (int64, bool) {
	s := a - b
	if (a >= 0 && b < 0 && s < 0) || (a < 0 && b > 0 && s >= 0) {
		return 0, false
	}
	return s, s >= sminOf(w) && s <= smaxOf(w)
}

// rngOp computes the bounds of one ALU op at width w (tnum aside).
func rngOp(k bpf.Kind, a, b rng, bc bool, bv uint64, w int) rng {
	r := fullRng(w)
	switch k {
	case bpf.KindAdd:
		lo, ok1 := addU(a.umin, b.umin, w)
		hi, ok2 := addU(a.umax, b.umax, w)
		if ok1 && ok2 {
			r.umin, r.umax = lo, hi
		}
		slo, ok1 := addS(a.smin, b.smin, w)
		shi, ok2 := addS(a.smax, b.smax, w)
		if ok1 && ok2 {
			r.smin, r.smax = slo, shi
		}
	case bpf.KindSub:
		if a.umin >= b.umax {
			r.umin, r.umax = a.umin-b.umax, a.umax-b.umin
		}
		slo, ok1 := subS(a.smin, b.smax, w)
		shi, ok2 := subS(a.smax, b.smin, w)
		if ok1 && ok2 {
			r.smin, r.smax = slo, shi
		}
	case bpf.KindMul:
		h1, lo := bits.Mul64(a.umax, b.umax)
		if h1 == 0 && lo <= umaxOf(w) {
			r.umin, r.umax = a.umin*b.umin, lo
		}
	case bpf.KindAnd:
		r.umax = min(a.umax, b.umax)
	case bpf.KindOr:
		r.umin = max(a.umin, b.umin)
	case bpf.KindLsh:
		if bc && bv < uint64(w) && a.umax <= umaxOf(w)>>bv {
			r.umin, r.umax = a.umin<<bv, a.umax<<bv
		}
	case bpf.KindRsh:
		if bc && bv < uint64(w) {
			r.umin, r.umax = a.umin>>bv, a.umax>>bv
		}
	case bpf.KindArsh:
		if bc && bv < uint64(w) {
			r.smin, r.smax = a.smin>>bv, a.smax>>bv
		}
	}
	return r
}

func (s *Scalar) setRng(r rng, w int) {
	if w == 32 {
		s.U32min, s.U32max = uint32(r.umin), uint32(r.umax)
		s.S32min, s.S32max = int32(r.smin), int32(r.smax)
		return
	}
	s.Umin, s.Umax, s.Smin, s.Smax = r.umin, r.umax, r.smin, r.smax
}

// tnumOp is the tnum of one ALU op, or false when only "unknown" is sound.
func tnumOp(k bpf.Kind, a, b Tnum, bc bool, bv uint64, w int) (Tnum, bool) {
	switch k {
	case bpf.KindAdd:
		return tnumAdd(a, b), true
	case bpf.KindSub:
		return tnumSub(a, b), true
	case bpf.KindMul:
		return tnumMul(a, b), true
	case bpf.KindAnd:
		return tnumAnd(a, b), true
	case bpf.KindOr:
		return tnumOr(a, b), true
	case bpf.KindXor:
		return tnumXor(a, b), true
	case bpf.KindLsh:
		if bc && bv < uint64(w) {
			return tnumLsh(a, uint8(bv)), true
		}
	case bpf.KindRsh:
		if bc && bv < uint64(w) {
			if w == 32 {
				a = a.subreg()
			}
			return tnumRsh(a, uint8(bv)), true
		}
	case bpf.KindArsh:
		if bc && bv < uint64(w) {
			return tnumArsh(a, uint8(bv), w), true
		}
	}
	return TnumUnknown, false
}

// ALU is the abstract result of dst = dst <k> src at width 32 or 64. Ops
// the domain does not follow (division, modulo, byte swaps of non-constants)
// give an unknown value of the right width.
func ALU(k bpf.Kind, dst, src Scalar, w int) Scalar {
	// is_safe_to_compute_dst_reg_range: division and modulo, and shifts by
	// anything but a constant below the width, leave the whole 64-bit
	// register unknown (even for constants and 32-bit ops).
	switch k {
	case bpf.KindAdd, bpf.KindSub, bpf.KindMul, bpf.KindAnd, bpf.KindOr, bpf.KindXor:
	case bpf.KindLsh, bpf.KindRsh, bpf.KindArsh:
		t := src.T
		if w == 32 {
			t = t.subreg()
		}
		if !t.IsConst() || src.Umax >= uint64(w) {
			return Unknown()
		}
	default:
		return Unknown()
	}
	if dst.IsConst() && src.IsConst() {
		if v, ok := evalConst(k, dst.T.Value, src.T.Value, w); ok {
			return Const(v)
		}
	}
	bc, bv := src.IsConst(), src.T.Value
	if w == 32 {
		bv = uint64(uint32(bv))
		r := Unknown()
		t, ok := tnumOp(k, dst.T.subreg(), src.T.subreg(), bc, bv, 32)
		if ok {
			r.T = t.subreg()
		} else {
			r.T = TnumConst(0)
			r.T.Mask = math.MaxUint32
		}
		rr := rngOp(k, dst.rng(32), src.rng(32), bc, bv, 32)
		r.setRng(rr, 32)
		// Zero-extend (the kernel's zext_32_to_64 and
		// __reg_assign_32_into_64), then synchronise once.
		r.Umin, r.Umax = uint64(r.U32min), uint64(r.U32max)
		r.Smin, r.Smax = 0, math.MaxUint32
		r.sync()
		return r
	}
	r := Unknown()
	if t, ok := tnumOp(k, dst.T, src.T, bc, bv, 64); ok {
		r.T = t
	}
	r.setRng(rngOp(k, dst.rng(64), src.rng(64), bc, bv, 64), 64)
	// The low half of add/sub/mul/and/or/xor/lsh depends only on low halves.
	switch k {
	case bpf.KindAdd, bpf.KindSub, bpf.KindMul, bpf.KindAnd, bpf.KindOr, bpf.KindXor, bpf.KindLsh:
		r.setRng(rngOp(k, dst.rng(32), src.rng(32), bc, uint64(uint32(bv)), 32), 32)
	}
	r.sync()
	return r
}

// evalConst computes an ALU op on constants with BPF's edge semantics.
func evalConst(k bpf.Kind, a, b uint64, w int) (uint64, bool) { return bpf.EvalALU(k, w, a, b) }

// Neg is -v at width w (the kernel computes it as 0 - v).
func Neg(v Scalar, w int) Scalar {
	return ALU(bpf.KindSub, Const(0), v, w)
}

// Trunc is the low size bytes of v, zero-extended (a narrow load or a
// 16/32-bit le conversion).
func Trunc(v Scalar, size int) Scalar {
	if size >= 8 {
		return v
	}
	if v.T == TnumUnknown && (size == 1 || size == 2 || size == 4) {
		return unknownBytes[size]
	}
	m := uint64(1)<<(8*uint(size)) - 1
	if v.Umax <= m {
		return v
	}
	r := URange(0, m)
	r.T = tnumIntersect(r.T, tnumCast(v.T, size))
	r.sync()
	return r
}

// unknownBytes[n] is an unknown n-byte value, zero-extended (narrow loads).
var unknownBytes = [...]Scalar{1: URange(0, 0xff), 2: URange(0, 0xffff), 4: URange(0, math.MaxUint32)}

// SignExt is the low bits of v sign-extended to 64 bits (movsx, ldsx),
// then truncated to w bits.
func SignExt(v Scalar, nbits, w int) Scalar {
	if v.IsConst() {
		sh := 64 - uint(nbits)
		x := uint64(int64(v.T.Value<<sh) >> sh)
		if w == 32 {
			x = uint64(uint32(x))
		}
		return Const(x)
	}
	half := uint64(1) << (nbits - 1)
	if v.Umax < half { // non-negative in nbits: the value is unchanged
		return v
	}
	if w == 32 {
		r := Unknown()
		r.S32min, r.S32max = -int32(half), int32(half-1)
		r.sync()
		return r.zext32()
	}
	r := Unknown()
	r.Smin, r.Smax = -int64(half), int64(half-1)
	r.sync()
	return r
}

// Swap is a byte swap or endianness conversion of the low width bits.
func Swap(k bpf.Kind, v Scalar, width int) Scalar {
	if k == bpf.KindLe {
		return Trunc(v, width/8)
	}
	if v.IsConst() {
		x := v.T.Value
		switch width {
		case 16:
			x = uint64(bits.ReverseBytes16(uint16(x)))
		case 32:
			x = uint64(bits.ReverseBytes32(uint32(x)))
		default:
			x = bits.ReverseBytes64(x)
		}
		return Const(x)
	}
	if width == 64 {
		return Unknown()
	}
	return URange(0, uint64(1)<<width-1)
}

// Join holds every value of a and of b.
func Join(a, b Scalar) Scalar {
	return Scalar{T: tnumUnion(a.T, b.T), Umin: min(a.Umin, b.Umin), Umax: max(a.Umax, b.Umax),
		Smin: min(a.Smin, b.Smin), Smax: max(a.Smax, b.Smax), U32min: min(a.U32min, b.U32min),
		U32max: max(a.U32max, b.U32max), S32min: min(a.S32min, b.S32min), S32max: max(a.S32max, b.S32max)}
}
