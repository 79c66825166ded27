package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// batchSample is three small corpus objects of different program types.
var batchSample = []string{
	"../../corpus/build/v3/sock_filter.o",
	"../../corpus/build/v3/xdp_parse.o",
	"../../corpus/build/v1/xdp_reflect.o",
}

const batchIters = "5000"

// batchInputs copies the sample into a fresh directory tree (two levels,
// like the corpus) and returns its root.
func batchInputs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "in")
	for _, p := range batchSample {
		dst := filepath.Join(root, filepath.Base(filepath.Dir(p)), filepath.Base(p))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// outputs returns every file of a batch OUTDIR but the state, by path.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.IsDir() && d.Name() == stateDir {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() != "report.json" {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			m[rel] = b
		}
		return nil
	})
	return m
}

func sameOutputs(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%s: %d files vs %d", what, len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok {
			t.Errorf("%s: %s missing", what, k)
		} else if !bytes.Equal(v, w) {
			t.Errorf("%s: %s differs", what, k)
		}
	}
}

func batchRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	stdout, stderr, code := runBin(t, append([]string{"batch", "--iters", batchIters}, args...)...)
	if code != 0 {
		t.Fatalf("k2opt batch %q: exit %d\n%s%s", args, code, stdout, stderr)
	}
	return stdout, stderr
}

// TestBatch: a whole run; an interrupted (SIGINT) and resumed run; a run
// that lost some outputs and state; and three shards merged all give the
// same objects and the same summary.
func TestBatch(t *testing.T) {
	in := batchInputs(t)
	tmp := t.TempDir()
	whole := filepath.Join(tmp, "whole")
	stdout, _ := batchRun(t, "-o", whole, in)
	want := outputs(t, whole)
	for _, f := range []string{"v3/sock_filter.o", "v3/xdp_parse.o", "v1/xdp_reflect.o", "summary.md", "summary.csv"} {
		if want[f] == nil {
			t.Fatalf("whole run did not write %s (files: %v)", f, keys(want))
		}
	}
	if !strings.Contains(stdout, "| v3/xdp_parse.o | xdp_parse |") || !strings.Contains(string(want["summary.md"]), "**total**") {
		t.Errorf("summary table lacks rows:\n%s", stdout)
	}
	var rep batchReport
	b, _ := os.ReadFile(filepath.Join(whole, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil || !rep.Complete || len(rep.Objects) != 3 {
		t.Fatalf("report.json: err %v, complete %v, %d objects", err, rep.Complete, len(rep.Objects))
	}
	for _, o := range rep.Objects {
		if o.Status != "done" || len(o.Programs) == 0 {
			t.Errorf("%s: status %q, %d programs", o.Key, o.Status, len(o.Programs))
		}
	}

	t.Run("same as k2opt optimize", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.o")
		if _, stderr, code := runBin(t, filepath.Join(in, "v3/xdp_parse.o"), "-o", out, "--iters", batchIters, "--seed", "1", "--jobs", "1"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, _ := os.ReadFile(out)
		if !bytes.Equal(b, want["v3/xdp_parse.o"]) {
			t.Error("batch and k2opt IN -o OUT gave different objects for the same seed and budget")
		}
	})

	t.Run("rerun skips everything", func(t *testing.T) {
		_, stderr := batchRun(t, "-o", whole, in)
		if !strings.Contains(stderr, "resuming: 3 object(s)") {
			t.Errorf("rerun did not reuse the finished objects: %q", stderr)
		}
		sameOutputs(t, "rerun", want, outputs(t, whole))
	})

	t.Run("interrupted and resumed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(k2optBin(t), "batch", "--iters", batchIters, "--parallel", "1", "-o", dir, in)
		var se bytes.Buffer
		cmd.Stderr = &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Stop it (SIGTERM, as a cancelled CI job) once the first program
		// is recorded. (SIGINT during a Z3 check hits Z3's own handler.)
		for range 3000 {
			if m, _ := filepath.Glob(filepath.Join(dir, stateDir, "*", "prog-*.json")); len(m) > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			if ee.ExitCode() != 1 || !strings.Contains(se.String(), "run the same command again to resume") {
				t.Fatalf("interrupted run: exit %d, stderr %q", ee.ExitCode(), se.String())
			}
		} else {
			t.Log("the run finished before the interrupt arrived")
		}
		_, stderr := batchRun(t, "-o", dir, in)
		if !strings.Contains(stderr, "resuming") {
			t.Errorf("resumed run reused nothing: %q", stderr)
		}
		sameOutputs(t, "interrupted+resumed", want, outputs(t, dir))
	})

	t.Run("lost outputs and state", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		batchRun(t, "-o", dir, in)
		// A killed run leaves some programs recorded and some objects
		// unwritten: drop one output, one object marker and one program.
		os.Remove(filepath.Join(dir, "v1/xdp_reflect.o"))
		m, _ := filepath.Glob(filepath.Join(dir, stateDir, "*", "object.json"))
		p, _ := filepath.Glob(filepath.Join(dir, stateDir, "*", "prog-xdp_parse.json"))
		if len(m) != 3 || len(p) != 1 {
			t.Fatalf("state: %d object markers, %d xdp_parse records", len(m), len(p))
		}
		os.Remove(filepath.Join(filepath.Dir(p[0]), "object.json"))
		os.Remove(p[0])
		_, stderr := batchRun(t, "-o", dir, in)
		if !strings.Contains(stderr, "resuming: 1 object(s) and 1 program(s)") {
			t.Errorf("stderr %q: want 1 object and 1 program reused", stderr)
		}
		sameOutputs(t, "lost+resumed", want, outputs(t, dir))
	})

	t.Run("three shards merged", func(t *testing.T) {
		dir := t.TempDir()
		var dirs []string
		for i := 1; i <= 3; i++ {
			d := filepath.Join(dir, "shard"+string(rune('0'+i)))
			batchRun(t, "-o", d, "--shard", string(rune('0'+i))+"/3", in)
			dirs = append(dirs, d)
			if _, err := os.Stat(filepath.Join(d, "report-"+string(rune('0'+i))+"-of-3.json")); err != nil {
				t.Fatalf("shard %d: %v", i, err)
			}
		}
		merged := filepath.Join(dir, "merged")
		stdout, stderr, code := runBin(t, append([]string{"batch", "merge", "-o", merged}, dirs...)...)
		if code != 0 {
			t.Fatalf("merge: exit %d: %s", code, stderr)
		}
		for _, f := range []string{"summary.md", "summary.csv"} {
			got, _ := os.ReadFile(filepath.Join(merged, f))
			if !bytes.Equal(got, want[f]) {
				t.Errorf("merged %s differs from the whole run's:\n%s\nwant:\n%s", f, got, want[f])
			}
		}
		if !strings.Contains(stdout, "**total**") {
			t.Errorf("merge printed no table: %q", stdout)
		}
		// each object is in exactly one shard, identical to the whole run
		for _, k := range []string{"v3/sock_filter.o", "v3/xdp_parse.o", "v1/xdp_reflect.o"} {
			n := 0
			for _, d := range dirs {
				if b, err := os.ReadFile(filepath.Join(d, k)); err == nil {
					n++
					if !bytes.Equal(b, want[k]) {
						t.Errorf("%s: shard output differs from the whole run's", k)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s is in %d shards, want 1", k, n)
			}
		}
		cases := []struct {
			name string
			args []string
			code int
		}{
			{"missing shard", dirs[:2], 1},
			{"shard twice", []string{dirs[0], dirs[0], dirs[1]}, 2},
			{"not a report", []string{filepath.Join(dirs[0], "summary.csv")}, 2},
		}
		for _, c := range cases {
			_, stderr, code := runBin(t, append([]string{"batch", "merge", "-o", filepath.Join(dir, "bad")}, c.args...)...)
			if code != c.code || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("%s: exit %d, stderr %q; want %d and one line", c.name, code, stderr, c.code)
			}
		}
		if _, _, code := runBin(t, append([]string{"batch", "merge", "--partial", "-o", filepath.Join(dir, "partial")}, dirs[:2]...)...); code != 0 {
			t.Errorf("merge --partial: exit %d", code)
		}
	})
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestBatchUsage(t *testing.T) {
	in := batchInputs(t)
	out := filepath.Join(t.TempDir(), "out")
	empty := t.TempDir()
	for _, args := range [][]string{
		{"batch", in},
		{"batch", "-o", out},
		{"batch", "-o", out, "--shard", "0/3", in},
		{"batch", "-o", out, "--shard", "4/3", in},
		{"batch", "-o", out, "--shard", "two", in},
		{"batch", "-o", out, "--parallel", "0", in},
		{"batch", "-o", out, "--objective", "speed", in},
		{"batch", "-o", out, empty},
		{"batch", "-o", out, filepath.Join(in, "nope.o")},
		{"batch", "-o", filepath.Join(in, "v3"), filepath.Join(in, "v3")},
		{"batch", "merge", "-o", out},
	} {
		_, stderr, code := runBin(t, args...)
		if code != 2 || stderr == "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("k2opt %q: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.json")); err == nil {
		t.Error("a rejected command wrote a report")
	}
}

// TestBatchBadObject: an object that is not ELF is reported, the others
// are still written, and the exit code is 1.
func TestBatchBadObject(t *testing.T) {
	in := t.TempDir()
	os.WriteFile(filepath.Join(in, "bad.o"), []byte("not an object\n"), 0o644)
	b, _ := os.ReadFile(batchSample[0])
	os.WriteFile(filepath.Join(in, "good.o"), b, 0o644)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := runBin(t, "batch", "--iters", batchIters, "-o", out, in)
	if code != 1 || !strings.Contains(stderr, "bad.o") {
		t.Fatalf("exit %d, stderr %q; want 1 naming bad.o", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "good.o")); err != nil {
		t.Errorf("the good object was not written: %v", err)
	}
	if !strings.Contains(stdout, "| bad.o | - |") {
		t.Errorf("summary lacks the failed object:\n%s", stdout)
	}
}
