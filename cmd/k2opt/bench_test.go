package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bench"
)

// TestBench runs k2opt bench on a pair of objects and on a batch run:
// a table row per program, JSON with both sides, a plot file.
func TestBench(t *testing.T) {
	needKernelVerifier(t)
	in := batchInputs(t)
	out := filepath.Join(t.TempDir(), "out")
	batchRun(t, "-o", out, in)
	dir := t.TempDir()
	quick := []string{"--repeat", "10", "--trials", "3", "--inputs", "4"}

	t.Run("pair", func(t *testing.T) {
		js, svg := filepath.Join(dir, "b.json"), filepath.Join(dir, "b.svg")
		args := append([]string{"bench", filepath.Join(in, "v3/xdp_parse.o"), filepath.Join(out, "v3/xdp_parse.o"), "--json", js, "--plot", svg}, quick...)
		stdout, stderr, code := runBin(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "| xdp_parse | XDP | 4 |") || !strings.Contains(stdout, "programs timed") {
			t.Errorf("table lacks the program row or the totals:\n%s", stdout)
		}
		var progs []bench.Program
		b, _ := os.ReadFile(js)
		if err := json.Unmarshal(b, &progs); err != nil || len(progs) != 1 {
			t.Fatalf("json: %v, %d programs", err, len(progs))
		}
		p := progs[0]
		if p.After == nil || p.Before.Latency.N != 3 || p.After.Latency.N != 3 || p.Change.N != 3 || p.Before.JITBytes <= 0 {
			t.Errorf("measurement incomplete: %+v", p)
		}
		if p.Mismatch != "" {
			t.Errorf("optimized output differs in a kernel test run: %s", p.Mismatch)
		}
		s, err := os.ReadFile(svg)
		if err != nil || !bytes.Contains(s, []byte("<svg")) || !bytes.Contains(s, []byte("xdp_parse")) {
			t.Errorf("plot: err %v, %d bytes", err, len(s))
		}
	})

	t.Run("batch", func(t *testing.T) {
		stdout, stderr, code := runBin(t, append([]string{"bench", "--batch", out}, quick...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, w := range []string{"| v3/xdp_parse.o:xdp_parse |", "| v3/sock_filter.o:sock_filter |", "| v1/xdp_reflect.o:xdp_reflect |"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("table lacks %q:\n%s", w, stdout)
			}
		}
	})

	t.Run("usage", func(t *testing.T) {
		obj := filepath.Join(in, "v3/xdp_parse.o")
		for _, args := range [][]string{
			{"bench"},
			{"bench", obj, obj, obj},
			{"bench", obj, "--repeat", "0"},
			{"bench", obj, "--confidence", "1.5"},
			{"bench", obj, obj, "--plot", filepath.Join(dir, "x.gif")},
			{"bench", obj, "--plot", filepath.Join(dir, "x.svg")}, // nothing to compare
			{"bench", "--batch", dir},
			{"bench", "--batch", out, obj},
			{"bench", obj, "--prog", "nope"},
			{"bench", filepath.Join(dir, "missing.o")},
		} {
			_, stderr, code := runBin(t, args...)
			if code != 2 || stderr == "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("k2opt %q: exit %d, stderr %q; want 2 and one line", args, code, stderr)
			}
		}
	})
}
