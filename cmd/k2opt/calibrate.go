package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/cost/calibrate"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
)

// minPrograms keeps every cross-validation fold's training rows (4/5 of
// the programs) well above the fit's 24 unknowns (features and intercept).
const minPrograms = 40

// cmdCalibrate measures per-feature instruction costs on this kernel with
// generated microbenchmarks and fits the latency table (cost/calibrate).
func cmdCalibrate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	programs := fs.Int("programs", 400, "generated programs, the rows of the fit (at least 40: 24 unknowns, 5-fold cross-validation)")
	trials := fs.Int("trials", 9, "BPF_PROG_TEST_RUN calls per program; the fit uses their median")
	repeat := fs.Uint("repeat", 5000, "runs per call (the kernel reports their mean)")
	seed := fs.Uint64("seed", 1, "generator and run-order seed")
	scale := fs.Float64("scale", 1, "multiply every feature's maximum count per program (program size)")
	var write string
	fs.StringVar(&write, "write", "", "write the fitted table to `FILE` (JSON; cost/calibrated.json is the default table)")
	fs.StringVar(&write, "o", "", "same as --write")
	jsonPath := fs.String("json", "", "write every measurement (per-trial times, counts, predictions) to `FILE.json`")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt calibrate [flags]\n\nflags:\n"+flagHelp(fs))
		return nil
	}
	switch {
	case len(pos) > 0:
		return usageErr("calibrate: takes no arguments, got %q", pos[0])
	case *programs < minPrograms:
		return usageErr("calibrate: --programs must be at least %d", minPrograms)
	case *programs > 5000:
		return usageErr("calibrate: --programs must be at most 5000")
	case *trials < 1:
		return usageErr("calibrate: --trials must be at least 1")
	case *repeat < 1 || *repeat > 1<<31:
		return usageErr("calibrate: --repeat must be between 1 and 2^31")
	case !(*scale >= 0.05 && *scale <= 20):
		return usageErr("calibrate: --scale must be between 0.05 and 20")
	}
	if err := kernel.Available(); err != nil {
		return usageErr("calibrate: needs BPF_PROG_LOAD and BPF_PROG_TEST_RUN: %v", err)
	}
	opts := &calibrate.Options{Programs: *programs, Trials: *trials, Repeat: uint32(*repeat), Seed: *seed,
		Gen: &calibrate.GenOptions{Scale: *scale}}
	if isTerminal(stderr) {
		opts.Progress = func(t, n int) { fmt.Fprintf(stderr, "\r\033[Ktrial %d/%d", t, n) }
	}
	res, err := calibrate.Run(opts)
	if isTerminal(stderr) {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return problem("calibrate: %v", err)
	}
	writeCalibration(stdout, res)

	if write != "" {
		b, _ := json.MarshalIndent(res.Table, "", "  ")
		if err := object.WriteFile(write, append(b, '\n'), ""); err != nil {
			return usageErr("write %s: %v", write, err)
		}
	}
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := object.WriteFile(*jsonPath, append(b, '\n'), ""); err != nil {
			return usageErr("write %s: %v", *jsonPath, err)
		}
	}
	return nil
}

// writeCalibration prints the fitted table, the fit's quality and the
// programs the fit explains worst.
func writeCalibration(w io.Writer, r *calibrate.Result) {
	fmt.Fprintf(w, "%d programs (scale %g) x %d trials x %d runs; %s, %.0f MHz, kernel %s; %s\n\n",
		r.Programs, r.Scale, r.Trials, r.Repeat, r.CPU, r.MHz, r.Kernel, r.Elapsed)
	fmt.Fprintln(w, "| feature | ns/insn | ± (s.e.) | cycles | model cycles | legacy cycles | programs |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	model := r.Table.OpCycles()
	for k, f := range r.Features {
		ops := cost.FeatureOps(cost.Feature(k))
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.2f | %s | %s | %d |\n", f.Name, f.NS, f.StdErr, f.Cycles,
			opRange(ops, func(op bpf.Op) float64 { return model[op] }), opRange(ops, cost.LegacyOpCycles), f.Rows)
	}
	fmt.Fprintf(w, "| (intercept: per run) | %.1f | %.1f | | | | |\n\n", r.InterceptNS, r.Fit.InterceptErr)

	fmt.Fprintf(w, "fit: R^2 %.3f, RMSE %.1f ns; median |measured - fitted| / measured %.1f%% in-sample, %.1f%% cross-validated (5-fold, worst %.1f%%)\n",
		r.R2, r.RMSE, 100*r.MedianRelErr, 100*r.CVMedianRel, 100*r.CVMaxRel)
	fmt.Fprintf(w, "legacy table (scaled by its own fit, %.3f ns/cycle): R^2 %.3f, median error %.1f%%\n",
		r.LegacyNSCycle, r.LegacyR2, 100*r.LegacyMedRel)
	var res []float64
	for _, s := range r.Samples {
		res = append(res, s.MedianNS-s.PredictedNS)
	}
	slices.Sort(res)
	q := func(p float64) float64 { return res[int(math.Round(p*float64(len(res)-1)))] }
	fmt.Fprintf(w, "residuals (measured - fitted, ns): min %.1f, p5 %.1f, p25 %.1f, median %.1f, p75 %.1f, p95 %.1f, max %.1f\n",
		q(0), q(0.05), q(0.25), q(0.5), q(0.75), q(0.95), q(1))

	worst := slices.Clone(r.Samples)
	sort.Slice(worst, func(i, j int) bool {
		return math.Abs(worst[i].MedianNS-worst[i].PredictedNS)/worst[i].MedianNS > math.Abs(worst[j].MedianNS-worst[j].PredictedNS)/worst[j].MedianNS
	})
	fmt.Fprintln(w, "\nworst fitted programs:")
	fmt.Fprintln(w, "| program | body insns | measured ns | fitted ns | cross-validated ns |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, s := range worst[:min(5, len(worst))] {
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f |\n", s.Name, s.Insns, s.MedianNS, s.PredictedNS, s.CVPredictedNS)
	}
}

// opRange renders the min-max of f over ops ("1" or "1-4").
func opRange(ops []bpf.Op, f func(bpf.Op) float64) string {
	if len(ops) == 0 {
		return "-"
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, op := range ops {
		lo, hi = min(lo, f(op)), max(hi, f(op))
	}
	if lo == hi {
		return trimFloat(lo)
	}
	return trimFloat(lo) + "-" + trimFloat(hi)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
