package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/cost/calibrate"
)

// TestCalibrate runs the real binary with a tiny budget: the table it
// writes loads with cost.LoadTable and measures every feature; the JSON
// holds one sample per program.
func TestCalibrate(t *testing.T) {
	needKernelVerifier(t)
	dir := t.TempDir()
	tab, js := filepath.Join(dir, "table.json"), filepath.Join(dir, "raw.json")
	stdout, stderr, code := runBin(t, "calibrate", "--programs", "40", "--trials", "1", "--repeat", "5", "--write", tab, "--json", js)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"| alu64 |", "| call |", "| (intercept: per run) |", "fit: R^2", "cross-validated", "legacy table", "worst fitted programs"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, stdout)
		}
	}
	table, err := cost.LoadTable(tab)
	if err != nil {
		t.Fatal(err)
	}
	if table.Programs != 40 || table.Trials != 1 || table.Repeat != 5 || !(table.MHz > 0) {
		t.Errorf("table header: %+v", table)
	}
	for f := range cost.NumFeatures {
		if _, ok := table.FeatureNS(f); !ok {
			t.Errorf("table lacks %v", f)
		}
	}
	var raw calibrate.Result
	b, err := os.ReadFile(js)
	if err != nil || json.Unmarshal(b, &raw) != nil || len(raw.Samples) != 40 {
		t.Fatalf("json: %v, %d samples", err, len(raw.Samples))
	}
	for _, s := range raw.Samples {
		if len(s.RawNS) != 1 || s.MedianNS <= 0 || s.Insns <= 0 {
			t.Fatalf("sample %s incomplete: %+v", s.Name, s)
		}
	}
}

func TestCalibrateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trials", "0"}, "--trials must be at least 1"},
		{[]string{"--programs", "10"}, "--programs must be at least"},
		{[]string{"--repeat", "0"}, "--repeat must be between"},
		{[]string{"extra.o"}, "takes no arguments"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		_, stderr, code := runBin(t, append([]string{"calibrate"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
	stdout, _, code := runBin(t, "calibrate", "-h")
	if code != 0 || !strings.Contains(stdout, "--write") && !strings.Contains(stdout, "-write") {
		t.Errorf("-h: exit %d, %q", code, stdout)
	}
}
