package equiv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/smt"
)

// Verdict is the outcome of a check.
type Verdict int8

// Verdicts. Unknown covers timeouts, unsupported instructions and
// counterexamples that did not reproduce in the interpreter.
const (
	Unknown Verdict = iota
	Equal
	NotEqual
)

func (v Verdict) String() string {
	switch v {
	case Equal:
		return "equal"
	case NotEqual:
		return "not equal"
	}
	return "unknown"
}

// Result is a check's outcome.
type Result struct {
	Verdict Verdict
	// Reason says why the verdict is Unknown.
	Reason string
	// Counterexample is set for NotEqual: an input on which the two
	// differ, already replayed in the interpreter.
	Counterexample *Counterexample
	// Cached: answered by the proof cache.
	Cached bool
}

// RegPre is the precondition of one live-in register.
type RegPre struct {
	Kind smt.Kind // Scalar, PtrStack, PtrPacket, PtrCtx, PtrAux, PtrMapVal, Opaque (see pre_ptr.go)
	// Off is a pointer's constant offset: from r10 (stack, negative),
	// from data (packet), from the start (ctx, flow keys).
	Off int64
	// Range (packet pointers): bytes from the pointer known to be inside
	// the packet (the verifier's checked range).
	Range int64
	// Scalars: the bits set in Known have the values of Value; unsigned
	// bounds Umin..Umax (Umax 0: no upper bound). The zero RegPre is any
	// scalar.
	Known, Value uint64
	Umin, Umax   uint64
	// Pointer extensions (pre_ptr.go): VarOff adds a variable offset with
	// the scalar bounds above (packet, map value); PktEnd is data_end;
	// Null: a map value that may be NULL; Map: the map of a map value;
	// MapUnsure: Map's shape is that of one of the possible maps only.
	VarOff, PktEnd, Null, MapUnsure bool
	Map                             MapRef
}

// AnyScalar is an unconstrained scalar precondition.
func AnyScalar() RegPre { return RegPre{Kind: smt.Scalar} }

// ConstScalar is a known constant.
func ConstScalar(v uint64) RegPre { return RegPre{Kind: smt.Scalar, Known: ^uint64(0), Value: v} }

// Window is a window-equivalence query: two instruction sequences that
// replace each other at one place of a program.
type Window struct {
	A, B []bpf.Insn
	// LiveIn registers are initialised on entry, with preconditions Pre
	// (unset entries: AnyScalar). r10 is always the frame pointer.
	LiveIn bpf.RegSet
	Pre    [bpf.NumRegs]RegPre
	// LiveOut registers are compared when the window is left other than
	// by an exit instruction (exit compares r0).
	LiveOut bpf.RegSet
	// StackDead: the stack is not read after the window (not compared).
	StackDead bool
	// Exits, when not empty, replace LiveOut and StackDead: Exits[k]
	// says what is compared when both runs leave by exit code k+1 (k=0:
	// falling off the end; k>=1: a jump to slot len+k). Exit codes beyond
	// len(Exits) compare r0-r9 and the whole stack. A single-exit window
	// with a per-byte dead stack passes one WindowExit.
	Exits []WindowExit
	// Type and Maps give the context layout and the maps ld_imm64 refers
	// to (by index), as in interp.Program.
	Type ebpf.ProgramType
	Maps []interp.MapSpec
}

// Options configure a Checker.
type Options struct {
	// Timeout per solver check (0: 10 s). A timeout is Unknown.
	Timeout time.Duration
	// NoCache turns the proof cache off.
	NoCache bool
	// CacheSize bounds the cache entries (0: 1<<20).
	CacheSize int
}

// Checker answers equivalence queries. It owns one Z3 context and solver
// and is not safe for concurrent use: make one per goroutine.
type Checker struct {
	ctx    *smt.Context
	solver *smt.Solver
	opts   Options
	Cache  *Cache
	// Stats.
	Checks, Hits int
}

// NewChecker makes a checker.
func NewChecker(opts *Options) *Checker {
	c := &Checker{ctx: smt.NewContext()}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Timeout == 0 {
		c.opts.Timeout = 10 * time.Second
	}
	c.solver = c.ctx.NewSolver()
	c.solver.SetTimeout(c.opts.Timeout)
	if !c.opts.NoCache {
		c.Cache = NewCache(c.opts.CacheSize)
	}
	return c
}

// Close releases the solver and the Z3 context.
func (c *Checker) Close() {
	c.solver.Close()
	c.ctx.Close()
}

// CtxLayout is the encoder's view of a program type's context (the same
// layouts as interp's).
func CtxLayout(t ebpf.ProgramType) *smt.CtxLayout {
	switch t {
	case ebpf.XDP:
		return &smt.CtxLayout{Size: 24, ReadOnly: true,
			Ptrs: []smt.CtxField{{Off: 0, Kind: smt.CtxData}, {Off: 4, Kind: smt.CtxDataEnd}, {Off: 8, Kind: smt.CtxDataMeta}}}
	case ebpf.SchedCLS, ebpf.SchedACT, ebpf.CGroupSKB, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
		return &smt.CtxLayout{Size: 192,
			Ptrs: []smt.CtxField{{Off: 76, Kind: smt.CtxData}, {Off: 80, Kind: smt.CtxDataEnd}, {Off: 140, Kind: smt.CtxDataMeta},
				{Off: 168, Kind: smt.CtxOther}},
			Writable: [][2]int{{8, 12}, {12, 16}, {32, 36}, {44, 48}, {48, 68}, {72, 76}, {152, 160}}}
	case ebpf.SocketFilter:
		return &smt.CtxLayout{Size: 192, Ptrs: []smt.CtxField{{Off: 168, Kind: smt.CtxOther}}, Writable: [][2]int{{48, 68}}}
	case ebpf.FlowDissector:
		return &smt.CtxLayout{Size: 192, ReadOnly: true, AuxSize: FlowKeysSize,
			Ptrs: []smt.CtxField{{Off: 76, Kind: smt.CtxData}, {Off: 80, Kind: smt.CtxDataEnd}, {Off: 144, Kind: smt.CtxFlowKeys}}}
	case ebpf.CGroupSockAddr:
		return &smt.CtxLayout{Size: 72, Ptrs: []smt.CtxField{{Off: 64, Kind: smt.CtxOther}}, Writable: [][2]int{{4, 28}, {40, 60}}}
	case ebpf.Kprobe, ebpf.PerfEvent:
		return &smt.CtxLayout{Size: 168, ReadOnly: true}
	case ebpf.TracePoint:
		return &smt.CtxLayout{Size: 256, ReadOnly: true}
	case ebpf.RawTracepoint, ebpf.RawTracepointWritable, ebpf.Tracing:
		return &smt.CtxLayout{Size: 96, ReadOnly: true}
	}
	return nil
}

// FlowKeysSize is sizeof(struct bpf_flow_keys), a flow dissector's
// output object (interp's aux region).
const FlowKeysSize = 56

// hasPacket: interp gives the program type a packet.
func hasPacket(t ebpf.ProgramType) bool {
	switch t {
	case ebpf.XDP, ebpf.SchedCLS, ebpf.SchedACT, ebpf.CGroupSKB, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit,
		ebpf.SocketFilter, ebpf.FlowDissector:
		return true
	}
	return false
}

func mapInfos(ms []interp.MapSpec) []smt.MapInfo {
	out := make([]smt.MapInfo, len(ms))
	for i, m := range ms {
		out[i] = smt.MapInfo{KeySize: int(m.KeySize), ValueSize: int(m.ValueSize), MaxEntries: m.MaxEntries,
			Array: m.Type == ebpf.Array || m.Type == ebpf.PerCPUArray, ReadOnly: m.ReadOnly,
			NoLookup: m.Type == ebpf.LPMTrie}
	}
	return out
}

// query is one encoded equivalence question.
type query struct {
	enc      *smt.Encoder
	fa, fb   *smt.Final
	pre      []smt.Term
	regIn    [bpf.NumRegs]smt.Val
	window   bool
	outs     // what each window exit compares
	typ      ebpf.ProgramType
	maps     []interp.MapSpec
	a, b     []bpf.Insn
	regPre   [bpf.NumRegs]RegPre
	liveIn   bpf.RegSet
	maxExitA int
	ext      *extState // live-in pointers of the kinds in pre_ptr.go
}

// Window checks window equivalence: for every input satisfying the
// precondition on which A does not fault, B does not fault, leaves the
// window the same way, and agrees on the live-out registers, memory and
// helper calls.
func (c *Checker) Window(ctx context.Context, w *Window) (Result, error) {
	var key, raw string
	if c.Cache != nil {
		r, rk, ok := c.Cache.lookupRaw(w)
		if ok {
			c.Hits++
			r.Cached = true
			return r, nil
		}
		raw = rk
		key = c.Cache.Key(w)
		if r, ok := c.Cache.Get(key); ok {
			c.Hits++
			c.Cache.Put(raw, r)
			r.Cached = true
			return r, nil
		}
	}
	c.Checks++
	r, err := c.window(ctx, w)
	if err == nil && c.Cache != nil && r.Verdict != Unknown {
		c.Cache.Put(key, r)
		c.Cache.Put(raw, r)
	}
	return r, err
}

func (c *Checker) window(ctx context.Context, w *Window) (Result, error) {
	sc := c.ctx.Scope()
	defer sc.Release()
	cfg := &smt.Config{StackInit: true, Ctx: CtxLayout(w.Type), Maps: mapInfos(w.Maps)}
	enc := smt.NewEncoder(c.ctx, cfg)
	q := &query{enc: enc, window: true, outs: w.outs(), typ: w.Type, maps: w.Maps,
		a: w.A, b: w.B, liveIn: w.LiveIn}
	q.regPre = w.Pre
	if err := q.extMaps(w); err != nil {
		return Result{Verdict: Unknown, Reason: err.Error()}, nil
	}
	for r := bpf.R0; r < bpf.R10; r++ {
		if !w.LiveIn.Has(r) {
			q.regIn[r] = enc.Uninit()
			continue
		}
		p := w.Pre[r]
		v, cons, err := c.preVal(enc, r, p)
		if p.ext() {
			v, cons, err = c.preValExt(q, r, p)
		}
		if err != nil {
			return Result{Verdict: Unknown, Reason: err.Error()}, nil
		}
		q.regIn[r] = v
		q.pre = append(q.pre, cons...)
	}
	q.regIn[bpf.R10] = enc.ConstPtr(smt.PtrStack, 0)
	return c.solve(ctx, q)
}

// preVal builds a live-in register from its precondition.
func (c *Checker) preVal(enc *smt.Encoder, r bpf.Reg, p RegPre) (smt.Val, []smt.Term, error) {
	z := c.ctx
	switch p.Kind {
	case smt.Scalar:
		t := enc.Sym(regName[r])
		var cons []smt.Term
		if p.Known != 0 {
			cons = append(cons, z.Eq(z.BVAnd(t, z.BV(p.Known, 64)), z.BV(p.Value&p.Known, 64)))
		}
		if p.Umin != 0 {
			cons = append(cons, z.UGE(t, z.BV(p.Umin, 64)))
		}
		if p.Umax != 0 && p.Umax != ^uint64(0) {
			cons = append(cons, z.ULE(t, z.BV(p.Umax, 64)))
		}
		return enc.ScalarVal(t), cons, nil
	case smt.PtrStack, smt.PtrCtx:
		return enc.ConstPtr(p.Kind, p.Off), nil, nil
	case smt.PtrAux:
		if l := enc.Cfg.Ctx; l == nil || l.AuxSize == 0 {
			return smt.Val{}, nil, fmt.Errorf("live-in r%d: flow keys pointer in a program type without flow keys", r)
		}
		return enc.ConstPtr(smt.PtrAux, p.Off), nil, nil
	case smt.PtrPacket:
		v := enc.ConstPtr(smt.PtrPacket, p.Off)
		var cons []smt.Term
		if p.Off+p.Range > 0 {
			cons = append(cons, z.UGE(enc.PktLen(), z.BV(uint64(p.Off+p.Range), 64)))
		}
		return v, cons, nil
	}
	return smt.Val{}, nil, fmt.Errorf("live-in r%d: precondition kind %s not supported", r, p.Kind)
}

var regName = [bpf.NumRegs]string{"r0_in", "r1_in", "r2_in", "r3_in", "r4_in", "r5_in", "r6_in", "r7_in", "r8_in", "r9_in", "r10_in"}

// solve runs both sides, builds "A ok and (B faults or outputs differ)",
// and on sat replays the model in the interpreter.
func (c *Checker) solve(ctx context.Context, q *query) (Result, error) {
	enc := q.enc
	fa, err := enc.Run(q.a, q.regIn, "a")
	if err != nil {
		return unknownOf(err)
	}
	fb, err := enc.Run(q.b, q.regIn, "b")
	if err != nil {
		return unknownOf(err)
	}
	q.fa, q.fb = fa, fb
	z := c.ctx
	diff := c.diff(q)
	c.solver.Push()
	defer func() { c.solver.Pop(1 + q.extraScopes()) }()
	c.solver.Assert(enc.Assume...)
	c.solver.Assert(q.pre...)
	c.solver.Assert(z.Not(fa.Fault), z.Or(fb.Fault, diff))
	res, err := c.check(ctx, q)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return Result{Verdict: Unknown, Reason: err.Error()}, nil
		}
		return Result{}, err
	}
	switch res {
	case smt.Unsat:
		return Result{Verdict: Equal}, nil
	case smt.Unknown:
		return Result{Verdict: Unknown, Reason: q.unknownReason(c.solver)}, nil
	}
	m, err := c.solver.Model()
	if err != nil {
		return Result{}, err
	}
	cex, ok, why := c.replay(q, m)
	if !ok {
		return Result{Verdict: Unknown, Reason: "counterexample did not reproduce in interp: " + why, Counterexample: cex}, nil
	}
	return Result{Verdict: NotEqual, Counterexample: cex}, nil
}

func unknownOf(err error) (Result, error) {
	var u *smt.Unsupported
	if errors.As(err, &u) {
		return Result{Verdict: Unknown, Reason: u.Error()}, nil
	}
	return Result{}, err
}

// diff is the condition under which the two runs' observable outputs differ.
func (c *Checker) diff(q *query) smt.Term {
	enc, z := q.enc, c.ctx
	fa, fb := q.fa, q.fb
	var ds []smt.Term
	ds = append(ds, z.Not(z.Eq(fa.Exit, fb.Exit)))
	atExit := z.Eq(fa.Exit, z.BV(0, 16))
	regDiff := func(r bpf.Reg) smt.Term {
		a, b := fa.Regs[r], fb.Regs[r]
		return z.And(a.Init, z.Or(z.Not(b.Init), z.Not(z.Eq(a.T, b.T))))
	}
	ds = append(ds, z.And(atExit, regDiff(bpf.R0)))
	// Window exits: registers and stack bytes are compared only at the
	// exit codes where they are live (the exits are equal by the first
	// disjunct, so A's exit decides).
	var ec *exitConds
	if q.window {
		ec = newExitConds(z, fa.Exit, exitCodes(q.a, q.b), z.Not(atExit))
		for r := bpf.R0; r < bpf.R10; r++ {
			if m, ok := ec.mask(func(k int) bool { return q.liveAt(k).Has(r) }); ok {
				ds = append(ds, z.And(ec.cond(m), regDiff(r)))
			}
		}
	}
	// Memory: the final contents differ somewhere only where A or B wrote.
	keys := map[smt.RegionKey]bool{}
	for k := range fa.Mem {
		keys[k] = true
	}
	for k := range fb.Mem {
		keys[k] = true
	}
	for k := range keys {
		if k.Kind == smt.PtrStack && (!q.window || !q.anyStackCompared(ec)) {
			continue // the stack dies at exit
		}
		var addrs []*smt.Write
		for _, f := range []*smt.Final{fa, fb} {
			if m := f.Mem[k]; m != nil {
				for i := range m.Writes {
					addrs = append(addrs, &m.Writes[i])
				}
			}
		}
		seen := map[int64]bool{}
		for _, w := range addrs {
			if w.KOK && k.Kind != smt.PtrMapVal {
				if seen[w.KOff] {
					continue
				}
				seen[w.KOff] = true
			}
			var at smt.Term // stack: the exits where this byte is compared
			if k.Kind == smt.PtrStack {
				m, ok := ec.mask(func(c int) bool { return !q.deadAt(c, w.KOff, w.KOK) })
				if !ok {
					continue
				}
				at = ec.cond(m)
			}
			ba, _ := enc.ReadMem(fa, k, w.Key, w.Off, w.KOff, w.KOK)
			bb, _ := enc.ReadMem(fb, k, w.Key, w.Off, w.KOff, w.KOK)
			d := z.Not(z.Eq(ba, bb))
			if k.Kind == smt.PtrStack {
				d = z.And(at, d)
			}
			ds = append(ds, d)
		}
	}
	// Helper calls: same number, and the i-th calls agree.
	ds = append(ds, z.Not(z.Eq(fa.CallN, fb.CallN)))
	for _, ca := range fa.Calls {
		for _, cb := range fb.Calls {
			same := enc.True()
			if ca.ID != cb.ID || len(ca.Args) != len(cb.Args) {
				same = enc.False()
			} else {
				var eqs []smt.Term
				for i := range ca.Args {
					eqs = append(eqs, z.Eq(ca.Args[i], cb.Args[i]))
				}
				if len(eqs) > 0 {
					same = z.And(eqs...)
				}
			}
			ds = append(ds, z.And(ca.Guard, cb.Guard, z.Eq(ca.Idx, cb.Idx), z.Not(same)))
		}
	}
	return z.Or(ds...)
}
