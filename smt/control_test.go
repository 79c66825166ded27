package smt

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestErrors(t *testing.T) {
	other := NewContext()
	defer other.Close()
	foreign := other.BVConst("f", 8)

	closed := NewContext()
	closedSolver := closed.NewSolver()
	closed.Close()

	tests := []struct {
		name string
		// do misuses c/s; the error must come out of the next Check.
		do      func(c *Context, s *Solver)
		z3      bool   // a Z3-reported *Error (else a Go-side sentinel)
		is      error  // sentinel for errors.Is, when !z3
		msgPart string // substring of the error text
	}{
		{"sort mismatch", func(c *Context, s *Solver) {
			s.Assert(c.Eq(c.Add(c.BVConst("a", 32), c.BVConst("b", 64)), c.BV(0, 32)))
		}, true, nil, "bvadd"},
		{"first error wins", func(c *Context, s *Solver) {
			bad := c.Sub(c.BVConst("a", 8), c.BVConst("b", 16))
			s.Assert(c.Eq(c.Mul(bad, bad), c.BV(0, 8)))
		}, true, nil, "bvsub"},
		{"non-boolean assertion", func(c *Context, s *Solver) {
			s.Assert(c.BVConst("a", 8))
		}, true, nil, "assert"},
		{"extract past width", func(c *Context, s *Solver) {
			s.Assert(c.Eq(c.Extract(70, 0, c.BVConst("a", 64)), c.BV(0, 71)))
		}, true, nil, "extract"},
		{"ite branch sorts", func(c *Context, s *Solver) {
			s.Assert(c.Eq(c.Ite(c.True(), c.BV(1, 8), c.BV(1, 16)), c.BV(1, 8)))
		}, true, nil, "ite"},
		{"select index sort", func(c *Context, s *Solver) {
			mem := c.Const("mem", c.ArraySort(c.BVSort(64), c.BVSort(8)))
			s.Assert(c.Eq(c.Select(mem, c.BV(0, 32)), c.BV(0, 8)))
		}, true, nil, "select"},
		{"apply arity", func(c *Context, s *Solver) {
			f := c.Func("f2", []Sort{c.BVSort(8), c.BVSort(8)}, c.BVSort(8))
			s.Assert(c.Eq(c.Apply(f, c.BV(1, 8)), c.BV(0, 8)))
		}, true, nil, "apply"},
		{"released term", func(c *Context, s *Solver) {
			sc := c.Scope()
			x := c.Add(c.BVConst("a", 8), c.BV(1, 8))
			sc.Release()
			s.Assert(c.Eq(x, x))
		}, false, ErrInvalidTerm, "="},
		{"zero term", func(c *Context, s *Solver) {
			s.Assert(c.Not(Term{}))
		}, false, ErrInvalidTerm, "not"},
		{"term of another context", func(c *Context, s *Solver) {
			s.Assert(c.Eq(foreign, foreign))
		}, false, ErrInvalidTerm, "="},
		{"sort of another context", func(c *Context, s *Solver) {
			s.Assert(c.Eq(c.Const("a", other.BVSort(8)), c.BV(0, 8)))
		}, false, ErrInvalidSort, "const a"},
		{"zero width", func(c *Context, s *Solver) {
			s.Assert(c.Eq(c.BV(0, 0), c.BV(0, 0)))
		}, false, nil, "width 0"},
		{"negative extension", func(c *Context, s *Solver) {
			s.Assert(c.Eq(c.ZeroExt(-1, c.BV(0, 8)), c.BV(0, 8)))
		}, false, nil, "out of range"},
		{"pop too far", func(c *Context, s *Solver) {
			s.Pop(3)
		}, false, nil, "pop 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newCS(t)
			tc.do(c, s)
			if c.Err() == nil {
				t.Fatal("Err() = nil after misuse")
			}
			r, err := s.Check(context.Background())
			if err == nil || r != Unknown {
				t.Fatalf("Check = %v, %v; want unknown and an error", r, err)
			}
			var ze *Error
			if tc.z3 != errors.As(err, &ze) {
				t.Errorf("error %q: Z3 error = %v, want %v", err, !tc.z3, tc.z3)
			}
			if ze != nil && (ze.Code == 0 || ze.Msg == "") {
				t.Errorf("Z3 error without code or message: %+v", ze)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msgPart) {
				t.Errorf("error %q does not mention %q", err, tc.msgPart)
			}
			if strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("error %q is not one line", err)
			}
			// The error was consumed and the context still works.
			s.Reset()
			s.Assert(c.Not(c.Eq(c.BVConst("a", 8), c.BVConst("a", 8))))
			if r, err := s.Check(context.Background()); r != Unsat || err != nil {
				t.Errorf("after the error: Check = %v, %v; want unsat", r, err)
			}
		})
	}

	t.Run("closed context", func(t *testing.T) {
		x := closed.BVConst("x", 8)
		if closed.Valid(x) || !errors.Is(closed.Err(), ErrClosed) {
			t.Errorf("term on closed context: valid = %v, Err = %v", closed.Valid(x), closed.Err())
		}
		closedSolver.Assert(x)
		if r, err := closedSolver.Check(nil); r != Unknown || !errors.Is(err, ErrClosed) {
			t.Errorf("Check on closed context = %v, %v; want ErrClosed", r, err)
		}
		if _, err := closed.NewSolver().Check(nil); !errors.Is(err, ErrClosed) {
			t.Errorf("new solver on closed context: err = %v, want ErrClosed", err)
		}
		closed.Interrupt() // must not touch the freed Z3 context
		closed.Close()     // idempotent
	})
}

func TestSolverClose(t *testing.T) {
	c, s := newCS(t)
	s2 := c.NewSolver()
	s2.Assert(c.False())
	s2.Close()
	s2.Close()
	if r, err := s2.Check(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Check on closed solver = %v, %v; want ErrClosed", r, err)
	}
	// The other solver is unaffected.
	s.Assert(c.True())
	if r, err := s.Check(nil); r != Sat || err != nil {
		t.Errorf("Check = %v, %v; want sat", r, err)
	}
}

// hardFactoring asserts x*y = p*q over 64 bits with 1 < x, y < 2^32 for two
// 32-bit primes: Z3's simple solver does not finish it within 20 s here.
func hardFactoring(c *Context, s *Solver) {
	p, q := big.NewInt(3000000019), big.NewInt(4000000007)
	if !p.ProbablyPrime(20) || !q.ProbablyPrime(20) {
		panic("factors are not prime")
	}
	n := new(big.Int).Mul(p, q).Uint64()
	x, y := c.BVConst("fx", 64), c.BVConst("fy", 64)
	one, lim := c.BV(1, 64), c.BV(0xffffffff, 64)
	s.Assert(
		c.Eq(c.Mul(x, y), c.BV(n, 64)),
		c.UGT(x, one), c.UGT(y, one), c.ULE(x, lim), c.ULE(y, lim),
	)
}

// assertUsable checks that the solver still decides a query correctly; a
// left-over cancel flag would drop the assertion and answer sat.
func assertUsable(t *testing.T, c *Context, s *Solver) {
	t.Helper()
	s.Reset()
	s.SetTimeout(0)
	x := c.BVConst("u", 32)
	s.Assert(c.Eq(c.Add(x, c.BV(1, 32)), x))
	if r, err := s.Check(context.Background()); r != Unsat || err != nil {
		t.Fatalf("after the interrupted check: Check = %v, %v; want unsat", r, err)
	}
}

func TestTimeout(t *testing.T) {
	c, s := newCS(t)
	s.SetTimeout(50 * time.Millisecond)
	for round := range 2 { // the second round checks that Reset keeps the timeout
		hardFactoring(c, s)
		r, err := s.Check(context.Background())
		if r != Unknown || err != nil {
			t.Fatalf("round %d: Check = %v, %v; want unknown, nil", round, r, err)
		}
		if why := s.ReasonUnknown(); why != "canceled" && why != "timeout" {
			t.Errorf("round %d: ReasonUnknown = %q", round, why)
		}
		if _, err := s.Model(); !errors.Is(err, ErrNoModel) {
			t.Errorf("round %d: Model after unknown: %v", round, err)
		}
		s.Reset()
	}
	assertUsable(t, c, s)
}

// isChecking reports whether a Check is inside Z3 (test hook).
func (c *Context) isChecking() bool {
	c.imu.Lock()
	defer c.imu.Unlock()
	return c.checking
}

// whileChecking runs f once the Check started on c is inside Z3, from
// another goroutine; it gives up when done closes.
func whileChecking(c *Context, done <-chan struct{}, f func()) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for !c.isChecking() {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
		f()
	})
	return &wg
}

func TestInterrupt(t *testing.T) {
	tests := []struct {
		name    string
		run     func(c *Context, s *Solver) (Result, error)
		wantErr error
	}{
		{"cancel context", func(c *Context, s *Solver) (Result, error) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			defer close(done)
			whileChecking(c, done, cancel)
			return s.Check(ctx)
		}, context.Canceled},
		{"context deadline", func(c *Context, s *Solver) (Result, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			return s.Check(ctx)
		}, context.DeadlineExceeded},
		{"Interrupt from another goroutine", func(c *Context, s *Solver) (Result, error) {
			done := make(chan struct{})
			defer close(done)
			whileChecking(c, done, c.Interrupt)
			return s.Check(context.Background())
		}, nil},
		{"already cancelled", func(c *Context, s *Solver) (Result, error) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return s.Check(ctx)
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newCS(t)
			hardFactoring(c, s)
			r, err := tc.run(c, s)
			if r != Unknown || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Check = %v, %v; want unknown, %v", r, err, tc.wantErr)
			}
			assertUsable(t, c, s)
		})
	}

	// Z3 4.8.12 keeps a stray interrupt's cancel flag and then drops the
	// next assertion; Interrupt must not reach Z3 outside a check.
	t.Run("stray interrupt", func(t *testing.T) {
		c, s := newCS(t)
		c.Interrupt()
		s.Assert(c.False())
		if r, err := s.Check(nil); r != Unsat || err != nil {
			t.Fatalf("Check after a stray Interrupt = %v, %v; want unsat", r, err)
		}
	})

	// An interrupt can land after Z3_solver_check returned but before Check
	// closed the window; endCheck must clear what it left behind.
	t.Run("late interrupt", func(t *testing.T) {
		c, s := newCS(t)
		c.beginCheck()
		c.Interrupt() // reaches Z3 with no check inside it
		if !c.endCheck() {
			t.Fatal("endCheck did not see the delivered interrupt")
		}
		s.Assert(c.False())
		if r, err := s.Check(nil); r != Unsat || err != nil {
			t.Fatalf("Check after a late Interrupt = %v, %v; want unsat", r, err)
		}
	})

	// Workers own independent contexts: checks run in parallel and one
	// worker's interrupt does not touch another's check.
	t.Run("independent contexts", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 4)
		for w := range 4 {
			wg.Go(func() {
				c := NewContext()
				defer c.Close()
				s := c.NewSolver()
				for i := range 200 {
					sc := c.Scope()
					x := c.BVConst("x", 64)
					s.Push()
					s.Assert(c.Eq(c.Mul(x, c.BV(3, 64)), c.BV(uint64(3*(i+w)), 64)), c.ULT(x, c.BV(1<<40, 64)))
					r, err := s.Check(context.Background())
					m, merr := s.Model()
					v, ok := m.Eval(x)
					if r != Sat || err != nil || merr != nil || !ok || v != uint64(i+w) {
						errs <- "worker result mismatch"
						c.Interrupt() // harmless: no check is running
					}
					s.Pop(1)
					sc.Release()
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}

func TestRecycle(t *testing.T) {
	runChecks := func(c *Context, s *Solver, n int) Model {
		var m Model
		for i := range n {
			sc := c.Scope()
			s.Push()
			s.Assert(c.Eq(c.BVConst("q", 16), c.BV(uint64(i), 16)))
			if r, err := s.Check(nil); r != Sat || err != nil {
				t.Fatalf("check %d = %v, %v", i, r, err)
			}
			m, _ = s.Model()
			s.Pop(1)
			sc.Release()
		}
		return m
	}

	t.Run("empty solver recycles, model survives", func(t *testing.T) {
		c, s := newCS(t)
		s.SetTimeout(time.Minute)
		m := runChecks(c, s, RecycleAfter)
		s.Push() // recycles here
		if s.checks != 0 {
			t.Fatalf("checks = %d after Push; the solver was not recycled", s.checks)
		}
		if v, ok := m.Eval(c.BVConst("q", 16)); !ok || v != RecycleAfter-1 {
			t.Errorf("model after recycling: q = %d, %v; want %d", v, ok, RecycleAfter-1)
		}
		if s.NumScopes() != 1 || s.depth != 1 {
			t.Errorf("after Push: Z3 scopes %d, depth %d; want 1", s.NumScopes(), s.depth)
		}
		if s.timeoutMS != 60000 {
			t.Errorf("timeout lost: %d ms", s.timeoutMS)
		}
	})

	t.Run("base assertions block recycling", func(t *testing.T) {
		c, s := newCS(t)
		x := c.BVConst("base", 8)
		s.Assert(c.Eq(x, c.BV(5, 8)))
		runChecks(c, s, RecycleAfter+1)
		s.Push()
		s.Assert(c.Not(c.Eq(x, c.BV(5, 8))))
		if r, err := s.Check(nil); r != Unsat || err != nil {
			t.Fatalf("Check = %v, %v; want unsat (the base assertion was dropped)", r, err)
		}
	})
}
