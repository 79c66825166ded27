package smt

// #include "z3shim.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// Term is a Z3 expression (Boolean, bit-vector or array) owned by the arena
// of the Context that built it. It is a small value (two uint32s): an arena
// index and the serial number stored there, so a Term released by its Scope,
// or one from another Context, is detected (as ErrInvalidTerm) instead of
// reaching Z3 as a dangling pointer. The zero Term is invalid.
type Term struct {
	i uint32
	s uint32
}

// Func is an uninterpreted function declaration, owned by the arena like a
// Term (released with its Scope).
type Func struct {
	t Term
}

// Operation codes; they mirror the K_* enum in z3shim.h.
const (
	opAdd      = C.K_ADD
	opSub      = C.K_SUB
	opMul      = C.K_MUL
	opUDiv     = C.K_UDIV
	opURem     = C.K_UREM
	opSDiv     = C.K_SDIV
	opSRem     = C.K_SREM
	opSMod     = C.K_SMOD
	opBVAnd    = C.K_BVAND
	opBVOr     = C.K_BVOR
	opBVXor    = C.K_BVXOR
	opShl      = C.K_SHL
	opLShr     = C.K_LSHR
	opAShr     = C.K_ASHR
	opConcat   = C.K_CONCAT
	opEq       = C.K_EQ
	opULT      = C.K_ULT
	opULE      = C.K_ULE
	opUGT      = C.K_UGT
	opUGE      = C.K_UGE
	opSLT      = C.K_SLT
	opSLE      = C.K_SLE
	opSGT      = C.K_SGT
	opSGE      = C.K_SGE
	opImplies  = C.K_IMPLIES
	opXor      = C.K_XOR
	opSelect   = C.K_SELECT
	opBVNot    = C.K_BVNOT
	opNeg      = C.K_NEG
	opNot      = C.K_NOT
	opSimplify = C.K_SIMPLIFY
	opIte      = C.K_ITE
	opStore    = C.K_STORE
	opAnd      = C.K_AND
	opOr       = C.K_OR
	opDistinct = C.K_DISTINCT
	opExtract  = C.K_EXTRACT
	opZeroExt  = C.K_ZEXT
	opSignExt  = C.K_SEXT
	opTrue     = C.K_TRUE
	opFalse    = C.K_FALSE
)

func (c *Context) op0(op C.int, name string) Term {
	if c.z == nil {
		c.failInvalid(name, ErrClosed)
		return Term{}
	}
	return c.keep(C.k_op0(c.z, op), name)
}

func (c *Context) op1(op C.int, name string, x Term) Term {
	a := c.ast(x)
	if a == nil {
		c.failInvalid(name, c.whyInvalid())
		return Term{}
	}
	return c.keep(C.k_op1(c.z, op, a), name)
}

func (c *Context) op2(op C.int, name string, x, y Term) Term {
	a, b := c.ast(x), c.ast(y)
	if a == nil || b == nil {
		c.failInvalid(name, c.whyInvalid())
		return Term{}
	}
	return c.keep(C.k_op2(c.z, op, a, b), name)
}

func (c *Context) op3(op C.int, name string, x, y, w Term) Term {
	a, b, d := c.ast(x), c.ast(y), c.ast(w)
	if a == nil || b == nil || d == nil {
		c.failInvalid(name, c.whyInvalid())
		return Term{}
	}
	return c.keep(C.k_op3(c.z, op, a, b, d), name)
}

// argv converts ts into the reusable C argument buffer.
func (c *Context) argv(name string, ts []Term) (*C.Z3_ast, bool) {
	c.args = c.args[:0]
	for _, t := range ts {
		a := c.ast(t)
		if a == nil {
			c.failInvalid(name, c.whyInvalid())
			return nil, false
		}
		c.args = append(c.args, a)
	}
	if c.z == nil {
		c.failInvalid(name, ErrClosed)
		return nil, false
	}
	if len(c.args) == 0 {
		return nil, true
	}
	return &c.args[0], true
}

func (c *Context) opn(op C.int, name string, ts []Term) Term {
	p, ok := c.argv(name, ts)
	if !ok {
		return Term{}
	}
	return c.keep(C.k_opn(c.z, op, C.uint(len(ts)), p), name)
}

func (c *Context) opi(op C.int, name string, i, j int, x Term) Term {
	a := c.ast(x)
	if a == nil {
		c.failInvalid(name, c.whyInvalid())
		return Term{}
	}
	if i < 0 || j < 0 || i > 1<<24 || j > 1<<24 {
		c.fail(fmt.Errorf("smt: %s: bit index out of range (%d, %d)", name, i, j))
		return Term{}
	}
	return c.keep(C.k_opi(c.z, op, C.uint(i), C.uint(j), a), name)
}

// Const is the constant named name of sort s. The same name and sort give
// the same Z3 constant, so a query can be rebuilt in a new Scope with the
// same names. Z3 interns names for the life of the process: reuse a bounded
// set of names (e.g. "r1_in") rather than inventing one per query.
func (c *Context) Const(name string, s Sort) Term {
	z := c.sort(s)
	if z == nil {
		c.failInvalid("const "+name, c.whyInvalidSort()) // error path only
		return Term{}
	}
	a := C.k_const(c.z, c.symbol(name), z)
	if a == nil {
		c.z3Error("const "+name, 0) // built here: concatenating eagerly costs an allocation per call
		return Term{}
	}
	return c.keep(a, "const")
}

// BVConst is Const(name, BVSort(w)).
func (c *Context) BVConst(name string, w int) Term { return c.Const(name, c.BVSort(w)) }

// FreshConst is a constant distinct from every other constant, named
// prefix!N in String output. Z3 keeps ~60 bytes per fresh declaration for
// the life of the process even after its Scope ends (12 MiB per 200,000
// measured here), so per-query encoders should use Const with reused names.
func (c *Context) FreshConst(prefix string, s Sort) Term {
	z := c.sort(s)
	if z == nil {
		c.failInvalid("fresh const", c.whyInvalidSort())
		return Term{}
	}
	cs := C.CString(prefix)
	t := c.keep(C.k_fresh(c.z, cs, z), "fresh const")
	C.free(unsafe.Pointer(cs))
	return t
}

// BV is the w-bit numeral v; bits of v above w are dropped (v mod 2^w).
// For w > 64 the value is zero-extended.
func (c *Context) BV(v uint64, w int) Term {
	s := c.sort(c.BVSort(w))
	if s == nil {
		c.failInvalid("bv numeral", c.whyInvalidSort())
		return Term{}
	}
	if w < 64 {
		v &= 1<<uint(w) - 1
	}
	return c.keep(C.k_num(c.z, C.uint64_t(v), s), "bv numeral")
}

// True is the Boolean constant true.
func (c *Context) True() Term { return c.op0(opTrue, "true") }

// False is the Boolean constant false.
func (c *Context) False() Term { return c.op0(opFalse, "false") }

// Bool is True() or False().
func (c *Context) Bool(b bool) Term {
	if b {
		return c.True()
	}
	return c.False()
}

// Bit-vector arithmetic. Operands must have the same width.
//
// Division follows SMT-LIB (which differs from BPF, whose x/0 is 0 and
// x%0 is x; the encoder guards with Ite):
//
//	UDiv(x, 0) = all ones        URem(x, 0) = x
//	SDiv(x, 0) = x<0 ? 1 : -1    SRem(x, 0) = x    SMod(x, 0) = x
//	SDiv(MinInt, -1) = MinInt    (wraps, as on BPF)
//	SRem's sign follows the dividend (C and BPF's smod); SMod's the divisor.

// Add is bvadd.
func (c *Context) Add(x, y Term) Term { return c.op2(opAdd, "bvadd", x, y) }

// Sub is bvsub.
func (c *Context) Sub(x, y Term) Term { return c.op2(opSub, "bvsub", x, y) }

// Mul is bvmul.
func (c *Context) Mul(x, y Term) Term { return c.op2(opMul, "bvmul", x, y) }

// UDiv is bvudiv.
func (c *Context) UDiv(x, y Term) Term { return c.op2(opUDiv, "bvudiv", x, y) }

// URem is bvurem.
func (c *Context) URem(x, y Term) Term { return c.op2(opURem, "bvurem", x, y) }

// SDiv is bvsdiv.
func (c *Context) SDiv(x, y Term) Term { return c.op2(opSDiv, "bvsdiv", x, y) }

// SRem is bvsrem (sign of the dividend).
func (c *Context) SRem(x, y Term) Term { return c.op2(opSRem, "bvsrem", x, y) }

// SMod is bvsmod (sign of the divisor).
func (c *Context) SMod(x, y Term) Term { return c.op2(opSMod, "bvsmod", x, y) }

// Neg is bvneg (two's complement).
func (c *Context) Neg(x Term) Term { return c.op1(opNeg, "bvneg", x) }

// BVAnd is bvand.
func (c *Context) BVAnd(x, y Term) Term { return c.op2(opBVAnd, "bvand", x, y) }

// BVOr is bvor.
func (c *Context) BVOr(x, y Term) Term { return c.op2(opBVOr, "bvor", x, y) }

// BVXor is bvxor.
func (c *Context) BVXor(x, y Term) Term { return c.op2(opBVXor, "bvxor", x, y) }

// BVNot is bvnot (bitwise complement).
func (c *Context) BVNot(x Term) Term { return c.op1(opBVNot, "bvnot", x) }

// Shl is bvshl. The count has x's width and is not masked: counts >= width
// give 0 (BPF masks counts; the encoder does that).
func (c *Context) Shl(x, n Term) Term { return c.op2(opShl, "bvshl", x, n) }

// LShr is bvlshr (logical right shift; counts >= width give 0).
func (c *Context) LShr(x, n Term) Term { return c.op2(opLShr, "bvlshr", x, n) }

// AShr is bvashr (arithmetic right shift; counts >= width give the sign).
func (c *Context) AShr(x, n Term) Term { return c.op2(opAShr, "bvashr", x, n) }

// Extract is bits hi..lo of x (inclusive), a (hi-lo+1)-bit vector.
func (c *Context) Extract(hi, lo int, x Term) Term { return c.opi(opExtract, "extract", hi, lo, x) }

// Concat is hi followed by lo (hi supplies the most significant bits).
func (c *Context) Concat(hi, lo Term) Term { return c.op2(opConcat, "concat", hi, lo) }

// ZeroExt widens x by n zero bits.
func (c *Context) ZeroExt(n int, x Term) Term { return c.opi(opZeroExt, "zero_extend", n, 0, x) }

// SignExt widens x by n copies of its sign bit.
func (c *Context) SignExt(n int, x Term) Term { return c.opi(opSignExt, "sign_extend", n, 0, x) }

// Eq is x = y (any sort).
func (c *Context) Eq(x, y Term) Term { return c.op2(opEq, "=", x, y) }

// Distinct is pairwise inequality of ts.
func (c *Context) Distinct(ts ...Term) Term { return c.opn(opDistinct, "distinct", ts) }

// ULT is unsigned x < y.
func (c *Context) ULT(x, y Term) Term { return c.op2(opULT, "bvult", x, y) }

// ULE is unsigned x <= y.
func (c *Context) ULE(x, y Term) Term { return c.op2(opULE, "bvule", x, y) }

// UGT is unsigned x > y.
func (c *Context) UGT(x, y Term) Term { return c.op2(opUGT, "bvugt", x, y) }

// UGE is unsigned x >= y.
func (c *Context) UGE(x, y Term) Term { return c.op2(opUGE, "bvuge", x, y) }

// SLT is signed x < y.
func (c *Context) SLT(x, y Term) Term { return c.op2(opSLT, "bvslt", x, y) }

// SLE is signed x <= y.
func (c *Context) SLE(x, y Term) Term { return c.op2(opSLE, "bvsle", x, y) }

// SGT is signed x > y.
func (c *Context) SGT(x, y Term) Term { return c.op2(opSGT, "bvsgt", x, y) }

// SGE is signed x >= y.
func (c *Context) SGE(x, y Term) Term { return c.op2(opSGE, "bvsge", x, y) }

// Not is Boolean negation.
func (c *Context) Not(x Term) Term { return c.op1(opNot, "not", x) }

// And is the conjunction of ts (true when empty).
func (c *Context) And(ts ...Term) Term { return c.opn(opAnd, "and", ts) }

// Or is the disjunction of ts (false when empty).
func (c *Context) Or(ts ...Term) Term { return c.opn(opOr, "or", ts) }

// Implies is x => y.
func (c *Context) Implies(x, y Term) Term { return c.op2(opImplies, "=>", x, y) }

// Xor is Boolean exclusive or.
func (c *Context) Xor(x, y Term) Term { return c.op2(opXor, "xor", x, y) }

// Ite is if cond then x else y; x and y must have the same sort.
func (c *Context) Ite(cond, x, y Term) Term { return c.op3(opIte, "ite", cond, x, y) }

// Select is a[i].
func (c *Context) Select(a, i Term) Term { return c.op2(opSelect, "select", a, i) }

// Store is a with a[i] replaced by v.
func (c *Context) Store(a, i, v Term) Term { return c.op3(opStore, "store", a, i, v) }

// ConstArray is the array over dom whose every element is v.
func (c *Context) ConstArray(dom Sort, v Term) Term {
	d, a := c.sort(dom), c.ast(v)
	if d == nil {
		c.failInvalid("const array", c.whyInvalidSort())
		return Term{}
	}
	if a == nil {
		c.failInvalid("const array", c.whyInvalid())
		return Term{}
	}
	return c.keep(C.k_const_array(c.z, d, a), "const array")
}

// Simplify rewrites x with Z3's simplifier (constant folding, normal forms);
// the result is equivalent to x.
func (c *Context) Simplify(x Term) Term { return c.op1(opSimplify, "simplify", x) }

// Func declares the uninterpreted function name: dom -> rng. The same name
// and signature give the same function (e.g. a helper's result as a
// function of its arguments).
func (c *Context) Func(name string, dom []Sort, rng Sort) Func {
	d, r, ok := c.signature("func", dom, rng)
	if !ok {
		return Func{}
	}
	a := C.k_func(c.z, c.symbol(name), C.uint(len(dom)), d, r)
	if a == nil {
		c.z3Error("func "+name, 0)
		return Func{}
	}
	return Func{c.keep(a, "func")}
}

// FreshFunc declares an uninterpreted function distinct from all others
// (with FreshConst's memory caveat).
func (c *Context) FreshFunc(prefix string, dom []Sort, rng Sort) Func {
	d, r, ok := c.signature("fresh func", dom, rng)
	if !ok {
		return Func{}
	}
	cs := C.CString(prefix)
	f := Func{c.keep(C.k_fresh_func(c.z, cs, C.uint(len(dom)), d, r), "fresh func")}
	C.free(unsafe.Pointer(cs))
	return f
}

func (c *Context) signature(name string, dom []Sort, rng Sort) (*C.Z3_sort, C.Z3_sort, bool) {
	r := c.sort(rng)
	if r == nil {
		c.failInvalid(name, c.whyInvalidSort())
		return nil, nil, false
	}
	c.doms = c.doms[:0]
	for _, s := range dom {
		z := c.sort(s)
		if z == nil {
			c.failInvalid(name, c.whyInvalidSort())
			return nil, nil, false
		}
		c.doms = append(c.doms, z)
	}
	if len(c.doms) == 0 {
		return nil, r, true
	}
	return &c.doms[0], r, true
}

// Apply is f(args...).
func (c *Context) Apply(f Func, args ...Term) Term {
	fa := c.ast(f.t)
	if fa == nil {
		c.failInvalid("apply", c.whyInvalid())
		return Term{}
	}
	p, ok := c.argv("apply", args)
	if !ok {
		return Term{}
	}
	return c.keep(C.k_app(c.z, fa, C.uint(len(args)), p), "apply")
}

// Valid reports whether t is a live term of this Context.
func (c *Context) Valid(t Term) bool { return c.ast(t) != nil }

// Width is the bit-vector width of t, 0 if t is Boolean, -1 for other sorts
// or an invalid t.
func (c *Context) Width(t Term) int {
	a := c.ast(t)
	if a == nil {
		return -1
	}
	return int(C.k_width(c.z, a))
}

// Numeral returns t's value if t is a bit-vector numeral of width <= 64
// (true = 1, false = 0 for Boolean literals); use it after Simplify to spot
// queries that folded to a constant without calling the solver.
func (c *Context) Numeral(t Term) (uint64, bool) {
	a := c.ast(t)
	if a == nil {
		return 0, false
	}
	r := C.k_value_of(c.z, a)
	return uint64(r.v), r.ok != 0
}

// ID is Z3's identifier of t's AST: Z3 shares structurally equal terms, so
// two Terms with the same ID (in one Context, while both are live) are the
// same expression. -1 for an invalid Term.
func (c *Context) ID(t Term) int64 {
	a := c.ast(t)
	if a == nil {
		return -1
	}
	return int64(C.Z3_get_ast_id(c.z, a))
}

// String is t in SMT-LIB syntax, for debugging.
func (c *Context) String(t Term) string {
	a := c.ast(t)
	if a == nil {
		return "<invalid term>"
	}
	return C.GoString(C.Z3_ast_to_string(c.z, a))
}

// FuncString is f's declaration in SMT-LIB syntax, for debugging.
func (c *Context) FuncString(f Func) string { return c.String(f.t) }
