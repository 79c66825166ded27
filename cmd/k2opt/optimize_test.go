package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k2opt/k2opt/safety/kernel"
)

// optimizeSample is a few corpus programs of different types; the whole
// corpus runs in the soak target.
var optimizeSample = []string{
	"../../corpus/build/v3/xdp_parse.o",
	"../../corpus/build/v3/xdp_acl.o",
	"../../corpus/build/v1/xdp_lb.o",
	"../../corpus/build/v4/tc_nat.o",
	"../../corpus/build/v3/sock_filter.o",
}

// TestOptimizeSample: every output is proven equivalent by k2opt check,
// accepted by the kernel verifier when the input is, never bigger, and the
// report agrees with the output.
func TestOptimizeSample(t *testing.T) {
	dir := t.TempDir()
	useKernel := kernel.Available() == nil
	for _, in := range optimizeSample {
		t.Run(filepath.Base(in), func(t *testing.T) {
			out := filepath.Join(dir, filepath.Base(in))
			rep := out + ".json"
			_, stderr, code := runBin(t, in, "-o", out, "--iters", "20000", "--seed", "3", "--report", rep)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			// check proves loop-free, call-free programs; for the others it
			// may not decide (exit 2), and the window proofs stand. It must
			// never find a difference.
			checkOut, checkErr, checkCode := runBin(t, "check", in, out)
			if checkCode == 1 {
				t.Fatalf("check found a difference:\n%s%s", checkOut, checkErr)
			}
			if useKernel {
				if stdout, _, code := runBin(t, "verify", "--verify", "kernel", out); code != 0 {
					t.Fatalf("output not accepted by the kernel:\n%s", stdout)
				}
			}
			b, err := os.ReadFile(rep)
			if err != nil {
				t.Fatal(err)
			}
			var r runReport
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("report: %v", err)
			}
			if len(r.Programs) == 0 {
				t.Fatal("report lists no program")
			}
			for _, p := range r.Programs {
				if p.SlotsAfter > p.SlotsBefore {
					t.Errorf("%s grew: %d -> %d slots", p.Program, p.SlotsBefore, p.SlotsAfter)
				}
				if p.Status == "optimized" && p.SlotsAfter == p.SlotsBefore && p.LatencyAfter >= p.LatencyBefore {
					t.Errorf("%s reported optimized without a gain", p.Program)
				}
				if p.WholeProof == "equal" && checkCode != 0 {
					t.Errorf("%s: the report says proven, check exits %d: %s", p.Program, checkCode, checkErr)
				}
				if checkCode != 0 && !strings.HasPrefix(p.WholeProof, "unknown") && p.Status == "optimized" {
					t.Errorf("%s: check could not decide, report says %q", p.Program, p.WholeProof)
				}
				if strings.HasPrefix(p.WholeProof, "NOT EQUAL") {
					t.Errorf("%s: whole-program check found a difference: %s", p.Program, p.WholeProof)
				}
			}
		})
	}
}

// TestOptimizeDeterministic: same seed and --jobs 1 give byte-identical objects.
func TestOptimizeDeterministic(t *testing.T) {
	dir := t.TempDir()
	var outs [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, "det"+string(rune('a'+i))+".o")
		if _, stderr, code := runBin(t, demoObj, "-o", out, "--iters", "20000", "--seed", "7", "--jobs", "1"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("same seed and --jobs 1 gave different objects")
	}
	in, _ := os.ReadFile(demoObj)
	if bytes.Equal(in, outs[0]) {
		t.Log("note: the demo program was not improved at this budget")
	}
}

func TestOptimizeBadFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.o")
	for _, args := range [][]string{
		{demoObj, "-o", out, "--objective", "speed"},
		{demoObj, "-o", out, "--verify", "maybe"},
		{demoObj, "-o", out, "--jobs", "0"},
		{demoObj, "-o", out, "--rounds", "0"},
		{demoObj, "-o", out, "--prog", "nope"},
	} {
		_, stderr, code := runBin(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("k2opt %q: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("k2opt %q wrote an output", args)
		}
	}
}

// TestOptimizeInterrupt: Ctrl-C (SIGINT) during the search writes the best
// proven object so far and exits 0; Z3 must not take the signal.
func TestOptimizeInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "int.o")
	cmd := exec.Command(k2optBin(t), "../../corpus/build/v3/xdp_reflect.o", "-o", out, "--iters", "100000000", "--seed", "2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v\n%s", err, stderr.String())
	}
	if _, stderr, code := runBin(t, "check", "../../corpus/build/v3/xdp_reflect.o", out); code == 1 {
		t.Fatalf("interrupted output is not equivalent: %s", stderr)
	}
}
