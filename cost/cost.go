package cost

import (
	"fmt"
	"math/bits"

	"github.com/k2opt/k2opt/bpf"
)

// Objective selects what the search minimises besides the error.
type Objective uint8

// Objectives (--objective).
const (
	Size       Objective = iota // instruction slots
	Latency                     // estimated cycles, path-weighted
	Complexity                  // the verifier's processed-instruction count
)

func (o Objective) String() string {
	switch o {
	case Size:
		return "size"
	case Latency:
		return "latency"
	case Complexity:
		return "complexity"
	}
	return fmt.Sprintf("Objective(%d)", uint8(o))
}

// ParseObjective reads an --objective value.
func ParseObjective(s string) (Objective, error) {
	switch s {
	case "size", "":
		return Size, nil
	case "latency":
		return Latency, nil
	case "complexity":
		return Complexity, nil
	}
	return 0, fmt.Errorf("unknown objective %q (want size, latency or complexity)", s)
}

// Nop is the placeholder the search writes for a deleted instruction. The
// final program removes it with bpf.Delete, so it counts as zero slots.
var Nop = bpf.Ja(0)

// IsNop reports whether in is the deletion placeholder.
func IsNop(in bpf.Insn) bool { return in == Nop }

// Slots is the size of insns in 8-byte slots, NOPs excluded.
func Slots(insns []bpf.Insn) int {
	n := 0
	for _, in := range insns {
		if !IsNop(in) {
			n += in.Slots()
		}
	}
	return n
}

// legacyCycles are the hand-written per-op estimates that preceded
// calibration, coarse classes for an x86-64 JIT: simple ALU 1, multiply 3,
// divide ~20-25 (plus the JIT's zero-divisor check), loads 4 (L1 hit),
// stores 1, atomics ~20 (lock prefix), helper calls 30 (call + typical
// body), kfuncs 30, bpf-to-bpf calls 5, legacy packet loads 20 (they call
// into the kernel). Ops the calibration does not measure (exit, ja, calls
// to subprograms, ld_abs/ld_ind, may_goto) still use them, scaled.
var legacyCycles = func() (t [bpf.NumOps]float64) {
	for _, op := range bpf.Ops() {
		info := op.Info()
		c := 1.0
		switch info.Kind {
		case bpf.KindMul:
			c = 3
		case bpf.KindDiv, bpf.KindMod:
			c = 20
		case bpf.KindSDiv, bpf.KindSMod:
			c = 25
		case bpf.KindLoad, bpf.KindLoadSX, bpf.KindLoadAcquire:
			c = 4
		case bpf.KindStore, bpf.KindStoreImm, bpf.KindStoreRelease:
			c = 1
		case bpf.KindAtomic:
			c = 20
		case bpf.KindCall, bpf.KindCallKfunc:
			c = 30
		case bpf.KindCallLocal:
			c = 5
		case bpf.KindExit:
			c = 2
		case bpf.KindLdAbs, bpf.KindLdInd:
			c = 20
		}
		t[op] = c
	}
	return t
}()

// opCycles is the model's cost per op in cycles, from the calibrated table
// (calibrated.json, see table.go) unless UseTable replaced it.
var opCycles = DefaultTable().OpCycles()

// InsnCycles is the latency model's estimate for one execution of in.
func InsnCycles(in bpf.Insn) float64 {
	if IsNop(in) {
		return 0
	}
	return opCycles[in.Op()]
}

// OpCycles is InsnCycles by op (the search's hot loop keeps ops, not Insns).
func OpCycles(op bpf.Op) float64 { return opCycles[op] }

// Cycles is the estimated cycles of one run of insns: each instruction's
// cycles times its execution frequency. freq may be nil (every instruction
// runs once) or hold one weight per instruction (see Frequencies).
func Cycles(insns []bpf.Insn, freq []float64) float64 {
	t := 0.0
	for k, in := range insns {
		w := 1.0
		if freq != nil {
			w = freq[k]
		}
		t += w * InsnCycles(in)
	}
	return t
}

// ErrorForm is how the error term compares two output values.
type ErrorForm uint8

// Error forms (K2's two).
const (
	Popcount ErrorForm = iota // popcount(a xor b)
	AbsDiff                   // |a - b| as signed 64-bit, saturated
)

// FailPenalty is the extra error charged per test whose outputs differ at
// all, and for a fault the original did not have (K2's "number of unequal
// tests" term). It outweighs a few wrong bits so that fixing a whole test
// is worth more than polishing one.
const FailPenalty = 8

// ValueError is the error between an expected and an actual output value.
func ValueError(form ErrorForm, want, got uint64) uint64 {
	if form == AbsDiff {
		d := int64(want - got)
		if d < 0 {
			d = -d
		}
		if d < 0 { // MinInt64
			d = 1<<63 - 1
		}
		return uint64(d)
	}
	return uint64(bits.OnesCount64(want ^ got))
}

// Weights combine the error and the performance term:
// cost = Error*error + Perf*perf.
type Weights struct {
	Error, Perf float64
}

// WeightsFor returns the default weights of an objective. Size and
// complexity count slots (perf in slots); latency counts cycles, which are
// larger numbers, so its error weight is larger too.
func WeightsFor(o Objective) Weights {
	switch o {
	case Latency:
		// cycles in units of a 64-bit ALU op, whatever the table's scale
		// (the calibrated one puts it near 0.2 cycles), so that deleting
		// an instruction weighs as much against the error as under size
		return Weights{Error: 4, Perf: 1 / max(OpCycles(bpf.OpAdd64Reg), 0.01)}
	}
	return Weights{Error: 1, Perf: 1}
}
