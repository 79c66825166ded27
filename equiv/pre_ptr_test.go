package equiv

import (
	"testing"

	"github.com/cilium/ebpf"

	. "github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
)

// Map-value, data_end, variable-offset packet and opaque live-ins.

var (
	refH  = MapRef{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}
	refH2 = MapRef{Name: "h2", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}
	refA  = MapRef{Name: "a", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4}
	mvH   = RegPre{Kind: smt.PtrMapVal, Map: refH}
	mvH2  = RegPre{Kind: smt.PtrMapVal, Map: refH2}
	mvA   = RegPre{Kind: smt.PtrMapVal, Map: refA}
	mvH8  = RegPre{Kind: smt.PtrMapVal, Map: refH, Off: 8}
	mvHN  = RegPre{Kind: smt.PtrMapVal, Map: refH, Null: true}
	mvHU  = RegPre{Kind: smt.PtrMapVal, Map: refH, MapUnsure: true}
	// a map value at a variable offset 0..8 (multiple of 4)
	mvHV    = RegPre{Kind: smt.PtrMapVal, Map: refH, VarOff: true, Known: ^uint64(0xc), Umax: 8}
	pktEnd  = RegPre{Kind: smt.PtrPacket, PktEnd: true}
	opaque  = RegPre{Kind: smt.Opaque}
	pkt14   = RegPre{Kind: smt.PtrPacket, Range: 14}
	pkt20   = RegPre{Kind: smt.PtrPacket, Range: 20}
	pkt0r24 = RegPre{Kind: smt.PtrPacket, Range: 24}
	// data + var + 14, var in [0, 20], [ptr, ptr+4) checked
	pktVar = RegPre{Kind: smt.PtrPacket, VarOff: true, Off: 14, Range: 4, Umax: 20}
	// data + var, var in [0, 20], [ptr, ptr+4) checked
	pktVar0 = RegPre{Kind: smt.PtrPacket, VarOff: true, Range: 4, Umax: 20}
	hMaps   = []interp.MapSpec{{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}}
	// an LPM trie value (key: prefixlen + 4 address bytes), maybe NULL
	refL  = MapRef{Name: "l", Type: ebpf.LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 16}
	mvL   = RegPre{Kind: smt.PtrMapVal, Map: refL}
	mvLN  = RegPre{Kind: smt.PtrMapVal, Map: refL, Null: true}
	lMaps = []interp.MapSpec{{Name: "l", Type: ebpf.LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 16}}
	// 168 bytes of sized memory, at offset 0 and 40
	mem168    = RegPre{Kind: smt.PtrMapVal, Map: memRef(168)}
	mem168o40 = RegPre{Kind: smt.PtrMapVal, Map: memRef(168), Off: 40}
)

var ptrCases = []tcase{
	// map values: aliasing within one map
	{name: "map values of one map may alias", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH, R2: mvH}, want: NotEqual},
	{name: "map values of two maps do not alias", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH, R2: mvH2}, want: Equal},
	{name: "map value and stack do not alias", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH, R2: {Kind: smt.PtrStack, Off: -8}}, want: Equal},
	{name: "map value and packet do not alias", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH, R2: pkt14}, want: Equal},
	{name: "array values of one map may alias", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvA, R2: mvA}, want: NotEqual},
	{name: "map values at disjoint offsets of one map", a: I{StW(R1, 0, 5), LdxW(R0, R2, 8)}, b: I{LdxW(R0, R2, 8), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH, R2: mvH}, want: Equal},
	{name: "redundant reload through one map value", a: I{LdxW(R0, R1, 0), LdxW(R3, R1, 0), Add64Reg(R0, R3)},
		b: I{LdxW(R0, R1, 0), Mov64Reg(R3, R0), Add64Reg(R0, R3)}, in: RegsOf(R1), out: RegsOf(R0, R3), pre: map[Reg]RegPre{R1: mvH}, want: Equal},
	{name: "reload after a store through another value", a: I{LdxW(R0, R1, 0), StW(R2, 0, 7), LdxW(R3, R1, 0)},
		b: I{LdxW(R0, R1, 0), StW(R2, 0, 7), Mov64Reg(R3, R0)}, in: RegsOf(R1, R2), out: RegsOf(R0, R3), pre: map[Reg]RegPre{R1: mvH, R2: mvH}, want: NotEqual},
	{name: "reload after a store to another map", a: I{LdxW(R0, R1, 0), StW(R2, 0, 7), LdxW(R3, R1, 0)},
		b: I{LdxW(R0, R1, 0), StW(R2, 0, 7), Mov64Reg(R3, R0)}, in: RegsOf(R1, R2), out: RegsOf(R0, R3), pre: map[Reg]RegPre{R1: mvH, R2: mvH2}, want: Equal},
	{name: "map value store then load = value", a: I{StxW(R1, R2, 4), LdxW(R0, R1, 4)}, b: I{StxW(R1, R2, 4), Mov32Reg(R0, R2)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH}, want: Equal},
	{name: "map value store dropped", a: I{StW(R1, 4, 1), Mov64Imm(R0, 0)}, b: I{Mov64Imm(R0, 0)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH}, want: NotEqual},
	{name: "map value bounds: b reads past the value", a: I{LdxW(R0, R1, 12)}, b: I{LdxW(R0, R1, 13)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH}, want: NotEqual},
	{name: "map value fixed offset", a: I{Add64Imm(R1, 8), LdxW(R0, R1, 0)}, b: I{LdxW(R0, R1, 8)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH}, want: Equal},
	{name: "map value at offset 8: bounds", a: I{LdxDW(R0, R1, 0)}, b: I{LdxDW(R0, R1, 1)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvH8}, want: NotEqual},
	{name: "map value variable offset", a: I{LdxW(R0, R1, 0), LdxW(R3, R1, 4)}, b: I{LdxDW(R0, R1, 0), Mov64Reg(R3, R0), Rsh64Imm(R3, 32), Mov32Reg(R0, R0)},
		in: RegsOf(R1), out: RegsOf(R0, R3), pre: map[Reg]RegPre{R1: mvHV}, want: Equal},
	{name: "map value variable offset: aliasing", a: I{StW(R1, 0, 5), LdxW(R0, R2, 4)}, b: I{LdxW(R0, R2, 4), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHV, R2: mvH}, want: NotEqual},
	{name: "NULL map value: check dropped", a: I{Mov64Imm(R0, 0), JeqImm(R1, 0, 1), LdxW(R0, R1, 0)}, b: I{Mov64Imm(R0, 0), LdxW(R0, R1, 0)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHN}, want: NotEqual},
	{name: "NULL map value: check inverted", a: I{Mov64Imm(R0, 0), JeqImm(R1, 0, 1), LdxW(R0, R1, 0)},
		b: I{Mov64Imm(R0, 0), JneImm(R1, 0, 1), Ja(1), LdxW(R0, R1, 0)}, in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHN}, want: Equal},
	{name: "NULL map value: value stored differs", a: I{JeqImm(R1, 0, 1), StW(R1, 0, 1)}, b: I{JeqImm(R1, 0, 1), StW(R1, 0, 2)},
		in: RegsOf(R1), out: RegsOf(R1), pre: map[Reg]RegPre{R1: mvHN}, want: NotEqual},
	{name: "live-in value aliases a lookup", maps: hMaps, in: RegsOf(R6), out: RegsOf(R0),
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), StW(R6, 0, 5), LdxW(R0, R0, 0)}),
		b: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), StW(R6, 0, 5)}), pre: map[Reg]RegPre{R6: mvH}, want: NotEqual},
	{name: "live-in value of another map than the lookup", maps: hMaps, in: RegsOf(R6), out: RegsOf(R0),
		a: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), StW(R6, 0, 5), LdxW(R0, R0, 0)}),
		b: cat(lookup(StW(R10, -4, 1)), I{JeqImm(R0, 0, 2), LdxW(R0, R0, 0), StW(R6, 0, 5)}), pre: map[Reg]RegPre{R6: mvH2}, want: Equal},
	{name: "map value access after an update of the map", maps: hMaps, in: RegsOf(R6), out: RegsOf(R0),
		a: I{StW(R10, -4, 1), StDW(R10, -24, 0), StDW(R10, -16, 0), LdMapFD(R1, 0), Mov64Reg(R2, R10), Add64Imm(R2, -4),
			Mov64Reg(R3, R10), Add64Imm(R3, -24), Mov64Imm(R4, 0), Call(2), LdxW(R0, R6, 0)},
		b: I{LdxW(R7, R6, 0), StW(R10, -4, 1), StDW(R10, -24, 0), StDW(R10, -16, 0), LdMapFD(R1, 0), Mov64Reg(R2, R10), Add64Imm(R2, -4),
			Mov64Reg(R3, R10), Add64Imm(R3, -24), Mov64Imm(R4, 0), Call(2), Mov64Reg(R0, R7)},
		pre: map[Reg]RegPre{R6: mvH}, want: Unknown},
	// map values whose map the summary cannot name for sure
	{name: "unsure map value: reload", a: I{LdxW(R0, R1, 4), LdxW(R3, R1, 4)}, b: I{LdxW(R0, R1, 4), Mov64Reg(R3, R0)},
		in: RegsOf(R1), out: RegsOf(R0, R3), pre: map[Reg]RegPre{R1: mvHU}, want: Equal},
	{name: "unsure map value: b reads beyond a", a: I{LdxW(R0, R1, 0)}, b: I{LdxW(R0, R1, 0), LdxW(R3, R1, 12)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHU}, want: Unknown},
	{name: "unsure map value: b reads past the value", a: I{LdxW(R0, R1, 12)}, b: I{LdxW(R0, R1, 13)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHU}, want: NotEqual},
	{name: "unsure map value: store dropped", a: I{StW(R1, 4, 1), Mov64Imm(R0, 0)}, b: I{Mov64Imm(R0, 0)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHU}, want: NotEqual},
	{name: "unsure map value next to another", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvHU, R2: mvH2}, want: Unknown},
	// data_end and packet pointers with variable offsets
	{name: "data_end bound removed", a: I{Mov64Reg(R4, R2), Add64Imm(R4, 20), Mov64Imm(R0, 0), JgtReg(R4, R3, 1), Mov64Imm(R0, 1)},
		b: I{Mov64Imm(R0, 1)}, in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pkt14, R3: pktEnd}, want: NotEqual},
	{name: "data_end bound jgt = jge-1", a: I{Mov64Reg(R4, R2), Add64Imm(R4, 20), Mov64Imm(R0, 0), JgtReg(R4, R3, 1), Mov64Imm(R0, 1)},
		b:  I{Mov64Reg(R4, R2), Add64Imm(R4, 19), Mov64Imm(R0, 0), JgeReg(R4, R3, 1), Mov64Imm(R0, 1)},
		in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pkt14, R3: pktEnd}, want: Equal},
	{name: "data_end bound already checked", a: I{Mov64Reg(R4, R2), Add64Imm(R4, 20), Mov64Imm(R0, 0), JgtReg(R4, R3, 1), Mov64Imm(R0, 1)},
		b: I{Mov64Imm(R0, 1)}, in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pkt20, R3: pktEnd}, want: Equal},
	{name: "data_end minus data", a: I{Mov64Reg(R0, R3), Sub64Reg(R0, R2)}, b: I{Mov64Reg(R0, R3), Sub64Reg(R0, R2), And64Imm(R0, 0xffff)},
		in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pkt14, R3: pktEnd}, want: Equal},
	{name: "data_end minus data is not 14", a: I{Mov64Reg(R0, R3), Sub64Reg(R0, R2)}, b: I{Mov64Imm(R0, 14)},
		in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pkt14, R3: pktEnd}, want: NotEqual},
	{name: "unchecked packet pointer past data_end", a: I{Mov64Imm(R0, 0), JgtReg(R2, R3, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 1)},
		in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: {Kind: smt.PtrPacket, Off: 14, Range: -14}, R3: pktEnd}, want: NotEqual},
	{name: "variable packet offset: split load", a: I{LdxW(R0, R2, 0)}, b: I{LdxH(R0, R2, 0), LdxH(R3, R2, 2), Lsh64Imm(R3, 16), Or64Reg(R0, R3)},
		in: RegsOf(R2), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pktVar}, want: Equal},
	{name: "variable packet offset: b reads past the checked range", a: I{LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 2)},
		in: RegsOf(R2), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pktVar}, want: NotEqual},
	{name: "variable packet offset aliases a constant one", a: I{StB(R2, 0, 1), LdxB(R0, R3, 0)}, b: I{LdxB(R0, R3, 0), StB(R2, 0, 1)},
		in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pktVar0, R3: pkt0r24}, want: NotEqual},
	{name: "variable packet offset past a constant one", a: I{StB(R2, 0, 1), LdxB(R0, R3, 0)}, b: I{LdxB(R0, R3, 0), StB(R2, 0, 1)},
		in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pktVar, R3: pkt0r24}, want: Equal},
	{name: "variable packet offset against data_end", a: I{Mov64Reg(R4, R2), Add64Imm(R4, 4), Mov64Imm(R0, 0), JgtReg(R4, R3, 1), Mov64Imm(R0, 1)},
		b: I{Mov64Imm(R0, 1)}, in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pktVar, R3: pktEnd}, want: Equal},
	{name: "variable packet offset against data_end + 1", a: I{Mov64Reg(R4, R2), Add64Imm(R4, 5), Mov64Imm(R0, 0), JgtReg(R4, R3, 1), Mov64Imm(R0, 1)},
		b: I{Mov64Imm(R0, 1)}, in: RegsOf(R2, R3), out: RegsOf(R0), pre: map[Reg]RegPre{R2: pktVar, R3: pktEnd}, want: NotEqual},
	// LPM trie values (xdp_firewall's hit counters): atomics through them
	{name: "lpm value: atomic add = load/add/store", a: I{JeqImm(R0, 0, 2), Mov64Imm(R1, 1), Atomic(OpAtomicAddDW, R0, R1, 0)},
		b:  I{JeqImm(R0, 0, 3), LdxDW(R1, R0, 0), Add64Imm(R1, 1), StxDW(R0, R1, 0)},
		in: RegsOf(R0), out: RegsOf(R0), pre: map[Reg]RegPre{R0: mvLN}, want: Equal},
	{name: "lpm value: add 2", a: I{JeqImm(R0, 0, 2), Mov64Imm(R1, 1), Atomic(OpAtomicAddDW, R0, R1, 0)},
		b:  I{JeqImm(R0, 0, 2), Mov64Imm(R1, 2), Atomic(OpAtomicAddDW, R0, R1, 0)},
		in: RegsOf(R0), out: RegsOf(R0), pre: map[Reg]RegPre{R0: mvLN}, want: NotEqual},
	{name: "lpm value: NULL check dropped", a: I{JeqImm(R0, 0, 1), StDW(R0, 0, 1)}, b: I{StDW(R0, 0, 1)},
		in: RegsOf(R0), out: RegsOf(R0), pre: map[Reg]RegPre{R0: mvLN}, want: NotEqual},
	{name: "lpm values: two of one trie", a: I{StW(R1, 0, 5), LdxW(R0, R2, 0)}, b: I{LdxW(R0, R2, 0), StW(R1, 0, 5)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: mvL, R2: mvL}, want: Unknown},
	{name: "lpm lookup in the window", a: cat(lookup(StW(R10, -4, 0)), I{Mov64Imm(R0, 0)}), b: I{Mov64Imm(R0, 0)},
		in: RegsOf(R6), out: RegsOf(R0), dead: true, maps: lMaps, want: Unknown},
	// sized memory (a ringbuf sample): r8 = sample, r7 = sample + 40
	{name: "mem: two live-ins may alias", a: I{StW(R7, 0, 5), LdxW(R0, R8, 40)}, b: I{LdxW(R0, R8, 40), StW(R7, 0, 5)},
		in: RegsOf(R7, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R7: mem168o40, R8: mem168}, want: NotEqual},
	// (they do here, but the precondition does not say so: conservative)
	{name: "mem: two live-ins need not alias", a: I{StW(R7, 0, 5), LdxW(R0, R8, 40)}, b: I{StW(R7, 0, 5), Mov64Imm(R0, 5)},
		in: RegsOf(R7, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R7: mem168o40, R8: mem168}, want: NotEqual},
	{name: "mem: last store wins", a: I{StW(R7, 0, 5), StW(R7, 0, 6)}, b: I{StW(R7, 0, 6)},
		in: RegsOf(R7, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R7: mem168o40, R8: mem168}, want: Equal},
	{name: "mem: store value differs", a: I{StW(R8, 4, 5)}, b: I{StW(R8, 4, 6)},
		in: RegsOf(R7, R8), out: RegsOf(R0), pre: map[Reg]RegPre{R7: mem168o40, R8: mem168}, want: NotEqual},
	{name: "mem: store past the end", a: I{StW(R8, 160, 5)}, b: I{StW(R8, 168, 5)},
		in: RegsOf(R8), out: RegsOf(R0), pre: map[Reg]RegPre{R8: mem168}, want: NotEqual},
	// opaque values
	{name: "opaque copied through", a: I{Mov64Reg(R0, R1)}, b: I{Mov64Reg(R2, R1), Mov64Reg(R0, R2)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: opaque}, want: Equal},
	{name: "opaque replaced by a constant", a: I{Mov64Reg(R0, R1)}, b: I{Mov64Imm(R0, 0)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: opaque}, want: NotEqual},
	{name: "opaque compared", a: I{Mov64Imm(R0, 0), JeqReg(R1, R2, 1), Mov64Imm(R0, 1)}, b: I{Mov64Imm(R0, 1), JneReg(R1, R2, 1), Mov64Imm(R0, 0)},
		in: RegsOf(R1, R2), out: RegsOf(R0), pre: map[Reg]RegPre{R1: opaque, R2: mvH}, want: Equal},
	{name: "opaque plus offset", a: I{Add64Imm(R1, 4), Add64Imm(R1, 4)}, b: I{Add64Imm(R1, 8)},
		in: RegsOf(R1), out: RegsOf(R1), pre: map[Reg]RegPre{R1: opaque}, want: Equal},
	{name: "opaque dereferenced", a: I{LdxW(R0, R1, 0)}, b: I{LdxW(R0, R1, 0), Mov64Reg(R2, R0)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: opaque}, want: Unknown},
	{name: "opaque arithmetic then dereferenced", a: I{Add64Imm(R1, 4), LdxW(R0, R1, 0)}, b: I{Mov64Imm(R0, 0)},
		in: RegsOf(R1), out: RegsOf(R0), pre: map[Reg]RegPre{R1: opaque}, want: Unknown},
	{name: "opaque spilled, filled, dereferenced", a: I{StxDW(R10, R1, -8), LdxDW(R2, R10, -8), LdxW(R0, R2, 0)}, b: I{Mov64Imm(R0, 0)},
		in: RegsOf(R1), out: RegsOf(R0), dead: true, pre: map[Reg]RegPre{R1: opaque}, want: Unknown},
	// a pointer spilled before the window reads back as a scalar
	{name: "fill of an earlier spill dereferenced", a: I{LdxDW(R1, R10, -8), LdxW(R0, R1, 0)}, b: I{Mov64Imm(R0, 42)},
		in: RegsOf(R6), out: RegsOf(R0), dead: true, want: Unknown},
}

func TestTablePointerLiveIns(t *testing.T) {
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	for _, c := range ptrCases {
		t.Run(c.name, func(t *testing.T) {
			r := runCase(t, ck, c)
			if r.Verdict != c.want {
				t.Fatalf("verdict %s (%s), want %s", r.Verdict, r.Reason, c.want)
			}
			if r.Verdict == NotEqual {
				if r.Counterexample == nil || r.Counterexample.Diff == "" {
					t.Fatalf("not equal without a reproduced counterexample")
				}
				t.Logf("counterexample: %s (prologue %d insns)", r.Counterexample.Diff, len(r.Counterexample.Prologue))
			}
		})
	}
}

// TestPreFromSafetyPointers checks the preconditions made from safety
// summaries for the pointer kinds.
func TestPreFromSafetyPointers(t *testing.T) {
	m := &safety.Map{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}
	lpm := &safety.Map{Name: "l", Type: ebpf.LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 16}
	zero := safety.Const(0)
	v := safety.URange(0, 20)
	cases := []struct {
		name  string
		reg   safety.Reg
		paths int
		want  RegPre
	}{
		{"pkt_end", safety.Reg{Type: safety.PtrPacketEnd, V: zero}, 1, RegPre{Kind: smt.PtrPacket, PktEnd: true}},
		{"pkt before its check", safety.Reg{Type: safety.PtrPacket, V: zero, Off: 14}, 1, RegPre{Kind: smt.PtrPacket, Off: 14, Range: -14}},
		{"pkt checked", safety.Reg{Type: safety.PtrPacket, V: zero, Off: 14, Range: 34}, 3, RegPre{Kind: smt.PtrPacket, Off: 14, Range: 20}},
		{"pkt var", safety.Reg{Type: safety.PtrPacket, V: v, Off: 14, Range: 34}, 1,
			RegPre{Kind: smt.PtrPacket, VarOff: true, Off: 14, Range: 20, Known: ^v.T.Mask, Value: v.T.Value, Umax: 20}},
		{"pkt var joined", safety.Reg{Type: safety.PtrPacket, V: v, Range: 34}, 2, RegPre{Kind: smt.PtrPacket, VarOff: true}},
		{"pkt var joined, offset 14", safety.Reg{Type: safety.PtrPacket, V: v, Off: 14, Range: 34}, 2,
			RegPre{Kind: smt.PtrPacket, VarOff: true, Off: 14, Range: 20, Known: ^v.T.Mask, Value: v.T.Value, Umax: 20}},
		{"map value", safety.Reg{Type: safety.PtrMapValue, V: zero, Map: m, Off: 4}, 1,
			RegPre{Kind: smt.PtrMapVal, Off: 4, Map: MapRef{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}}},
		{"map value or null", safety.Reg{Type: safety.PtrMapValue, V: zero, Map: m, Null: true}, 1,
			RegPre{Kind: smt.PtrMapVal, Null: true, Map: MapRef{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16}}},
		{"map value joined", safety.Reg{Type: safety.PtrMapValue, V: zero, Map: m}, 2, RegPre{Kind: smt.PtrMapVal, MapUnsure: true, Map: refH}},
		{"map value joined, offset 4", safety.Reg{Type: safety.PtrMapValue, V: zero, Map: m, Off: 4}, 2, RegPre{Kind: smt.PtrMapVal, Off: 4, Map: refH}},
		{"map value joined, variable offset", safety.Reg{Type: safety.PtrMapValue, V: v, Map: m}, 2,
			RegPre{Kind: smt.PtrMapVal, MapUnsure: true, VarOff: true, Map: refH}},
		{"mem", safety.Reg{Type: safety.PtrMem, V: zero, Size: 168, Off: 40}, 1, mem168o40},
		{"mem or null", safety.Reg{Type: safety.PtrMem, V: zero, Size: 168, Null: true}, 1, RegPre{Kind: smt.PtrMapVal, Map: memRef(168), Null: true}},
		{"mem joined", safety.Reg{Type: safety.PtrMem, V: zero, Size: 168}, 2, RegPre{Kind: smt.Opaque}},
		{"lpm value", safety.Reg{Type: safety.PtrMapValue, V: zero, Map: lpm}, 1,
			RegPre{Kind: smt.PtrMapVal, Map: MapRef{Name: "l", Type: ebpf.LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 16}}},
		{"mixed", safety.Reg{Type: safety.Mixed}, 2, RegPre{Kind: smt.Opaque}},
		{"socket", safety.Reg{Type: safety.PtrSock, V: zero}, 1, RegPre{Kind: smt.Opaque}},
		{"stack of a caller", safety.Reg{Type: safety.PtrStack, V: zero, Frame: 1, Off: -8}, 1, RegPre{Kind: smt.Opaque}},
		{"stack", safety.Reg{Type: safety.PtrStack, V: zero, Off: -8}, 1, RegPre{Kind: smt.PtrStack, Off: -8}},
	}
	for _, c := range cases {
		s := &safety.Summary{Paths: c.paths}
		s.Regs[R3] = c.reg
		pre, ok := PreFromSafety(s, RegsOf(R3))
		if !ok {
			t.Errorf("%s: declined", c.name)
			continue
		}
		if pre[R3] != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, pre[R3], c.want)
		}
	}
}
