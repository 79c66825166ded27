package object

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

// File is a parsed BPF object. The raw bytes are kept: writing copies every
// byte it does not have to change.
type File struct {
	Path  string // as given to Open or Parse; used in error messages
	Order binary.ByteOrder

	// Spec is cilium/ebpf's view (maps, program types, BTF); nil when
	// cilium/ebpf refused the object, and then SpecErr says why.
	Spec    *ebpf.CollectionSpec
	SpecErr error

	Sections  []*Section  // indexed by ELF section index
	Functions []*Function // every function, in ELF order (section index, offset)

	raw      []byte
	hdr      elfHeader
	symtab   int      // section index of .symtab, 0 if none
	syms     []symbol // raw symbol table, index 0 included
	rels     []*relSection
	btfExt   *btfExt // nil if there is no (usable) .BTF.ext
	btfExtIx int     // section index of .BTF.ext
}

// Section is one ELF section header.
type Section struct {
	Index  int
	Name   string
	Type   elf.SectionType
	Flags  elf.SectionFlag
	Offset uint64
	Size   uint64
	Align  uint64
	Link   uint32
	Info   uint32

	// Functions of an executable section, in offset order.
	Functions []*Function
}

// Exec reports whether the section holds BPF instructions.
func (s *Section) Exec() bool {
	return s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0
}

// Function is one STT_FUNC symbol of an executable section.
type Function struct {
	Name         string
	Section      string
	SectionIndex int
	Offset       int // slot offset of the first instruction within the section
	Insns        []bpf.Insn

	// Entry is true for programs (functions outside .text), false for
	// subprograms (functions in .text, static or global).
	Entry  bool
	Global bool // STB_GLOBAL or STB_WEAK binding

	// Type is the program type cilium/ebpf derives from the section name
	// (UnspecifiedProgram for subprograms or when cilium/ebpf failed);
	// Program is cilium/ebpf's spec of an entry program, nil otherwise.
	Type    ebpf.ProgramType
	Program *ebpf.ProgramSpec

	// Relocs are the ELF relocations applying to this function's
	// instructions, by increasing slot.
	Relocs []Reloc

	symIndex int
	slots    int
	offs     []int // bpf.SlotOffsets(Insns)
}

// Slots is the number of 8-byte slots of the function.
func (fn *Function) Slots() int { return fn.slots }

// InsnAtSlot returns the index of the instruction starting at slot s of the
// function, or -1 if s is the second slot of an ld_imm64 or out of range.
func (fn *Function) InsnAtSlot(s int) int {
	k := sort.SearchInts(fn.offs, s)
	if k < len(fn.Insns) && fn.offs[k] == s {
		return k
	}
	return -1
}

// Reloc returns the relocation of instruction k, if any.
func (fn *Function) Reloc(k int) (Reloc, bool) {
	i := sort.Search(len(fn.Relocs), func(i int) bool { return fn.Relocs[i].Insn >= k })
	if i < len(fn.Relocs) && fn.Relocs[i].Insn == k {
		return fn.Relocs[i], true
	}
	return Reloc{}, false
}

// RelocKind classifies what a relocated instruction refers to.
type RelocKind int

// Relocation kinds.
const (
	RelocOther    RelocKind = iota
	RelocMap                // ld_imm64 of a map (symbol in .maps or maps)
	RelocData               // ld_imm64 of global data (.rodata, .data, .bss, ...)
	RelocSubprog            // call of a BPF function
	RelocFuncAddr           // ld_imm64 of a BPF function (callback)
	RelocKfunc              // call of an undefined symbol (kfunc)
	RelocKsym               // ld_imm64 of an undefined symbol (ksym, kconfig)
)

var relocKindNames = [...]string{"other", "map", "data", "subprog", "func_addr", "kfunc", "ksym"}

func (k RelocKind) String() string {
	if int(k) < len(relocKindNames) {
		return relocKindNames[k]
	}
	return fmt.Sprintf("RelocKind(%d)", int(k))
}

// Reloc is one relocation of a function's instruction.
type Reloc struct {
	Insn       int // instruction index within the function
	Slot       int // slot index within the function
	Type       RelocType
	Kind       RelocKind
	Symbol     string
	SymType    elf.SymType
	SymBind    elf.SymBind
	SymSection string // "" for undefined (extern) symbols
	SymValue   uint64

	symShndx int // section index of the symbol, 0 if undefined
}

// Programs returns the entry programs in ELF order.
func (f *File) Programs() []*Function {
	var out []*Function
	for _, fn := range f.Functions {
		if fn.Entry {
			out = append(out, fn)
		}
	}
	return out
}

// Function returns the function called name, or nil.
func (f *File) Function(name string) *Function {
	for _, fn := range f.Functions {
		if fn.Name == name {
			return fn
		}
	}
	return nil
}

// Raw returns the input bytes (not to be modified).
func (f *File) Raw() []byte { return f.raw }

// Open reads and parses the object at path.
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Insn: -1, Msg: err.Error()}
	}
	return Parse(path, data)
}

type elfHeader struct {
	shoff     uint64
	ehsize    uint16
	shentsize uint16
	shnum     uint16
}

type symbol struct {
	Name  string
	Info  byte
	Other byte
	Shndx uint16
	Value uint64
	Size  uint64
}

func (s symbol) typ() elf.SymType  { return elf.SymType(s.Info & 0xf) }
func (s symbol) bind() elf.SymBind { return elf.SymBind(s.Info >> 4) }

type relEntry struct {
	Off    uint64
	Sym    uint32
	Type   uint32
	Addend int64 // RELA only
}

type relSection struct {
	index   int // the REL/RELA section
	target  int // the section it applies to
	rela    bool
	entries []relEntry
}

const (
	symSize  = 24
	relSize  = 16
	relaSize = 24
	shdrSize = 64
)

// Parse parses an object held in memory; name is used in error messages.
func Parse(name string, data []byte) (*File, error) {
	f := &File{Path: name, raw: data}
	if err := f.parse(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) parse() error {
	data := f.raw
	if len(data) < 4 || string(data[:4]) != elf.ELFMAG {
		return f.errf("", "", -1, "not an ELF file")
	}
	if len(data) < 64 {
		return f.errf("", "", -1, "truncated ELF header (%d bytes)", len(data))
	}
	if elf.Class(data[elf.EI_CLASS]) != elf.ELFCLASS64 {
		return f.errf("", "", -1, "ELF class %v, want ELFCLASS64", elf.Class(data[elf.EI_CLASS]))
	}
	switch elf.Data(data[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		f.Order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		f.Order = binary.BigEndian
	default:
		return f.errf("", "", -1, "unknown ELF data encoding %d", data[elf.EI_DATA])
	}
	o := f.Order
	if m := elf.Machine(o.Uint16(data[0x12:])); m != elf.EM_BPF {
		return f.errf("", "", -1, "ELF machine is %v, want EM_BPF", m)
	}
	f.hdr = elfHeader{
		shoff:     o.Uint64(data[0x28:]),
		ehsize:    o.Uint16(data[0x34:]),
		shentsize: o.Uint16(data[0x3a:]),
		shnum:     o.Uint16(data[0x3c:]),
	}
	if end := f.hdr.shoff + uint64(f.hdr.shnum)*shdrSize; f.hdr.shoff < 64 || end < f.hdr.shoff || end > uint64(len(data)) {
		return f.errf("", "", -1, "section header table (offset %d, %d entries) extends past end of file (%d bytes): truncated?", f.hdr.shoff, f.hdr.shnum, len(data))
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return f.errf("", "", -1, "bad ELF: %v", err)
	}
	if ef.Type != elf.ET_REL {
		return f.errf("", "", -1, "ELF type is %v, want ET_REL (a relocatable object)", ef.Type)
	}
	if phnum := o.Uint16(data[0x38:]); phnum != 0 {
		return f.errf("", "", -1, "has %d program headers; want a relocatable object", phnum)
	}
	if f.hdr.ehsize < 64 || int(f.hdr.ehsize) > len(data) {
		return f.errf("", "", -1, "bad ELF header size %d", f.hdr.ehsize)
	}
	if f.hdr.shentsize != shdrSize || int(f.hdr.shnum) != len(ef.Sections) || len(ef.Sections) == 0 {
		return f.errf("", "", -1, "unsupported section header table (entry size %d, %d entries)", f.hdr.shentsize, f.hdr.shnum)
	}

	for i, s := range ef.Sections {
		sec := &Section{
			Index: i, Name: s.Name, Type: s.Type, Flags: s.Flags,
			Offset: s.Offset, Size: s.Size, Align: s.Addralign, Link: s.Link, Info: s.Info,
		}
		f.Sections = append(f.Sections, sec)
		if s.Flags&elf.SHF_COMPRESSED != 0 {
			return f.errf(s.Name, "", -1, "compressed sections are not supported")
		}
		if sec.Type != elf.SHT_NOBITS && sec.Type != elf.SHT_NULL {
			if end := sec.Offset + sec.Size; end < sec.Offset || end > uint64(len(data)) {
				return f.errf(s.Name, "", -1, "extends past end of file (offset %d size %d, file %d bytes): truncated?", sec.Offset, sec.Size, len(data))
			}
			if sec.Offset < 64 && sec.Size > 0 {
				return f.errf(s.Name, "", -1, "overlaps the ELF header (offset %d)", sec.Offset)
			}
		}
		if sec.Exec() && sec.Size%bpf.InsnSize != 0 {
			return f.errf(s.Name, "", -1, "size %d is not a multiple of %d", sec.Size, bpf.InsnSize)
		}
	}
	if err := f.parseSymbols(); err != nil {
		return err
	}
	if err := f.parseFunctions(); err != nil {
		return err
	}
	if err := f.parseRelocs(); err != nil {
		return err
	}
	if err := f.parseBTFExt(); err != nil {
		return err
	}
	f.loadSpec()
	return nil
}

// data returns a section's bytes (nil for NOBITS); bounds were checked.
func (f *File) data(idx int) []byte {
	s := f.Sections[idx]
	if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
		return nil
	}
	return f.raw[s.Offset : s.Offset+s.Size]
}

func (f *File) secName(idx int) string {
	if idx >= 0 && idx < len(f.Sections) {
		return f.Sections[idx].Name
	}
	return fmt.Sprintf("#%d", idx)
}

func cstring(b []byte, off uint64) (string, bool) {
	if off >= uint64(len(b)) {
		return "", off == 0 && len(b) == 0
	}
	end := bytes.IndexByte(b[off:], 0)
	if end < 0 {
		return "", false
	}
	return string(b[off : off+uint64(end)]), true
}

func (f *File) parseSymbols() error {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_SYMTAB {
			continue
		}
		if f.symtab != 0 {
			return f.errf(s.Name, "", -1, "more than one symbol table")
		}
		f.symtab = s.Index
	}
	if f.symtab == 0 {
		return nil
	}
	st := f.Sections[f.symtab]
	if st.Size%symSize != 0 {
		return f.errf(st.Name, "", -1, "size %d is not a multiple of %d", st.Size, symSize)
	}
	if int(st.Link) >= len(f.Sections) || f.Sections[st.Link].Type != elf.SHT_STRTAB {
		return f.errf(st.Name, "", -1, "link %d is not a string table", st.Link)
	}
	strs := f.data(int(st.Link))
	b := f.data(f.symtab)
	o := f.Order
	for i := 0; i+symSize <= len(b); i += symSize {
		e := b[i:]
		sym := symbol{Info: e[4], Other: e[5], Shndx: o.Uint16(e[6:]), Value: o.Uint64(e[8:]), Size: o.Uint64(e[16:])}
		name, ok := cstring(strs, uint64(o.Uint32(e)))
		if !ok {
			return f.errf(st.Name, "", -1, "symbol %d: name offset %d outside the string table", i/symSize, o.Uint32(e))
		}
		sym.Name = name
		f.syms = append(f.syms, sym)
	}
	return nil
}

func (f *File) parseFunctions() error {
	for i, sym := range f.syms {
		if sym.typ() != elf.STT_FUNC || sym.Shndx == uint16(elf.SHN_UNDEF) || sym.Shndx >= uint16(elf.SHN_LORESERVE) {
			continue
		}
		if int(sym.Shndx) >= len(f.Sections) {
			return f.errf("", sym.Name, -1, "symbol in section %d, which does not exist", sym.Shndx)
		}
		sec := f.Sections[sym.Shndx]
		if !sec.Exec() || sym.Size == 0 {
			continue
		}
		if sym.Value%bpf.InsnSize != 0 || sym.Size%bpf.InsnSize != 0 {
			return f.errf(sec.Name, sym.Name, -1, "symbol value %d or size %d is not a multiple of %d", sym.Value, sym.Size, bpf.InsnSize)
		}
		if end := sym.Value + sym.Size; end < sym.Value || end > sec.Size {
			return f.errf(sec.Name, sym.Name, -1, "symbol (value %d size %d) overruns its section (size %d)", sym.Value, sym.Size, sec.Size)
		}
		fn := &Function{
			Name: sym.Name, Section: sec.Name, SectionIndex: sec.Index,
			Offset: int(sym.Value / bpf.InsnSize), slots: int(sym.Size / bpf.InsnSize),
			Entry:    sec.Name != ".text",
			Global:   sym.bind() == elf.STB_GLOBAL || sym.bind() == elf.STB_WEAK,
			symIndex: i,
		}
		b := f.data(sec.Index)[sym.Value : sym.Value+sym.Size]
		insns, err := decode(b, f.Order)
		if err != nil {
			var de *bpf.DecodeError
			if errors.As(err, &de) {
				return f.errf(sec.Name, fn.Name, fn.Offset+de.Slot, "%s", de.Reason)
			}
			return f.errf(sec.Name, fn.Name, -1, "%v", err)
		}
		fn.Insns = insns
		fn.offs = bpf.SlotOffsets(insns)
		sec.Functions = append(sec.Functions, fn)
	}
	for _, sec := range f.Sections {
		fns := sec.Functions
		sort.SliceStable(fns, func(a, b int) bool { return fns[a].Offset < fns[b].Offset })
		for k := 1; k < len(fns); k++ {
			if fns[k].Offset < fns[k-1].Offset+fns[k-1].slots {
				return f.errf(sec.Name, fns[k].Name, fns[k].Offset, "overlaps function %s", fns[k-1].Name)
			}
		}
		f.Functions = append(f.Functions, fns...)
	}
	return nil
}

// decode validates as it decodes: unknown opcodes, reserved fields and jumps
// leaving the function are input errors.
var decode = bpf.Decode

// functionAt returns the function covering slot s of section sec, or nil.
func (f *File) functionAt(sec, s int) *Function {
	fns := f.Sections[sec].Functions
	k := sort.Search(len(fns), func(i int) bool { return fns[i].Offset+fns[i].slots > s })
	if k < len(fns) && fns[k].Offset <= s {
		return fns[k]
	}
	return nil
}

const callCode = 0x85 // BPF_JMP | BPF_CALL

// relocWidth is how many bytes at r_offset a relocation type touches in a
// section of the given kind; 0 means the type is unknown.
func relocWidth(t RelocType, exec bool) uint64 {
	switch t {
	case R_BPF_NONE:
		return 1
	case R_BPF_64_64:
		if exec {
			return 16
		}
		return 8
	case R_BPF_64_ABS64:
		return 8
	case R_BPF_64_ABS32, R_BPF_64_NODYLD32:
		return 4
	case R_BPF_64_32:
		if exec {
			return 8
		}
		return 4
	}
	return 0
}

func (f *File) parseRelocs() error {
	o := f.Order
	for _, rs := range f.Sections {
		if rs.Type != elf.SHT_REL && rs.Type != elf.SHT_RELA {
			continue
		}
		rela := rs.Type == elf.SHT_RELA
		size := uint64(relSize)
		if rela {
			size = relaSize
		}
		if rs.Size%size != 0 {
			return f.errf(rs.Name, "", -1, "size %d is not a multiple of %d", rs.Size, size)
		}
		if rs.Size == 0 {
			continue
		}
		if int(rs.Link) != f.symtab || f.symtab == 0 {
			return f.errf(rs.Name, "", -1, "links section %d, not the symbol table", rs.Link)
		}
		if rs.Info == 0 || int(rs.Info) >= len(f.Sections) {
			return f.errf(rs.Name, "", -1, "applies to section %d, which does not exist", rs.Info)
		}
		tgt := f.Sections[rs.Info]
		if tgt.Type == elf.SHT_NOBITS || tgt.Type == elf.SHT_NULL {
			return f.errf(rs.Name, "", -1, "applies to section %s, which has no contents", tgt.Name)
		}
		rsec := &relSection{index: rs.Index, target: tgt.Index, rela: rela}
		b := f.data(rs.Index)
		for i := uint64(0); i+size <= uint64(len(b)); i += size {
			e := relEntry{Off: o.Uint64(b[i:])}
			info := o.Uint64(b[i+8:])
			e.Sym, e.Type = uint32(info>>32), uint32(info)
			if rela {
				e.Addend = int64(o.Uint64(b[i+16:]))
			}
			if err := f.checkReloc(rs, tgt, e); err != nil {
				return err
			}
			rsec.entries = append(rsec.entries, e)
		}
		f.rels = append(f.rels, rsec)
	}
	for _, fn := range f.Functions {
		sort.Slice(fn.Relocs, func(a, b int) bool { return fn.Relocs[a].Slot < fn.Relocs[b].Slot })
	}
	return nil
}

func (f *File) checkReloc(rs, tgt *Section, e relEntry) error {
	t := RelocType(e.Type)
	if int(e.Sym) >= len(f.syms) {
		return f.errf(tgt.Name, "", -1, "relocation at offset %d (%s): symbol %d does not exist", e.Off, rs.Name, e.Sym)
	}
	w := relocWidth(t, tgt.Exec())
	if w == 0 {
		return f.errf(tgt.Name, "", -1, "relocation at offset %d: unknown type %d", e.Off, e.Type)
	}
	if end := e.Off + w; end < e.Off || end > tgt.Size {
		return f.errf(tgt.Name, "", -1, "relocation at offset %d (%v) points outside its section (size %d)", e.Off, t, tgt.Size)
	}
	if !tgt.Exec() || t == R_BPF_NONE {
		return nil
	}
	if e.Off%bpf.InsnSize != 0 {
		return f.errf(tgt.Name, "", -1, "relocation at offset %d is not on an instruction boundary", e.Off)
	}
	slot := int(e.Off / bpf.InsnSize)
	fn := f.functionAt(tgt.Index, slot)
	if fn == nil {
		// Code outside any function symbol is copied as is; nothing to attach to.
		return nil
	}
	k := fn.InsnAtSlot(slot - fn.Offset)
	if k < 0 {
		return f.errf(tgt.Name, fn.Name, slot, "relocation %v points at the second slot of an ld_imm64", t)
	}
	in := fn.Insns[k]
	switch t {
	case R_BPF_64_64:
		if !in.IsLdImm64() {
			return f.errf(tgt.Name, fn.Name, slot, "relocation %v applies to opcode %#02x, want ld_imm64", t, in.Code)
		}
	case R_BPF_64_32:
		if in.Code != callCode {
			return f.errf(tgt.Name, fn.Name, slot, "relocation %v applies to opcode %#02x, want call", t, in.Code)
		}
	default:
		return f.errf(tgt.Name, fn.Name, slot, "relocation type %v cannot apply to an instruction", t)
	}
	sym := f.syms[e.Sym]
	r := Reloc{
		Insn: k, Slot: slot - fn.Offset, Type: t, Symbol: sym.Name,
		SymType: sym.typ(), SymBind: sym.bind(), SymValue: sym.Value,
	}
	if sym.typ() == elf.STT_SECTION && int(sym.Shndx) < len(f.Sections) {
		r.Symbol = f.Sections[sym.Shndx].Name
	}
	switch {
	case sym.Shndx == uint16(elf.SHN_UNDEF):
		r.Kind = RelocKsym
		if in.Code == callCode {
			r.Kind = RelocKfunc
		}
	case int(sym.Shndx) < len(f.Sections):
		ss := f.Sections[sym.Shndx]
		r.SymSection = ss.Name
		r.symShndx = ss.Index
		switch {
		case ss.Exec() && in.Code == callCode:
			r.Kind = RelocSubprog
		case ss.Exec():
			r.Kind = RelocFuncAddr
		case ss.Name == ".maps" || ss.Name == "maps":
			r.Kind = RelocMap
		default:
			r.Kind = RelocData
		}
	}
	fn.Relocs = append(fn.Relocs, r)
	return nil
}

// loadSpec asks cilium/ebpf for its view. A refusal (or a panic inside it, on
// hostile input) is recorded, not fatal.
func (f *File) loadSpec() {
	defer func() {
		if r := recover(); r != nil {
			f.Spec, f.SpecErr = nil, fmt.Errorf("cilium/ebpf panicked: %v", r)
		}
	}()
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(f.raw))
	if err != nil {
		f.SpecErr = fmt.Errorf("%s: cilium/ebpf: %w", filepath.Base(f.Path), err)
		return
	}
	f.Spec = spec
	for _, fn := range f.Functions {
		if !fn.Entry {
			continue
		}
		if ps, ok := spec.Programs[fn.Name]; ok {
			fn.Program = ps
			fn.Type = ps.Type
		}
	}
}

// IsCodeRef reports whether instruction k refers to a BPF function: a
// bpf-to-bpf call (src=1, not relocated against an extern), or an ld_imm64 that is a pseudo-func load (src=4)
// or relocated against code (clang emits callbacks as src=0 with a
// relocation; libbpf sets src=4 when it resolves them).
func (fn *Function) IsCodeRef(k int) bool {
	in := fn.Insns[k]
	switch {
	case in.Code == callCode && in.Src == 1:
		// clang emits kfunc calls as src=1 too, relocated against an
		// undefined symbol.
		r, ok := fn.Reloc(k)
		return !ok || r.Kind == RelocSubprog
	case in.IsLdImm64() && in.Src == 4:
		return true
	case in.IsLdImm64():
		r, ok := fn.Reloc(k)
		return ok && r.Kind == RelocFuncAddr
	}
	return false
}

// Callee resolves instruction k of fn, a bpf-to-bpf call (call with src=1)
// or a pseudo-func ld_imm64 (src=4), to the function it refers to and the
// instruction index inside it (0 for a call of the function's start). Both
// encodings are handled: pc-relative without relocation (calls inside a
// section) and symbol + addend with a relocation.
func (f *File) Callee(fn *Function, k int) (*Function, int, error) {
	if k < 0 || k >= len(fn.Insns) {
		return nil, 0, f.errf(fn.Section, fn.Name, -1, "no instruction %d", k)
	}
	in := fn.Insns[k]
	slot := fn.Offset + fn.offs[k]
	call := in.Code == callCode && in.Src == 1
	if !fn.IsCodeRef(k) {
		return nil, 0, f.errf(fn.Section, fn.Name, slot, "not a bpf-to-bpf call or function reference")
	}
	sec, target := fn.SectionIndex, slot+int(in.Imm)+1
	if r, ok := fn.Reloc(k); ok {
		if r.symShndx == 0 || !f.Sections[r.symShndx].Exec() {
			return nil, 0, f.errf(fn.Section, fn.Name, slot, "refers to %s, which is not code", r.Symbol)
		}
		sec = r.symShndx
		if call {
			target = int(r.SymValue/bpf.InsnSize) + int(in.Imm) + 1
		} else {
			b := int64(r.SymValue) + int64(in.Imm)
			if b%bpf.InsnSize != 0 {
				return nil, 0, f.errf(fn.Section, fn.Name, slot, "refers to %s%+d, not an instruction boundary", r.Symbol, in.Imm)
			}
			target = int(b / bpf.InsnSize)
		}
	}
	callee := f.functionAt(sec, target)
	if callee == nil {
		return nil, 0, f.errf(fn.Section, fn.Name, slot, "refers to slot %d of %s, which is in no function", target, f.Sections[sec].Name)
	}
	ck := callee.InsnAtSlot(target - callee.Offset)
	if ck < 0 {
		return nil, 0, f.errf(fn.Section, fn.Name, slot, "refers to the second slot of an ld_imm64 in %s", callee.Name)
	}
	return callee, ck, nil
}
