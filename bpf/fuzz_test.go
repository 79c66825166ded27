package bpf

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"
)

// FuzzDecode: Decode never panics; what it accepts encodes back to the same
// bytes, disassembles, and yields a CFG (or a clean error) and liveness.
func FuzzDecode(f *testing.F) {
	f.Add(Encode([]Insn{Mov64Imm(R0, 0), Exit()}, binary.LittleEndian))
	f.Add(Encode([]Insn{LdImm64(R1, 1<<40), JeqImm(R1, 0, 1), Mov64Reg(R0, R1), Exit()}, binary.LittleEndian))
	f.Add(Encode([]Insn{CallLocal(1), Exit(), MayGoto(1), Mov64Imm(R0, 1), Exit()}, binary.BigEndian))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			insns, err := Decode(b, order)
			if err != nil {
				if _, ok := err.(*DecodeError); !ok {
					t.Fatalf("error %T is not a *DecodeError", err)
				}
				continue
			}
			if got := Encode(insns, order); !bytes.Equal(got, b) {
				t.Fatalf("Encode(Decode(b)) = %x, want %x", got, b)
			}
			for _, in := range insns {
				if in.Op() == OpInvalid {
					t.Fatalf("Decode accepted an invalid instruction %+v", in)
				}
				_ = in.String()
			}
			if c, err := NewCFG(insns, nil); err == nil {
				c.Liveness()
			}
		}
	})
}

// bigProgram returns the largest program section of our test objects and
// cilium/ebpf's (fixed inputs, unlike the growing corpus).
func bigProgram(b *testing.B) progSection {
	var best progSection
	files, _ := filepath.Glob("testdata/*.o")
	if dir := ciliumTestdata(); dir != "" {
		elfs, _ := filepath.Glob(filepath.Join(dir, "*-el.elf"))
		files = append(files, elfs...)
	}
	for _, path := range files {
		for _, s := range progSections(&testing.T{}, path) {
			if len(s.code) > len(best.code) {
				best = s
			}
		}
	}
	if best.code == nil {
		b.Fatal("no program found")
	}
	return best
}

func BenchmarkDecode(b *testing.B) {
	s := bigProgram(b)
	b.SetBytes(int64(len(s.code)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(s.code, s.order); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(s.code)/InsnSize), "slots/op")
}

func BenchmarkOp(b *testing.B) {
	s := bigProgram(b)
	insns, err := Decode(s.code, s.order)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, in := range insns {
			n += int(in.Op())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(insns)), "ns/insn")
	_ = n
}

func BenchmarkCFGLiveness(b *testing.B) {
	s := bigProgram(b)
	insns, err := Decode(s.code, s.order)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := NewCFG(insns, &CFGOptions{External: s.ext})
		if err != nil {
			b.Fatal(err)
		}
		c.Liveness()
	}
}
