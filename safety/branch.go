package safety

import (
	"math"

	"github.com/k2opt/k2opt/bpf"
)

// negate is the condition of the fall-through edge of a jump of kind k.
// KindJset's negation is represented by kindJnset.
const kindJnset = bpf.Kind(255)

func negate(k bpf.Kind) bpf.Kind {
	switch k {
	case bpf.KindJeq:
		return bpf.KindJne
	case bpf.KindJne:
		return bpf.KindJeq
	case bpf.KindJgt:
		return bpf.KindJle
	case bpf.KindJle:
		return bpf.KindJgt
	case bpf.KindJge:
		return bpf.KindJlt
	case bpf.KindJlt:
		return bpf.KindJge
	case bpf.KindJsgt:
		return bpf.KindJsle
	case bpf.KindJsle:
		return bpf.KindJsgt
	case bpf.KindJsge:
		return bpf.KindJslt
	case bpf.KindJslt:
		return bpf.KindJsge
	case bpf.KindJset:
		return kindJnset
	case kindJnset:
		return bpf.KindJset
	}
	return k
}

// swapOperands turns "a k b" into "b k' a".
func swapOperands(k bpf.Kind) bpf.Kind {
	switch k {
	case bpf.KindJgt:
		return bpf.KindJlt
	case bpf.KindJlt:
		return bpf.KindJgt
	case bpf.KindJge:
		return bpf.KindJle
	case bpf.KindJle:
		return bpf.KindJge
	case bpf.KindJsgt:
		return bpf.KindJslt
	case bpf.KindJslt:
		return bpf.KindJsgt
	case bpf.KindJsge:
		return bpf.KindJsle
	case bpf.KindJsle:
		return bpf.KindJsge
	}
	return k
}

// branchTaken is is_branch_taken for scalars: 1 when "a k b" always holds,
// 0 when it never does, -1 when both are possible.
func branchTaken(k bpf.Kind, a, b Scalar, w int) int {
	x, y := a.rng(w), b.rng(w)
	ta, tb := a.T, b.T
	if w == 32 {
		ta, tb = ta.subreg(), tb.subreg()
	}
	switch k {
	case bpf.KindJeq, bpf.KindJne:
		eq := -1
		switch {
		case ta.IsConst() && tb.IsConst():
			eq = b2i(ta.Value == tb.Value)
		case x.umin > y.umax || x.umax < y.umin || x.smin > y.smax || x.smax < y.smin:
			eq = 0
		case (ta.Value^tb.Value)&^(ta.Mask|tb.Mask) != 0:
			eq = 0
		}
		if eq < 0 || k == bpf.KindJeq {
			return eq
		}
		return 1 - eq
	case bpf.KindJset, kindJnset:
		if !tb.IsConst() {
			return -1
		}
		set := -1
		if ta.Value&tb.Value != 0 {
			set = 1
		} else if (ta.Value|ta.Mask)&tb.Value == 0 {
			set = 0
		}
		if set < 0 || k == bpf.KindJset {
			return set
		}
		return 1 - set
	case bpf.KindJgt:
		return cmp3(x.umin > y.umax, x.umax <= y.umin)
	case bpf.KindJge:
		return cmp3(x.umin >= y.umax, x.umax < y.umin)
	case bpf.KindJlt:
		return cmp3(x.umax < y.umin, x.umin >= y.umax)
	case bpf.KindJle:
		return cmp3(x.umax <= y.umin, x.umin > y.umax)
	case bpf.KindJsgt:
		return cmp3(x.smin > y.smax, x.smax <= y.smin)
	case bpf.KindJsge:
		return cmp3(x.smin >= y.smax, x.smax < y.smin)
	case bpf.KindJslt:
		return cmp3(x.smax < y.smin, x.smin >= y.smax)
	case bpf.KindJsle:
		return cmp3(x.smax <= y.smin, x.smin > y.smax)
	}
	return -1
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmp3(always, never bool) int {
	switch {
	case always:
		return 1
	case never:
		return 0
	}
	return -1
}

// refine is reg_set_min_max: the values of a and b given that "a k b"
// holds at width w. ok is false when no values satisfy it.
func refine(k bpf.Kind, a, b Scalar, w int) (Scalar, Scalar, bool) {
	x, y := a.rng(w), b.rng(w)
	x0, y0, ta, tb := x, y, a.T, b.T
	switch k {
	case bpf.KindJeq:
		if w == 64 {
			a.T = tnumIntersect(a.T, b.T)
			b.T = a.T
		} else {
			lo := tnumIntersect(a.T.subreg(), b.T.subreg())
			a.T = Tnum{a.T.Value&^math.MaxUint32 | lo.Value, a.T.Mask&^math.MaxUint32 | lo.Mask}
			b.T = Tnum{b.T.Value&^math.MaxUint32 | lo.Value, b.T.Mask&^math.MaxUint32 | lo.Mask}
		}
		x.umin, x.umax = max(x.umin, y.umin), min(x.umax, y.umax)
		x.smin, x.smax = max(x.smin, y.smin), min(x.smax, y.smax)
		y = x
	case bpf.KindJne:
		// Only a constant at one end of the other's range can be cut off.
		if y.umin == y.umax {
			c := y.umin
			if x.umin == c {
				x.umin++
			} else if x.umax == c {
				x.umax--
			}
			if x.smin == int64(c) || (w == 32 && x.smin == int64(int32(c))) {
				x.smin++
			} else if x.smax == int64(c) || (w == 32 && x.smax == int64(int32(c))) {
				x.smax--
			}
		}
		if x.umin == x.umax {
			c := x.umin
			if y.umin == c {
				y.umin++
			} else if y.umax == c {
				y.umax--
			}
		}
		if x.umin > x.umax || y.umin > y.umax || x.smin > x.smax {
			return a, b, false
		}
	case bpf.KindJset:
		tb := b.T
		if w == 32 {
			tb = tb.subreg()
		}
		if tb.IsConst() && tb.Value != 0 && tb.Value&(tb.Value-1) == 0 {
			a.T = tnumIntersect(a.T, Tnum{tb.Value, ^tb.Value})
		}
	case kindJnset:
		tb := b.T
		if w == 32 {
			tb = tb.subreg()
		}
		if tb.IsConst() {
			a.T = Tnum{a.T.Value &^ tb.Value, a.T.Mask &^ tb.Value}
		}
	case bpf.KindJlt:
		if y.umax == 0 || x.umin == umaxOf(w) {
			return a, b, false
		}
		x.umax = min(x.umax, y.umax-1)
		y.umin = max(y.umin, x.umin+1)
	case bpf.KindJle:
		x.umax = min(x.umax, y.umax)
		y.umin = max(y.umin, x.umin)
	case bpf.KindJgt:
		if x.umax == 0 || y.umin == umaxOf(w) {
			return a, b, false
		}
		x.umin = max(x.umin, y.umin+1)
		y.umax = min(y.umax, x.umax-1)
	case bpf.KindJge:
		x.umin = max(x.umin, y.umin)
		y.umax = min(y.umax, x.umax)
	case bpf.KindJslt:
		if y.smax == sminOf(w) || x.smin == smaxOf(w) {
			return a, b, false
		}
		x.smax = min(x.smax, y.smax-1)
		y.smin = max(y.smin, x.smin+1)
	case bpf.KindJsle:
		x.smax = min(x.smax, y.smax)
		y.smin = max(y.smin, x.smin)
	case bpf.KindJsgt:
		if x.smax == sminOf(w) || y.smin == smaxOf(w) {
			return a, b, false
		}
		x.smin = max(x.smin, y.smin+1)
		y.smax = min(y.smax, x.smax-1)
	case bpf.KindJsge:
		x.smin = max(x.smin, y.smin)
		y.smax = min(y.smax, x.smax)
	}
	if x.umin > x.umax || y.umin > y.umax || x.smin > x.smax || y.smin > y.smax {
		return a, b, false
	}
	// Only a side whose facts changed needs re-synchronising (both came
	// in synchronised); constants stay constants.
	if x != x0 || a.T != ta {
		a.setRng(x, w)
		a.sync()
	}
	if y != y0 || b.T != tb {
		b.setRng(y, w)
		b.sync()
	}
	return a, b, a.Valid() && b.Valid()
}
