//go:build soak

package interp

import (
	"testing"
	"time"
)

// TestSoakDiffRandom: 100,000+ (program, input) pairs against the kernel.
func TestSoakDiffRandom(t *testing.T) {
	start := time.Now()
	n := 0
	for seed := uint64(100); n < 300_000; seed++ {
		n += diffRandom(t, seed, 500, 40)
		if t.Failed() {
			break
		}
	}
	t.Logf("soak: %d (program, input) pairs against the kernel in %v", n, time.Since(start).Round(time.Second))
}

// TestSoakDiffCorpus: corpus XDP/tc programs on generated inputs, kernel vs
// interpreter (r0, packet, maps). Slow: maps are restored per input.
func TestSoakDiffCorpus(t *testing.T) {
	n := diffCorpus(t, 1000)
	t.Logf("%d (program, input) pairs compared", n)
}
