package smt

import (
	"fmt"
	"math/bits"

	"github.com/k2opt/k2opt/bpf"
)

// state is the symbolic machine state on the edges into one instruction.
type state struct {
	regs   [bpf.NumRegs]Val
	callN  Term // bv64 calls made so far
	callK  int  // calls made so far when known on all merged paths, else -1
	dirty  uint64
	ncalls int // upper bound of calls on any path
}

type edge struct {
	cond Term
	st   *state
}

// run is one symbolic execution.
type run struct {
	e     *Encoder
	insns []bpf.Insn
	tag   string
	fault Term
	mem   map[RegionKey]*Mem
	calls []Call
	pc    int
	cond  Term
	err   error
}

// Run symbolically executes insns from the input registers in. tag names
// the run ("a", "b") for the few symbols that must differ between runs
// (opaque pointer arithmetic results). Window mode: jumps and fall-through
// past the end leave the window (Final.Exit = 1 + target - len); exit
// instructions give Exit 0. Backward jumps, bpf-to-bpf calls and
// unsupported instructions return *Unsupported.
func (e *Encoder) Run(insns []bpf.Insn, in [bpf.NumRegs]Val, tag string) (*Final, error) {
	r := &run{e: e, insns: insns, tag: tag, fault: e.fls, mem: map[RegionKey]*Mem{}}
	n := len(insns)
	slots := bpf.SlotOffsets(insns)
	total := bpf.SlotCount(insns)
	slotToIdx := make(map[int]int, n)
	for i, s := range slots {
		slotToIdx[s] = i
	}
	incoming := make([][]edge, n)
	var exits []edge
	var exitIDs []int
	st0 := &state{regs: in, callN: e.C.BV(0, 64)}
	if n == 0 {
		exits = append(exits, edge{e.tru, st0})
		exitIDs = append(exitIDs, 1)
	} else {
		incoming[0] = append(incoming[0], edge{e.tru, st0})
	}
	// target slot -> destination
	send := func(fromSlot, tslot int, c Term, st *state) error {
		if c == e.fls {
			return nil
		}
		if tslot >= total {
			exits = append(exits, edge{c, st})
			exitIDs = append(exitIDs, 1+tslot-total)
			return nil
		}
		k, ok := slotToIdx[tslot]
		if !ok {
			return &Unsupported{PC: r.pc, Insn: insns[r.pc], Reason: "jump into the middle of ld_imm64"}
		}
		incoming[k] = append(incoming[k], edge{c, st})
		return nil
	}
	order, err := topoOrder(insns, slots, total, slotToIdx)
	if err != nil {
		return nil, err
	}
	maxCalls := 0
	for _, i := range order {
		if len(incoming[i]) == 0 {
			continue
		}
		r.pc = i
		cond, st := r.merge(incoming[i])
		incoming[i] = nil
		r.cond = cond
		in := insns[i]
		slot := slots[i]
		next := slot + in.Slots()
		info := in.Info()
		switch {
		case info.Kind == bpf.KindExit:
			if !st.regs[0].Init.eqTerm(e.tru) {
				r.faultIf(e.not(st.regs[0].Init))
			}
			exits = append(exits, edge{cond, st})
			exitIDs = append(exitIDs, 0)
		case info.Kind == bpf.KindJa:
			t, _ := in.JumpTarget(slot)
			if err := send(slot, t, cond, st); err != nil {
				return nil, err
			}
		case info.Flags&bpf.FlagCondJump != 0:
			if info.Kind == bpf.KindMayGoto {
				return nil, r.unsupported("may_goto")
			}
			c, err := r.branch(st, in, info)
			if err != nil {
				return nil, err
			}
			t, _ := in.JumpTarget(slot)
			if err := send(slot, t, e.and(cond, c), st); err != nil {
				return nil, err
			}
			if err := send(slot, next, e.and(cond, e.not(c)), st); err != nil {
				return nil, err
			}
		default:
			ns, err := r.step(st, in, info)
			if err != nil {
				return nil, err
			}
			if ns.ncalls > maxCalls {
				maxCalls = ns.ncalls
			}
			if err := send(slot, next, cond, ns); err != nil {
				return nil, err
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	f := &Final{Fault: r.fault, Mem: r.mem, Calls: r.calls, NCalls: maxCalls}
	if len(exits) == 0 {
		f.Exit = e.C.BV(0, 16)
		f.CallN = e.C.BV(0, 64)
		for i := range f.Regs {
			f.Regs[i] = e.Uninit()
		}
		return f, nil
	}
	f.Reached = true
	// Merge the exits, tagging each with its exit id.
	ids := make([]Term, len(exits))
	for k := range exits {
		ids[k] = e.C.BV(uint64(exitIDs[k]), 16)
	}
	exitT := ids[len(ids)-1]
	for k := len(exits) - 2; k >= 0; k-- {
		exitT = e.ite(exits[k].cond, ids[k], exitT)
	}
	_, fst := r.merge(exits)
	f.Exit = exitT
	f.Regs = fst.regs
	f.CallN = fst.callN
	if c := e.C.Err(); c != nil {
		return nil, c
	}
	return f, nil
}

func (t Term) eqTerm(u Term) bool { return t == u }

// topoOrder orders the instructions reachable from the first one so that
// every instruction comes after all its predecessors (clang lays blocks
// out with backward jumps even in loop-free code); a cycle is a loop.
func topoOrder(insns []bpf.Insn, slots []int, total int, slotToIdx map[int]int) ([]int, error) {
	n := len(insns)
	if n == 0 {
		return nil, nil
	}
	succ := make([][]int, n)
	for i, in := range insns {
		var ts []int
		info := in.Info()
		t, isJump := in.JumpTarget(slots[i])
		switch {
		case info.Kind == bpf.KindExit:
		case info.Kind == bpf.KindJa:
			ts = append(ts, t)
		case isJump && info.Flags&bpf.FlagCondJump != 0:
			ts = append(ts, t, slots[i]+in.Slots())
		default:
			ts = append(ts, slots[i]+in.Slots())
		}
		for _, t := range ts {
			if t < total {
				if k, ok := slotToIdx[t]; ok {
					succ[i] = append(succ[i], k)
				}
			}
		}
	}
	// iterative DFS post-order, reversed; grey nodes detect cycles
	const white, grey, black = 0, 1, 2
	color := make([]uint8, n)
	var post []int
	type frame struct{ v, next int }
	stack := []frame{{0, 0}}
	color[0] = grey
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next < len(succ[f.v]) {
			w := succ[f.v][f.next]
			f.next++
			switch color[w] {
			case grey:
				return nil, &Unsupported{PC: f.v, Insn: insns[f.v], Reason: "loop"}
			case white:
				color[w] = grey
				stack = append(stack, frame{w, 0})
			}
			continue
		}
		color[f.v] = black
		post = append(post, f.v)
		stack = stack[:len(stack)-1]
	}
	for i, j := 0, len(post)-1; i < j; i, j = i+1, j-1 {
		post[i], post[j] = post[j], post[i]
	}
	return post, nil
}

func (r *run) unsupported(reason string) error {
	return &Unsupported{PC: r.pc, Insn: r.insns[r.pc], Reason: reason}
}

// faultIf records that the run faults when c holds on the current path.
func (r *run) faultIf(c Term) {
	r.fault = r.e.or(r.fault, r.e.and(r.cond, c))
}

// merge joins the states of several edges.
func (r *run) merge(es []edge) (Term, *state) {
	e := r.e
	if len(es) == 1 {
		return es[0].cond, es[0].st
	}
	cond := es[0].cond
	for _, x := range es[1:] {
		cond = e.or(cond, x.cond)
	}
	last := es[len(es)-1].st
	ns := &state{regs: last.regs, callN: last.callN, callK: last.callK, dirty: last.dirty, ncalls: last.ncalls}
	for k := len(es) - 2; k >= 0; k-- {
		c, s := es[k].cond, es[k].st
		for i := range ns.regs {
			ns.regs[i] = r.mergeVal(c, s.regs[i], ns.regs[i])
		}
		ns.callN = e.ite(c, s.callN, ns.callN)
		if s.callK != ns.callK {
			ns.callK = -1
		}
		ns.dirty |= s.dirty
		ns.ncalls = max(ns.ncalls, s.ncalls)
	}
	return cond, ns
}

func (r *run) mergeVal(c Term, a, b Val) Val {
	e := r.e
	if a == b {
		return a
	}
	v := Val{T: e.ite(c, a.T, b.T), Init: e.ite(c, a.Init, b.Init)}
	switch {
	case a.Init == e.fls:
		v.Kind, v.Map, v.Off, v.Key, v.Null, v.KOff, v.KOK = b.Kind, b.Map, b.Off, b.Key, b.Null, b.KOff, b.KOK
		return v
	case b.Init == e.fls:
		v.Kind, v.Map, v.Off, v.Key, v.Null, v.KOff, v.KOK = a.Kind, a.Map, a.Off, a.Key, a.Null, a.KOff, a.KOK
		return v
	case a.Kind != b.Kind || a.Map != b.Map:
		if a.Kind == Scalar && b.Kind == Scalar {
			v.Kind = Scalar
		} else {
			v.Kind = Conflict
		}
		return v
	}
	v.Kind, v.Map = a.Kind, a.Map
	if a.Kind == Scalar || a.Kind == Opaque || a.Kind == Conflict || a.Kind == MapHandle {
		return v
	}
	v.Off = e.ite(c, a.Off, b.Off)
	v.KOff, v.KOK = a.KOff, a.KOK && b.KOK && a.KOff == b.KOff
	if a.Kind == PtrMapVal {
		if a.Key == b.Key {
			v.Key = a.Key
		} else {
			v.Key = e.ite(c, a.Key, b.Key)
		}
		v.Null = e.ite(c, a.Null, b.Null)
	}
	return v
}

// use reads register reg: reading an uninitialised register faults.
func (r *run) use(st *state, reg bpf.Reg) Val {
	v := st.regs[reg]
	if v.Init != r.e.tru {
		r.faultIf(r.e.not(v.Init))
	}
	return v
}

func lo32(c *Context, t Term) Term { return c.Extract(31, 0, t) }

func zext32(c *Context, t Term) Term { return c.ZeroExt(32, t) }

// branch is the jump condition of a conditional jump.
func (r *run) branch(st *state, in bpf.Insn, info *bpf.OpInfo) (Term, error) {
	c := r.e.C
	a := r.use(st, in.Dst).T
	var b Term
	if info.ImmSrc {
		b = c.BV(uint64(int64(in.Imm)), 64)
	} else {
		b = r.use(st, in.Src).T
	}
	if info.Width == 32 {
		a, b = lo32(c, a), lo32(c, b)
	}
	w := int(info.Width)
	switch info.Kind {
	case bpf.KindJeq:
		return c.Eq(a, b), nil
	case bpf.KindJne:
		return c.Not(c.Eq(a, b)), nil
	case bpf.KindJgt:
		return c.UGT(a, b), nil
	case bpf.KindJge:
		return c.UGE(a, b), nil
	case bpf.KindJlt:
		return c.ULT(a, b), nil
	case bpf.KindJle:
		return c.ULE(a, b), nil
	case bpf.KindJsgt:
		return c.SGT(a, b), nil
	case bpf.KindJsge:
		return c.SGE(a, b), nil
	case bpf.KindJslt:
		return c.SLT(a, b), nil
	case bpf.KindJsle:
		return c.SLE(a, b), nil
	case bpf.KindJset:
		return c.Not(c.Eq(c.BVAnd(a, b), c.BV(0, w))), nil
	}
	return Term{}, r.unsupported("jump kind")
}

// step executes a non-jump instruction.
func (r *run) step(st *state, in bpf.Insn, info *bpf.OpInfo) (*state, error) {
	ns := *st
	switch info.Class {
	case bpf.ClassALU, bpf.ClassALU64:
		v, err := r.alu(st, in, info)
		if err != nil {
			return nil, err
		}
		ns.regs[in.Dst] = v
		return &ns, nil
	}
	switch info.Kind {
	case bpf.KindLdImm64:
		v, err := r.ldImm64(in, info)
		if err != nil {
			return nil, err
		}
		ns.regs[in.Dst] = v
	case bpf.KindLoad, bpf.KindLoadSX:
		v, err := r.load(st, in, info)
		if err != nil {
			return nil, err
		}
		ns.regs[in.Dst] = v
	case bpf.KindStore, bpf.KindStoreImm:
		if err := r.store(st, in, info); err != nil {
			return nil, err
		}
	case bpf.KindCall:
		if err := r.call(&ns, in); err != nil {
			return nil, err
		}
	case bpf.KindAtomic:
		if err := r.atomic(&ns, in, info); err != nil {
			return nil, err
		}
	default:
		return nil, r.unsupported(info.Mnemonic)
	}
	return &ns, nil
}

func (r *run) opaque(t Term) Val {
	_ = t
	return Val{T: r.e.C.BVConst(fmt.Sprintf("opaque_%s_%d", r.tag, r.pc), 64), Kind: Opaque, Init: r.e.tru}
}

func (r *run) alu(st *state, in bpf.Insn, info *bpf.OpInfo) (Val, error) {
	e, c := r.e, r.e.C
	w := int(info.Width)
	if info.Class == bpf.ClassALU && (info.Kind == bpf.KindLe || info.Kind == bpf.KindBe) {
		w = 32 // le/be carry the swap width in Width; the ALU width of the row is not needed
	}
	k := info.Kind
	var dst Val
	switch k {
	case bpf.KindMov, bpf.KindMovSX:
	default:
		dst = r.use(st, in.Dst)
	}
	var src Val
	switch {
	case k == bpf.KindNeg || k == bpf.KindLe || k == bpf.KindBe || k == bpf.KindBswap:
	case k == bpf.KindAddrSpaceCast:
		return Val{}, r.unsupported("addr_space_cast")
	case info.ImmSrc || (in.Src == 0 && info.SrcF == bpf.FZero):
		if info.Class == bpf.ClassALU64 {
			src = e.ScalarVal(c.BV(uint64(int64(in.Imm)), 64))
		} else {
			src = e.ScalarVal(c.BV(uint64(uint32(in.Imm)), 64))
		}
	default:
		src = r.use(st, in.Src)
	}
	// Pointer arithmetic.
	if info.Class == bpf.ClassALU64 {
		switch k {
		case bpf.KindMov:
			if src.Init != e.tru {
				src.Init = e.tru // the read faulted otherwise
			}
			return src, nil
		case bpf.KindAdd:
			if isPtr(dst.Kind) && src.Kind == Scalar {
				return r.ptrAdd(dst, src.T, false), nil
			}
			if isPtr(src.Kind) && dst.Kind == Scalar {
				return r.ptrAdd(src, dst.T, false), nil
			}
		case bpf.KindSub:
			if isPtr(dst.Kind) && src.Kind == Scalar {
				return r.ptrAdd(dst, src.T, true), nil
			}
			if isPtr(dst.Kind) && dst.Kind == src.Kind && dst.Map == src.Map && dst.Kind != PtrMapVal {
				return e.ScalarVal(c.Sub(dst.Off, src.Off)), nil
			}
		}
	}
	if dst.Kind != Scalar && dst.Kind != Opaque && k != bpf.KindMov && k != bpf.KindMovSX ||
		src.Kind != Scalar && src.Kind != Opaque && src.T != (Term{}) {
		// Any other use of a pointer in arithmetic: the result is a
		// number the encoder does not relate to the value.
		if dst.Kind == Conflict || src.Kind == Conflict {
			return Val{}, r.unsupported("arithmetic on a register whose kind differs by path")
		}
		// The verifier rejects these (bitwise ops, 32-bit ops, partial
		// copies of pointers); their concrete values depend on addresses.
		return Val{}, r.unsupported("pointer arithmetic other than 64-bit add/sub of a scalar")
	}
	var a, b Term
	if w == 64 {
		a, b = dst.T, src.T
	} else {
		if dst.T != (Term{}) {
			a = lo32(c, dst.T)
		}
		if src.T != (Term{}) {
			b = lo32(c, src.T)
		}
	}
	var res Term
	switch k {
	case bpf.KindAdd:
		res = c.Add(a, b)
	case bpf.KindSub:
		res = c.Sub(a, b)
	case bpf.KindMul:
		res = c.Mul(a, b)
	case bpf.KindDiv, bpf.KindSDiv, bpf.KindMod, bpf.KindSMod:
		res = divide(e, k, a, b, w)
	case bpf.KindOr:
		res = c.BVOr(a, b)
	case bpf.KindAnd:
		res = c.BVAnd(a, b)
	case bpf.KindXor:
		res = c.BVXor(a, b)
	case bpf.KindLsh:
		res = c.Shl(a, c.BVAnd(b, c.BV(uint64(w-1), w)))
	case bpf.KindRsh:
		res = c.LShr(a, c.BVAnd(b, c.BV(uint64(w-1), w)))
	case bpf.KindArsh:
		res = c.AShr(a, c.BVAnd(b, c.BV(uint64(w-1), w)))
	case bpf.KindNeg:
		res = c.Neg(a)
	case bpf.KindMov:
		res = b
	case bpf.KindMovSX:
		sb := int(info.SrcBits)
		res = c.SignExt(w-sb, c.Extract(sb-1, 0, b))
	case bpf.KindLe, bpf.KindBe, bpf.KindBswap:
		sw := int(info.Width)
		x := c.Extract(sw-1, 0, dst.T)
		if k != bpf.KindLe {
			x = bswap(c, x, sw)
		}
		if sw < 64 {
			x = c.ZeroExt(64-sw, x)
		}
		return taint(e.ScalarVal(x), dst, src), nil
	default:
		return Val{}, r.unsupported(info.Mnemonic)
	}
	if w == 32 {
		res = zext32(c, res)
	}
	return taint(e.ScalarVal(res), dst, src), nil
}

func bswap(c *Context, x Term, w int) Term {
	out := c.Extract(7, 0, x)
	for i := 1; i < w/8; i++ {
		out = c.Concat(out, c.Extract(8*i+7, 8*i, x))
	}
	return out
}

func isPtr(k Kind) bool { return k >= PtrStack && k <= PtrMapVal || k == PtrAux }

func (r *run) ptrAdd(p Val, d Term, sub bool) Val {
	c := r.e.C
	kd, kok := c.Numeral(d)
	if sub {
		p.T, p.Off = c.Sub(p.T, d), c.Sub(p.Off, d)
		kd = -kd
	} else {
		p.T, p.Off = c.Add(p.T, d), c.Add(p.Off, d)
	}
	p.KOff += int64(kd)
	p.KOK = p.KOK && kok
	p.Init = r.e.tru
	return p
}

func (r *run) ldImm64(in bpf.Insn, info *bpf.OpInfo) (Val, error) {
	e, c := r.e, r.e.C
	switch info.Pseudo {
	case bpf.PseudoNone:
		return e.ScalarVal(c.BV(in.Imm64(), 64)), nil
	case bpf.PseudoMapFD, bpf.PseudoMapIdx:
		m := int(in.Imm)
		if m < 0 || m >= len(e.Cfg.Maps) {
			return Val{}, r.unsupported("map index out of range")
		}
		return Val{T: e.Sym(fmt.Sprintf("map_handle%d", m)), Kind: MapHandle, Map: m, Init: e.tru}, nil
	case bpf.PseudoMapValue, bpf.PseudoMapIdxValue:
		m := int(in.Imm)
		if m < 0 || m >= len(e.Cfg.Maps) {
			return Val{}, r.unsupported("map index out of range")
		}
		key := c.BV(0, 8*e.Cfg.Maps[m].KeySize)
		off := int64(uint32(in.Imm2))
		v := e.PtrVal(PtrMapVal, e.MapValBase(m, key), c.BV(uint64(off), 64), off, true)
		v.Map, v.Key = m, key
		return v, nil
	}
	return Val{}, r.unsupported("ld_imm64 pseudo source")
}

// access resolves a memory access through pointer p at p+off of n bytes:
// it records the faults and returns the region and per-access offset.
func (r *run) access(p Val, off int16, n int, write bool) (RegionKey, Term, int64, bool, error) {
	e, c := r.e, r.e.C
	switch p.Kind {
	case Scalar:
		// A scalar the encoder knows is a pointer only when it tracked it:
		// a pointer filled from a spill made before the window (or across
		// merged paths) reads back as a scalar, and taking that as a fault
		// would make A fault and every B "equal".
		return RegionKey{}, Term{}, 0, false, r.unsupported("memory access through a value not known to be a pointer")
	case MapHandle:
		r.faultIf(e.tru) // not a pointer: interp faults (bad address)
		return RegionKey{}, Term{}, 0, false, nil
	case Opaque, Conflict:
		return RegionKey{}, Term{}, 0, false, r.unsupported("memory access through a pointer the encoder does not track")
	}
	o := c.Add(p.Off, c.BV(uint64(int64(off)), 64))
	ko := p.KOff + int64(off)
	kok := p.KOK
	if kok {
		o = c.BV(uint64(ko), 64)
	}
	k := RegionKey{Kind: p.Kind, Map: p.Map}
	inBounds := func(lo, hi Term, klo, khi int64, known bool) {
		if kok && known {
			if ko < klo || ko+int64(n) > khi {
				r.faultIf(e.tru)
			}
			return
		}
		end := c.Add(o, c.BV(uint64(n), 64))
		r.faultIf(c.Not(c.And(c.SGE(o, lo), c.SLE(end, hi), c.SLT(o, end))))
	}
	switch p.Kind {
	case PtrStack:
		inBounds(c.BV(uint64(^uint64(511)), 64), c.BV(0, 64), -512, 0, true)
	case PtrPacket:
		inBounds(c.BV(0, 64), e.PktLen(), 0, 0, false)
	case PtrCtx:
		if !kok {
			return k, o, ko, kok, r.unsupported("context access at a variable offset")
		}
		l := e.Cfg.Ctx
		if l == nil {
			return k, o, ko, kok, r.unsupported("context of unknown layout")
		}
		if ko < 0 || ko+int64(n) > int64(l.Size) {
			r.faultIf(e.tru)
		}
		if write {
			ok := !l.ReadOnly
			if ok && l.Writable != nil {
				ok = false
				for _, s := range l.Writable {
					if ko >= int64(s[0]) && ko+int64(n) <= int64(s[1]) {
						ok = true
					}
				}
			}
			if !ok {
				r.faultIf(e.tru)
			}
		}
	case PtrAux:
		// interp's aux region: any offset and alignment within the object
		l := e.Cfg.Ctx
		if l == nil || l.AuxSize == 0 {
			return k, o, ko, kok, r.unsupported("auxiliary object of unknown size")
		}
		sz := int64(l.AuxSize)
		inBounds(c.BV(0, 64), c.BV(uint64(sz), 64), 0, sz, true)
	case PtrMapVal:
		r.faultIf(p.Null)
		if e.Cfg.Maps[p.Map].Unsure {
			size, ro := e.UnsureMap(p.Map)
			inBounds(c.BV(0, 64), size, 0, 0, false)
			if write {
				r.faultIf(ro)
			}
			break
		}
		vs := int64(e.Cfg.Maps[p.Map].ValueSize)
		inBounds(c.BV(0, 64), c.BV(uint64(vs), 64), 0, vs, true)
		if write && e.Cfg.Maps[p.Map].ReadOnly {
			r.faultIf(e.tru)
		}
	}
	return k, o, ko, kok, nil
}

func (r *run) memOf(k RegionKey) *Mem {
	m := r.mem[k]
	if m == nil {
		m = &Mem{Kind: k.Kind, Map: k.Map}
		r.mem[k] = m
	}
	return m
}

func (r *run) load(st *state, in bpf.Insn, info *bpf.OpInfo) (Val, error) {
	e, c := r.e, r.e.C
	p := r.use(st, in.Src)
	n := int(info.Size)
	if err := r.checkDirty(st, p); err != nil {
		return Val{}, err
	}
	k, o, ko, kok, err := r.access(p, in.Off, n, false)
	if err != nil {
		return Val{}, err
	}
	if k.Kind == 0 {
		return e.ScalarVal(c.BV(0, 64)), nil
	}
	if k.Kind == PtrCtx {
		for _, f := range e.Cfg.Ctx.Ptrs {
			if ko < int64(f.Off)+4 && ko+int64(n) > int64(f.Off) {
				// A partial read of a pointer field faults in interp
				// (sign-extending or not); only an 8-byte read of an
				// aux pointer is interp's exception: flow keys give a
				// PtrAux, sockets are left unsupported.
				aux := f.Kind == CtxOther || f.Kind == CtxFlowKeys
				if (ko != int64(f.Off) || n != 4) && !(aux && ko == int64(f.Off) && n == 8) {
					r.faultIf(e.tru)
					return e.ScalarVal(c.BV(0, 64)), nil
				}
				if info.Kind == bpf.KindLoadSX {
					// ldxsw of a whole pointer field: interp sign-extends
					// the tagged pointer's low half, a value that has no
					// counterpart here.
					return Val{}, r.unsupported("sign-extending load of a context pointer field")
				}
				if f.Kind == CtxFlowKeys && n == 8 {
					if e.Cfg.Ctx.AuxSize == 0 {
						return Val{}, r.unsupported("flow keys of unknown size")
					}
					return e.ConstPtr(PtrAux, 0), nil
				}
				if ko != int64(f.Off) || n != 4 {
					return Val{}, r.unsupported("8-byte load of a context pointer field")
				}
				switch f.Kind {
				case CtxData:
					return e.ConstPtr(PtrPacket, 0), nil
				case CtxDataEnd:
					pl := e.PktLen()
					return e.PtrVal(PtrPacket, e.PktBase(), pl, 0, false), nil
				case CtxDataMeta:
					// no metadata: data_meta == data
					return e.ConstPtr(PtrPacket, 0), nil
				}
				return Val{}, r.unsupported("context pointer field")
			}
		}
	}
	// Pointer fill: an aligned 8-byte load of a slot whose latest write is
	// a pointer spill on the same path.
	if n == 8 && kok && k.Kind == PtrStack && info.Kind == bpf.KindLoad {
		if m := r.mem[k]; m != nil {
			for i := len(m.Writes) - 1; i >= 0; i-- {
				w := &m.Writes[i]
				if !w.KOK || w.KOff >= ko+8 || w.KOff+int64(max(w.Size, 1)) <= ko {
					continue
				}
				// The latest store over the slot: its first byte says
				// whether it is the spill (its last byte is met first).
				if w.Part > 0 && w.Part <= i {
					w = &m.Writes[i-w.Part]
				}
				if w.Spill != nil && w.KOff == ko && (w.Guard == e.tru || w.Guard == r.cond) {
					return *w.Spill, nil
				}
				break
			}
		}
	}
	var key Term
	if k.Kind == PtrMapVal {
		key = p.Key
	}
	m := r.mem[k]
	var v Term
	for i := 0; i < n; i++ {
		bo := c.Add(o, c.BV(uint64(i), 64))
		if kok {
			bo = c.BV(uint64(ko+int64(i)), 64)
		}
		b, init := e.readByte(m, k, key, bo, ko+int64(i), kok, r.cond)
		if init != e.tru {
			r.faultIf(e.not(init))
		}
		if i == 0 {
			v = b
		} else {
			v = c.Concat(b, v)
		}
	}
	if info.Kind == bpf.KindLoadSX {
		v = c.SignExt(64-8*n, v)
	} else if n < 8 {
		v = c.ZeroExt(64-8*n, v)
	}
	return e.ScalarVal(v), nil
}

func (r *run) store(st *state, in bpf.Insn, info *bpf.OpInfo) error {
	e, c := r.e, r.e.C
	p := r.use(st, in.Dst)
	n := int(info.Size)
	if err := r.checkDirty(st, p); err != nil {
		return err
	}
	var v Val
	if info.Kind == bpf.KindStoreImm {
		v = e.ScalarVal(c.BV(uint64(int64(in.Imm)), 64))
	} else {
		v = r.use(st, in.Src)
	}
	return r.storeVal(p, in.Off, n, v)
}

// storeVal writes the low n bytes of v at p+off.
func (r *run) storeVal(p Val, off int16, n int, v Val) error {
	c := r.e.C
	k, o, ko, kok, err := r.access(p, off, n, true)
	if err != nil || k.Kind == 0 {
		return err
	}
	if v.Kind == Conflict {
		return r.unsupported("storing a register whose kind differs by path")
	}
	if (isPtr(v.Kind) || v.Kind == MapHandle || v.Kind == Opaque) && (n != 8 || k.Kind != PtrStack) {
		return r.unsupported("storing a pointer other than as an 8-byte stack spill")
	}
	m := r.memOf(k)
	var key Term
	if k.Kind == PtrMapVal {
		key = p.Key
	}
	for i := 0; i < n; i++ {
		w := Write{Guard: r.cond, Key: key, KOK: kok, KOff: ko + int64(i), Size: 1, Part: i,
			B: c.Extract(8*i+7, 8*i, v.T)}
		if kok {
			w.Off = c.BV(uint64(ko+int64(i)), 64)
		} else {
			w.Off = c.Add(o, c.BV(uint64(i), 64))
		}
		if i == 0 {
			w.Size = n
			if v.Kind != Scalar && kok && n == 8 {
				vv := v
				w.Spill = &vv
			}
		}
		m.Writes = append(m.Writes, w)
	}
	return nil
}

// Helper ids the encoder gives special meaning.
const (
	helperMapLookup = 1
	helperMapUpdate = 2
	helperMapDelete = 3
)

// bytesArg reads n bytes at pointer p as bv64 chunks (little-endian),
// returning the chunks and the whole value.
func (r *run) bytesArg(p Val, n int) ([]Term, Term, error) {
	c := r.e.C
	k, o, ko, kok, err := r.access(p, 0, n, false)
	if err != nil {
		return nil, Term{}, err
	}
	if k.Kind == 0 {
		return []Term{c.BV(0, 64)}, c.BV(0, 8*n), nil
	}
	if k.Kind == PtrCtx {
		return nil, Term{}, r.unsupported("helper argument in the context")
	}
	var key Term
	if k.Kind == PtrMapVal {
		key = p.Key
	}
	m := r.mem[k]
	var whole Term
	for i := 0; i < n; i++ {
		bo := c.Add(o, c.BV(uint64(i), 64))
		if kok {
			bo = c.BV(uint64(ko+int64(i)), 64)
		}
		b, init := r.e.readByte(m, k, key, bo, ko+int64(i), kok, r.cond)
		if init != r.e.tru {
			r.faultIf(r.e.not(init))
		}
		if i == 0 {
			whole = b
		} else {
			whole = c.Concat(b, whole)
		}
	}
	var chunks []Term
	for i := 0; i < n; i += 8 {
		hi := min(n, i+8)
		ch := c.Extract(8*hi-1, 8*i, whole)
		if hi-i < 8 {
			ch = c.ZeroExt(64-8*(hi-i), ch)
		}
		chunks = append(chunks, ch)
	}
	return chunks, whole, nil
}

func (r *run) call(st *state, in bpf.Insn) error {
	e, c := r.e, r.e.C
	id := in.Imm
	if in.Src != bpf.PseudoCallHelper {
		return r.unsupported("bpf-to-bpf or kfunc call")
	}
	if !pureHelpers[id] {
		return r.unsupported("helper " + bpf.HelperName(id) + " has effects the encoder does not model")
	}
	arity, _ := bpf.HelperArity(id)
	var args []Term
	rec := Call{Guard: r.cond, Idx: st.callN, ID: id, Map: -1}
	var ret Val
	switch id {
	case helperMapLookup, helperMapUpdate, helperMapDelete:
		mh := r.use(st, bpf.R1)
		if mh.Kind != MapHandle {
			return r.unsupported("map helper on a register that is not a known map")
		}
		mi := e.Cfg.Maps[mh.Map]
		if mi.NoLookup {
			return r.unsupported("map helper on a map that is not a key -> value table")
		}
		kp := r.use(st, bpf.R2)
		if err := r.checkDirty(st, kp); err != nil {
			return err
		}
		kc, key, err := r.bytesArg(kp, mi.KeySize)
		if err != nil {
			return err
		}
		args = append(args, c.BV(uint64(mh.Map), 64))
		args = append(args, kc...)
		rec.Map, rec.Key = mh.Map, key
		if id == helperMapLookup {
			if st.dirty&(1<<uint(mh.Map%64)) != 0 {
				return r.unsupported("map lookup after an update or delete of the same map")
			}
			null := e.not(e.Present(mh.Map, key))
			ret = Val{Kind: PtrMapVal, Map: mh.Map, Key: key, Null: null, Init: e.tru,
				Off: c.BV(0, 64), KOK: true}
			ret.T = e.ite(null, c.BV(0, 64), e.MapValBase(mh.Map, key))
			rec.Ret = ret.T
			e.Lookups = append(e.Lookups, rec)
			// A lookup has no effect: it is not part of the call log
			// (its result depends on the key only).
			st.regs[0] = ret
			for i := bpf.R1; i <= bpf.R5; i++ {
				st.regs[i] = e.Uninit()
			}
			return nil
		} else {
			if id == helperMapUpdate {
				vp := r.use(st, bpf.R3)
				if err := r.checkDirty(st, vp); err != nil {
					return err
				}
				vc, _, err := r.bytesArg(vp, mi.ValueSize)
				if err != nil {
					return err
				}
				args = append(args, vc...)
				args = append(args, r.use(st, bpf.R4).T)
			}
			st.dirty |= 1 << uint(mh.Map%64)
		}
	default:
		for i := 1; i <= arity; i++ {
			v := r.use(st, bpf.Reg(i))
			if isPtr(v.Kind) || v.Kind == Opaque || v.Kind == Conflict {
				return r.unsupported("pointer argument to helper " + bpf.HelperName(id))
			}
			args = append(args, v.T)
		}
	}
	rec.Args = args
	if ret.T == (Term{}) {
		dom := make([]Sort, 1+len(args))
		for i := range dom {
			dom[i] = e.bv64
		}
		f := e.fn(fmt.Sprintf("helper%d_%d", id, len(args)), dom, e.bv64)
		ret = e.ScalarVal(c.Apply(f, append([]Term{st.callN}, args...)...))
		rec.Ret = ret.T
	}
	r.calls = append(r.calls, rec)
	st.callN = c.Add(st.callN, c.BV(1, 64))
	if st.callK >= 0 {
		st.callK++
	}
	st.ncalls++
	st.regs[0] = ret
	for i := bpf.R1; i <= bpf.R5; i++ {
		st.regs[i] = e.Uninit()
	}
	return nil
}

// divide encodes BPF division and modulo: x/0 = 0, x%0 = x. Constant
// divisors that are 0, 1, -1 or powers of two become shifts, masks and
// negation, since bit-blasted dividers are Z3's slowest case.
func divide(e *Encoder, k bpf.Kind, a, b Term, w int) Term {
	c := e.C
	zero := c.BV(0, w)
	mask := uint64(1)<<uint(w) - 1
	if w == 64 {
		mask = ^uint64(0)
	}
	if v, ok := c.Numeral(b); ok {
		v &= mask
		switch {
		case v == 0:
			if k == bpf.KindDiv || k == bpf.KindSDiv {
				return zero
			}
			return a
		case v == 1:
			if k == bpf.KindDiv || k == bpf.KindSDiv {
				return a
			}
			return zero
		case v == mask && (k == bpf.KindSDiv || k == bpf.KindSMod):
			if k == bpf.KindSDiv {
				return c.Neg(a) // MIN / -1 = MIN, as neg
			}
			return zero
		case v&(v-1) == 0 && (k == bpf.KindDiv || k == bpf.KindMod):
			n := uint64(bits.TrailingZeros64(v))
			if k == bpf.KindDiv {
				return c.LShr(a, c.BV(n, w))
			}
			return c.BVAnd(a, c.BV(v-1, w))
		}
		switch k {
		case bpf.KindDiv:
			return c.UDiv(a, b)
		case bpf.KindSDiv:
			return c.SDiv(a, b)
		case bpf.KindMod:
			return c.URem(a, b)
		}
		return c.SRem(a, b)
	}
	isZero := c.Eq(b, zero)
	// The remainder is written as a - (a/b)*b with the division's own
	// term (BPF: x/0 = 0, so x%0 = x; MIN/-1 = MIN, so MIN%-1 = 0, as
	// the hardware-free definitions say): a program computing it by hand
	// (w2 = w0; w2 /= w1; w2 *= w1; w0 -= w2, as clang emits) then has
	// the same term as "w0 %= w1", which bit-blasting alone cannot prove
	// in minutes.
	switch k {
	case bpf.KindDiv:
		return e.ite(isZero, zero, c.UDiv(a, b))
	case bpf.KindSDiv:
		return e.ite(isZero, zero, c.SDiv(a, b))
	case bpf.KindMod:
		return c.Sub(a, c.Mul(e.ite(isZero, zero, c.UDiv(a, b)), b))
	}
	return c.Sub(a, c.Mul(e.ite(isZero, zero, c.SDiv(a, b)), b))
}

// atomic encodes the read-modify-write atomics (single-threaded semantics,
// as interp runs them). 32-bit fetches zero-extend into the register.
func (r *run) atomic(st *state, in bpf.Insn, info *bpf.OpInfo) error {
	e, c := r.e, r.e.C
	n := int(info.Size)
	ld := bpf.Insn{Code: 0x61, Src: in.Dst, Off: in.Off} // ldxw
	if n == 8 {
		ld.Code = 0x79 // ldxdw
	}
	oldV, err := r.load(st, ld, ld.Info())
	if err != nil {
		return err
	}
	p := r.use(st, in.Dst)
	src := r.use(st, in.Src)
	if src.Kind != Scalar {
		return r.unsupported("atomic operation on a pointer value")
	}
	old := oldV.T
	trunc := func(t Term) Term {
		if n == 4 {
			return c.ZeroExt(32, c.Extract(31, 0, t))
		}
		return t
	}
	var nv Term
	switch info.Atomic &^ bpf.AtomicFetch {
	case bpf.AtomicAdd:
		nv = c.Add(old, src.T)
	case bpf.AtomicOr:
		nv = c.BVOr(old, src.T)
	case bpf.AtomicAnd:
		nv = c.BVAnd(old, src.T)
	case bpf.AtomicXor:
		nv = c.BVXor(old, src.T)
	case bpf.AtomicXchg &^ bpf.AtomicFetch:
		nv = src.T
	case bpf.AtomicCmpxchg &^ bpf.AtomicFetch:
		r0 := r.use(st, bpf.R0)
		if r0.Kind != Scalar {
			return r.unsupported("cmpxchg with a pointer in r0")
		}
		nv = e.ite(c.Eq(trunc(r0.T), old), src.T, old)
	default:
		return r.unsupported(info.Mnemonic)
	}
	if err := r.storeVal(p, in.Off, n, e.ScalarVal(nv)); err != nil {
		return err
	}
	switch {
	case info.Atomic == bpf.AtomicCmpxchg:
		st.regs[bpf.R0] = e.ScalarVal(old)
	case info.Atomic&bpf.AtomicFetch != 0:
		st.regs[in.Src] = e.ScalarVal(old)
	}
	return nil
}
