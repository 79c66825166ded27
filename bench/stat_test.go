package bench

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	cases := []struct {
		name         string
		xs           []float64
		median, mean float64
		lo, hi       float64 // 95% interval
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one", []float64{7}, 7, 7, 7, 7},
		{"constant", []float64{3, 3, 3, 3}, 3, 3, 3, 3},
		// mean 2, sd 1, n 3: t(0.975, 2) = 4.302653 -> half 4.302653/sqrt(3)
		{"three", []float64{1, 2, 3}, 2, 2, 2 - 4.302653/math.Sqrt(3), 2 + 4.302653/math.Sqrt(3)},
		// even count: the median is the mean of the middle two
		{"four", []float64{10, 1, 4, 2}, 3, 4.25, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Summarize(c.xs, 0.95)
			if s.N != len(c.xs) || s.Median != c.median || math.Abs(s.Mean-c.mean) > 1e-12 {
				t.Fatalf("got %+v", s)
			}
			if c.name == "four" {
				if !(s.Lo < s.Mean && s.Mean < s.Hi) {
					t.Errorf("interval %v..%v does not hold the mean", s.Lo, s.Hi)
				}
				return
			}
			if math.Abs(s.Lo-c.lo) > 1e-5 || math.Abs(s.Hi-c.hi) > 1e-5 {
				t.Errorf("interval %v..%v, want %v..%v", s.Lo, s.Hi, c.lo, c.hi)
			}
		})
	}
	if (Stat{N: 3, Lo: 1, Hi: 2}).Excludes(1.5) || !(Stat{N: 3, Lo: 1, Hi: 2}).Excludes(0) {
		t.Error("Excludes")
	}
}
