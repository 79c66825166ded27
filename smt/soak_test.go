//go:build soak

package smt

import "testing"

// TestSoakMemory is the 200,000-query version of TestMemoryBounded
// (make soak).
func TestSoakMemory(t *testing.T) {
	const n = 200000
	grow, live := memoryRun(t, n, true)
	t.Logf("%d queries: RSS %+.1f MiB, arena %+d", n, float64(grow)/mib, live)
	if live != 0 {
		t.Errorf("arena grew by %d terms", live)
	}
	if grow > 16*mib {
		t.Errorf("RSS grew by %.1f MiB over %d queries", float64(grow)/mib, n)
	}
}
