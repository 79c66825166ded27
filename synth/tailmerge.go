package synth

import (
	"github.com/k2opt/k2opt/bpf"
)

// Tail merging (cross-jumping): clang often emits the same run of
// instructions several times, each copy continuing to the same place, e.g.
// a map-counter update followed by the same checks and "goto out". When
// two runs are identical instruction for instruction (same operands, and
// jumps to the same absolute targets) and both continue to the same
// instruction, one of them can become a jump to the other: the machine
// executes exactly the same instructions in the same order, so this needs
// no proof, only the verifier's consent (Func.Check, the final gate).

// tailMerge finds non-overlapping merges in insns. keep[k] marks
// instructions that must not be part of a merged run (relocated ones,
// bpf-to-bpf calls...). It returns the edits (bpf.Rewrite form, on insns'
// indexes) and the instructions the merges involve (removed runs and the
// runs they now jump to), which the window search must leave alone.
func tailMerge(insns []bpf.Insn, keep []bool) (map[int][]bpf.Insn, []bool) {
	n := len(insns)
	cfg, err := bpf.NewCFG(insns, nil)
	if err != nil {
		return nil, nil
	}
	slots := bpf.SlotOffsets(insns)
	slotToInsn := make(map[int]int, n+1)
	for k := 0; k <= n; k++ {
		slotToInsn[slots[k]] = k
	}
	target := make([]int, n)
	inbound := make([][]int, n+1) // jumps landing on k
	for k, in := range insns {
		target[k] = -1
		if in.IsJump() {
			if t, ok := in.JumpTarget(slots[k]); ok {
				if ti, ok := slotToInsn[t]; ok {
					target[k] = ti
					inbound[ti] = append(inbound[ti], k)
				}
			}
		}
	}
	mergeable := func(k int) bool {
		if k < 0 || k >= n || (keep != nil && keep[k]) {
			return false
		}
		switch insns[k].Info().Kind {
		case bpf.KindCallLocal, bpf.KindMayGoto, bpf.KindLdImm64:
			return insns[k].Info().Kind == bpf.KindLdImm64 && insns[k].Info().Pseudo == bpf.PseudoNone
		}
		return insns[k].Op() != bpf.OpJa || target[k] >= 0
	}
	same := func(i, j int) bool {
		if !mergeable(i) || !mergeable(j) || cfg.SubprogOf(i) != cfg.SubprogOf(j) {
			return false
		}
		a, b := insns[i], insns[j]
		if a.IsJump() {
			return a.Code == b.Code && a.Dst == b.Dst && a.Src == b.Src && a.Imm == b.Imm && target[i] == target[j] && target[i] >= 0
		}
		return a == b
	}
	deleted := make([]bool, n)  // in a removed run
	anchored := make([]bool, n) // in a run others now jump to
	// free reports whether [s, e] is untouched and entered from outside
	// only at s (jumps within the run are fine).
	free := func(s, e int) bool {
		for k := s; k <= e; k++ {
			if deleted[k] || anchored[k] {
				return false
			}
			if k == s {
				continue
			}
			for _, from := range inbound[k] {
				if from < s || from > e {
					return false
				}
			}
		}
		return true
	}
	isTerm := func(k int) bool {
		op := insns[k].Op()
		return op == bpf.OpExit || (op == bpf.OpJa && target[k] >= 0)
	}
	// A copy of the run ending at terminator g ends at aEnd: either right
	// before g's jump target (fall, the copy continues into it) or at an
	// identical terminator. runLen is how many instructions match going
	// backwards, the two runs staying disjoint.
	runLen := func(g, aEnd, fall int) int {
		L := 0
		for {
			i, j := aEnd-L, g-fall-L
			if i < 0 || j < 0 || deleted[i] || !(aEnd < j || i > g) || !same(i, j) {
				return L
			}
			L++
		}
	}
	edits := map[int][]bpf.Insn{}
	// In program order: the copy that falls into the shared target
	// usually comes first, and every later copy should jump to it rather
	// than to a copy that could itself have gone.
	for g := range n {
		if !isTerm(g) || deleted[g] || anchored[g] || !mergeable(g) {
			continue
		}
		type copyAt struct{ end, fall int }
		var copies []copyAt
		if insns[g].Op() == bpf.OpJa {
			copies = append(copies, copyAt{target[g] - 1, 1})
		}
		for h := range n {
			if h != g && isTerm(h) && same(h, g) {
				copies = append(copies, copyAt{h, 0})
			}
		}
		best, bestGain := copyAt{}, 0
		bestL := 0
		for _, c := range copies {
			// the longest matching run B entered only at its start
			L := runLen(g, c.end, c.fall)
			for L > 0 && !free(g-c.fall-L+1, g) {
				L--
			}
			// B (the run and g) becomes one jump: it had L+fall insns
			gain := L + c.fall - 1
			if L == 0 || gain <= bestGain {
				continue
			}
			best, bestGain, bestL = c, gain, L
		}
		if bestGain == 0 {
			continue
		}
		as, bs := best.end-bestL+1, g-best.fall-bestL+1
		for k := as; k <= best.end; k++ {
			anchored[k] = true
		}
		for k := bs; k <= g; k++ {
			deleted[k] = true
			edits[k] = []bpf.Insn{}
		}
		if as == g+1 {
			continue // A follows B: B just goes, control falls into A
		}
		off := slots[as] - slots[bs] - 1
		if off < -32768 || off > 32767 {
			return nil, nil
		}
		edits[bs] = []bpf.Insn{bpf.Ja(int16(off))}
	}
	if len(edits) == 0 {
		return nil, nil
	}
	touched := make([]bool, n)
	for k := range touched {
		touched[k] = deleted[k] || anchored[k]
	}
	return edits, touched
}

// tailMerges counts the merges in edits: runs of deleted instructions
// (each starting with the jump that replaces it, if any).
func tailMerges(edits map[int][]bpf.Insn) int {
	n := 0
	for k, e := range edits {
		if _, ok := edits[k-1]; len(e) == 1 || !ok {
			n++
		}
	}
	return n
}
