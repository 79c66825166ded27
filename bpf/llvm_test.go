package bpf

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The disassembly reference is llvm-objdump. Which LLVM spelling an op must
// match (see disasm.go): LLVM 14's default text, unless LLVM 14 prints
// <unknown> or text that hides the semantics; then llvm-objdump-19 with
// decimal immediates; 32-bit atomics match LLVM 14 with +alu32.

var update = flag.Bool("update", false, "rewrite testdata/llvm golden files (needs llvm-mc and llvm-objdump 14 and 19)")

const (
	objdump14 = "llvm-objdump"
	objdump19 = "/usr/lib/llvm-19/bin/llvm-objdump"
)

// llvmRef names one llvm-objdump invocation.
type llvmRef int

const (
	ref14 llvmRef = iota
	ref19
	ref14alu32
	numRefs
)

var refArgs = [numRefs][]string{
	ref14:      {objdump14, "-d"},
	ref19:      {objdump19, "-d", "--no-print-imm-hex"},
	ref14alu32: {objdump14, "-d", "--mattr=+alu32"},
}

var refGolden = [numRefs]string{ref14: "allops.llvm14.txt", ref19: "allops.llvm19.txt", ref14alu32: "allops.llvm14-alu32.txt"}

// wantText picks the reference text for an instruction of op from the three
// objdump texts; ok is false when no LLVM version can print op.
func wantText(op Op, texts [numRefs]string) (want string, ref llvmRef, ok bool) {
	r := op.Info()
	switch {
	case r.Kind == KindLoadAcquire || r.Kind == KindStoreRelease:
		return "", 0, false
	case r.Kind == KindAtomic && r.Width == 32:
		return texts[ref14alu32], ref14alu32, true
	case r.Kind == KindSDiv || r.Kind == KindSMod || r.Kind == KindMovSX || r.Kind == KindAddrSpaceCast:
		return texts[ref19], ref19, true
	case texts[ref14] == "<unknown>":
		return texts[ref19], ref19, true
	}
	return texts[ref14], ref14, true
}

type objLine struct {
	slot int
	raw  []byte
	text string
}

var (
	lineRE    = regexp.MustCompile(`^\s*(\d+):\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*\t?(.*)$`)
	sectionRE = regexp.MustCompile(`^Disassembly of section (.*):$`)
	symRE     = regexp.MustCompile(`\s*<[^<>]*\+0x[0-9a-f]+>$|\s*<[^<>]+>$`)
	spaceRE   = regexp.MustCompile(`\s+`)
)

// normText strips a trailing "<sym+0x..>" annotation and collapses spaces.
func normText(s string) string {
	s = strings.TrimSpace(s)
	if s != "<unknown>" {
		s = symRE.ReplaceAllString(s, "")
	}
	return spaceRE.ReplaceAllString(s, " ")
}

// parseObjdump returns the instruction lines of each section.
func parseObjdump(out string) map[string][]objLine {
	secs := map[string][]objLine{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		if m := sectionRE.FindStringSubmatch(l); m != nil {
			cur = m[1]
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		slot, _ := strconv.Atoi(m[1])
		raw, _ := hex.DecodeString(strings.ReplaceAll(m[2], " ", ""))
		secs[cur] = append(secs[cur], objLine{slot: slot, raw: raw, text: normText(m[3])})
	}
	return secs
}

func runObjdump(t *testing.T, ref llvmRef, path string) map[string][]objLine {
	t.Helper()
	args := refArgs[ref]
	out, err := exec.Command(args[0], append(args[1:], path)...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", strings.Join(args, " "), path, err)
	}
	return parseObjdump(string(out))
}

func needTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it)", tool)
		}
	}
}

// allOpsProgram is every op's samples, encoded little endian.
func allOpsProgram() []Insn {
	var prog []Insn
	for op := Op(1); op < NumOps; op++ {
		prog = append(prog, samples(op)...)
	}
	return prog
}

func writeAllOpsGoldens(t *testing.T) {
	needTool(t, "llvm-mc", objdump14, objdump19)
	dir := t.TempDir()
	var s strings.Builder
	s.WriteString(".text\n.globl allops\nallops:\n")
	code := Encode(allOpsProgram(), binary.LittleEndian)
	for k := 0; k < len(code); k += 8 {
		fmt.Fprintf(&s, ".byte %d,%d,%d,%d,%d,%d,%d,%d\n", code[k], code[k+1], code[k+2], code[k+3], code[k+4], code[k+5], code[k+6], code[k+7])
	}
	asm, obj := filepath.Join(dir, "allops.s"), filepath.Join(dir, "allops.o")
	if err := os.WriteFile(asm, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("llvm-mc", "-triple=bpfel", "-filetype=obj", asm, "-o", obj).CombinedOutput(); err != nil {
		t.Fatalf("llvm-mc: %v\n%s", err, out)
	}
	for ref := llvmRef(0); ref < numRefs; ref++ {
		args := refArgs[ref]
		out, err := exec.Command(args[0], append(args[1:], obj)...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		out = bytes.ReplaceAll(out, []byte(obj), []byte("allops.o"))
		if err := os.WriteFile(filepath.Join("testdata", "llvm", refGolden[ref]), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// compareLines checks our text of each instruction against the objdump
// lines of one section; it returns how many lines were compared.
func compareLines(t *testing.T, where string, insns []Insn, refs [numRefs][]objLine) int {
	t.Helper()
	bySlot := map[int]Insn{}
	for k, off := range SlotOffsets(insns)[:len(insns)] {
		bySlot[off] = insns[k]
	}
	n := 0
	for k, l := range refs[ref14] {
		in, ok := bySlot[l.slot]
		if !ok {
			t.Errorf("%s: objdump has an instruction at slot %d, Decode does not", where, l.slot)
			continue
		}
		var texts [numRefs]string
		for ref := llvmRef(0); ref < numRefs; ref++ {
			if k < len(refs[ref]) && refs[ref][k].slot == l.slot {
				texts[ref] = refs[ref][k].text
			}
		}
		want, ref, ok := wantText(in.Op(), texts)
		if !ok {
			continue
		}
		n++
		if got := normText(in.String()); got != want {
			t.Errorf("%s slot %d (%s): got %q, %s prints %q", where, l.slot, hex.EncodeToString(l.raw), got, refArgs[ref], want)
		}
	}
	if len(refs[ref14]) != len(insns) {
		t.Errorf("%s: objdump shows %d instructions, Decode %d", where, len(refs[ref14]), len(insns))
	}
	return n
}

func TestDisasmMatchesLLVMAllOps(t *testing.T) {
	if *update {
		writeAllOpsGoldens(t)
	}
	var refs [numRefs][]objLine
	for ref := llvmRef(0); ref < numRefs; ref++ {
		b, err := os.ReadFile(filepath.Join("testdata", "llvm", refGolden[ref]))
		if err != nil {
			t.Fatalf("%v (regenerate with go test -run AllOps -update)", err)
		}
		refs[ref] = parseObjdump(string(b))[".text"]
	}
	var raw []byte
	for _, l := range refs[ref14] {
		raw = append(raw, l.raw...)
	}
	// The samples' jump offsets are arbitrary, so validate one by one.
	insns, err := DecodeRaw(raw, binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Op]bool{}
	for _, in := range insns {
		if err := in.Validate(); err != nil {
			t.Errorf("%v: %v", in, err)
		}
		seen[in.Op()] = true
	}
	for op := Op(1); op < NumOps; op++ {
		if !seen[op] {
			t.Errorf("golden files lack %s: regenerate with go test -run AllOps -update", op)
		}
	}
	n := compareLines(t, "allops", insns, refs)
	t.Logf("compared %d instructions of %d ops", n, len(seen))
}

// testObjects lists the BPF objects the disassembly and round-trip tests
// read: ours, cilium/ebpf's testdata (both byte orders) and the corpus.
func testObjects(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("testdata/*.o")
	if len(files) == 0 {
		t.Fatal("no testdata/*.o (run testdata/build.sh)")
	}
	if dir := ciliumTestdata(); dir != "" {
		elfs, _ := filepath.Glob(filepath.Join(dir, "*.elf"))
		files = append(files, elfs...)
	}
	corpus, _ := filepath.Glob("../corpus/build/*/*.o")
	return append(files, corpus...)
}

func ciliumTestdata() string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com/cilium/ebpf@v0.22.0/testdata")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

type progSection struct {
	name  string
	code  []byte
	order binary.ByteOrder
	ext   External // slots with a relocation
}

// progSections returns the executable sections of a BPF ELF file.
func progSections(t *testing.T, path string) []progSection {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_BPF {
		return nil
	}
	var out []progSection
	for idx, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR == 0 || s.Size == 0 {
			continue
		}
		b, err := s.Data()
		if err != nil {
			t.Fatalf("%s: section %s: %v", path, s.Name, err)
		}
		ext := External{}
		for _, r := range f.Sections {
			if r.Type != elf.SHT_REL || int(r.Info) != idx {
				continue
			}
			rb, err := r.Data()
			if err != nil {
				t.Fatalf("%s: section %s: %v", path, r.Name, err)
			}
			for k := 0; k+16 <= len(rb); k += 16 { // Elf64_Rel: r_offset, r_info
				ext[int(f.ByteOrder.Uint64(rb[k:])/InsnSize)] = true
			}
		}
		out = append(out, progSection{s.Name, b, f.ByteOrder, ext})
	}
	return out
}

func TestDisasmMatchesLLVMObjects(t *testing.T) {
	needTool(t, objdump14, objdump19)
	var total atomic.Int64
	t.Cleanup(func() { t.Logf("compared %d instructions with llvm-objdump", total.Load()) })
	for _, path := range testObjects(t) {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			secs := progSections(t, path)
			if len(secs) == 0 {
				return
			}
			var dumps [numRefs]map[string][]objLine
			for ref := llvmRef(0); ref < numRefs; ref++ {
				dumps[ref] = runObjdump(t, ref, path)
			}
			for _, s := range secs {
				insns, err := Decode(s.code, s.order)
				if err != nil {
					t.Errorf("%s: section %s: %v", path, s.name, err)
					continue
				}
				var refs [numRefs][]objLine
				for ref := llvmRef(0); ref < numRefs; ref++ {
					refs[ref] = dumps[ref][s.name]
				}
				total.Add(int64(compareLines(t, path+":"+s.name, insns, refs)))
			}
		})
	}
}

func TestRoundTripObjects(t *testing.T) {
	sections, slots := 0, 0
	for _, path := range testObjects(t) {
		for _, s := range progSections(t, path) {
			insns, err := Decode(s.code, s.order)
			if err != nil {
				t.Errorf("%s: section %s: %v", path, s.name, err)
				continue
			}
			if got := Encode(insns, s.order); !bytes.Equal(got, s.code) {
				t.Errorf("%s: section %s: Encode(Decode(b)) differs from b", path, s.name)
			}
			sections++
			slots += len(s.code) / InsnSize
		}
	}
	if sections == 0 {
		t.Fatal("no program sections found")
	}
	t.Logf("round-tripped %d sections, %d slots", sections, slots)
}
