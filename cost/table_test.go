package cost

import (
	"math"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

// TestTableOpCycles: per-op cycles from a small fixture table (2000 MHz,
// so cycles = 2*ns): measured features, the mean over a load's regions,
// the floor, and the legacy fallback scaled by the fitted alu64 cost.
func TestTableOpCycles(t *testing.T) {
	tab, err := LoadTable("testdata/table_small.json")
	if err != nil {
		t.Fatal(err)
	}
	c := tab.OpCycles()
	for _, tc := range []struct {
		name string
		op   bpf.Op
		want float64
	}{
		{"alu64 measured", bpf.OpAdd64Imm, 1},
		{"alu32 measured", bpf.OpXor32Reg, 0.5},
		{"neg is alu64", bpf.OpNeg64, 1},
		{"div measured", bpf.OpDiv64Reg, 20},
		{"load: mean of stack, packet, ctx", bpf.OpLdxW, 4},
		{"negative fit floored", bpf.OpLe16, MinCycles},
		{"mul unmeasured: legacy 3 x alu64", bpf.OpMul64Reg, 3},
		{"store unmeasured: legacy 1 x alu64", bpf.OpStxDW, 1},
		{"exit never measured", bpf.OpExit, 2},
		{"sdiv unmeasured", bpf.OpSDiv32Imm, 25},
	} {
		if got := c[tc.op]; math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v costs %v cycles, want %v", tc.name, tc.op, got, tc.want)
		}
	}
}

func TestParseTableErrors(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"testdata/bad_version.json", "version 9"},
		{"testdata/bad_feature.json", `unknown feature "teleport"`},
		{"testdata/missing.json", "no such file"},
	} {
		_, err := LoadTable(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.file, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name, js, want string
	}{
		{"not json", "{", "cost table"},
		{"zero clock", `{"version":1,"mhz":0}`, "mhz must be positive"},
		{"duplicate", `{"version":1,"mhz":1000,"features":[{"name":"mul","ns":1},{"name":"mul","ns":2}]}`, "twice"},
	} {
		if _, err := ParseTable([]byte(tc.js)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestDefaultTable: the checked-in table parses, measures every feature,
// and is what the model uses; UseTable swaps and restores it.
func TestDefaultTable(t *testing.T) {
	def := DefaultTable()
	for f := range NumFeatures {
		if _, ok := def.FeatureNS(f); !ok {
			t.Errorf("calibrated.json lacks feature %v", f)
		}
	}
	want := def.OpCycles()
	for _, op := range bpf.Ops() {
		if OpCycles(op) != want[op] {
			t.Fatalf("OpCycles(%v) = %v, the default table says %v", op, OpCycles(op), want[op])
		}
		if OpCycles(op) < MinCycles {
			t.Errorf("%v costs %v < MinCycles", op, OpCycles(op))
		}
	}
	small, err := LoadTable("testdata/table_small.json")
	if err != nil {
		t.Fatal(err)
	}
	UseTable(small)
	if got := OpCycles(bpf.OpDiv64Reg); got != 20 {
		t.Errorf("after UseTable: div costs %v, want 20", got)
	}
	UseTable(nil)
	if got := OpCycles(bpf.OpDiv64Reg); got != want[bpf.OpDiv64Reg] {
		t.Errorf("after UseTable(nil): div costs %v, want the default %v", got, want[bpf.OpDiv64Reg])
	}
}

// TestFeatureMapping: every feature prices at least one op, Feature names
// round-trip, and ops the calibration cannot measure map to no feature.
func TestFeatureMapping(t *testing.T) {
	for f := range NumFeatures {
		if len(FeatureOps(f)) == 0 {
			t.Errorf("feature %v prices no op", f)
		}
		if g, ok := ParseFeature(f.String()); !ok || g != f {
			t.Errorf("ParseFeature(%q) = %v, %v", f.String(), g, ok)
		}
	}
	for _, op := range []bpf.Op{bpf.OpExit, bpf.OpJa, bpf.OpCallLocal, bpf.OpLdAbsW, bpf.OpMayGoto} {
		if fs := OpFeatures(op); fs != nil {
			t.Errorf("%v maps to %v; the calibration does not measure it", op, fs)
		}
	}
	if fs := OpFeatures(bpf.OpJeq32Imm); len(fs) != 2 {
		t.Errorf("a conditional jump averages both directions, got %v", fs)
	}
}
