package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/safety"
)

// funcOf prepares insns like optimize does (summaries when they verify).
func funcOf(t *testing.T, insns []bpf.Insn) *Func {
	t.Helper()
	f := NewFunc("t", ebpf.XDP, insns, nil)
	sp := &safety.Program{Name: "t", Type: ebpf.XDP, Insns: insns, Funcs: []safety.Func{{Name: "t", End: len(insns)}}, Refs: map[int]safety.Ref{}}
	if vr := safety.Verify(sp, &safety.Options{Summaries: true}); vr.Accepted {
		f.Before, f.After = vr.Before, vr.After
		f.StackLive = StackLiveness(insns, f.Before)
	}
	return f
}

// firstKey is the canonical key of the first window of insns.
func firstKey(t *testing.T, insns []bpf.Insn, edit func(*Window)) *windowKey {
	t.Helper()
	return firstKeyF(t, insns, edit, nil)
}

func firstKeyF(t *testing.T, insns []bpf.Insn, edit func(*Window), editF func(*Func)) *windowKey {
	t.Helper()
	f := funcOf(t, insns)
	if editF != nil {
		editF(f)
	}
	ws, err := f.Windows()
	if err != nil || len(ws) == 0 {
		t.Fatalf("no window (%v)", err)
	}
	w := ws[0]
	if edit != nil {
		edit(&w)
	}
	return keyOf(f, w, toC(f.Insns, w, f.slot), cost.Size)
}

// The programs the rule tests learn from: a load copied through two
// registers with a useless add (one load is enough), and the same with
// other registers.
var (
	progA = []bpf.Insn{bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.Mov64Reg(bpf.R3, bpf.R2), bpf.Add64Imm(bpf.R3, 0),
		bpf.Mov64Reg(bpf.R0, bpf.R3), bpf.Exit()}
	progARenamed = []bpf.Insn{bpf.LdxW(bpf.R4, bpf.R1, 0), bpf.Mov64Reg(bpf.R6, bpf.R4), bpf.Add64Imm(bpf.R6, 0),
		bpf.Mov64Reg(bpf.R0, bpf.R6), bpf.Exit()}
	// nothing to gain: two instructions that are needed
	progTight = []bpf.Insn{bpf.LdxW(bpf.R0, bpf.R1, 0), bpf.Add64Imm(bpf.R0, 3), bpf.Exit()}
)

func TestCanonicalKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     []bpf.Insn
		editB    func(*Window)
		editF    func(*Func)
		sameAbs  bool // same shape
		sameKeys bool // and same constants
	}{
		{"renamed registers", progA, progARenamed, nil, nil, true, true},
		{"other constant", progA, []bpf.Insn{bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.Mov64Reg(bpf.R3, bpf.R2),
			bpf.Add64Imm(bpf.R3, 9), bpf.Mov64Reg(bpf.R0, bpf.R3), bpf.Exit()}, nil, nil, true, false},
		{"other live-out", progA, progA, func(w *Window) { w.LiveOut = w.LiveOut.Add(bpf.R3) }, nil, false, false},
		{"other offset", progA, []bpf.Insn{bpf.LdxW(bpf.R2, bpf.R1, 4), bpf.Mov64Reg(bpf.R3, bpf.R2),
			bpf.Add64Imm(bpf.R3, 0), bpf.Mov64Reg(bpf.R0, bpf.R3), bpf.Exit()}, nil, nil, false, false},
		// equal constants share a symbol, different ones do not
		{"constant sharing",
			[]bpf.Insn{bpf.Mov64Imm(bpf.R0, 5), bpf.Add64Imm(bpf.R0, 5), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(bpf.R0, 5), bpf.Add64Imm(bpf.R0, 6), bpf.Exit()}, nil, nil, false, false},
		{"constants renamed together",
			[]bpf.Insn{bpf.Mov64Imm(bpf.R0, 5), bpf.Add64Imm(bpf.R0, 5), bpf.Exit()},
			[]bpf.Insn{bpf.Mov64Imm(bpf.R0, 8), bpf.Add64Imm(bpf.R0, 8), bpf.Exit()}, nil, nil, true, false},
		// entry types are part of the key: a ctx pointer vs a scalar
		{"entry type", progA, progA, nil, func(f *Func) {
			s := *f.Before[0]
			s.Regs[bpf.R1] = safety.Reg{Type: safety.ScalarValue, V: safety.Unknown()}
			f.Before = append([]*safety.Summary{&s}, f.Before[1:]...)
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka := firstKey(t, tc.a, nil)
			kb := firstKeyF(t, tc.b, tc.editB, tc.editF)
			if (ka.abs == kb.abs) != tc.sameAbs {
				t.Errorf("abstract keys equal = %v, want %v:\n%s\n%s", ka.abs == kb.abs, tc.sameAbs, ka.abs, kb.abs)
			}
			if (ka.key == kb.key) != tc.sameKeys {
				t.Errorf("keys equal = %v, want %v:\n%s\n%s", ka.key == kb.key, tc.sameKeys, ka.key, kb.key)
			}
		})
	}
}

// optimizeRules is optimize with a rule set, returning the program's slots.
func optimizeRules(t *testing.T, insns []bpf.Insn, rs *RuleSet, p Prover, iters int64) ([]bpf.Insn, []*WindowResult) {
	t.Helper()
	return optimize(t, insns, Options{Seed: 1, Jobs: 1, Prover: p, Rules: rs}, iters)
}

func TestRuleFiresOnRenamedCopy(t *testing.T) {
	rs := NewRuleSet()
	outA, _ := optimizeRules(t, progA, rs, &testProver{}, 4000)
	if bpf.SlotCount(outA) > 2 {
		t.Fatalf("the search did not find the one-load form:\n%s", bpf.Disasm(outA))
	}
	if st := rs.Stats(); st.Rules != 1 {
		t.Fatalf("learned %+v, want 1 rule", st)
	}
	tp := &testProver{}
	outB, res := optimizeRules(t, progARenamed, rs, tp, 4000)
	if bpf.SlotCount(outB) != bpf.SlotCount(outA) {
		t.Errorf("renamed copy: %d slots, want %d:\n%s", bpf.SlotCount(outB), bpf.SlotCount(outA), bpf.Disasm(outB))
	}
	if res[0].RulesFired != 1 || !res[0].RuleSkipped {
		t.Errorf("rule fired %d, skipped %v; want 1, true", res[0].RulesFired, res[0].RuleSkipped)
	}
	if res[0].ProofsProven != 1 || tp.calls.Load() != 1 || res[0].Proposals != 0 {
		t.Errorf("proofs %d/%d, prover calls %d, proposals %d: want the rule proven once and no search",
			res[0].ProofsProven, res[0].ProofsAttempted, tp.calls.Load(), res[0].Proposals)
	}
	// the instantiated rule reads the renamed registers
	if !reflect.DeepEqual(outB[0], bpf.LdxW(bpf.R0, bpf.R1, 0)) {
		t.Errorf("first instruction %v, want r0 = *(u32 *)(r1 + 0)", outB[0])
	}
	// a larger budget than the rule's: the rule still fires, the search runs
	_, res = optimizeRules(t, progARenamed, rs, &testProver{}, 8000)
	if res[0].RulesFired != 1 || res[0].RuleSkipped || res[0].Proposals == 0 {
		t.Errorf("larger budget: fired %d, skipped %v, proposals %d; want 1, false, >0", res[0].RulesFired, res[0].RuleSkipped, res[0].Proposals)
	}
}

func TestHandWrittenRuleFires(t *testing.T) {
	rs, err := LoadRules("testdata/rules/good.rules")
	if err != nil {
		t.Fatal(err)
	}
	out, res := optimizeRules(t, progA, rs, &testProver{}, 4000)
	if !res[0].RuleSkipped || res[0].RulesFired != 1 || bpf.SlotCount(out) != 2 {
		t.Errorf("skipped %v, fired %d, %d slots; want the file's rule applied:\n%s", res[0].RuleSkipped, res[0].RulesFired, bpf.SlotCount(out), bpf.Disasm(out))
	}
	_, res = optimizeRules(t, progTight, rs, &testProver{}, 50)
	if !res[0].RuleSkipped || res[0].Proposals != 0 {
		t.Errorf("no-better entry (budget 100 >= 50): skipped %v, proposals %d", res[0].RuleSkipped, res[0].Proposals)
	}
}

func TestNoBetterSkipsSearch(t *testing.T) {
	rs := NewRuleSet()
	out, res := optimizeRules(t, progTight, rs, &testProver{}, 3000)
	if bpf.SlotCount(out) != 3 || res[0].Proposals == 0 {
		t.Fatalf("first run: %d slots, %d proposals", bpf.SlotCount(out), res[0].Proposals)
	}
	if st := rs.Stats(); st.NoBetter != 1 || st.Rules != 0 {
		t.Fatalf("learned %+v, want 1 no-better entry", st)
	}
	for _, tc := range []struct {
		iters int64
		skip  bool
	}{{3000, true}, {1000, true}, {6000, false}} {
		tp := &testProver{}
		_, res := optimizeRules(t, progTight, rs, tp, tc.iters)
		if res[0].RuleSkipped != tc.skip || (res[0].Proposals == 0) != tc.skip {
			t.Errorf("budget %d: skipped %v with %d proposals, want skipped %v", tc.iters, res[0].RuleSkipped, res[0].Proposals, tc.skip)
		}
		if tc.skip && tp.calls.Load() != 0 {
			t.Errorf("budget %d: prover called %d times on a skipped window", tc.iters, tp.calls.Load())
		}
	}
}

// A rule is never trusted: a wrong replacement (or a prover that cannot
// decide) leaves the window to the search.
func TestRuleNeverTrusted(t *testing.T) {
	rs := NewRuleSet()
	optimizeRules(t, progA, rs, &testProver{}, 4000)
	// corrupt the learned rule and its sliding form: load from offset 4
	corrupt := func(rep []rinsn) {
		for i := range rep {
			if !rep[i].nop && rep[i].op == bpf.OpLdxW {
				rep[i].off = 4
			}
		}
	}
	for _, e := range rs.learned.byKey {
		corrupt(e.rep)
	}
	for _, l := range rs.learned.slide {
		for _, s := range l {
			corrupt(s.rep)
		}
	}
	out, res := optimizeRules(t, progA, rs, &testProver{}, 4000)
	if res[0].RulesFired != 0 || res[0].RuleSkipped {
		t.Errorf("wrong rule fired %d, skipped %v", res[0].RulesFired, res[0].RuleSkipped)
	}
	if !reflect.DeepEqual(out[0], bpf.LdxW(bpf.R0, bpf.R1, 0)) {
		t.Errorf("the search did not take over from the wrong rule:\n%s", bpf.Disasm(out))
	}
	rs = NewRuleSet()
	optimizeRules(t, progA, rs, &testProver{}, 4000)
	out, res = optimizeRules(t, progA, rs, refuser{Unknown}, 4000)
	if !reflect.DeepEqual(out, progA) || res[0].RulesFired != 0 {
		t.Errorf("an unproven rule was applied (fired %d):\n%s", res[0].RulesFired, bpf.Disasm(out))
	}
}

// A rule learned on one window fires, trimmed, inside a different window.
func TestSlidingRule(t *testing.T) {
	rs := NewRuleSet()
	optimizeRules(t, progA, rs, &testProver{}, 4000)
	if st := rs.Stats(); st.Sliding == 0 {
		t.Fatalf("no sliding rule from %+v", st)
	}
	// the same four instructions (renamed) after an unrelated one, then
	// a use of that one: another window key
	prog := []bpf.Insn{bpf.Mov64Imm(bpf.R7, 9), bpf.LdxW(bpf.R4, bpf.R1, 0), bpf.Mov64Reg(bpf.R6, bpf.R4),
		bpf.Add64Imm(bpf.R6, 0), bpf.Mov64Reg(bpf.R0, bpf.R6), bpf.Add64Reg(bpf.R0, bpf.R7), bpf.Exit()}
	if firstKey(t, prog, nil).abs == firstKey(t, progA, nil).abs {
		t.Fatal("test program has the rule's own key")
	}
	tp := &testProver{}
	out, res := optimizeRules(t, prog, rs, tp, 100)
	if res[0].RulesFired == 0 {
		t.Errorf("sliding rule did not fire:\n%s", bpf.Disasm(out))
	}
	if res[0].ProofsProven == 0 || tp.calls.Load() == 0 {
		t.Errorf("sliding result not proven (proofs %d, calls %d)", res[0].ProofsProven, tp.calls.Load())
	}
	if bpf.SlotCount(out) > 4 {
		t.Errorf("%d slots, want <= 4:\n%s", bpf.SlotCount(out), bpf.Disasm(out))
	}
}

func TestRulesDeterministic(t *testing.T) {
	learn := NewRuleSet()
	optimizeRules(t, progA, learn, &testProver{}, 4000)
	optimizeRules(t, progTight, learn, &testProver{}, 4000)
	text := learn.Marshal()
	prog := []bpf.Insn{bpf.Mov64Imm(bpf.R7, 9), bpf.LdxW(bpf.R4, bpf.R1, 0), bpf.Mov64Reg(bpf.R6, bpf.R4),
		bpf.Add64Imm(bpf.R6, 0), bpf.Mov64Reg(bpf.R0, bpf.R6), bpf.Add64Reg(bpf.R0, bpf.R7), bpf.Exit()}
	var outs, learned [][]byte
	for range 2 {
		rs, err := ParseRules("mem", text)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := optimizeRules(t, prog, rs, &testProver{}, 3000)
		outs = append(outs, bpf.Encode(out, nil2le))
		learned = append(learned, rs.Marshal())
	}
	if !bytes.Equal(learned[0], learned[1]) {
		t.Error("same rules, same seed: different rules learned")
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("same rules, same seed: different outputs")
	}
}

func TestRulesFileRoundTrip(t *testing.T) {
	rs := NewRuleSet()
	optimizeRules(t, progA, rs, &testProver{}, 4000)
	optimizeRules(t, progTight, rs, &testProver{}, 4000)
	optimizeRules(t, []bpf.Insn{bpf.Mov64Imm(bpf.R2, 0), bpf.Or64Reg(bpf.R2, bpf.R1), bpf.Mov64Reg(bpf.R0, bpf.R2),
		bpf.JeqImm(bpf.R0, 7, 1), bpf.Mov64Imm(bpf.R0, 1), bpf.Exit()}, rs, &testProver{}, 4000)
	text := rs.Marshal()
	path := filepath.Join(t.TempDir(), "x.rules")
	if err := rs.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadRules(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if got := back.Marshal(); !bytes.Equal(got, text) {
		t.Errorf("round trip changed the file:\n%s\nvs\n%s", text, got)
	}
	a, b := rs.Stats(), back.Stats()
	if a.Rules != b.Rules || a.NoBetter != b.NoBetter || a.Sliding != b.Sliding || b.Loaded != a.Rules+a.NoBetter || a.Rules < 2 {
		t.Errorf("stats before %+v, after %+v", a, b)
	}
	// the hand-written file too, and a missing file is an empty set
	good, err := os.ReadFile("testdata/rules/good.rules")
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseRules("good.rules", good)
	if err != nil {
		t.Fatal(err)
	}
	if g2, err := ParseRules("again", g.Marshal()); err != nil || !bytes.Equal(g2.Marshal(), g.Marshal()) {
		t.Errorf("good.rules does not round-trip: %v", err)
	}
	if st := g.Stats(); st.Rules != 1 || st.NoBetter != 1 {
		t.Errorf("good.rules: %+v", st)
	}
	empty, err := LoadRules(filepath.Join(t.TempDir(), "missing.rules"))
	if err != nil || empty.Stats().Loaded != 0 {
		t.Errorf("missing file: %v", err)
	}
}

func TestRulesMalformed(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"bad_header.rules", "bad_header.rules:1: not a k2opt rule file"},
		{"bad_version.rules", "bad_version.rules:1: rule file version 7"},
		{"bad_op.rules", "bad_op.rules:8: unknown op \"Frobnicate\""},
		{"bad_operands.rules", "bad_operands.rules:8: Add64Imm wants 2 operand(s), got 1"},
		{"unclosed.rules", "unclosed.rules:3: rule not closed"},
		{"bad_target.rules", "bad_target.rules:3: match 0: jump target @9"},
		{"length.rules", "length.rules:3: replacement has 1 positions, pattern 2"},
		{"bad_symbol.rules", "bad_symbol.rules:3: match 1: symbol K1 has no value"},
		{"no_budget.rules", "no_budget.rules:3: want \"rule OBJECTIVE budget=N\""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadRules(filepath.Join("testdata/rules", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaultRulesParse(t *testing.T) {
	rs, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rs.Marshal(), defaultRulesText) {
		t.Error("default.rules is not in canonical form (regenerate with make rules)")
	}
}

// Programs in parallel: each sees only the base and its own rules; all
// are merged at the end.
func TestRuleSetConcurrent(t *testing.T) {
	root := NewRuleSet()
	var wg sync.WaitGroup
	progs := [][]bpf.Insn{progA, progARenamed, progTight}
	for _, p := range progs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			view := root.Fork()
			f := funcOf(t, p)
			ws, _ := f.Windows()
			for _, w := range ws {
				if _, err := OptimizeWindow(context.Background(), f, w, Options{Seed: 1, Jobs: 1, Prover: &testProver{}, Rules: view}, 2000, zeroTime); err != nil {
					t.Error(err)
				}
			}
			view.commit()
		}()
	}
	wg.Wait()
	// progA and its renamed copy share one key
	if st := root.Stats(); st.Rules != 1 || st.NoBetter != 1 {
		t.Errorf("merged %+v, want 1 rule and 1 no-better entry", st)
	}
}
