package equiv

import (
	"context"
	"testing"

	. "github.com/k2opt/k2opt/bpf"
)

// Queries that differ only by register names, NOPs or dead writes share a
// cache entry; queries that differ in meaning do not.
func TestCacheCanonical(t *testing.T) {
	base := Window{A: I{Mov64Reg(R2, R1), Add64Imm(R2, 1)}, B: I{Add64Imm(R1, 1), Mov64Reg(R2, R1)},
		LiveIn: RegsOf(R1), LiveOut: RegsOf(R2)}
	same := []struct {
		name string
		w    Window
	}{
		{"renamed", Window{A: I{Mov64Reg(R4, R3), Add64Imm(R4, 1)}, B: I{Add64Imm(R3, 1), Mov64Reg(R4, R3)},
			LiveIn: RegsOf(R3), LiveOut: RegsOf(R4)}},
		{"nops", Window{A: I{Ja(0), Mov64Reg(R2, R1), Mov64Reg(R1, R1), Add64Imm(R2, 1)}, B: I{Add64Imm(R1, 1), Mov64Reg(R2, R1)},
			LiveIn: RegsOf(R1), LiveOut: RegsOf(R2)}},
		{"dead write", Window{A: I{Mov64Reg(R2, R1), Mov64Imm(R5, 3), Add64Imm(R2, 1)}, B: I{Add64Imm(R1, 1), Mov64Reg(R2, R1)},
			LiveIn: RegsOf(R1), LiveOut: RegsOf(R2)}},
	}
	differ := []struct {
		name string
		w    Window
	}{
		{"other imm", Window{A: I{Mov64Reg(R2, R1), Add64Imm(R2, 2)}, B: base.B, LiveIn: RegsOf(R1), LiveOut: RegsOf(R2)}},
		{"live-out r1", Window{A: base.A, B: base.B, LiveIn: RegsOf(R1), LiveOut: RegsOf(R1, R2)}},
		{"dead write of uninit read", Window{A: I{Mov64Reg(R5, R6), Mov64Reg(R2, R1), Add64Imm(R2, 1)}, B: base.B,
			LiveIn: RegsOf(R1), LiveOut: RegsOf(R2)}},
	}
	c := NewCache(0)
	k0 := c.Key(&base)
	for _, s := range same {
		if c.Key(&s.w) != k0 {
			t.Errorf("%s: different key", s.name)
		}
	}
	for _, d := range differ {
		if c.Key(&d.w) == k0 {
			t.Errorf("%s: same key", d.name)
		}
	}
	ck := NewChecker(nil)
	defer ck.Close()
	r, err := ck.Window(context.Background(), &base)
	if err != nil || r.Verdict != Equal || r.Cached {
		t.Fatalf("first: %v %v cached=%v", r.Verdict, err, r.Cached)
	}
	r, _ = ck.Window(context.Background(), &same[0].w)
	if !r.Cached || r.Verdict != Equal {
		t.Fatalf("renamed query: cached=%v %v", r.Cached, r.Verdict)
	}
	r, _ = ck.Window(context.Background(), &differ[1].w)
	if r.Cached || r.Verdict != NotEqual {
		t.Fatalf("live-out r1: cached=%v %v", r.Cached, r.Verdict)
	}
}
