package interp

import (
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	b "github.com/k2opt/k2opt/bpf"
)

// TestBranchReach pins what the reachability analysis rules out and,
// as importantly, what it must not.
func TestBranchReach(t *testing.T) {
	arr := MapSpec{Name: "arr", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4}
	hash := MapSpec{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4}
	big := MapSpec{Name: "big", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 256}
	lookup := func(key int32) []b.Insn { // lookup of map 0 with key at r10-4; the jump is at slot 6
		return []b.Insn{b.StW(b.R10, -4, key), b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup)}
	}
	exit := []b.Insn{b.Mov64Imm(b.R0, 0), b.Exit()}
	cat := func(parts ...[]b.Insn) []b.Insn {
		var out []b.Insn
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name   string
		insns  []b.Insn
		maps   []MapSpec
		pc     int
		ft, tk EdgeReach
	}{
		{"array in-range key: NULL test", cat(lookup(3), []b.Insn{b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{arr}, 6, EdgeFeasible, EdgeNonNull},
		{"array in-range key: != NULL", cat(lookup(0), []b.Insn{b.JneImm(b.R0, 0, 0)}, exit), []MapSpec{arr}, 6, EdgeNonNull, EdgeFeasible},
		{"array out-of-range key", cat(lookup(4), []b.Insn{b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{arr}, 6, EdgeFeasible, EdgeFeasible},
		{"hash map", cat(lookup(0), []b.Insn{b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{hash}, 6, EdgeFeasible, EdgeFeasible},
		{"key copied through a register", cat([]b.Insn{b.Mov64Imm(b.R3, 1), b.StxW(b.R10, b.R3, -4), b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup),
			b.Mov64Reg(b.R6, b.R0), b.JeqImm(b.R6, 0, 0)}, exit), []MapSpec{arr}, 8, EdgeFeasible, EdgeNonNull},
		{"key from a packet byte, 256 entries", cat([]b.Insn{b.LdxW(b.R2, b.R1, 0), b.LdxB(b.R3, b.R2, 0), b.StxW(b.R10, b.R3, -4), b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup),
			b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{big}, 8, EdgeFeasible, EdgeNonNull},
		{"key from a packet byte, 4 entries", cat([]b.Insn{b.LdxW(b.R2, b.R1, 0), b.LdxB(b.R3, b.R2, 0), b.StxW(b.R10, b.R3, -4), b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup),
			b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{arr}, 8, EdgeFeasible, EdgeFeasible},
		{"key overwritten by a helper", cat([]b.Insn{b.StW(b.R10, -4, 0), b.Mov64Reg(b.R6, b.R1), b.Mov64Reg(b.R3, b.R10), b.Add64Imm(b.R3, -4), b.Mov64Imm(b.R2, 0), b.Mov64Imm(b.R4, 4), b.Call(189), // xdp_load_bytes
			b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup), b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{arr}, 13, EdgeFeasible, EdgeFeasible},
		{"key stored through an unknown pointer", cat([]b.Insn{b.StW(b.R10, -4, 0), b.LdxDW(b.R3, b.R10, -16), b.StW(b.R3, 0, 9),
			b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup), b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{arr}, 9, EdgeFeasible, EdgeFeasible},
		{"ctx pointer", cat([]b.Insn{b.JeqImm(b.R1, 0, 0)}, exit), nil, 0, EdgeFeasible, EdgeNonNull},
		{"packet pointer", cat([]b.Insn{b.LdxW(b.R2, b.R1, 0), b.JneImm(b.R2, 0, 0)}, exit), nil, 1, EdgeNonNull, EdgeFeasible},
		{"ctx scalar field", cat([]b.Insn{b.LdxW(b.R2, b.R1, 12), b.JeqImm(b.R2, 0, 0)}, exit), nil, 1, EdgeFeasible, EdgeFeasible},
		{"constant", cat([]b.Insn{b.Mov64Imm(b.R2, 5), b.JeqImm(b.R2, 0, 0)}, exit), nil, 1, EdgeFeasible, EdgeConst},
		{"mask bounds", cat([]b.Insn{b.LdxW(b.R2, b.R1, 12), b.And64Imm(b.R2, 3), b.JgtImm(b.R2, 3, 0)}, exit), nil, 2, EdgeFeasible, EdgeConst},
		{"mask bounds, reachable", cat([]b.Insn{b.LdxW(b.R2, b.R1, 12), b.And64Imm(b.R2, 3), b.JgtImm(b.R2, 2, 0)}, exit), nil, 2, EdgeFeasible, EdgeFeasible},
		{"signed compare of a possibly negative value", cat([]b.Insn{b.LdxW(b.R2, b.R1, 12), b.Sub64Imm(b.R2, 1), b.JsgtImm(b.R2, -1, 0)}, exit), nil, 2, EdgeFeasible, EdgeFeasible},
		{"32-bit compare of a 64-bit constant", cat([]b.Insn{b.LdImm64(b.R2, 1<<32), b.Jeq32Imm(b.R2, 0, 0)}, exit), nil, 2, EdgeConst, EdgeFeasible},
		{"refined by an earlier branch", cat([]b.Insn{b.LdxW(b.R2, b.R1, 12), b.JgtImm(b.R2, 10, 2), b.JgtImm(b.R2, 20, 0), b.Ja(0)}, exit), nil, 2, EdgeFeasible, EdgeConst},
		{"dead code behind a constant branch", cat([]b.Insn{b.Mov64Imm(b.R2, 0), b.JeqImm(b.R2, 0, 1), b.JeqImm(b.R1, 7, 0)}, exit), nil, 2, EdgeDead, EdgeDead},
		{"loop counter", cat([]b.Insn{b.Mov64Imm(b.R2, 0), b.Add64Imm(b.R2, 1), b.JltImm(b.R2, 10, -2), b.JeqImm(b.R2, 10, 0)}, exit), nil, 2, EdgeFeasible, EdgeFeasible},
		{"stack slot merged from two paths", cat([]b.Insn{b.LdxW(b.R3, b.R1, 12), b.Mov64Imm(b.R2, 0), b.JeqImm(b.R3, 0, 1), b.Mov64Imm(b.R2, 1), b.StxW(b.R10, b.R2, -4),
			b.Mov64Reg(b.R2, b.R10), b.Add64Imm(b.R2, -4), b.LdMapFD(b.R1, 0), b.Call(hMapLookup), b.JeqImm(b.R0, 0, 0)}, exit), []MapSpec{{Name: "two", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2}}, 10, EdgeFeasible, EdgeNonNull},
	}
	ro := MapSpec{Name: ".rodata", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1, ReadOnly: true,
		Contents: []KV{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 7, 0, 0, 0}}}}
	rw := ro
	rw.ReadOnly = false
	cases = append(cases,
		struct {
			name   string
			insns  []b.Insn
			maps   []MapSpec
			pc     int
			ft, tk EdgeReach
		}{"read-only data", cat([]b.Insn{b.LdMapValue(b.R1, 0, 0), b.LdxW(b.R2, b.R1, 4), b.JeqImm(b.R2, 0, 0)}, exit), []MapSpec{ro}, 3, EdgeFeasible, EdgeRodata},
		struct {
			name   string
			insns  []b.Insn
			maps   []MapSpec
			pc     int
			ft, tk EdgeReach
		}{"writable global data", cat([]b.Insn{b.LdMapValue(b.R1, 0, 0), b.LdxW(b.R2, b.R1, 4), b.JeqImm(b.R2, 0, 0)}, exit), []MapSpec{rw}, 3, EdgeFeasible, EdgeFeasible},
	)
	for _, c := range cases {
		p, err := NewProgram(c.name, ebpf.XDP, c.insns, c.maps)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := BranchReach(p)
		if r[2*c.pc] != c.ft || r[2*c.pc+1] != c.tk {
			t.Errorf("%s: slot %d: fall-through %v, taken %v; want %v, %v", c.name, c.pc, r[2*c.pc], r[2*c.pc+1], c.ft, c.tk)
		}
	}
}

// TestBranchReachSound: on random verifier-shaped programs (every ALU and
// jump op, stack traffic) and random packets, no run takes an edge the
// analysis rules out.
func TestBranchReachSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ruled, runs := 0, 0
	for pi := range 400 {
		insns := RandomXDP(rng, RandOptions{V4: pi%2 == 0, Body: 10 + rng.IntN(60)})
		p, err := NewProgram("rand", ebpf.XDP, insns, nil)
		if err != nil {
			t.Fatal(err)
		}
		reach := BranchReach(p)
		for _, r := range reach {
			if r == EdgeConst || r == EdgeNonNull {
				ruled++
			}
		}
		m := NewMachine(p, nil)
		m.Coverage = true
		for range 30 {
			out := m.Run(&Input{Packet: RandomPacket(rng)})
			runs++
			for k, hit := range out.Cover {
				if hit && reach[k] != EdgeFeasible {
					t.Fatalf("program %d: edge %d/%v taken but ruled out (%v):\n%s", pi, k/2, k%2 == 1, reach[k], listing(insns))
				}
			}
		}
	}
	if ruled == 0 {
		t.Errorf("the analysis ruled out no edge of 400 random programs: the test checks nothing")
	}
	t.Logf("%d runs, %d edges ruled out", runs, ruled)
}

func listing(insns []b.Insn) string {
	s, slot := "", 0
	for _, in := range insns {
		s += itoa(slot) + ": " + in.String() + "\n"
		slot += in.Slots()
	}
	return s
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
