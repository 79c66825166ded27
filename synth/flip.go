package synth

import (
	"math/rand/v2"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
)

// Branch flipping for test generation: random inputs almost never make
// "if w3 == w4" true when r3 was loaded from a map value and r4 from the
// stack. While the original window runs on a test, a tracker remembers
// where each register's value came from (a live-in register or the bytes
// of a load, followed through register copies) and, at each conditional
// jump, which value the other operand had. A flip then writes that value
// (or one next to it) at the origin, giving a test that likely takes the
// other side of the branch.

// origin is where a register's value came from: a live-in register
// (reg = r+1) or a load of size bytes at the tagged address addr, plus
// delta (added and subtracted since, e.g. "w1 += w0"). val is the
// register's value when recorded: once the register changes otherwise
// the origin is stale.
type origin struct {
	reg   uint8
	addr  uint64
	size  uint8
	val   uint64
	delta uint64
}

// flip is one way to change a test: make the origin hold val.
type flip struct {
	o   origin
	val uint64
}

type tracker struct {
	origin [16]origin
	flips  []flip
}

func (tr *tracker) start(m *machine) {
	tr.flips = tr.flips[:0]
	for r := range tr.origin {
		tr.origin[r] = origin{reg: uint8(r) + 1, val: m.r[r]}
	}
	tr.origin[bpf.R10] = origin{}
}

// compare records the flips of a conditional jump of dst against b (the
// source register's value, or the immediate).
func (tr *tracker) compare(m *machine, dst, src uint8, srcReg bool, b uint64) {
	if o := tr.origin[dst]; o.fresh(m.r[dst]) {
		tr.flips = append(tr.flips, flip{o, b})
	}
	if srcReg {
		if o := tr.origin[src]; o.fresh(m.r[src]) {
			tr.flips = append(tr.flips, flip{o, m.r[dst]})
		}
	}
}

// add follows dst = old +/- b (= now) when dst's origin is fresh.
func (tr *tracker) add(dst uint8, old, b uint64, sub bool, now uint64) {
	o := &tr.origin[dst]
	if !o.fresh(old) || isPtr(b) {
		return
	}
	if sub {
		o.delta -= b
	} else {
		o.delta += b
	}
	o.val = now
}

func (o origin) fresh(v uint64) bool { return (o.reg != 0 || o.size != 0) && o.val == v && !isPtr(v) }

// apply makes t's origin of f hold v; it reports false when it cannot
// (a pointer, a value the entry state excludes, an address outside t).
func (f flip) apply(t *Test, v uint64, sum *safety.Summary) bool {
	v -= f.o.delta
	if f.o.size == 0 {
		r := bpf.Reg(f.o.reg - 1)
		if r >= bpf.R10 || isPtr(t.Regs[r]) {
			return false
		}
		if !scalarAllows(sum, r, v) {
			return false
		}
		t.Regs[r] = v
		return true
	}
	a := f.o.addr
	region := int(a>>48) & 0xff
	if !isPtr(a) || region >= NumRegions {
		return false
	}
	off := int(int64(uint32(a))) - ptrBias
	mem := t.Mem[region]
	if off < 0 || off+int(f.o.size) > len(mem) {
		return false
	}
	for i := range int(f.o.size) {
		mem[off+i] = byte(v >> (8 * i))
	}
	return true
}

// scalarAllows reports whether live-in r may hold the scalar v on entry
// by the summary (nil: anything goes).
func scalarAllows(sum *safety.Summary, r bpf.Reg, v uint64) bool {
	return sum == nil || sum.Regs[r].Type == safety.ScalarValue && sum.Regs[r].V.Contains(safety.Const(v))
}

// flipTests derives up to n new tests from t by flipping the branches
// its run recorded in tr.
func flipTests(rng *rand.Rand, t *Test, tr *tracker, sum *safety.Summary, n int) []*Test {
	var out []*Test
	for i := 0; i < n && len(tr.flips) > 0; i++ {
		f := tr.flips[rng.IntN(len(tr.flips))]
		v := f.val
		switch rng.IntN(4) {
		case 1:
			v++
		case 2:
			v--
		}
		c := t.Clone()
		if f.apply(c, v, sum) {
			out = append(out, c)
		}
	}
	return out
}
