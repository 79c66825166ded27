package object

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/k2opt/k2opt/bpf"
)

// Rewrite replaces one function's instructions. Insns must have jump offsets
// inside the function already correct; OldToNew maps each old instruction
// index to its new index, or -1 if it was deleted. Kept instructions must
// keep their order.
//
// The writer owns everything that crosses the function boundary: the
// immediates of bpf-to-bpf calls and ld_imm64 pseudo-func references, and the
// in-place addends of relocated instructions are taken from the old
// instruction the new one maps from, then recomputed for the new layout.
type Rewrite struct {
	Insns    []bpf.Insn
	OldToNew []int
}

// Options tune Encode.
type Options struct {
	// StripDWARF empties the .debug_* sections even when no section changes
	// (they are always emptied when one does; see the package doc).
	StripDWARF bool
}

// Write writes the object with the given functions rewritten to w.
func (f *File) Write(w io.Writer, rw map[string]Rewrite) error {
	b, err := f.Encode(rw, Options{})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteFile writes the object to path atomically: a temporary file in the
// same directory, fsync, rename. It refuses to overwrite the input.
func (f *File) WriteFile(path string, rw map[string]Rewrite) error {
	b, err := f.Encode(rw, Options{})
	if err != nil {
		return err
	}
	return WriteFile(path, b, f.Path)
}

// WriteFile writes data to path atomically (temporary file in the same
// directory, fsync, rename, fsync of the directory). If input names the same
// file as path, it refuses: the input is never touched.
func WriteFile(path string, data []byte, input string) error {
	if input != "" {
		if a, err := os.Stat(path); err == nil {
			if b, err := os.Stat(input); err == nil && os.SameFile(a, b) {
				return &Error{File: path, Insn: -1, Msg: "refusing to overwrite the input file"}
			}
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return &Error{File: path, Insn: -1, Msg: err.Error()}
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return &Error{File: path, Insn: -1, Msg: err.Error()}
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return &Error{File: path, Insn: -1, Msg: err.Error()}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return &Error{File: path, Insn: -1, Msg: err.Error()}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// piece is a run of slots of a rewritten section: a function or a gap not
// covered by any function symbol.
type piece struct {
	fn                 *Function // nil for a gap
	rw                 *Rewrite  // nil when copied unchanged
	oldStart, oldSlots int
	newStart, newSlots int
	newOffs            []int // slot offsets of rw.Insns
	newToOld           []int // for rw: new insn -> old insn or -1
}

type secMap struct {
	sec                *Section
	pieces             []*piece
	oldSlots, newSlots int
}

// errDeleted marks a strict mapping of a deleted instruction.
type errDeleted struct{ fn *Function }

func (e *errDeleted) Error() string { return "instruction was deleted" }

func (m *secMap) piece(old int) *piece {
	k := sort.Search(len(m.pieces), func(i int) bool { return m.pieces[i].oldStart+m.pieces[i].oldSlots > old })
	if k < len(m.pieces) && m.pieces[k].oldStart <= old {
		return m.pieces[k]
	}
	return nil
}

// mapSlot maps an old slot of the section to the new layout. strict follows
// the instruction itself (an error if it was deleted); otherwise it maps a
// label: a function's first slot goes to the function's new start and a
// deleted instruction to the next kept one of its function (or the
// function's end).
func (m *secMap) mapSlot(old int, strict bool) (int, error) {
	if old == m.oldSlots {
		return m.newSlots, nil
	}
	p := m.piece(old)
	if p == nil {
		return 0, fmt.Errorf("slot %d is outside the section (%d slots)", old, m.oldSlots)
	}
	r := old - p.oldStart
	if p.rw == nil {
		if p.fn != nil && p.fn.InsnAtSlot(r) < 0 {
			return 0, fmt.Errorf("slot %d is the second slot of an ld_imm64", old)
		}
		return p.newStart + r, nil
	}
	k := p.fn.InsnAtSlot(r)
	if k < 0 {
		return 0, fmt.Errorf("slot %d is the second slot of an ld_imm64", old)
	}
	if !strict && k == 0 {
		return p.newStart, nil
	}
	if n := p.rw.OldToNew[k]; n >= 0 {
		return p.newStart + p.newOffs[n], nil
	}
	if strict {
		return 0, &errDeleted{p.fn}
	}
	for k2 := k + 1; k2 < len(p.rw.OldToNew); k2++ {
		if n := p.rw.OldToNew[k2]; n >= 0 {
			return p.newStart + p.newOffs[n], nil
		}
	}
	return p.newStart + p.newSlots, nil
}

// writer holds the state of one Encode.
type writer struct {
	f       *File
	maps    map[int]*secMap // affected executable sections by index
	newData map[int][]byte  // sections whose bytes change
	dropped map[int]bool    // emptied DWARF sections
}

// mut returns a private copy of a section's new bytes, made on first use.
func (w *writer) mut(idx int) []byte {
	if b, ok := w.newData[idx]; ok {
		return b
	}
	b := append([]byte(nil), w.f.data(idx)...)
	w.newData[idx] = b
	return b
}

// Encode returns the bytes of the object with the given functions rewritten.
// With no (non-identity) rewrites and no options the result is the input.
func (f *File) Encode(rw map[string]Rewrite, opts Options) ([]byte, error) {
	w := &writer{f: f, maps: map[int]*secMap{}, newData: map[int][]byte{}, dropped: map[int]bool{}}
	rewrites, err := w.checkRewrites(rw)
	if err != nil {
		return nil, err
	}
	for _, sec := range f.Sections {
		if len(rewrites[sec.Index]) > 0 {
			w.maps[sec.Index] = w.buildSection(sec, rewrites[sec.Index])
		}
	}
	if len(w.maps) > 0 || opts.StripDWARF {
		for _, s := range f.Sections {
			if isDWARF(s.Name) {
				w.dropped[s.Index] = true
			}
		}
		for _, s := range f.Sections {
			if (s.Type == elf.SHT_REL || s.Type == elf.SHT_RELA) && w.dropped[int(s.Info)] {
				w.dropped[s.Index] = true
			}
		}
		for idx := range w.dropped {
			w.newData[idx] = []byte{}
		}
	}
	if len(w.maps) > 0 {
		steps := []func() error{w.fixLocalCalls, w.fixRelocs, w.fixSymbols, w.fixBTFExt}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
	}
	out, err := w.layout()
	if err != nil {
		return nil, err
	}
	if len(w.maps) > 0 {
		// Self-check: whatever we wrote must read back.
		if _, err := Parse(f.Path, out); err != nil {
			return nil, fmt.Errorf("internal error: written object does not parse: %w", err)
		}
	}
	return out, nil
}

func isDWARF(name string) bool {
	return strings.HasPrefix(name, ".debug_") || strings.HasPrefix(name, ".zdebug_")
}

func isIdentity(fn *Function, r Rewrite) bool {
	if len(r.Insns) != len(fn.Insns) {
		return false
	}
	for k := range fn.Insns {
		if r.OldToNew[k] != k || r.Insns[k] != fn.Insns[k] {
			return false
		}
	}
	return true
}

// checkRewrites validates rw and groups the non-identity rewrites by section.
func (w *writer) checkRewrites(rw map[string]Rewrite) (map[int]map[*Function]*Rewrite, error) {
	f := w.f
	out := map[int]map[*Function]*Rewrite{}
	names := make([]string, 0, len(rw))
	for name := range rw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := rw[name]
		fn := f.Function(name)
		if fn == nil {
			return nil, f.errf("", name, -1, "rewrite of a function that does not exist")
		}
		if len(r.OldToNew) != len(fn.Insns) {
			return nil, f.errf(fn.Section, name, -1, "rewrite maps %d old instructions, function has %d", len(r.OldToNew), len(fn.Insns))
		}
		if len(r.Insns) == 0 {
			return nil, f.errf(fn.Section, name, -1, "rewrite leaves the function empty")
		}
		last := -1
		for k, n := range r.OldToNew {
			if n < -1 || n >= len(r.Insns) {
				return nil, f.errf(fn.Section, name, fn.Offset+fn.offs[k], "rewrite maps it to %d, outside the new %d instructions", n, len(r.Insns))
			}
			if n >= 0 {
				if n <= last {
					return nil, f.errf(fn.Section, name, fn.Offset+fn.offs[k], "rewrite maps it to %d, not after %d: kept instructions must keep their order", n, last)
				}
				last = n
			}
		}
		if isIdentity(fn, r) {
			continue
		}
		if out[fn.SectionIndex] == nil {
			out[fn.SectionIndex] = map[*Function]*Rewrite{}
		}
		rc := r
		out[fn.SectionIndex][fn] = &rc
	}
	return out, nil
}

// buildSection lays out a section with its rewritten functions.
func (w *writer) buildSection(sec *Section, rws map[*Function]*Rewrite) *secMap {
	m := &secMap{sec: sec, oldSlots: int(sec.Size / bpf.InsnSize)}
	old := w.f.data(sec.Index)
	var data []byte
	add := func(p *piece) {
		p.newStart = len(data) / bpf.InsnSize
		if p.rw == nil {
			data = append(data, old[p.oldStart*bpf.InsnSize:(p.oldStart+p.oldSlots)*bpf.InsnSize]...)
		} else {
			data = bpf.AppendEncode(data, p.rw.Insns, w.f.Order)
		}
		p.newSlots = len(data)/bpf.InsnSize - p.newStart
		m.pieces = append(m.pieces, p)
	}
	pos := 0
	for _, fn := range sec.Functions {
		if fn.Offset > pos {
			add(&piece{oldStart: pos, oldSlots: fn.Offset - pos})
		}
		p := &piece{fn: fn, oldStart: fn.Offset, oldSlots: fn.slots}
		if r := rws[fn]; r != nil {
			p.rw = r
			p.newOffs = bpf.SlotOffsets(r.Insns)
			p.newToOld = make([]int, len(r.Insns))
			for j := range p.newToOld {
				p.newToOld[j] = -1
			}
			for k, n := range r.OldToNew {
				if n >= 0 {
					p.newToOld[n] = k
				}
			}
		}
		add(p)
		pos = fn.Offset + fn.slots
	}
	if pos < m.oldSlots {
		add(&piece{oldStart: pos, oldSlots: m.oldSlots - pos})
	}
	m.newSlots = len(data) / bpf.InsnSize
	w.newData[sec.Index] = data
	return m
}

// relocated returns the set of byte offsets of sec that carry a relocation.
func (w *writer) relocated(sec int) map[uint64]bool {
	set := map[uint64]bool{}
	for _, rs := range w.f.rels {
		if rs.target != sec {
			continue
		}
		for _, e := range rs.entries {
			if RelocType(e.Type) != R_BPF_NONE {
				set[e.Off] = true
			}
		}
	}
	return set
}

func isPseudoCall(in bpf.Insn) bool { return in.Code == callCode && in.Src == 1 }
func isPseudoFunc(in bpf.Insn) bool { return in.IsLdImm64() && in.Src == 4 }

// fixLocalCalls re-encodes pc-relative calls and pseudo-func loads (those
// without a relocation) of every affected section: their targets moved.
func (w *writer) fixLocalCalls() error {
	f := w.f
	for idx, m := range w.maps {
		rel := w.relocated(idx)
		data := w.newData[idx]
		for _, p := range m.pieces {
			if p.fn == nil {
				continue
			}
			fn := p.fn
			n := len(fn.Insns)
			if p.rw != nil {
				n = len(p.rw.Insns)
			}
			for j := 0; j < n; j++ {
				k, newSlot := j, p.newStart+p.fn.offsOf(j)
				if p.rw != nil {
					k, newSlot = p.newToOld[j], p.newStart+p.newOffs[j]
					nin := p.rw.Insns[j]
					if k < 0 {
						if isPseudoCall(nin) || isPseudoFunc(nin) {
							return f.errf(fn.Section, fn.Name, -1, "new insn %d: bpf-to-bpf reference with no original instruction", j)
						}
						continue
					}
					if (isPseudoCall(nin) || isPseudoFunc(nin)) != (isPseudoCall(fn.Insns[k]) || isPseudoFunc(fn.Insns[k])) {
						return f.errf(fn.Section, fn.Name, fn.Offset+fn.offs[k], "rewrite changes whether it is a bpf-to-bpf reference")
					}
				}
				in := fn.Insns[k]
				oldSlot := fn.Offset + fn.offs[k]
				if !(isPseudoCall(in) || isPseudoFunc(in)) || rel[uint64(oldSlot)*bpf.InsnSize] {
					continue
				}
				target, err := m.mapSlot(oldSlot+int(in.Imm)+1, false)
				if err != nil {
					return f.errf(fn.Section, fn.Name, oldSlot, "call target: %v", err)
				}
				f.Order.PutUint32(data[newSlot*bpf.InsnSize+4:], uint32(int32(target-newSlot-1)))
			}
		}
	}
	return nil
}

func (fn *Function) offsOf(k int) int { return fn.offs[k] }

// newSymValue is the new st_value of symbol i (which lies in an affected
// section).
func (w *writer) newSymValue(i int) (uint64, error) {
	sym := w.f.syms[i]
	m := w.maps[int(sym.Shndx)]
	if sym.typ() == elf.STT_FUNC {
		if p := m.piece(int(sym.Value / bpf.InsnSize)); p != nil && p.fn != nil && p.fn.symIndex == i {
			return uint64(p.newStart) * bpf.InsnSize, nil
		}
	}
	if sym.Value%bpf.InsnSize != 0 || sym.Value > m.sec.Size {
		return 0, fmt.Errorf("symbol %s value %d is not an instruction boundary", sym.Name, sym.Value)
	}
	s, err := m.mapSlot(int(sym.Value/bpf.InsnSize), false)
	return uint64(s) * bpf.InsnSize, err
}

func (w *writer) fixSymbols() error {
	f := w.f
	for i, sym := range f.syms {
		m := w.maps[int(sym.Shndx)]
		if m == nil || sym.Shndx >= uint16(elf.SHN_LORESERVE) {
			continue
		}
		val, err := w.newSymValue(i)
		if err != nil {
			return f.errf(m.sec.Name, "", -1, "%v", err)
		}
		size := sym.Size
		if size > 0 {
			if p := m.piece(int(sym.Value / bpf.InsnSize)); sym.typ() == elf.STT_FUNC && p != nil && p.fn != nil && p.fn.symIndex == i {
				size = uint64(p.newSlots) * bpf.InsnSize
			} else if sym.Size%bpf.InsnSize == 0 && sym.Value+sym.Size <= m.sec.Size {
				end, err := m.mapSlot(int((sym.Value+sym.Size)/bpf.InsnSize), false)
				if err != nil {
					return f.errf(m.sec.Name, sym.Name, -1, "symbol end: %v", err)
				}
				size = uint64(end)*bpf.InsnSize - val
			} else {
				return f.errf(m.sec.Name, sym.Name, -1, "symbol size %d is not a whole number of instructions", sym.Size)
			}
		}
		b := w.mut(f.symtab)[i*symSize:]
		f.Order.PutUint64(b[8:], val)
		f.Order.PutUint64(b[16:], size)
	}
	return nil
}

// fixRelocs remaps relocation offsets in affected sections and recomputes
// in-place addends that point into affected sections.
func (w *writer) fixRelocs() error {
	f := w.f
	o := f.Order
	for _, rs := range f.rels {
		if w.dropped[rs.index] || rs.target == f.btfExtIx && f.btfExt != nil {
			continue
		}
		tm := w.maps[rs.target]
		tgt := f.Sections[rs.target]
		size := relSize
		if rs.rela {
			size = relaSize
		}
		for i, e := range rs.entries {
			t := RelocType(e.Type)
			sym := f.syms[e.Sym]
			sm := w.maps[int(sym.Shndx)]
			if sym.Shndx >= uint16(elf.SHN_LORESERVE) {
				sm = nil
			}
			if (tm == nil && sm == nil) || t == R_BPF_NONE {
				continue
			}
			newOff := e.Off
			var fn *Function
			oldSlot := int(e.Off / bpf.InsnSize)
			if tm != nil {
				fn = f.functionAt(rs.target, oldSlot)
				s, err := tm.mapSlot(oldSlot, true)
				if err != nil {
					name, insn := "", oldSlot
					if fn != nil {
						name = fn.Name
					}
					return f.errf(tgt.Name, name, insn, "relocation %v against %s: %v", t, sym.Name, err)
				}
				newOff = uint64(s)*bpf.InsnSize + e.Off%bpf.InsnSize
				if p := tm.piece(oldSlot); p != nil && p.rw != nil {
					if err := w.keepAddend(tm, p, oldSlot, s); err != nil {
						return err
					}
				}
				o.PutUint64(w.mut(rs.index)[i*size:], newOff)
			}
			if sm == nil {
				continue
			}
			newSym, err := w.newSymValue(int(e.Sym))
			if err != nil {
				return f.errf(sm.sec.Name, "", -1, "%v", err)
			}
			if rs.rela {
				return f.errf(tgt.Name, "", -1, "RELA relocation against rewritten section %s is not supported", sm.sec.Name)
			}
			if tgt.Exec() {
				insn := f.raw[tgt.Offset+e.Off:]
				code, imm := insn[0], int64(int32(o.Uint32(insn[4:])))
				var target int64
				call := code == callCode
				if call {
					target = int64(sym.Value/bpf.InsnSize) + imm + 1
				} else {
					target = int64(sym.Value) + imm
					if target%bpf.InsnSize != 0 {
						return f.errf(tgt.Name, "", oldSlot, "reference to %s+%d is not an instruction boundary", sym.Name, imm)
					}
					target /= bpf.InsnSize
				}
				if target < 0 || target > int64(sm.oldSlots) {
					return f.errf(tgt.Name, "", oldSlot, "reference to %s+%d is outside section %s", sym.Name, imm, sm.sec.Name)
				}
				nt, err := sm.mapSlot(int(target), false)
				if err != nil {
					return f.errf(tgt.Name, "", oldSlot, "reference into %s: %v", sm.sec.Name, err)
				}
				var newImm int64
				if call {
					newImm = int64(nt) - int64(newSym/bpf.InsnSize) - 1
				} else {
					newImm = int64(nt)*bpf.InsnSize - int64(newSym)
				}
				o.PutUint32(w.mut(rs.target)[newOff+4:], uint32(int32(newImm)))
				continue
			}
			// A data reference (struct_ops, prog array initialisers, ...).
			var addend int64
			switch t {
			case R_BPF_64_ABS64:
				addend = int64(o.Uint64(f.raw[tgt.Offset+e.Off:]))
			case R_BPF_64_ABS32, R_BPF_64_NODYLD32:
				addend = int64(o.Uint32(f.raw[tgt.Offset+e.Off:]))
			default:
				return f.errf(tgt.Name, "", -1, "relocation %v at offset %d against rewritten section %s is not supported", t, e.Off, sm.sec.Name)
			}
			target := int64(sym.Value) + addend
			if target%bpf.InsnSize != 0 || target < 0 || target > int64(sm.sec.Size) {
				return f.errf(tgt.Name, "", -1, "relocation at offset %d: %s+%d is not an instruction of %s", e.Off, sym.Name, addend, sm.sec.Name)
			}
			nt, err := sm.mapSlot(int(target/bpf.InsnSize), false)
			if err != nil {
				return f.errf(tgt.Name, "", -1, "relocation at offset %d: %v", e.Off, err)
			}
			na := int64(nt)*bpf.InsnSize - int64(newSym)
			if t == R_BPF_64_ABS64 {
				o.PutUint64(w.mut(rs.target)[e.Off:], uint64(na))
			} else {
				o.PutUint32(w.mut(rs.target)[e.Off:], uint32(na))
			}
		}
	}
	return nil
}

// keepAddend copies the in-place addend (the immediates) of a relocated old
// instruction into the new one it maps to, after checking that the new one
// is of the same kind.
func (w *writer) keepAddend(m *secMap, p *piece, oldSlot, newSlot int) error {
	f := w.f
	fn := p.fn
	k := fn.InsnAtSlot(oldSlot - p.oldStart)
	old := fn.Insns[k]
	nin := p.rw.Insns[p.rw.OldToNew[k]]
	if old.IsLdImm64() != nin.IsLdImm64() || (old.Code == callCode) != (nin.Code == callCode) {
		return f.errf(fn.Section, fn.Name, oldSlot, "relocated instruction (opcode %#02x) rewritten to opcode %#02x", old.Code, nin.Code)
	}
	data := w.newData[m.sec.Index]
	f.Order.PutUint32(data[newSlot*bpf.InsnSize+4:], uint32(old.Imm))
	if old.IsLdImm64() {
		f.Order.PutUint32(data[(newSlot+1)*bpf.InsnSize+4:], uint32(old.Imm2))
	}
	return nil
}

// fixBTFExt remaps the .BTF.ext records of affected sections and the
// relocations pointing at them.
func (w *writer) fixBTFExt() error {
	f := w.f
	x := f.btfExt
	if x == nil {
		return nil
	}
	o := f.Order
	byName := map[string]*secMap{}
	for _, m := range w.maps {
		byName[m.sec.Name] = m
	}
	nx := &btfExt{hdrLen: x.hdrLen}
	changed := false
	for kind, sub := range x.subs {
		if sub == nil {
			continue
		}
		ns := *sub
		ns.blocks = nil
		for _, blk := range sub.blocks {
			m := byName[blk.name]
			if m == nil {
				ns.blocks = append(ns.blocks, blk)
				continue
			}
			changed = true
			nb := &extBlock{nameOff: blk.nameOff, name: blk.name}
			var err error
			if kind == extLine {
				nb.recs, err = w.remapLines(m, blk.recs)
			} else {
				nb.recs, err = w.remapRecs(m, kind, blk.recs)
			}
			if err != nil {
				return err
			}
			ns.blocks = append(ns.blocks, nb)
		}
		nx.subs[kind] = &ns
	}
	if !changed {
		return nil
	}
	old := f.data(f.btfExtIx)
	b, moved := nx.encode(old, o)
	w.newData[f.btfExtIx] = b

	// Relocations in .rel.BTF.ext follow their records; those of dropped
	// records go.
	var recs []extRec
	for _, sub := range x.subs {
		if sub == nil {
			continue
		}
		for _, blk := range sub.blocks {
			recs = append(recs, blk.recs...)
		}
	}
	sort.Slice(recs, func(a, b int) bool { return recs[a].pos < recs[b].pos })
	first := len(old)
	if len(recs) > 0 {
		first = recs[0].pos
	}
	for _, rs := range f.rels {
		if rs.target != f.btfExtIx {
			continue
		}
		size := relSize
		if rs.rela {
			size = relaSize
		}
		src := f.data(rs.index)
		var out []byte
		for i, e := range rs.entries {
			off := int(e.Off)
			k := sort.Search(len(recs), func(j int) bool { return recs[j].pos+len(recs[j].data) > off })
			var newOff int
			switch {
			case k < len(recs) && recs[k].pos <= off:
				np, ok := moved[recs[k].pos]
				if !ok {
					continue // its record was dropped
				}
				newOff = np + off - recs[k].pos
			case off < first:
				newOff = off // header
			default:
				return f.errf(".BTF.ext", "", -1, "relocation at offset %d is not inside a record", off)
			}
			ent := append([]byte(nil), src[i*size:(i+1)*size]...)
			o.PutUint64(ent, uint64(newOff))
			out = append(out, ent...)
		}
		w.newData[rs.index] = out
	}
	return nil
}

func withInsnOff(r extRec, off int, o interface{ PutUint32([]byte, uint32) }) extRec {
	d := append([]byte(nil), r.data...)
	o.PutUint32(d, uint32(off))
	return extRec{pos: r.pos, data: d}
}

// remapRecs maps func_info (labels: a function start stays a function start)
// and CO-RE relocations (strict: the instruction must be kept).
func (w *writer) remapRecs(m *secMap, kind int, recs []extRec) ([]extRec, error) {
	f := w.f
	out := make([]extRec, 0, len(recs))
	for _, r := range recs {
		off := r.insnOff(f.Order)
		slot := int(off / bpf.InsnSize)
		if off%bpf.InsnSize != 0 {
			return nil, f.errf(".BTF.ext", "", -1, "%s for %s at byte %d is not an instruction boundary", extNames[kind], m.sec.Name, off)
		}
		ns, err := m.mapSlot(slot, kind == extCore)
		if err != nil {
			name := ""
			if fn := f.functionAt(m.sec.Index, slot); fn != nil {
				name = fn.Name
			}
			if _, ok := err.(*errDeleted); ok {
				return nil, f.errf(m.sec.Name, name, slot, "%s applies to a deleted instruction", extNames[kind])
			}
			return nil, f.errf(m.sec.Name, name, slot, "%s: %v", extNames[kind], err)
		}
		out = append(out, withInsnOff(r, ns*bpf.InsnSize, f.Order))
	}
	return out, nil
}

// remapLines maps line_info records. A kept instruction keeps its record. A
// deleted instruction's record moves to the next kept instruction of the same
// function if that has no record of its own (so the lines of all kept
// instructions stay as they were), else it is dropped. Each function keeps a
// record at its first instruction.
func (w *writer) remapLines(m *secMap, recs []extRec) ([]extRec, error) {
	f := w.f
	type nrec struct {
		r    extRec
		off  int // new slot
		fn   *Function
		kept bool
	}
	var tmp []nrec
	for _, r := range recs {
		off := r.insnOff(f.Order)
		slot := int(off / bpf.InsnSize)
		fn := f.functionAt(m.sec.Index, slot)
		name := ""
		if fn != nil {
			name = fn.Name
		}
		if off%bpf.InsnSize != 0 {
			return nil, f.errf(m.sec.Name, name, -1, "line_info at byte %d is not an instruction boundary", off)
		}
		ns, err := m.mapSlot(slot, true)
		if err == nil {
			tmp = append(tmp, nrec{r, ns, fn, true})
			continue
		}
		if _, ok := err.(*errDeleted); !ok {
			return nil, f.errf(m.sec.Name, name, slot, "line_info: %v", err)
		}
		ns, err = m.mapSlot(slot, false)
		if err != nil {
			return nil, f.errf(m.sec.Name, name, slot, "line_info: %v", err)
		}
		p := m.piece(slot)
		if slot != p.oldStart && ns == p.newStart+p.newSlots {
			continue // no kept instruction after it in its function
		}
		tmp = append(tmp, nrec{r, ns, fn, false})
	}
	// Records landing on the same instruction: the last one in the old order
	// is the one that applied to it (a kept instruction's own record comes
	// after moved ones).
	var out []nrec
	for i, n := range tmp {
		if i+1 < len(tmp) && tmp[i+1].off == n.off {
			continue
		}
		out = append(out, n)
	}
	// Every function that had a record at its start keeps one there.
	for i := range out {
		fn := out[i].fn
		if fn == nil {
			continue
		}
		p := m.piece(fn.Offset)
		if i > 0 && out[i-1].fn == fn {
			continue
		}
		if out[i].off != p.newStart {
			out[i].off = p.newStart
		}
	}
	res := make([]extRec, len(out))
	for i, n := range out {
		res[i] = withInsnOff(n.r, n.off*bpf.InsnSize, f.Order)
	}
	return res, nil
}

// block is a run of file bytes placed by layout.
type block struct {
	idx              int // section index, -1 for the section header table, -2 for end of file
	origOff, origLen uint64
	align            uint64
	data             []byte
	newOff           uint64
}

// layout places every section's bytes again in their original order,
// keeping the bytes between them and each section's alignment, then patches
// the section headers and e_shoff.
func (w *writer) layout() ([]byte, error) {
	f := w.f
	var blocks []*block
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL || s.Size == 0 {
			continue
		}
		b := &block{idx: s.Index, origOff: s.Offset, origLen: s.Size, align: max(s.Align, 1)}
		if nd, ok := w.newData[s.Index]; ok {
			b.data = nd
		} else {
			b.data = f.data(s.Index)
		}
		blocks = append(blocks, b)
	}
	shLen := uint64(f.hdr.shnum) * shdrSize
	shAlign := uint64(8)
	if f.hdr.shoff%8 != 0 {
		shAlign = 1
	}
	blocks = append(blocks, &block{idx: -1, origOff: f.hdr.shoff, origLen: shLen, align: shAlign,
		data: f.raw[f.hdr.shoff : f.hdr.shoff+shLen]})
	sort.SliceStable(blocks, func(a, b int) bool { return blocks[a].origOff < blocks[b].origOff })
	blocks = append(blocks, &block{idx: -2, origOff: uint64(len(f.raw)), align: 1})

	out := append(make([]byte, 0, len(f.raw)), f.raw[:64]...)
	prevOrigEnd := uint64(64)
	for _, b := range blocks {
		if b.origOff < prevOrigEnd {
			return nil, f.errf(f.secName(b.idx), "", -1, "overlaps the previous section in the file; cannot rewrite")
		}
		if b.align&(b.align-1) != 0 || b.align > 1<<20 {
			return nil, f.errf(f.secName(b.idx), "", -1, "unsupported alignment %d", b.align)
		}
		out = append(out, f.raw[prevOrigEnd:b.origOff]...)
		for uint64(len(out))%b.align != 0 {
			out = append(out, 0)
		}
		b.newOff = uint64(len(out))
		out = append(out, b.data...)
		prevOrigEnd = b.origOff + b.origLen
	}
	o := f.Order
	var sht *block
	for _, b := range blocks {
		if b.idx == -1 {
			sht = b
		}
	}
	o.PutUint64(out[0x28:], sht.newOff)
	// mapOff maps the file offset of a section without file bytes.
	mapOff := func(x uint64) uint64 {
		var last *block
		for _, b := range blocks {
			if b.origOff <= x && b.idx != -2 {
				last = b
			}
		}
		switch {
		case last == nil:
			return x
		case x >= last.origOff+last.origLen:
			return last.newOff + uint64(len(last.data)) + (x - last.origOff - last.origLen)
		default:
			return last.newOff + (x - last.origOff)
		}
	}
	placed := map[int]*block{}
	for _, b := range blocks {
		placed[b.idx] = b
	}
	for _, s := range f.Sections {
		h := out[sht.newOff+uint64(s.Index)*shdrSize:]
		if b, ok := placed[s.Index]; ok {
			o.PutUint64(h[0x18:], b.newOff)
			o.PutUint64(h[0x20:], uint64(len(b.data)))
		} else if s.Type != elf.SHT_NULL {
			o.PutUint64(h[0x18:], mapOff(s.Offset))
		}
		if w.dropped[s.Index] {
			// Unnamed (offset 0 of the name table is ""): readers such as
			// llvm-objdump look DWARF up by name and fall back to BTF line
			// info when there is none. The header stays, so no index moves.
			o.PutUint32(h[0:], 0)
			o.PutUint64(h[0x20:], 0)
		}
	}
	return out, nil
}
