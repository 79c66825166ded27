package equiv

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	. "github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
)

// Flow keys (a flow dissector's struct bpf_flow_keys, 56 bytes): live-in
// pointers, the load of __sk_buff.flow_keys, stores compared as output.

var (
	fk   = RegPre{Kind: smt.PtrAux}
	fk16 = RegPre{Kind: smt.PtrAux, Off: 16}
	// r1 = flow keys (from the ctx at 144)
	fkPro = I{LdxDW(R2, R1, 144)}
)

type fkCase struct {
	tcase
	diff string // NotEqual: the reproduced difference names this
	typ  ebpf.ProgramType
}

var fkCases = []fkCase{
	{tcase: tcase{name: "store dropped", a: I{StH(R8, 4, 0x800)}, b: I{},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: NotEqual}, diff: "flow keys"},
	{tcase: tcase{name: "store value differs", a: I{StH(R8, 4, 0x800)}, b: I{StH(R8, 4, 0x86dd)},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: NotEqual}, diff: "flow keys"},
	{tcase: tcase{name: "store moved", a: I{StB(R8, 9, 6)}, b: I{StB(R8, 8, 6)},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: NotEqual}, diff: "flow keys"},
	{tcase: tcase{name: "two narrow stores merged", a: I{StH(R8, 4, 0x1234), StH(R8, 6, 0x5678)}, b: I{StW(R8, 4, 0x56781234)},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	{tcase: tcase{name: "register stores merged", a: I{StxB(R8, R1, 6), Rsh64Imm(R1, 8), StxB(R8, R1, 7)}, b: I{StxH(R8, R1, 6)},
		in: RegsOf(R1, R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	{tcase: tcase{name: "merged store wrong order", a: I{StH(R8, 4, 0x1234), StH(R8, 6, 0x5678)}, b: I{StW(R8, 4, 0x12345678)},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: NotEqual}, diff: "flow keys"},
	{tcase: tcase{name: "load at unchanged offset", a: I{Mov64Reg(R3, R8), LdxH(R0, R3, 10)}, b: I{LdxH(R0, R8, 10)},
		in: RegsOf(R8), out: RegsOf(R0, R8), pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	{tcase: tcase{name: "load at another offset", a: I{LdxH(R0, R8, 10)}, b: I{LdxH(R0, R8, 12)},
		in: RegsOf(R8), out: RegsOf(R0, R8), pre: map[Reg]RegPre{R8: fk}, want: NotEqual}, diff: "r0"},
	{tcase: tcase{name: "load after store", a: I{StH(R8, 0, 18), LdxH(R0, R8, 0)}, b: I{StH(R8, 0, 18), Mov64Imm(R0, 18)},
		in: RegsOf(R8), out: RegsOf(R0, R8), pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	{tcase: tcase{name: "read-modify-write folded", a: I{LdxH(R2, R8, 0), Add32Imm(R2, 4), StxH(R8, R2, 0)},
		b:  I{LdxH(R2, R8, 0), Add64Imm(R2, 4), StxH(R8, R2, 0)},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	{tcase: tcase{name: "live-in at an offset aliases", a: I{StW(R7, 0, 5), LdxW(R0, R8, 16)}, b: I{LdxW(R0, R8, 16), StW(R7, 0, 5)},
		in: RegsOf(R7, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R7: fk16, R8: fk}, want: NotEqual}, diff: "r0"},
	{tcase: tcase{name: "live-in at an offset, disjoint bytes", a: I{StW(R7, 0, 5), LdxW(R0, R8, 20)}, b: I{LdxW(R0, R8, 20), StW(R7, 0, 5)},
		in: RegsOf(R7, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R7: fk16, R8: fk}, want: Equal}},
	{tcase: tcase{name: "flow keys and stack do not alias", a: I{StW(R8, 0, 5), LdxW(R0, R10, -8)}, b: I{LdxW(R0, R10, -8), StW(R8, 0, 5)},
		in: RegsOf(R8), out: RegsOf(R0), pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	{tcase: tcase{name: "spilled and filled", a: I{StxDW(R10, R8, -8), LdxDW(R1, R10, -8), StB(R1, 9, 6)}, b: I{StB(R8, 9, 6)},
		in: RegsOf(R8), out: RegsOf(R8), dead: true, pre: map[Reg]RegPre{R8: fk}, want: Equal}},
	// a fill of a pointer spilled in the window is the pointer (smt read
	// the spill's last byte first and took it for a scalar)
	{tcase: tcase{name: "stack pointer spilled and filled", a: I{StxDW(R10, R8, -8), LdxDW(R1, R10, -8), LdxW(R0, R1, 0)}, b: I{LdxW(R0, R8, 0)},
		in: RegsOf(R8), out: RegsOf(R0), dead: true, pre: map[Reg]RegPre{R8: {Kind: smt.PtrStack, Off: -16}}, want: Equal}, typ: ebpf.XDP},
	{tcase: tcase{name: "spill overwritten in part is no pointer", a: I{StxDW(R10, R8, -8), StB(R10, -4, 0), LdxDW(R1, R10, -8), StB(R1, 9, 6)}, b: I{StB(R8, 9, 6)},
		in: RegsOf(R8), out: RegsOf(R8), dead: true, pre: map[Reg]RegPre{R8: fk}, want: Unknown}},
	{tcase: tcase{name: "store past the end", a: I{StW(R8, 52, 1)}, b: I{StW(R8, 53, 1)},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: NotEqual}, diff: "b faults"},
	{tcase: tcase{name: "load past the end through an offset", a: I{LdxDW(R0, R7, 32)}, b: I{LdxDW(R0, R7, 40)},
		in: RegsOf(R7), out: RegsOf(R0), pre: map[Reg]RegPre{R7: fk16}, want: NotEqual}, diff: "b faults"},
	{tcase: tcase{name: "variable offset", a: I{Add64Reg(R8, R1), StB(R8, 0, 1)}, b: I{Add64Reg(R8, R1), StB(R8, 0, 2)},
		in: RegsOf(R1, R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk, R1: {Kind: smt.Scalar, Umax: 40}}, want: NotEqual}, diff: "flow keys"},
	{tcase: tcase{name: "variable offset out of bounds", a: I{Add64Reg(R8, R1), LdxB(R0, R8, 0)}, b: I{Add64Reg(R8, R1), LdxB(R0, R8, 0), LdxB(R2, R8, 1)},
		in: RegsOf(R1, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R8: fk, R1: {Kind: smt.Scalar, Umax: 55}}, want: NotEqual}, diff: "b faults"},
	{tcase: tcase{name: "variable offset in bounds", a: I{Add64Reg(R8, R1), LdxB(R0, R8, 0)}, b: I{Add64Reg(R8, R1), LdxB(R0, R8, 0), LdxB(R2, R8, 1)},
		in: RegsOf(R1, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R8: fk, R1: {Kind: smt.Scalar, Umax: 54}}, want: Equal}},
	{tcase: tcase{name: "storing a pointer into flow keys", a: I{StxDW(R8, R10, 0)}, b: I{},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: Unknown}},
	{tcase: tcase{name: "flow keys pointer in an XDP window", a: I{StB(R8, 0, 1)}, b: I{},
		in: RegsOf(R8), out: RegsOf(R8), pre: map[Reg]RegPre{R8: fk}, want: Unknown}, typ: ebpf.XDP},
	// whole programs: the pointer comes from __sk_buff.flow_keys
	{tcase: tcase{name: "program: store dropped", prog: true,
		a: cat(fkPro, I{StH(R2, 4, 0x800), Mov64Imm(R0, 0), Exit()}), b: I{Mov64Imm(R0, 0), Exit()}, want: NotEqual}, diff: "flow keys"},
	{tcase: tcase{name: "program: stores merged", prog: true,
		a: cat(fkPro, I{StB(R2, 6, 1), StB(R2, 7, 0), Mov64Imm(R0, 0), Exit()}),
		b: cat(fkPro, I{StH(R2, 6, 1), Mov64Imm(R0, 0), Exit()}), want: Equal}},
	{tcase: tcase{name: "program: load of n_proto", prog: true,
		a: cat(fkPro, I{LdxH(R0, R2, 10), Exit()}),
		b: cat(fkPro, I{Mov64Reg(R3, R2), LdxH(R0, R3, 10), Exit()}), want: Equal}},
	{tcase: tcase{name: "program: load of n_proto vs nhoff", prog: true,
		a: cat(fkPro, I{LdxH(R0, R2, 10), Exit()}),
		b: cat(fkPro, I{LdxH(R0, R2, 0), Exit()}), want: NotEqual}, diff: "r0"},
	{tcase: tcase{name: "program: 4-byte load of the field is unsupported", prog: true,
		a: I{LdxW(R2, R1, 148), Mov64Imm(R0, 0), Exit()},
		b: I{LdxW(R2, R1, 144), Mov64Imm(R0, 0), Exit()}, want: Unknown}},
}

func runFK(t *testing.T, ck *Checker, c fkCase) Result {
	t.Helper()
	ctx := context.Background()
	typ := c.typ
	if typ == 0 {
		typ = ebpf.FlowDissector
	}
	if c.prog {
		pa, err := interp.NewProgram("a", typ, c.a, nil)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := interp.NewProgram("b", typ, c.b, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ck.Programs(ctx, pa, pb)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	w := &Window{A: c.a, B: c.b, LiveIn: c.in, LiveOut: c.out, StackDead: c.dead, Type: typ}
	for r, p := range c.pre {
		w.Pre[r] = p
	}
	r, err := ck.Window(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTableFlowKeys(t *testing.T) {
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	for _, c := range fkCases {
		t.Run(c.name, func(t *testing.T) {
			r := runFK(t, ck, c)
			if r.Verdict != c.want {
				t.Fatalf("verdict %s (%s), want %s", r.Verdict, r.Reason, c.want)
			}
			if r.Verdict != NotEqual {
				return
			}
			cex := r.Counterexample
			if cex == nil || !strings.HasPrefix(cex.Diff, c.diff) {
				t.Fatalf("counterexample %+v, want a difference in %q", cex, c.diff)
			}
			if len(cex.Input.Aux) != FlowKeysSize {
				t.Fatalf("counterexample has %d flow keys bytes, want %d", len(cex.Input.Aux), FlowKeysSize)
			}
			// replay by hand: the input reproduces the difference
			oa, ob := runSides(t, c, cex)
			same := oa.Fault.Ok() == ob.Fault.Ok() && string(oa.Aux) == string(ob.Aux) && oa.R0 == ob.R0
			for _, r := range c.out.Regs() {
				same = same && oa.Regs[r] == ob.Regs[r]
			}
			if same {
				t.Fatalf("counterexample does not reproduce: %s", cex)
			}
			t.Logf("counterexample: %s", cex.Diff)
		})
	}
}

// runSides runs both sides of c on the counterexample in interp.
func runSides(t *testing.T, c fkCase, cex *Counterexample) (interp.Output, interp.Output) {
	t.Helper()
	var outs [2]interp.Output
	for i, insns := range [2]I{c.a, c.b} {
		if len(insns) == 0 {
			insns = I{Mov64Imm(R9, 0)} // interp refuses an empty window; r9 is never compared here
		}
		p, err := interp.NewProgram("s", ebpf.FlowDissector, insns, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := interp.NewMachine(p, nil)
		if c.prog {
			outs[i] = m.Run(cex.Input)
		} else {
			outs[i] = m.RunWindow(cex.Input, 0, SlotCount(insns))
		}
		outs[i].Aux = append([]byte(nil), outs[i].Aux...)
	}
	return outs[0], outs[1]
}

// TestPreFromSafetyFlowKeys: a flow keys pointer at a constant offset is
// a PtrAux precondition; anything else about it stays opaque.
func TestPreFromSafetyFlowKeys(t *testing.T) {
	zero := safety.Const(0)
	cases := []struct {
		name  string
		reg   safety.Reg
		paths int
		want  RegPre
	}{
		{"flow keys", safety.Reg{Type: safety.PtrFlowKeys, V: zero}, 1, fk},
		{"flow keys at 16", safety.Reg{Type: safety.PtrFlowKeys, V: zero, Off: 16}, 1, fk16},
		{"flow keys joined", safety.Reg{Type: safety.PtrFlowKeys, V: zero, Off: 16}, 3, fk16},
		{"flow keys variable offset", safety.Reg{Type: safety.PtrFlowKeys, V: safety.URange(0, 8)}, 1, RegPre{Kind: smt.Opaque}},
	}
	for _, c := range cases {
		s := &safety.Summary{Paths: c.paths}
		s.Regs[R8] = c.reg
		pre, ok := PreFromSafety(s, RegsOf(R8))
		if !ok {
			t.Errorf("%s: declined", c.name)
			continue
		}
		if pre[R8] != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, pre[R8], c.want)
		}
	}
}

// TestPropertyFlowKeys runs the random-rewrite property on the flow
// dissector's corpus windows (most with a flow keys live-in): every Equal
// agrees with interp (flow keys compared) on random inputs, every
// NotEqual carries a reproduced counterexample.
func TestPropertyFlowKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 1))
	var wins []corpusWindow
	withAux := 0
	for _, v := range []string{"v1", "v3"} {
		for _, cw := range corpusWindowsIn(t, rng, 40, "../corpus/build/"+v+"/flow_dissector.o") {
			wins = append(wins, cw)
			for _, r := range cw.w.LiveIn.Regs() {
				if cw.w.Pre[r].Kind == smt.PtrAux {
					withAux++
					break
				}
			}
		}
	}
	if withAux < 15 {
		t.Fatalf("only %d of %d windows have a flow keys live-in", withAux, len(wins))
	}
	propertyWins(t, rng, wins, 150, 200)
}
