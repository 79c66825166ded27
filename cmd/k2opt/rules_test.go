package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesSecondRun runs the real binary twice over a few corpus objects
// with one rule file: the second run applies what the first learned, so
// its programs are at most as large and rules fire (no timing asserted).
func TestRulesSecondRun(t *testing.T) {
	tmp := t.TempDir()
	rules := filepath.Join(tmp, "x.rules")
	objs := []string{"../../corpus/build/v3/tc_nat.o", "../../corpus/build/v3/xdp_reflect.o", "../../corpus/build/v1/flow_dissector.o"}
	run := func(name string) batchReport {
		out := filepath.Join(tmp, name)
		args := append([]string{"batch", "--iters", "5000", "--rules", rules, "-o", out}, objs...)
		stdout, stderr, code := runBin(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", name, code, stdout, stderr)
		}
		if !strings.Contains(stderr, "rules: ") {
			t.Errorf("%s: no rules line on stderr:\n%s", name, stderr)
		}
		var rep batchReport
		b, _ := os.ReadFile(filepath.Join(out, "report.json"))
		if err := json.Unmarshal(b, &rep); err != nil || !rep.Complete || rep.Rules == nil {
			t.Fatalf("%s: report.json: %v (rules %v)", name, err, rep.Rules)
		}
		return rep
	}
	first := run("first")
	if first.Rules.Learned == 0 || first.Rules.Loaded != 0 {
		t.Fatalf("first run: %+v, want rules learned from nothing", *first.Rules)
	}
	text, err := os.ReadFile(rules)
	if err != nil || !strings.HasPrefix(string(text), "k2opt rules 1\n") {
		t.Fatalf("rule file not written: %v", err)
	}
	second := run("second")
	if second.Rules.Loaded == 0 || second.Rules.Fired+second.Rules.Skipped == 0 {
		t.Errorf("second run: %+v, want loaded rules to fire or skip searches", *second.Rules)
	}
	slots := func(r batchReport) map[string]int {
		m := map[string]int{}
		for _, o := range r.Objects {
			for _, p := range o.Programs {
				m[o.Key+"/"+p.Program] = p.SlotsAfter
			}
		}
		return m
	}
	a, b := slots(first), slots(second)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("programs: %v vs %v", a, b)
	}
	fired := int64(0)
	for _, o := range second.Objects {
		for _, p := range o.Programs {
			fired += p.RulesFired + p.RulesSkipped
		}
	}
	if fired == 0 {
		t.Error("no program reports a rule fired or a window skipped")
	}
	for k, n := range a {
		if b[k] > n {
			t.Errorf("%s: %d slots in the second run, %d in the first", k, b[k], n)
		}
	}
}

func TestRulesFlags(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.rules")
	os.WriteFile(bad, []byte("k2opt rules 1\n\nrule size budget=1\n  in\n  exit 0 live r0\n  match\n    Nope r0\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"malformed file", []string{demoObj, "-o", filepath.Join(tmp, "a.o"), "--rules", bad}, bad + ":7: unknown op \"Nope\""},
		{"malformed file in batch", []string{"batch", "-o", filepath.Join(tmp, "b"), "--rules", bad, demoObj}, bad + ":7:"},
		{"both flags", []string{demoObj, "-o", filepath.Join(tmp, "c.o"), "--rules", bad, "--no-rules"}, "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runBin(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", code, stderr, tc.want)
			}
		})
	}
	// optimize creates the file and reports the rules in --report
	rules := filepath.Join(tmp, "new.rules")
	report := filepath.Join(tmp, "r.json")
	stdout, stderr, code := runBin(t, "../../corpus/build/v3/tc_nat.o", "-o", filepath.Join(tmp, "d.o"), "--iters", "3000",
		"--rules", rules, "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "rules: ") {
		t.Errorf("no rules line in the summary:\n%s", stdout)
	}
	var rep runReport
	b, _ := os.ReadFile(report)
	if err := json.Unmarshal(b, &rep); err != nil || rep.Rules == nil || rep.Rules.Learned == 0 {
		t.Errorf("report: %v, rules %+v", err, rep.Rules)
	}
	if _, err := os.Stat(rules); err != nil {
		t.Errorf("rule file not created: %v", err)
	}
}
