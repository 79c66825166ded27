package synth

import (
	"fmt"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
)

// relink returns p (a program as safety.FromObject links it) with
// function name's body replaced by rw, every reference by instruction
// index (Refs, their targets, Funcs bounds) remapped and pseudo call
// immediates recomputed for the new layout. safety.FromObject with
// replacement instructions looks relocations up by the old indexes, so
// it cannot take a rewrite that deletes instructions; this can.
// Relocated instructions must be kept (they are pinned).
func relink(p *safety.Program, name string, rw object.Rewrite) (*safety.Program, error) {
	fi := -1
	for i, fu := range p.Funcs {
		if fu.Name == name {
			fi = i
		}
	}
	if fi < 0 {
		return nil, fmt.Errorf("program %s does not link function %s", p.Name, name)
	}
	start, end := p.Funcs[fi].Start, p.Funcs[fi].End
	if len(rw.OldToNew) != end-start {
		return nil, fmt.Errorf("function %s: rewrite maps %d instructions, want %d", name, len(rw.OldToNew), end-start)
	}
	delta := len(rw.Insns) - (end - start)
	// next[k]: new index of old instruction k of the function, or of the
	// next kept one (a reference to a deleted instruction moves on).
	next := make([]int, end-start+1)
	next[end-start] = len(rw.Insns)
	for k := end - start - 1; k >= 0; k-- {
		next[k] = next[k+1]
		if n := rw.OldToNew[k]; n >= 0 {
			next[k] = n
		}
	}
	mapIdx := func(i int) int {
		switch {
		case i < start:
			return i
		case i < end:
			return start + next[i-start]
		}
		return i + delta
	}
	q := &safety.Program{Name: p.Name, Type: p.Type, Attach: p.Attach, Refs: make(map[int]safety.Ref, len(p.Refs))}
	q.Insns = make([]bpf.Insn, 0, len(p.Insns)+delta)
	q.Insns = append(q.Insns, p.Insns[:start]...)
	q.Insns = append(q.Insns, rw.Insns...)
	q.Insns = append(q.Insns, p.Insns[end:]...)
	for at, r := range p.Refs {
		if at >= start && at < end {
			n := rw.OldToNew[at-start]
			if n < 0 {
				return nil, fmt.Errorf("function %s: relocated instruction %d was deleted", name, at-start)
			}
			// the linked form (src fields of pseudo calls, kfuncs)
			q.Insns[start+n] = p.Insns[at]
		}
		if r.Target >= 0 {
			r.Target = mapIdx(r.Target)
		}
		q.Refs[mapIdx(at)] = r
	}
	q.Funcs = append([]safety.Func(nil), p.Funcs...)
	for i := range q.Funcs {
		q.Funcs[i].Start = mapIdx(q.Funcs[i].Start)
		if q.Funcs[i].End == end {
			q.Funcs[i].End = end + delta
		} else {
			q.Funcs[i].End = mapIdx(q.Funcs[i].End)
		}
		if i == fi {
			q.Funcs[i].Start = start
		}
	}
	offs := bpf.SlotOffsets(q.Insns)
	for at, r := range q.Refs {
		if r.Target >= 0 && (q.Insns[at].IsPseudoCall() || q.Insns[at].IsPseudoFunc()) {
			q.Insns[at].Imm = int32(offs[r.Target] - offs[at] - 1)
		}
	}
	return q, nil
}
