package safety

import (
	"path/filepath"
	"testing"

	"github.com/k2opt/k2opt/object"
)

// corpusObjects lists every built corpus object.
func corpusObjects(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, v := range []string{"v1", "v3", "v4"} {
		m, err := filepath.Glob(filepath.Join("..", "corpus", "build", v, "*.o"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatal("no corpus objects under ../corpus/build")
	}
	return out
}

func linkAll(t testing.TB, path string) []*Program {
	t.Helper()
	f, err := object.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*Program
	for _, fn := range f.Programs() {
		p, err := FromObject(f, fn.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestCorpusAccepted: every corpus program passes; the kernel agrees
// (kernel_test.go compares processed counts).
func TestCorpusAccepted(t *testing.T) {
	for _, path := range corpusObjects(t) {
		for _, p := range linkAll(t, path) {
			name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path) + ":" + p.Name
			t.Run(name, func(t *testing.T) {
				res := Verify(p, nil)
				if !res.Accepted {
					t.Fatalf("rejected: %v", res.Diag)
				}
				t.Logf("processed %d, states %d, pruned %d", res.Processed, res.States, res.Pruned)
			})
		}
	}
}
