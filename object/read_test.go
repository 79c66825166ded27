package object

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

func TestReadFixture(t *testing.T) {
	for _, path := range []string{"testdata/fixture-clang14.o", "testdata/fixture-clang19-v4.o"} {
		t.Run(path, func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Spec == nil {
				t.Fatalf("cilium/ebpf: %v", f.SpecErr)
			}
			var names []string
			for _, p := range f.Programs() {
				names = append(names, p.Name)
			}
			if got, want := strings.Join(names, " "), "xdp_main xdp_second tc_main sock_main"; got != want {
				t.Errorf("Programs() = %s, want %s", got, want)
			}
			tests := []struct {
				fn      string
				entry   bool
				typ     ebpf.ProgramType
				section string
				relocs  string // kind:symbol, in order
			}{
				{"xdp_main", true, ebpf.XDP, "xdp", "map:seen map:seen data:hits subprog:.text data:total subprog:global_check"},
				{"xdp_second", true, ebpf.XDP, "xdp", "subprog:.text"},
				{"tc_main", true, ebpf.SchedCLS, "tc", "subprog:.text subprog:.text"},
				{"sock_main", true, ebpf.SocketFilter, "socket", "subprog:global_check"},
				{"global_check", false, ebpf.UnspecifiedProgram, ".text", "data:limit"},
				{"bump", false, ebpf.UnspecifiedProgram, ".text", "map:counters"},
				{"looped", false, ebpf.UnspecifiedProgram, ".text", "func_addr:.text"},
				{"mix", false, ebpf.UnspecifiedProgram, ".text", ""},
			}
			for _, tc := range tests {
				fn := f.Function(tc.fn)
				if fn == nil {
					t.Errorf("no function %s", tc.fn)
					continue
				}
				var rel []string
				for _, r := range fn.Relocs {
					rel = append(rel, r.Kind.String()+":"+r.Symbol)
					k := fn.InsnAtSlot(r.Slot)
					if k != r.Insn {
						t.Errorf("%s: reloc slot %d is insn %d, reloc says %d", tc.fn, r.Slot, k, r.Insn)
					}
				}
				if fn.Entry != tc.entry || fn.Type != tc.typ || fn.Section != tc.section || strings.Join(rel, " ") != tc.relocs {
					t.Errorf("%s: entry %v type %v section %s relocs %q; want %v %v %s %q",
						tc.fn, fn.Entry, fn.Type, fn.Section, strings.Join(rel, " "), tc.entry, tc.typ, tc.section, tc.relocs)
				}
			}
			if f.Function("nope") != nil {
				t.Error("Function(nope) != nil")
			}
		})
	}
}

// patcher edits a copy of the clang 14 fixture at offsets found with
// debug/elf.
type patcher struct {
	t    *testing.T
	data []byte
	ef   *elf.File
}

func newPatcher(t *testing.T) *patcher {
	data, err := os.ReadFile("testdata/fixture-clang14.o")
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return &patcher{t: t, data: data, ef: ef}
}

func (p *patcher) sectionIndex(name string) int {
	for i, s := range p.ef.Sections {
		if s.Name == name {
			return i
		}
	}
	p.t.Fatalf("no section %s", name)
	return 0
}

// shdr returns the offset of a section header field.
func (p *patcher) shdr(name string, field int) []byte {
	shoff := binary.LittleEndian.Uint64(p.data[0x28:])
	return p.data[shoff+uint64(p.sectionIndex(name))*64+uint64(field):]
}

func (p *patcher) sec(name string) []byte {
	s := p.ef.Sections[p.sectionIndex(name)]
	return p.data[s.Offset : s.Offset+s.Size]
}

func (p *patcher) symbol(name string) []byte {
	syms, _ := p.ef.Symbols()
	for i, s := range syms {
		if s.Name == name {
			return p.sec(".symtab")[(i+1)*24:]
		}
	}
	p.t.Fatalf("no symbol %s", name)
	return nil
}

func TestMalformed(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name  string
		patch func(p *patcher) []byte
		want  []string // substrings of the one-line error
	}{
		{"not-elf", func(p *patcher) []byte { return []byte("#!/bin/sh\necho this is not an object\n") },
			[]string{"bad.o: not an ELF file"}},
		{"empty", func(p *patcher) []byte { return nil }, []string{"bad.o: not an ELF file"}},
		{"x86", func(p *patcher) []byte { le.PutUint16(p.data[0x12:], uint16(elf.EM_X86_64)); return p.data },
			[]string{"bad.o: ELF machine is EM_X86_64, want EM_BPF"}},
		{"elf32", func(p *patcher) []byte { p.data[elf.EI_CLASS] = byte(elf.ELFCLASS32); return p.data },
			[]string{"want ELFCLASS64"}},
		{"truncated-half", func(p *patcher) []byte { return p.data[:len(p.data)/2] }, []string{"bad.o", "truncated"}},
		{"truncated-header", func(p *patcher) []byte { return p.data[:40] }, []string{"bad.o: truncated ELF header"}},
		{"truncated-section", func(p *patcher) []byte {
			le.PutUint64(p.shdr("xdp", 0x18), uint64(len(p.data))-8)
			return p.data
		}, []string{"bad.o: section xdp: extends past end of file", "truncated?"}},
		{"odd-length-section", func(p *patcher) []byte {
			le.PutUint64(p.shdr("xdp", 0x20), le.Uint64(p.shdr("xdp", 0x20))-4)
			return p.data
		}, []string{"bad.o: section xdp: size 436 is not a multiple of 8"}},
		{"unknown-opcode", func(p *patcher) []byte { p.sec("xdp")[8*3] = 0xff; return p.data },
			[]string{"bad.o: section xdp: program xdp_main: insn 3:"}},
		{"reloc-outside-section", func(p *patcher) []byte { le.PutUint64(p.sec(".relxdp"), 0x10000); return p.data },
			[]string{"bad.o: section xdp: relocation at offset 65536", "outside its section"}},
		{"reloc-not-ld-imm64", func(p *patcher) []byte { le.PutUint64(p.sec(".relxdp"), 0); return p.data },
			[]string{"bad.o: section xdp: program xdp_main: insn 0: relocation R_BPF_64_64 applies to opcode 0x61, want ld_imm64"}},
		{"reloc-second-slot", func(p *patcher) []byte { le.PutUint64(p.sec(".relxdp"), 0x58); return p.data },
			[]string{"program xdp_main: insn 11: relocation R_BPF_64_64 points at the second slot of an ld_imm64"}},
		{"reloc-unaligned", func(p *patcher) []byte { le.PutUint64(p.sec(".relxdp"), 0x51); return p.data },
			[]string{"section xdp: relocation at offset 81 is not on an instruction boundary"}},
		{"reloc-bad-symbol", func(p *patcher) []byte { le.PutUint32(p.sec(".relxdp")[12:], 9999); return p.data },
			[]string{"symbol 9999 does not exist"}},
		{"symbol-overruns-section", func(p *patcher) []byte { le.PutUint64(p.symbol("xdp_second")[16:], 4096); return p.data },
			[]string{"bad.o: section xdp: program xdp_second: symbol (value 376 size 4096) overruns its section (size 440)"}},
		{"symbol-unaligned", func(p *patcher) []byte { le.PutUint64(p.symbol("xdp_second")[8:], 4); return p.data },
			[]string{"program xdp_second: symbol value 4 or size 64 is not a multiple of 8"}},
		{"ld-imm64-cut", func(p *patcher) []byte { le.PutUint64(p.symbol("xdp_main")[16:], 0x58); return p.data },
			[]string{"program xdp_main: insn 10: ld_imm64 is missing its second slot"}},
		{"btf-ext-bad", func(p *patcher) []byte { le.PutUint32(p.sec(".BTF.ext")[4:], 1<<30); return p.data },
			[]string{"section .BTF.ext: bad header length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.patch(newPatcher(t))
			f, err := Parse("bad.o", data)
			if err == nil {
				t.Fatalf("parsed (%d functions), want an error", len(f.Functions))
			}
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %T (%v), want *object.Error", err, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error has more than one line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open("testdata/does-not-exist.o")
	var oe *Error
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "does-not-exist.o") {
		t.Fatalf("Open of a missing file: %v", err)
	}
}

// callees lists, per function, what its bpf-to-bpf calls and function
// references resolve to, in instruction order.
func callees(t *testing.T, f *File) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, fn := range f.Functions {
		var names []string
		for k := range fn.Insns {
			if !fn.IsCodeRef(k) {
				continue
			}
			c, ck, err := f.Callee(fn, k)
			if err != nil {
				t.Fatalf("Callee: %v", err)
			}
			name := c.Name
			if ck != 0 {
				name += "+" + strconv.Itoa(ck)
			}
			names = append(names, name)
		}
		out[fn.Name] = strings.Join(names, " ")
	}
	return out
}

func TestCallee(t *testing.T) {
	want := map[string]string{
		"xdp_main":     "looped global_check",
		"xdp_second":   "bump",
		"tc_main":      "bump looped",
		"sock_main":    "global_check",
		"global_check": "bump",
		"bump":         "mix",
		"looped":       "loop_cb",
		"loop_cb":      "mix",
		"mix":          "",
	}
	for _, path := range []string{"testdata/fixture-clang14.o", "testdata/fixture-clang19-v4.o"} {
		t.Run(path, func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			got := callees(t, f)
			for fn, w := range want {
				if got[fn] != w {
					t.Errorf("%s calls %q, want %q", fn, got[fn], w)
				}
			}
			if _, _, err := f.Callee(f.Function("mix"), 0); err == nil || !strings.Contains(err.Error(), "not a bpf-to-bpf call") {
				t.Errorf("Callee of a non-call: %v", err)
			}
		})
	}
}
