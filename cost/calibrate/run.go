package calibrate

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/safety/kernel"
)

// Options control a calibration run. Zero fields take the defaults.
type Options struct {
	Programs int    // generated programs, the rows of the fit (default 400)
	Trials   int    // BPF_PROG_TEST_RUN calls per program; the median is used (default 9)
	Repeat   uint32 // runs per call; the kernel reports their mean (default 2000)
	Seed     uint64 // generator and run-order seed (default 1)
	Folds    int    // cross-validation folds (default 5)
	Gen      *GenOptions
	// Progress, when set, is called after each trial.
	Progress func(trial, trials int)
}

func (o *Options) withDefaults() Options {
	d := Options{Programs: 400, Trials: 9, Repeat: 2000, Seed: 1, Folds: 5}
	if o != nil {
		if o.Programs > 0 {
			d.Programs = o.Programs
		}
		if o.Trials > 0 {
			d.Trials = o.Trials
		}
		if o.Repeat > 0 {
			d.Repeat = o.Repeat
		}
		if o.Seed != 0 {
			d.Seed = o.Seed
		}
		if o.Folds > 0 {
			d.Folds = o.Folds
		}
		d.Gen, d.Progress = o.Gen, o.Progress
	}
	return d
}

// Sample is the measurement of one program.
type Sample struct {
	Name   string         `json:"name"`
	Insns  int            `json:"body_insns"`
	Counts map[string]int `json:"counts"`
	// RawNS are the kernel-reported ns/run of each trial, TrialsNS the
	// same normalised by the reference program (see Timings), MedianNS
	// the median of TrialsNS (the fit's y).
	RawNS    []float64 `json:"raw_ns"`
	TrialsNS []float64 `json:"trials_ns"`
	MedianNS float64   `json:"median_ns"`
	// Filled in by the fit: the in-sample and cross-validated predictions.
	PredictedNS   float64 `json:"predicted_ns"`
	CVPredictedNS float64 `json:"cv_predicted_ns"`
	LegacyNS      float64 `json:"legacy_predicted_ns"` // the legacy cycle table, scaled by its own fit
	counts        [cost.NumFeatures]int
}

// Result is a calibration run: the environment, every sample and the fit.
type Result struct {
	Date     string    `json:"date"`
	Kernel   string    `json:"kernel"`
	CPU      string    `json:"cpu"`
	MHz      float64   `json:"mhz"`
	Programs int       `json:"programs"`
	Trials   int       `json:"trials"`
	Repeat   int       `json:"repeat"`
	Seed     uint64    `json:"seed"`
	Scale    float64   `json:"scale"`
	Elapsed  string    `json:"elapsed"`
	Samples  []Sample  `json:"samples"`
	RefNS    []float64 `json:"reference_ns"` // every run of the reference program
	Fit      Fit       `json:"-"`
	// Summary of the fit.
	InterceptNS   float64      `json:"intercept_ns"`
	Features      []FeatureFit `json:"features"`
	R2            float64      `json:"r2"`
	RMSE          float64      `json:"rmse_ns"`
	MedianRelErr  float64      `json:"median_rel_err"`    // in-sample median |y-pred|/y
	CVMedianRel   float64      `json:"cv_median_rel_err"` // cross-validated
	CVMaxRel      float64      `json:"cv_max_rel_err"`
	LegacyR2      float64      `json:"legacy_r2"` // y against a + b*legacy cycles
	LegacyMedRel  float64      `json:"legacy_median_rel_err"`
	LegacyNSCycle float64      `json:"legacy_ns_per_cycle"` // b of that fit
	Table         *cost.Table  `json:"-"`
}

// FeatureFit is one fitted feature.
type FeatureFit struct {
	Name   string  `json:"name"`
	NS     float64 `json:"ns"`
	StdErr float64 `json:"stderr"`
	Cycles float64 `json:"cycles"`   // NS * MHz / 1000
	Rows   int     `json:"programs"` // programs that contain it
}

// Run generates the programs, loads them through the verifier, measures
// them and fits the table. It needs BPF_PROG_LOAD and BPF_PROG_TEST_RUN.
func Run(opts *Options) (*Result, error) {
	o := opts.withDefaults()
	begin := time.Now()
	rng := rand.New(rand.NewPCG(o.Seed, 0x6b326f7074))
	benches := Generate(rng, o.Programs, o.Gen)
	tm, err := Measure(benches, Reference(rng), rng, o)
	if err != nil {
		return nil, err
	}
	r := &Result{
		Date:     time.Now().UTC().Format("2006-01-02"),
		Programs: o.Programs, Trials: o.Trials, Repeat: int(o.Repeat), Seed: o.Seed, Scale: 1,
	}
	if o.Gen != nil && o.Gen.Scale > 0 {
		r.Scale = o.Gen.Scale
	}
	r.Kernel, r.CPU, r.MHz = Machine()
	r.RefNS = tm.Ref
	for i, b := range benches {
		med := median(tm.Norm[i])
		cm := map[string]int{}
		for f, c := range b.Counts {
			if c > 0 {
				cm[cost.Feature(f).String()] = c
			}
		}
		r.Samples = append(r.Samples, Sample{Name: b.Name, Insns: b.BodyEnd - b.BodyStart, Counts: cm,
			TrialsNS: tm.Norm[i], RawNS: tm.Raw[i], MedianNS: med, counts: b.Counts})
	}
	if err := r.fit(o.Folds); err != nil {
		return nil, err
	}
	r.Elapsed = time.Since(begin).Round(time.Second).String()
	return r, nil
}

// Timings are the measurements of Measure, per bench and trial (ns/run).
type Timings struct {
	Raw [][]float64 // as the kernel reported them
	// Norm are Raw divided by the reference program's time around each
	// run (the mean of the runs just before and after) and multiplied by
	// the reference's overall median: the machine's slow and fast spells,
	// which move every program alike, cancel.
	Norm [][]float64
	Ref  []float64 // every run of the reference program
}

// Reference is the program Measure runs between the benches: every
// feature at half its maximum count.
func Reference(rng *rand.Rand) Bench {
	var want [cost.NumFeatures]int
	for f := range cost.NumFeatures {
		want[f] = maxCount(f) / 2
	}
	return build(rng, "calib_ref", want)
}

// Measure loads benches and ref (each must pass the verifier) and times
// them. A trial runs every bench once, in an order shuffled per trial so
// that slow drifts of the machine spread over all programs, with ref
// before each bench and after the last.
func Measure(benches []Bench, ref Bench, rng *rand.Rand, o Options) (*Timings, error) {
	all := append(slices.Clone(benches), ref)
	r := len(benches)
	obj, err := Load(all)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	run := func(i int) (float64, error) {
		res, err := obj.TestRun(all[i].Name, kernel.RunOptions{Data: all[i].Packet, Repeat: o.Repeat})
		if err != nil {
			return 0, err
		}
		if res.Retval != RetPass {
			return 0, fmt.Errorf("program %s returned %d, want %d (the body did not run)", all[i].Name, res.Retval, RetPass)
		}
		return float64(res.Duration.Nanoseconds()), nil
	}
	// Warm up: JIT images and the runner's buffers into the caches.
	for i := range all {
		if _, err := run(i); err != nil {
			return nil, err
		}
	}
	tm := &Timings{Raw: make([][]float64, r), Norm: make([][]float64, r)}
	type pending struct {
		i      int
		ns     float64
		before float64
	}
	var norm []pending
	for t := range o.Trials {
		before, err := run(r)
		if err != nil {
			return nil, err
		}
		tm.Ref = append(tm.Ref, before)
		for _, i := range rng.Perm(r) {
			ns, err := run(i)
			if err != nil {
				return nil, err
			}
			after, err := run(r)
			if err != nil {
				return nil, err
			}
			tm.Ref = append(tm.Ref, after)
			tm.Raw[i] = append(tm.Raw[i], ns)
			norm = append(norm, pending{i, ns / ((before + after) / 2), 0})
			before = after
		}
		if o.Progress != nil {
			o.Progress(t+1, o.Trials)
		}
	}
	refMed := median(tm.Ref)
	for _, p := range norm {
		tm.Norm[p.i] = append(tm.Norm[p.i], p.ns*refMed)
	}
	return tm, nil
}

// Load loads every bench as an XDP program through the kernel verifier; a
// rejection is an error naming the program and the verifier's reason.
func Load(benches []Bench) (*kernel.Object, error) {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{}, Maps: map[string]*ebpf.MapSpec{}, ByteOrder: nativeOrder}
	for _, b := range benches {
		insns, err := ciliumInsns(b.Insns)
		if err != nil {
			return nil, fmt.Errorf("program %s: %v", b.Name, err)
		}
		spec.Programs[b.Name] = &ebpf.ProgramSpec{Name: b.Name, Type: ebpf.XDP, License: "GPL", Instructions: insns}
	}
	obj, err := kernel.LoadSpec("calibration", spec, &kernel.Options{BriefRejectLog: true})
	if err != nil {
		return nil, err
	}
	for _, v := range obj.Verdicts {
		if !v.Accepted {
			obj.Close()
			if re, ok := v.Err.(*kernel.RejectError); ok {
				return nil, fmt.Errorf("generated program %s: %s", v.Program, re.Summary())
			}
			return nil, fmt.Errorf("generated program %s: %v", v.Program, v.Err)
		}
	}
	return obj, nil
}

// nativeOrder is this machine's byte order as one of the two named values
// (cilium/ebpf compares byte orders by identity, not binary.NativeEndian).
var nativeOrder binary.ByteOrder = func() binary.ByteOrder {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

// ciliumInsns converts through the wire format, the one encoding both
// packages agree on.
func ciliumInsns(insns []bpf.Insn) (asm.Instructions, error) {
	return asm.AppendInstructions(nil, bytes.NewReader(bpf.Encode(insns, nativeOrder)), nativeOrder, "linux")
}

// fit fills the fit, the predictions and the table.
func (r *Result) fit(folds int) error {
	rows := make([][cost.NumFeatures]int, len(r.Samples))
	y := make([]float64, len(r.Samples))
	for i, s := range r.Samples {
		rows[i], y[i] = s.counts, s.MedianNS
	}
	// Plain least squares: weighting by 1/y (relative error) did not lower
	// the cross-validated error on this machine's data.
	f, err := FitLS(rows, y, nil, folds)
	if err != nil {
		return err
	}
	r.Fit = f
	r.InterceptNS, r.R2, r.RMSE = f.Intercept, f.R2, f.RMSE
	var rel, cvRel []float64
	for i := range r.Samples {
		s := &r.Samples[i]
		s.PredictedNS = f.Predicted[i]
		rel = append(rel, math.Abs(s.MedianNS-s.PredictedNS)/s.MedianNS)
		if f.CVPredicted != nil {
			s.CVPredictedNS = f.CVPredicted[i]
			cvRel = append(cvRel, math.Abs(s.MedianNS-s.CVPredictedNS)/s.MedianNS)
		}
	}
	r.MedianRelErr = median(rel)
	if cvRel != nil {
		r.CVMedianRel, r.CVMaxRel = median(cvRel), slices.Max(cvRel)
	}
	for k := range cost.NumFeatures {
		rowsWith := 0
		for _, s := range r.Samples {
			if s.counts[k] > 0 {
				rowsWith++
			}
		}
		r.Features = append(r.Features, FeatureFit{Name: k.String(), NS: f.Coef[k], StdErr: f.StdErr[k],
			Cycles: f.Coef[k] * r.MHz / 1000, Rows: rowsWith})
	}
	r.legacy(y)

	t := &cost.Table{Version: cost.TableVersion, Date: r.Date, Kernel: r.Kernel, CPU: r.CPU, MHz: r.MHz,
		Programs: r.Programs, Trials: r.Trials, Repeat: r.Repeat, Seed: r.Seed, Scale: r.Scale,
		InterceptNS: r.InterceptNS, R2: r.R2, CVRelErr: r.CVMedianRel}
	for _, ff := range r.Features {
		t.Features = append(t.Features, cost.FeatureCost{Name: ff.Name, NS: round(ff.NS, 4), StdErr: round(ff.StdErr, 4)})
	}
	r.Table = t
	return nil
}

// legacy fits y = a + b*(legacy cycles of the body) to say how much the
// hand-written table explained.
func (r *Result) legacy(y []float64) {
	// The legacy cycles of one instruction of each feature: the mean over
	// the feature's ops.
	var per [cost.NumFeatures]float64
	for k := range cost.NumFeatures {
		ops := cost.FeatureOps(k)
		for _, op := range ops {
			per[k] += cost.LegacyOpCycles(op)
		}
		per[k] /= float64(len(ops))
	}
	n := float64(len(y))
	xs := make([]float64, len(y))
	var mx, my float64
	for i, s := range r.Samples {
		for k, c := range s.counts {
			xs[i] += per[k] * float64(c)
		}
		mx += xs[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, tss float64
	for i := range y {
		sxy += (xs[i] - mx) * (y[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
		tss += (y[i] - my) * (y[i] - my)
	}
	if sxx == 0 || tss == 0 {
		return
	}
	b := sxy / sxx
	a := my - b*mx
	var rss float64
	var rel []float64
	for i := range y {
		p := a + b*xs[i]
		r.Samples[i].LegacyNS = p
		rss += (y[i] - p) * (y[i] - p)
		rel = append(rel, math.Abs(y[i]-p)/y[i])
	}
	r.LegacyR2, r.LegacyNSCycle, r.LegacyMedRel = 1-rss/tss, b, median(rel)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Machine describes this machine: kernel release, CPU model and its
// nominal clock in MHz (/proc/cpuinfo; 1000 when unknown, so cycles = ns).
func Machine() (kernelRelease, cpu string, mhz float64) {
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernelRelease = unix.ByteSliceToString(u.Release[:])
	}
	mhz = 1000
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return kernelRelease, "unknown", mhz
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	gotMHz := false
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "model name" && cpu == "":
			cpu = v
		case k == "cpu MHz" && !gotMHz:
			if x, err := strconv.ParseFloat(v, 64); err == nil && x > 0 {
				mhz, gotMHz = x, true
			}
		}
	}
	if cpu == "" {
		cpu = "unknown"
	}
	return kernelRelease, cpu, mhz
}
