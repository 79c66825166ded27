package bench

import (
	"os"
	"testing"

	"github.com/k2opt/k2opt/safety/kernel"
)

func needKernel(t *testing.T) {
	t.Helper()
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel refuses BPF_PROG_LOAD: %v", err)
	}
}

func readObj(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMeasure: every program of a few corpus objects (XDP, tc, socket
// filter, kprobe) gets sizes, and the runnable ones a latency on inputs
// the kernel took; the same object on both sides never mismatches.
func TestMeasure(t *testing.T) {
	needKernel(t)
	cases := []struct {
		obj      string
		runnable bool
	}{
		{"../corpus/build/v3/xdp_parse.o", true},
		{"../corpus/build/v3/tc_nat.o", true},
		{"../corpus/build/v3/sock_filter.o", true},
		{"../corpus/build/v3/kprobe_latency.o", false},
	}
	for _, c := range cases {
		t.Run(c.obj, func(t *testing.T) {
			b := readObj(t, c.obj)
			progs, err := Measure(b, b, &Options{Repeat: 10, Trials: 3, Inputs: 6})
			if err != nil {
				t.Fatal(err)
			}
			if len(progs) == 0 {
				t.Fatal("no program measured")
			}
			for _, p := range progs {
				if !p.Before.Loaded || p.After == nil || !p.After.Loaded {
					t.Fatalf("%s: not loaded: %+v", p.Name, p)
				}
				if p.Before.JITBytes <= 0 || p.Before.JITBytes != p.After.JITBytes || p.Before.XlatInsns <= 0 {
					t.Errorf("%s: JIT %d/%d bytes, xlated %d", p.Name, p.Before.JITBytes, p.After.JITBytes, p.Before.XlatInsns)
				}
				if p.Before.Processed <= 0 || p.Before.Processed != p.After.Processed {
					t.Errorf("%s: processed %d/%d", p.Name, p.Before.Processed, p.After.Processed)
				}
				if p.Mismatch != "" {
					t.Errorf("%s: identical objects mismatch: %s", p.Name, p.Mismatch)
				}
				if !c.runnable {
					if p.Note == "" || p.Before.Latency.N != 0 {
						t.Errorf("%s: want a note and no latency, got %q, N=%d", p.Name, p.Note, p.Before.Latency.N)
					}
					continue
				}
				if p.Note != "" || p.Inputs == 0 {
					t.Fatalf("%s: not measured (%d inputs): %s", p.Name, p.Inputs, p.Note)
				}
				if p.Before.Latency.N != 3 || p.After.Latency.N != 3 || p.Change.N != 3 || len(p.Before.Samples) != 3 {
					t.Errorf("%s: trials %d/%d/%d, want 3", p.Name, p.Before.Latency.N, p.After.Latency.N, p.Change.N)
				}
				if p.Before.Latency.Median <= 0 || p.Before.Latency.Lo > p.Before.Latency.Mean || p.Before.Latency.Hi < p.Before.Latency.Mean {
					t.Errorf("%s: latency %+v", p.Name, p.Before.Latency)
				}
			}
		})
	}
}

// TestMeasureBeforeOnly: without an optimized object there is no change.
func TestMeasureBeforeOnly(t *testing.T) {
	needKernel(t)
	progs, err := Measure(readObj(t, "../corpus/build/v3/xdp_parse.o"), nil, &Options{Repeat: 10, Trials: 2, Inputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(progs) != 1 || progs[0].After != nil || progs[0].Change.N != 0 || progs[0].Before.Latency.N != 2 {
		t.Fatalf("got %+v", progs)
	}
}

func TestMeasureBadInput(t *testing.T) {
	needKernel(t)
	if _, err := Measure([]byte("not an object"), nil, nil); err == nil {
		t.Fatal("no error for a non-object")
	}
}
