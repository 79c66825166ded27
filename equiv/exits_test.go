package equiv

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	. "github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/smt"
)

// deadBytes is a 512-byte frame mask with the bytes at r10+off dead.
func deadBytes(offs ...int) []bool {
	m := make([]bool, 512)
	for _, o := range offs {
		m[512+o] = true
	}
	return m
}

// live r0-r3 (r4 dead), the registers of the exit tests.
var r0to3 = RegsOf(R0, R1, R2, R3)

type xcase struct {
	name  string
	a, b  I
	in    RegSet // zero: r0-r9
	pre   map[Reg]RegPre
	exits []WindowExit
	want  Verdict
}

// A jump to len+j leaves by exit code 1+j = Exits[j]; Exits[0] is the end.
var exitCases = []xcase{
	// per-byte dead stack, one exit
	{name: "dead store to a dead byte", a: I{StB(R10, -8, 1)}, b: I{},
		exits: []WindowExit{{LiveOut: allRegs, StackDead: deadBytes(-8)}}, want: Equal},
	{name: "dead store, byte live", a: I{StB(R10, -8, 1)}, b: I{},
		exits: []WindowExit{{LiveOut: allRegs}}, want: NotEqual},
	{name: "dead store, other byte dead", a: I{StB(R10, -8, 1)}, b: I{},
		exits: []WindowExit{{LiveOut: allRegs, StackDead: deadBytes(-7, -9)}}, want: NotEqual},
	{name: "short mask covers the top", a: I{StB(R10, -8, 1)}, b: I{},
		exits: []WindowExit{{LiveOut: allRegs, StackDead: []bool{true, false, false, false, false, false, false, false}}}, want: Equal},
	{name: "short mask, byte live", a: I{StB(R10, -8, 1)}, b: I{},
		exits: []WindowExit{{LiveOut: allRegs, StackDead: []bool{false, true, true, true, true, true, true, true}}}, want: NotEqual},
	{name: "word store = byte store, upper bytes dead", a: I{StW(R10, -8, 0x11223344)}, b: I{StB(R10, -8, 0x44)},
		exits: []WindowExit{{LiveOut: allRegs, StackDead: deadBytes(-7, -6, -5)}}, want: Equal},
	{name: "word store = byte store, one upper byte live", a: I{StW(R10, -8, 0x11223344)}, b: I{StB(R10, -8, 0x44)},
		exits: []WindowExit{{LiveOut: allRegs, StackDead: deadBytes(-7, -5)}}, want: NotEqual},
	// registers per exit: r4 = r2; if w3 == w4 goto out
	{name: "r4 dead at both exits", a: I{Mov64Reg(R4, R2), Jeq32Reg(R3, R4, 1)}, b: I{Jeq32Reg(R3, R2, 1)},
		exits: []WindowExit{{LiveOut: r0to3}, {LiveOut: r0to3}}, want: Equal},
	{name: "r4 live at the out exit", a: I{Mov64Reg(R4, R2), Jeq32Reg(R3, R4, 1)}, b: I{Jeq32Reg(R3, R2, 1)},
		exits: []WindowExit{{LiveOut: r0to3}, {LiveOut: r0to3 | RegsOf(R4)}}, want: NotEqual},
	{name: "r4 live at the end", a: I{Mov64Reg(R4, R2), Jeq32Reg(R3, R4, 1)}, b: I{Jeq32Reg(R3, R2, 1)},
		exits: []WindowExit{{LiveOut: r0to3 | RegsOf(R4)}, {LiveOut: r0to3}}, want: NotEqual},
	{name: "out exit not described: everything compared", a: I{Mov64Reg(R4, R2), Jeq32Reg(R3, R4, 1)}, b: I{Jeq32Reg(R3, R2, 1)},
		exits: []WindowExit{{LiveOut: r0to3}}, want: NotEqual},
	{name: "swapped exits", a: I{Jeq32Reg(R3, R2, 1)}, b: I{Jne32Reg(R3, R2, 1)},
		exits: []WindowExit{{LiveOut: r0to3}, {LiveOut: r0to3}}, want: NotEqual},
	{name: "leaves by another exit", a: I{JeqImm(R1, 0, 1)}, b: I{JeqImm(R1, 0, 2)},
		exits: []WindowExit{{}, {}, {}}, want: NotEqual},
	{name: "same exit, other layout", a: I{JeqImm(R1, 0, 2), Mov64Imm(R2, 1)}, b: I{Mov64Imm(R2, 1), JeqImm(R1, 0, 1)},
		exits: []WindowExit{{LiveOut: RegsOf(R2)}, {}}, want: Equal},
	{name: "same exit, r2 live there", a: I{JeqImm(R1, 0, 2), Mov64Imm(R2, 1)}, b: I{Mov64Imm(R2, 1), JeqImm(R1, 0, 1)},
		exits: []WindowExit{{LiveOut: RegsOf(R2)}, {LiveOut: RegsOf(R2)}}, want: NotEqual},
	// stack per exit: B skips the store on the out exit
	{name: "store dead at the out exit", a: I{StB(R10, -8, 1), JeqImm(R1, 0, 1)}, b: I{JeqImm(R1, 0, 2), StB(R10, -8, 1)},
		exits: []WindowExit{{}, {StackDead: deadBytes(-8)}}, want: Equal},
	{name: "store live at the out exit", a: I{StB(R10, -8, 1), JeqImm(R1, 0, 1)}, b: I{JeqImm(R1, 0, 2), StB(R10, -8, 1)},
		exits: []WindowExit{{StackDead: deadBytes(-8)}, {}}, want: NotEqual},
	// exit instructions still compare r0 only
	{name: "exit insn compares r0", a: I{Mov64Imm(R4, 1), Mov64Imm(R0, 0), Exit()}, b: I{Mov64Imm(R0, 0), Exit()},
		exits: []WindowExit{{LiveOut: allRegs}}, want: Equal},
	// a store at an offset the encoder does not know is compared even
	// where the byte is dead; replay ignores the dead byte, so the
	// difference does not reproduce: Unknown, never a false NotEqual.
	{name: "unknown-offset store to a dead byte", a: I{Mov64Reg(R1, R10), Sub64Reg(R1, R2), StB(R1, 0, 1)}, b: I{},
		in: RegsOf(R2), pre: map[Reg]RegPre{R2: {Kind: smt.Scalar, Umin: 8, Umax: 8}},
		exits: []WindowExit{{StackDead: deadBytes(-8)}}, want: Unknown},
	{name: "unknown-offset store to a live byte", a: I{Mov64Reg(R1, R10), Sub64Reg(R1, R2), StB(R1, 0, 1)}, b: I{},
		in: RegsOf(R2), pre: map[Reg]RegPre{R2: {Kind: smt.Scalar, Umin: 8, Umax: 8}},
		exits: []WindowExit{{StackDead: deadBytes(-9)}}, want: NotEqual},
}

func TestTableExits(t *testing.T) {
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	for _, c := range exitCases {
		t.Run(c.name, func(t *testing.T) {
			w := &Window{A: c.a, B: c.b, LiveIn: c.in, Exits: c.exits, Type: ebpf.XDP}
			if w.LiveIn == 0 {
				w.LiveIn = allRegs
			}
			for r, p := range c.pre {
				w.Pre[r] = p
			}
			r, err := ck.Window(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != c.want {
				t.Fatalf("verdict %s (%s), want %s", r.Verdict, r.Reason, c.want)
			}
			if r.Verdict == NotEqual {
				if r.Counterexample == nil || r.Counterexample.Diff == "" {
					t.Fatalf("not equal without a reproduced counterexample")
				}
				t.Logf("counterexample: %s", r.Counterexample.Diff)
			}
		})
	}
}

// Keys separate queries whose comparisons differ (a proof under a weaker
// comparison must not answer a stronger one) and merge equivalent forms.
func TestCacheKeyExits(t *testing.T) {
	a, b := I{Mov64Reg(R4, R2), Jeq32Reg(R3, R4, 1)}, I{Jeq32Reg(R3, R2, 1)}
	win := func(exits ...WindowExit) Window {
		return Window{A: a, B: b, LiveIn: RegsOf(R2, R3), Exits: exits}
	}
	base := win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3, StackDead: deadBytes(-8)})
	same := []struct {
		name string
		w    Window
	}{
		{"copy", win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3, StackDead: deadBytes(-8)})},
		{"all-false mask = nil", win(WindowExit{LiveOut: r0to3, StackDead: make([]bool, 512)}, WindowExit{LiveOut: r0to3, StackDead: deadBytes(-8)})},
		{"short mask = frame mask", win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3, StackDead: []bool{true, false, false, false, false, false, false, false}})},
	}
	differ := []struct {
		name string
		w    Window
	}{
		{"r4 live at out", win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3 | RegsOf(R4), StackDead: deadBytes(-8)})},
		{"r4 live at end", win(WindowExit{LiveOut: r0to3 | RegsOf(R4)}, WindowExit{LiveOut: r0to3, StackDead: deadBytes(-8)})},
		{"byte live", win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3})},
		{"other byte dead", win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3, StackDead: deadBytes(-16)})},
		{"dead at the end instead", win(WindowExit{LiveOut: r0to3, StackDead: deadBytes(-8)}, WindowExit{LiveOut: r0to3})},
		{"one exit only", win(WindowExit{LiveOut: r0to3})},
		{"legacy fields", Window{A: a, B: b, LiveIn: RegsOf(R2, R3), LiveOut: r0to3}},
		{"legacy stack dead", Window{A: a, B: b, LiveIn: RegsOf(R2, R3), LiveOut: r0to3, StackDead: true}},
	}
	c := NewCache(0)
	k0 := c.Key(&base)
	r0 := string(rawKey(nil, &base))
	for _, s := range same {
		if c.Key(&s.w) != k0 {
			t.Errorf("%s: different canonical key", s.name)
		}
	}
	if string(rawKey(nil, &same[0].w)) != r0 {
		t.Errorf("copy: different raw key")
	}
	seen := map[string]string{k0: "base"}
	for _, d := range differ {
		k := c.Key(&d.w)
		if prev, ok := seen[k]; ok {
			t.Errorf("%s: same canonical key as %s", d.name, prev)
		}
		seen[k] = d.name
		if string(rawKey(nil, &d.w)) == r0 {
			t.Errorf("%s: same raw key", d.name)
		}
	}
	// Renaming keeps per-exit live sets in step with the instructions.
	ren := Window{A: I{Mov64Reg(R7, R5), Jeq32Reg(R6, R7, 1)}, B: I{Jeq32Reg(R6, R5, 1)}, LiveIn: RegsOf(R5, R6),
		Exits: []WindowExit{{LiveOut: RegsOf(R5, R6)}, {LiveOut: RegsOf(R5, R6, R7)}}}
	ren0 := Window{A: a, B: b, LiveIn: RegsOf(R2, R3), Exits: []WindowExit{{LiveOut: RegsOf(R2, R3)}, {LiveOut: RegsOf(R2, R3, R4)}}}
	ren1 := Window{A: a, B: b, LiveIn: RegsOf(R2, R3), Exits: []WindowExit{{LiveOut: RegsOf(R2, R3, R4)}, {LiveOut: RegsOf(R2, R3)}}}
	if c.Key(&ren) != c.Key(&ren0) {
		t.Errorf("renamed registers: different key")
	}
	if c.Key(&ren) == c.Key(&ren1) {
		t.Errorf("renamed registers, live sets swapped between exits: same key")
	}
	// Through the checker: Equal under the weaker comparison, then the
	// stronger queries are not answered from the cache.
	ck := NewChecker(nil)
	defer ck.Close()
	ctx := context.Background()
	weak := win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3})
	if r, err := ck.Window(ctx, &weak); err != nil || r.Verdict != Equal || r.Cached {
		t.Fatalf("weak: %v %v cached=%v", r.Verdict, err, r.Cached)
	}
	if r, _ := ck.Window(ctx, &weak); !r.Cached || r.Verdict != Equal {
		t.Fatalf("weak again: cached=%v %v", r.Cached, r.Verdict)
	}
	strong := win(WindowExit{LiveOut: r0to3}, WindowExit{LiveOut: r0to3 | RegsOf(R4)})
	if r, _ := ck.Window(ctx, &strong); r.Cached || r.Verdict != NotEqual {
		t.Fatalf("r4 live at out: cached=%v %v (%s)", r.Cached, r.Verdict, r.Reason)
	}
	st := Window{A: I{StB(R10, -8, 1)}, B: I{}, LiveIn: allRegs, Exits: []WindowExit{{LiveOut: allRegs, StackDead: deadBytes(-8)}}}
	if r, _ := ck.Window(ctx, &st); r.Verdict != Equal {
		t.Fatalf("dead byte: %v (%s)", r.Verdict, r.Reason)
	}
	st.Exits = []WindowExit{{LiveOut: allRegs, StackDead: deadBytes(-7)}}
	if r, _ := ck.Window(ctx, &st); r.Cached || r.Verdict != NotEqual {
		t.Fatalf("live byte: cached=%v %v (%s)", r.Cached, r.Verdict, r.Reason)
	}
}

// randExitWindow is a random window over r0-r3 and the stack words at
// r10-16 and r10-8, with conditional jumps inside it or past its end
// (exit codes 1-3).
func randExitWindow(rng *rand.Rand, n int) I {
	regs := []Reg{R0, R1, R2, R3}
	reg := func() Reg { return regs[rng.IntN(len(regs))] }
	offs := []int16{-16, -12, -8, -7, -4, -1}
	a := make(I, n)
	for i := range a {
		switch k := rng.IntN(10); {
		case k < 2:
			// targets: i+1 .. n+2 (n, n+1, n+2 leave by codes 1-3)
			a[i] = JeqImm(reg(), int32(rng.IntN(3)), int16(rng.IntN(n+2-i)))
		case k == 2:
			a[i] = JgtReg(reg(), reg(), int16(rng.IntN(n+2-i)))
		case k == 3:
			a[i] = StxB(R10, reg(), offs[rng.IntN(len(offs))])
		case k == 4:
			a[i] = StxW(R10, reg(), offs[rng.IntN(3)*2])
		case k == 5:
			a[i] = LdxB(reg(), R10, offs[rng.IntN(len(offs))])
		default:
			ops := []Insn{Mov64Imm(reg(), int32(rng.IntN(3))), Add64Reg(reg(), reg()), Xor64Reg(reg(), reg()),
				And64Imm(reg(), 1), Mov64Reg(reg(), reg()), Lsh64Imm(reg(), 8)}
			a[i] = ops[rng.IntN(len(ops))]
		}
	}
	return a
}

// exitOracle runs A and B in interp on random inputs and compares them as
// Window.Exits says: same exit, the registers live there, the stack bytes
// of r10-16..r10-1 not dead there. It returns the inputs that differ.
func exitOracle(t *testing.T, rng *rand.Rand, w *Window, n int) (differ, ran int) {
	t.Helper()
	pads := max(maxExit(w.A), maxExit(w.B))
	// the comparison, from Window.Exits directly (not outs: the oracle
	// must not share the code it checks)
	liveAt := func(code int) RegSet {
		if code-1 < len(w.Exits) {
			return w.Exits[code-1].LiveOut
		}
		return allRegs
	}
	deadAt := func(code int, off int) bool {
		if code-1 >= len(w.Exits) {
			return false
		}
		m := w.Exits[code-1].StackDead
		i := off + len(m)
		return off < 0 && i >= 0 && m[i]
	}
	build := func(insns I, off int16) *interp.Machine {
		var tail I
		if off != 0 {
			tail = I{LdxDW(R0, R10, off), Exit()}
		}
		p, err := interp.NewProgram("w", w.Type, padded(insns, pads, tail), nil)
		if err != nil {
			t.Fatal(err)
		}
		m := interp.NewMachine(p, nil)
		m.Coverage = true
		return m
	}
	ma, mb := build(w.A, 0), build(w.B, 0)
	words := []int16{-16, -8}
	var sa, sb [2]*interp.Machine
	for i, off := range words {
		sa[i], sb[i] = build(w.A, off), build(w.B, off)
	}
	for range n {
		in := &interp.Input{RegInit: w.LiveIn}
		for _, r := range w.LiveIn.Regs() {
			in.Regs[r] = uint64(rng.IntN(3)) // small values: branches go both ways
		}
		var st [interp.StackSize]byte
		var si [interp.StackSize]bool
		for i := range st {
			st[i], si[i] = byte(rng.IntN(3)), true
		}
		in.Stack, in.StackInit = &st, &si
		oa := ma.RunWindow(in, 0, bpf.SlotCount(w.A))
		if !oa.Fault.Ok() {
			continue
		}
		ran++
		ea := exitOf(w.A, oa.Cover)
		ob := mb.RunWindow(in, 0, bpf.SlotCount(w.B))
		bad := !ob.Fault.Ok() || exitOf(w.B, ob.Cover) != ea
		if !bad && ea != 0 {
			for _, r := range liveAt(ea).Regs() {
				if oa.RegInit.Has(r) && (!ob.RegInit.Has(r) || oa.Regs[r] != ob.Regs[r]) {
					bad = true
				}
			}
			for i, off := range words {
				va := runTail(t, sa[i], in)
				vb := runTail(t, sb[i], in)
				for j := range 8 {
					if !deadAt(ea, int(off)+j) && byte(va>>(8*j)) != byte(vb>>(8*j)) {
						bad = true
					}
				}
			}
		}
		if bad {
			differ++
		}
	}
	return differ, ran
}

// TestPropertyExits: random windows with several exits, random rewrites
// (one instruction replaced, so exit targets stay), random per-exit live
// sets and dead bytes. Every Equal must agree with the interp oracle on
// 2,000 inputs; every NotEqual carries a reproduced counterexample.
func TestPropertyExits(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	rng := rand.New(rand.NewPCG(5, 9))
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	var eq, neq, unk int
	for range n {
		a := randExitWindow(rng, 3+rng.IntN(4))
		b := slices.Clone(a)
		b[rng.IntN(len(b))] = randExitWindow(rng, len(b))[rng.IntN(len(b))]
		if rng.IntN(4) == 0 {
			b[rng.IntN(len(b))] = Ja(0)
		}
		var exits []WindowExit
		for range 1 + rng.IntN(3) { // code 3 sometimes undescribed
			e := WindowExit{LiveOut: RegSet(rng.IntN(16))}
			if rng.IntN(2) == 0 {
				e.StackDead = make([]bool, 16)
				for i := range e.StackDead {
					e.StackDead[i] = rng.IntN(2) == 0
				}
			}
			exits = append(exits, e)
		}
		w := &Window{A: a, B: b, LiveIn: RegsOf(R0, R1, R2, R3), Exits: exits, Type: ebpf.XDP}
		r, err := ck.Window(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		switch r.Verdict {
		case Equal:
			eq++
			if d, ran := exitOracle(t, rng, w, 2000); d > 0 {
				t.Errorf("Equal but %d of %d inputs differ:\nA %v\nB %v\nexits %+v", d, ran, a, b, exits)
			}
		case NotEqual:
			neq++
			if r.Counterexample == nil || r.Counterexample.Diff == "" {
				t.Errorf("NotEqual without a counterexample: A %v B %v", a, b)
			}
		default:
			unk++
			t.Errorf("unknown (%s): A %v B %v exits %+v", r.Reason, a, b, exits)
		}
	}
	t.Logf("%d rewrites: %d equal (each agreed on 2,000 interp inputs), %d not equal (reproduced), %d unknown", n, eq, neq, unk)
	if eq == 0 || neq == 0 {
		t.Errorf("degenerate sample: %d equal, %d not equal", eq, neq)
	}
}
