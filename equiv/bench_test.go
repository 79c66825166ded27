package equiv

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkWindowCheck: one solver check per op on random rewrites of
// corpus windows (4-16 instructions), cache off. Reports the median and
// p95 per check in ms/check.
func BenchmarkWindowCheck(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	wins := corpusWindows(b, rng, 8)
	var queries []Window
	for len(queries) < 200 {
		cw := wins[rng.IntN(len(wins))]
		if bb := mutate(rng, cw.w.A, cw.w.LiveIn); bb != nil {
			w := cw.w
			w.B = bb
			queries = append(queries, w)
		}
	}
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	var ds []time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := ck.Window(context.Background(), &queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		i++
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/1e6, "ms/check")
	b.ReportMetric(float64(ds[len(ds)*95/100])/1e6, "p95-ms/check")
}

// BenchmarkCacheHit: a repeated query answered by the proof cache
// (canonicalisation + lookup), in us/hit.
func BenchmarkCacheHit(b *testing.B) {
	rng := rand.New(rand.NewPCG(8, 8))
	wins := corpusWindows(b, rng, 2)
	ck := NewChecker(nil)
	defer ck.Close()
	var qs []Window
	for _, cw := range wins[:min(32, len(wins))] {
		w := cw.w
		w.B = slices.Clone(w.A)
		r, err := ck.Window(context.Background(), &w)
		if err != nil {
			b.Fatal(err)
		}
		if r.Verdict != Unknown {
			qs = append(qs, w)
		}
	}
	i := 0
	for b.Loop() {
		r, _ := ck.Window(context.Background(), &qs[i%len(qs)])
		if !r.Cached {
			b.Fatal("not a cache hit")
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "us/hit")
}
