package equiv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/smt"
)

// extWindowMaps is the map list the checker uses for w (the window's maps
// plus those of map-value live-ins).
func extWindowMaps(w *Window) []interp.MapSpec {
	maps := slices.Clone(w.Maps)
	for _, r := range w.LiveIn.Regs() {
		p := w.Pre[r]
		if r == bpf.R10 || p.Kind != smt.PtrMapVal {
			continue
		}
		ref := p.Map
		if p.MapUnsure {
			ref = unsureRef(ref)
		}
		if mapIndex(maps, ref) < 0 {
			maps = append(maps, interp.MapSpec{Name: ref.Name, Type: ref.Type, KeySize: ref.KeySize,
				ValueSize: ref.ValueSize, MaxEntries: ref.MaxEntries, ReadOnly: ref.ReadOnly})
		}
	}
	return maps
}

// randomVar draws a variable offset within p's bounds (small when unbounded).
func randomVar(rng *rand.Rand, p RegPre) (uint64, bool) {
	hi := p.Umax
	if hi == 0 {
		hi = 63
	}
	for range 20 {
		v := p.Umin + rng.Uint64N(hi-p.Umin+1)
		v = v&^p.Known | p.Value&p.Known
		if v >= p.Umin && v <= hi {
			return v, true
		}
	}
	return 0, false
}

// randomExtInput draws an input satisfying w's precondition, including
// the extended kinds; map-value pointers (keys 0 and 1 of their map, so
// that two of one map alias often) are made by the returned prologue.
func randomExtInput(rng *rand.Rand, w *Window, maps []interp.MapSpec, mach *interp.Machine) (*interp.Input, []bpf.Insn, []mapLiveIn, bool) {
	in := &interp.Input{Maps: make([][]interp.KV, len(maps))}
	for i := range maps {
		if maps[i].Contents == nil {
			in.Maps[i] = []interp.KV{}
		}
	}
	need := int64(0)
	var ptrs []mapLiveIn
	var ends []bpf.Reg
	var slots []*mapLiveIn // per map-value live-in in order; nil: NULL
	ptrs = make([]mapLiveIn, 0, bpf.NumRegs)
	for _, r := range w.LiveIn.Regs() {
		if r == bpf.R10 {
			continue
		}
		p := w.Pre[r]
		switch {
		case p.Kind == smt.Scalar:
			v, ok := randomVar(rng, RegPre{Known: p.Known, Value: p.Value, Umin: p.Umin, Umax: max(p.Umax, p.Umin)})
			if p.Umax == 0 {
				v = interp.RandValue(rng)&^p.Known | p.Value&p.Known
				ok = v >= p.Umin
			}
			if !ok {
				return nil, nil, nil, false
			}
			in.Regs[r] = v
		case p.Kind == smt.Opaque:
			in.Regs[r] = interp.RandValue(rng)
		case p.Kind == smt.PtrStack:
			in.Regs[r] = mach.Pointer(interp.RegionStack, interp.StackSize+int(p.Off))
		case p.Kind == smt.PtrCtx:
			in.Regs[r] = mach.Pointer(interp.RegionCtx, int(p.Off))
		case p.Kind == smt.PtrAux:
			in.Regs[r] = mach.Pointer(interp.RegionAux, int(p.Off))
		case p.Kind == smt.PtrPacket && p.PktEnd:
			ends = append(ends, r)
		case p.Kind == smt.PtrPacket:
			off := p.Off
			if p.VarOff {
				v, ok := randomVar(rng, p)
				if !ok {
					return nil, nil, nil, false
				}
				off += int64(v)
			}
			in.Regs[r] = mach.Pointer(interp.RegionPacket, int(off))
			if p.Off+p.Range > 0 {
				need = max(need, off+p.Range)
			}
		case p.Kind == smt.PtrMapVal:
			if p.Null && rng.IntN(4) == 0 {
				slots = append(slots, nil)
				continue
			}
			ref := p.Map
			if p.MapUnsure {
				ref = unsureRef(ref)
			}
			mi := mapIndex(maps, ref)
			ms := &maps[mi]
			idx := uint32(rng.IntN(2))
			if ms.Type.String() != "" && lookupArray(ms) {
				idx %= ms.MaxEntries
			}
			key := make([]byte, ms.KeySize)
			for i := range min(4, len(key)) {
				key[i] = byte(idx >> (8 * i))
			}
			found := false
			for _, kv := range in.Maps[mi] {
				found = found || bytes.Equal(kv.Key, key)
			}
			if !found {
				val := make([]byte, ms.ValueSize)
				for i := range val {
					val[i] = byte(rng.Uint32())
				}
				in.Maps[mi] = append(in.Maps[mi], interp.KV{Key: key, Value: val})
			}
			off := p.Off
			if p.VarOff {
				v, ok := randomVar(rng, p)
				if !ok {
					return nil, nil, nil, false
				}
				off += int64(v)
			}
			ptrs = append(ptrs, mapLiveIn{reg: r, mi: mi, key: key, off: off})
			slots = append(slots, &ptrs[len(ptrs)-1])
		default:
			return nil, nil, nil, false
		}
	}
	in.RegInit = w.LiveIn &^ bpf.RegsOf(bpf.R10)
	var st [interp.StackSize]byte
	var si [interp.StackSize]bool
	for i := range st {
		st[i] = byte(rng.Uint32())
		si[i] = true
	}
	if len(slots) > testMaxMaps {
		return nil, nil, nil, false
	}
	for i, p := range slots {
		if p == nil {
			st[testNull(i)] = 1
			continue
		}
		if len(p.key) > testMaxKey {
			return nil, nil, nil, false
		}
		copy(st[testKey(i):], p.key)
		binary.LittleEndian.PutUint64(st[testOff(i):], uint64(p.off))
		st[testNull(i)] = 0
	}
	in.Stack, in.StackInit = &st, &si
	in.Packet = make([]byte, int(need)+rng.IntN(64))
	for i := range in.Packet {
		in.Packet[i] = byte(rng.Uint32())
	}
	for _, r := range ends {
		in.Regs[r] = mach.Pointer(interp.RegionPacket, len(in.Packet))
	}
	in.Ctx = make([]byte, interp.CtxSize(w.Type))
	for i := range in.Ctx {
		in.Ctx[i] = byte(rng.Uint32())
	}
	in.Aux = randomAux(rng, w.Type)
	return in, nil, ptrs, true
}

// Scratch stack layout of the test prologue (offsets into the stack
// array): per map live-in i a 64-byte key, an 8-byte offset and a NULL
// flag; then spill slots for r0-r9.
func testKey(i int) int  { return 48 * i }
func testOff(i int) int  { return 48*i + 32 }
func testNull(i int) int { return 48*i + 40 }
func testSpill(r bpf.Reg) int {
	return 48*testMaxMaps + 8*int(r)
}

// testMaxMaps and testMaxKey bound the map live-ins the test prologue
// takes.
const testMaxMaps, testMaxKey = 4, 32

// testPrologue makes the map-value live-ins of w from the keys, offsets
// and NULL flags the input has in its stack (see randomExtInput), keeping
// the other registers: its code depends on the window only, so machines
// are reused across inputs. regs lists the map-value live-ins in order.
func testPrologue(w *Window, maps []interp.MapSpec) (pro []bpf.Insn, regs []bpf.Reg) {
	fp := func(off int) int16 { return int16(off - interp.StackSize) }
	for r := bpf.R0; r <= bpf.R5; r++ {
		if w.LiveIn.Has(r) {
			pro = append(pro, bpf.StxDW(bpf.R10, r, fp(testSpill(r))))
		}
	}
	for _, r := range w.LiveIn.Regs() {
		p := w.Pre[r]
		if r == bpf.R10 || p.Kind != smt.PtrMapVal {
			continue
		}
		ref := p.Map
		if p.MapUnsure {
			ref = unsureRef(ref)
		}
		i := len(regs)
		regs = append(regs, r)
		pro = append(pro,
			bpf.Mov64Imm(bpf.R0, 0),
			bpf.LdxB(bpf.R1, bpf.R10, fp(testNull(i))),
			bpf.JneImm(bpf.R1, 0, 7),
			bpf.LdMapFD(bpf.R1, int32(mapIndex(maps, ref))), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, int32(fp(testKey(i)))),
			bpf.Call(1), bpf.LdxDW(bpf.R1, bpf.R10, fp(testOff(i))), bpf.Add64Reg(bpf.R0, bpf.R1),
			bpf.StxDW(bpf.R10, bpf.R0, fp(testSpill(r))))
	}
	for _, r := range w.LiveIn.Regs() {
		if r <= bpf.R5 || slices.Contains(regs, r) {
			pro = append(pro, bpf.LdxDW(r, bpf.R10, fp(testSpill(r))))
		}
	}
	return pro, regs
}

// valueHashTail hashes the values of ptrs' keys into r0 (a lookup per
// key after the window; reading whole map contents is too slow for big
// arrays).
func valueHashTail(ptrs []mapLiveIn, maps []interp.MapSpec) []bpf.Insn {
	out := []bpf.Insn{bpf.Mov64Imm(bpf.R6, 0)}
	for _, p := range ptrs {
		for i, b := range p.key {
			out = append(out, bpf.StB(bpf.R10, int16(scratchLo+i), int32(b)))
		}
		vs := int(maps[p.mi].ValueSize)
		out = append(out, bpf.LdMapFD(bpf.R1, int32(p.mi)), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, scratchLo),
			bpf.Call(1), bpf.JeqImm(bpf.R0, 0, int16(3*vs)))
		for off := range vs {
			out = append(out, bpf.LdxB(bpf.R1, bpf.R0, int16(off)), bpf.Mul64Imm(bpf.R6, 31), bpf.Add64Reg(bpf.R6, bpf.R1))
		}
	}
	return append(out, bpf.Mov64Reg(bpf.R0, bpf.R6), bpf.Exit())
}

func lookupArray(ms *interp.MapSpec) bool {
	return mapInfos([]interp.MapSpec{*ms})[0].Array
}

// agreeExt is agree for windows with extended live-ins: each input gets
// its own programs (the prologue depends on it); map contents are
// compared too.
func agreeExt(t *testing.T, rng *rand.Rand, w *Window, n int) (differ, ran int) {
	t.Helper()
	maps := extWindowMaps(w)
	pads := max(maxExit(w.A), maxExit(w.B))
	p0, err := interp.NewProgram("p0", w.Type, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, maps)
	if err != nil {
		t.Fatalf("%v", err)
	}
	m0 := interp.NewMachine(p0, nil)
	pro, _ := testPrologue(w, maps)
	machines := map[string]*interp.Machine{}
	type res struct {
		out  interp.Output
		exit int
		pkt  []byte
		aux  []byte
	}
	run := func(pro, insns []bpf.Insn, in *interp.Input, off int, tail []bpf.Insn) res {
		if off != 0 {
			tail = []bpf.Insn{bpf.LdxDW(bpf.R0, bpf.R10, int16(off)), bpf.Exit()}
		}
		prog := append(slices.Clone(pro), padded(insns, pads, tail)...)
		k := fmt.Sprint(prog)
		m := machines[k]
		if m == nil {
			p, err := interp.NewProgram("w", w.Type, prog, maps)
			if err != nil {
				t.Fatalf("%v", err)
			}
			m = interp.NewMachine(p, nil)
			m.Coverage = true
			machines[k] = m
		}
		np := bpf.SlotCount(pro)
		end := np + bpf.SlotCount(insns)
		if tail != nil {
			end = bpf.SlotCount(prog)
		}
		o := m.RunWindow(in, 0, end)
		r := res{out: o, pkt: bytes.Clone(o.Packet), aux: bytes.Clone(o.Aux)}
		r.exit = exitOf(insns, o.Cover[2*np:])
		return r
	}
	for range n {
		in, _, ptrs, ok := randomExtInput(rng, w, maps, m0)
		if !ok {
			continue
		}
		a := run(pro, w.A, in, 0, nil)
		if !a.out.Fault.Ok() {
			continue
		}
		ran++
		b := run(pro, w.B, in, 0, nil)
		bad := !b.out.Fault.Ok() || a.exit != b.exit || !bytes.Equal(a.pkt, b.pkt) || !bytes.Equal(a.aux, b.aux)
		for _, r := range w.LiveOut.Regs() {
			if a.out.RegInit.Has(r) && (!b.out.RegInit.Has(r) || a.out.Regs[r] != b.out.Regs[r]) {
				bad = true
			}
		}
		if !bad && len(ptrs) > 0 && a.exit != 0 {
			// the values of the live-in keys after the window
			tail := valueHashTail(ptrs, maps)
			ha, hb := run(pro, w.A, in, 0, tail).out, run(pro, w.B, in, 0, tail).out
			bad = ha.R0 != hb.R0 || ha.Fault.Ok() != hb.Fault.Ok()
		}
		if !bad && !w.StackDead && a.exit != 0 {
			off := -8 * (1 + rng.IntN(64))
			bad = run(pro, w.A, in, off, nil).out.R0 != run(pro, w.B, in, off, nil).out.R0
		}
		if bad {
			differ++
		}
	}
	return differ, ran
}

// TestPropertyPointerLiveIns runs the random-rewrite property on corpus
// windows that have live-ins of the extended kinds only.
func TestPropertyPointerLiveIns(t *testing.T) {
	n := 120
	if testing.Short() {
		n = 30
	}
	propertyFiltered(t, 7, n, 10000, hasExtPre)
}

// TestAgreeExtDetects: the random-input oracle of the property test sees
// the differences of not-equal table cases (else its "agreed on 10,000
// inputs" would prove nothing).
func TestAgreeExtDetects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	names := []string{"map values of one map may alias", "array values of one map may alias", "NULL map value: check dropped",
		"reload after a store through another value", "map value store dropped", "data_end bound removed",
		"variable packet offset aliases a constant one", "map value variable offset: aliasing", "opaque replaced by a constant"}
	for _, name := range names {
		i := slices.IndexFunc(ptrCases, func(c tcase) bool { return c.name == name })
		if i < 0 {
			t.Fatalf("no case %q", name)
		}
		c := ptrCases[i]
		w := &Window{A: c.a, B: c.b, LiveIn: c.in, LiveOut: c.out, StackDead: c.dead, Type: ebpf.XDP, Maps: c.maps}
		for r, p := range c.pre {
			w.Pre[r] = p
		}
		d, ran := agreeExt(t, rng, w, 2000)
		if d == 0 || ran == 0 {
			t.Errorf("%s: the oracle saw no difference on %d inputs", name, ran)
		}
	}
}
