package bpf

import "testing"

func TestEvalALUEdges(t *testing.T) {
	const min64 = uint64(1) << 63
	cases := []struct {
		k    Kind
		w    int
		a, b uint64
		want uint64
	}{
		{KindDiv, 64, 7, 0, 0},
		{KindMod, 64, 7, 0, 7},
		{KindMod, 32, 0x1_0000_0007, 0, 7},
		{KindSDiv, 64, min64, ^uint64(0), min64},
		{KindSMod, 64, min64, ^uint64(0), 0},
		{KindSDiv, 32, 0x8000_0000, 0xffff_ffff, 0x8000_0000},
		{KindSDiv, 32, uint64(0xffff_fff9), 2, 0xffff_fffd}, // -7/2 = -3
		{KindSMod, 32, uint64(0xffff_fff9), 2, 0xffff_ffff}, // -7%2 = -1
		{KindLsh, 64, 1, 65, 2},
		{KindLsh, 32, 1, 33, 2},
		{KindRsh, 32, 0xffff_ffff_0000_0000, 1, 0},
		{KindArsh, 32, 0x8000_0000, 31, 0xffff_ffff},
		{KindArsh, 64, min64, 63, ^uint64(0)},
		{KindAdd, 32, 0xffff_ffff, 1, 0},
		{KindSub, 64, 0, 1, ^uint64(0)},
	}
	for _, c := range cases {
		got, ok := EvalALU(c.k, c.w, c.a, c.b)
		if !ok || got != c.want {
			t.Errorf("%v/%d(%#x, %#x) = %#x, %v; want %#x", c.k, c.w, c.a, c.b, got, ok, c.want)
		}
	}
	if _, ok := EvalALU(KindMov, 64, 0, 1); ok {
		t.Error("mov is not a binary ALU op")
	}
}

func TestEvalCond(t *testing.T) {
	cases := []struct {
		k    Kind
		w    int
		a, b uint64
		want bool
	}{
		{KindJsgt, 32, 0xffff_ffff, 0, false}, // -1 > 0 at 32 bits
		{KindJsgt, 64, 0xffff_ffff, 0, true},
		{KindJgt, 32, 0x1_0000_0000, 1, false},
		{KindJset, 64, 6, 2, true},
		{KindJsle, 64, ^uint64(0), 0, true},
		{KindJne, 32, 0x1_0000_0005, 5, false},
	}
	for _, c := range cases {
		got, ok := EvalCond(c.k, c.w, c.a, c.b)
		if !ok || got != c.want {
			t.Errorf("%v/%d(%#x, %#x) = %v; want %v", c.k, c.w, c.a, c.b, got, c.want)
		}
	}
}
