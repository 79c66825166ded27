package safety

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

// Options tune Verify. The zero value behaves like the kernel.
type Options struct {
	// MaxProcessed bounds the instructions processed over all paths, like
	// the kernel's 1M limit (BPF_COMPLEXITY_LIMIT_INSNS). 0 means 1,000,000.
	// The search can set it lower to give up early on costly candidates.
	MaxProcessed int
	// Summaries records, per instruction, the join of every state that
	// reached it (Result.Before) and left it (Result.After).
	Summaries bool
	// Unprivileged checks as the kernel does for a loader without
	// CAP_PERFMON: uninitialised stack bytes may not be read and pointers
	// may not leak into memory. The default matches a root loader, as in
	// k2opt's kernel oracle.
	Unprivileged bool
	// Trace, when set, is called before each processed instruction (a
	// debugging aid, like the kernel's log level 2).
	Trace func(pc int, st *State)
}

// Result is the verdict for one program.
type Result struct {
	Accepted bool
	// Diag is the first violation found (the kernel also stops at the first).
	Diag *Diagnostic
	// Processed estimates the kernel's "processed N insns": instructions
	// executed over all explored paths after state pruning.
	Processed int
	// States is the number of checkpoints kept for pruning (kernel:
	// total_states); Pruned counts paths cut by them.
	States, Pruned int
	// Before/After: per-instruction summaries when Options.Summaries is set;
	// nil entries were never reached.
	Before, After []*Summary
}

// Err returns the diagnostic as an error, or nil when accepted.
func (r *Result) Err() error {
	if r.Diag == nil {
		return nil
	}
	return r.Diag
}

// maxCallDepth is MAX_CALL_FRAMES.
const maxCallDepth = 8

type checkpoint struct {
	st        *State
	parent    *checkpoint
	branches  int
	hit, miss int // eviction heuristic (miss_cnt > hit_cnt*n + n)
}

type pending struct {
	pc int
	st *State
	cp *checkpoint
}

type checker struct {
	p       *Program
	pi      *progInfo
	opts    Options
	max     int
	meta    []insnMeta // per instruction: decoded op, jump target, flags
	ids     idMap      // subsumes' scratch
	imm     Reg        // operand's scratch for immediates
	live    []bpf.RegSet
	ptrType []Type // pointer type each load/store first used (save_aux_ptr_type)
	// hasArena: the program uses an arena map (prog->aux->arena).
	hasArena bool
	visited  [][]*checkpoint
	work     []pending
	idGen    uint32
	res      *Result
	ar       *arena
	// kernel heuristic for adding checkpoints
	jmps, prevJmps, prevInsns int
	// current path
	cp   *checkpoint
	diag *Diagnostic
}

// errStop ends verification after a diagnostic was recorded.
var errStop = errors.New("stop")

// Verify runs the abstract interpreter over every path of p.
func Verify(p *Program, opts *Options) *Result {
	c := &checker{p: p, res: &Result{}, ar: arenaPool.Get().(*arena)}
	defer func() {
		c.ar.scratch.work, c.ar.scratch.ids = c.work[:0], c.ids.pairs[:0]
		c.ar.reset()
		arenaPool.Put(c.ar)
	}()
	if opts != nil {
		c.opts = *opts
	}
	c.max = c.opts.MaxProcessed
	if c.max <= 0 {
		c.max = 1_000_000
	}
	if err := c.setup(); err == nil {
		c.run()
	}
	c.res.Diag = c.diag
	c.res.Accepted = c.diag == nil
	c.res.Processed = max(c.res.Processed, 1)
	return c.res
}

func (c *checker) fail(pc int, prop Property, format string, args ...any) error {
	d := &Diagnostic{Insn: pc, Slot: -1, Property: prop, Reason: fmt.Sprintf(format, args...)}
	if pc >= 0 && pc < len(c.p.Insns) {
		d.Slot = int(c.meta[pc].slot)
		d.Text = insnText(c.p.Insns[pc])
		d.Func = c.p.Funcs[c.p.funcAt(pc)].Name
	}
	c.diag = d
	return errStop
}

// setup takes the program's static tables (cached per Program) and
// prepares the per-run ones.
func (c *checker) setup() error {
	p := c.p
	n := len(p.Insns)
	if n == 0 {
		return c.fail(-1, Malformed, "empty program")
	}
	if len(p.Funcs) == 0 {
		p.Funcs = []Func{{Name: p.Name, Start: 0, End: n}}
	}
	pc := cached(p, &c.ar.scratch)
	c.meta, c.live, c.pi = pc.meta, pc.live, pc.pi
	if pc.diag != nil {
		d := *pc.diag
		c.diag = &d
		return errStop
	}
	for _, r := range p.Refs {
		if r.Map != nil && r.Map.Type == ebpf.Arena {
			c.hasArena = true
		}
	}
	sc := &c.ar.scratch
	c.work = sc.work[:0]
	c.ids.pairs = sc.ids[:0]
	c.visited = grow(&sc.visited, n)
	for i := range c.visited {
		c.visited[i] = c.visited[i][:0]
	}
	c.ptrType = grow(&sc.ptrType, n)
	clear(c.ptrType)
	if c.opts.Summaries {
		c.res.Before = make([]*Summary, n)
		c.res.After = make([]*Summary, n)
	}
	return nil
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func (c *checker) newID() uint32 { c.idGen++; return c.idGen }

// initial returns the entry state of function f.
func (c *checker) initial(f int) (*State, error) {
	fr := c.ar.frames.get()
	*fr = Frame{CallSite: -1, Func: f, ar: c.ar}
	fr.Regs[bpf.R10] = Reg{Type: PtrStack}
	fn := c.p.Funcs[f]
	if f == 0 {
		fr.Regs[bpf.R1] = Reg{Type: PtrCtx, V: Const(0)}
	} else {
		for k, prm := range fn.Params {
			if k >= 5 {
				break
			}
			r := &fr.Regs[bpf.R1+bpf.Reg(k)]
			switch prm.Kind {
			case ParamCtx:
				*r = Reg{Type: PtrCtx, V: Const(0)}
			case ParamMem:
				*r = Reg{Type: PtrMem, Size: prm.Size, Null: prm.Nullable, V: Const(0)}
				if prm.Nullable {
					r.ID = c.newID()
				}
			default:
				*r = unknownReg()
			}
		}
	}
	st := c.ar.states.get()
	*st = State{Frames: c.ar.framePtrs(1)}
	st.Frames[0] = fr
	return st, nil
}

func (c *checker) run() {
	// The entry first, then each global function on its own, as the kernel does.
	for f := range c.p.Funcs {
		if f != 0 && !c.p.Funcs[f].Global {
			continue
		}
		st, _ := c.initial(f)
		c.work = append(c.work[:0], pending{pc: c.p.Funcs[f].Start, st: st})
		for len(c.work) > 0 {
			w := c.work[len(c.work)-1]
			c.work = c.work[:len(c.work)-1]
			c.cp = w.cp
			if err := c.path(w.pc, w.st); err != nil {
				return
			}
		}
	}
}

// endPath is update_branch_counts: a path finished (exit or pruned).
func (c *checker) endPath() {
	for cp := c.cp; cp != nil; cp = cp.parent {
		cp.branches--
		if cp.branches > 0 {
			break
		}
	}
}

// fork queues another path from pc with state st.
func (c *checker) fork(pc int, st *State) {
	if c.cp != nil {
		c.cp.branches++
	}
	c.work = append(c.work, pending{pc: pc, st: st, cp: c.cp})
}

// path explores one path until it ends.
func (c *checker) path(pc int, st *State) error {
	for {
		// The kernel counts an instruction before checking for pruning.
		c.res.Processed++
		if c.res.Processed > c.max {
			return c.fail(pc, Termination, "too complex: more than %d instructions processed (the kernel's limit is 1,000,000)", c.max)
		}
		m := &c.meta[pc]
		if m.flags&mPrune != 0 {
			hit, err := c.visit(pc, st)
			if err != nil {
				return err
			}
			if hit {
				c.res.Pruned++
				c.endPath()
				return nil
			}
		}
		if m.flags&mJmp != 0 {
			c.jmps++
		}
		if c.opts.Trace != nil {
			c.opts.Trace(pc, st)
		}
		if c.opts.Summaries {
			c.res.Before[pc] = summarize(c.res.Before[pc], st)
		}
		next, err := c.step(pc, st)
		if err != nil {
			return err
		}
		if next < 0 {
			c.endPath()
			return nil
		}
		if c.opts.Summaries {
			c.res.After[pc] = summarize(c.res.After[pc], st)
		}
		pc = next
	}
}

// visit is is_state_visited: prune when a finished checkpoint at pc
// subsumes st; detect infinite loops; evict checkpoints that keep missing;
// add a checkpoint (the kernel's heuristics decide when).
func (c *checker) visit(pc int, st *State) (bool, error) {
	loopHead := c.meta[pc].flags&mLoopHead != 0
	add := loopHead || (c.jmps-c.prevJmps >= 2 && c.res.Processed-c.prevInsns >= 8)
	list := c.visited[pc]
	// Newest first, as the kernel's explored list; evicted entries are
	// dropped while the list is compacted in place.
	w := len(list)
	hit := false
	for k := len(list) - 1; k >= 0; k-- {
		cp := list[k]
		keep := true
		if !hit {
			same := sameCallsites(cp.st, st)
			switch {
			case same && (cp.branches == 0 || loopHead && (cp.st.MayGoto != st.MayGoto || cp.st.Loop != st.Loop)) && c.subsumes(pc, cp.st, st):
				cp.hit++
				hit = true
			default:
				if cp.branches > 0 {
					if same && c.equalLive(pc, cp.st, st) {
						return false, c.fail(pc, Termination, "infinite loop detected: the state repeats unchanged")
					}
					// Inside a loop a new checkpoint is added only every
					// 20 jumps and 100 instructions.
					if !loopHead && c.jmps-c.prevJmps < 20 && c.res.Processed-c.prevInsns < 100 {
						add = false
					}
				}
				if add {
					cp.miss++
				}
				n := 3
				if loopHead && cp.branches > 0 {
					n = 64
				}
				keep = cp.miss <= cp.hit*n+n
			}
		}
		if keep {
			w--
			list[w] = cp
		}
	}
	list = list[w:]
	c.visited[pc] = list
	if hit {
		return true, nil
	}
	// bpf_loop callbacks: widen (join with the newest checkpoint) after two
	// runs so the callback converges. may_goto loops are not widened: the
	// kernel widens only imprecise scalars, and without precision tracking
	// we cannot tell which those are; a loop whose state keeps changing is
	// explored iteration by iteration, as the kernel does for precise
	// state, and counts towards the 1M limit (a widened loop that converged
	// here while the kernel unrolled it to 1M was a false accept).
	if loopHead && st.Loop > 2 {
		for k := len(list) - 1; k >= 0; k-- {
			cp := list[k]
			if sameCallsites(cp.st, st) {
				joinState(st, cp.st)
				break
			}
		}
	}
	if !add {
		return false, nil
	}
	c.prevJmps, c.prevInsns = c.jmps, c.res.Processed
	cp := c.ar.cps.get()
	*cp = checkpoint{st: c.ar.clone(st), parent: c.cp, branches: 1}
	c.visited[pc] = append(c.visited[pc], cp)
	c.cp = cp
	c.res.States++
	return false, nil
}

func sameCallsites(a, b *State) bool {
	if len(a.Frames) != len(b.Frames) {
		return false
	}
	for i := range a.Frames {
		if a.Frames[i].CallSite != b.Frames[i].CallSite {
			return false
		}
	}
	return true
}

// liveAt returns the registers of frame k of st that matter at pc.
func (c *checker) liveAt(pc int, st *State, k int) bpf.RegSet {
	if k == len(st.Frames)-1 {
		return c.live[pc]
	}
	ret := st.Frames[k+1].CallSite + 1
	if ret < len(c.live) {
		return c.live[ret] &^ bpf.RegsOf(bpf.R0, bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5)
	}
	return bpf.AllRegs
}

// subsumes reports whether every concretization of cur is one of old
// (old was verified safe from pc, so cur is too).
func (c *checker) subsumes(pc int, old, cur *State) bool {
	if old.Lock != cur.Lock || len(old.Refs) != len(cur.Refs) {
		return false
	}
	ids := &c.ids
	ids.reset()
	for k := range old.Frames {
		of, cf := old.Frames[k], cur.Frames[k]
		live := c.liveAt(pc, old, k)
		for r := bpf.R0; r < bpf.NumRegs; r++ {
			if live.Has(r) && !regSafe(&of.Regs[r], &cf.Regs[r], ids) {
				return false
			}
		}
		for i := range of.Stack {
			os := &of.Stack[i]
			var cs *Slot
			if i < len(cf.Stack) {
				cs = &cf.Stack[i]
			} else {
				cs = &Slot{}
			}
			if !c.slotSafe(os, cs, ids) {
				return false
			}
		}
	}
	return true
}

// slotSafe is stacksafe for one slot: may the current slot c stand where
// old slot o was verified? Bytes are compared from the highest address
// down, as the kernel walks slot_type[0..7].
func (c *checker) slotSafe(o, cs *Slot, ids *idMap) bool {
	root := !c.opts.Unprivileged
	scalars := 0 // 1: both slots hold (or are) 64-bit scalars, -1: not
	for j := 7; j >= 0; j-- {
		ob, cb := o.B[j], cs.B[j]
		if ob == StackInvalid || root && ob == StackMisc {
			continue
		}
		// 64-bit scalar spill vs all-misc bytes, either way round.
		if scalars == 0 {
			scalars = -1
			if or, ok := scalarForSlot(o, root); ok {
				if cr, ok := scalarForSlot(cs, root); ok {
					return regSafe(&or, &cr, ids)
				}
			}
		}
		if ob == StackMisc && cb == StackZero {
			continue
		}
		if ob != cb {
			return false
		}
	}
	if o.B[0] == StackSpill {
		return regSafe(&o.Spill, &cs.Spill, ids)
	}
	return true
}

// scalarForSlot is scalar_reg_for_stack: an 8-byte scalar spill, or an
// unknown scalar for a slot of misc (or, for root, uninitialised) bytes.
func scalarForSlot(s *Slot, root bool) (Reg, bool) {
	if s.B == allSpill && s.Spill.Type == ScalarValue {
		return s.Spill, true
	}
	for _, b := range s.B {
		if b != StackMisc && !(root && b == StackInvalid) {
			return Reg{}, false
		}
	}
	return unknownReg(), true
}

// idMap is check_ids' map from IDs of the old state to IDs of the current
// one; a handful of pairs, so a slice reused across comparisons.
type idMap struct{ pairs [][2]uint32 }

func (m *idMap) reset() { m.pairs = m.pairs[:0] }

func checkID(old, cur uint32, ids *idMap) bool {
	if old == 0 {
		return true
	}
	if cur == 0 {
		return false
	}
	for _, p := range ids.pairs {
		if p[0] == old {
			return p[1] == cur
		}
		if p[1] == cur {
			return false // two old IDs cannot map to one current ID
		}
	}
	ids.pairs = append(ids.pairs, [2]uint32{old, cur})
	return true
}

// regSafe is regsafe(): may cur stand where old was verified?
func regSafe(o, c *Reg, ids *idMap) bool {
	if o.Type == NotInit {
		return true
	}
	if o.Type != c.Type {
		return false
	}
	switch o.Type {
	case ScalarValue:
		if !o.V.Contains(c.V) {
			return false
		}
		return o.ID == 0 || o.V.IsConst() || checkID(o.ID, c.ID, ids)
	case PtrPacket, PtrPacketMeta:
		if c.Range < o.Range || o.Off != c.Off || !o.V.Contains(c.V) {
			return false
		}
		return checkID(o.ID, c.ID, ids)
	default:
		if o.Off != c.Off || o.Map != c.Map || o.Size != c.Size || o.Frame != c.Frame || o.Func != c.Func {
			return false
		}
		if o.Null != c.Null || !o.V.Contains(c.V) {
			return false
		}
		if o.Null && !checkID(o.ID, c.ID, ids) {
			return false
		}
		return checkID(o.Ref, c.Ref, ids)
	}
}

// equalLive: the live parts of a and b are identical (a loop made no progress).
func (c *checker) equalLive(pc int, a, b *State) bool {
	if a.MayGoto != b.MayGoto || a.Loop != b.Loop || a.Lock != b.Lock || len(a.Refs) != len(b.Refs) {
		return false
	}
	for k := range a.Frames {
		fa, fb := a.Frames[k], b.Frames[k]
		live := c.liveAt(pc, a, k)
		for r := bpf.R0; r < bpf.NumRegs; r++ {
			if live.Has(r) && !sameReg(&fa.Regs[r], &fb.Regs[r]) {
				return false
			}
		}
		n := max(len(fa.Stack), len(fb.Stack))
		for i := 0; i < n; i++ {
			var sa, sb Slot
			if i < len(fa.Stack) {
				sa = fa.Stack[i]
			}
			if i < len(fb.Stack) {
				sb = fb.Stack[i]
			}
			if sa.B != sb.B || (sa.B[0] == StackSpill && !sameReg(&sa.Spill, &sb.Spill)) {
				return false
			}
		}
	}
	return true
}

func sameReg(a, b *Reg) bool {
	x, y := *a, *b
	x.ID, y.ID = 0, 0
	return x == y
}

// joinState widens st to hold old's states too (st := st ⊔ old), dropping
// facts that differ to unknown so that repeated joins terminate.
func joinState(st, old *State) {
	for k := range st.Frames {
		sf, of := st.Frames[k], old.Frames[k]
		for r := range sf.Regs {
			sf.Regs[r] = widenReg(sf.Regs[r], of.Regs[r])
		}
		n := max(len(sf.Stack), len(of.Stack))
		for i := 0; i < n; i++ {
			s := sf.slot(i)
			var o Slot
			if i < len(of.Stack) {
				o = of.Stack[i]
			}
			if s.B[0] == StackSpill && o.B[0] == StackSpill {
				s.Spill = widenReg(s.Spill, o.Spill)
				if s.Spill.Type == NotInit {
					s.B = [8]StackByte{StackMisc, StackMisc, StackMisc, StackMisc, StackMisc, StackMisc, StackMisc, StackMisc}
				}
				continue
			}
			for j := range s.B {
				a, b := s.B[j], o.B[j]
				switch {
				case a == b && a != StackSpill:
				case a == StackInvalid || b == StackInvalid:
					s.B[j] = StackInvalid
				default:
					s.B[j] = StackMisc
				}
			}
			s.Spill = Reg{}
		}
	}
}

func widenReg(a, b Reg) Reg {
	if sameReg(&a, &b) {
		return a
	}
	if a.Type != b.Type || a.Off != b.Off || a.Map != b.Map || a.Null != b.Null || a.Size != b.Size || a.Frame != b.Frame {
		if a.Type == ScalarValue && b.Type == ScalarValue {
			return unknownReg()
		}
		return Reg{}
	}
	if a.Type == ScalarValue {
		if b.V.Contains(a.V) {
			return b
		}
		return unknownReg()
	}
	if !b.V.Contains(a.V) {
		a.V = Unknown()
	}
	a.Range = min(a.Range, b.Range)
	return a
}

// Summary is the join of the states seen at one instruction, for the
// equivalence checker's window preconditions and synth's window choice.
type Summary struct {
	Regs [bpf.NumRegs]Reg // Mixed where paths disagree on the type
	// Paths counts the states joined.
	Paths int
}

func summarize(s *Summary, st *State) *Summary {
	f := st.cur()
	if s == nil {
		s = &Summary{Regs: f.Regs}
		s.Paths = 1
		return s
	}
	s.Paths++
	for r := range s.Regs {
		a, b := &s.Regs[r], f.Regs[r]
		switch {
		case a.Type == Mixed:
		case a.Type != b.Type:
			*a = Reg{Type: Mixed}
		case a.Type == ScalarValue:
			a.V = Join(a.V, b.V)
			a.ID = 0
		case a.Type.IsPtr():
			if a.Off != b.Off || a.Map != b.Map {
				a.V = Join(Const(uint64(int64(a.Off))), Join(a.V, Const(uint64(int64(b.Off)))))
				a.Off = 0
			}
			a.V = Join(a.V, b.V)
			a.Range = min(a.Range, b.Range)
			a.Null = a.Null || b.Null
		}
	}
	return s
}

var _ = math.MaxInt64
var _ ebpf.ProgramType
