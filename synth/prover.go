package synth

import (
	"context"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
)

// Verdict is a prover's answer.
type Verdict uint8

// Verdicts.
const (
	Unknown       Verdict = iota // timeout, unsupported: never accepted
	Equivalent                   // proven equal on every input satisfying the entry state
	NotEquivalent                // a counterexample exists
)

func (v Verdict) String() string {
	return [...]string{"unknown", "equivalent", "not equivalent"}[v]
}

// Query asks whether a candidate may replace a window.
type Query struct {
	Program string
	Type    ebpf.ProgramType
	Insns   []bpf.Insn // the whole original function
	Window  Window
	// Orig and Cand are self-contained instruction lists: the window's
	// instructions and the candidate's (NOPs removed), jumps relative to
	// the list, a jump to len (in slots) meaning "leave the window".
	Orig, Cand []bpf.Insn
	// Entry is safety's summary of the states at the window's entry (nil
	// when unavailable): the precondition of the check.
	Entry *safety.Summary
	// StackDead (nil: none) marks the stack bytes not read after the
	// window: StackDead[i] is the byte at r10-len(StackDead)+i. They are
	// not compared, so a candidate may drop or add stores to them.
	StackDead []bool
	// Exits describe the window's other exits (Window.Exits, same order):
	// in Orig and Cand a jump to len+j (in slots) leaves by Exits[j-1],
	// whose Live registers and non-dead stack bytes are compared there
	// (Window.LiveOut and StackDead are those of the end, exit 0).
	Exits []QueryExit
}

// QueryExit is what is compared when a window is left by one exit.
type QueryExit struct {
	Live      bpf.RegSet
	StackDead []bool // nil: none
}

// Prover decides window equivalence. The search calls it only for
// candidates that pass every test; a candidate replaces the window only
// when the answer is Equivalent. Implementations must be safe for
// concurrent use (chains run on several goroutines). A counterexample is
// a window-mode interp.Input (Regs, RegInit, Stack, StackInit, Ctx,
// Packet, Aux; pointers made with interp.Machine.Pointer); it becomes a
// new test.
type Prover interface {
	Equivalent(ctx context.Context, q *Query) (Verdict, *interp.Input, error)
}

// CacheCounter is implemented by provers with a proof cache; the report
// shows its hits.
type CacheCounter interface {
	CacheHits() int64
}

// testFromInput converts a prover's counterexample into a test.
func testFromInput(typ ebpf.ProgramType, in *interp.Input) *Test {
	p, err := interp.NewProgram("cex", typ, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, nil)
	if err != nil {
		return nil
	}
	m := interp.NewMachine(p, nil)
	bases := [...]struct {
		r    interp.Region
		ours int
	}{{interp.RegionStack, RegStack}, {interp.RegionCtx, RegCtx}, {interp.RegionPacket, RegPacket}, {interp.RegionAux, RegAux}}
	t := &Test{StackInit: make([]bool, StackSize), Init: in.RegInit &^ bpf.RegsOf(bpf.R10), typ: typ}
	t.Mem[RegStack] = make([]byte, StackSize)
	if in.Stack != nil {
		copy(t.Mem[RegStack], in.Stack[:])
	}
	if in.StackInit != nil {
		copy(t.StackInit, in.StackInit[:])
	}
	csize := max(interp.CtxSize(typ), len(in.Ctx))
	t.Mem[RegCtx] = make([]byte, csize)
	copy(t.Mem[RegCtx], in.Ctx)
	t.Mem[RegPacket] = append([]byte(nil), in.Packet...)
	if n := auxSize(typ); n > 0 {
		t.Mem[RegAux] = make([]byte, n)
		copy(t.Mem[RegAux], in.Aux)
	}
	for i := range 4 {
		t.Mem[RegMap0+i] = make([]byte, 64)
	}
	for r := bpf.R0; r < bpf.R10; r++ {
		v := in.Regs[r]
		t.Regs[r] = v
		for _, b := range bases {
			base := m.Pointer(b.r, 0)
			if v>>32 == base>>32 {
				t.Regs[r] = Ptr(b.ours, int(int64(uint32(v))-int64(uint32(base))))
			}
		}
	}
	return t
}
