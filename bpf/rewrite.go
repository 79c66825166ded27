package bpf

import (
	"fmt"
	"sort"
)

// Rewrite returns insns with instructions replaced or removed, with every
// pc-relative reference fixed up: jump offsets (16-bit off), gotol (32-bit
// imm), may_goto, and the imm of pseudo calls and pseudo-func loads whose
// target lies inside insns.
//
// edits maps an instruction index to its replacement; an empty or nil
// replacement deletes the instruction. oldToNew has len(insns)+1 entries:
// the new index of each old instruction's first replacement, for a deleted
// instruction the index of the next surviving one, and finally len(out).
//
// Conventions:
//   - A jump (or call) in a replacement is read at the position of the
//     instruction it replaces: its target is old slot of that instruction +
//     1 + offset, and is remapped like any other reference. So a one-for-one
//     replacement of a jump keeps jumping to the same place.
//   - A reference to a deleted instruction moves to the next surviving one;
//     it is an error when none survives before the end of the program or the
//     start of the next subprogram.
//   - Pseudo calls and pseudo-func loads marked in ext (by old slot; their
//     imm is a relocation's business), whose target lies outside insns, or
//     pseudo calls with imm -1 (relocation placeholders) are left as they
//     are: the object writer relocates calls between functions it lays out.
func Rewrite(insns []Insn, edits map[int][]Insn, ext External) (out []Insn, oldToNew []int, err error) {
	for k := range edits {
		if k < 0 || k >= len(insns) {
			return nil, nil, fmt.Errorf("rewrite: edit of instruction %d out of range [0, %d)", k, len(insns))
		}
	}
	oldSlot := SlotOffsets(insns)
	nOldSlots := oldSlot[len(insns)]
	oldIndex := make(map[int]int, len(insns))
	for k := range insns {
		oldIndex[oldSlot[k]] = k
	}

	oldToNew = make([]int, len(insns)+1)
	origin := make([]int, 0, len(insns)) // new index -> old index it came from
	out = make([]Insn, 0, len(insns))
	for k, in := range insns {
		oldToNew[k] = len(out)
		if repl, ok := edits[k]; ok {
			for _, r := range repl {
				out = append(out, r)
				origin = append(origin, k)
			}
			continue
		}
		out = append(out, in)
		origin = append(origin, k)
	}
	oldToNew[len(insns)] = len(out)
	newSlot := SlotOffsets(out)

	// Subprogram entries of the old program, to refuse moving a reference
	// past the end of its function.
	var entries []int
	for k, in := range insns {
		if t, ok := in.CallTarget(oldSlot[k]); ok && !ext[oldSlot[k]] {
			if ti, ok := oldIndex[t]; ok && ti != k {
				entries = append(entries, ti)
			}
		}
	}
	sort.Ints(entries)

	// remap turns an old target slot into a new one.
	remap := func(newK, t int) (int, error) {
		ti, ok := oldIndex[t]
		if !ok {
			return 0, fmt.Errorf("rewrite: instruction %d refers to slot %d, which is not an instruction", newK, t)
		}
		nt := oldToNew[ti]
		if nt == len(out) {
			return 0, fmt.Errorf("rewrite: instruction %d refers to removed instruction %d and nothing follows it", origin[newK], ti)
		}
		if next := origin[nt]; next != ti {
			// ti was deleted: the reference moves to old instruction next.
			e := sort.SearchInts(entries, ti+1)
			if e < len(entries) && entries[e] <= next {
				return 0, fmt.Errorf("rewrite: instruction %d refers to removed instruction %d, the last of its subprogram", origin[newK], ti)
			}
		}
		return newSlot[nt], nil
	}

	for k := range out {
		in := &out[k]
		base := oldSlot[origin[k]] + 1 // pc+1 in old coordinates
		here := newSlot[k] + 1
		switch op := in.Op(); {
		case op == OpGotol:
			nt, err := remap(k, base+int(in.Imm))
			if err != nil {
				return nil, nil, err
			}
			in.Imm = int32(nt - here)
		case opTable[op].Flags&FlagJump != 0:
			nt, err := remap(k, base+int(in.Off))
			if err != nil {
				return nil, nil, err
			}
			d := nt - here
			if d < -1<<15 || d >= 1<<15 {
				return nil, nil, fmt.Errorf("rewrite: jump at new instruction %d needs offset %d, beyond 16 bits (use gotol)", k, d)
			}
			in.Off = int16(d)
		case in.IsPseudoCall() || in.IsPseudoFunc():
			t := base + int(in.Imm)
			if (in.IsPseudoCall() && in.Imm == -1) || t < 0 || t >= nOldSlots || ext[base-1] {
				continue
			}
			nt, err := remap(k, t)
			if err != nil {
				return nil, nil, err
			}
			in.Imm = int32(nt - here)
		}
	}
	return out, oldToNew, nil
}

// Delete removes the instructions at the given indices; see Rewrite.
func Delete(insns []Insn, indices []int, ext External) ([]Insn, []int, error) {
	edits := make(map[int][]Insn, len(indices))
	for _, k := range indices {
		edits[k] = nil
	}
	return Rewrite(insns, edits, ext)
}
