package smt

import (
	"context"
	"testing"
)

// BenchmarkTrivialUnsat: one query on a long-lived solver — Scope, Push,
// assert the negation of x+y = y+x, Check (Unsat), Pop, Release.
func BenchmarkTrivialUnsat(b *testing.B) {
	c, s := newCS(b)
	ctx := context.Background()
	for b.Loop() {
		sc := c.Scope()
		s.Push()
		x, y := c.BVConst("x", 64), c.BVConst("y", 64)
		s.Assert(c.Not(c.Eq(c.Add(x, y), c.Add(y, x))))
		if r, err := s.Check(ctx); r != Unsat || err != nil {
			b.Fatalf("Check = %v, %v", r, err)
		}
		s.Pop(1)
		sc.Release()
	}
}

// BenchmarkSATModel: a typical window query that is satisfiable — two
// 64-bit register sequences that differ only when a 16-bit carry happens
// (r0 = ((r1 + r2) & 0xffff) << 3 ^ r2 versus the masks applied before the
// add, plus a 32-bit subregister op), asserted unequal; the counterexample
// is read from the model and re-checked in Go.
func BenchmarkSATModel(b *testing.B) {
	c, s := newCS(b)
	ctx := context.Background()
	i := uint64(0)
	for b.Loop() {
		i++
		sc := c.Scope()
		s.Push()
		r1, r2 := c.BVConst("r1", 64), c.BVConst("r2", 64)
		mask, three := c.BV(0xffff, 64), c.BV(3, 64)
		p1 := c.BVXor(c.Shl(c.BVAnd(c.Add(r1, r2), mask), three), r2)
		p2 := c.BVXor(c.Shl(c.Add(c.BVAnd(r1, mask), c.BVAnd(r2, mask)), three), r2)
		// w0 = (u32)(r1 - i): a subregister op, zero-extended.
		w0 := c.ZeroExt(32, c.Sub(c.Extract(31, 0, r1), c.BV(i, 32)))
		s.Assert(c.Not(c.Eq(p1, p2)), c.ULT(w0, c.BV(1<<20, 64)))
		if r, err := s.Check(ctx); r != Sat || err != nil {
			b.Fatalf("Check = %v, %v", r, err)
		}
		m, err := s.Model()
		if err != nil {
			b.Fatal(err)
		}
		x, ok1 := m.Eval(r1)
		y, ok2 := m.Eval(r2)
		q1 := ((x+y)&0xffff)<<3 ^ y
		q2 := ((x&0xffff)+(y&0xffff))<<3 ^ y
		if !ok1 || !ok2 || q1 == q2 || uint32(x)-uint32(i) >= 1<<20 {
			b.Fatalf("model is not a counterexample: r1=%#x r2=%#x", x, y)
		}
		s.Pop(1)
		sc.Release()
	}
}

// BenchmarkSATMul: a satisfiable query through a 64-bit multiplier (hash
// of x, y matched on 16 bits), the expensive case for bit-blasting.
func BenchmarkSATMul(b *testing.B) {
	c, s := newCS(b)
	ctx := context.Background()
	i := uint64(0)
	for b.Loop() {
		i++
		sc := c.Scope()
		s.Push()
		x, y := c.BVConst("x", 64), c.BVConst("y", 64)
		k := c.BV(0x9e3779b97f4a7c15, 64)
		h := c.BVXor(c.Mul(x, k), c.LShr(y, c.BV(29, 64)))
		s.Assert(
			c.Eq(c.Extract(15, 0, h), c.BV(i, 16)),
			c.ULT(y, c.BV(1<<40, 64)),
			c.Eq(c.BVAnd(c.Add(x, y), c.BV(0xff, 64)), c.BV(i&0xff, 64)),
		)
		if r, err := s.Check(ctx); r != Sat || err != nil {
			b.Fatalf("Check = %v, %v", r, err)
		}
		m, err := s.Model()
		if err != nil {
			b.Fatal(err)
		}
		xv, ok1 := m.Eval(x)
		yv, ok2 := m.Eval(y)
		if !ok1 || !ok2 || uint16((xv*0x9e3779b97f4a7c15)^(yv>>29)) != uint16(i) {
			b.Fatalf("model does not satisfy the query: x=%#x y=%#x", xv, yv)
		}
		s.Pop(1)
		sc.Release()
	}
}

// BenchmarkNodes: term construction rate; each iteration builds 125 nodes
// (a chain of add, xor, shl, ult, ite over two inputs) and releases them.
// Z3's own mk_* calls dominate: the same chain in C costs the same per node.
func BenchmarkNodes(b *testing.B) {
	c, _ := newCS(b)
	x, y := c.BVConst("x", 64), c.BVConst("y", 64)
	one := c.BV(1, 64)
	b.ReportAllocs()
	for b.Loop() {
		sc := c.Scope()
		t := x
		for range 25 {
			t = c.Add(t, y)
			t = c.BVXor(t, x)
			t = c.Shl(t, one)
			t = c.Ite(c.ULT(t, y), t, x)
		}
		if c.Err() != nil {
			b.Fatal(c.Err())
		}
		sc.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/125, "ns/node")
}

// BenchmarkNewSolver: cost of a fresh simple solver per query, for
// comparison with reusing one (Push/Pop).
func BenchmarkNewSolver(b *testing.B) {
	c, _ := newCS(b)
	ctx := context.Background()
	for b.Loop() {
		sc := c.Scope()
		s := c.NewSolver()
		x := c.BVConst("x", 64)
		s.Assert(c.Not(c.Eq(c.Add(x, x), c.Mul(x, c.BV(2, 64)))))
		if r, err := s.Check(ctx); r != Unsat || err != nil {
			b.Fatalf("Check = %v, %v", r, err)
		}
		s.Close()
		sc.Release()
	}
}
