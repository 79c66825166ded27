package object

import (
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

// Local test helpers for editing a function: jump fixups are the caller's
// job, so the tests carry their own small version.

const (
	classJMP   = 0x05
	classJMP32 = 0x06
)

// jumpTarget returns the slot (relative to the function) a jump lands on, and
// whether in is a jump at all.
func jumpTarget(in bpf.Insn, slot int) (int, bool) {
	class := in.Code & 7
	op := in.Code & 0xf0
	if class != classJMP && class != classJMP32 || op == 0x80 || op == 0x90 {
		return 0, false
	}
	if in.Code == classJMP32 { // gotol: 32-bit offset in imm
		return slot + 1 + int(in.Imm), true
	}
	return slot + 1 + int(in.Off), true
}

func setJump(in *bpf.Insn, rel int) {
	if in.Code == classJMP32 {
		in.Imm = int32(rel)
	} else {
		in.Off = int16(rel)
	}
}

// edit builds a Rewrite of insns with the instructions in del removed and
// ins[k] inserted before old instruction k, fixing jump offsets. A jump to a
// deleted instruction goes to the next kept one; a jump to k lands on what
// was inserted before k.
func edit(t testing.TB, insns []bpf.Insn, del map[int]bool, ins map[int][]bpf.Insn) Rewrite {
	t.Helper()
	oldOffs := bpf.SlotOffsets(insns)
	var out []bpf.Insn
	oldToNew := make([]int, len(insns))
	landing := make([]int, len(insns)+1) // new index where a jump to old k lands
	for k, in := range insns {
		landing[k] = len(out)
		out = append(out, ins[k]...)
		if del[k] {
			oldToNew[k] = -1
			continue
		}
		oldToNew[k] = len(out)
		out = append(out, in)
	}
	landing[len(insns)] = len(out)
	newOffs := bpf.SlotOffsets(out)
	slotToOld := map[int]int{}
	for k, s := range oldOffs {
		slotToOld[s] = k
	}
	for k, in := range insns {
		n := oldToNew[k]
		if n < 0 {
			continue
		}
		tgt, ok := jumpTarget(in, oldOffs[k])
		if !ok {
			continue
		}
		tk, ok := slotToOld[tgt]
		if !ok {
			t.Fatalf("insn %d jumps into the middle of an instruction", k)
		}
		setJump(&out[n], newOffs[landing[tk]]-newOffs[n]-1)
	}
	return Rewrite{Insns: out, OldToNew: oldToNew}
}

func writesDst(in bpf.Insn) (bpf.Reg, bool) {
	switch {
	case in.Code == 0xb7 || in.Code == 0xb4: // mov imm
		return in.Dst, true
	case (in.Code == 0xbf || in.Code == 0xbc) && in.Off == 0 && in.Src != in.Dst: // mov reg
		return in.Dst, true
	case in.Code&7 == 0x01 && in.Code&0xe0 == 0x60 && in.Src != in.Dst: // ldx mem
		return in.Dst, true
	case in.IsLdImm64() && in.Src == 0:
		return in.Dst, true
	}
	return 0, false
}

// deadInsn finds an instruction whose result is overwritten by the very next
// instruction without being read: `rD = x; rD = y` (y not reading rD). It
// skips relocated instructions and the frame pointer.
func deadInsn(fn *Function) int {
	for k := 0; k+1 < len(fn.Insns); k++ {
		a, b := fn.Insns[k], fn.Insns[k+1]
		if a.Code != 0xb7 && a.Code != 0xb4 && !(a.Code == 0xbf && a.Off == 0) {
			continue
		}
		if _, rel := fn.Reloc(k); rel || a.Dst == bpf.R10 {
			continue
		}
		if d, ok := writesDst(b); ok && d == a.Dst {
			if _, rel := fn.Reloc(k + 1); rel && !b.IsLdImm64() {
				continue
			}
			return k
		}
	}
	return -1
}

func TestEditHelper(t *testing.T) {
	// 0: if r1 == 0 goto 3; 1: r2 = 7; 2: r2 = 8; 3: exit
	insns := []bpf.Insn{
		{Code: 0x15, Dst: 1, Off: 2},
		{Code: 0xb7, Dst: 2, Imm: 7},
		{Code: 0xb7, Dst: 2, Imm: 8},
		{Code: 0x95},
	}
	tests := []struct {
		name    string
		del     map[int]bool
		ins     map[int][]bpf.Insn
		wantOff int16
		wantMap []int
	}{
		{"delete-dead", map[int]bool{1: true}, nil, 1, []int{0, -1, 1, 2}},
		{"insert-before-target", nil, map[int][]bpf.Insn{3: {{Code: 0xbf, Dst: 1, Src: 1}}}, 2, []int{0, 1, 2, 4}},
		{"insert-in-between", nil, map[int][]bpf.Insn{2: {{Code: 0xbf, Dst: 1, Src: 1}}}, 3, []int{0, 1, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rw := edit(t, insns, tc.del, tc.ins)
			if rw.Insns[0].Off != tc.wantOff {
				t.Errorf("jump offset %d, want %d", rw.Insns[0].Off, tc.wantOff)
			}
			for k, n := range tc.wantMap {
				if rw.OldToNew[k] != n {
					t.Errorf("OldToNew = %v, want %v", rw.OldToNew, tc.wantMap)
					break
				}
			}
		})
	}
	fn := &Function{Insns: insns}
	if k := deadInsn(fn); k != 1 {
		t.Errorf("deadInsn = %d, want 1", k)
	}
}
