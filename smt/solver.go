package smt

// #include "z3shim.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Result is the outcome of a satisfiability check.
type Result int8

const (
	// Unknown: Z3 gave up (timeout, interrupt, incompleteness) or the check
	// failed with an error.
	Unknown Result = iota
	// Sat: the assertions have a model.
	Sat
	// Unsat: the assertions have no model.
	Unsat
)

func (r Result) String() string {
	switch r {
	case Sat:
		return "sat"
	case Unsat:
		return "unsat"
	default:
		return "unknown"
	}
}

// Solver is a Z3 simple solver (Z3_mk_simple_solver: the SMT core without
// the tactic front end, cheap to create and fast on small incremental
// queries) belonging to one Context. Keep one per worker and use Push/Pop
// or Reset between queries. Close it, or Close its Context.
type Solver struct {
	c         *Context
	z         C.Z3_solver
	timeoutMS uint32 // 0: none
	last      Result
	model     C.Z3_model
	gen       uint32 // bumped whenever model is released

	// Recycling bookkeeping (see Push): backtracking depth, assertions
	// made at depth 0, and checks since the last reset.
	depth       int
	baseAsserts int
	checks      int
}

// RecycleAfter is how many checks a Solver runs before Push, finding it
// empty (depth 0, nothing asserted there), resets it. Z3's SMT core keeps
// ~300 bytes per satisfiable check even across Push/Pop (measured: +15 MiB
// per 50,000 queries, flat with a reset every 1,000); a reset costs about
// as much as one solver creation (~0.1 ms), so every 1,000 checks it adds
// ~0.1 µs per query.
const RecycleAfter = 1000

// ErrNoModel is returned by Solver.Model when the last check was not Sat.
var ErrNoModel = errors.New("smt: no model: the last check was not sat")

// NewSolver creates a solver. On a closed Context the solver is closed too
// (its Check returns ErrClosed).
func (c *Context) NewSolver() *Solver {
	s := &Solver{c: c}
	if c.z == nil {
		return s
	}
	s.z = C.k_new_solver(c.z)
	if s.z == nil {
		c.z3Error("new solver", 0)
		return s
	}
	c.solvers = append(c.solvers, s)
	s.applyTimeout() // also turns off Z3's own Ctrl-C handler
	return s
}

// Close releases the solver and its model. Idempotent.
func (s *Solver) Close() {
	if s.z == nil {
		return
	}
	s.release()
	ss := s.c.solvers
	for i, x := range ss {
		if x == s {
			s.c.solvers = append(ss[:i], ss[i+1:]...)
			break
		}
	}
}

func (s *Solver) release() {
	s.dropModel()
	if s.z != nil && s.c.z != nil {
		C.Z3_solver_dec_ref(s.c.z, s.z)
	}
	s.z = nil
}

func (s *Solver) dropModel() {
	if s.model != nil {
		C.Z3_model_dec_ref(s.c.z, s.model)
		s.model = nil
	}
	s.gen++
}

func (s *Solver) usable(op string) bool {
	if s.z == nil || s.c.z == nil {
		s.c.failInvalid(op, ErrClosed)
		return false
	}
	return true
}

// Assert adds the Boolean terms ts to the solver. Errors (invalid or
// non-Boolean terms) are recorded on the Context and returned by the next
// Check.
func (s *Solver) Assert(ts ...Term) {
	if !s.usable("assert") {
		return
	}
	c := s.c
	for _, t := range ts {
		a := c.ast(t)
		if a == nil {
			c.failInvalid("assert", ErrInvalidTerm)
			continue
		}
		if code := C.k_assert(c.z, s.z, a); code != 0 {
			c.z3Error("assert", code)
		} else if s.depth == 0 {
			s.baseAsserts++
		}
	}
}

// Push opens a backtracking point. When the solver is empty (no open
// backtracking points, nothing asserted outside them) and has run
// RecycleAfter checks, Push first resets it to release what Z3 retained;
// the current Model stays valid. A worker that keeps base-level assertions
// should call Reset itself now and then and assert them again.
func (s *Solver) Push() {
	if !s.usable("push") {
		return
	}
	if s.checks >= RecycleAfter && s.depth == 0 && s.baseAsserts == 0 {
		s.recycle()
	}
	if code := C.k_push(s.c.z, s.z); code != 0 {
		s.c.z3Error("push", code)
		return
	}
	s.depth++
}

// recycle resets the Z3 solver without touching the model.
func (s *Solver) recycle() {
	s.checks, s.depth, s.baseAsserts = 0, 0, 0
	if code := C.k_reset(s.c.z, s.z); code != 0 {
		s.c.z3Error("reset", code)
		return
	}
	if s.timeoutMS != 0 {
		s.applyTimeout()
	}
}

// Pop removes the assertions of the last n backtracking points.
func (s *Solver) Pop(n int) {
	if !s.usable("pop") {
		return
	}
	if n < 0 || n > s.depth {
		s.c.fail(fmt.Errorf("smt: pop %d: only %d scopes", n, s.depth))
		return
	}
	if code := C.k_pop(s.c.z, s.z, C.uint(n)); code != 0 {
		s.c.z3Error("pop", code)
		return
	}
	s.depth -= n
}

// NumScopes is the number of open backtracking points (as Z3 counts them).
func (s *Solver) NumScopes() int {
	if s.z == nil || s.c.z == nil {
		return 0
	}
	return int(C.k_num_scopes(s.c.z, s.z))
}

// Reset removes all assertions and backtracking points and releases the
// model; the timeout stays. Resetting now and then also drops what the
// solver learned, which bounds its memory on very long runs.
func (s *Solver) Reset() {
	s.dropModel()
	s.last = Unknown
	if !s.usable("reset") {
		return
	}
	s.recycle()
}

// SetTimeout bounds every later Check by d (rounded up to a millisecond);
// d <= 0 removes the bound. A check that runs out returns Unknown with a nil
// error, and ReasonUnknown says "canceled" or "timeout".
func (s *Solver) SetTimeout(d time.Duration) {
	ms := uint32(0)
	if d > 0 {
		m := (d + time.Millisecond - 1) / time.Millisecond
		ms = uint32(min(m, math.MaxUint32-1))
	}
	s.timeoutMS = ms
	if s.usable("set timeout") {
		s.applyTimeout()
	}
}

func (s *Solver) applyTimeout() {
	ms := C.uint(s.timeoutMS)
	if s.timeoutMS == 0 {
		ms = math.MaxUint32 // Z3's "no timeout"
	}
	if code := C.k_set_timeout(s.c.z, s.z, ms); code != 0 {
		s.c.z3Error("set timeout", code)
	}
}

// Check decides the assertions. ctx may be nil; if ctx is cancelled or its
// deadline passes during the check, Z3 is interrupted and Check returns
// Unknown with ctx.Err(). A timeout (SetTimeout) or a Context.Interrupt
// call gives Unknown with a nil error. An error recorded on the Context
// while building or asserting terms is returned here (with Unknown) and
// cleared; the assertions it concerns may be missing from the solver, so
// the caller should Pop or Reset.
//
// Check releases the previous Model.
func (s *Solver) Check(ctx context.Context) (Result, error) {
	c := s.c
	s.dropModel()
	s.last = Unknown
	if err := c.err; err != nil {
		c.err = nil
		return Unknown, err
	}
	if s.z == nil || c.z == nil {
		return Unknown, fmt.Errorf("smt: check: %w", ErrClosed)
	}
	if ctx != nil && ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return Unknown, err
		}
		stop := context.AfterFunc(ctx, c.Interrupt)
		defer stop()
	}

	s.checks++
	c.beginCheck()
	rc := C.k_check(c.z, s.z)
	interrupted := c.endCheck()
	code, r := rc>>8, C.Z3_lbool(rc&0xff-1)

	if code != 0 {
		c.z3Error("check", code)
		err := c.err
		c.err = nil
		return Unknown, err
	}
	switch r {
	case C.Z3_L_TRUE:
		s.last = Sat
	case C.Z3_L_FALSE:
		s.last = Unsat
	default:
		if interrupted && ctx != nil && ctx.Err() != nil {
			return Unknown, ctx.Err()
		}
	}
	return s.last, nil
}

// beginCheck lets Interrupt reach Z3 from now on.
func (c *Context) beginCheck() {
	c.imu.Lock()
	c.checking = true
	c.imu.Unlock()
}

// endCheck stops Interrupt from reaching Z3 and, if an interrupt was
// delivered (possibly just after Z3 returned), clears its cancel flag.
func (c *Context) endCheck() (interrupted bool) {
	c.imu.Lock()
	c.checking = false
	interrupted = c.interrupted
	c.interrupted = false
	c.imu.Unlock()
	if interrupted {
		c.clearCancel()
	}
	return interrupted
}

// clearCancel resets the cancel flag Z3_interrupt leaves on the context:
// Z3 4.8.12 keeps it raised after the interrupted call returns and then
// silently drops the next assertions. The SMT core clears the flag when a
// check starts, so checking an empty solver clears it (measured; see
// TestInterrupt/late_interrupt).
func (c *Context) clearCancel() {
	if c.drain == nil {
		c.drain = C.k_new_solver(c.z)
		if c.drain == nil {
			c.z3Error("interrupt cleanup", 0)
			return
		}
	}
	C.k_check(c.z, c.drain)
}

// ReasonUnknown is Z3's explanation of the last Unknown result.
func (s *Solver) ReasonUnknown() string {
	if s.z == nil || s.c.z == nil {
		return "closed"
	}
	return C.GoString(C.Z3_solver_get_reason_unknown(s.c.z, s.z))
}

// String is the solver's assertions in SMT-LIB syntax, for debugging.
func (s *Solver) String() string {
	if s.z == nil || s.c.z == nil {
		return "<closed solver>"
	}
	return C.GoString(C.Z3_solver_to_string(s.c.z, s.z))
}

// Model is the model of a Sat check. It stays valid until the next Check,
// Reset or Close of its Solver; after that Eval reports false.
type Model struct {
	s   *Solver
	gen uint32
}

// Model returns the model of the last check, which must have been Sat.
func (s *Solver) Model() (Model, error) {
	if s.last != Sat || s.z == nil || s.c.z == nil {
		return Model{}, ErrNoModel
	}
	if s.model == nil {
		s.model = C.k_get_model(s.c.z, s.z)
		if s.model == nil {
			s.c.z3Error("model", 0)
			err := s.c.err
			s.c.err = nil
			return Model{}, err
		}
	}
	return Model{s: s, gen: s.gen}, nil
}

func (m Model) live() bool {
	return m.s != nil && m.s.model != nil && m.s.gen == m.gen && m.s.c.z != nil
}

// Eval evaluates t in the model with model completion (unconstrained
// variables get a default value). Bit-vectors of width <= 64 give their
// value and Booleans 1 or 0; ok is false for other sorts, invalid terms or
// a stale model.
func (m Model) Eval(t Term) (v uint64, ok bool) {
	if !m.live() {
		return 0, false
	}
	c := m.s.c
	a := c.ast(t)
	if a == nil {
		return 0, false
	}
	r := C.k_eval(c.z, m.s.model, a)
	return uint64(r.v), r.ok != 0
}

// EvalBool evaluates a Boolean term (see Eval).
func (m Model) EvalBool(t Term) (val, ok bool) {
	if m.live() && m.s.c.Width(t) != 0 {
		return false, false
	}
	v, ok := m.Eval(t)
	return v == 1, ok
}

// String is the model in Z3's syntax, for debugging.
func (m Model) String() string {
	if !m.live() {
		return "<no model>"
	}
	return C.GoString(C.Z3_model_to_string(m.s.c.z, m.s.model))
}
