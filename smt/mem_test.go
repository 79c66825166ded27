package smt

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rss is the resident set size from /proc/self/statm (Go heap and Z3's
// C++ heap together), after returning freed Go memory to the OS.
func rss(t testing.TB) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("read statm: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

// query runs one small query shaped like an encoder's: ~40 fresh nodes over
// named 64-bit inputs and per-query numerals, one check, and every 4th
// query a model read. With release it ends its Scope; without, it leaks
// every node into the arena (the control for the measurement).
func query(t testing.TB, c *Context, s *Solver, i int, release bool) {
	sc := c.Scope()
	s.Push()
	x, y := c.BVConst("r1", 64), c.BVConst("r2", 64)
	k := c.BV(uint64(i)*0x9e3779b97f4a7c15|1, 64)
	lhs := c.Add(c.Mul(x, k), c.BVAnd(y, c.BV(uint64(i), 64)))
	rhs := c.Add(c.BVAnd(c.BV(uint64(i), 64), y), c.Mul(k, x))
	lo := c.ZeroExt(32, c.Extract(31, 0, c.BVXor(lhs, c.LShr(y, c.BV(uint64(i%64), 64)))))
	mem := c.Store(c.Const("stack", c.ArraySort(c.BVSort(64), c.BVSort(8))), x, c.Extract(7, 0, lo))
	want := Unsat
	if i%4 == 0 {
		// Sat: x must equal a per-query value.
		s.Assert(c.Eq(c.Sub(x, k), c.BV(uint64(i), 64)), c.Eq(c.Select(mem, x), c.Extract(7, 0, lo)))
		want = Sat
	} else {
		s.Assert(c.Not(c.Eq(lhs, rhs)))
	}
	r, err := s.Check(context.Background())
	if err != nil || r != want {
		t.Fatalf("query %d: Check = %v, %v; want %v", i, r, err, want)
	}
	if r == Sat {
		m, err := s.Model()
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		v, ok := m.Eval(x)
		if !ok || v != uint64(i)*0x9e3779b97f4a7c15|1+uint64(i) {
			t.Fatalf("query %d: x = %#x, %v", i, v, ok)
		}
	}
	s.Pop(1)
	if release {
		sc.Release()
	}
}

// memoryRun runs warm queries, then n measured ones, and returns the RSS
// growth and the arena growth over the measured ones.
func memoryRun(t testing.TB, n int, release bool) (grow int64, live int) {
	c := NewContext()
	defer c.Close()
	s := c.NewSolver()
	for i := range 2000 {
		query(t, c, s, i, release)
	}
	r0, l0 := rss(t), c.Live()
	for i := range n {
		query(t, c, s, 2000+i, release)
	}
	return rss(t) - r0, c.Live() - l0
}

const mib = 1 << 20

func TestMemoryBounded(t *testing.T) {
	const n = 20000
	grow, live := memoryRun(t, n, true)
	t.Logf("%d queries with Scope.Release: RSS %+.1f MiB, arena %+d", n, float64(grow)/mib, live)
	if live != 0 {
		t.Errorf("arena grew by %d terms", live)
	}
	if grow > 16*mib {
		t.Errorf("RSS grew by %.1f MiB over %d queries", float64(grow)/mib, n)
	}

	// Control: the same queries without releasing must show up in both
	// measures, or the bounds above prove nothing.
	const nc = n / 4
	grow, live = memoryRun(t, nc, false)
	t.Logf("%d queries without release: RSS %+.1f MiB, arena %+d", nc, float64(grow)/mib, live)
	if live < 10*nc {
		t.Errorf("control: arena grew by %d terms only", live)
	}
	if grow < 24*mib {
		t.Errorf("control: leaking run grew RSS by %.1f MiB only; the bound is not sensitive", float64(grow)/mib)
	}
}
