package equiv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/smt"
)

// Counterexample is an interp input on which A and B differ, checked by
// running both in the interpreter.
type Counterexample struct {
	Input *interp.Input
	// Window: Input is a window input (RunWindow from slot 0 of each side);
	// otherwise a whole-program input (Run).
	Window bool
	// Diff says what differs, e.g. "r0: a=0x1 b=0x2".
	Diff string
	// Prologue (window inputs with map-value pointers, which interp
	// cannot take as input registers): Input is a window input for
	// Prologue followed by the side, run from slot 0 (Window is false).
	Prologue []bpf.Insn
}

// String prints the input: registers (window), packet in hex, map entries.
func (c *Counterexample) String() string {
	var b strings.Builder
	in := c.Input
	if c.Window || c.Prologue != nil {
		for _, r := range in.RegInit.Regs() {
			fmt.Fprintf(&b, "r%d=0x%x ", r, in.Regs[r])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "packet (%d bytes): %x\n", len(in.Packet), in.Packet)
	if len(in.Ctx) > 0 && !allZero(in.Ctx) {
		fmt.Fprintf(&b, "ctx: %x\n", in.Ctx)
	}
	if len(in.Aux) > 0 && !allZero(in.Aux) {
		fmt.Fprintf(&b, "flow keys: %x\n", in.Aux)
	}
	for i, kvs := range in.Maps {
		for _, kv := range kvs {
			fmt.Fprintf(&b, "map %d: key %x value %x\n", i, kv.Key, kv.Value)
		}
	}
	fmt.Fprintf(&b, "differs: %s", c.Diff)
	return b.String()
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// input builds the interp input from the model.
func (c *Checker) input(q *query, m smt.Model, mach *interp.Machine) *interp.Input {
	enc, z := q.enc, c.ctx
	in := &interp.Input{}
	if hasPacket(q.typ) {
		n, _ := m.Eval(enc.PktLen())
		n = min(n, 3520)
		in.Packet = make([]byte, n)
		arr := enc.Array(smt.RegionKey{Kind: smt.PtrPacket})
		for i := range in.Packet {
			v, _ := m.Eval(z.Select(arr, z.BV(uint64(i), 64)))
			in.Packet[i] = byte(v)
		}
	}
	if l := enc.Cfg.Ctx; l != nil {
		in.Ctx = make([]byte, l.Size)
		arr := enc.Array(smt.RegionKey{Kind: smt.PtrCtx})
		for i := range in.Ctx {
			v, _ := m.Eval(z.Select(arr, z.BV(uint64(i), 64)))
			in.Ctx[i] = byte(v)
		}
	}
	if l := enc.Cfg.Ctx; l != nil && l.AuxSize > 0 {
		// the flow keys the model starts from (whole programs too: the
		// encoder does not assume the test run's start values)
		in.Aux = make([]byte, l.AuxSize)
		arr := enc.Array(smt.RegionKey{Kind: smt.PtrAux})
		for i := range in.Aux {
			v, _ := m.Eval(z.Select(arr, z.BV(uint64(i), 64)))
			in.Aux[i] = byte(v)
		}
	}
	// Maps: the entries the lookups saw, and key 0 of global data.
	if len(q.maps) > 0 {
		in.Maps = make([][]interp.KV, len(q.maps))
		add := func(mi int, key smt.Term) {
			ms := &q.maps[mi]
			kb := make([]byte, ms.KeySize)
			for i := range kb {
				v, _ := m.Eval(z.Extract(8*i+7, 8*i, key))
				kb[i] = byte(v)
			}
			for _, kv := range in.Maps[mi] {
				if bytes.Equal(kv.Key, kb) {
					return
				}
			}
			present, _ := m.EvalBool(enc.Present(mi, key))
			if !present {
				return
			}
			vb := make([]byte, ms.ValueSize)
			arr := enc.Array(smt.RegionKey{Kind: smt.PtrMapVal, Map: mi})
			for i := range vb {
				v, _ := m.Eval(z.Select(arr, z.Concat(key, z.BV(uint64(i), 64))))
				vb[i] = byte(v)
			}
			in.Maps[mi] = append(in.Maps[mi], interp.KV{Key: kb, Value: vb})
		}
		for _, l := range enc.Lookups {
			add(l.Map, l.Key)
		}
		for _, insns := range [][]bpf.Insn{q.a, q.b} {
			for _, x := range insns {
				if p := x.Info().Pseudo; x.IsLdImm64() && (p == bpf.PseudoMapValue || p == bpf.PseudoMapIdxValue) {
					mi := int(x.Imm)
					if mi >= 0 && mi < len(q.maps) {
						add(mi, z.BV(0, 8*int(q.maps[mi].KeySize)))
					}
				}
			}
		}
		for i := range in.Maps {
			if in.Maps[i] == nil && q.maps[i].Contents == nil {
				in.Maps[i] = []interp.KV{}
			}
		}
	}
	if q.window {
		for _, r := range q.liveIn.Regs() {
			if r == bpf.R10 {
				continue
			}
			p := q.regPre[r]
			if p.ext() {
				c.extRegInput(q, m, mach, in, r, p)
				continue
			}
			switch p.Kind {
			case smt.Scalar:
				in.Regs[r], _ = m.Eval(enc.Sym(regName[r]))
			case smt.PtrStack:
				in.Regs[r] = mach.Pointer(interp.RegionStack, interp.StackSize+int(p.Off))
			case smt.PtrPacket:
				in.Regs[r] = mach.Pointer(interp.RegionPacket, int(p.Off))
			case smt.PtrCtx:
				in.Regs[r] = mach.Pointer(interp.RegionCtx, int(p.Off))
			case smt.PtrAux:
				in.Regs[r] = mach.Pointer(interp.RegionAux, int(p.Off))
			}
		}
		in.RegInit = q.liveIn &^ bpf.RegsOf(bpf.R10)
		var st [interp.StackSize]byte
		var si [interp.StackSize]bool
		arr := enc.Array(smt.RegionKey{Kind: smt.PtrStack})
		for i := range st {
			v, _ := m.Eval(z.Select(arr, z.BV(uint64(int64(i-interp.StackSize)), 64)))
			st[i] = byte(v)
			si[i] = true
		}
		in.Stack, in.StackInit = &st, &si
	}
	return in
}

// exitSlots: the largest slot past the end a window jumps to.
func maxExit(insns []bpf.Insn) int {
	total := bpf.SlotCount(insns)
	mx := 0
	slots := bpf.SlotOffsets(insns)
	for i := range insns {
		if t, ok := insns[i].JumpTarget(slots[i]); ok && t >= total {
			mx = max(mx, t-total)
		}
	}
	return mx
}

// padded appends landing pads for the window's exits (pad t at slot
// len+t), all jumping to tail (or exiting when tail is empty).
func padded(insns []bpf.Insn, pads int, tail []bpf.Insn) []bpf.Insn {
	out := append([]bpf.Insn(nil), insns...)
	for t := 0; t <= pads; t++ {
		if len(tail) == 0 {
			out = append(out, bpf.Exit())
		} else {
			out = append(out, bpf.Ja(int16(pads-t)))
		}
	}
	return append(out, tail...)
}

// exitOf replays the coverage of a window run to find which way it left.
func exitOf(insns []bpf.Insn, cover []bool) int {
	slots := bpf.SlotOffsets(insns)
	total := bpf.SlotCount(insns)
	idx := map[int]int{}
	for i, s := range slots {
		idx[s] = i
	}
	s := 0
	for steps := 0; steps <= len(insns); steps++ {
		if s >= total {
			return 1 + s - total
		}
		i, ok := idx[s]
		if !ok {
			return -1
		}
		x := insns[i]
		switch {
		case x.IsExit():
			return 0
		case x.IsUncondJump():
			s, _ = x.JumpTarget(s)
		case x.IsCondJump():
			if 2*s+1 < len(cover) && cover[2*s+1] {
				s, _ = x.JumpTarget(s)
			} else {
				s += x.Slots()
			}
		default:
			s += x.Slots()
		}
	}
	return -1
}

type side struct {
	out   interp.Output
	exit  int
	maps  [][]interp.KV
	mach  *interp.Machine
	insns []bpf.Insn
}

func (c *Checker) runSide(q *query, insns []bpf.Insn, in *interp.Input, pro []bpf.Insn) (*side, error) {
	pads := max(maxExit(q.a), maxExit(q.b))
	if q.window && len(insns) == 0 {
		// interp refuses an empty window run (a bad jump): run a NOP,
		// which leaves by the end like the empty window.
		insns = []bpf.Insn{bpf.Ja(0)}
	}
	prog := insns
	if q.window {
		prog = append(slices.Clone(pro), padded(insns, pads, nil)...)
	}
	p, err := interp.NewProgram("replay", q.typ, prog, q.maps)
	if err != nil {
		return nil, err
	}
	mach := interp.NewMachine(p, nil)
	mach.Coverage = q.window
	s := &side{mach: mach, insns: insns}
	if q.window {
		np := bpf.SlotCount(pro)
		s.out = mach.RunWindow(in, 0, np+bpf.SlotCount(insns))
		s.exit = exitOf(insns, s.out.Cover[2*np:])
	} else {
		s.out = mach.Run(in)
	}
	for i := range q.maps {
		s.maps = append(s.maps, mach.Contents(i))
	}
	return s, nil
}

// stackWord runs the window then reads the 8 stack bytes at r10+off.
func (c *Checker) stackWord(q *query, insns []bpf.Insn, in *interp.Input, off int, pro []bpf.Insn) (uint64, bool) {
	pads := max(maxExit(q.a), maxExit(q.b))
	prog := append(slices.Clone(pro), padded(insns, pads, []bpf.Insn{bpf.LdxDW(bpf.R0, bpf.R10, int16(off)), bpf.Exit()})...)
	p, err := interp.NewProgram("replay", q.typ, prog, q.maps)
	if err != nil {
		return 0, false
	}
	out := interp.NewMachine(p, nil).RunWindow(in, 0, bpf.SlotCount(prog))
	return out.R0, out.Fault.Ok()
}

func isTagged(v uint64) bool { return v>>52 == 0xff9 }

// replay builds the input from the model, runs A and B in the interpreter
// and reports whether they differ observably.
// stackDiffWords lists the 8-byte stack words (offsets from r10) that
// the model says differ at the end, so replay reads only those.
func (c *Checker) stackDiffWords(q *query, m smt.Model, exit int) []int {
	k := smt.RegionKey{Kind: smt.PtrStack}
	seen := map[int]bool{}
	var out []int
	for _, f := range []*smt.Final{q.fa, q.fb} {
		mem := f.Mem[k]
		if mem == nil {
			continue
		}
		for _, w := range mem.Writes {
			var off int64
			if w.KOK {
				off = w.KOff
			} else {
				v, _ := m.Eval(w.Off)
				off = int64(v)
			}
			if off < -interp.StackSize || off >= 0 || q.deadAt(exit, off, true) {
				continue
			}
			word := int(off) &^ 7
			if seen[word] {
				continue
			}
			a, _ := q.enc.ReadMem(q.fa, k, w.Key, w.Off, w.KOff, w.KOK)
			b, _ := q.enc.ReadMem(q.fb, k, w.Key, w.Off, w.KOff, w.KOK)
			va, _ := m.Eval(a)
			vb, _ := m.Eval(b)
			if va != vb {
				seen[word] = true
				out = append(out, word)
			}
		}
	}
	return out
}

func (c *Checker) replay(q *query, m smt.Model) (*Counterexample, bool, string) {
	// The machine only serves Pointer values, which are the same for
	// every machine.
	p0, err := interp.NewProgram("replay", q.typ, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, q.maps)
	if err != nil {
		return nil, false, err.Error()
	}
	in := c.input(q, m, interp.NewMachine(p0, nil))
	cex := &Counterexample{Input: in, Window: q.window}
	pro, err := c.prologue(q, m, in)
	if err != nil {
		return cex, false, "prologue: " + err.Error()
	}
	if pro != nil {
		cex.Prologue, cex.Window = pro, false
	}
	a, err := c.runSide(q, q.a, in, pro)
	if err != nil {
		return cex, false, "a: " + err.Error()
	}
	b, err := c.runSide(q, q.b, in, pro)
	if err != nil {
		return cex, false, "b: " + err.Error()
	}
	if !a.out.Fault.Ok() {
		return cex, false, "a faults: " + a.out.Fault.String()
	}
	d := func(format string, args ...any) (*Counterexample, bool, string) {
		cex.Diff = fmt.Sprintf(format, args...)
		return cex, true, ""
	}
	if !b.out.Fault.Ok() {
		return d("b faults (%s), a does not", b.out.Fault)
	}
	if q.window && a.exit != b.exit {
		return d("leaves the window by exit %d in a, %d in b", a.exit, b.exit)
	}
	if !q.window || a.exit == 0 {
		if a.out.R0 != b.out.R0 {
			return d("r0: a=%#x b=%#x", a.out.R0, b.out.R0)
		}
	} else {
		for _, r := range q.liveAt(a.exit).Regs() {
			if r == bpf.R10 || !a.out.RegInit.Has(r) {
				continue
			}
			if !b.out.RegInit.Has(r) {
				return d("r%d: a=%#x b=uninitialised", r, a.out.Regs[r])
			}
			if a.out.Regs[r] != b.out.Regs[r] {
				return d("r%d: a=%#x b=%#x", r, a.out.Regs[r], b.out.Regs[r])
			}
		}
	}
	if !bytes.Equal(a.out.Packet, b.out.Packet) {
		return d("packet: a=%x b=%x", a.out.Packet, b.out.Packet)
	}
	if !bytes.Equal(a.out.Aux, b.out.Aux) {
		// flow keys are the program's output, live at every exit
		return d("flow keys: a=%x b=%x", a.out.Aux, b.out.Aux)
	}
	for i := range a.maps {
		if !sameKVs(a.maps[i], b.maps[i]) {
			return d("map %d (%s) contents differ", i, q.maps[i].Name)
		}
	}
	if len(a.out.Calls) != len(b.out.Calls) {
		return d("helper calls: a made %d, b %d", len(a.out.Calls), len(b.out.Calls))
	}
	for i := range a.out.Calls {
		ca, cb := a.out.Calls[i], b.out.Calls[i]
		if ca.Helper != cb.Helper {
			return d("helper call %d: a calls %s, b %s", i, bpf.HelperName(ca.Helper), bpf.HelperName(cb.Helper))
		}
		for k := range ca.Args {
			if ca.Args[k] != cb.Args[k] && !isTagged(ca.Args[k]) && !isTagged(cb.Args[k]) {
				return d("helper call %d (%s): argument %d a=%#x b=%#x", i, bpf.HelperName(ca.Helper), k+1, ca.Args[k], cb.Args[k])
			}
		}
	}
	if q.window && a.exit != 0 {
		for _, off := range c.stackDiffWords(q, m, a.exit) {
			va, oka := c.stackWord(q, q.a, in, off, pro)
			vb, okb := c.stackWord(q, q.b, in, off, pro)
			// Only the bytes live at this exit count.
			live := q.liveBytes(a.exit, off)
			if oka && okb && va&live != vb&live {
				if live != ^uint64(0) {
					return d("stack at r10%+d: a=%#x b=%#x (live bytes %#x)", off, va, vb, live)
				}
				return d("stack at r10%+d: a=%#x b=%#x", off, va, vb)
			}
		}
	}
	if q.window && a.exit != 0 {
		if diff, ok := c.ctxDiff(q, m, in, pro, a.mach); ok {
			return d("%s", diff)
		}
	}
	if pro != nil && !q.liveIn.Has(bpf.R0) {
		// The prologue's lookups leave r0 initialised, which the window
		// input does not: a difference in reading it is not replayable.
		return nil, false, "not replayable: r0 uninitialised on entry after a map-lookup prologue"
	}
	return cex, false, "no observable difference"
}

func sameKVs(a, b []interp.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

var _ = binary.LittleEndian
var _ = ebpf.XDP
