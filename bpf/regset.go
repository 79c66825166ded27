package bpf

import (
	"math/bits"
	"strings"
)

// RegSet is a set of registers as a bit mask (bit n = register rn).
type RegSet uint16

// AllRegs is the set r0-r10.
const AllRegs = RegSet(1<<NumRegs - 1)

// RegsOf returns the set holding regs.
func RegsOf(regs ...Reg) RegSet {
	var s RegSet
	for _, r := range regs {
		s |= 1 << (r & 15)
	}
	return s
}

// Has reports whether r is in s.
func (s RegSet) Has(r Reg) bool { return s&(1<<(r&15)) != 0 }

// Add returns s with r added.
func (s RegSet) Add(r Reg) RegSet { return s | 1<<(r&15) }

// Len is the number of registers in s.
func (s RegSet) Len() int { return bits.OnesCount16(uint16(s)) }

// Regs lists the registers of s in increasing order.
func (s RegSet) Regs() []Reg {
	out := make([]Reg, 0, s.Len())
	for r := Reg(0); r < 16; r++ {
		if s.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// String formats s as "{r0, r3}".
func (s RegSet) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for k, r := range s.Regs() {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	b.WriteByte('}')
	return b.String()
}
