package synth

import (
	"slices"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
)

// The peephole pre-pass: before the chains start, cheap deterministic
// rewrites of the window are tried, each kept only when every test still
// passes, and the result goes through the same prover and whole-program
// check as any candidate (it is never trusted on its own):
//   - a register operand whose value safety knows to be a constant
//     becomes an immediate (stores, ALU ops, jumps), and an instruction
//     whose result safety knows to be a constant becomes a move of it
//     (constant folding);
//   - instructions whose results are dead (window liveness, dead stack
//     bytes) are deleted;
//   - loads of values a register still holds become copies, and copies
//     whose uses can read the source instead go (copyprop.go);
//   - then every remaining instruction is tried for deletion, and every
//     conditional jump as an unconditional one (redundant moves such as
//     w1 = w1 after a 32-bit op, r1 += 0, masks that change nothing,
//     goto +0, branches the entry state decides), and for deletion with
//     one operand changed elsewhere (repair.go).
// A second, conservative variant without the test-guided deletions is
// tried when the first is refused.

// opKey finds ops by shape.
type opKey struct {
	kind   bpf.Kind
	class  bpf.Class
	immSrc bool
	size   uint8
}

var opByKey = func() map[opKey]bpf.Op {
	m := map[opKey]bpf.Op{}
	for _, op := range bpf.Ops() {
		i := op.Info()
		if !sems[op].ok {
			continue
		}
		k := opKey{i.Kind, i.Class, i.ImmSrc, i.Size}
		if _, dup := m[k]; !dup {
			m[k] = op
		}
	}
	return m
}()

func immVariant(op bpf.Op) (bpf.Op, bool) {
	i := op.Info()
	if i.Kind == bpf.KindStore {
		o, ok := opByKey[opKey{bpf.KindStoreImm, bpf.ClassST, false, i.Size}]
		if !ok {
			o, ok = opByKey[opKey{bpf.KindStoreImm, bpf.ClassST, true, i.Size}]
		}
		return o, ok
	}
	o, ok := opByKey[opKey{i.Kind, i.Class, true, i.Size}]
	return o, ok
}

// constOf reports the constant value safety knows reg r to hold.
func constOf(s *safety.Summary, r uint8) (uint64, bool) {
	if s == nil || r >= 10 {
		return 0, false
	}
	g := s.Regs[r]
	if g.Type != safety.ScalarValue || !g.V.IsConst() {
		return 0, false
	}
	return g.V.T.Value, true
}

// tryEdit puts n at position i of c and keeps it when c then passes
// every test; otherwise c[i] is restored. It reports whether n stayed.
func (p *problem) tryEdit(m *machine, tests []*Test, c []cinsn, i int, n cinsn) bool {
	old := c[i]
	c[i] = n
	if p.zeroErr(m, c, tests) {
		return true
	}
	c[i] = old
	return false
}

// zeroErr reports whether c passes every test.
func (p *problem) zeroErr(m *machine, c []cinsn, tests []*Test) bool {
	for _, t := range tests {
		if p.testErr(m, c, t) != 0 {
			return false
		}
	}
	return true
}

// constRewrites applies the rules that need safety's summaries.
func (p *problem) constRewrites(f *Func, w Window, m *machine, tests []*Test, c []cinsn) {
	at := func(s []*safety.Summary, i int) *safety.Summary {
		if w.Start+i < len(s) {
			return s[w.Start+i]
		}
		return nil
	}
	try := func(i int, n cinsn) { p.tryEdit(m, tests, c, i, n) }
	for i := range c {
		x := c[i]
		if x.isNop() {
			continue
		}
		info := x.op.Info()
		before := at(f.Before, i)
		// a register operand known constant -> immediate
		if !info.ImmSrc && info.SrcF == bpf.FRegR && x.op != bpf.OpLddw {
			if v, ok := constOf(before, x.src); ok {
				if op, ok := immVariant(x.op); ok && (info.Kind == bpf.KindStore || info.Class == bpf.ClassALU64 ||
					info.Class == bpf.ClassALU || info.Has(bpf.FlagCondJump)) {
					imm, fits := int64(int32(v)), int64(int32(v)) == int64(v)
					if info.Width == 32 || info.Size != 0 && info.Size < 8 {
						imm, fits = int64(int32(uint32(v))), true
					}
					if fits && !(info.Kind == bpf.KindMov && info.Width == 64 && imm < 0 && uint64(imm) != v) {
						n := x
						n.op, n.src, n.imm = op, 0, imm
						p.fixImmFor(&n)
						try(i, n)
						x = c[i]
						info = x.op.Info()
					}
				}
			}
		}
		// a result known constant -> a move of it (constant folding)
		if (info.Class == bpf.ClassALU || info.Class == bpf.ClassALU64 || info.Kind == bpf.KindLoad) &&
			!(info.Kind == bpf.KindMov && info.ImmSrc) && info.DstF != bpf.FZero {
			if v, ok := constOf(at(f.After, i), x.dst); ok {
				switch {
				case int64(int32(v)) == int64(v):
					try(i, cinsn{op: bpf.OpMov64Imm, dst: x.dst, imm: int64(int32(v)), tgt: x.tgt})
				case v>>32 == 0:
					try(i, cinsn{op: bpf.OpMov32Imm, dst: x.dst, imm: int64(int32(uint32(v))), tgt: x.tgt})
				}
			}
		}
	}
}

// fixImmFor keeps an imm valid for its op (shift counts, non-zero divisors).
func (p *problem) fixImmFor(c *cinsn) {
	i := c.op.Info()
	switch i.ImmF {
	case bpf.FShift:
		c.imm &= int64(i.Width - 1)
	case bpf.FNonZero:
		if int32(c.imm) == 0 {
			c.imm = 1
		}
	}
}

// windowLive computes the registers live before each position of c
// (and, past len(c), at the window's exits).
func (p *problem) windowLive(c []cinsn) []bpf.RegSet {
	live := make([]bpf.RegSet, len(c)+len(p.exitLive))
	copy(live[len(c):], p.exitLive)
	for i := len(c) - 1; i >= 0; i-- {
		x := c[i]
		switch {
		case x.isNop():
			live[i] = live[i+1]
		case x.op == bpf.OpJa:
			live[i] = live[x.tgt]
		default:
			in := x.insn(0, 0)
			l := live[i+1]&^in.Writes() | in.Reads()
			if x.op.Info().Has(bpf.FlagCondJump) {
				l |= live[x.tgt]
			}
			live[i] = l
		}
	}
	return live
}

// dce deletes instructions whose results are dead, when the tests agree.
func (p *problem) dce(m *machine, tests []*Test, c []cinsn) {
	for changed := true; changed; {
		changed = false
		live := p.windowLive(c)
		for i := len(c) - 1; i >= 0; i-- {
			x := c[i]
			if x.isNop() {
				continue
			}
			info := x.op.Info()
			pure := info.Class == bpf.ClassALU || info.Class == bpf.ClassALU64 || x.op == bpf.OpLddw ||
				info.Kind == bpf.KindLoad || info.Kind == bpf.KindLoadSX
			dead := false
			if pure {
				wr := x.insn(0, 0).Writes()
				dead = wr != 0 && wr&live[i+1] == 0
			} else if (info.Kind == bpf.KindStore || info.Kind == bpf.KindStoreImm) && x.dst == 10 {
				dead = true
				for b := range int(info.Size) {
					if o := StackSize + int(x.off) + b; o < 0 || o >= StackSize || !p.deadAll(o) {
						dead = false
					}
				}
			}
			if !dead {
				continue
			}
			if p.tryEdit(m, tests, c, i, nop) {
				changed = true
			}
		}
	}
}

// greedy tries deleting each instruction and making each conditional
// jump unconditional, keeping what the tests accept.
func (p *problem) greedy(m *machine, tests []*Test, c []cinsn) {
	for i := len(c) - 1; i >= 0; i-- {
		x := c[i]
		if x.isNop() {
			continue
		}
		if !p.tryEdit(m, tests, c, i, nop) && x.op.Info().Has(bpf.FlagCondJump) {
			p.tryEdit(m, tests, c, i, cinsn{op: bpf.OpJa, tgt: x.tgt})
		}
	}
}

// peepholes returns the pre-pass candidates for window w, most
// aggressive first; only those cheaper than the original.
func (p *problem) peepholes(f *Func, w Window, tests []*Test) [][]cinsn {
	var m machine
	m.log = make([]logEntry, 0, 256)
	cons := slices.Clone(p.orig)
	p.constRewrites(f, w, &m, tests, cons)
	p.mergeLoads(&m, tests, cons)
	p.loadReuse(&m, tests, cons)
	p.copyForward(&m, tests, cons)
	p.dce(&m, tests, cons)
	aggr := slices.Clone(cons)
	p.greedy(&m, tests, aggr)
	p.dce(&m, tests, aggr)
	repaired := slices.Clone(aggr)
	p.deleteRepair(&m, tests, repaired)
	p.dce(&m, tests, repaired)
	var out [][]cinsn
	base := p.perf(p.orig)
	if p.perf(repaired) < p.perf(aggr) {
		out = append(out, repaired)
	}
	if p.perf(aggr) < base {
		out = append(out, aggr)
	}
	if p.perf(cons) < base && !slices.Equal(cons, aggr) {
		out = append(out, cons)
	}
	return out
}

// Byte-load merging: clang splits loads from packed structs into byte
// loads combined with shifts and ors. A symbolic pass tracks, for each
// register, where each of its 8 bytes comes from; when a register holds
// exactly the little-endian bytes off..off+n-1 of one base pointer (n =
// 2, 4, 8, the rest zero), the instruction that completed it becomes one
// n-byte load (the feeding loads then die and go in dce).

type symByte struct {
	kind uint8 // 0 unknown, 1 zero, 2 memory byte
	base uint8 // base register
	ver  uint16
	off  int16
}

type symReg [8]symByte

var (
	symUnknown symReg
	symZero    = symReg{{kind: 1}, {kind: 1}, {kind: 1}, {kind: 1}, {kind: 1}, {kind: 1}, {kind: 1}, {kind: 1}}
)

func (r *symReg) trunc32() {
	for i := 4; i < 8; i++ {
		r[i] = symByte{kind: 1}
	}
}

// mergeLoads applies the byte-load merge where the tests agree.
func (p *problem) mergeLoads(m *machine, tests []*Test, c []cinsn) {
	var regs [11]symReg
	var ver [11]uint16
	target := make([]bool, len(c)+1)
	for _, x := range c {
		if !x.isNop() && x.op.Info().Has(bpf.FlagJump) && int(x.tgt) <= len(c) {
			target[x.tgt] = true
		}
	}
	for i := range c {
		if target[i] {
			regs = [11]symReg{}
		}
		x := c[i]
		if x.isNop() {
			continue
		}
		info := x.op.Info()
		d := x.dst
		if d > 10 || x.src > 10 {
			return
		}
		var nv symReg
		w32 := info.Width == 32
		switch {
		case info.Kind == bpf.KindLoad:
			nv = symZero
			for b := range int(info.Size) {
				nv[b] = symByte{kind: 2, base: x.src, ver: ver[x.src], off: x.off + int16(b)}
			}
		case info.Kind == bpf.KindStore || info.Kind == bpf.KindStoreImm || info.Kind == bpf.KindAtomic:
			// memory changed: forget memory bytes
			for r := range regs {
				for b := range regs[r] {
					if regs[r][b].kind == 2 {
						regs[r][b] = symByte{}
					}
				}
			}
			if info.Kind == bpf.KindAtomic {
				regs[x.src], regs[0] = symUnknown, symUnknown
				ver[x.src]++
				ver[0]++
			}
			continue
		case info.Has(bpf.FlagJump):
			continue
		case info.Kind == bpf.KindMov && !info.ImmSrc:
			nv = regs[x.src]
			if w32 {
				nv.trunc32()
			}
		case info.Kind == bpf.KindMov && x.imm == 0:
			nv = symZero
		case (info.Kind == bpf.KindLsh || info.Kind == bpf.KindRsh) && info.ImmSrc && x.imm%8 == 0:
			v := regs[d]
			if w32 {
				v.trunc32()
			}
			k := int(x.imm / 8)
			width := 8
			if w32 {
				width = 4
			}
			nv = symZero
			for b := range width {
				src := b - k
				if info.Kind == bpf.KindRsh {
					src = b + k
				}
				if src >= 0 && src < width {
					nv[b] = v[src]
				}
			}
		case info.Kind == bpf.KindAnd && info.ImmSrc:
			nv = regs[d]
			mask := uint64(x.imm)
			if w32 {
				mask = uint64(uint32(mask))
			}
			for b := range 8 {
				switch mask >> (8 * b) & 0xff {
				case 0:
					nv[b] = symByte{kind: 1}
				case 0xff:
				default:
					nv[b] = symByte{}
				}
			}
		case (info.Kind == bpf.KindOr || info.Kind == bpf.KindAdd) && !info.ImmSrc:
			a, bb := regs[d], regs[x.src]
			for b := range 8 {
				switch {
				case a[b].kind == 1:
					nv[b] = bb[b]
				case bb[b].kind == 1:
					nv[b] = a[b]
				default:
					nv[b] = symByte{}
				}
			}
			if w32 {
				nv.trunc32()
			}
		default:
			nv = symUnknown
		}
		if info.Has(bpf.FlagCall) {
			return
		}
		wr := x.insn(0, 0).Writes()
		for r := uint8(0); r < 11; r++ {
			if wr.Has(bpf.Reg(r)) {
				ver[r]++
				regs[r] = symUnknown
			}
		}
		if !wr.Has(bpf.Reg(d)) {
			continue
		}
		regs[d] = nv
		if info.Kind == bpf.KindLoad {
			continue
		}
		// does d now hold one contiguous little-endian load?
		for _, n := range []int{8, 4, 2} {
			b0 := nv[0]
			if b0.kind != 2 || ver[b0.base] != b0.ver {
				continue
			}
			ok := true
			for b := range 8 {
				want := symByte{kind: 1}
				if b < n {
					want = symByte{kind: 2, base: b0.base, ver: b0.ver, off: b0.off + int16(b)}
				}
				if nv[b] != want {
					ok = false
				}
			}
			if !ok {
				continue
			}
			op, found := opByKey[opKey{bpf.KindLoad, bpf.ClassLDX, false, uint8(n)}]
			if !found {
				break
			}
			p.tryEdit(m, tests, c, i, cinsn{op: op, dst: d, src: b0.base, off: b0.off, tgt: x.tgt})
			break
		}
	}
}
