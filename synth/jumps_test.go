package synth

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
)

// sameRuns runs a and b from the same random registers (r1 small, so
// that comparisons with small constants and loop bounds go both ways)
// and fails on a different r0 or fault.
func sameRuns(t *testing.T, a, b []bpf.Insn) {
	t.Helper()
	pa, err := interp.NewProgram("a", ebpf.SocketFilter, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := interp.NewProgram("b", ebpf.SocketFilter, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	opts := &interp.Options{StepBudget: 10_000}
	ma, mb := interp.NewMachine(pa, opts), interp.NewMachine(pb, opts)
	for range 300 {
		in := &interp.Input{RegInit: bpf.RegsOf(bpf.R1, bpf.R2)}
		in.Regs[1] = uint64(rng.IntN(12)) - 2
		in.Regs[2] = rng.Uint64()
		x, y := ma.RunWindow(in, 0, 1<<20), mb.RunWindow(in, 0, 1<<20)
		if x.Fault.Kind != y.Fault.Kind || x.Regs[0] != y.Regs[0] {
			t.Fatalf("input %#x: r0 %#x (%v) vs %#x (%v)\n%s", in.Regs[:3], x.Regs[0], x.Fault, y.Regs[0], y.Fault, bpf.Disasm(b))
		}
	}
}

// TestThreadJumps: each rewrite on its own, the result checked
// instruction for instruction and run against the original.
func TestThreadJumps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		keep  []int
		want  []bpf.Insn // nil: unchanged
		count int
	}{
		{"chain of gotos", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 5), // -> 7 -> 6 -> 4
			bpf.JeqImm(bpf.R1, 1, 3), // -> 6 -> 4
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Reg(bpf.R0, bpf.R2), // 4
			bpf.Exit(),
			bpf.Ja(-3), // 6 -> 4
			bpf.Ja(-2), // 7 -> 6
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 2),
			bpf.JeqImm(bpf.R1, 1, 1),
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Exit(),
		}, 2},
		{"chain collapses into no-op branches", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 5), // -> 7 -> 6 -> 3
			bpf.JeqImm(bpf.R1, 1, 3), // -> 6 -> 3
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Exit(),
			bpf.Ja(-4), // 6 -> 3
			bpf.Ja(-2), // 7 -> 6
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Exit(),
		}, 2},
		{"self loop L: goto L", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 1),
			bpf.Exit(),
			bpf.Ja(-1),
		}, nil, nil, 0},
		{"cycle of two gotos", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 2), // -> 4 -> 3 -> 5 -> 3 ...
			bpf.Exit(),
			bpf.Ja(1),  // 3 -> 5
			bpf.Ja(-2), // 4 -> 3
			bpf.Ja(-3), // 5 -> 3
		}, nil, nil, 0},
		{"inverted jgt imm", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JgtImm(bpf.R1, 5, 1),
			bpf.Ja(1),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JleImm(bpf.R1, 5, 1),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
		}, 1},
		{"inverted jmp32 signed reg", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Jslt32Reg(bpf.R1, bpf.R2, 1),
			bpf.Ja(2),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Mov64Imm(bpf.R0, 3),
			bpf.Exit(),
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Jsge32Reg(bpf.R1, bpf.R2, 2),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Mov64Imm(bpf.R0, 3),
			bpf.Exit(),
		}, 1},
		{"inverted jne32 imm", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Jne32Imm(bpf.R1, 3, 1),
			bpf.Ja(2),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Mov64Imm(bpf.R0, 3),
			bpf.Exit(),
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Jeq32Imm(bpf.R1, 3, 2),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Mov64Imm(bpf.R0, 3),
			bpf.Exit(),
		}, 1},
		{"jset has no inverse", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JsetImm(bpf.R1, 4, 1),
			bpf.Ja(1),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
		}, nil, nil, 0},
		{"goto entered by may_goto is not inverted", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.MayGoto(1),           // -> 3
			bpf.JgtImm(bpf.R1, 5, 1), // -> 4
			bpf.Ja(1),                // 3 -> 5
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
		}, nil, nil, 0},
		{"kept goto is not inverted", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JgtImm(bpf.R1, 5, 1),
			bpf.Ja(1),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
		}, []int{2}, nil, 0},
		{"goto +0 and if c goto +0", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Ja(0),
			bpf.JeqImm(bpf.R1, 3, 0),
			bpf.Add64Reg(bpf.R0, bpf.R1),
			bpf.Exit(),
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Reg(bpf.R0, bpf.R1),
			bpf.Exit(),
		}, 2},
		{"jump into a removed goto +0", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JeqImm(bpf.R1, 3, 2), // -> 4, a goto +0
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Ja(0),
			bpf.Add64Reg(bpf.R0, bpf.R1),
			bpf.Exit(),
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JeqImm(bpf.R1, 3, 2),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Add64Reg(bpf.R0, bpf.R1),
			bpf.Exit(),
		}, 2}, // threaded over the goto +0, which goes
		{"ld_imm64 is two slots", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 4), // slot 1 -> slot 6 (insn 5)
			bpf.LdImm64(bpf.R2, 1<<32|5),
			bpf.Add64Reg(bpf.R0, bpf.R2), // insn 3, slot 4
			bpf.Exit(),
			bpf.Ja(-3), // insn 5, slot 6 -> slot 4
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.JeqImm(bpf.R1, 0, 2),
			bpf.LdImm64(bpf.R2, 1<<32|5),
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Exit(),
		}, 1},
		{"back edge threaded", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.Add64Imm(bpf.R0, 1), // 1: loop head
			bpf.JltReg(bpf.R0, bpf.R1, 1),
			bpf.Exit(),
			bpf.Ja(-4), // 4 -> 1
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.Add64Imm(bpf.R0, 1),
			bpf.JltReg(bpf.R0, bpf.R1, -2),
			bpf.Exit(),
		}, 1},
		{"back edge inverted", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.Add64Imm(bpf.R0, 1),
			bpf.JgeReg(bpf.R0, bpf.R1, 1),
			bpf.Ja(-3),
			bpf.Exit(),
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.Add64Imm(bpf.R0, 1),
			bpf.JltReg(bpf.R0, bpf.R1, -2),
			bpf.Exit(),
		}, 1},
		{"threaded, then inverted", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JgtImm(bpf.R1, 5, 1), // -> 3
			bpf.Ja(4),                // 2 -> 7 -> 5
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Add64Reg(bpf.R0, bpf.R2), // 5
			bpf.Exit(),
			bpf.Ja(-3), // 7 -> 5
		}, nil, []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.JleImm(bpf.R1, 5, 2),
			bpf.Mov64Imm(bpf.R0, 2),
			bpf.Exit(),
			bpf.Add64Reg(bpf.R0, bpf.R2),
			bpf.Exit(),
		}, 1}, // the threaded goto went with the inversion
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keep []bool
			if tc.keep != nil {
				keep = make([]bool, len(tc.insns))
				for _, k := range tc.keep {
					keep[k] = true
				}
			}
			edits, touched, count := threadJumps(tc.insns, nil, keep)
			if count != tc.count {
				t.Errorf("count %d, want %d", count, tc.count)
			}
			if tc.want == nil {
				if edits != nil || touched != nil {
					t.Fatalf("changed an instruction that should stay: %v", edits)
				}
				return
			}
			for k := range edits {
				if !touched[k] {
					t.Errorf("edited insn %d not marked touched", k)
				}
				if keep != nil && keep[k] {
					t.Errorf("edited kept insn %d", k)
				}
			}
			out, _, err := bpf.Rewrite(tc.insns, edits, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bpf.NewCFG(out, nil); err != nil {
				t.Fatalf("%v\n%s", err, bpf.Disasm(out))
			}
			if bpf.Disasm(out) != bpf.Disasm(tc.want) {
				t.Fatalf("got\n%s\nwant\n%s", bpf.Disasm(out), bpf.Disasm(tc.want))
			}
			sameRuns(t, tc.insns, out)
		})
	}
}

func TestInvertJump(t *testing.T) {
	for _, tc := range []struct {
		in, want bpf.Insn
		ok       bool
	}{
		{bpf.JeqImm(bpf.R1, 3, 5), bpf.JneImm(bpf.R1, 3, 5), true},
		{bpf.JneReg(bpf.R1, bpf.R2, 5), bpf.JeqReg(bpf.R1, bpf.R2, 5), true},
		{bpf.JgtImm(bpf.R1, 3, 5), bpf.JleImm(bpf.R1, 3, 5), true},
		{bpf.JleReg(bpf.R1, bpf.R2, 5), bpf.JgtReg(bpf.R1, bpf.R2, 5), true},
		{bpf.JgeImm(bpf.R1, 3, 5), bpf.JltImm(bpf.R1, 3, 5), true},
		{bpf.Jlt32Reg(bpf.R1, bpf.R2, 5), bpf.Jge32Reg(bpf.R1, bpf.R2, 5), true},
		{bpf.Jsgt32Imm(bpf.R1, -3, 5), bpf.Jsle32Imm(bpf.R1, -3, 5), true},
		{bpf.JsleReg(bpf.R1, bpf.R2, 5), bpf.JsgtReg(bpf.R1, bpf.R2, 5), true},
		{bpf.JsgeImm(bpf.R1, 3, 5), bpf.JsltImm(bpf.R1, 3, 5), true},
		{bpf.Jslt32Imm(bpf.R1, 3, 5), bpf.Jsge32Imm(bpf.R1, 3, 5), true},
		{bpf.JsetImm(bpf.R1, 3, 5), bpf.Insn{}, false},
		{bpf.Jset32Reg(bpf.R1, bpf.R2, 5), bpf.Insn{}, false},
		{bpf.MayGoto(5), bpf.Insn{}, false},
		{bpf.Ja(5), bpf.Insn{}, false},
		{bpf.Mov64Imm(bpf.R1, 5), bpf.Insn{}, false},
	} {
		got, ok := InvertJump(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("invert %v: %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if !ok {
			continue
		}
		// the inverse is taken exactly when the original is not
		rng := rand.New(rand.NewPCG(3, 4))
		k, w := tc.in.Info().Kind, 64
		if tc.in.Info().Class == bpf.ClassJMP32 {
			w = 32
		}
		for range 1000 {
			a, b := rng.Uint64()%8, rng.Uint64()%8
			if rng.IntN(2) == 0 {
				a, b = rng.Uint64(), rng.Uint64()
			}
			x, ok1 := bpf.EvalCond(k, w, a, b)
			y, ok2 := bpf.EvalCond(got.Info().Kind, w, a, b)
			if !ok1 || !ok2 || x == y {
				t.Fatalf("%v and %v on %#x, %#x: %v, %v", tc.in, got, a, b, x, y)
			}
		}
	}
}

// TestThreadJumpsCorpus: on every corpus function the pass (after tail
// merging, as OptimizeProgram runs it) gives code that encodes, passes
// safety and the kernel verifier (checkObject), and runs like the
// original in interp on generated inputs (entry programs the interpreter
// can run). It logs how many jumps were rewritten and the slots saved by
// tail merging alone, by both, and by the other order (threading first,
// tail merging on its result), which is how the order was chosen.
func TestThreadJumpsCorpus(t *testing.T) {
	total := map[string][4]int{} // dir: before, tail merges, merges+threading, threading+merges
	for _, dir := range []string{"v1", "v3", "v4"} {
		objs, _ := filepath.Glob(filepath.Join("../corpus/build", dir, "*.o"))
		if len(objs) == 0 {
			t.Logf("%s: no corpus objects built", dir)
			continue
		}
		for _, path := range objs {
			f, err := object.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			rws := map[string]object.Rewrite{}
			for _, fn := range f.Functions {
				insns := fn.Insns
				keep, ext := keepAndExt(fn)
				base, _ := tailMerge(insns, keep)
				// what the pipeline does (structural), every step accepted
				all, touched, _, count := structural(insns, keep, func(map[int][]bpf.Insn) bool { return true })
				rw, err := buildRewrite(insns, all, ext)
				if err != nil {
					t.Errorf("%s %s: %v", path, fn.Name, err)
					continue
				}
				tm, err := buildRewrite(insns, base, ext)
				if err != nil {
					t.Fatal(err)
				}
				// the other order: threading on the original, tail merging
				// on its result
				first, _, _ := threadJumps(insns, nil, keep)
				mid, o2n, err := bpf.Rewrite(insns, first, ext)
				if err != nil {
					t.Fatal(err)
				}
				keep2 := make([]bool, len(mid))
				for k := range insns {
					if e, ok := first[k]; keep[k] && (!ok || len(e) > 0) {
						keep2[o2n[k]] = true
					}
				}
				m2, _ := tailMerge(mid, keep2)
				other, _, err := bpf.Rewrite(mid, m2, nil)
				if err != nil {
					t.Fatal(err)
				}
				s := total[dir]
				s[0] += bpf.SlotCount(insns)
				s[1] += bpf.SlotCount(tm.Insns)
				s[2] += bpf.SlotCount(rw.Insns)
				s[3] += bpf.SlotCount(other)
				total[dir] = s
				if count == 0 {
					continue
				}
				for k, e := range all {
					if _, merged := base[k]; merged {
						continue // tail merging's own edits
					}
					if keep[k] {
						t.Errorf("%s %s: kept insn %d edited to %v", path, fn.Name, k, e)
					}
					if !touched[k] {
						t.Errorf("%s %s: insn %d edited but not touched", path, fn.Name, k)
					}
				}
				t.Logf("%s/%s %s: %d jumps threaded; slots %d, tail merging %d, structural %d, threading first %d",
					dir, filepath.Base(path), fn.Name, count, bpf.SlotCount(insns), bpf.SlotCount(tm.Insns), bpf.SlotCount(rw.Insns), bpf.SlotCount(other))
				rws[fn.Name] = rw
				if fn.Entry {
					sameProgram(t, f, fn, all)
				}
			}
			if len(rws) > 0 {
				checkObject(t, f, rws)
			}
		}
	}
	for dir, s := range total {
		t.Logf("%s: slots %d, tail merging %d, structural (both, as shipped) %d, threading then tail merging %d", dir, s[0], s[1], s[2], s[3])
	}
}

// sameProgram runs entry program fn and fn with edits (on fn's indexes)
// in interp on coverage-guided inputs and compares r0, faults, packets
// and helper calls.
func sameProgram(t *testing.T, f *object.File, fn *object.Function, edits map[int][]bpf.Insn) {
	t.Helper()
	if f.Spec == nil {
		return
	}
	pa, err := interp.FromSpec(f.Spec, fn.Name)
	if err != nil || len(pa.Insns) < len(fn.Insns) {
		t.Logf("%s %s: not run in interp: %v", f.Path, fn.Name, err)
		return
	}
	// the flattened program starts with fn itself; map loads carry map
	// indexes there, the edits touch no map load
	out, _, err := bpf.Rewrite(pa.Insns, edits, nil)
	if err != nil {
		t.Errorf("%s %s: %v", f.Path, fn.Name, err)
		return
	}
	pb, err := interp.NewProgram(fn.Name, pa.Type, out, pa.Maps)
	if err != nil {
		t.Errorf("%s %s: %v", f.Path, fn.Name, err)
		return
	}
	rng := rand.New(rand.NewPCG(5, 6))
	inputs, _, _ := interp.GenCoverage(pa, rng, 300)
	inputs = append(inputs, interp.GenInputs(pa, rng, 200)...)
	ma, mb := interp.NewMachine(pa, nil), interp.NewMachine(pb, nil)
	for i, in := range inputs {
		x := ma.Run(in)
		r0, fault, pkt, calls := x.R0, x.Fault.Kind, bytes.Clone(x.Packet), slices.Clone(x.Calls)
		y := mb.Run(in)
		if y.R0 != r0 || y.Fault.Kind != fault || !bytes.Equal(y.Packet, pkt) || len(y.Calls) != len(calls) {
			t.Fatalf("%s %s: input %d: r0 %#x (%v) vs %#x (%v), packet equal %v, calls %d vs %d",
				f.Path, fn.Name, i, r0, fault, y.R0, y.Fault, bytes.Equal(y.Packet, pkt), len(calls), len(y.Calls))
		}
		for c := range calls {
			if calls[c].Helper != y.Calls[c].Helper || calls[c].Args != y.Calls[c].Args {
				t.Fatalf("%s %s: input %d: helper call %d differs", f.Path, fn.Name, i, c)
			}
		}
	}
}
