package calibrate

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/k2opt/k2opt/cost"
)

// Fit is an ordinary least-squares fit of per-run time against executed
// instruction counts: y = Intercept + sum over features of Coef[f]*count[f].
type Fit struct {
	Intercept    float64
	InterceptErr float64
	Coef         [cost.NumFeatures]float64 // ns per executed instruction
	StdErr       [cost.NumFeatures]float64 // standard errors of Coef
	R2           float64
	RMSE         float64   // root mean square residual (ns)
	Predicted    []float64 // in-sample prediction per row
	// CVPredicted is the k-fold cross-validated prediction of each row:
	// from a fit that did not see that row (nil when Folds < 2).
	CVPredicted []float64
}

// ErrRank is returned when the rows do not determine every coefficient.
var ErrRank = errors.New("calibration rows do not determine every feature (too few programs, or a feature never varies)")

// FitLS fits y (ns per run) against counts with an intercept column,
// minimising the sum of (w[i]*(y[i]-prediction))^2; w nil means 1 (plain
// least squares). Noise proportional to the time asks for w = 1/y. With
// folds >= 2 it also computes cross-validated predictions (row i is held
// out in fold i%folds).
func FitLS(counts [][cost.NumFeatures]int, y, w []float64, folds int) (Fit, error) {
	n, p := len(counts), int(cost.NumFeatures)+1
	if n != len(y) {
		return Fit{}, fmt.Errorf("calibrate: %d count rows, %d times", n, len(y))
	}
	if w != nil && len(w) != n {
		return Fit{}, fmt.Errorf("calibrate: %d count rows, %d weights", n, len(w))
	}
	if n <= p {
		return Fit{}, fmt.Errorf("%w: %d programs for %d unknowns", ErrRank, n, p)
	}
	beta, cov, err := solve(counts, y, w, nil)
	if err != nil {
		return Fit{}, err
	}
	var f Fit
	f.Intercept = beta[0]
	for k := range cost.NumFeatures {
		f.Coef[k] = beta[k+1]
	}
	f.Predicted = make([]float64, n)
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	rss, tss, wrss := 0.0, 0.0, 0.0
	for i := range counts {
		f.Predicted[i] = predict(beta, counts[i])
		e := y[i] - f.Predicted[i]
		rss += e * e
		tss += (y[i] - mean) * (y[i] - mean)
		if w != nil {
			e *= w[i]
		}
		wrss += e * e
	}
	f.RMSE = math.Sqrt(rss / float64(n))
	if tss > 0 {
		f.R2 = 1 - rss/tss
	}
	// cov is (X'WX)^-1; scale by the (weighted) residual variance.
	s2 := wrss / float64(n-p)
	f.InterceptErr = math.Sqrt(s2 * cov.At(0, 0))
	for k := range cost.NumFeatures {
		f.StdErr[k] = math.Sqrt(s2 * cov.At(int(k)+1, int(k)+1))
	}

	if folds >= 2 {
		f.CVPredicted = make([]float64, n)
		for fold := range folds {
			keep := func(i int) bool { return i%folds != fold }
			b, _, err := solve(counts, y, w, keep)
			if err != nil {
				return Fit{}, fmt.Errorf("cross-validation fold %d: %w", fold, err)
			}
			for i := fold; i < n; i += folds {
				f.CVPredicted[i] = predict(b, counts[i])
			}
		}
	}
	return f, nil
}

func predict(beta []float64, c [cost.NumFeatures]int) float64 {
	v := beta[0]
	for k, x := range c {
		v += beta[k+1] * float64(x)
	}
	return v
}

// solve returns the weighted least-squares coefficients (intercept first)
// over the rows keep accepts (all when nil) and (X'WX)^-1.
func solve(counts [][cost.NumFeatures]int, y, w []float64, keep func(int) bool) ([]float64, *mat.Dense, error) {
	p := int(cost.NumFeatures) + 1
	var rows []int
	for i := range counts {
		if keep == nil || keep(i) {
			rows = append(rows, i)
		}
	}
	if len(rows) <= p {
		return nil, nil, fmt.Errorf("%w: %d programs for %d unknowns", ErrRank, len(rows), p)
	}
	x := mat.NewDense(len(rows), p, nil)
	yv := mat.NewVecDense(len(rows), nil)
	for r, i := range rows {
		for k, c := range counts[i] {
			x.Set(r, k+1, float64(c))
		}
	}
	for k := 1; k < p; k++ {
		col := mat.Col(nil, k, x)
		if slices.Min(col) == slices.Max(col) {
			return nil, nil, fmt.Errorf("%w: the count of %s is the same in every program", ErrRank, cost.Feature(k-1))
		}
	}
	for r, i := range rows {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		x.Set(r, 0, wi)
		for k := 1; k < p; k++ {
			x.Set(r, k, wi*x.At(r, k))
		}
		yv.SetVec(r, wi*y[i])
	}
	var qr mat.QR
	qr.Factorize(x)
	var b mat.VecDense
	if err := qr.SolveVecTo(&b, false, yv); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrRank, err)
	}
	var xtx, inv mat.Dense
	xtx.Mul(x.T(), x)
	if err := inv.Inverse(&xtx); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrRank, err)
	}
	return b.RawVector().Data, &inv, nil
}
