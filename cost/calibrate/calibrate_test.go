package calibrate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety/kernel"
)

// trueNS is a made-up cost per feature for the synthetic fits: cheap ALU
// ops, dearer memory, division and calls, like a real table.
func trueNS() (c [cost.NumFeatures]float64) {
	for f := range cost.NumFeatures {
		c[f] = 0.1 + 0.05*float64(f)
	}
	c[cost.FeatDiv], c[cost.FeatSMod], c[cost.FeatAtomic], c[cost.FeatCall] = 4, 6, 3, 15
	return c
}

// TestFitRecoversKnownCosts: times synthesised from known costs plus
// noise proportional to the time (the shape of the real noise) come back
// out of the fit within the tolerance.
func TestFitRecoversKnownCosts(t *testing.T) {
	benches := Generate(rand.New(rand.NewPCG(3, 4)), 200, nil)
	rows := make([][cost.NumFeatures]int, len(benches))
	for i, b := range benches {
		rows[i] = b.Counts
	}
	want := trueNS()
	const intercept = 30.0
	for _, tc := range []struct {
		name      string
		relNoise  float64 // standard deviation of the noise, relative to the time
		tolNS     float64 // allowed |fitted - true| per feature: tolNS + tolRel*true
		tolRel    float64
		tolInterc float64
		minR2     float64
	}{
		{"exact", 0, 1e-6, 0, 1e-4, 0.999999},
		{"1% noise", 0.01, 0.1, 0.05, 8, 0.98},
		{"3% noise", 0.03, 0.35, 0.12, 25, 0.85},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			y := make([]float64, len(rows))
			for i, r := range rows {
				y[i] = intercept
				for f, c := range r {
					y[i] += want[f] * float64(c)
				}
				y[i] *= 1 + tc.relNoise*rng.NormFloat64()
			}
			fit, err := FitLS(rows, y, nil, 5)
			if err != nil {
				t.Fatal(err)
			}
			for f := range cost.NumFeatures {
				if d := math.Abs(fit.Coef[f] - want[f]); d > tc.tolNS+tc.tolRel*want[f] {
					t.Errorf("%v: fitted %.4f ns (s.e. %.4f), true %.4f", f, fit.Coef[f], fit.StdErr[f], want[f])
				}
				// The standard error must be honest: the truth within 5 s.e.
				if tc.relNoise > 0 && math.Abs(fit.Coef[f]-want[f]) > 5*fit.StdErr[f] {
					t.Errorf("%v: error %.4f ns exceeds 5 standard errors (%.4f)", f, fit.Coef[f]-want[f], fit.StdErr[f])
				}
			}
			if d := math.Abs(fit.Intercept - intercept); d > tc.tolInterc {
				t.Errorf("intercept %.3f, true %.1f", fit.Intercept, intercept)
			}
			if fit.R2 < tc.minR2 {
				t.Errorf("R^2 %.4f < %.4f", fit.R2, tc.minR2)
			}
			// Held-out predictions are as good as the noise allows.
			for i := range y {
				if rel := math.Abs(fit.CVPredicted[i]-y[i]) / y[i]; rel > 6*tc.relNoise+1e-6 {
					t.Errorf("row %d: cross-validated prediction %.1f, measured %.1f", i, fit.CVPredicted[i], y[i])
					break
				}
			}
		})
	}
}

// TestFitWeighted: with weights 1/y the fit still recovers exact data.
func TestFitWeighted(t *testing.T) {
	benches := Generate(rand.New(rand.NewPCG(7, 8)), 60, nil)
	want := trueNS()
	rows := make([][cost.NumFeatures]int, len(benches))
	y, w := make([]float64, len(benches)), make([]float64, len(benches))
	for i, b := range benches {
		rows[i] = b.Counts
		y[i] = 20
		for f, c := range b.Counts {
			y[i] += want[f] * float64(c)
		}
		w[i] = 1 / y[i]
	}
	fit, err := FitLS(rows, y, w, 0)
	if err != nil {
		t.Fatal(err)
	}
	for f := range cost.NumFeatures {
		if math.Abs(fit.Coef[f]-want[f]) > 1e-6 {
			t.Errorf("%v: %.6f, want %.6f", f, fit.Coef[f], want[f])
		}
	}
	if fit.CVPredicted != nil {
		t.Error("folds 0 computed cross-validated predictions")
	}
}

func TestFitRank(t *testing.T) {
	benches := Generate(rand.New(rand.NewPCG(1, 1)), 40, nil)
	rows := make([][cost.NumFeatures]int, len(benches))
	y := make([]float64, len(benches))
	for i, b := range benches {
		rows[i], y[i] = b.Counts, float64(100+i)
	}
	constant := make([][cost.NumFeatures]int, len(rows))
	copy(constant, rows)
	for i := range constant {
		constant[i][cost.FeatMul] = 7
	}
	for _, tc := range []struct {
		name string
		rows [][cost.NumFeatures]int
		y    []float64
	}{
		{"fewer rows than unknowns", rows[:cost.NumFeatures], y[:cost.NumFeatures]},
		{"a feature constant", constant, y},
	} {
		if _, err := FitLS(tc.rows, tc.y, nil, 0); !errors.Is(err, ErrRank) {
			t.Errorf("%s: err = %v, want ErrRank", tc.name, err)
		}
	}
	if _, err := FitLS(rows, y[:3], nil, 0); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// classify is the feature of an executed body instruction, derived from
// the instruction alone (and, for a jump, its direction): the check of
// the generator's bookkeeping.
func classify(t *testing.T, in bpf.Insn, taken bool) cost.Feature {
	fs := cost.OpFeatures(in.Op())
	base := in.Src
	if in.IsStore() {
		base = in.Dst
	}
	switch {
	case len(fs) == 1:
		return fs[0]
	case in.IsCondJump() && taken:
		return cost.FeatJmpTaken
	case in.IsCondJump():
		return cost.FeatJmpNotTaken
	case in.IsLoad() && base == bpf.R10:
		return cost.FeatLoadStack
	case in.IsLoad() && base == regPkt:
		return cost.FeatLoadPkt
	case in.IsLoad() && base == regCtx:
		return cost.FeatLoadCtx
	case in.IsStore() && base == bpf.R10:
		return cost.FeatStoreStack
	case in.IsStore() && base == regPkt:
		return cost.FeatStorePkt
	}
	t.Fatalf("body instruction %v has no feature", in)
	return 0
}

// TestCountsMatchExecution decodes each generated program, runs it in the
// interpreter on its packet and counts the executed body instructions per
// feature: they must equal the generator's claim.
func TestCountsMatchExecution(t *testing.T) {
	benches := Generate(rand.New(rand.NewPCG(11, 12)), 30, nil)
	benches = append(benches, Reference(rand.New(rand.NewPCG(13, 14))))
	for _, b := range benches {
		insns, err := bpf.Decode(bpf.Encode(b.Insns, binary.LittleEndian), binary.LittleEndian)
		if err != nil {
			t.Fatalf("%s: decode: %v", b.Name, err)
		}
		p, err := interp.NewProgram(b.Name, ebpf.XDP, insns, nil)
		if err != nil {
			t.Fatalf("%s: %v", b.Name, err)
		}
		m := interp.NewMachine(p, nil)
		m.Coverage = true
		in := &interp.Input{Packet: bytes.Clone(b.Packet)}
		out := m.Run(in)
		if !out.Fault.Ok() || out.R0 != RetPass {
			t.Fatalf("%s: interpreter: r0 = %d, fault %v", b.Name, out.R0, out.Fault)
		}
		freq, err := cost.Frequencies(p, []*interp.Input{{Packet: bytes.Clone(b.Packet)}})
		if err != nil {
			t.Fatal(err)
		}
		slots := bpf.SlotOffsets(insns)
		var got [cost.NumFeatures]int
		for k := b.BodyStart; k < b.BodyEnd; k++ {
			if freq[k] == 0 {
				continue
			}
			got[classify(t, insns[k], out.Cover[2*slots[k]+1])]++
		}
		for k := range b.BodyStart {
			if freq[k] != 1 {
				t.Fatalf("%s: prologue instruction %d did not run", b.Name, k)
			}
		}
		if got != b.Counts {
			for f := range cost.NumFeatures {
				if got[f] != b.Counts[f] {
					t.Errorf("%s: %v executed %d times, generator claims %d", b.Name, f, got[f], b.Counts[f])
				}
			}
		}
	}
}

// TestGenerateDeterministic: the same seed gives the same programs.
func TestGenerateDeterministic(t *testing.T) {
	a := Generate(rand.New(rand.NewPCG(9, 9)), 5, nil)
	b := Generate(rand.New(rand.NewPCG(9, 9)), 5, nil)
	for i := range a {
		if !bytes.Equal(bpf.Encode(a[i].Insns, binary.LittleEndian), bpf.Encode(b[i].Insns, binary.LittleEndian)) || a[i].Counts != b[i].Counts {
			t.Fatalf("program %d differs between runs with one seed", i)
		}
	}
	// Every feature appears somewhere even in few programs.
	c := Generate(rand.New(rand.NewPCG(1, 2)), int(cost.NumFeatures), &GenOptions{Include: 0.01})
	for f := range cost.NumFeatures {
		if c[f].Counts[f] == 0 {
			t.Errorf("%v absent from program %d, which must carry it", f, f)
		}
	}
}

// TestProgramsLoadAndRun: the real verifier accepts generated programs and
// each returns XDP_PASS from BPF_PROG_TEST_RUN.
func TestProgramsLoadAndRun(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel refuses BPF: %v", err)
	}
	benches := Generate(rand.New(rand.NewPCG(21, 22)), 12, nil)
	benches = append(benches, Reference(rand.New(rand.NewPCG(23, 24))))
	obj, err := Load(benches)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	for _, b := range benches {
		v, _ := obj.Verdict(b.Name)
		if !v.Accepted {
			t.Errorf("%s: %v", b.Name, v.Err)
			continue
		}
		res, err := obj.TestRun(b.Name, kernel.RunOptions{Data: b.Packet, Repeat: 3})
		if err != nil || res.Retval != RetPass {
			t.Errorf("%s: retval %d, err %v", b.Name, res.Retval, err)
		}
		// The untouched first 64 bytes come back as they went in.
		if !bytes.Equal(res.DataOut[:pktStoreLo], b.Packet[:pktStoreLo]) {
			t.Errorf("%s: the program wrote below byte %d", b.Name, pktStoreLo)
		}
	}
}

// TestLoadRejects: a program the verifier refuses is an error naming it.
func TestLoadRejects(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel refuses BPF: %v", err)
	}
	bad := Bench{Name: "calib_bad", Insns: []bpf.Insn{bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Exit()}}
	_, err := Load([]Bench{bad})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("calib_bad")) {
		t.Fatalf("err = %v, want a rejection naming calib_bad", err)
	}
}
