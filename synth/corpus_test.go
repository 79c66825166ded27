package synth

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
)

// TestCorpus optimises every corpus program with the TEST prover (random
// testing, not a proof: the figures are what the search finds, not what
// k2opt emits before equiv is plugged in). It checks that no program gets
// bigger, every result passes safety and encodes, and logs the size
// reduction per program.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus search is slow; run without -short")
	}
	objs, _ := filepath.Glob("../corpus/build/v3/*.o")
	if len(objs) == 0 {
		t.Skip("no corpus objects built")
	}
	iters := int64(20000)
	if os.Getenv("K2OPT_CORPUS_ITERS") != "" {
		iters = 200000
	}
	var sum float64
	var n int
	var lines []string
	for _, path := range objs {
		f, err := object.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range f.Programs() {
			r, err := OptimizeProgram(context.Background(), f, fn, Options{Seed: 1, Jobs: 1, Iters: iters, Prover: &testProver{}})
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			rep := r.Report
			if rep.SlotsAfter > rep.SlotsBefore {
				t.Errorf("%s %s grew: %d -> %d", path, fn.Name, rep.SlotsBefore, rep.SlotsAfter)
			}
			if r.Changed {
				if _, err := f.Encode(map[string]object.Rewrite{fn.Name: r.Rewrite}, object.Options{}); err != nil {
					t.Errorf("%s %s: encode: %v", path, fn.Name, err)
				}
			}
			if os.Getenv("K2OPT_CORPUS_DUMP") == fn.Name {
				t.Logf("%s before:\n%s\nafter:\n%s", fn.Name, bpf.Disasm(fn.Insns), bpf.Disasm(r.Rewrite.Insns))
			}
			red := 0.0
			if rep.SlotsBefore > 0 {
				red = 100 * float64(rep.SlotsBefore-rep.SlotsAfter) / float64(rep.SlotsBefore)
			}
			sum += red
			n++
			lines = append(lines, filepath.Base(path)+" "+rep.String()+" "+rep.Note)
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		t.Log(l)
	}
	if n > 0 {
		t.Logf("mean size reduction over %d programs: %.1f%%", n, sum/float64(n))
	}
}

// TestDeterministicObject: same seed, --jobs 1 and an iteration budget
// give a byte-identical object.
func TestDeterministicObject(t *testing.T) {
	path := "../corpus/build/v3/xdp_ratelimit.o"
	if _, err := os.Stat(path); err != nil {
		t.Skip("corpus not built")
	}
	build := func() []byte {
		f, err := object.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rw := map[string]object.Rewrite{}
		for _, fn := range f.Programs() {
			r, err := OptimizeProgram(context.Background(), f, fn, Options{Seed: 7, Jobs: 1, Iters: 20000, Prover: &testProver{}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed {
				rw[fn.Name] = r.Rewrite
			}
		}
		if len(rw) == 0 {
			t.Fatal("nothing changed: the test would prove nothing")
		}
		b, err := f.Encode(rw, object.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := build(), build()
	if string(a) != string(b) {
		t.Error("same seed and --jobs 1 gave different objects")
	}
}
