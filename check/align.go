package check

import (
	"fmt"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
)

// side is one version of a function: its instructions, where its jumps
// land (instruction indices) and the comparison key of each instruction.
type side struct {
	f      *object.File
	fn     *object.Function
	insns  []bpf.Insn
	target []int // jump target (len(insns) = the function's end); -1: not a jump
	keys   []ikey
	fixed  []bool // relocated or a code reference: never inside a proven hunk
}

// ikey compares instructions across the two objects: jumps without their
// offsets (their targets are checked through the alignment), relocated
// instructions with their symbol, code references by callee.
type ikey struct {
	in  bpf.Insn
	sym string
}

func newSide(f *object.File, fn *object.Function) (*side, error) {
	n := len(fn.Insns)
	s := &side{f: f, fn: fn, insns: fn.Insns, target: make([]int, n), keys: make([]ikey, n), fixed: make([]bool, n)}
	slots := bpf.SlotOffsets(fn.Insns)
	at := make(map[int]int, n+1)
	for k := 0; k <= n; k++ {
		at[slots[k]] = k
	}
	for k, in := range fn.Insns {
		if !in.Op().Valid() {
			return nil, fmt.Errorf("%s: program %s: insn %d: unknown opcode 0x%02x", f.Path, fn.Name, k, in.Code)
		}
		key := ikey{in: in}
		s.target[k] = -1
		if t, ok := in.JumpTarget(slots[k]); ok {
			ti, ok := at[t]
			if !ok {
				return nil, fmt.Errorf("%s: program %s: insn %d (%v): jump target is not an instruction of the function", f.Path, fn.Name, k, in)
			}
			s.target[k] = ti
			key.in.Off = 0
			if in.Op() == bpf.OpGotol {
				key.in.Imm = 0
			}
		}
		switch {
		case fn.IsCodeRef(k):
			callee, ci, err := f.Callee(fn, k)
			if err != nil {
				return nil, err
			}
			// the offset to the callee changes with the layout
			key.in.Imm = 0
			key.sym = fmt.Sprintf("func %s+%d", callee.Name, ci)
			s.fixed[k] = true
		default:
			if r, ok := fn.Reloc(k); ok {
				key.sym = r.Kind.String() + " " + r.Symbol
				s.fixed[k] = true
			}
		}
		s.keys[k] = key
	}
	return s, nil
}

// Hunk is a maximal changed region: original instructions [A0, A1)
// replaced by optimised ones [B0, B1) (either may be empty).
type Hunk struct{ A0, A1, B0, B1 int }

func (h Hunk) String() string {
	return fmt.Sprintf("original [%d,%d) -> optimised [%d,%d)", h.A0, h.A1, h.B0, h.B1)
}

// Alignment pairs the unchanged instructions of two versions of a
// function. AtoB[i] is the optimised instruction aligned with original
// instruction i (-1: none), BtoA the reverse; the ends (len) are aligned
// with each other. Jumps are aligned only when their targets correspond.
type Alignment struct {
	AtoB, BtoA []int
	Hunks      []Hunk
	// mapA[t]: where a jump to original point t lands in the optimised
	// function (-1: t is inside a hunk, which nothing outside may enter).
	mapA []int
	// cut[t] = u splits a gap at unaligned points: original t and
	// optimised u start the same hunk (an aligned jump lands on each,
	// e.g. a tail merge's deleted run followed by a rewritten window).
	cut   map[int]int
	noCut map[int]bool
}

// maxCells bounds the LCS table (rows x columns after trimming the
// common suffix).
const maxCells = 16 << 20

// Align aligns a (original) and b (optimised).
func align(a, b *side) (*Alignment, error) {
	n, m := len(a.keys), len(b.keys)
	al := &Alignment{AtoB: make([]int, n+1), BtoA: make([]int, m+1), noCut: map[int]bool{}}
	for i := range al.AtoB {
		al.AtoB[i] = -1
	}
	for j := range al.BtoA {
		al.BtoA[j] = -1
	}
	al.AtoB[n], al.BtoA[m] = m, n
	// Common suffix first; the rest by an LCS walked from the end, taking
	// a match whenever one is possible: of two identical runs the later
	// one stays aligned, so a tail-merged copy is the earlier one (the
	// shape tail merging leaves, checked by tailMerge).
	sa, sb := n, m
	for sa > 0 && sb > 0 && a.keys[sa-1] == b.keys[sb-1] {
		sa--
		sb--
		al.AtoB[sa], al.BtoA[sb] = sb, sa
	}
	pre := 0
	if (sa+1)*(sb+1) > maxCells {
		for pre < sa && pre < sb && a.keys[pre] == b.keys[pre] {
			al.AtoB[pre], al.BtoA[pre] = pre, pre
			pre++
		}
		if (sa-pre+1)*(sb-pre+1) > maxCells {
			return nil, fmt.Errorf("program %s: too many changes to align (%d x %d instructions)", a.fn.Name, sa-pre, sb-pre)
		}
	}
	rows, cols := sa-pre, sb-pre
	w := cols + 1
	dp := make([]uint16, (rows+1)*w)
	for i := 1; i <= rows; i++ {
		for j := 1; j <= cols; j++ {
			switch {
			case a.keys[pre+i-1] == b.keys[pre+j-1]:
				dp[i*w+j] = dp[(i-1)*w+j-1] + 1
			case dp[(i-1)*w+j] >= dp[i*w+j-1]:
				dp[i*w+j] = dp[(i-1)*w+j]
			default:
				dp[i*w+j] = dp[i*w+j-1]
			}
		}
	}
	for i, j := rows, cols; i > 0 && j > 0; {
		switch {
		case a.keys[pre+i-1] == b.keys[pre+j-1]:
			i--
			j--
			al.AtoB[pre+i], al.BtoA[pre+j] = pre+j, pre+i
		case dp[(i-1)*w+j] >= dp[i*w+j-1]:
			i--
		default:
			j--
		}
	}
	al.settle(a, b)
	return al, nil
}

func (al *Alignment) unmatch(i int) {
	if j := al.AtoB[i]; j >= 0 {
		al.BtoA[j] = -1
		al.AtoB[i] = -1
	}
}

// settle drops aligned pairs until the alignment is consistent: aligned
// jumps land on corresponding points, and no jump enters a hunk other
// than at its start (two hunks linked that way become one).
func (al *Alignment) settle(a, b *side) {
	n, m := len(a.insns), len(b.insns)
	for changed := true; changed; {
		changed = false
		al.computeHunks(n, m)
		for i := range n {
			j := al.AtoB[i]
			if j < 0 || a.target[i] < 0 {
				continue
			}
			if t, u := a.target[i], b.target[j]; al.mapA[t] != u && !al.threaded(a, b, t, u) {
				if !al.addCut(t, u) {
					al.unmatch(i)
				}

				changed = true
			}
		}
		if changed {
			continue
		}
		// jumps into the middle of a hunk come from another hunk (an
		// aligned jump there would have been dropped above): merge them
		hunkOfA := make([]int, n+1)
		hunkOfB := make([]int, m+1)
		for i := range hunkOfA {
			hunkOfA[i] = -1
		}
		for j := range hunkOfB {
			hunkOfB[j] = -1
		}
		for h, hk := range al.Hunks {
			for i := hk.A0; i < hk.A1; i++ {
				hunkOfA[i] = h
			}
			for j := hk.B0; j < hk.B1; j++ {
				hunkOfB[j] = h
			}
		}
		merge := func(h1, h2 int) {
			lo, hi := min(h1, h2), max(h1, h2)
			for i := al.Hunks[lo].A1; i <= al.Hunks[hi].A0; i++ {
				if i < al.Hunks[hi].A0 {
					al.unmatch(i)
				}
				if _, ok := al.cut[i]; ok {
					delete(al.cut, i)
					al.noCut[i] = true // merged for good
				}
			}
			changed = true
		}
		for i := 0; i < n && !changed; i++ {
			t := a.target[i]
			if t < 0 || hunkOfA[t] < 0 || t == al.Hunks[hunkOfA[t]].A0 || hunkOfA[i] == hunkOfA[t] || al.alignedThreaded(a, b, i) {
				continue // (a threaded jump runs only gotos in there: jumps.go)
			}
			if hunkOfA[i] >= 0 && al.cutFromHunk(a, b, al.Hunks[hunkOfA[i]], al.Hunks[hunkOfA[t]]) {
				changed = true
				continue
			}
			merge(hunkOfA[i], hunkOfA[t])
		}
		for j := 0; j < m && !changed; j++ {
			t := b.target[j]
			if t < 0 || hunkOfB[t] < 0 || t == al.Hunks[hunkOfB[t]].B0 || hunkOfB[j] == hunkOfB[t] || (al.BtoA[j] >= 0 && al.alignedThreaded(a, b, al.BtoA[j])) {
				continue
			}
			hj := hunkOfB[j]
			if hj < 0 {
				// an aligned jump into a hunk's middle: drop it too
				al.unmatch(al.BtoA[j])
				changed = true
				continue
			}
			merge(hj, hunkOfB[t])
		}
	}
}

// addCut splits the gap strictly containing original point t at
// optimised point u, when u is within the gap's optimised range.
func (al *Alignment) addCut(t, u int) bool {
	if al.AtoB[t] >= 0 || al.mapA[t] >= 0 || al.noCut[t] {
		return false // aligned or already a hunk start
	}
	for _, h := range al.Hunks {
		if t > h.A0 && t < h.A1 {
			if u < h.B0 || u > h.B1 {
				return false
			}
			if al.cut == nil {
				al.cut = map[int]int{}
			}
			al.cut[t] = u
			return true
		}
	}
	return false
}

// cutFromHunk guesses where hunk h1's jumps into the middle of hunk h2
// land on the optimised side: when h1's original jumps reach one point
// t inside h2 and its optimised jumps one point u in h2's range that no
// other original target maps to, (t, u) becomes a cut. Only a guess: the
// hunks' proofs decide.
func (al *Alignment) cutFromHunk(a, b *side, h1, h2 Hunk) bool {
	t, u := -1, -1
	mapped := map[int]bool{}
	for i := h1.A0; i < h1.A1; i++ {
		x := a.target[i]
		switch {
		case x < 0:
		case x > h2.A0 && x < h2.A1:
			if t >= 0 && t != x {
				return false
			}
			t = x
		case al.mapA[x] >= 0:
			mapped[al.mapA[x]] = true
		}
	}
	for j := h1.B0; j < h1.B1; j++ {
		y := b.target[j]
		if y < h2.B0 || y > h2.B1 || mapped[y] {
			continue
		}
		if u >= 0 && u != y {
			return false
		}
		u = y
	}
	return t >= 0 && u >= 0 && al.addCut(t, u)
}

// computeHunks derives the hunks (the gaps between consecutive aligned
// pairs) and mapA from AtoB.
func (al *Alignment) computeHunks(n, m int) {
	al.Hunks = al.Hunks[:0]
	al.mapA = make([]int, n+1)
	nextB := make([]int, n+2) // the optimised index of the next aligned pair
	nextB[n+1] = m
	for i := n; i >= 0; i-- {
		nextB[i] = nextB[i+1]
		if al.AtoB[i] >= 0 {
			nextB[i] = al.AtoB[i]
		}
	}
	pa, pb := -1, -1 // the last boundary: the next gap starts at pa+1, pb+1
	closeGap := func(i, j int) {
		if i > pa+1 || j > pb+1 {
			h := Hunk{A0: pa + 1, A1: i, B0: pb + 1, B1: j}
			al.Hunks = append(al.Hunks, h)
			// a jump to the hunk's start enters the replacement (for an
			// empty original side that is the aligned point i itself)
			al.mapA[h.A0] = h.B0
		}
	}
	for i := 0; i <= n; i++ {
		j := al.AtoB[i]
		if u, ok := al.cut[i]; ok && j < 0 {
			if i <= pa+1 || u <= pb || u > nextB[i] {
				delete(al.cut, i) // no longer inside a gap
			} else {
				al.mapA[i] = -1
				closeGap(i, u)
				pa, pb = i-1, u-1
				continue
			}
		}
		if j < 0 {
			al.mapA[i] = -1
			continue
		}
		al.mapA[i] = j
		closeGap(i, j)
		pa, pb = i, j
	}
}
