package synth

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/interp"
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
	withSearchGen(t, 0) // the hand-written file has no gen=: generation 0
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
		{"bad_gen.rules", "bad_gen.rules:3: bad generation \"-1\""},
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

// verdictProver answers like k2opt's prover with a rule file: Equal
// verdicts are kept under the query's canonical key (equiv.Cache.Key of
// the window cmd/k2opt/prover.go builds) and answer the same query again
// without a proof. calls counts the queries that needed one (sent to
// testProver), hits those a stored verdict answered.
type verdictProver struct {
	inner testProver
	cache *equiv.Cache
	mu    sync.Mutex
	equal map[string]bool
	calls atomic.Int64
	hits  atomic.Int64
}

func newVerdictProver() *verdictProver {
	return &verdictProver{cache: equiv.NewCache(0), equal: map[string]bool{}}
}

func (vp *verdictProver) key(q *Query) string {
	w := &equiv.Window{A: q.Orig, B: q.Cand, LiveIn: q.Window.LiveIn, LiveOut: q.Window.LiveOut, Type: q.Type}
	if pre, _, ok := equiv.PreForWindow(q.Entry, q.Window.LiveIn, q.Orig, q.Cand); ok {
		w.Pre = pre
	}
	w.Exits = append(w.Exits, equiv.WindowExit{LiveOut: q.Window.LiveOut, StackDead: q.StackDead})
	for _, e := range q.Exits {
		w.Exits = append(w.Exits, equiv.WindowExit{LiveOut: e.Live, StackDead: e.StackDead})
	}
	return vp.cache.Key(w)
}

func (vp *verdictProver) Equivalent(ctx context.Context, q *Query) (Verdict, *interp.Input, error) {
	k := vp.key(q)
	vp.mu.Lock()
	hit := vp.equal[k]
	vp.mu.Unlock()
	if hit {
		vp.hits.Add(1)
		return Equivalent, nil, nil
	}
	vp.calls.Add(1)
	v, in, err := vp.inner.Equivalent(ctx, q)
	if v == Equivalent {
		vp.mu.Lock()
		vp.equal[k] = true
		vp.mu.Unlock()
	}
	return v, in, err
}

// windowAt is the window [s,e) of a straight-line f.
func windowAt(t *testing.T, f *Func, s, e int) Window {
	t.Helper()
	cfg, err := bpf.NewCFG(f.Insns, nil)
	if err != nil {
		t.Fatal(err)
	}
	live := cfg.Liveness()
	return Window{Start: s, End: e, LiveIn: live.In[s], LiveOut: live.In[e]}
}

// A rule instantiated in the window it was learned from is the proven
// candidate itself: the same prover query, answered by the stored Equal
// verdict without a proof. Registers the pattern does not mention keep the
// registers they had, also a live one the candidate reads.
func TestRuleReproducesProvenQuery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prog    []bpf.Insn
		s, e    int
		cand    []cinsn
		scratch []uint8 // the rule's scratch line
	}{
		{
			// r5 is free, but not the first free register (r4)
			name: "free scratch register",
			prog: progA, s: 0, e: 4,
			cand:    []cinsn{{op: bpf.OpLdxW, dst: 5, src: 1}, movC(0, 5), nop, nop},
			scratch: []uint8{5},
		},
		{
			// r6 passes through the window holding 7: the candidate reads
			// it instead of materialising 7 again
			name: "live register read",
			prog: []bpf.Insn{bpf.Mov64Imm(bpf.R6, 7), bpf.Mov64Imm(bpf.R2, 7), bpf.Mov64Reg(bpf.R0, bpf.R2),
				bpf.Add64Reg(bpf.R0, bpf.R6), bpf.Exit()},
			s: 1, e: 3,
			cand:    []cinsn{nop, movC(0, 6)},
			scratch: []uint8{6},
		},
		{
			// the same, the live register read twice and a free one written
			name: "live read and free scratch",
			prog: []bpf.Insn{bpf.Mov64Imm(bpf.R6, 7), bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.Mov64Imm(bpf.R3, 7),
				bpf.Add64Reg(bpf.R2, bpf.R3), bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Add64Reg(bpf.R0, bpf.R6), bpf.Exit()},
			s: 1, e: 5,
			cand:    []cinsn{{op: bpf.OpLdxW, dst: 8, src: 1}, nop, {op: bpf.OpAdd64Reg, dst: 8, src: 6}, movC(0, 8)},
			scratch: []uint8{8, 6},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := funcOf(t, tc.prog)
			w := windowAt(t, f, tc.s, tc.e)
			vp := newVerdictProver()
			rs := NewRuleSet()
			opts := Options{Seed: 1, Jobs: 1, Prover: vp, Rules: rs}
			const iters = 1000

			// first run: the window's search proves tc.cand and learns it
			p := newProblem(f, w, opts)
			ws := &windowSearch{ctx: context.Background(), f: f, w: w, p: p, prover: vp, start: time.Now(),
				best: slices.Clone(p.orig), bestPerf: p.perf(p.orig), bestChain: -1, tried: map[uint64]bool{}, maxProofs: 100}
			res := &WindowResult{Window: w}
			st, skip := ws.rulesBefore(opts, iters, zeroTime, res)
			if skip || st == nil {
				t.Fatalf("empty rule set: skip %v, state %v", skip, st)
			}
			if !ws.prove(tc.cand, 0, nil) {
				t.Fatalf("candidate not proven (%d prover calls)", vp.calls.Load())
			}
			res.Proposals, res.Edits = iters, map[int][]bpf.Insn{}
			ws.rulesAfter(st, res)
			if got := rs.Stats().Rules; got != 1 {
				t.Fatalf("learned %d rules, want 1", got)
			}
			text := rs.Marshal()
			if !bytes.Contains(text, []byte("  scratch"+regList(tc.scratch)+"\n")) {
				t.Fatalf("no %q line in\n%s", "scratch"+regList(tc.scratch), text)
			}
			calls := vp.calls.Load()

			// a later run, with the rule file read back: the rule ends the
			// window, proven by the stored verdict alone
			back, err := ParseRules("learned", text)
			if err != nil {
				t.Fatal(err)
			}
			opts.Rules = back
			res2, err := OptimizeWindow(context.Background(), f, w, opts, iters, zeroTime)
			if err != nil {
				t.Fatal(err)
			}
			if !res2.RuleSkipped || res2.RulesFired != 1 {
				t.Errorf("rule fired %d, window skipped %v; want 1, true", res2.RulesFired, res2.RuleSkipped)
			}
			if n := vp.calls.Load() - calls; n != 0 || vp.hits.Load() != 1 {
				t.Errorf("%d proofs and %d stored verdicts used, want 0 and 1: the instantiated rule is another query", n, vp.hits.Load())
			}
			want := map[int][]bpf.Insn{}
			for i, e := range fromC(tc.cand, w, f.slot) {
				want[w.Start+i] = e
			}
			if !reflect.DeepEqual(res2.Edits, want) {
				t.Errorf("applied %v, want the learned candidate %v", res2.Edits, want)
			}
		})
	}
}

func regList(rs []uint8) string {
	s := ""
	for _, r := range rs {
		s += " " + regName(r)
	}
	return s
}

// A rule instantiated in another window where its scratch hint is a live
// register: the hinted candidate comes first (it is the learned one where
// the hint means the same), then the one on free registers.
func TestRuleInstancesFallBackToFree(t *testing.T) {
	// r0 = r1 + 1 through a scratch register (r6 where it was learned)
	prog := []bpf.Insn{bpf.Mov64Reg(bpf.R2, bpf.R1), bpf.Add64Imm(bpf.R2, 1), bpf.Mov64Reg(bpf.R0, bpf.R2),
		bpf.Add64Imm(bpf.R0, 0), bpf.Exit()}
	// the same window with r7 live through it
	live := append([]bpf.Insn{bpf.Mov64Imm(bpf.R7, 5)}, prog[:4]...)
	live = append(live, bpf.Add64Reg(bpf.R0, bpf.R7), bpf.Exit())
	learned := firstKey(t, prog, nil)
	rep := learned.z.replacement([]cinsn{movC(6, 1), {op: bpf.OpAdd64Imm, dst: 6, imm: 1}, movC(0, 6), nop})
	for _, tc := range []struct {
		name string
		prog []bpf.Insn
		s, e int
		hint []uint8
		want []uint8 // the scratch register of each instance, in order
	}{
		{"hint free", prog, 0, 4, []uint8{6}, []uint8{6}},
		{"hint live here", live, 1, 5, []uint8{7}, []uint8{7, 3}},
		{"hint a pattern register", prog, 0, 4, []uint8{2}, []uint8{3}},
		{"no hint", prog, 0, 4, nil, []uint8{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := funcOf(t, tc.prog)
			w := windowAt(t, f, tc.s, tc.e)
			k := keyOf(f, w, toC(f.Insns, w, f.slot), cost.Size)
			if k.key != learned.key {
				t.Fatalf("window has another key:\n%s\n%s", k.key, learned.key)
			}
			var got []uint8
			for _, c := range k.instances(rep, k.vals, tc.hint) {
				got = append(got, c[0].dst)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("instances use scratch %v, want %v (free %v)", got, tc.want, k.free)
			}
		})
	}
}

func movC(dst, src uint8) cinsn { return cinsn{op: bpf.OpMov64Reg, dst: dst, src: src} }

// withSearchGen makes the search stand for generation g until the test ends.
func withSearchGen(t *testing.T, g int) {
	t.Helper()
	old := searchGen
	searchGen = g
	t.Cleanup(func() { searchGen = old })
}

// Entries of an older search generation never end a window: the newer
// search runs (from the rule's rewrite, if any) and its entry replaces
// the old one, which then ends the window again.
func TestSearchGenerationReopensWindows(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog []bpf.Insn
		rule bool
	}{
		{"no-better entry", progTight, false},
		{"rewrite", progA, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := NewRuleSet()
			first, _ := optimizeRules(t, tc.prog, rs, &testProver{}, 3000)
			slots := bpf.SlotCount(first)
			if st := rs.Stats(); st.Rules+st.NoBetter != 1 || (st.Rules == 1) != tc.rule || tc.rule != (slots < bpf.SlotCount(tc.prog)) {
				t.Fatalf("learned %+v, %d slots", st, slots)
			}
			text := rs.Marshal()
			for _, run := range []struct {
				gen   int
				skip  bool
				fired int
			}{
				{searchGen, true, b2i(tc.rule)},      // the generation that wrote it
				{searchGen + 1, false, b2i(tc.rule)}, // a newer search: searched again
				{searchGen + 1, true, b2i(tc.rule)},  // by now with an entry of its own
			} {
				withSearchGen(t, run.gen)
				rs, err := ParseRules("learned", text)
				if err != nil {
					t.Fatal(err)
				}
				tp := &testProver{}
				out, res := optimizeRules(t, tc.prog, rs, tp, 1000)
				if res[0].RuleSkipped != run.skip || (res[0].Proposals == 0) != run.skip || res[0].RulesFired != run.fired {
					t.Errorf("generation %d: skipped %v, %d proposals, %d rules fired; want skipped %v, %d fired",
						run.gen, res[0].RuleSkipped, res[0].Proposals, res[0].RulesFired, run.skip, run.fired)
				}
				if bpf.SlotCount(out) != slots {
					t.Errorf("generation %d: %d slots, want the first run's %d", run.gen, bpf.SlotCount(out), slots)
				}
				text = rs.Marshal()
				if want := fmt.Sprintf(" gen=%d", run.gen); (run.gen != 0) != bytes.Contains(text, []byte(want)) {
					t.Errorf("generation %d: %q in the file = %v:\n%s", run.gen, want, !bytes.Contains(text, []byte(want)), text)
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Entries without gen= are generation 0; Stats counts the stale ones.
func TestSearchGenerationFile(t *testing.T) {
	good, err := os.ReadFile("testdata/rules/good.rules")
	if err != nil {
		t.Fatal(err)
	}
	gen2 := bytes.Replace(good, []byte("budget=100"), []byte("budget=100 gen=2"), 1)
	for _, tc := range []struct {
		name  string
		file  []byte
		gen   int
		stale int
	}{
		{"no gen, generation 0", good, 0, 0},
		{"no gen, generation 1", good, 1, 2},
		{"gen=2, generation 1", gen2, 1, 1},
		{"gen=2, generation 3", gen2, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withSearchGen(t, tc.gen)
			rs, err := ParseRules("x.rules", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if st := rs.Stats(); st.Stale != tc.stale {
				t.Errorf("%d stale entries, want %d", st.Stale, tc.stale)
			}
			if back := rs.Marshal(); bytes.Contains(tc.file, []byte("gen=2")) != bytes.Contains(back, []byte("budget=100 gen=2")) {
				t.Errorf("gen= not kept:\n%s", back)
			}
		})
	}
}

// Budgets are evidence of the generation that spent them.
func TestMergeGenerations(t *testing.T) {
	rw := []rinsn{{op: bpf.OpMov64Imm, dst: 0, imm: 1}}
	nb := func(gen int, budget int64) *ruleEntry { return &ruleEntry{gen: gen, budget: budget} }
	rule := func(gen int, budget int64) *ruleEntry { return &ruleEntry{gen: gen, budget: budget, rep: rw} }
	for _, tc := range []struct {
		name    string
		a, b    *ruleEntry
		rewrite bool
		gen     int
		budget  int64
	}{
		{"same generation: larger budget", nb(1, 500), nb(1, 900), false, 1, 900},
		{"newer no-better replaces an older one's budget", nb(0, 9000), nb(1, 100), false, 1, 100},
		{"older budget ignored", nb(2, 100), nb(1, 9000), false, 2, 100},
		{"rewrite kept, newer generation's budget", rule(0, 9000), nb(1, 100), true, 1, 100},
		{"rewrite kept, older no-better ignored", rule(1, 100), nb(0, 9000), true, 1, 100},
		{"newer rewrite wins a tie", rule(0, 9000), rule(1, 100), true, 1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []*ruleEntry{merge(tc.a, tc.b), merge(tc.b, tc.a)} {
				if (m.rep != nil) != tc.rewrite || m.gen != tc.gen || m.budget != tc.budget {
					t.Errorf("merged: rewrite %v gen %d budget %d; want %v, %d, %d", m.rep != nil, m.gen, m.budget, tc.rewrite, tc.gen, tc.budget)
				}
			}
		})
	}
}
