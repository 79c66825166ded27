package synth

import (
	"slices"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
)

// Jump threading and branch cleanup: like tail merging (tailmerge.go) a
// structural pass that needs no proof, because every path still executes
// the same non-jump instructions in the same order; only unconditional
// jumps (which change no state) are skipped or removed:
//
//  1. a jump to "goto M" (or a chain of them) goes to M directly;
//  2. "if c goto +1; goto L" becomes "if !c goto L" (JSET has no inverse
//     and stays), and "goto +0" / "if c goto +0" go;
//  3. code that is no longer reachable goes (the kernel refuses it).
//
// The result goes through Func.Check and the final gate like tail merges.

// invJump maps a conditional jump's operation nibble to its negation.
var invJump = map[uint8]uint8{
	0x10: 0x50, 0x50: 0x10, // jeq, jne
	0x20: 0xb0, 0xb0: 0x20, // jgt, jle
	0x30: 0xa0, 0xa0: 0x30, // jge, jlt
	0x60: 0xd0, 0xd0: 0x60, // jsgt, jsle
	0x70: 0xc0, 0xc0: 0x70, // jsge, jslt
}

// InvertJump returns the jump taken exactly when in is not (same class,
// operands and offset); ok is false for jset, may_goto and non-jumps.
func InvertJump(in bpf.Insn) (bpf.Insn, bool) {
	if !in.IsCondJump() || in.Info().Kind == bpf.KindMayGoto {
		return in, false
	}
	op, ok := invJump[in.Code&0xf0]
	if !ok {
		return in, false
	}
	in.Code = op | in.Code&0x0f
	return in, in.Op().Valid()
}

// threadJumps rewrites the jumps of insns with the edits base (tail
// merges, bpf.Rewrite form, each a deletion or one instruction) already
// applied. keep[k] marks instructions that must not change (relocated,
// code references). It returns its own edits, on insns' indexes, to be
// laid over base; the instructions they change or delete (which the
// window search must leave alone); and how many jumps were redirected,
// inverted or removed. Nothing is returned when nothing changes.
func threadJumps(insns []bpf.Insn, base map[int][]bpf.Insn, keep []bool) (map[int][]bpf.Insn, []bool, int) {
	n := len(insns)
	cfg, err := bpf.NewCFG(insns, nil)
	if err != nil {
		return nil, nil, 0
	}
	slots := bpf.SlotOffsets(insns)
	slotToInsn := make(map[int]int, n+1)
	for k := 0; k <= n; k++ {
		slotToInsn[slots[k]] = k
	}
	cur := make([]bpf.Insn, n)
	del := make([]bool, n)
	for k, in := range insns {
		cur[k] = in
		if e, ok := base[k]; ok {
			switch len(e) {
			case 0:
				del[k] = true
			case 1:
				cur[k] = e[0]
			default:
				return nil, nil, 0
			}
		}
	}
	fixed := func(k int) bool {
		if keep != nil && keep[k] {
			return true
		}
		switch cur[k].Info().Kind {
		case bpf.KindMayGoto, bpf.KindCallLocal, bpf.KindLdImm64:
			return true
		}
		return false
	}
	// next(k): the first surviving instruction from k on (n: none).
	next := func(k int) int {
		for k < n && del[k] {
			k++
		}
		return k
	}
	// Targets as instruction indexes, read like bpf.Rewrite reads them: a
	// reference to a deleted instruction lands on the next surviving one.
	tgt := make([]int, n)
	for k := range n {
		tgt[k] = -1
		if del[k] || !cur[k].IsJump() {
			continue
		}
		t, _ := cur[k].JumpTarget(slots[k])
		ti, ok := slotToInsn[t]
		if !ok || ti >= n {
			return nil, nil, 0
		}
		ti = next(ti)
		if ti >= n || cfg.SubprogOf(ti) != cfg.SubprogOf(k) {
			return nil, nil, 0
		}
		tgt[k] = ti
	}
	orig := append([]bpf.Insn(nil), cur...)
	origTgt := append([]int(nil), tgt...)
	origDel := append([]bool(nil), del...)
	isGoto := func(k int) bool { return !del[k] && cur[k].IsUncondJump() }
	// near: a jump at k reaches t with a 16-bit offset (gotol has 32)
	near := func(k, t int) bool {
		off := slots[t] - slots[k] - 1
		return cur[k].Op() == bpf.OpGotol || (off >= -32768 && off <= 32767)
	}
	// what each surviving rewrite did, for the count: threaded or
	// inverted jumps, and no-op jumps removed
	redirected := make([]bool, n)
	nops := 0
	for changed := true; changed; {
		changed = false
		// 1. threading: follow chains of gotos (a cycle stays put)
		for k := range n {
			if tgt[k] < 0 || del[k] || fixed(k) {
				continue
			}
			t, hops := tgt[k], 0
			for isGoto(t) && tgt[t] != t && hops < n {
				t = tgt[t]
				hops++
			}
			// hops == n: a cycle of gotos, left alone
			if hops == n || t == tgt[k] || !near(k, t) {
				continue
			}
			tgt[k] = t
			redirected[k] = true
			changed = true
		}
		// 2a. "if c goto +1; goto L" -> "if !c goto L", the goto entered
		// only from the branch
		inbound := make([]int, n+1)
		for k := range n {
			if !del[k] && tgt[k] >= 0 {
				inbound[tgt[k]]++
			}
		}
		for k := range n {
			if del[k] || fixed(k) || !cur[k].IsCondJump() {
				continue
			}
			g := next(k + 1)
			if g >= n || !isGoto(g) || fixed(g) || inbound[g] > 0 || tgt[k] != next(g+1) || tgt[g] == g || !near(k, tgt[g]) {
				continue
			}
			inv, ok := InvertJump(cur[k])
			if !ok {
				continue
			}
			inbound[tgt[k]]--
			cur[k], tgt[k], del[g] = inv, tgt[g], true
			redirected[k] = true
			changed = true
		}
		// 2b. jumps to the next instruction do nothing
		for k := range n {
			if del[k] || fixed(k) || tgt[k] < 0 || tgt[k] != next(k+1) {
				continue
			}
			del[k] = true
			for j := range n {
				if tgt[j] == k {
					tgt[j] = tgt[k]
				}
			}
			nops++
			changed = true
		}
	}
	if nops == 0 && !slices.Contains(redirected, true) {
		return nil, nil, 0
	}
	// 3. unreachable code goes; subprogram entries and kept instructions
	// are roots
	reach := make([]bool, n)
	var work []int
	push := func(k int) {
		if k < n && !reach[k] {
			reach[k] = true
			work = append(work, k)
		}
	}
	for _, sp := range cfg.Subprogs {
		if del[sp.Start] {
			return nil, nil, 0
		}
		push(sp.Start)
	}
	for k := range n {
		if !del[k] && keep != nil && keep[k] {
			push(k)
		}
	}
	for len(work) > 0 {
		k := work[len(work)-1]
		work = work[:len(work)-1]
		if tgt[k] >= 0 {
			push(tgt[k])
		}
		if !cur[k].IsExit() && !cur[k].IsUncondJump() {
			push(next(k + 1))
		}
	}
	for k := range n {
		if !del[k] && !reach[k] {
			del[k] = true
		}
	}
	count := nops
	for k := range n {
		if redirected[k] && !del[k] {
			count++
		}
	}

	edits := map[int][]bpf.Insn{}
	touched := make([]bool, n)
	for k := range n {
		switch {
		case del[k] && !origDel[k]:
			edits[k] = []bpf.Insn{}
		case del[k]:
			continue
		case fixed(k):
			// a jump to a removed no-op jump: bpf.Rewrite moves it to
			// the next surviving instruction, which is where it now goes
			continue
		case cur[k] != orig[k] || tgt[k] != origTgt[k]:
			in := cur[k]
			off := slots[tgt[k]] - slots[k] - 1
			if in.Op() == bpf.OpGotol {
				in.Imm = int32(off)
			} else {
				in.Off = int16(off) // near: in range
			}
			edits[k] = []bpf.Insn{in}
		default:
			continue
		}
		touched[k] = true
	}
	return edits, touched, count
}

// structural runs the proof-free passes before the window search: tail
// merging, then jump threading on its result (the other order gives the
// same corpus figures, docs/search.md). ok answers whether edits pass
// the whole-program check; the first of both passes, tail merging alone
// and threading alone that does is kept. It returns the edits, the
// instructions they involve (pinned for the windows) and the counts for
// the report.
func structural(insns []bpf.Insn, keep []bool, ok func(map[int][]bpf.Insn) bool) (edits map[int][]bpf.Insn, touched []bool, merges, threaded int) {
	tm, tmTouched := tailMerge(insns, keep)
	// Threading runs on the original, not on the merged program: a jump
	// threaded through the goto that replaced a merged run would leave
	// `k2opt check` an exit it cannot map back to the original (the
	// original has a run there, not a goto). What tail merging touches
	// is kept from it.
	union := func(a, b []bool) []bool {
		if a == nil {
			return b
		}
		out := slices.Clone(a)
		for k := range b {
			out[k] = out[k] || b[k]
		}
		return out
	}
	jt, jtTouched, count := threadJumps(insns, nil, union(keep, tmTouched))
	if jt != nil {
		all := make(map[int][]bpf.Insn, len(tm)+len(jt))
		for k, e := range tm {
			all[k] = e
		}
		for k, e := range jt {
			all[k] = e
		}
		if ok(all) {
			return all, union(tmTouched, jtTouched), tailMerges(tm), count
		}
	}
	if tm != nil {
		if ok(tm) {
			return tm, tmTouched, tailMerges(tm), 0
		}
		if jt, jtTouched, count = threadJumps(insns, nil, keep); jt != nil && ok(jt) {
			return jt, jtTouched, 0, count
		}
	}
	return nil, nil, 0, 0
}

// StructuralRewrite applies tail merging and jump threading to function
// fn alone, with no check and no search: what the passes do to a
// function, for a translation validator's tests and for measurements.
func StructuralRewrite(fn *object.Function) (rw object.Rewrite, merges, threaded int, err error) {
	insns := fn.Insns
	keep, ext := keepAndExt(fn)
	edits, _, merges, threaded := structural(insns, keep, func(map[int][]bpf.Insn) bool { return true })
	if edits == nil {
		return identity(insns), 0, 0, nil
	}
	rw, err = buildRewrite(insns, edits, ext)
	return rw, merges, threaded, err
}

// keepAndExt marks fn's instructions the structural passes must keep
// (relocated ones, code references) and its relocated slots.
func keepAndExt(fn *object.Function) ([]bool, bpf.External) {
	keep := make([]bool, len(fn.Insns))
	ext := bpf.External{}
	slots := bpf.SlotOffsets(fn.Insns)
	for k := range fn.Insns {
		_, rel := fn.Reloc(k)
		keep[k] = rel || fn.IsCodeRef(k)
		if rel {
			ext[slots[k]] = true
		}
	}
	return keep, ext
}
