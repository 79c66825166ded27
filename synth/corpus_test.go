package synth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/safety/kernel"
)

// TestCorpus optimises every function (entry programs and .text
// subprograms) of the corpus objects with the TEST prover (random
// testing, not a proof: the figures are what the search finds, not what
// k2opt emits, which needs equiv's proofs). It checks that no function
// gets bigger, that each object with all its rewrites encodes, parses
// back and passes safety and (when BPF loading works) the kernel verifier
// for every program, and logs the size reduction
// per function and the means.
//
// Knobs: K2OPT_CORPUS_ITERS (proposals per function; "1" means 200000,
// default 20000), K2OPT_CORPUS_DIRS (default v3, e.g. "v1,v3,v4"),
// K2OPT_CORPUS_STRICT=1 (the test prover declines what the equiv-based
// prover cannot state today: see testProver.strict; =2 also lets live-in
// registers neither side reads pass), K2OPT_CORPUS_DUMP=name
// (log the function's code before and after).
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus search is slow; run without -short")
	}
	dirs := []string{"v3"}
	if d := os.Getenv("K2OPT_CORPUS_DIRS"); d != "" {
		dirs = strings.Split(d, ",")
	}
	iters := int64(20000)
	if v := os.Getenv("K2OPT_CORPUS_ITERS"); v == "1" {
		iters = 200000
	} else if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		iters = n
	}
	strict := os.Getenv("K2OPT_CORPUS_STRICT")
	for _, dir := range dirs {
		objs, _ := filepath.Glob(filepath.Join("../corpus/build", dir, "*.o"))
		if len(objs) == 0 {
			t.Logf("%s: no corpus objects built", dir)
			continue
		}
		var sumEntry, sumAll float64
		var nEntry, nAll, before, after int
		var lines []string
		for _, path := range objs {
			f, err := object.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			rws := map[string]object.Rewrite{}
			for _, fn := range f.Functions {
				r, err := OptimizeProgram(context.Background(), f, fn, Options{Seed: 1, Jobs: 1, Iters: iters, Prover: &testProver{strict: strict != "", passThrough: strict == "2"}})
				if err != nil {
					t.Errorf("%s: %v", path, err)
					continue
				}
				rep := r.Report
				if rep.SlotsAfter > rep.SlotsBefore {
					t.Errorf("%s %s grew: %d -> %d", path, fn.Name, rep.SlotsBefore, rep.SlotsAfter)
				}
				if r.Changed {
					rws[fn.Name] = r.Rewrite
				}
				if os.Getenv("K2OPT_CORPUS_DUMP") == fn.Name {
					t.Logf("%s before:\n%s\nafter:\n%s", fn.Name, bpf.Disasm(fn.Insns), bpf.Disasm(r.Rewrite.Insns))
				}
				red := 0.0
				if rep.SlotsBefore > 0 {
					red = 100 * float64(rep.SlotsBefore-rep.SlotsAfter) / float64(rep.SlotsBefore)
				}
				kind := ""
				if fn.Entry {
					sumEntry += red
					nEntry++
				} else {
					kind = " (subprogram)"
				}
				sumAll += red
				nAll++
				before += rep.SlotsBefore
				after += rep.SlotsAfter
				lines = append(lines, fmt.Sprintf("%s/%s%s %s (%.1f%%, %.1fs) %s", dir, filepath.Base(path), kind, rep.String(), red, rep.Elapsed.Seconds(), rep.Note))
			}
			if len(rws) > 0 {
				checkObject(t, f, rws)
			}
		}
		sort.Strings(lines)
		for _, l := range lines {
			t.Log(l)
		}
		if nAll > 0 {
			t.Logf("%s: mean size reduction %.1f%% over %d entry programs, %.1f%% over %d functions; total slots %d -> %d (%.1f%%)",
				dir, sumEntry/float64(max(nEntry, 1)), nEntry, sumAll/float64(nAll), nAll, before, after, 100*float64(before-after)/float64(before))
		}
	}
}

// checkObject encodes f with rws, parses the result back and checks every
// program with safety.
func checkObject(t *testing.T, f *object.File, rws map[string]object.Rewrite) {
	t.Helper()
	b, err := f.Encode(rws, object.Options{})
	if err != nil {
		t.Errorf("%s: encode: %v", f.Path, err)
		return
	}
	g, err := object.Parse(f.Path+" (optimised)", b)
	if err != nil {
		t.Errorf("%s: parse back: %v", f.Path, err)
		return
	}
	for _, fn := range g.Programs() {
		sp, err := safety.FromObject(g, fn.Name, nil)
		if err != nil {
			t.Errorf("%s: %v", g.Path, err)
			continue
		}
		if v := safety.Verify(sp, nil); !v.Accepted {
			t.Errorf("%s: program %s rejected after optimisation: %v", g.Path, fn.Name, v.Err())
		}
	}
	if kernel.Available() != nil {
		return // no BPF loading here: the static check above stands
	}
	o, err := kernel.Load(b, &kernel.Options{BriefRejectLog: true})
	if err != nil {
		t.Errorf("%s: kernel load: %v", f.Path, err)
		return
	}
	defer o.Close()
	for _, fn := range f.Programs() {
		if v, ok := o.Verdict(fn.Name); !ok || !v.Accepted {
			t.Errorf("%s: program %s rejected by the kernel verifier after optimisation: %+v", f.Path, fn.Name, v)
		}
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

// TestRoundsCompose: a second round on the first round's output (windows
// shifted) never ends larger, and its rewrite composed over the original
// encodes, keeps every relocated instruction and verifies.
func TestRoundsCompose(t *testing.T) {
	path := "../corpus/build/v3/sock_filter.o"
	if _, err := os.Stat(path); err != nil {
		t.Skip("corpus not built")
	}
	f, err := object.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fn := f.Programs()[0]
	slots := map[int]int{}
	for _, rounds := range []int{1, 2} {
		r, err := OptimizeProgram(context.Background(), f, fn, Options{Seed: 1, Jobs: 1, Iters: 20000, Prover: &testProver{}, Rounds: rounds})
		if err != nil {
			t.Fatal(err)
		}
		slots[rounds] = r.Report.SlotsAfter
		if got := bpf.SlotCount(r.Rewrite.Insns); got != r.Report.SlotsAfter {
			t.Errorf("rounds %d: report says %d slots, rewrite has %d", rounds, r.Report.SlotsAfter, got)
		}
		for k := range fn.Insns {
			if _, rel := fn.Reloc(k); rel {
				n := r.Rewrite.OldToNew[k]
				if n < 0 || r.Rewrite.Insns[n] != fn.Insns[k] {
					t.Fatalf("rounds %d: relocated insn %d lost (-> %d)", rounds, k, n)
				}
			}
		}
		b, err := f.Encode(map[string]object.Rewrite{fn.Name: r.Rewrite}, object.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := object.Parse(path, b)
		if err != nil {
			t.Fatal(err)
		}
		p, err := safety.FromObject(g, fn.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := safety.Verify(p, nil); !v.Accepted {
			t.Fatalf("rounds %d: output rejected: %v", rounds, v.Err())
		}
	}
	if slots[2] > slots[1] {
		t.Errorf("two rounds %d slots, one round %d", slots[2], slots[1])
	}
	t.Logf("one round %d slots, two rounds %d (of %d)", slots[1], slots[2], bpf.SlotCount(fn.Insns))
}
