package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/synth"
)

// interpDiff fails when an entry program of out differs from in's in the
// interpreter on generated inputs (interpDiffers), independently of
// check's proofs.
func interpDiff(t *testing.T, in, out string, budget int) {
	t.Helper()
	fa, err := object.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := object.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fa.Programs() {
		if d := interpDiffers(fa, fb, fn.Name, budget); d != "" {
			t.Fatalf("%s: %s", fn.Name, d)
		}
	}
}

// TestFinalGateRevertsWhatInterpSeesDiffer: a rewrite that verifies but
// changes what the program does (the last XDP_PASS becomes XDP_DROP) is
// written back unchanged by the final gate, with the interpreter's
// finding as the reason; an identity rewrite passes.
func TestFinalGateRevertsWhatInterpSeesDiffer(t *testing.T) {
	path := "../../corpus/build/v3/xdp_parse.o"
	for _, wrong := range []bool{true, false} {
		f, err := object.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fn := f.Function("xdp_parse")
		insns := slices.Clone(fn.Insns)
		changed := false
		for k := len(insns) - 1; k >= 0 && wrong && !changed; k-- {
			if insns[k].Op() == bpf.OpMov32Imm && insns[k].Dst == bpf.R0 && insns[k].Imm == 2 {
				insns[k] = bpf.Mov32Imm(bpf.R0, 1)
				changed = true
			}
		}
		if wrong && !changed {
			t.Fatal("no w0 = 2 to change")
		}
		rws := map[string]object.Rewrite{fn.Name: sameShape(insns)}
		rep := &runReport{Programs: []programReport{{Report: synth.Report{Program: fn.Name}, Status: "optimized"}}}
		if _, err := finalCheck(context.Background(), f, rws, rep, false, time.Second, nil); err != nil {
			t.Fatal(err)
		}
		pr := rep.Programs[0]
		reverted := pr.Status == "reverted" && strings.Contains(pr.Reason, "interpreter found a difference")
		if reverted != wrong {
			t.Errorf("wrong=%v: status %q, reason %q", wrong, pr.Status, pr.Reason)
		}
	}
}

// TestNoNullCheckRefusals: the search's tests and proofs follow the rules
// the whole-program check applies. v4 tc_mss_clamp passes the
// unprivileged rules, under which its constant-key array lookups may
// return NULL; with safety summaries from the privileged rules, and an
// evaluator that took `if r0 <= 4` for a NULL check, the search kept
// dropping or bending the NULL checks and the check refused each such
// proven candidate (21 in this run).
func TestNoNullCheckRefusals(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.o")
	rep := filepath.Join(t.TempDir(), "rep.json")
	if _, se, code := runBin(t, "../../corpus/build/v4/tc_mss_clamp.o", "-o", out, "--no-rules", "--seed", "1", "--jobs", "1", "--report", rep); code != 0 {
		t.Fatalf("exit %d: %s", code, se)
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Programs []struct {
			Program      string `json:"program"`
			ProofsProven int    `json:"proofs_proven"`
			ProofsUnsafe int    `json:"proofs_unsafe"`
			Note         string `json:"note"`
		} `json:"programs"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Programs) != 1 || r.Programs[0].ProofsProven == 0 {
		t.Fatalf("report %+v: nothing proven, the test would prove nothing", r.Programs)
	}
	if p := r.Programs[0]; p.ProofsUnsafe != 0 {
		t.Errorf("%d proven candidates refused by the whole-program check: %s", p.ProofsUnsafe, p.Note)
	}
}
