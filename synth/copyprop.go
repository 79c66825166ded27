package synth

import (
	"slices"

	"github.com/k2opt/k2opt/bpf"
)

// Copy forwarding and load reuse, two more pre-pass rewrites (see
// peephole.go). clang leaves register copies whose only purpose is one
// later use (`r4 = r2; if w3 == w4 goto L`) and reloads of a value a
// register still holds (`r2 = *(u32 *)(r1 + 0); ...; r1 = *(u32 *)(r1 +
// 0)`). Deleting the copy needs a second, simultaneous change (the use
// reads the source instead), which the chains' one-instruction moves
// rarely make together: the intermediate program fails every test. Both
// rewrites are kept only when every test passes, and like every pre-pass
// result they go through the prover and the whole-program check.

// isJump reports whether c transfers control (a nop does not).
func (c cinsn) isJump() bool {
	return !c.isNop() && (c.op == bpf.OpJa || c.op.Info().Has(bpf.FlagCondJump))
}

// succs appends the window positions (len(c)+j: exit j) control reaches
// after position i.
func succs(c []cinsn, i int, out []int) []int {
	x := c[i]
	if x.isJump() {
		out = append(out, int(x.tgt))
		if x.op == bpf.OpJa {
			return out
		}
	}
	return append(out, i+1)
}

// reachAvoiding marks the positions reachable from the window's start
// without passing position skip.
func reachAvoiding(c []cinsn, skip int) []bool {
	seen := make([]bool, len(c))
	stack := []int{0}
	var next []int
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(c) || i == skip || seen[i] {
			continue
		}
		seen[i] = true
		next = succs(c, i, next[:0])
		stack = append(stack, next...)
	}
	return seen
}

// renameReads makes every read of register x reachable from position
// from (before x is written again) read y instead. It fails when such a
// read is also reachable without passing from-1, when x may be read
// after leaving the window, when y changes while x is still wanted, or
// when the read cannot be renamed (x read and written by one
// instruction, implicit reads).
func (p *problem) renameReads(c []cinsn, from int, x, y uint8) bool {
	other := reachAvoiding(c, from-1)
	seen := make([]bool, len(c))
	stack := []int{from}
	var next []int
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(c) {
			if p.exitLive[i-len(c)].Has(bpf.Reg(x)) {
				return false
			}
			continue
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		n := c[i] // a nop reads and writes nothing; succs gives i+1
		info := n.op.Info()
		in := n.insn(0, 0)
		reads, writes := in.Reads(), in.Writes()
		if reads.Has(bpf.Reg(x)) {
			if other[i] || info.ImplicitReads.Has(bpf.Reg(x)) {
				return false
			}
			if n.dst == x && (info.DstF == bpf.FRegR || info.DstF == bpf.FRegRW) {
				if writes.Has(bpf.Reg(x)) {
					return false
				}
				n.dst = y
			}
			if n.src == x && (info.SrcF == bpf.FRegR || info.SrcF == bpf.FRegRW) {
				if info.SrcF == bpf.FRegRW {
					return false
				}
				n.src = y
			}
			c[i] = n
		}
		if writes.Has(bpf.Reg(x)) {
			continue // x is redefined: this path is done
		}
		if writes.Has(bpf.Reg(y)) {
			return false
		}
		next = succs(c, i, next[:0])
		stack = append(stack, next...)
	}
	return true
}

// copyForward deletes register copies whose uses can read the source
// instead, when the tests agree.
func (p *problem) copyForward(m *machine, tests []*Test, c []cinsn) {
	for i := range c {
		x := c[i]
		if x.op != bpf.OpMov64Reg && x.op != bpf.OpMov32Reg || x.dst == x.src {
			continue
		}
		trial := slices.Clone(c)
		trial[i] = nop
		if p.renameReads(trial, i+1, x.dst, x.src) && p.zeroErr(m, trial, tests) {
			copy(c, trial)
		}
	}
}

// loadReuse turns a load of what an earlier load on the same straight
// path already put in a still unchanged register into a copy of that
// register (copyForward and dce then usually delete it), and a load of
// what an earlier store of the same width wrote into a copy of the
// stored register. Stores through the same base to other bytes may lie
// between.
func (p *problem) loadReuse(m *machine, tests []*Test, c []cinsn) {
	target := make([]bool, len(c)+1)
	for _, x := range c {
		if x.isJump() && int(x.tgt) < len(c) {
			target[x.tgt] = true
		}
	}
	for j, x := range c {
		if x.isNop() || x.op.Info().Kind != bpf.KindLoad || rmw(c, j) {
			continue
		}
		size := x.op.Info().Size
		var written bpf.RegSet // registers written between k and j
		for k := j - 1; k >= 0; k-- {
			if target[k+1] {
				break // another path joins between k and j
			}
			y := c[k]
			if y.isNop() {
				continue
			}
			yi := y.op.Info()
			var from uint8
			found := false
			switch {
			case y.op == x.op && y.src == x.src && y.off == x.off && y.dst != x.src:
				from, found = y.dst, true
			case yi.Kind == bpf.KindStore && !yi.ImmSrc && yi.Size == size && y.dst == x.src && y.off == x.off:
				// narrower than 4 bytes this is a truncating copy in
				// general; the tests keep it only where the uses look at
				// the low bytes alone (a sign extension, a masked compare)
				from, found = y.src, true
			case yi.Kind == bpf.KindStoreImm && yi.Size == size && y.dst == x.src && y.off == x.off:
				// the stored constant: a 64-bit store and a 64-bit move
				// both sign-extend the immediate
				n := cinsn{op: bpf.OpMov64Imm, dst: x.dst, imm: y.imm}
				if size != 8 {
					n.op, n.imm = bpf.OpMov32Imm, int64(int32(uint64(y.imm)&(1<<(8*size)-1)))
				}
				p.tryEdit(m, tests, c, j, n)
			}
			if yi.Kind == bpf.KindStoreImm && yi.Size == size && y.dst == x.src && y.off == x.off {
				break
			}
			if found && !written.Has(bpf.Reg(from)) {
				n := cinsn{op: bpf.OpMov64Reg, dst: x.dst, src: from}
				switch {
				case x.dst == from && size == 8:
					n = nop
				case size != 8:
					n.op = bpf.OpMov32Reg
				}
				p.tryEdit(m, tests, c, j, n)
				break
			}
			// anything else between the two: no writes to the registers
			// involved, no memory writes (calls are pinned: never in a window)
			in := y.insn(0, 0)
			written |= in.Writes()
			store := yi.Kind == bpf.KindStore || yi.Kind == bpf.KindStoreImm
			// a store through the same base to other bytes cannot change
			// the loaded ones; any other store might
			disjoint := store && y.dst == x.src && (int(y.off)+int(yi.Size) <= int(x.off) || int(x.off)+int(size) <= int(y.off))
			if in.Writes().Has(bpf.Reg(x.src)) || store && !disjoint || yi.Atomic != 0 {
				break
			}
			if y.op == x.op && y.src == x.src && y.off == x.off {
				break // same load into a register rewritten later: give up
			}
		}
	}
}

// rmw reports whether the load at j is the start of a read-modify-write
// of its address (the loaded register, changed only by ALU ops, stored
// back to the same place): that is the atomic merge's pattern (a search
// move), which a copy in place of the load would hide.
func rmw(c []cinsn, j int) bool {
	x := c[j]
	for k := j + 1; k < len(c); k++ {
		y := c[k]
		if y.isNop() {
			continue
		}
		yi := y.op.Info()
		switch {
		case yi.Kind == bpf.KindStore && y.dst == x.src && y.off == x.off && y.src == x.dst && yi.Size == x.op.Info().Size:
			return true
		case (yi.Class == bpf.ClassALU || yi.Class == bpf.ClassALU64) && y.dst == x.dst && y.src != x.dst:
			continue
		}
		return false
	}
	return false
}
