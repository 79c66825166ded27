package safety

import (
	"fmt"
	"math/bits"
)

// Tnum is a tristate number: bits set in Mask are unknown, the others equal
// the bits of Value (Value&Mask == 0 always). It is the kernel verifier's
// bit-level abstraction of a scalar.
type Tnum struct{ Value, Mask uint64 }

// TnumUnknown knows nothing.
var TnumUnknown = Tnum{0, ^uint64(0)}

// TnumConst is the known constant v.
func TnumConst(v uint64) Tnum { return Tnum{v, 0} }

// TnumRange is the smallest tnum holding every value of [min, max].
func TnumRange(min, max uint64) Tnum {
	chi := min ^ max
	b := bits.Len64(chi)
	if b > 63 {
		return TnumUnknown
	}
	delta := uint64(1)<<b - 1
	return Tnum{min &^ delta, delta}
}

// IsConst reports whether every bit is known.
func (t Tnum) IsConst() bool { return t.Mask == 0 }

// Min and Max are the smallest and largest unsigned values t holds.
func (t Tnum) Min() uint64 { return t.Value }

// Max is the largest unsigned value t holds.
func (t Tnum) Max() uint64 { return t.Value | t.Mask }

// Contains reports whether every value of u is a value of t.
func (t Tnum) Contains(u Tnum) bool {
	if u.Mask&^t.Mask != 0 {
		return false
	}
	return u.Value&^t.Mask == t.Value
}

func tnumAdd(a, b Tnum) Tnum {
	sm := a.Mask + b.Mask
	sv := a.Value + b.Value
	sigma := sm + sv
	chi := sigma ^ sv
	mu := chi | a.Mask | b.Mask
	return Tnum{sv &^ mu, mu}
}

func tnumSub(a, b Tnum) Tnum {
	dv := a.Value - b.Value
	alpha := dv + a.Mask
	beta := dv - b.Mask
	chi := alpha ^ beta
	mu := chi | a.Mask | b.Mask
	return Tnum{dv &^ mu, mu}
}

func tnumAnd(a, b Tnum) Tnum {
	alpha := a.Value | a.Mask
	beta := b.Value | b.Mask
	v := a.Value & b.Value
	return Tnum{v, alpha & beta &^ v}
}

func tnumOr(a, b Tnum) Tnum {
	v := a.Value | b.Value
	mu := a.Mask | b.Mask
	return Tnum{v, mu &^ v}
}

func tnumXor(a, b Tnum) Tnum {
	v := a.Value ^ b.Value
	mu := a.Mask | b.Mask
	return Tnum{v &^ mu, mu}
}

func tnumLsh(a Tnum, s uint8) Tnum { return Tnum{a.Value << s, a.Mask << s} }
func tnumRsh(a Tnum, s uint8) Tnum { return Tnum{a.Value >> s, a.Mask >> s} }

func tnumArsh(a Tnum, s uint8, width int) Tnum {
	if width == 32 {
		return Tnum{uint64(uint32(int32(uint32(a.Value)) >> s)), uint64(uint32(int32(uint32(a.Mask)) >> s))}
	}
	return Tnum{uint64(int64(a.Value) >> s), uint64(int64(a.Mask) >> s)}
}

// tnumMul follows the kernel's long multiplication over known and unknown bits.
func tnumMul(a, b Tnum) Tnum {
	accV := a.Value * b.Value
	accM := Tnum{}
	for a.Value != 0 || a.Mask != 0 {
		if a.Value&1 != 0 {
			accM = tnumAdd(accM, Tnum{0, b.Mask})
		} else if a.Mask&1 != 0 {
			accM = tnumAdd(accM, Tnum{0, b.Value | b.Mask})
		}
		a = tnumRsh(a, 1)
		b = tnumLsh(b, 1)
	}
	return tnumAdd(Tnum{accV, 0}, accM)
}

// tnumIntersect combines two facts about the same value.
func tnumIntersect(a, b Tnum) Tnum {
	v := a.Value | b.Value
	mu := a.Mask & b.Mask
	return Tnum{v &^ mu, mu}
}

// tnumUnion holds every value of a and of b.
func tnumUnion(a, b Tnum) Tnum {
	mu := a.Mask | b.Mask | (a.Value ^ b.Value)
	return Tnum{a.Value &^ mu, mu}
}

func tnumCast(a Tnum, size int) Tnum {
	if size >= 8 {
		return a
	}
	m := uint64(1)<<(8*uint(size)) - 1
	return Tnum{a.Value & m, a.Mask & m}
}

func (t Tnum) subreg() Tnum { return tnumCast(t, 4) }

func (t Tnum) String() string {
	if t.IsConst() {
		return fmt.Sprintf("%#x", t.Value)
	}
	return fmt.Sprintf("(%#x; %#x)", t.Value, t.Mask)
}
