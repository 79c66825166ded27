package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
)

// TestCheckCorpus runs the real binary: an object against itself is
// equivalent (exit 0); with one instruction changed (r0's return value)
// it is not (exit 1) and the counterexample is printed.
func TestCheckCorpus(t *testing.T) {
	for _, tc := range []struct{ obj, prog string }{
		{"v3/xdp_parse.o", "xdp_parse"},
		{"v1/tc_classify.o", "tc_classify"},
	} {
		t.Run(tc.obj, func(t *testing.T) {
			path := filepath.Join("..", "..", "corpus", "build", tc.obj)
			so, se, code := runBin(t, "check", path, path)
			if code != 0 || !strings.Contains(so, tc.prog+": equivalent") {
				t.Fatalf("self check: exit %d\n%s%s", code, so, se)
			}
			f, err := object.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			fn := f.Function(tc.prog)
			insns := append([]bpf.Insn(nil), fn.Insns...)
			changed := -1
			for k := len(insns) - 1; k >= 0; k-- {
				if op := insns[k].Op(); (op == bpf.OpMov64Imm || op == bpf.OpMov32Imm) && insns[k].Dst == bpf.R0 ||
					op == bpf.OpJeqImm || op == bpf.OpJeq32Imm {
					insns[k].Imm += 7
					changed = k
					break
				}
			}
			if changed < 0 {
				t.Fatal("no instruction to change")
			}
			o2n := make([]int, len(insns))
			for i := range o2n {
				o2n[i] = i
			}
			b, err := f.Encode(map[string]object.Rewrite{tc.prog: {Insns: insns, OldToNew: o2n}}, object.Options{})
			if err != nil {
				t.Fatal(err)
			}
			mod := filepath.Join(t.TempDir(), "mod.o")
			if err := os.WriteFile(mod, b, 0o644); err != nil {
				t.Fatal(err)
			}
			so, se, code = runBin(t, "check", path, mod)
			if code != 1 || !strings.Contains(so, "NOT equivalent") || !strings.Contains(so, "packet (") {
				t.Fatalf("changed insn %d: exit %d\n%s%s", changed, code, so, se)
			}
			t.Logf("%s", so)
		})
	}
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{{"check"}, {"check", "a.o"}, {"check", "/nonexistent.o", "/nonexistent.o"}} {
		_, se, code := runBin(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(se), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, se)
		}
	}
}
