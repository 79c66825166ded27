package bpf

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExploreKernel(t *testing.T) {
	if os.Getenv("K2_EXPLORE") == "" {
		t.Skip()
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
						if !kernelJudgesFields(in.Op()) {
							continue
						}
						if in.Op() == OpLddwMapFD || in.Op() == OpLddwMapValue {
							in.Imm = mapFD
						}
						prog := harness(in)
						ours := Check(prog)
						log, ok := kernelLoad(t, prog)
						n++
						ks := !ok && structural.MatchString(log)
						if (ours != nil) != ks {
							bad++
							if bad < 60 {
								t.Errorf("%s (%v): ours %v; kernel %q", rawString(in), in, ours, verdictLine(log))
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d candidates, %d mismatches", n, bad)
}
