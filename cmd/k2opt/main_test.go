package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/k2opt/k2opt/safety/kernel"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// k2optBin builds the real binary once per test run.
func k2optBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "k2opt-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "k2opt")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = &buildError{string(out)}
		}
	})
	if binErr != nil {
		t.Fatalf("building k2opt: %v", binErr)
	}
	return binPath
}

type buildError struct{ out string }

func (e *buildError) Error() string { return e.out }

// runBin runs the binary and returns stdout, stderr and the exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(k2optBin(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running k2opt: %v", err)
	}
	return so.String(), se.String(), code
}

const demoObj = "../../corpus/build/v3/xdp_parse.o"

// corpusObjects lists every committed corpus object.
func corpusObjects(t *testing.T) []string {
	t.Helper()
	objs, err := filepath.Glob("../../corpus/build/*/*.o")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no corpus objects found (err %v)", err)
	}
	return objs
}

// mutate copies the demo object and applies f to its bytes and parsed ELF.
func mutate(t *testing.T, name string, f func(b []byte, ef *elf.File)) string {
	t.Helper()
	b, err := os.ReadFile(demoObj)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	f(b, ef)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// shdrOff is the file offset of section header i (ELF64).
func shdrOff(b []byte, i int) int {
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	return int(shoff) + i*64
}

func sectionIndex(t *testing.T, ef *elf.File, name string) int {
	for i, s := range ef.Sections {
		if s.Name == name {
			return i
		}
	}
	t.Fatalf("no section %s", name)
	return -1
}

func TestMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "notelf.o")
	os.WriteFile(notELF, []byte("this is not an ELF file\n"), 0o644)
	self, _ := os.Executable() // an x86-64 ELF
	whole, err := os.ReadFile(demoObj)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.o")
	os.WriteFile(truncated, whole[:len(whole)/2], 0o644)
	empty := filepath.Join(dir, "empty.o")
	os.WriteFile(empty, nil, 0o644)

	oddSection := mutate(t, "odd.o", func(b []byte, ef *elf.File) {
		i := sectionIndex(t, ef, "xdp")
		off := shdrOff(b, i) + 32 // sh_size
		binary.LittleEndian.PutUint64(b[off:], ef.Sections[i].Size-4)
	})
	badOpcode := mutate(t, "badop.o", func(b []byte, ef *elf.File) {
		s := ef.Sections[sectionIndex(t, ef, "xdp")]
		b[s.Offset+8*3] = 0xff // insn 3: ALU64 op 0xf0 does not exist
	})
	relocOutside := mutate(t, "reloc.o", func(b []byte, ef *elf.File) {
		s := ef.Sections[sectionIndex(t, ef, ".relxdp")]
		binary.LittleEndian.PutUint64(b[s.Offset:], 1<<20) // r_offset of the first relocation
	})

	cases := []struct {
		name, path string
		want       []string // substrings of the one-line error
	}{
		{"not ELF", notELF, []string{notELF}},
		{"empty file", empty, []string{empty}},
		{"x86 ELF", self, []string{self}},
		{"truncated", truncated, []string{truncated}},
		{"odd-length section", oddSection, []string{oddSection, "xdp"}},
		{"unknown opcode", badOpcode, []string{badOpcode, "xdp_parse", "insn 3"}},
		{"relocation outside section", relocOutside, []string{relocOutside, "xdp"}},
		{"missing file", filepath.Join(dir, "nope.o"), []string{"nope.o"}},
	}
	for _, c := range cases {
		for _, sub := range [][]string{{"dis"}, {"verify"}, {"-O0", "-o", filepath.Join(dir, "out.o")}} {
			t.Run(c.name+"/"+sub[0], func(t *testing.T) {
				args := append(append([]string{}, sub...), c.path)
				stdout, stderr, code := runBin(t, args...)
				if code != 2 {
					t.Fatalf("exit code %d, want 2; stderr %q", code, stderr)
				}
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				if len(lines) != 1 || lines[0] == "" {
					t.Fatalf("want one error line, got %q", stderr)
				}
				if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine") {
					t.Fatalf("panic output: %q", stderr)
				}
				for _, w := range c.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("error %q does not mention %q", lines[0], w)
					}
				}
				if stdout != "" && sub[0] != "dis" {
					t.Errorf("unexpected stdout %q", stdout)
				}
				if _, err := os.Stat(filepath.Join(dir, "out.o")); err == nil {
					t.Errorf("a partial output file was written")
				}
			})
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{demoObj},                            // no -o
		{"-O0", demoObj, "x.o", "-o", "y.o"}, // two inputs
		{"--no-such-flag", demoObj},
		{"dis"},
		{"dis", demoObj, "--prog", "no_such_prog"},
		{"-O0", demoObj, "-o", demoObj}, // would overwrite the input
	}
	for _, args := range cases {
		_, stderr, code := runBin(t, args...)
		if code != 2 {
			t.Errorf("k2opt %q: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if stderr == "" {
			t.Errorf("k2opt %q: no message", args)
		}
	}
}

// TestRoundTripCorpus: -O0 writes every corpus object back byte for byte.
func TestRoundTripCorpus(t *testing.T) {
	dir := t.TempDir()
	for _, obj := range corpusObjects(t) {
		out := filepath.Join(dir, strings.ReplaceAll(obj, "/", "_"))
		if _, stderr, code := runBin(t, "-O0", obj, "-o", out); code != 0 {
			t.Errorf("%s: exit %d: %s", obj, code, stderr)
			continue
		}
		a, _ := os.ReadFile(obj)
		b, _ := os.ReadFile(out)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: -O0 output differs from input", obj)
		}
	}
}

func TestDisMatchesFunctions(t *testing.T) {
	stdout, stderr, code := runBin(t, "dis", demoObj)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Disassembly of section xdp:", "<xdp_parse>:", "call 1", "exit"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dis output lacks %q", want)
		}
	}
}

func TestVerifyCorpus(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel verifier unavailable: %v", err)
	}
	for _, obj := range corpusObjects(t) {
		stdout, stderr, code := runBin(t, "verify", obj)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s%s", obj, code, stdout, stderr)
			continue
		}
		if !strings.Contains(stdout, "accepted") {
			t.Errorf("%s: no accepted program in\n%s", obj, stdout)
		}
	}
}
