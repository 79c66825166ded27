// Package smt owns k2opt's access to the Z3 SMT solver: a small cgo binding
// to Z3's C API (Debian libz3-dev 4.8.12, linked with -lz3) with explicit
// lifetimes, and (later) the BPF -> bit-vector encoding built on it. No
// other package uses cgo.
//
// # Model
//
// One Context plus one Solver per worker goroutine. A Context is not safe
// for concurrent use; only Context.Interrupt may be called from another
// goroutine (Solver.Check also interrupts itself when its context.Context
// is cancelled). Contexts are independent, so workers run in parallel.
//
//	c := smt.NewContext()
//	defer c.Close()
//	s := c.NewSolver()            // Z3_mk_simple_solver, kept for the worker's life
//	s.SetTimeout(2 * time.Second) // per check
//	for each query {
//		sc := c.Scope()           // every term built below belongs to sc
//		s.Push()
//		x := c.BVConst("r1", 64)
//		s.Assert(c.Not(c.Eq(c.Add(x, x), c.Shl(x, c.BV(1, 64)))))
//		res, err := s.Check(ctx) // Unsat here
//		if res == smt.Sat { m, _ := s.Model(); v, _ := m.Eval(x) }
//		s.Pop(1)
//		sc.Release()             // one cgo call releases the query's nodes
//	}
//
// # Lifetimes
//
// The Z3 context is created with Z3_mk_context_rc: Z3 frees an AST when its
// reference count drops to zero. Rather than a finalizer per node (the
// approach that let a go-z3 probe grow to 22 GB) or a Close per node, the
// Context owns an arena: every Term and Func it builds takes one reference
// and is appended to the arena; a Scope releases everything built after it
// was opened, Context.Reset releases everything, Close releases the rest.
// An encoder that builds thousands of nodes per query therefore pays one
// Go slice append per node and one cgo call per query to free them, and
// memory stays bounded over any number of queries as long as each query
// runs inside a Scope (TestMemoryBounded checks RSS over 20,000 queries;
// the soak build tag runs 200,000).
//
// Terms are 8-byte values (arena index + serial), not pointers, so using a
// Term after its Scope was released is detected (ErrInvalidTerm) instead of
// handing Z3 a freed pointer. Sorts are cached per Context until Close. Z3
// symbols (constant and function names) are interned by Z3 for the life of
// the process, so encoders should reuse a bounded set of names.
//
// Solvers keep their own references to asserted terms, so releasing a Scope
// whose terms are still asserted is safe. A Model belongs to its Solver and
// is released by the next Check, Reset or Close. Z3's SMT core also retains
// a few hundred bytes per satisfiable check across Push/Pop, so Push resets
// an empty solver every RecycleAfter checks; a worker that keeps assertions
// outside Push/Pop must Reset and re-assert them itself now and then.
//
// # Costs (measured here, 2 shared cores, go test -bench . -benchmem ./smt)
//
// A trivial Unsat query on a long-lived solver (Scope, Push, Assert, Check,
// Pop, Release) takes 6-17 µs and allocates nothing in Go; a typical
// satisfiable 64-bit window query with a model read 0.7-1.6 ms; a fresh
// solver per query ~100-200 µs; a node ~200-370 ns, which is Z3's own
// mk_* cost (the same chain written in C costs the same). Bit-blasted
// multiplier/divider identities are the expensive case for every Z3
// solver: 8-bit sdiv/srem takes ~1 s, 16-bit over a minute.
//
// # Errors
//
// The context's Z3 error handler records the error and returns, so Z3
// returns NULL instead of aborting; nothing in this package panics on bad
// input. Term constructors return no error: a failure (sort mismatch,
// invalid or released operand) is recorded on the Context (first error
// wins), the constructor returns an invalid Term, anything built from an
// invalid Term is invalid too, and Solver.Check returns the recorded error.
// Context.Err reports it earlier if wanted.
//
// # Interrupts
//
// Z3_interrupt raises a cancel flag that Z3 4.8.12 leaves set after the
// interrupted call; a later assertion is then dropped without an error and
// a check can answer sat wrongly (measured here). So Interrupt only reaches
// Z3 while a Check is running, and Check clears the flag (by checking an
// empty solver) before returning when an interrupt was delivered.
//
// # Not supported
//
// Quantifiers, integers/reals, floating point, datatypes, tactics, unsat
// cores and assumptions: the BPF encoding does not need them.
package smt
