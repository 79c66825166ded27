package synth

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
)

// testProver is NOT a proof: it compares the window and the candidate on
// many random inputs with the search's own evaluator. It exists only to
// exercise the search mechanics in tests; k2opt never emits a program on
// its word.
type testProver struct {
	calls atomic.Int64
	// strict mimics the coverage of k2opt's equiv-based prover as wired
	// today: Unknown for live-in registers other than scalars and stack,
	// ctx and packet pointers with constant offsets, for atomics, and the
	// whole stack compared (no per-byte dead stack).
	strict bool
	// passThrough (with strict): live-in registers neither side reads
	// are not declined, as an adapter giving them AnyScalar could do.
	passThrough bool
}

// strictDeclines reports whether the strict test prover answers Unknown.
func strictDeclines(q *Query, passThrough bool) bool {
	var read bpf.RegSet
	for _, in := range append(slices.Clone(q.Orig), q.Cand...) {
		read |= in.Reads()
	}
	for _, r := range q.Window.LiveIn.Regs() {
		if r == bpf.R10 || passThrough && !read.Has(r) {
			continue
		}
		if q.Entry == nil {
			return true
		}
		g := q.Entry.Regs[r]
		constOff := g.V.IsConst() && g.V.T.Value == 0
		switch g.Type {
		case safety.NotInit, safety.ScalarValue:
		case safety.PtrStack:
			if g.Frame != 0 || !constOff {
				return true
			}
		case safety.PtrCtx:
			if !constOff {
				return true
			}
		case safety.PtrPacket:
			if g.ID != 0 || !constOff {
				return true
			}
		default:
			return true
		}
	}
	for _, in := range q.Cand {
		if in.Info().Kind == bpf.KindAtomic {
			return true
		}
	}
	return false
}

func (tp *testProver) Equivalent(ctx context.Context, q *Query) (Verdict, *interp.Input, error) {
	tp.calls.Add(1)
	if tp.strict && strictDeclines(q, tp.passThrough) {
		return Unknown, nil, nil
	}
	orig := fromStraight(q.Orig)
	cand := fromStraight(q.Cand)
	p := &problem{orig: orig}
	exits := append([]QueryExit{{Live: q.Window.LiveOut, StackDead: q.StackDead}}, q.Exits...)
	for _, e := range exits {
		var dead *[StackSize]bool
		if e.StackDead != nil && !tp.strict {
			dead = new([StackSize]bool)
			copy(dead[StackSize-len(e.StackDead):], e.StackDead)
		}
		p.deadStack = append(p.deadStack, dead)
		p.addExit(e.Live)
	}
	rng := rand.New(rand.NewPCG(uint64(len(q.Cand)), 7))
	st := newEntryState(q.Type, q.Entry)
	var m machine
	for range 3000 {
		t := genTest(rng, st, q.Window.LiveIn)
		if !p.setWant(&m, t) {
			continue
		}
		if p.testErr(&m, cand, t) != 0 {
			in := &interp.Input{Regs: t.Regs, RegInit: t.Init}
			var stack [interp.StackSize]byte
			var init [interp.StackSize]bool
			copy(stack[:], t.Mem[RegStack])
			copy(init[:], t.StackInit)
			in.Stack, in.StackInit = &stack, &init
			in.Ctx = append([]byte(nil), t.Mem[RegCtx]...)
			in.Packet = append([]byte(nil), t.Mem[RegPacket]...)
			return NotEquivalent, in, nil
		}
	}
	return Equivalent, nil, nil
}

// optimize runs every window of insns and applies the results.
func optimize(t *testing.T, insns []bpf.Insn, opts Options, iters int64) ([]bpf.Insn, []*WindowResult) {
	t.Helper()
	f := NewFunc("t", ebpf.XDP, insns, nil)
	// with safety's summaries when the program verifies (types, constants,
	// stack liveness) and the whole-program check on every proven candidate
	sp := &safety.Program{Name: "t", Type: ebpf.XDP, Insns: insns, Funcs: []safety.Func{{Name: "t", End: len(insns)}}, Refs: map[int]safety.Ref{}}
	if vr := safety.Verify(sp, &safety.Options{Summaries: true}); vr.Accepted {
		f.Before, f.After = vr.Before, vr.After
		f.StackLive = StackLiveness(insns, f.Before)
		f.Check = func(edits map[int][]bpf.Insn) error {
			rw, err := buildRewrite(insns, edits, nil)
			if err != nil {
				return err
			}
			q, err := relink(sp, "t", rw)
			if err != nil {
				return err
			}
			return safety.Verify(q, nil).Err()
		}
	}
	ws, err := f.Windows()
	if err != nil {
		t.Fatal(err)
	}
	edits := map[int][]bpf.Insn{}
	var rs []*WindowResult
	for _, w := range ws {
		r, err := OptimizeWindow(context.Background(), f, w, opts, iters, zeroTime)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		for k, e := range r.Edits {
			edits[k] = e
		}
	}
	out, _, err := bpf.Rewrite(insns, edits, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bpf.Check(out); err != nil {
		t.Fatalf("result is not well-formed: %v\n%s", err, bpf.Disasm(out))
	}
	return out, rs
}

func TestFindsKnownImprovements(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Insn
		slots int // at most, exit included
	}{
		{"mov add0 mov", []bpf.Insn{
			bpf.Mov64Reg(bpf.R1, bpf.R2), bpf.Add64Imm(bpf.R1, 0), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit(),
		}, 2},
		{"two byte stores", []bpf.Insn{
			bpf.StB(bpf.R10, -2, 1), bpf.StB(bpf.R10, -1, 2), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit(),
		}, 3},
		{"w1 = w1 after alu32", []bpf.Insn{
			bpf.Add32Reg(bpf.R1, bpf.R2), bpf.Mov32Reg(bpf.R1, bpf.R1), bpf.Mov64Reg(bpf.R6, bpf.R1),
			bpf.Mov64Reg(bpf.R0, bpf.R6), bpf.Exit(),
		}, 3},
		{"zero or", []bpf.Insn{
			bpf.Mov64Imm(bpf.R2, 0), bpf.Or64Reg(bpf.R2, bpf.R3), bpf.Mov64Reg(bpf.R0, bpf.R2), bpf.Exit(),
		}, 2},
		{"byte loads merged", []bpf.Insn{
			bpf.LdxW(bpf.R2, bpf.R1, 0), bpf.LdxW(bpf.R3, bpf.R1, 4), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Add64Imm(bpf.R4, 14),
			bpf.JgtReg(bpf.R4, bpf.R3, 5),
			bpf.LdxB(bpf.R0, bpf.R2, 13), bpf.Lsh32Imm(bpf.R0, 8), bpf.LdxB(bpf.R5, bpf.R2, 12), bpf.Or32Reg(bpf.R0, bpf.R5), bpf.Exit(),
			bpf.Mov64Imm(bpf.R0, 0), bpf.Exit(),
		}, 9},
		{"dead stack stores", []bpf.Insn{
			bpf.Mov64Imm(bpf.R2, 7), bpf.StxDW(bpf.R10, bpf.R2, -8), bpf.StxDW(bpf.R10, bpf.R2, -16),
			bpf.LdxDW(bpf.R0, bpf.R10, -8), bpf.Exit(),
		}, 2},
		{"stack load/add/store to atomic", []bpf.Insn{
			bpf.StDW(bpf.R10, -8, 5),
			bpf.LdxDW(bpf.R1, bpf.R10, -8), bpf.Add64Reg(bpf.R1, bpf.R3), bpf.StxDW(bpf.R10, bpf.R1, -8),
			bpf.Mov64Imm(bpf.R0, 0), bpf.Exit(),
		}, 4},
		// sock_filter's compare chain: the copies into r4 only feed
		// branches that leave the window, and r4 is dead at every exit
		{"copies feeding exits", []bpf.Insn{
			bpf.Mov64Imm(bpf.R0, 0), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Jeq32Reg(bpf.R3, bpf.R4, 5),
			bpf.Mov64Reg(bpf.R4, bpf.R1), bpf.Jeq32Reg(bpf.R3, bpf.R4, 3), bpf.Mov64Imm(bpf.R0, 1),
			bpf.Add64Imm(bpf.R3, 2), bpf.Exit(), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(),
		}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := &testProver{}
			out, rs := optimize(t, tc.insns, Options{Seed: 1, Jobs: 1, Prover: tp}, 60000)
			if got := bpf.SlotCount(out); got > tc.slots {
				t.Errorf("%d slots, want <= %d; result:\n%s", got, tc.slots, bpf.Disasm(out))
			}
			var proven int64
			for _, r := range rs {
				proven += r.ProofsProven
			}
			if proven == 0 || tp.calls.Load() == 0 {
				t.Errorf("no proof recorded (prover calls %d)", tp.calls.Load())
			}
		})
	}
}

func TestNoProverNoOutput(t *testing.T) {
	insns := []bpf.Insn{bpf.Mov64Reg(bpf.R1, bpf.R2), bpf.Add64Imm(bpf.R1, 0), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit()}
	out, _ := optimize(t, insns, Options{Seed: 1, Jobs: 1}, 20000)
	if !reflect.DeepEqual(out, insns) {
		t.Errorf("without a prover the program changed:\n%s", bpf.Disasm(out))
	}
}

// refuser says "not equivalent" with no counterexample, or "unknown".
type refuser struct{ v Verdict }

func (r refuser) Equivalent(context.Context, *Query) (Verdict, *interp.Input, error) {
	return r.v, nil, nil
}

func TestUnprovenNeverEmitted(t *testing.T) {
	insns := []bpf.Insn{bpf.Mov64Reg(bpf.R1, bpf.R2), bpf.Add64Imm(bpf.R1, 0), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit()}
	for _, v := range []Verdict{Unknown, NotEquivalent} {
		out, rs := optimize(t, insns, Options{Seed: 1, Jobs: 1, Prover: refuser{v}}, 20000)
		if !reflect.DeepEqual(out, insns) {
			t.Errorf("%v: program changed:\n%s", v, bpf.Disasm(out))
		}
		if rs[0].ProofsAttempted == 0 {
			t.Errorf("%v: prover never asked", v)
		}
	}
}

// lyingProver always says equivalent-but-wrong candidates are not: it
// returns a counterexample from the test prover, to check that the
// counterexample becomes a test.
func TestCounterexampleBecomesTest(t *testing.T) {
	// r0 = r1 & 0xff vs candidates that agree on small random tests only
	insns := []bpf.Insn{bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.And64Imm(bpf.R0, 0xff), bpf.Add64Imm(bpf.R0, 0), bpf.Exit()}
	_, rs := optimize(t, insns, Options{Seed: 3, Jobs: 1, Prover: &testProver{}, Tests: 1}, 30000)
	if rs[0].Tests <= 1 {
		t.Errorf("tests = %d: no counterexample was added", rs[0].Tests)
	}
}

func TestDeterministic(t *testing.T) {
	insns := []bpf.Insn{
		bpf.Mov64Reg(bpf.R1, bpf.R2), bpf.Add64Imm(bpf.R1, 0), bpf.Lsh64Imm(bpf.R1, 3), bpf.Rsh64Imm(bpf.R1, 3),
		bpf.Mov64Imm(bpf.R3, 0), bpf.Or64Reg(bpf.R3, bpf.R1), bpf.Mov64Reg(bpf.R0, bpf.R3), bpf.Exit(),
	}
	run := func(seed uint64) ([]bpf.Insn, []*WindowResult) {
		return optimize(t, insns, Options{Seed: seed, Jobs: 1, Prover: &testProver{}}, 30000)
	}
	a, ra := run(42)
	b, rb := run(42)
	if !reflect.DeepEqual(bpf.Encode(a, nil2le), bpf.Encode(b, nil2le)) {
		t.Errorf("same seed, different output:\n%s\nvs\n%s", bpf.Disasm(a), bpf.Disasm(b))
	}
	for i := range ra {
		if ra[i].Proposals != rb[i].Proposals || ra[i].Accepted != rb[i].Accepted || ra[i].ProofsAttempted != rb[i].ProofsAttempted {
			t.Errorf("window %d: statistics differ: %+v vs %+v", i, ra[i], rb[i])
		}
	}
}
