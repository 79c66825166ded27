package cost

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/k2opt/k2opt/bpf"
)

// Feature is one column of the latency calibration (k2opt calibrate): a
// group of ops, and for memory ops a region, for jumps a direction, that
// the fit gives one cost. Ops map to features in OpFeatures.
type Feature uint8

// Calibration features.
const (
	FeatALU64       Feature = iota // add sub and or xor mov neg, 64-bit
	FeatALU32                      // the same, 32-bit
	FeatShiftImm                   // lsh rsh arsh by a constant, both widths
	FeatShiftReg                   // lsh rsh arsh by a register
	FeatMul                        // mul, both widths and sources
	FeatDiv                        // unsigned div (a register divisor includes the verifier's zero check)
	FeatMod                        // unsigned mod
	FeatSDiv                       // signed div (cpu v4)
	FeatSMod                       // signed mod (cpu v4)
	FeatMovSX                      // movsx (cpu v4)
	FeatBswap                      // bswap16/32/64 and be16/32/64 (a byte swap on little-endian)
	FeatLe                         // le16/32/64 (a truncation on little-endian; le64 is no code)
	FeatLdImm64                    // ld_imm64
	FeatLoadStack                  // ldx from the stack, every width
	FeatLoadSXStack                // ldsx from the stack (cpu v4)
	FeatStoreStack                 // st and stx to the stack, every width
	FeatLoadPkt                    // ldx from the packet, every width
	FeatStorePkt                   // st and stx to the packet, every width
	FeatLoadCtx                    // ldx from the context (XDP data, data_end, data_meta)
	FeatAtomic                     // atomic add/or/and/xor, fetch variants, xchg, cmpxchg on the stack
	FeatJmpTaken                   // conditional jump, taken
	FeatJmpNotTaken                // conditional jump, not taken
	FeatCall                       // helper call (bpf_get_prandom_u32)
	NumFeatures
)

var featureNames = [NumFeatures]string{
	"alu64", "alu32", "shift_imm", "shift_reg", "mul", "div", "mod", "sdiv", "smod",
	"movsx", "bswap", "le", "ld_imm64", "ld_stack", "ldsx_stack", "st_stack", "ld_pkt",
	"st_pkt", "ld_ctx", "atomic", "jmp_taken", "jmp_not_taken", "call",
}

func (f Feature) String() string {
	if f < NumFeatures {
		return featureNames[f]
	}
	return fmt.Sprintf("Feature(%d)", uint8(f))
}

// ParseFeature is the inverse of Feature.String.
func ParseFeature(s string) (Feature, bool) {
	for f, n := range featureNames {
		if n == s {
			return Feature(f), true
		}
	}
	return 0, false
}

// OpFeatures lists the features whose mean is op's cost; nil means not
// measured (the legacy estimate, scaled, applies). Loads and stores average
// their regions and conditional jumps their two directions because the
// model is per op: it sees neither the base register's type nor the branch.
func OpFeatures(op bpf.Op) []Feature {
	info := op.Info()
	switch info.Kind {
	case bpf.KindAdd, bpf.KindSub, bpf.KindAnd, bpf.KindOr, bpf.KindXor, bpf.KindMov, bpf.KindNeg:
		if info.Width == 32 {
			return []Feature{FeatALU32}
		}
		return []Feature{FeatALU64}
	case bpf.KindLsh, bpf.KindRsh, bpf.KindArsh:
		if info.ImmSrc {
			return []Feature{FeatShiftImm}
		}
		return []Feature{FeatShiftReg}
	case bpf.KindMul:
		return []Feature{FeatMul}
	case bpf.KindDiv:
		return []Feature{FeatDiv}
	case bpf.KindMod:
		return []Feature{FeatMod}
	case bpf.KindSDiv:
		return []Feature{FeatSDiv}
	case bpf.KindSMod:
		return []Feature{FeatSMod}
	case bpf.KindMovSX:
		return []Feature{FeatMovSX}
	case bpf.KindBswap, bpf.KindBe:
		return []Feature{FeatBswap}
	case bpf.KindLe:
		return []Feature{FeatLe}
	case bpf.KindLdImm64:
		return []Feature{FeatLdImm64}
	case bpf.KindLoad, bpf.KindLoadAcquire: // load-acquire is a plain load on x86
		return []Feature{FeatLoadStack, FeatLoadPkt, FeatLoadCtx}
	case bpf.KindLoadSX:
		return []Feature{FeatLoadSXStack}
	case bpf.KindStore, bpf.KindStoreImm, bpf.KindStoreRelease:
		return []Feature{FeatStoreStack, FeatStorePkt}
	case bpf.KindAtomic:
		return []Feature{FeatAtomic}
	case bpf.KindCall, bpf.KindCallKfunc:
		return []Feature{FeatCall}
	}
	if info.Has(bpf.FlagCondJump) && info.Kind != bpf.KindMayGoto {
		return []Feature{FeatJmpTaken, FeatJmpNotTaken}
	}
	return nil
}

// FeatureOps lists the ops whose cost uses feature f.
func FeatureOps(f Feature) []bpf.Op {
	var ops []bpf.Op
	for _, op := range bpf.Ops() {
		for _, g := range OpFeatures(op) {
			if g == f {
				ops = append(ops, op)
				break
			}
		}
	}
	return ops
}

// FeatureCost is one fitted feature of a Table.
type FeatureCost struct {
	Name   string  `json:"name"`
	NS     float64 `json:"ns"`     // fitted ns per executed instruction
	StdErr float64 `json:"stderr"` // its standard error (ns)
}

// Table is a fitted latency table, as `k2opt calibrate --write` produces
// it: ns per executed instruction of each feature on one machine, and
// that machine's clock to turn ns into cycles.
type Table struct {
	Version  int     `json:"version"`
	Date     string  `json:"date"`
	Kernel   string  `json:"kernel"`
	CPU      string  `json:"cpu"`
	MHz      float64 `json:"mhz"` // nominal clock: cycles = ns * MHz / 1000
	Programs int     `json:"programs"`
	Trials   int     `json:"trials"`
	Repeat   int     `json:"repeat"`
	Seed     uint64  `json:"seed"`
	Scale    float64 `json:"scale,omitempty"` // program size factor (calibrate --scale)
	// InterceptNS is the fixed cost of one BPF_PROG_TEST_RUN iteration
	// (the runner's loop plus the programs' common prologue and epilogue).
	InterceptNS float64       `json:"intercept_ns"`
	R2          float64       `json:"r2"`
	CVRelErr    float64       `json:"cv_median_rel_err"` // cross-validated median |measured-predicted|/measured
	Features    []FeatureCost `json:"features"`
}

// TableVersion is the format version Table readers accept.
const TableVersion = 1

//go:embed calibrated.json
var calibratedJSON []byte

// MinCycles is the floor of a measured op's cost. The fit of a cheap
// feature can come out at or below zero within its noise; every real
// instruction must still cost more than the deletion placeholder (0).
const MinCycles = 0.1

// ParseTable reads a table in the JSON form of Table.
func ParseTable(b []byte) (*Table, error) {
	var t Table
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("cost table: %v", err)
	}
	if t.Version != TableVersion {
		return nil, fmt.Errorf("cost table: version %d, want %d", t.Version, TableVersion)
	}
	if !(t.MHz > 0) || math.IsInf(t.MHz, 0) {
		return nil, fmt.Errorf("cost table: mhz must be positive, got %v", t.MHz)
	}
	seen := map[string]bool{}
	for _, fc := range t.Features {
		if _, ok := ParseFeature(fc.Name); !ok {
			return nil, fmt.Errorf("cost table: unknown feature %q", fc.Name)
		}
		if seen[fc.Name] {
			return nil, fmt.Errorf("cost table: feature %q twice", fc.Name)
		}
		if math.IsNaN(fc.NS) || math.IsInf(fc.NS, 0) {
			return nil, fmt.Errorf("cost table: feature %q: ns is %v", fc.Name, fc.NS)
		}
		seen[fc.Name] = true
	}
	return &t, nil
}

// LoadTable reads a table file (see ParseTable).
func LoadTable(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTable(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return t, nil
}

// DefaultTable is the table checked in as cost/calibrated.json, the one
// the latency model uses unless UseTable replaces it.
func DefaultTable() *Table {
	t, err := ParseTable(calibratedJSON)
	if err != nil {
		panic("cost: embedded calibrated.json: " + err.Error()) // a build defect, caught by the tests
	}
	return t
}

// FeatureNS returns the fitted ns of f, and whether the table has it.
func (t *Table) FeatureNS(f Feature) (float64, bool) {
	for _, fc := range t.Features {
		if fc.Name == f.String() {
			return fc.NS, true
		}
	}
	return 0, false
}

// OpCycles computes the per-op cycle table of t: the mean of an op's
// features in ns times the clock, at least MinCycles; ops without a
// measured feature keep the legacy estimate scaled by the measured cost of
// a 64-bit ALU op (the legacy table's unit).
func (t *Table) OpCycles() (c [bpf.NumOps]float64) {
	ghz := t.MHz / 1000
	scale := 1.0
	if ns, ok := t.FeatureNS(FeatALU64); ok {
		scale = max(ns*ghz, MinCycles)
	}
	for _, op := range bpf.Ops() {
		fs := OpFeatures(op)
		sum, n := 0.0, 0
		for _, f := range fs {
			if ns, ok := t.FeatureNS(f); ok {
				sum += ns
				n++
			}
		}
		if n > 0 && n == len(fs) {
			c[op] = max(sum/float64(n)*ghz, MinCycles)
		} else {
			c[op] = legacyCycles[op] * scale
		}
	}
	return c
}

// UseTable makes t the latency model's table (nil restores the default).
// Call it before any search starts: the table is read without locking.
func UseTable(t *Table) {
	if t == nil {
		t = DefaultTable()
	}
	opCycles = t.OpCycles()
}

// LegacyOpCycles is the hand-written estimate that preceded calibration
// (simple ALU 1 cycle), kept as the fallback for unmeasured ops and for
// comparison in the calibration report.
func LegacyOpCycles(op bpf.Op) float64 { return legacyCycles[op] }
