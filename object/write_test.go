package object

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

var movR1R1 = bpf.Insn{Code: 0xbf, Dst: bpf.R1, Src: bpf.R1}

// TestInsertDeleteIdentity inserts a dead `r1 = r1` into each function (at
// its start and in its middle), writes, reads back, deletes it again and
// writes: the result must be byte-identical to the input with DWARF emptied.
// Every offset-dependent structure (relocations, symbols, calls, .BTF.ext,
// layout) goes through the remapping twice.
func TestInsertDeleteIdentity(t *testing.T) {
	objs := allObjects(t)
	for _, path := range objs {
		t.Run(objName(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			base, err := f.Encode(nil, Options{StripDWARF: true})
			if err != nil {
				t.Fatal(err)
			}
			fb, err := Parse(path+"(stripped)", base)
			if err != nil {
				t.Fatal(err)
			}
			for _, fn := range fb.Functions {
				for _, at := range []int{0, len(fn.Insns) / 2} {
					rw1 := edit(t, fn.Insns, nil, map[int][]bpf.Insn{at: {movR1R1}})
					out1, err := fb.Encode(map[string]Rewrite{fn.Name: rw1}, Options{})
					if err != nil {
						t.Fatalf("%s: insert at %d: %v", fn.Name, at, err)
					}
					f1, err := Parse("out1", out1)
					if err != nil {
						t.Fatalf("%s: insert at %d: reading back: %v", fn.Name, at, err)
					}
					if f1.SpecErr != nil && fb.SpecErr == nil {
						t.Fatalf("%s: insert at %d: cilium/ebpf cannot read the output: %v", fn.Name, at, f1.SpecErr)
					}
					if got, want := f1.Sections[fn.SectionIndex].Size, fb.Sections[fn.SectionIndex].Size+8; got != want {
						t.Fatalf("%s: section %s size %d after insertion, want %d", fn.Name, fn.Section, got, want)
					}
					g := f1.Function(fn.Name)
					if g.Insns[at] != movR1R1 {
						t.Fatalf("%s: inserted instruction not found at %d: %+v", fn.Name, at, g.Insns[at])
					}
					rw2 := edit(t, g.Insns, map[int]bool{at: true}, nil)
					out2, err := f1.Encode(map[string]Rewrite{fn.Name: rw2}, Options{})
					if err != nil {
						t.Fatalf("%s: delete at %d: %v", fn.Name, at, err)
					}
					if !bytes.Equal(out2, base) {
						t.Fatalf("%s: insert+delete at %d is not byte-identical (%d vs %d bytes); first difference at %d",
							fn.Name, at, len(out2), len(base), firstDiff(out2, base))
					}
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// deleteDead deletes one dead instruction from every function that has one.
func deleteDead(t *testing.T, f *File) (map[string]Rewrite, map[string]int) {
	rws := map[string]Rewrite{}
	deleted := map[string]int{} // function -> old index deleted
	for _, fn := range f.Functions {
		if k := deadInsn(fn); k >= 0 {
			rws[fn.Name] = edit(t, fn.Insns, map[int]bool{k: true}, nil)
			deleted[fn.Name] = k
		}
	}
	return rws, deleted
}

// refs lists, per program, the symbolic references (maps, subprograms,
// kfuncs, data) cilium/ebpf resolved, in instruction order.
func refs(spec *ebpf.CollectionSpec) map[string][]string {
	out := map[string][]string{}
	for name, p := range spec.Programs {
		for _, ins := range p.Instructions {
			if r := ins.Reference(); r != "" {
				out[name] = append(out[name], fmt.Sprintf("%v %s", ins.OpCode, r))
			}
		}
	}
	return out
}

// TestDeleteDead deletes real dead instructions (one per function that has
// one) and checks the output with every reader we have.
func TestDeleteDead(t *testing.T) {
	for _, path := range append(fixtures(t), corpusObjects()...) {
		t.Run(objName(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			rws, _ := deleteDead(t, f)
			if len(rws) == 0 {
				if strings.HasPrefix(path, "testdata/") {
					t.Fatal("fixture has no dead instruction; it was built to have one")
				}
				t.Skip("no dead instruction found by the simple scan")
			}
			checkRewrite(t, path, f, rws, len(rws))
		})
	}
}

// TestInsertNop grows every function by a `goto +0` (at the start of
// programs, in the middle of subprograms): every section moves, every
// cross-function reference is re-encoded, and the kernel must still load the
// result with the same source lines.
func TestInsertNop(t *testing.T) {
	objs := fixtures(t)
	if !testing.Short() {
		objs = append(objs, corpusObjects()...)
	}
	for _, path := range objs {
		t.Run(objName(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			rws := map[string]Rewrite{}
			for _, fn := range f.Functions {
				at := len(fn.Insns) / 2
				if fn.Entry {
					at = 0
				}
				rws[fn.Name] = edit(t, fn.Insns, nil, map[int][]bpf.Insn{at: {{Code: 0x05}}})
			}
			checkRewrite(t, path, f, rws, 0)
		})
	}
}

// checkRewrite writes f with rws and checks the output: ourselves (sizes,
// instructions, relocations), cilium/ebpf (same references per program),
// llvm-objdump, the kernel through cilium/ebpf and through libbpf (bpftool
// loadall), and bpftool's source lines (at most maxLost records lost).
func checkRewrite(t *testing.T, path string, f *File, rws map[string]Rewrite, maxLost int) {
	t.Helper()
	out, err := f.Encode(rws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := f.WriteFile(outPath, rws); err != nil {
		t.Fatal(err)
	}
	if disk, _ := os.ReadFile(outPath); !bytes.Equal(disk, out) {
		t.Fatal("WriteFile and Encode disagree")
	}
	g, err := Parse(outPath, out)
	if err != nil {
		t.Fatalf("reading the output: %v", err)
	}

	// Sections change by exactly the rewritten functions' size change.
	delta := map[int]int{}
	for name, rw := range rws {
		fn := f.Function(name)
		delta[fn.SectionIndex] += 8 * (bpf.SlotCount(rw.Insns) - fn.Slots())
	}
	for idx, d := range delta {
		if got, want := int(g.Sections[idx].Size), int(f.Sections[idx].Size)+d; got != want {
			t.Errorf("section %s: size %d, want %d", f.Sections[idx].Name, got, want)
		}
	}
	for name, rw := range rws {
		a, b := f.Function(name), g.Function(name)
		if len(b.Insns) != len(rw.Insns) {
			t.Errorf("%s: %d insns, want %d", name, len(b.Insns), len(rw.Insns))
			continue
		}
		if len(b.Relocs) != len(a.Relocs) {
			t.Errorf("%s: %d relocations, want %d", name, len(b.Relocs), len(a.Relocs))
		}
		for j := range min(len(a.Relocs), len(b.Relocs)) {
			ra, rb := a.Relocs[j], b.Relocs[j]
			if ra.Symbol != rb.Symbol || ra.Kind != rb.Kind || rb.Insn != rw.OldToNew[ra.Insn] {
				t.Errorf("%s: relocation %d: %+v, want %+v at insn %d", name, j, rb, ra, rw.OldToNew[ra.Insn])
			}
		}
	}

	// Every bpf-to-bpf call and function reference reaches the same function.
	ca, cb := callees(t, f), callees(t, g)
	for name, c := range ca {
		if cb[name] != c {
			t.Errorf("%s: calls %q after the rewrite, %q before", name, cb[name], c)
		}
	}

	// cilium/ebpf resolves the same references per program.
	if f.Spec != nil {
		if g.Spec == nil {
			t.Fatalf("cilium/ebpf cannot read the output: %v", g.SpecErr)
		}
		ra, rb := refs(f.Spec), refs(g.Spec)
		for name := range ra {
			if strings.Join(ra[name], "\n") != strings.Join(rb[name], "\n") {
				t.Errorf("program %s: references differ:\nbefore %q\nafter  %q", name, ra[name], rb[name])
			}
		}
	}

	// llvm-objdump parses it.
	for _, tool := range []string{"llvm-objdump", "llvm-objdump-19"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		cmd := exec.Command(tool, "-d", "-r", outPath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		dis, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("%s -d: %v: %s", tool, err, stderr.String())
		}
		for name := range rws {
			if !bytes.Contains(dis, []byte("<"+name+">:")) {
				t.Errorf("%s -d: no label for %s", tool, name)
			}
		}
	}

	kernelLoad(t, f.Spec, g.Spec)
	bpftoolLines(t, path, outPath, maxLost)
}

// kernelLoad loads the output with cilium/ebpf when the input loads.
func kernelLoad(t *testing.T, in, out *ebpf.CollectionSpec) {
	t.Helper()
	if in == nil || out == nil {
		return
	}
	coll, err := ebpf.NewCollection(in)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("kernel refuses BPF_PROG_LOAD: %v", err)
		}
		t.Logf("the input itself does not load with cilium/ebpf, not checking the output: %v", err)
		return
	}
	coll.Close()
	coll, err = ebpf.NewCollection(out)
	if err != nil {
		t.Fatalf("output does not load (input does): %v", err)
	}
	coll.Close()
}

var linumRE = regexp.MustCompile(`\[file:(\S+) line_num:(\d+) line_col:(\d+)\]`)

// loadall pins every program of obj with bpftool and returns, per program,
// the source lines bpftool prints for its translated instructions.
func loadall(t *testing.T, obj string) (map[string][]string, error) {
	pin, err := os.MkdirTemp("/sys/fs/bpf", "k2opt-object-")
	if err != nil {
		return nil, err
	}
	os.Remove(pin) // bpftool creates it
	defer os.RemoveAll(pin)
	if out, err := exec.Command("bpftool", "prog", "loadall", obj, pin).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bpftool prog loadall: %v: %s", err, lastLine(out))
	}
	ents, err := os.ReadDir(pin)
	if err != nil {
		return nil, err
	}
	res := map[string][]string{}
	for _, e := range ents {
		js, err := exec.Command("bpftool", "-j", "prog", "show", "pinned", filepath.Join(pin, e.Name())).Output()
		if err != nil {
			return nil, fmt.Errorf("bpftool prog show: %v", err)
		}
		var info struct{ ID int }
		if err := json.Unmarshal(js, &info); err != nil {
			return nil, err
		}
		dump, err := exec.Command("bpftool", "prog", "dump", "xlated", "id", fmt.Sprint(info.ID), "linum").Output()
		if err != nil {
			return nil, fmt.Errorf("bpftool prog dump xlated: %v", err)
		}
		for _, m := range linumRE.FindAllStringSubmatch(string(dump), -1) {
			res[e.Name()] = append(res[e.Name()], filepath.Base(m[1])+":"+m[2]+":"+m[3])
		}
	}
	return res, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// bpftoolLines checks that libbpf (through bpftool) loads the output and
// that the kernel reports the same source lines: the output's line records
// are the input's, minus at most maxLost.
func bpftoolLines(t *testing.T, inPath, outPath string, maxLost int) {
	t.Helper()
	if _, err := exec.LookPath("bpftool"); err != nil {
		t.Log("bpftool not installed; skipping its checks")
		return
	}
	before, err := loadall(t, inPath)
	if err != nil {
		t.Logf("bpftool cannot load the input, not checking the output: %v", err)
		return
	}
	after, err := loadall(t, outPath)
	if err != nil {
		t.Fatalf("bpftool cannot load the output (it loads the input): %v", err)
	}
	for prog, want := range before {
		got := after[prog]
		if len(want) == 0 {
			continue
		}
		if !isSubsequence(got, want) || len(want)-len(got) > maxLost {
			t.Errorf("program %s: source lines differ:\nbefore %v\nafter  %v", prog, want, got)
		}
	}
}

func isSubsequence(sub, seq []string) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}
