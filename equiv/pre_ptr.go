package equiv

// Live-in pointers beyond constant-offset stack/ctx/packet pointers:
// data_end, packet pointers with a variable offset, map values (maybe
// NULL), and opaque values (types the encoder does not model, or that
// differ by path).
//
// Soundness:
//   - All packet pointers are offsets from one symbolic data pointer into
//     one packet array, so they alias exactly. A variable offset is a
//     fresh symbol within the verifier's bounds (|var| < 2^29 always; the
//     summary's tnum and range when safety joined a single state).
//   - Map values are pointers into the per-map value memory keyed by a
//     fresh symbolic key per register: two live-ins of one map (or a
//     live-in and a lookup inside the window) alias exactly when their
//     keys are equal, which the solver is free to choose. Different maps
//     and different region kinds never alias.
//   - A NULL-able map value has a symbolic NULL flag (value 0): A never
//     dereferences it unchecked on inputs where it does not fault, and B
//     must not fault where A does not.
//   - An opaque value is an unconstrained bit-vector the encoder never
//     dereferences nor passes to helpers (Unsupported); agreement for
//     every bit-vector implies agreement for the real one.
//
// Counterexamples: interp cannot take a map-value pointer as a window
// input register (value regions exist only after a lookup), so the
// replay prepends a prologue that writes each key on the stack, looks it
// up, adds the offset, spills the pointers, reloads them into their
// registers, restores r0-r5 and the scratch stack bytes. The
// Counterexample then carries the prologue (Window is false).

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
)

// MapRef names the map a live-in map-value pointer points into; live-ins
// with the same Name point into the same map.
type MapRef struct {
	Name                           string
	Type                           ebpf.MapType
	KeySize, ValueSize, MaxEntries uint32
	ReadOnly                       bool
}

// maxVarOff bounds every pointer's variable offset (the verifier's
// BPF_MAX_VAR_OFF, 1<<29) plus its fixed offset.
const maxVarOff = 1 << 30

var negMaxVarOff = func() uint64 { n := int64(-maxVarOff); return uint64(n) }()

// ext reports whether p needs preValExt.
func (p *RegPre) ext() bool {
	switch p.Kind {
	case smt.PtrMapVal, smt.Opaque:
		return true
	case smt.PtrPacket:
		return p.VarOff || p.PktEnd
	}
	return false
}

// hasExtPre reports whether a window has a live-in of an extended kind.
func hasExtPre(w *Window) bool {
	for _, r := range w.LiveIn.Regs() {
		if r != bpf.R10 && w.Pre[r].ext() {
			return true
		}
	}
	return false
}

// hasMapPre reports whether a window has a map-value live-in.
func hasMapPre(w *Window) bool {
	for _, r := range w.LiveIn.Regs() {
		if r != bpf.R10 && w.Pre[r].Kind == smt.PtrMapVal {
			return true
		}
	}
	return false
}

// lookupable: maps whose lookups both the encoder and interp treat as a
// key -> value table (LPM tries match prefixes; others are not tables).
func lookupable(t ebpf.MapType) bool {
	switch t {
	case ebpf.Hash, ebpf.Array, ebpf.PerCPUHash, ebpf.PerCPUArray, ebpf.LRUHash, ebpf.LRUCPUHash:
		return true
	}
	return false
}

// liveInMap: maps whose values a live-in pointer may point into: the
// lookupable ones and LPM tries, whose values are per-key regions like a
// hash map's; lookups of an LPM trie are not modelled (smt NoLookup), and
// extMaps allows one live-in of an LPM trie per window (two keys of one
// trie may find the same value).
func liveInMap(t ebpf.MapType) bool {
	return lookupable(t) || t == ebpf.LPMTrie
}

func sameShape(m *interp.MapSpec, ref MapRef) bool {
	return m.Type == ref.Type && m.KeySize == ref.KeySize && m.ValueSize == ref.ValueSize &&
		m.MaxEntries == ref.MaxEntries && m.ReadOnly == ref.ReadOnly
}

// mapIndex finds ref in maps by name (-1: absent).
func mapIndex(maps []interp.MapSpec, ref MapRef) int {
	for i := range maps {
		if maps[i].Name == ref.Name {
			return i
		}
	}
	return -1
}

// extState keeps the symbols of the extended live-ins for the replay.
type extState struct {
	mapIdx [bpf.NumRegs]int
	key    [bpf.NumRegs]smt.Term // map values: key bits
	null   [bpf.NumRegs]smt.Term // map values that may be NULL: Bool
	varOff [bpf.NumRegs]smt.Term // variable offsets
	scopes int                   // solver scopes check left pushed
	why    string                // Unknown reason set by check
}

// extMaps adds the maps of map-value live-ins to the query's maps (the
// window's own, matched by name, else appended) and the encoder's.
func (q *query) extMaps(w *Window) error {
	if !hasMapPre(w) {
		return nil
	}
	maps := slices.Clone(q.maps)
	for _, r := range w.LiveIn.Regs() {
		p := w.Pre[r]
		if r == bpf.R10 || p.Kind != smt.PtrMapVal {
			continue
		}
		ref := p.Map
		if !liveInMap(ref.Type) || ref.KeySize == 0 || ref.ValueSize == 0 {
			return fmt.Errorf("live-in r%d: value of map %q (%s) not supported", r, ref.Name, ref.Type)
		}
		if ref.Type == ebpf.LPMTrie {
			for _, o := range w.LiveIn.Regs() {
				if o != r && o != bpf.R10 && w.Pre[o].Kind == smt.PtrMapVal && w.Pre[o].Map.Name == ref.Name {
					return fmt.Errorf("live-in r%d: two values of LPM trie %q", r, ref.Name)
				}
			}
		}
		if p.MapUnsure {
			// A private region: sound only if nothing else in the
			// window can point into a map.
			if err := soleMapPointer(w, r); err != nil {
				return err
			}
			ref = unsureRef(ref)
		}
		i := mapIndex(maps, ref)
		if i < 0 {
			maps = append(maps, interp.MapSpec{Name: ref.Name, Type: ref.Type, KeySize: ref.KeySize,
				ValueSize: ref.ValueSize, MaxEntries: ref.MaxEntries, ReadOnly: ref.ReadOnly})
		} else if !sameShape(&maps[i], ref) {
			return fmt.Errorf("live-in r%d: map %q differs from the window's map of that name", r, ref.Name)
		}
	}
	q.maps = maps
	q.enc.Cfg.Maps = mapInfos(maps)
	for i := range maps {
		q.enc.Cfg.Maps[i].Unsure = len(maps[i].Name) > 0 && maps[i].Name[0] == '?'
	}
	return nil
}

// memRef is the private map whose values stand for sized memory ('@' is
// not in C identifiers, so no real map has such a name).
func memRef(size int32) MapRef {
	return MapRef{Name: fmt.Sprintf("@mem%d", size), Type: ebpf.Hash, KeySize: 4, ValueSize: uint32(size), MaxEntries: 64}
}

// unsureRef is the private map of a map value whose map is not known.
func unsureRef(ref MapRef) MapRef {
	ref.Name = "?" + ref.Name
	return ref
}

// soleMapPointer: r is the window's only live-in map value, and neither
// side makes calls (lookups) or loads map-value addresses.
func soleMapPointer(w *Window, r bpf.Reg) error {
	for _, o := range w.LiveIn.Regs() {
		if o != r && o != bpf.R10 && w.Pre[o].Kind == smt.PtrMapVal {
			return fmt.Errorf("live-in r%d: map value of an unsure map next to another map value (r%d)", r, o)
		}
	}
	for _, insns := range [][]bpf.Insn{w.A, w.B} {
		for _, x := range insns {
			p := x.Info().Pseudo
			if x.IsCall() || x.IsLdImm64() && (p == bpf.PseudoMapValue || p == bpf.PseudoMapIdxValue) {
				return fmt.Errorf("live-in r%d: map value of an unsure map in a window with calls or map values", r)
			}
		}
	}
	return nil
}

// varOff is a pointer's offset: Off plus, with VarOff, a fresh variable
// within the precondition's bounds.
func (c *Checker) varOff(q *query, r bpf.Reg, p RegPre) (smt.Term, []smt.Term) {
	z := c.ctx
	if !p.VarOff {
		return z.BV(uint64(p.Off), 64), nil
	}
	v := q.enc.Sym(fmt.Sprintf("ptrvar_r%d", r))
	q.ext.varOff[r] = v
	cons := []smt.Term{z.SLT(v, z.BV(maxVarOff, 64)), z.SGT(v, z.BV(negMaxVarOff, 64))}
	if p.Known != 0 {
		cons = append(cons, z.Eq(z.BVAnd(v, z.BV(p.Known, 64)), z.BV(p.Value&p.Known, 64)))
	}
	if p.Umin != 0 {
		cons = append(cons, z.UGE(v, z.BV(p.Umin, 64)))
	}
	if p.Umax != 0 && p.Umax != math.MaxUint64 {
		cons = append(cons, z.ULE(v, z.BV(p.Umax, 64)))
	}
	return z.Add(v, z.BV(uint64(p.Off), 64)), cons
}

// preValExt builds a live-in register of an extended kind.
func (c *Checker) preValExt(q *query, r bpf.Reg, p RegPre) (smt.Val, []smt.Term, error) {
	enc, z := q.enc, c.ctx
	if q.ext == nil {
		q.ext = &extState{}
	}
	switch p.Kind {
	case smt.Opaque:
		return enc.OpaqueVal(enc.Sym(regName[r])), nil, nil
	case smt.PtrPacket:
		if !hasPacket(q.typ) {
			return smt.Val{}, nil, fmt.Errorf("live-in r%d: packet pointer in a program type without a packet", r)
		}
		if p.PktEnd {
			if p.Off != 0 || p.VarOff {
				return smt.Val{}, nil, fmt.Errorf("live-in r%d: data_end with an offset", r)
			}
			return enc.PtrVal(smt.PtrPacket, enc.PktBase(), enc.PktLen(), 0, false), nil, nil
		}
		off, cons := c.varOff(q, r, p)
		if p.Off+p.Range > 0 {
			// the verifier checked [base+var, base+var+Off+Range) against data_end
			cons = append(cons, z.UGE(enc.PktLen(), z.Add(off, z.BV(uint64(p.Range), 64))))
		}
		return enc.PtrVal(smt.PtrPacket, enc.PktBase(), off, 0, false), cons, nil
	case smt.PtrMapVal:
		ref := p.Map
		if p.MapUnsure {
			ref = unsureRef(ref)
		}
		mi := mapIndex(q.maps, ref)
		if mi < 0 {
			return smt.Val{}, nil, fmt.Errorf("live-in r%d: map %q unknown", r, p.Map.Name)
		}
		key := z.BVConst(fmt.Sprintf("mapkey_r%d", r), 8*int(p.Map.KeySize))
		null := enc.False()
		if p.Null {
			null = z.Const(fmt.Sprintf("mapnull_r%d", r), z.BoolSort())
			q.ext.null[r] = null
		}
		q.ext.mapIdx[r], q.ext.key[r] = mi, key
		off, cons := c.varOff(q, r, p)
		v := enc.MapValPtr(mi, key, off, p.Off, !p.VarOff, null)
		cons = append(cons, z.Or(null, enc.Present(mi, key)))
		if p.Map.Type == ebpf.LPMTrie && p.Map.KeySize > 4 {
			// a valid prefix length, so that the replay's lookup finds it
			cons = append(cons, z.ULE(z.Extract(31, 0, key), z.BV(uint64(8*(p.Map.KeySize-4)), 32)))
		}
		return v, cons, nil
	}
	return smt.Val{}, nil, fmt.Errorf("live-in r%d: precondition kind %s not supported", r, p.Kind)
}

// preFromSafetyExt is PreFromSafety for the extended kinds: handled
// reports whether g is one of them; ok false declines the window.
func preFromSafetyExt(s *safety.Summary, g *safety.Reg) (p RegPre, handled, ok bool) {
	// A summary joined from several states may name one map for values of
	// different maps and misplace offsets folded into V (safety's
	// summarize), so its pointer details are trusted only for one state,
	// or when the fixed offset is not 0 (a fold sets it to 0).
	exact := s.Paths <= 1 || g.Off != 0
	switch g.Type {
	case safety.ScalarValue, safety.PtrStack, safety.PtrCtx, safety.PtrFlowKeys:
		if g.Type != safety.ScalarValue && (!g.V.IsConst() || g.V.T.Value != 0 || g.Null ||
			g.Type == safety.PtrStack && g.Frame != 0) {
			return RegPre{Kind: smt.Opaque}, true, true
		}
		return p, false, false
	case safety.PtrPacket:
		if g.Null {
			return RegPre{Kind: smt.Opaque}, true, true
		}
		if g.V.IsConst() && g.V.T.Value == 0 {
			return p, false, false
		}
		p = RegPre{Kind: smt.PtrPacket, VarOff: true, Off: int64(g.Off)}
		if exact {
			v := g.V
			p.Known, p.Value, p.Umin = ^v.T.Mask, v.T.Value, v.Umin
			if v.Umax != math.MaxUint64 {
				p.Umax = v.Umax
			}
			p.Range = int64(g.Range) - int64(g.Off)
		} else {
			p.Off = 0 // offsets folded into V: any offset within the verifier's limit
		}
		return p, true, true
	case safety.PtrPacketEnd:
		if g.Null || g.Off != 0 || !g.V.IsConst() || g.V.T.Value != 0 {
			return RegPre{Kind: smt.Opaque}, true, true
		}
		return RegPre{Kind: smt.PtrPacket, PktEnd: true}, true, true
	case safety.PtrMapValue:
		m := g.Map
		if m == nil || !liveInMap(m.Type) || m.KeySize == 0 || m.ValueSize == 0 {
			return RegPre{Kind: smt.Opaque}, true, true
		}
		p = RegPre{Kind: smt.PtrMapVal, Off: int64(g.Off), Null: g.Null,
			Map: MapRef{Name: m.Name, Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize,
				MaxEntries: m.MaxEntries, ReadOnly: m.ReadOnly}}
		if !exact {
			// one of several maps: a private region of symbolic size
			p.MapUnsure = true
			if !g.V.IsConst() || g.V.T.Value != 0 {
				p.VarOff = true // offsets folded into V: any within the verifier's limit
			}
			return p, true, true
		}
		if !g.V.IsConst() || g.V.T.Value != 0 {
			v := g.V
			p.VarOff = true
			p.Known, p.Value, p.Umin = ^v.T.Mask, v.T.Value, v.Umin
			if v.Umax != math.MaxUint64 {
				p.Umax = v.Umax
			}
		}
		return p, true, true
	case safety.PtrMem:
		// Sized memory (a ringbuf sample, a helper's buffer): the value
		// of a private map of that size, so that two live-ins alias when
		// the solver picks one key (r7 = sample+40 next to r8 = sample).
		// A joined summary keeps one path's size: trusted for one state.
		if s.Paths > 1 || g.Size <= 0 {
			return RegPre{Kind: smt.Opaque}, true, true
		}
		p = RegPre{Kind: smt.PtrMapVal, Off: int64(g.Off), Null: g.Null, Map: memRef(g.Size)}
		if !g.V.IsConst() || g.V.T.Value != 0 {
			v := g.V
			p.VarOff = true
			p.Known, p.Value, p.Umin = ^v.T.Mask, v.T.Value, v.Umin
			if v.Umax != math.MaxUint64 {
				p.Umax = v.Umax
			}
		}
		return p, true, true
	}
	// mixed, data_meta, sockets, map handles...
	return RegPre{Kind: smt.Opaque}, true, true
}

// extRegInput sets a window input register of an extended kind from the
// model (map values: their NULL value; the prologue makes the others).
func (c *Checker) extRegInput(q *query, m smt.Model, mach *interp.Machine, in *interp.Input, r bpf.Reg, p RegPre) {
	enc := q.enc
	switch p.Kind {
	case smt.Opaque:
		in.Regs[r], _ = m.Eval(enc.Sym(regName[r]))
	case smt.PtrPacket:
		if p.PktEnd {
			in.Regs[r] = mach.Pointer(interp.RegionPacket, len(in.Packet))
			return
		}
		in.Regs[r] = mach.Pointer(interp.RegionPacket, int(c.offIn(q, m, r, p)))
	case smt.PtrMapVal:
		in.Regs[r] = 0
	}
}

// offIn is a pointer's offset in the model.
func (c *Checker) offIn(q *query, m smt.Model, r bpf.Reg, p RegPre) int64 {
	off := p.Off
	if p.VarOff && q.ext != nil && q.ext.varOff[r] != (smt.Term{}) {
		v, _ := m.Eval(q.ext.varOff[r])
		off += int64(v)
	}
	return off
}

// mapLiveIn is a map-value pointer a prologue makes.
type mapLiveIn struct {
	reg bpf.Reg
	mi  int
	key []byte
	off int64
}

// scratch: the stack bytes a prologue uses (keys, then spill slots).
const scratchLo = -interp.StackSize

// buildPrologue makes ptrs' registers hold pointers to their map values
// (the map input must hold the keys), then restores the other live-in
// registers of r0-r5 from in.Regs and the scratch stack bytes from
// in.Stack. It returns nil when there is nothing to make.
func buildPrologue(in *interp.Input, liveIn bpf.RegSet, ptrs []mapLiveIn) ([]bpf.Insn, error) {
	if len(ptrs) == 0 {
		return nil, nil
	}
	keyLen := 0
	for _, p := range ptrs {
		keyLen = max(keyLen, (len(p.key)+7)&^7)
	}
	spill := func(r bpf.Reg) int16 { return int16(scratchLo + keyLen + 8*int(r)) }
	used := keyLen + 8*int(bpf.R10)
	if used > interp.StackSize/2 {
		return nil, fmt.Errorf("map keys of %d bytes too long for a replay prologue", keyLen)
	}
	var out []bpf.Insn
	made := bpf.RegSet(0)
	for _, p := range ptrs {
		for i, b := range p.key {
			out = append(out, bpf.StB(bpf.R10, int16(scratchLo+i), int32(b)))
		}
		out = append(out, bpf.LdMapFD(bpf.R1, int32(p.mi)), bpf.Mov64Reg(bpf.R2, bpf.R10),
			bpf.Add64Imm(bpf.R2, scratchLo), bpf.Call(1))
		if p.off != 0 {
			if p.off != int64(int32(p.off)) {
				return nil, fmt.Errorf("map value offset %d out of range", p.off)
			}
			out = append(out, bpf.Add64Imm(bpf.R0, int32(p.off)))
		}
		out = append(out, bpf.StxDW(bpf.R10, bpf.R0, spill(p.reg)))
		made |= bpf.RegsOf(p.reg)
	}
	for _, p := range ptrs {
		out = append(out, bpf.LdxDW(p.reg, bpf.R10, spill(p.reg)))
	}
	for r := bpf.R0; r <= bpf.R5; r++ {
		if liveIn.Has(r) && !made.Has(r) {
			out = append(out, bpf.LdImm64(r, in.Regs[r]))
		}
	}
	var st [interp.StackSize]byte
	if in.Stack != nil {
		st = *in.Stack
	}
	for i := 0; i < used; i++ {
		out = append(out, bpf.StB(bpf.R10, int16(scratchLo+i), int32(st[i])))
	}
	return out, nil
}

// prologue builds the replay prologue for the model's map-value live-ins
// and adds their entries to in.Maps.
func (c *Checker) prologue(q *query, m smt.Model, in *interp.Input) ([]bpf.Insn, error) {
	if q.ext == nil || !q.window {
		return nil, nil
	}
	z := c.ctx
	var ptrs []mapLiveIn
	for _, r := range q.liveIn.Regs() {
		p := q.regPre[r]
		if r == bpf.R10 || p.Kind != smt.PtrMapVal {
			continue
		}
		if n := q.ext.null[r]; n != (smt.Term{}) {
			if isNull, _ := m.EvalBool(n); isNull {
				in.Regs[r] = 0
				continue
			}
		}
		mi := q.ext.mapIdx[r]
		ms := &q.maps[mi]
		key := q.ext.key[r]
		kb := make([]byte, ms.KeySize)
		for i := range kb {
			v, _ := m.Eval(z.Extract(8*i+7, 8*i, key))
			kb[i] = byte(v)
		}
		if len(in.Maps) <= mi {
			in.Maps = append(in.Maps, make([][]interp.KV, mi+1-len(in.Maps))...)
		}
		found := false
		for _, kv := range in.Maps[mi] {
			if string(kv.Key) == string(kb) {
				found = true
			}
		}
		if !found {
			vb := make([]byte, ms.ValueSize)
			arr := q.enc.Array(smt.RegionKey{Kind: smt.PtrMapVal, Map: mi})
			for i := range vb {
				v, _ := m.Eval(z.Select(arr, z.Concat(key, z.BV(uint64(i), 64))))
				vb[i] = byte(v)
			}
			in.Maps[mi] = append(in.Maps[mi], interp.KV{Key: kb, Value: vb})
		}
		ptrs = append(ptrs, mapLiveIn{reg: r, mi: mi, key: kb, off: c.offIn(q, m, r, p)})
	}
	return buildPrologue(in, q.liveIn, ptrs)
}

// appendPreExt serialises the extended precondition fields for the cache
// keys: the flags, and for map values the map's shape, name and which of
// the window's maps it is (aliasing with ld_imm64 maps depends on it).
func appendPreExt(b []byte, p *RegPre, maps []interp.MapSpec) []byte {
	if !p.VarOff && !p.PktEnd && !p.Null && !p.MapUnsure && p.Map == (MapRef{}) {
		return b
	}
	b = append(b, 0xfd, boolByte(p.VarOff), boolByte(p.PktEnd), boolByte(p.Null), boolByte(p.MapUnsure))
	if p.Map != (MapRef{}) {
		m := &p.Map
		b = binary.LittleEndian.AppendUint32(b, uint32(m.Type))
		b = binary.LittleEndian.AppendUint32(b, m.KeySize)
		b = binary.LittleEndian.AppendUint32(b, m.ValueSize)
		b = binary.LittleEndian.AppendUint32(b, m.MaxEntries)
		b = append(b, boolByte(m.ReadOnly))
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(mapIndex(maps, *m))))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Name)))
		b = append(b, m.Name...)
	}
	return b
}

// check runs the solver. With values of unsure maps it first asks with
// each such map's size and read-only flag fixed to the summary's map
// (whose models replay in interp); only when that is unsat does it ask
// for any size, and a difference there alone is Unknown (it cannot be
// replayed with the summary's map).
func (c *Checker) check(ctx context.Context, q *query) (smt.Result, error) {
	var hint []smt.Term
	if q.ext != nil {
		z := c.ctx
		for i := range q.maps {
			if !q.enc.Cfg.Maps[i].Unsure {
				continue
			}
			size, ro := q.enc.UnsureMap(i)
			hint = append(hint, z.Eq(size, z.BV(uint64(q.maps[i].ValueSize), 64)))
			if q.maps[i].ReadOnly {
				hint = append(hint, ro)
			} else {
				hint = append(hint, z.Not(ro))
			}
		}
	}
	if len(hint) == 0 {
		return c.solver.Check(ctx)
	}
	c.solver.Push()
	c.solver.Assert(hint...)
	res, err := c.solver.Check(ctx)
	if err != nil || res != smt.Unsat {
		q.ext.scopes = 1 // the caller reads the model, then pops
		return res, err
	}
	c.solver.Pop(1)
	res, err = c.solver.Check(ctx)
	if err == nil && res == smt.Sat {
		q.ext.why = "differs only for maps of another value size than the summary's (unsure map)"
		return smt.Unknown, nil
	}
	return res, err
}

func (q *query) extraScopes() int {
	if q.ext == nil {
		return 0
	}
	return q.ext.scopes
}

func (q *query) unknownReason(s *smt.Solver) string {
	if q.ext != nil && q.ext.why != "" {
		return q.ext.why
	}
	return "solver: " + s.ReasonUnknown()
}

// ctxDiff replays context writes (interp's Output has no context): for
// each context byte the model says ends differently, both sides run with
// a tail that loads it through a constant context pointer.
func (c *Checker) ctxDiff(q *query, m smt.Model, in *interp.Input, pro []bpf.Insn, mach *interp.Machine) (string, bool) {
	k := smt.RegionKey{Kind: smt.PtrCtx}
	seen := map[int64]bool{}
	for _, f := range []*smt.Final{q.fa, q.fb} {
		mem := f.Mem[k]
		if mem == nil {
			continue
		}
		for _, w := range mem.Writes {
			if !w.KOK || seen[w.KOff] {
				continue
			}
			seen[w.KOff] = true
			a, _ := q.enc.ReadMem(q.fa, k, w.Key, w.Off, w.KOff, w.KOK)
			b, _ := q.enc.ReadMem(q.fb, k, w.Key, w.Off, w.KOff, w.KOK)
			va, _ := m.Eval(a)
			vb, _ := m.Eval(b)
			if va == vb {
				continue
			}
			// context fields take aligned full-width loads
			word := int(w.KOff) &^ 3
			tail := []bpf.Insn{bpf.LdImm64(bpf.R1, mach.Pointer(interp.RegionCtx, word)), bpf.LdxW(bpf.R0, bpf.R1, 0), bpf.Exit()}
			ra, oka := c.tailRun(q, q.a, in, pro, tail)
			rb, okb := c.tailRun(q, q.b, in, pro, tail)
			if oka && okb && ra != rb {
				return fmt.Sprintf("ctx word %d: a=%#x b=%#x", word, ra, rb), true
			}
		}
	}
	return "", false
}

// tailRun runs pro, the window and tail (from every window exit) and
// returns r0.
func (c *Checker) tailRun(q *query, insns []bpf.Insn, in *interp.Input, pro, tail []bpf.Insn) (uint64, bool) {
	pads := max(maxExit(q.a), maxExit(q.b))
	prog := append(slices.Clone(pro), padded(insns, pads, tail)...)
	p, err := interp.NewProgram("replay", q.typ, prog, q.maps)
	if err != nil {
		return 0, false
	}
	out := interp.NewMachine(p, nil).RunWindow(in, 0, bpf.SlotCount(prog))
	return out.R0, out.Fault.Ok()
}
