package synth

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
)

func summaries(t *testing.T, insns []bpf.Insn) []*safety.Summary {
	t.Helper()
	sp := &safety.Program{Name: "t", Type: ebpf.XDP, Insns: insns, Funcs: []safety.Func{{Name: "t", End: len(insns)}}, Refs: map[int]safety.Ref{}}
	vr := safety.Verify(sp, &safety.Options{Summaries: true})
	if !vr.Accepted {
		t.Fatalf("fixture rejected: %v", vr.Err())
	}
	return vr.Before
}

func TestStackLiveness(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insns    []bpf.Insn
		at       int
		live     []int // r10 offsets live before insn at
		dead     []int
		giveUpOK bool
	}{
		{"store read later is live, other dead", []bpf.Insn{
			bpf.Mov64Imm(bpf.R2, 7), bpf.StxDW(bpf.R10, bpf.R2, -8), bpf.StxDW(bpf.R10, bpf.R2, -16),
			bpf.LdxDW(bpf.R0, bpf.R10, -8), bpf.Exit(),
		}, 2, []int{-8, -1}, []int{-16, -9, -24}, false},
		{"read through a stack pointer", []bpf.Insn{
			bpf.StDW(bpf.R10, -16, 1), bpf.Mov64Reg(bpf.R3, bpf.R10), bpf.Add64Imm(bpf.R3, -16),
			bpf.LdxW(bpf.R0, bpf.R3, 4), bpf.Exit(),
		}, 1, []int{-12, -9}, []int{-16, -13, -8}, false},
		{"overwritten before read is dead", []bpf.Insn{
			bpf.StDW(bpf.R10, -8, 1), bpf.StDW(bpf.R10, -8, 2), bpf.LdxDW(bpf.R0, bpf.R10, -8), bpf.Exit(),
		}, 1, nil, []int{-8, -1}, false},
		{"nothing live at exit", []bpf.Insn{
			bpf.StDW(bpf.R10, -8, 1), bpf.Mov64Imm(bpf.R0, 0), bpf.Exit(),
		}, 0, nil, []int{-8, -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lv := StackLiveness(tc.insns, summaries(t, tc.insns))
			if lv == nil {
				t.Fatal("analysis gave up")
			}
			s := lv[tc.at]
			for _, o := range tc.live {
				if !s.Has(StackSize + o) {
					t.Errorf("r10%+d not live before insn %d", o, tc.at)
				}
			}
			for _, o := range tc.dead {
				if s.Has(StackSize + o) {
					t.Errorf("r10%+d live before insn %d", o, tc.at)
				}
			}
		})
	}
	if StackLiveness([]bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()}, nil) != nil {
		t.Error("no summaries must give nil (all live)")
	}
}

// TestRelinkAfterDeletion: deleting instructions before relocated map
// loads and calls keeps them what they were (safety.FromObject with
// replacement instructions would look relocations up at the old indexes).
func TestRelinkAfterDeletion(t *testing.T) {
	path := "../corpus/build/v3/xdp_firewall.o"
	if _, err := os.Stat(path); err != nil {
		t.Skip("corpus not built")
	}
	f, err := object.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fn := f.Function("xdp_firewall")
	links, err := linkedPrograms(f, fn)
	if err != nil || len(links) != 1 {
		t.Fatalf("links %d, %v", len(links), err)
	}
	// r2 = *(u8 *)(r7 + 12); r1 = *(u8 *)(r7 + 13); w1 <<= 8; w1 |= w2
	// -> r1 = *(u16 *)(r7 + 12), after a map load and a call
	if fn.Insns[29] != bpf.LdxB(bpf.R2, bpf.R7, 12) || fn.Insns[32] != bpf.Or32Reg(bpf.R1, bpf.R2) {
		t.Fatalf("fixture changed:\n%s", bpf.Disasm(fn.Insns[29:33]))
	}
	edits := map[int][]bpf.Insn{29: nil, 30: nil, 31: nil, 32: {bpf.LdxH(bpf.R1, bpf.R7, 12)}}
	rw, err := buildRewrite(fn.Insns, edits, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := relink(links[0].p, fn.Name, rw)
	if err != nil {
		t.Fatal(err)
	}
	if v := safety.Verify(q, nil); !v.Accepted {
		t.Fatalf("relinked rewrite rejected: %v", v.Err())
	}
	if len(q.Insns) != len(links[0].p.Insns)-3 || len(q.Refs) != len(links[0].p.Refs) {
		t.Errorf("relinked: %d insns, %d refs; want %d, %d", len(q.Insns), len(q.Refs), len(links[0].p.Insns)-3, len(links[0].p.Refs))
	}
	// a bad rewrite is still caught: drop the bounds check's jump
	if !fn.Insns[11].Info().Has(bpf.FlagCondJump) {
		t.Fatalf("fixture changed: insn 11 is %v", fn.Insns[11])
	}
	rw, _ = buildRewrite(fn.Insns, map[int][]bpf.Insn{11: nil}, nil)
	q, _ = relink(links[0].p, fn.Name, rw)
	if v := safety.Verify(q, nil); v.Accepted {
		t.Error("dropping the packet bounds check was accepted")
	}
}
