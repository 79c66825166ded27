package smt

// #cgo LDFLAGS: -lz3
// #include "z3shim.h"
import "C"

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"unsafe"
)

// Context is one Z3 context (created with Z3_mk_context_rc) together with
// the arena that owns every term, function declaration and sort built from
// it. A Context and everything made from it must be used by one goroutine
// at a time; the only exception is Interrupt, which any goroutine may call.
//
// A Context must be closed with Close; nothing is reclaimed by finalizers.
type Context struct {
	z C.Z3_context
	// id tags Sorts so that a Sort from another Context is refused.
	id uint32

	// owned is the arena: every term and function declaration made here,
	// each holding one Z3 reference. Scopes release suffixes of it.
	owned  []C.k_entry
	serial uint32
	scopes []scopeMark
	nextID uint32

	// Sorts are few and are kept until Close.
	sorts    []C.Z3_sort
	bvSorts  map[int]Sort
	boolSort Sort
	arrSorts map[[2]uint32]Sort

	// syms caches Z3 symbols by name; Z3 interns them for the life of the
	// process anyway, so the cache only saves the C string round trip.
	syms map[string]C.Z3_symbol

	// Scratch argument buffers for n-ary calls, reused to avoid allocating.
	args []C.Z3_ast
	doms []C.Z3_sort

	err     error
	solvers []*Solver
	// drain is an empty solver whose check clears a pending cancel flag
	// (see Solver.Check).
	drain C.Z3_solver

	// imu guards checking/interrupted, the only state shared with
	// Interrupt callers on other goroutines.
	imu         sync.Mutex
	checking    bool
	interrupted bool
	closed      bool
}

type scopeMark struct {
	id   uint32
	mark int
}

// Sort is a Z3 sort owned by its Context until Close. The zero Sort is invalid.
type Sort struct {
	i   uint32
	cid uint32
}

// Error is a failure reported by Z3 through its error handler.
type Error struct {
	Op   string // the smt operation, e.g. "bvadd"
	Code int    // Z3_error_code
	Msg  string // Z3's message
}

func (e *Error) Error() string { return "smt: " + e.Op + ": " + e.Msg }

var (
	// ErrInvalidTerm reports a zero Term, a Term released by its Scope (or
	// Reset), or a Term from another Context.
	ErrInvalidTerm = errors.New("invalid term (zero value, released by its scope, or from another context)")
	// ErrInvalidSort reports a zero Sort or a Sort from another Context.
	ErrInvalidSort = errors.New("invalid sort (zero value or from another context)")
	// ErrClosed reports use of a closed Context or Solver.
	ErrClosed = errors.New("use of closed context or solver")
)

// NewContext creates a Z3 context with reference-counted ASTs and an error
// handler that records errors instead of aborting the process. It panics
// only if Z3 cannot allocate a context at all.
func NewContext() *Context {
	z := C.k_new_context()
	if z == nil {
		panic("smt: Z3_mk_context_rc failed")
	}
	c := &Context{
		z:        z,
		id:       rand.Uint32() | 1,
		serial:   rand.Uint32(),
		bvSorts:  make(map[int]Sort),
		arrSorts: make(map[[2]uint32]Sort),
		syms:     make(map[string]C.Z3_symbol),
	}
	return c
}

// Close releases every term, sort, solver and model of the Context and then
// the Z3 context itself. Close is idempotent; afterwards every operation
// fails with ErrClosed (terms come back invalid, checks return the error).
func (c *Context) Close() {
	if c.z == nil {
		return
	}
	c.imu.Lock()
	c.closed = true
	c.imu.Unlock()
	for _, s := range c.solvers {
		s.release()
	}
	c.solvers = nil
	if c.drain != nil {
		C.Z3_solver_dec_ref(c.z, c.drain)
		c.drain = nil
	}
	c.releaseTo(0)
	c.scopes = nil
	if n := len(c.sorts); n > 0 {
		C.k_release_sorts(c.z, &c.sorts[0], C.size_t(n))
	}
	c.sorts = nil
	C.Z3_del_context(c.z)
	c.z = nil
	c.owned = nil
	c.syms = nil
	c.err = nil
}

// Err returns the first error recorded since the last Check, ClearErr or
// Reset. Term constructors never return errors: a failing constructor
// records its error here and returns an invalid Term, which makes every
// term built from it invalid too, so the error surfaces once at the next
// Solver.Check (or here) without checking each node.
func (c *Context) Err() error { return c.err }

// ClearErr forgets the recorded error.
func (c *Context) ClearErr() { c.err = nil }

// Live reports how many terms and function declarations the arena holds.
func (c *Context) Live() int { return len(c.owned) }

// fail records err unless an earlier error is already recorded: the first
// error is the informative one, later ones are usually its consequences.
func (c *Context) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *Context) failInvalid(op string, cause error) {
	c.fail(fmt.Errorf("smt: %s: %w", op, cause))
}

// z3Error records the error Z3 reported for op (code from the C helper or
// from Z3_get_error_code).
func (c *Context) z3Error(op string, code C.int) {
	if c.z == nil {
		c.failInvalid(op, ErrClosed)
		return
	}
	if code == 0 {
		code = C.int(C.Z3_get_error_code(c.z))
	}
	msg := ""
	if code != 0 {
		msg = C.GoString(C.k_error_msg(c.z, code))
	} else {
		msg = "Z3 returned no result"
	}
	c.fail(&Error{Op: op, Code: int(code), Msg: msg})
}

// Scope marks the arena. Releasing the Scope releases every term and
// function declaration created after it was opened, in one cgo call:
//
//	sc := ctx.Scope()
//	defer sc.Release()
//
// Scopes nest; releasing one also releases the scopes opened inside it, and
// releasing a Scope twice (or after an enclosing one) does nothing. Terms
// created before the Scope stay valid. Asserting a term into a Solver does
// not tie the assertion to the Scope: Z3's solver keeps its own reference.
type Scope struct {
	c    *Context
	id   uint32
	mark int
}

// Scope opens a Scope at the current end of the arena.
func (c *Context) Scope() Scope {
	c.nextID++
	m := scopeMark{id: c.nextID, mark: len(c.owned)}
	c.scopes = append(c.scopes, m)
	return Scope{c: c, id: m.id, mark: m.mark}
}

// Release releases what the Scope owns (see Scope).
func (s Scope) Release() {
	c := s.c
	if c == nil || c.z == nil {
		return
	}
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if c.scopes[i].id == s.id {
			c.scopes = c.scopes[:i]
			c.releaseTo(s.mark)
			return
		}
	}
}

// Reset releases every term and function declaration of the arena and
// clears the recorded error; sorts, solvers and their assertions stay.
func (c *Context) Reset() {
	if c.z == nil {
		return
	}
	c.scopes = c.scopes[:0]
	c.releaseTo(0)
	c.err = nil
}

func (c *Context) releaseTo(mark int) {
	n := len(c.owned) - mark
	if n <= 0 {
		return
	}
	C.k_release(c.z, &c.owned[mark], C.size_t(n))
	c.owned = c.owned[:mark]
}

// keep adds a (just inc_ref'd) AST to the arena; a nil AST means the Z3 call
// failed, and the error is recorded.
func (c *Context) keep(a C.Z3_ast, op string) Term {
	if a == nil {
		c.z3Error(op, 0)
		return Term{}
	}
	c.serial++
	if c.serial == 0 {
		c.serial = 1
	}
	c.owned = append(c.owned, C.k_entry{a: a, serial: C.uint32_t(c.serial)})
	return Term{i: uint32(len(c.owned) - 1), s: c.serial}
}

// ast returns the Z3 AST of t, or nil if t is not live in this Context.
func (c *Context) ast(t Term) C.Z3_ast {
	if t.s == 0 || int(t.i) >= len(c.owned) {
		return nil
	}
	e := &c.owned[t.i]
	if uint32(e.serial) != t.s {
		return nil
	}
	return e.a
}

func (c *Context) sort(s Sort) C.Z3_sort {
	if s.cid != c.id || int(s.i) >= len(c.sorts) {
		return nil
	}
	return c.sorts[s.i]
}

func (c *Context) addSort(z C.Z3_sort, op string) Sort {
	if z == nil {
		c.z3Error(op, 0)
		return Sort{}
	}
	c.sorts = append(c.sorts, z)
	return Sort{i: uint32(len(c.sorts) - 1), cid: c.id}
}

// BoolSort is the Boolean sort.
func (c *Context) BoolSort() Sort {
	if c.boolSort.cid != 0 {
		return c.boolSort
	}
	if c.z == nil {
		c.failInvalid("bool sort", ErrClosed)
		return Sort{}
	}
	c.boolSort = c.addSort(C.k_bool_sort(c.z), "bool sort")
	return c.boolSort
}

// BVSort is the bit-vector sort of width w (w >= 1).
func (c *Context) BVSort(w int) Sort {
	if s, ok := c.bvSorts[w]; ok {
		return s
	}
	if c.z == nil {
		c.failInvalid("bv sort", ErrClosed)
		return Sort{}
	}
	if w < 1 || w > 1<<24 {
		c.fail(fmt.Errorf("smt: bv sort: width %d out of range", w))
		return Sort{}
	}
	s := c.addSort(C.k_bv_sort(c.z, C.uint(w)), "bv sort")
	if s.cid != 0 {
		c.bvSorts[w] = s
	}
	return s
}

// ArraySort is the sort of arrays from dom to rng (for memory: BVSort(64)
// to BVSort(8)).
func (c *Context) ArraySort(dom, rng Sort) Sort {
	key := [2]uint32{dom.i, rng.i}
	if s, ok := c.arrSorts[key]; ok && dom.cid == c.id && rng.cid == c.id {
		return s
	}
	d, r := c.sort(dom), c.sort(rng)
	if d == nil || r == nil {
		c.failInvalid("array sort", c.whyInvalidSort())
		return Sort{}
	}
	s := c.addSort(C.k_array_sort(c.z, d, r), "array sort")
	if s.cid != 0 {
		c.arrSorts[key] = s
	}
	return s
}

func (c *Context) whyInvalidSort() error {
	if c.z == nil {
		return ErrClosed
	}
	return ErrInvalidSort
}

func (c *Context) whyInvalid() error {
	if c.z == nil {
		return ErrClosed
	}
	return ErrInvalidTerm
}

// symbol returns the interned Z3 symbol for name.
func (c *Context) symbol(name string) C.Z3_symbol {
	if s, ok := c.syms[name]; ok {
		return s
	}
	cs := C.CString(name)
	s := C.Z3_mk_string_symbol(c.z, cs)
	C.free(unsafe.Pointer(cs))
	c.syms[name] = s
	return s
}

// Interrupt stops a Solver.Check running on this Context, which then
// returns Unknown. It may be called from any goroutine. An Interrupt that
// arrives while no check runs does nothing: Z3 would otherwise keep the
// cancel flag set and silently drop the next assertions (measured on
// Z3 4.8.12), so the flag is only raised during a check and cleared after.
func (c *Context) Interrupt() {
	c.imu.Lock()
	if c.checking && !c.closed {
		c.interrupted = true
		C.Z3_interrupt(c.z)
	}
	c.imu.Unlock()
}
