package safety

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

// progCache is everything Verify derives from a program's instructions
// alone (decoding, CFG, prune points, liveness). It is computed once per
// Program and reused while the instructions, function bounds and type are
// unchanged: the search verifies the same linked program over and over
// with Options varying, and callers that edit Insns in place get a fresh
// cache because the key no longer matches. It is immutable once built.
type progCache struct {
	// key
	insns  []bpf.Insn
	bounds []int // Start, End of each function
	typ    ebpf.ProgramType

	diag *Diagnostic // setup failure (copied out on use)
	pi   *progInfo
	meta []insnMeta
	live []bpf.RegSet
}

// insnMeta is the static information about one instruction that the
// interpreter consults on every step. It holds no pointers, so the
// garbage collector does not scan the table.
type insnMeta struct {
	op     bpf.Op
	slot   int32
	target int32 // jump target (instruction index), -1 when none
	flags  uint8
}

func (m *insnMeta) info() *bpf.OpInfo { return m.op.Info() }

const (
	mPrune    uint8 = 1 << iota // a prune point (is_state_visited runs here)
	mJmp                        // JMP/JMP32 class: counted in jmps_processed
	mLoopHead                   // may_goto or bpf_loop call
	mFall                       // may fall through to the next instruction
)

// jumpTarget is Insn.JumpTarget from the decoded op: the target slot.
func jumpTarget(in bpf.Insn, m *insnMeta) (int, bool) {
	switch {
	case m.op == bpf.OpGotol:
		return int(m.slot) + 1 + int(in.Imm), true
	case m.info().Flags&bpf.FlagJump != 0:
		return int(m.slot) + 1 + int(in.Off), true
	}
	return 0, false
}

// matches reports whether c was built for p's current contents.
func (pc *progCache) matches(p *Program) bool {
	if pc.typ != p.Type || len(pc.bounds) != 2*len(p.Funcs) || !slices.Equal(pc.insns, p.Insns) {
		return false
	}
	for i, f := range p.Funcs {
		if pc.bounds[2*i] != f.Start || pc.bounds[2*i+1] != f.End {
			return false
		}
	}
	return true
}

// cached returns p's static tables, building them when p changed since the
// last call. Concurrent Verify calls on one Program are safe: each builds
// or reads an immutable cache.
func cached(p *Program, sc *scratch) *progCache {
	if pc := p.cache.Load(); pc != nil && pc.matches(p) {
		return pc
	}
	pc := buildCache(p, sc)
	p.cache.Store(pc)
	return pc
}

func (pc *progCache) fail(p *Program, i int, prop Property, format string, args ...any) *progCache {
	d := &Diagnostic{Insn: i, Slot: -1, Property: prop, Reason: fmt.Sprintf(format, args...)}
	if i >= 0 && i < len(p.Insns) {
		d.Slot = int(pc.meta[i].slot)
		d.Text = insnText(p.Insns[i])
		d.Func = p.Funcs[p.funcAt(i)].Name
	}
	pc.diag = d
	return pc
}

// buildCache validates encodings and control flow (check_cfg) and
// computes the static facts.
func buildCache(p *Program, sc *scratch) *progCache {
	n := len(p.Insns)
	pc := &progCache{insns: slices.Clone(p.Insns), typ: p.Type, bounds: make([]int, 0, 2*len(p.Funcs))}
	for _, f := range p.Funcs {
		pc.bounds = append(pc.bounds, f.Start, f.End)
	}
	pc.meta = make([]insnMeta, n)
	slot := 0
	for i, in := range p.Insns {
		op := in.Op()
		pc.meta[i] = insnMeta{op: op, slot: int32(slot), target: -1}
		slot += in.Slots()
	}
	var err error
	if pc.pi, err = p.info(); err != nil {
		return pc.fail(p, -1, CtxAccess, "%v", err)
	}
	// bpf.Check's per-instruction half; jump targets are checked below.
	for i, in := range p.Insns {
		if err := in.Validate(); err != nil {
			prop := Malformed
			if containsStr(err.Error(), "division by zero") {
				prop = Division
			}
			return pc.fail(p, i, prop, "%v", err)
		}
	}
	atSlot := grow(&sc.atSlot, slot)
	for i := range atSlot {
		atSlot[i] = -1
	}
	for i := range pc.meta {
		atSlot[pc.meta[i].slot] = int32(i)
	}
	fi := 0
	for i, in := range p.Insns {
		for fi+1 < len(p.Funcs) && p.Funcs[fi+1].Start <= i {
			fi++
		}
		f := p.Funcs[fi]
		m := &pc.meta[i]
		info := m.info()
		if info.Class == bpf.ClassJMP || info.Class == bpf.ClassJMP32 {
			m.flags |= mJmp
		}
		if m.op == bpf.OpMayGoto || (m.op == bpf.OpCall && in.Imm == 181) {
			m.flags |= mLoopHead
		}
		cond := info.Flags&bpf.FlagCondJump != 0
		if t, ok := jumpTarget(in, m); ok {
			ti := int32(-1)
			if t >= 0 && t < len(atSlot) {
				ti = atSlot[t]
			}
			if ti < 0 || int(ti) < f.Start || int(ti) >= f.End {
				return pc.fail(p, i, Malformed, "jump out of range to slot %d", t)
			}
			m.target = ti
			if cond {
				m.flags |= mPrune
			} else {
				pc.meta[ti].flags |= mPrune
				continue
			}
		}
		if in.IsExit() {
			continue
		}
		if i+1 >= f.End {
			return pc.fail(p, i, Malformed, "last instruction of %s falls through", f.Name)
		}
		m.flags |= mFall
		// visit_func_call_insn: the return point of every call is a prune
		// point; bpf-to-bpf calls and callback-calling helpers are too.
		if info.Flags&bpf.FlagCall != 0 {
			pc.meta[i+1].flags |= mPrune
		}
		if m.op == bpf.OpCallLocal || (m.op == bpf.OpCall && in.Imm == 181) {
			m.flags |= mPrune
		}
	}
	// check_cfg: every instruction must be reachable from its function's start.
	seen := grow(&sc.seen, n)
	clear(seen)
	stack := sc.stack[:0]
	for _, fn := range p.Funcs {
		stack = append(stack[:0], int32(fn.Start))
		seen[fn.Start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			m := &pc.meta[i]
			if m.target >= 0 && !seen[m.target] {
				seen[m.target] = true
				stack = append(stack, m.target)
			}
			if m.flags&mFall != 0 && !seen[i+1] {
				seen[i+1] = true
				stack = append(stack, i+1)
			}
		}
	}
	for i := range seen {
		if !seen[i] {
			return pc.fail(p, i, Malformed, "unreachable insn %d", pc.meta[i].slot)
		}
	}
	sc.stack = stack
	pc.live = liveIn(p, pc.meta, sc)
	return pc
}
