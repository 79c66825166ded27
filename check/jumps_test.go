package check

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/synth"
)

// TestCheckStructuralCorpus: every corpus function rewritten by the
// proof-free passes alone (tail merging and jump threading,
// synth.StructuralRewrite) is proven equivalent hunk by hunk (the
// whole-program proof is off), the threaded jumps recognised without a
// window proof.
func TestCheckStructuralCorpus(t *testing.T) {
	c := New(&Options{WholeMaxInsns: -1})
	defer c.Close()
	checked := 0
	for _, dir := range []string{"v1", "v3", "v4"} {
		objs, _ := filepath.Glob(filepath.Join("..", "corpus", "build", dir, "*.o"))
		for _, path := range objs {
			fa, err := object.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			rws := map[string]object.Rewrite{}
			threaded := map[string]int{}
			for _, fn := range fa.Functions {
				rw, _, n, err := synth.StructuralRewrite(fn)
				if err != nil {
					t.Fatalf("%s %s: %v", path, fn.Name, err)
				}
				if n > 0 {
					rws[fn.Name], threaded[fn.Name] = rw, n
				}
			}
			if len(rws) == 0 {
				continue
			}
			data, err := fa.Encode(rws, object.Options{})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			fb, err := object.Parse(path+" (threaded)", data)
			if err != nil {
				t.Fatal(err)
			}
			for name := range rws {
				r, err := c.Function(context.Background(), fa, fb, name)
				if err != nil {
					t.Fatalf("%s %s: %v", path, name, err)
				}
				if r.Verdict != equiv.Equal {
					t.Errorf("%s/%s: %s\n%s", dir, filepath.Base(path), r.Line(), r.HunkText)
					continue
				}
				checked++
				t.Logf("%s/%s: %d jumps threaded: %s", dir, filepath.Base(path), threaded[name], r.Line())
			}
		}
	}
	if checked == 0 {
		t.Fatal("no corpus function was threaded: the test proves nothing")
	}
}

// TestJumpHunks: the shapes jump threading leaves are accepted without a
// proof (aligned through goto chains, or hunks of jumps only), and near
// misses are not (they go to a window proof, not tested here).
func TestJumpHunks(t *testing.T) {
	r0, r1, r2 := bpf.R0, bpf.R1, bpf.R2
	chain := []bpf.Insn{
		bpf.Mov64Imm(r0, 0),
		bpf.JeqImm(r1, 0, 5), // -> 7 -> 6 -> 4
		bpf.JeqImm(r1, 1, 3), // -> 6 -> 4
		bpf.Mov64Imm(r0, 1),
		bpf.Add64Reg(r0, r2), // 4
		bpf.Exit(),
		bpf.Ja(-3), // 6 -> 4
		bpf.Ja(-2), // 7 -> 6
	}
	branch := []bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JgtImm(r1, 5, 1), bpf.Ja(1), bpf.Mov64Imm(r0, 2), bpf.Exit()}
	for _, tc := range []struct {
		name string
		a, b []bpf.Insn
		want bool // every hunk accepted without a proof
	}{
		{"chain threaded, dead gotos gone", chain, []bpf.Insn{
			bpf.Mov64Imm(r0, 0), bpf.JeqImm(r1, 0, 2), bpf.JeqImm(r1, 1, 1), bpf.Mov64Imm(r0, 1), bpf.Add64Reg(r0, r2), bpf.Exit(),
		}, true},
		{"chain threaded to the wrong place", chain, []bpf.Insn{
			bpf.Mov64Imm(r0, 0), bpf.JeqImm(r1, 0, 3), bpf.JeqImm(r1, 1, 1), bpf.Mov64Imm(r0, 1), bpf.Add64Reg(r0, r2), bpf.Exit(),
		}, false},
		{"chain threaded, gotos kept", chain, []bpf.Insn{
			bpf.Mov64Imm(r0, 0), bpf.JeqImm(r1, 0, 2), bpf.JeqImm(r1, 1, 1), bpf.Mov64Imm(r0, 1), bpf.Add64Reg(r0, r2), bpf.Exit(),
			bpf.Ja(-3), bpf.Ja(-2),
		}, true},
		{"branch inverted", branch, []bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JleImm(r1, 5, 1), bpf.Mov64Imm(r0, 2), bpf.Exit()}, true},
		{"branch inverted wrongly (jlt is not !jgt)", branch, []bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JltImm(r1, 5, 1), bpf.Mov64Imm(r0, 2), bpf.Exit()}, false},
		{"branch inverted, another operand", branch, []bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JleImm(r1, 6, 1), bpf.Mov64Imm(r0, 2), bpf.Exit()}, false},
		{"branch inverted, targets swapped", branch, []bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JleImm(r1, 5, 0), bpf.Mov64Imm(r0, 2), bpf.Exit()}, false},
		{"not inverted, goto dropped", branch, []bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JgtImm(r1, 5, 0), bpf.Mov64Imm(r0, 2), bpf.Exit()}, false},
		{"jmp32 inverted",
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.Jslt32Reg(r1, r2, 1), bpf.Ja(2), bpf.Mov64Imm(r0, 2), bpf.Exit(), bpf.Mov64Imm(r0, 3), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.Jsge32Reg(r1, r2, 2), bpf.Mov64Imm(r0, 2), bpf.Exit(), bpf.Mov64Imm(r0, 3), bpf.Exit()}, true},
		{"jmp32 inverted as 64-bit",
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.Jslt32Reg(r1, r2, 1), bpf.Ja(2), bpf.Mov64Imm(r0, 2), bpf.Exit(), bpf.Mov64Imm(r0, 3), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JsgeReg(r1, r2, 2), bpf.Mov64Imm(r0, 2), bpf.Exit(), bpf.Mov64Imm(r0, 3), bpf.Exit()}, false},
		{"goto +0 and if c goto +0 removed",
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.Ja(0), bpf.JeqImm(r1, 3, 0), bpf.Add64Reg(r0, r1), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.Add64Reg(r0, r1), bpf.Exit()}, true},
		{"a real branch removed",
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.JeqImm(r1, 3, 1), bpf.Add64Reg(r0, r1), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(r0, 1), bpf.Add64Reg(r0, r1), bpf.Exit()}, false},
		{"goto cycle is not a chain",
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.JeqImm(r1, 0, 1), bpf.Exit(), bpf.Ja(-1)},
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.JeqImm(r1, 0, 0), bpf.Exit()}, false},
		{"back edge threaded",
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.Add64Imm(r0, 1), bpf.JltReg(r0, r1, 1), bpf.Exit(), bpf.Ja(-4)},
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.Add64Imm(r0, 1), bpf.JltReg(r0, r1, -2), bpf.Exit()}, true},
		{"back edge inverted",
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.Add64Imm(r0, 1), bpf.JgeReg(r0, r1, 1), bpf.Ja(-3), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.Add64Imm(r0, 1), bpf.JltReg(r0, r1, -2), bpf.Exit()}, true},
		{"back edge to the wrong place",
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.Add64Imm(r0, 1), bpf.JgeReg(r0, r1, 1), bpf.Ja(-3), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(r0, 0), bpf.Add64Imm(r0, 1), bpf.JltReg(r0, r1, -3), bpf.Exit()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := testSide(t, tc.a), testSide(t, tc.b)
			al, err := align(a, b)
			if err != nil {
				t.Fatal(err)
			}
			fc := &funcCheck{a: a, b: b, al: al}
			got := true
			for _, h := range al.Hunks {
				got = got && (fc.tailMerge(h) || fc.jumpHunk(h))
			}
			if got != tc.want {
				t.Fatalf("accepted %v, want %v; hunks %v", got, tc.want, al.Hunks)
			}
		})
	}
}
