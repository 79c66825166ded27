package bench

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Stat summarises the trials of one measurement.
type Stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	// Lo and Hi bound the confidence interval of the mean (Student's t
	// with N-1 degrees of freedom); equal to Mean when N < 2.
	Lo float64 `json:"ci_lo"`
	Hi float64 `json:"ci_hi"`
}

// Summarize computes a Stat of xs with the given confidence (e.g. 0.95).
func Summarize(xs []float64, confidence float64) Stat {
	s := Stat{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	s.Median = stat.Quantile(0.5, stat.Empirical, sorted, nil)
	if len(xs)%2 == 0 {
		// Empirical picks the lower middle value; the median of an even
		// count is the mean of the two middle values.
		s.Median = (sorted[len(xs)/2-1] + sorted[len(xs)/2]) / 2
	}
	s.Mean = stat.Mean(xs, nil)
	s.Lo, s.Hi = s.Mean, s.Mean
	if len(xs) < 2 {
		return s
	}
	s.StdDev = stat.StdDev(xs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(1 - (1-confidence)/2)
	half := t * s.StdDev / math.Sqrt(float64(len(xs)))
	s.Lo, s.Hi = s.Mean-half, s.Mean+half
	return s
}

// Excludes reports whether the interval excludes x (a significant change
// when x is 0).
func (s Stat) Excludes(x float64) bool { return s.N >= 2 && (s.Lo > x || s.Hi < x) }
