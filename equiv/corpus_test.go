package equiv

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
)

// corpusWindow is a straight-line window of a corpus program with its
// preconditions from safety and live-out registers from liveness.
type corpusWindow struct {
	prog  string
	start int
	w     Window
}

// corpusWindows collects windows of 4-16 instructions from the v3 corpus.
func corpusWindows(t testing.TB, rng *rand.Rand, perProg int) []corpusWindow {
	t.Helper()
	return corpusWindowsIn(t, rng, perProg, "../corpus/build/v3/*.o")
}

// corpusWindowsIn is corpusWindows over the objects glob matches.
func corpusWindowsIn(t testing.TB, rng *rand.Rand, perProg int, glob string) []corpusWindow {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus objects (%v)", err)
	}
	var out []corpusWindow
	for _, path := range files {
		f, err := object.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range f.Programs() {
			p, err := interp.FromSpec(f.Spec, fn.Name)
			if err != nil {
				continue // arena programs: interp cannot load them yet
			}
			sp, err := safety.FromObject(f, fn.Name, nil)
			if err != nil {
				continue
			}
			res := safety.Verify(sp, &safety.Options{Summaries: true})
			if !res.Accepted {
				continue
			}
			insns := p.Insns[:len(fn.Insns)]
			cfg, err := bpf.NewCFG(insns, nil)
			if err != nil {
				continue
			}
			live := cfg.Liveness()
			slots := bpf.SlotOffsets(insns)
			target := map[int]bool{}
			for i, x := range insns {
				if tg, ok := x.JumpTarget(slots[i]); ok {
					target[tg] = true
				}
			}
			plain := func(i int) bool {
				x := insns[i]
				if x.IsJump() || x.IsCall() || x.IsExit() {
					return false
				}
				return !x.IsLdImm64() || x.Info().Pseudo == bpf.PseudoNone
			}
			var spans [][2]int
			for i := 0; i < len(insns); {
				if !plain(i) {
					i++
					continue
				}
				j := i + 1
				for j < len(insns) && plain(j) && !target[slots[j]] {
					j++
				}
				if j-i >= 4 {
					spans = append(spans, [2]int{i, j})
				}
				i = j
			}
			rng.Shuffle(len(spans), func(a, b int) { spans[a], spans[b] = spans[b], spans[a] })
			n := 0
			for _, sp := range spans {
				if n >= perProg {
					break
				}
				l := 4 + rng.IntN(13)
				l = min(l, sp[1]-sp[0])
				s := sp[0] + rng.IntN(sp[1]-sp[0]-l+1)
				if res.Before[s] == nil {
					continue
				}
				in := live.In[s] &^ bpf.RegsOf(bpf.R10)
				pre, ok := PreFromSafety(res.Before[s], in)
				if !ok {
					continue
				}
				w := Window{A: slices.Clone(insns[s : s+l]), LiveIn: in, Pre: pre,
					LiveOut: live.Out[s+l-1] &^ bpf.RegsOf(bpf.R10), Type: p.Type, Maps: p.Maps}
				out = append(out, corpusWindow{prog: fn.Name, start: s, w: w})
				n++
			}
		}
	}
	return out
}

// mutate makes a random rewrite of a window: an operand, an opcode, a
// deletion or a swap of neighbours. It returns nil when the rewrite is not
// a valid instruction sequence.
func mutate(rng *rand.Rand, a []bpf.Insn, live bpf.RegSet) []bpf.Insn {
	b := slices.Clone(a)
	k := rng.IntN(len(b))
	x := &b[k]
	regs := (live | bpf.RegsOf(bpf.R0, bpf.R1, bpf.R2, bpf.R3)).Regs()
	info := x.Info()
	switch rng.IntN(6) {
	case 0: // immediate
		if x.IsLdImm64() {
			x.SetImm64(x.Imm64() + 1)
		} else {
			x.Imm += int32(rng.IntN(3)) - 1
			if rng.IntN(4) == 0 {
				x.Imm = []int32{0, 1, -1, 8, 32, 0xff}[rng.IntN(6)]
			}
		}
	case 1: // offset of a memory access
		if info.Size != 0 {
			x.Off += int16([]int{-8, -4, -1, 1, 4, 8}[rng.IntN(6)])
		} else {
			x.Imm ^= 1
		}
	case 2: // register
		r := regs[rng.IntN(len(regs))]
		if info.SrcF >= bpf.FRegR && info.SrcF <= bpf.FRegRW && rng.IntN(2) == 0 {
			x.Src = r
		} else if x.Dst != bpf.R10 {
			x.Dst = r
		}
	case 3: // another op of the same class and operand form
		var cands []bpf.Op
		for _, op := range bpf.Ops() {
			o := op.Info()
			if o.Class == info.Class && o.ImmSrc == info.ImmSrc && o.Disc == bpf.DiscNone && info.Disc == bpf.DiscNone &&
				o.SrcF == info.SrcF && o.Kind != bpf.KindAtomic && o.Flags&bpf.FlagJump == 0 && !o.Has(bpf.FlagImm64) {
				cands = append(cands, op)
			}
		}
		if len(cands) == 0 {
			return nil
		}
		o := cands[rng.IntN(len(cands))].Info()
		x.Code = o.Code
	case 4: // delete
		b = slices.Delete(b, k, k+1)
	case 5: // swap neighbours
		if k+1 < len(b) {
			b[k], b[k+1] = b[k+1], b[k]
		}
	}
	if slices.Equal(a, b) || bpf.Check(append(slices.Clone(b), bpf.Exit())) != nil {
		return nil
	}
	for _, y := range b {
		if y.Validate() != nil {
			return nil
		}
	}
	return b
}

// randomInput draws a window input satisfying the precondition.
func randomInput(rng *rand.Rand, w *Window, mach *interp.Machine) (*interp.Input, bool) {
	in := &interp.Input{}
	need := int64(0)
	for _, r := range w.LiveIn.Regs() {
		p := w.Pre[r]
		switch p.Kind {
		case 0:
			ok := false
			for range 20 {
				v := interp.RandValue(rng)
				if p.Umax != 0 && (v < p.Umin || v > p.Umax) {
					v = p.Umin + rng.Uint64N(p.Umax-p.Umin+1)
				}
				v = v&^p.Known | p.Value&p.Known
				if v >= p.Umin && (p.Umax == 0 || v <= p.Umax) {
					in.Regs[r], ok = v, true
					break
				}
			}
			if !ok {
				return nil, false
			}
		case 1:
			in.Regs[r] = mach.Pointer(interp.RegionStack, interp.StackSize+int(p.Off))
		case 2:
			in.Regs[r] = mach.Pointer(interp.RegionPacket, int(p.Off))
			need = max(need, p.Off+p.Range)
		case 3:
			in.Regs[r] = mach.Pointer(interp.RegionCtx, int(p.Off))
		case smt.PtrAux:
			in.Regs[r] = mach.Pointer(interp.RegionAux, int(p.Off))
		}
	}
	in.RegInit = w.LiveIn
	var st [interp.StackSize]byte
	var si [interp.StackSize]bool
	for i := range st {
		st[i] = byte(rng.Uint32())
		si[i] = true
	}
	in.Stack, in.StackInit = &st, &si
	n := int(need) + rng.IntN(64)
	in.Packet = make([]byte, n)
	for i := range in.Packet {
		in.Packet[i] = byte(rng.Uint32())
	}
	in.Ctx = make([]byte, interp.CtxSize(w.Type))
	for i := range in.Ctx {
		in.Ctx[i] = byte(rng.Uint32())
	}
	in.Aux = randomAux(rng, w.Type)
	return in, true
}

// randomAux is random flow keys for flow dissector windows (nil: none).
func randomAux(rng *rand.Rand, typ ebpf.ProgramType) []byte {
	if typ != ebpf.FlowDissector {
		return nil
	}
	b := make([]byte, FlowKeysSize)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// agree runs both sides on n random inputs and returns how many differ.
func agree(t *testing.T, rng *rand.Rand, w *Window, n int) (differ, ran int) {
	t.Helper()
	if hasExtPre(w) {
		return agreeExt(t, rng, w, n) // pre_ptr_prop_test.go
	}
	pads := max(maxExit(w.A), maxExit(w.B))
	build := func(insns []bpf.Insn, off int) *interp.Machine {
		var tail []bpf.Insn
		if off != 0 {
			tail = []bpf.Insn{bpf.LdxDW(bpf.R0, bpf.R10, int16(off)), bpf.Exit()}
		}
		p, err := interp.NewProgram("w", w.Type, padded(insns, pads, tail), w.Maps)
		if err != nil {
			t.Fatalf("%v", err)
		}
		m := interp.NewMachine(p, nil)
		m.Coverage = true
		return m
	}
	ma, mb := build(w.A, 0), build(w.B, 0)
	stackA, stackB := map[int]*interp.Machine{}, map[int]*interp.Machine{}
	for range n {
		in, ok := randomInput(rng, w, ma)
		if !ok {
			continue
		}
		oa := ma.RunWindow(in, 0, bpf.SlotCount(w.A))
		if !oa.Fault.Ok() {
			continue
		}
		ran++
		ea := exitOf(w.A, oa.Cover)
		pa, auxA := bytes.Clone(oa.Packet), bytes.Clone(oa.Aux)
		regsA, initA := oa.Regs, oa.RegInit
		ob := mb.RunWindow(in, 0, bpf.SlotCount(w.B))
		bad := !ob.Fault.Ok() || exitOf(w.B, ob.Cover) != ea || !bytes.Equal(pa, ob.Packet) || !bytes.Equal(auxA, ob.Aux)
		for _, r := range w.LiveOut.Regs() {
			if initA.Has(r) && (!ob.RegInit.Has(r) || regsA[r] != ob.Regs[r]) {
				bad = true
			}
		}
		if !bad && !w.StackDead && ea != 0 {
			off := -8 * (1 + rng.IntN(64))
			if stackA[off] == nil {
				stackA[off], stackB[off] = build(w.A, off), build(w.B, off)
			}
			sa := runTail(t, stackA[off], in)
			sb := runTail(t, stackB[off], in)
			bad = sa != sb
		}
		if bad {
			differ++
		}
	}
	return differ, ran
}

// property runs the random-rewrite property over count rewrites.
func property(t *testing.T, seed uint64, count, inputs int) {
	propertyFiltered(t, seed, count, inputs, nil)
}

// propertyFiltered is property over the windows keep selects (nil: all).
func propertyFiltered(t *testing.T, seed uint64, count, inputs int, keep func(*Window) bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	perProg := 8
	if keep != nil {
		perProg = 40
	}
	wins := corpusWindows(t, rng, perProg)
	if keep != nil {
		wins = slices.DeleteFunc(wins, func(cw corpusWindow) bool { return !keep(&cw.w) })
	}
	propertyWins(t, rng, wins, count, inputs)
}

// propertyWins runs the property over count rewrites of wins.
func propertyWins(t *testing.T, rng *rand.Rand, wins []corpusWindow, count, inputs int) {
	if len(wins) < 20 {
		t.Fatalf("only %d corpus windows", len(wins))
	}
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	var eq, neq, unk, disagree int
	for done := 0; done < count; {
		cw := wins[rng.IntN(len(wins))]
		b := mutate(rng, cw.w.A, cw.w.LiveIn)
		if b == nil {
			continue
		}
		done++
		w := cw.w
		w.B = b
		r, err := ck.Window(context.Background(), &w)
		if err != nil {
			t.Fatalf("%s@%d: %v", cw.prog, cw.start, err)
		}
		switch r.Verdict {
		case Equal:
			eq++
			if d, ran := agree(t, rng, &w, inputs); d > 0 {
				disagree++
				t.Errorf("%s@%d: equal but interp differs on %d of %d inputs\nA: %v\nB: %v", cw.prog, cw.start, d, ran, w.A, w.B)
			}
		case NotEqual:
			neq++
			if r.Counterexample == nil {
				t.Errorf("%s@%d: not equal without counterexample", cw.prog, cw.start)
			}
		default:
			unk++
			if testing.Verbose() {
				t.Logf("unknown: %s", r.Reason)
			}
			if r.Counterexample != nil {
				disagree++
				t.Errorf("%s@%d: counterexample did not reproduce: %s\nA: %v\nB: %v", cw.prog, cw.start, r.Reason, w.A, w.B)
			}
		}
	}
	t.Logf("%d windows; %d rewrites: %d equal (each agreed on %d random inputs), %d not equal (counterexamples reproduced), %d unknown; %d disagreements",
		len(wins), count, eq, inputs, neq, unk, disagree)
}

func TestPropertyCorpusRewrites(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 40
	}
	property(t, 1, n, 10000)
}

var _ = ebpf.XDP

// runTail runs a padded window with a stack-reading tail to its end and
// returns r0 (the word read). A whole-program end is needed: interp
// refuses a window end past the code (a bad jump, r0 = 0 on both sides,
// which made the stack comparison vacuous until this helper).
func runTail(t *testing.T, m *interp.Machine, in *interp.Input) uint64 {
	t.Helper()
	o := m.RunWindow(in, 0, m.Program().Slots())
	if !o.Fault.Ok() {
		t.Fatalf("stack read after the window faults: %s", o.Fault)
	}
	return o.R0
}
