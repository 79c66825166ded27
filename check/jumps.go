package check

import (
	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/synth"
)

// Jump threading (synth/jumps.go) changes where jumps land without
// changing what runs: a jump to "goto M" goes to M, "if c goto +1; goto
// L" becomes "if !c goto L", no-op jumps and the gotos nothing reaches
// any more go. Unconditional jumps change no state, so a point and the
// point its goto chain ends at are interchangeable; check uses that
// twice:
//
//   - alignment (settle): an aligned jump whose targets t (original) and
//     u (optimised) do not correspond directly still lands on
//     corresponding points when the goto chains from t and u end at
//     points the alignment pairs (threaded);
//   - hunks (proveSpan): a hunk made only of no-op jumps on both sides,
//     or one conditional jump per side (the same condition or its
//     inverse, the original's possibly followed by the goto it skipped),
//     is accepted when its exits correspond after following goto chains,
//     or (no-op jumps only) when nothing enters it in step with the
//     optimised side: every way in is a jump that already corresponds
//     through chains.
//
// Soundness: following a goto chain executes only unconditional jumps
// (and "if c goto +0", which goes to the next instruction either way),
// so the machine state at the chain's end is the state at its start.
// Pairing chain ends therefore keeps check's invariant (the original at
// an aligned point or a hunk start, the optimised program at its
// counterpart, with equal live state). A cycle of gotos is never
// followed to its end (norm reports it), so no pairing rests on one.

// maxHops bounds a goto chain (longer ones are not followed).
const maxHops = 64

// nopJump reports whether instruction k of s only transfers control and
// changes nothing: ja/gotol, or a conditional jump to the next
// instruction (not may_goto, which counts iterations).
func (s *side) nopJump(k int) bool {
	if k < 0 || k >= len(s.insns) || s.fixed[k] {
		return false
	}
	in := s.insns[k]
	if in.IsUncondJump() {
		return true
	}
	return in.IsCondJump() && in.Info().Kind != bpf.KindMayGoto && s.target[k] == k+1
}

// norm follows no-op jumps from point t to the first point that is not
// one; ok is false on a cycle or a chain longer than maxHops.
func (s *side) norm(t int) (int, bool) {
	for hops := 0; s.nopJump(t); hops++ {
		if hops == maxHops {
			return t, false
		}
		if s.insns[t].IsUncondJump() {
			t = s.target[t]
		} else {
			t++
		}
	}
	return t, true
}

// threaded reports whether original point t and optimised point u are
// the same place once goto chains are followed: the original's chain
// from t ends at p, which the alignment pairs with p' (an aligned point,
// or a hunk start and its counterpart), and the optimised chains from p'
// and from u end at one point. (p' may itself be a goto, e.g. the one a
// tail merge left, which a threaded jump skips.)
func (al *Alignment) threaded(a, b *side, t, u int) bool {
	p, ok := a.norm(t)
	if !ok || al.mapA[p] < 0 {
		return false
	}
	q, ok1 := b.norm(u)
	r, ok2 := b.norm(al.mapA[p])
	return ok1 && ok2 && q == r
}

// corresponds: original point t and optimised point u pair up, directly
// or through goto chains.
func (al *Alignment) corresponds(a, b *side, t, u int) bool {
	return al.mapA[t] == u || al.threaded(a, b, t, u)
}

// alignedThreaded reports whether original instruction i is an aligned
// jump whose target corresponds to its counterpart's only through goto
// chains (it may land inside a hunk: it runs nothing there but gotos).
func (al *Alignment) alignedThreaded(a, b *side, i int) bool {
	j := al.AtoB[i]
	if j < 0 || a.target[i] < 0 || b.target[j] < 0 {
		return false
	}
	t, u := a.target[i], b.target[j]
	return al.mapA[t] != u && al.threaded(a, b, t, u)
}

// jumpHunk decides hunk h by the shapes jump threading leaves (see the
// top of this file).
func (fc *funcCheck) jumpHunk(h Hunk) bool {
	a, b, al := fc.a, fc.b, fc.al
	nopsOnly := true
	for i := h.A0; i < h.A1; i++ {
		nopsOnly = nopsOnly && a.nopJump(i)
	}
	for j := h.B0; j < h.B1; j++ {
		nopsOnly = nopsOnly && b.nopJump(j)
	}
	if nopsOnly && h.A1 > h.A0 {
		// entered at its start, both sides reach corresponding points
		// outside the hunk having run only jumps
		// (norm cannot stop inside: every instruction there is a jump)
		return al.threaded(a, b, h.A0, h.B0) || fc.notEntered(h)
	}
	// one conditional jump per side: "if c goto T; [goto F]" against
	// "if c' goto T'", c' = c (targets threaded) or c' = !c (the
	// original's goto skipped by inverting the branch)
	if h.B1-h.B0 != 1 || h.A1-h.A0 < 1 || h.A1-h.A0 > 2 {
		return false
	}
	ca, cb := h.A0, h.B0
	if !a.insns[ca].IsCondJump() || !b.insns[cb].IsCondJump() || a.fixed[ca] || b.fixed[cb] ||
		a.insns[ca].Info().Kind == bpf.KindMayGoto || b.insns[cb].Info().Kind == bpf.KindMayGoto {
		return false
	}
	takenA, fallA := a.target[ca], h.A1
	if h.A1-h.A0 == 2 {
		g := h.A0 + 1
		if !a.insns[g].IsUncondJump() || a.fixed[g] {
			return false
		}
		fallA = a.target[g]
	}
	takenB, fallB := b.target[cb], h.B1
	if a.keys[ca] == b.keys[cb] {
		return al.corresponds(a, b, takenA, takenB) && al.corresponds(a, b, fallA, fallB)
	}
	inv, ok := synth.InvertJump(a.keys[ca].in)
	if !ok || (ikey{in: inv, sym: a.keys[ca].sym}) != b.keys[cb] {
		return false
	}
	return al.corresponds(a, b, takenA, fallB) && al.corresponds(a, b, fallA, takenB)
}

// notEntered reports whether the original never enters hunk h in step
// with the optimised side: not the program's start, no fall-through into
// it, and every jump into it from outside an aligned jump that
// corresponds through goto chains (it leaves the hunk by gotos alone,
// and its counterpart is already where the chain ends).
func (fc *funcCheck) notEntered(h Hunk) bool {
	a, al := fc.a, fc.al
	if h.A0 == 0 {
		return false
	}
	prev := h.A0 - 1
	if al.AtoB[prev] < 0 || !(a.insns[prev].IsExit() || a.insns[prev].IsUncondJump()) {
		return false
	}
	for i, t := range a.target {
		if t < h.A0 || t >= h.A1 || (i >= h.A0 && i < h.A1) {
			continue
		}
		if !al.alignedThreaded(a, fc.b, i) {
			return false
		}
	}
	return true
}
