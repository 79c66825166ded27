package smt

import "fmt"

// Opaque values, map-value pointers made from a precondition, and the
// map-update guard on map-value accesses.

// OpaqueVal is a live-in register whose real type the encoder does not
// model (a pointer of a kind it does not track, or one whose kind differs
// by path): an unconstrained bit-vector t. Comparisons, moves and
// arithmetic on it are numeric, as in the kernel, and so is the result;
// dereferencing it or passing it to a helper is Unsupported. Agreement of
// two runs for every value of t implies agreement for the real value.
func (e *Encoder) OpaqueVal(t Term) Val { return Val{T: t, Kind: Opaque, Init: e.tru} }

// taint keeps arithmetic on an opaque operand opaque, so that a pointer
// the encoder does not track is never dereferenced as a scalar.
func taint(v Val, dst, src Val) Val {
	if dst.Kind == Opaque || src.Kind == Opaque {
		v.Kind = Opaque
	}
	return v
}

// MapValPtr is a pointer off bytes into the value of map m under key
// (off is koff when kok), NULL when null holds: the value a lookup of key
// returned before the window. Two such pointers alias exactly when their
// keys are equal, as for lookups inside the run. The caller states that
// the key is present when the pointer is not NULL (see Present).
func (e *Encoder) MapValPtr(m int, key, off Term, koff int64, kok bool, null Term) Val {
	v := e.PtrVal(PtrMapVal, e.MapValBase(m, key), off, koff, kok)
	v.Map, v.Key, v.Null = m, key, null
	if null != e.fls {
		v.T = e.ite(null, e.C.BV(0, 64), v.T)
	}
	return v
}

// checkDirty refuses a map-value access after an update or delete of the
// same map on the path: the encoder logs updates as calls and does not
// write them into the value memory (arrays update in place).
func (r *run) checkDirty(st *state, p Val) error {
	if p.Kind == PtrMapVal && st.dirty&(1<<uint(p.Map%64)) != 0 {
		return r.unsupported("map value access after an update or delete of the same map")
	}
	return nil
}

// UnsureMap is the symbolic value size (1..1<<16) and read-only flag of a
// map whose identity is not known.
func (e *Encoder) UnsureMap(m int) (size, ro Term) {
	size = e.Sym(fmt.Sprintf("valsize%d", m))
	if _, ok := e.consts[fmt.Sprintf("valro%d", m)]; !ok {
		e.Assume = append(e.Assume, e.C.UGE(size, e.C.BV(1, 64)), e.C.ULE(size, e.C.BV(1<<16, 64)))
		e.consts[fmt.Sprintf("valro%d", m)] = e.C.Const(fmt.Sprintf("valro%d", m), e.C.BoolSort())
	}
	return size, e.consts[fmt.Sprintf("valro%d", m)]
}
