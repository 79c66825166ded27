package synth

import (
	"math/rand/v2"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
)

// windowsUnderTest are windows with ALU, memory and forward jumps.
var windowsUnderTest = [][]bpf.Insn{
	{bpf.Mov64Reg(bpf.R1, bpf.R2), bpf.Add64Imm(bpf.R1, 0), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit()},
	{bpf.StB(bpf.R10, -2, 1), bpf.StB(bpf.R10, -1, 2), bpf.LdxH(bpf.R0, bpf.R10, -2), bpf.Exit()},
	{
		bpf.Mov64Imm(bpf.R0, 0), bpf.JeqImm(bpf.R1, 3, 2), bpf.Add64Reg(bpf.R0, bpf.R1), bpf.Ja(1),
		bpf.Lsh32Imm(bpf.R0, 4), bpf.LdImm64(bpf.R4, 1<<40), bpf.StxDW(bpf.R10, bpf.R4, -16),
		bpf.LdxDW(bpf.R5, bpf.R10, -16), bpf.Jset32Reg(bpf.R5, bpf.R0, 1), bpf.Neg64(bpf.R0),
		bpf.Mov64Reg(bpf.R0, bpf.R5), bpf.Exit(),
	},
	// a window with an exit besides its end (both jumps go to insn 8)
	{
		bpf.Mov64Imm(bpf.R0, 0), bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Jeq32Reg(bpf.R3, bpf.R4, 5),
		bpf.Mov64Reg(bpf.R4, bpf.R1), bpf.Jeq32Reg(bpf.R3, bpf.R4, 3), bpf.Mov64Imm(bpf.R0, 1),
		bpf.Add64Imm(bpf.R3, 2), bpf.Exit(), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit(),
	},
}

// TestProposalsWellFormed: every proposal of every kind, applied in long
// random walks, keeps the window and the whole function well-formed: ops
// from the table, r10 never written, jumps forward and inside the window.
func TestProposalsWellFormed(t *testing.T) {
	for wi, insns := range windowsUnderTest {
		f := NewFunc("t", 0, insns, nil)
		ws, err := f.Windows()
		if err != nil || len(ws) == 0 {
			t.Fatalf("window %d: %v %v", wi, ws, err)
		}
		w := ws[0]
		p := newProblem(f, w, Options{})
		rng := rand.New(rand.NewPCG(uint64(wi), 1))
		ch := newChain(p, nil, rng, cost.WeightsFor(cost.Size), 1)
		var seen [NumMoves]int
		for it := range 20000 {
			copy(ch.prev, ch.cur)
			mv := ch.propose()
			if mv >= 0 {
				seen[mv]++
			}
			for i, c := range ch.cur {
				if c.isNop() {
					continue
				}
				if !sems[c.op].ok {
					t.Fatalf("window %d it %d: unsupported op %v at %d", wi, it, c.op, i)
				}
				if c.op.Info().Has(bpf.FlagJump) && (int(c.tgt) <= i || int(c.tgt) > len(ch.cur)+len(w.Exits)) {
					t.Fatalf("window %d it %d (move %s): jump at %d to %d", wi, it, MoveNames[mv], i, c.tgt)
				}
			}
			cand := straight(ch.cur)
			for range len(w.Exits) + 1 {
				cand = append(cand, bpf.Exit())
			}
			if err := bpf.Check(cand); err != nil {
				t.Fatalf("window %d it %d (move %d): %v\n%s", wi, it, mv, err, bpf.Disasm(cand))
			}
			edits := map[int][]bpf.Insn{}
			for i, e := range fromC(ch.cur, w, f.slot) {
				edits[w.Start+i] = e
			}
			out, _, err := bpf.Rewrite(insns, edits, nil)
			if err == nil {
				err = bpf.Check(out)
			}
			if err != nil {
				t.Fatalf("window %d it %d (move %d): whole function: %v", wi, it, mv, err)
			}
			// a random walk: keep most proposals, undo some
			if rng.IntN(3) == 0 {
				copy(ch.cur, ch.prev)
			}
		}
		for mv, n := range seen {
			if n == 0 && mv != MoveMerge {
				t.Errorf("window %d: move %s never applied", wi, MoveNames[mv])
			}
		}
	}
}

func TestSelectWindows(t *testing.T) {
	insns := []bpf.Insn{
		bpf.Mov64Imm(bpf.R6, 1),      // 0
		bpf.Mov64Imm(bpf.R1, 2),      // 1
		bpf.Call(5),                  // 2 pinned
		bpf.Mov64Reg(bpf.R1, bpf.R0), // 3
		bpf.JeqImm(bpf.R1, 0, 1),     // 4
		bpf.Add64Imm(bpf.R1, 1),      // 5
		bpf.Mov64Reg(bpf.R0, bpf.R1), // 6
		bpf.Add64Reg(bpf.R0, bpf.R6), // 7
		bpf.JneImm(bpf.R0, 9, -2),    // 8 back edge to 7
		bpf.Exit(),                   // 9
	}
	ws, err := SelectWindows(insns, NewFunc("t", 0, insns, nil).Pinned, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Window{
		{Start: 0, End: 2, LiveIn: 0, LiveOut: bpf.RegsOf(bpf.R6, bpf.R10)},
		{Start: 3, End: 7, LiveIn: bpf.RegsOf(bpf.R0, bpf.R6, bpf.R10), LiveOut: bpf.RegsOf(bpf.R0, bpf.R6, bpf.R10)},
		// the loop body: its back edge to its own start is an exit
		{Start: 7, End: 9, Exits: []Exit{{Insn: 7}}},
	}
	if len(ws) != len(want) {
		t.Fatalf("windows %v, want %v", ws, want)
	}
	for i := range want {
		if ws[i].Start != want[i].Start || ws[i].End != want[i].End {
			t.Errorf("window %d = %v, want [%d,%d)", i, ws[i], want[i].Start, want[i].End)
		}
		if len(ws[i].Exits) != len(want[i].Exits) || (len(want[i].Exits) > 0 && ws[i].Exits[0].Insn != want[i].Exits[0].Insn) {
			t.Errorf("window %d = %v, want exits %v", i, ws[i], want[i].Exits)
		}
		if !ws[i].LiveOut.Has(bpf.R0) && i == 1 {
			t.Errorf("window %d: r0 not live-out", i)
		}
	}
}

// benchChain is the benchmarks' chain: a 16-instruction window with 32
// tests.
func benchChain() *chain {
	insns := []bpf.Insn{
		bpf.Mov64Reg(bpf.R3, bpf.R1), bpf.Add64Imm(bpf.R3, 14), bpf.Mov64Reg(bpf.R4, bpf.R2),
		bpf.Lsh64Imm(bpf.R4, 32), bpf.Rsh64Imm(bpf.R4, 32), bpf.StxW(bpf.R10, bpf.R4, -4),
		bpf.Mov32Imm(bpf.R5, 0), bpf.Or64Reg(bpf.R5, bpf.R3), bpf.Xor64Reg(bpf.R5, bpf.R4),
		bpf.StB(bpf.R10, -8, 1), bpf.StB(bpf.R10, -7, 2), bpf.LdxW(bpf.R6, bpf.R10, -4),
		bpf.And32Imm(bpf.R6, 0xff), bpf.Add64Reg(bpf.R6, bpf.R5), bpf.Mul64Imm(bpf.R6, 3),
		bpf.Mov64Reg(bpf.R0, bpf.R6), bpf.Exit(),
	}
	f := NewFunc("bench", 0, insns, nil)
	w := Window{Start: 0, End: 16, LiveIn: bpf.RegsOf(bpf.R1, bpf.R2), LiveOut: bpf.RegsOf(bpf.R0)}
	p := newProblem(f, w, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	var m machine
	var tests []*Test
	for len(tests) < 32 {
		tt := genTest(rng, &entryState{}, w.LiveIn)
		if p.setWant(&m, tt) {
			tests = append(tests, tt)
		}
	}
	ch := newChain(p, tests, rng, cost.WeightsFor(cost.Size), 1)
	return ch
}

// BenchmarkProposals: proposals evaluated per second on one core, on a
// 16-instruction window with 32 tests (the target: >= 100,000/s).
func BenchmarkProposals(b *testing.B) {
	ch := benchChain()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ch.step()
		n++
	}
	b.ReportMetric(float64(ch.proposals)/b.Elapsed().Seconds(), "proposals/s")
}

// BenchmarkFullEval: candidates evaluated on all 32 tests (no early exit)
// per second: the worst case of BenchmarkProposals.
func BenchmarkFullEval(b *testing.B) {
	ch := benchChain()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		copy(ch.prev, ch.cur)
		ch.propose()
		ch.eval(ch.cur, 1e300)
		copy(ch.cur, ch.prev)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "proposals/s")
}

// TestCandidatesKeepISA: a function using only cpu v1 instructions gets
// no v3/v4 ones (jmp32, sign-extending loads, sdiv...) in accepted
// proposals, so an object built for an old kernel still loads there.
func TestCandidatesKeepISA(t *testing.T) {
	insns := []bpf.Insn{
		bpf.LdxW(bpf.R1, bpf.R10, -8), bpf.Mov64Reg(bpf.R2, bpf.R1), bpf.Lsh64Imm(bpf.R2, 32), bpf.Rsh64Imm(bpf.R2, 32),
		bpf.JeqImm(bpf.R2, 7, 1), bpf.Add64Imm(bpf.R1, 3), bpf.Mov64Reg(bpf.R0, bpf.R1), bpf.Exit(),
	}
	f := NewFunc("t", 0, insns, nil)
	ws, err := f.Windows()
	if err != nil || len(ws) == 0 {
		t.Fatal(ws, err)
	}
	p := newProblem(f, ws[0], Options{})
	if p.maxCPU != 1 {
		t.Fatalf("maxCPU %d, want 1", p.maxCPU)
	}
	ch := newChain(p, nil, rand.New(rand.NewPCG(1, 1)), cost.WeightsFor(cost.Size), 1)
	for it := range 50000 {
		ch.step()
		for _, c := range ch.cur {
			if !c.isNop() && c.op.Info().CPU > 1 {
				t.Fatalf("it %d: %v needs cpu v%d", it, c.op, c.op.Info().CPU)
			}
		}
	}
}

// TestMergeCounterToAtomic: clang's map counter update (load, add an
// immediate, store back) is proposed as a constant and one atomic add.
func TestMergeCounterToAtomic(t *testing.T) {
	insns := []bpf.Insn{
		bpf.LdxDW(bpf.R1, bpf.R0, 0), bpf.Add64Imm(bpf.R1, 1), bpf.StxDW(bpf.R0, bpf.R1, 0),
		bpf.Mov64Imm(bpf.R0, 0), bpf.Exit(),
	}
	f := NewFunc("t", 0, insns, nil)
	ws, err := f.Windows()
	if err != nil || len(ws) == 0 {
		t.Fatal(ws, err)
	}
	p := newProblem(f, ws[0], Options{})
	p.maxCPU = 4
	ch := newChain(p, nil, rand.New(rand.NewPCG(1, 1)), cost.WeightsFor(cost.Size), 1)
	if !ch.merge() {
		t.Fatal("no merge site found")
	}
	got := straight(ch.cur)
	want := []bpf.Insn{bpf.Mov64Imm(bpf.R1, 1), bpf.New(bpf.OpAtomicAddDW, bpf.R0, bpf.R1, 0, bpf.AtomicAdd), bpf.Mov64Imm(bpf.R0, 0)}
	if len(got) != len(want) {
		t.Fatalf("got\n%swant\n%s", bpf.Disasm(got), bpf.Disasm(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got\n%swant\n%s", bpf.Disasm(got), bpf.Disasm(want))
		}
	}
}
