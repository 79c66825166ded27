//go:build soak

package bpf

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSoakDecodeKernel is the exhaustive form of TestDecodeAgreesWithKernel:
// every code byte with every combination of a few register, offset and imm
// values (~370k programs, about a minute). make soak runs it.
func TestSoakDecodeKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("BPF_PROG_LOAD needs root")
	}
	mapFD := createArrayMap(t)
	defer unix.Close(int(mapFD))
	n, bad := 0, 0
	for c := 0; c < 256; c++ {
		for _, d := range []Reg{0, 1, 10, 11} {
			for _, s := range []Reg{0, 1, 2, 10, 11} {
				for _, o := range []int16{0, 1, 8, 16, 32, -1} {
					for _, im := range []int32{0, 1, 16, 32, 64, 0x41, 0xe1, 0xf1, 0x100, 0x110, 1 << 16, -1} {
						in := Insn{Code: uint8(c), Dst: d, Src: s, Off: o, Imm: im}
						op := in.Op()
						if !kernelJudgesFields(op) {
							continue
						}
						if op.Info().Flags&FlagAtomic != 0 && d == R1 {
							continue // the kernel refuses atomics on ctx before checking the fields
						}
						if op == OpLddwMapFD || op == OpLddwMapValue {
							in.Imm = mapFD
						}
						prog := harness(in)
						ours := Check(prog)
						log, ok := kernelLoad(t, prog)
						n++
						if (ours != nil) != (!ok && structural.MatchString(log)) {
							bad++
							if bad < 50 {
								t.Errorf("%s (%v): Decode says %v; kernel: %q", rawString(in), in, ours, verdictLine(log))
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d candidates, %d mismatches", n, bad)
}
