package object

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

func openFixture(t *testing.T) *File {
	t.Helper()
	f, err := Open("testdata/fixture-clang14.o")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// insnIndex finds the first instruction of fn matching pred.
func insnIndex(t *testing.T, fn *Function, pred func(bpf.Insn) bool) int {
	t.Helper()
	for k, in := range fn.Insns {
		if pred(in) {
			return k
		}
	}
	t.Fatalf("%s: no matching instruction", fn.Name)
	return -1
}

func TestWriteErrors(t *testing.T) {
	f := openFixture(t)
	xdp := f.Function("xdp_main")
	mapLoad := xdp.Relocs[0].Insn // r1 = seen ll
	tests := []struct {
		name string
		rw   func() map[string]Rewrite
		want string
	}{
		{"unknown-function", func() map[string]Rewrite {
			return map[string]Rewrite{"nope": {}}
		}, "program nope: rewrite of a function that does not exist"},
		{"short-map", func() map[string]Rewrite {
			return map[string]Rewrite{"mix": {Insns: f.Function("mix").Insns, OldToNew: []int{0}}}
		}, "program mix: rewrite maps 1 old instructions, function has 5"},
		{"empty", func() map[string]Rewrite {
			return map[string]Rewrite{"mix": {OldToNew: []int{-1, -1, -1, -1, -1}}}
		}, "program mix: rewrite leaves the function empty"},
		{"reordered", func() map[string]Rewrite {
			return map[string]Rewrite{"mix": {Insns: f.Function("mix").Insns, OldToNew: []int{1, 0, 2, 3, 4}}}
		}, "section .text: program mix: insn 42: rewrite maps it to 0, not after 1"},
		{"delete-relocated", func() map[string]Rewrite {
			return map[string]Rewrite{"xdp_main": edit(t, xdp.Insns, map[int]bool{mapLoad: true}, nil)}
		}, "section xdp: program xdp_main: insn 10: relocation R_BPF_64_64 against seen: instruction was deleted"},
		{"delete-core-relocated", func() map[string]Rewrite {
			return map[string]Rewrite{"xdp_main": edit(t, xdp.Insns, map[int]bool{0: true}, nil)}
		}, "section xdp: program xdp_main: insn 0: CO-RE relo applies to a deleted instruction"},
		{"relocated-changes-kind", func() map[string]Rewrite {
			rw := edit(t, xdp.Insns, nil, nil)
			rw.Insns[mapLoad] = bpf.Insn{Code: 0xb7, Dst: bpf.R1}
			return map[string]Rewrite{"xdp_main": rw}
		}, "program xdp_main: insn 10: relocated instruction (opcode 0x18) rewritten to opcode 0xb7"},
		{"new-pseudo-call", func() map[string]Rewrite {
			bump := f.Function("bump")
			return map[string]Rewrite{"bump": edit(t, bump.Insns, nil, map[int][]bpf.Insn{1: {{Code: 0x85, Src: 1, Imm: 3}}})}
		}, "program bump: new insn 1: bpf-to-bpf reference with no original instruction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Encode(tc.rw(), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "testdata/fixture-clang14.o: ") {
				t.Fatalf("error %q, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
}

func TestWriteFileRefusesInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.o")
	orig, _ := os.ReadFile("testdata/fixture-clang14.o")
	if err := os.WriteFile(in, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(in)
	if err != nil {
		t.Fatal(err)
	}
	mix := f.Function("mix")
	rw := map[string]Rewrite{"mix": edit(t, mix.Insns, nil, map[int][]bpf.Insn{2: {movR1R1}})}
	if err := f.WriteFile(in, rw); err == nil || !strings.Contains(err.Error(), "refusing to overwrite the input") {
		t.Fatalf("WriteFile onto the input: %v", err)
	}
	if now, _ := os.ReadFile(in); !bytes.Equal(now, orig) {
		t.Fatal("input changed")
	}
	out := filepath.Join(dir, "out.o")
	if err := f.WriteFile(out, rw); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("directory holds %d files, want in.o and out.o (no temp file left)", len(ents))
	}
}

// lineRecs returns section sec's line_info records: insn slot -> line<<10|col.
func lineRecs(t *testing.T, f *File, sec string) map[int]uint32 {
	t.Helper()
	out := map[int]uint32{}
	for _, blk := range f.btfExt.subs[extLine].blocks {
		if blk.name != sec {
			continue
		}
		for _, r := range blk.recs {
			out[int(r.insnOff(f.Order))/8] = f.Order.Uint32(r.data[12:])
		}
	}
	return out
}

func TestLineInfoPolicy(t *testing.T) {
	f := openFixture(t)
	xdp, mix := f.Function("xdp_main"), f.Function("mix")
	dead := deadInsn(xdp) // r2 = 7, followed by r2 = 8 (no record of its own)
	before := lineRecs(t, f, "xdp")
	deadSlot := xdp.Offset + xdp.offs[dead]
	if _, ok := before[deadSlot]; !ok {
		t.Fatalf("fixture: dead insn at slot %d has no line record", deadSlot)
	}
	if _, ok := before[deadSlot+1]; ok {
		t.Fatalf("fixture: insn after the dead one has its own line record")
	}
	textBefore := lineRecs(t, f, ".text")
	if _, ok := textBefore[mix.Offset]; !ok {
		t.Fatal("fixture: mix has no line record at its start")
	}

	rws := map[string]Rewrite{
		"xdp_main": edit(t, xdp.Insns, map[int]bool{dead: true}, nil),
		"mix":      edit(t, mix.Insns, map[int]bool{0: true}, nil), // not semantics-preserving; layout only
	}
	out, err := f.Encode(rws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse("out.o", out)
	if err != nil {
		t.Fatal(err)
	}
	after := lineRecs(t, g, "xdp")
	if len(after) != len(before) {
		t.Errorf("xdp: %d line records, want %d (the dead insn's record moves)", len(after), len(before))
	}
	if got := after[deadSlot]; got != before[deadSlot] {
		t.Errorf("xdp: record at slot %d is line %d, want the deleted insn's line %d", deadSlot, got>>10, before[deadSlot]>>10)
	}
	for s, lc := range before {
		if s > deadSlot && after[s-1] != lc {
			t.Errorf("xdp: record of slot %d (line %d) not at slot %d", s, lc>>10, s-1)
		}
	}
	gm := g.Function("mix")
	textAfter := lineRecs(t, g, ".text")
	if _, ok := textAfter[gm.Offset]; !ok {
		t.Errorf(".text: mix lost its line record at its start (slot %d)", gm.Offset)
	}
	// func_info still names every function start.
	starts := map[int]bool{}
	for _, blk := range g.btfExt.subs[extFunc].blocks {
		for _, r := range blk.recs {
			if blk.name == ".text" {
				starts[int(r.insnOff(g.Order))/8] = true
			}
		}
	}
	for _, fn := range g.Sections[gm.SectionIndex].Functions {
		if !starts[fn.Offset] {
			t.Errorf(".text: no func_info at %s (slot %d)", fn.Name, fn.Offset)
		}
	}
}
