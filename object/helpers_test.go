package object

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fixtures are the objects built from testdata/src by testdata/build.sh.
func fixtures(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob("testdata/*.o")
	if err != nil || len(m) == 0 {
		t.Fatalf("no fixtures in testdata (run testdata/build.sh): %v", err)
	}
	return m
}

// corpusObjects are the objects the corpus engineer builds, if present.
func corpusObjects() []string {
	var out []string
	for _, pat := range []string{"../corpus/build/*.o", "../corpus/build/*/*.o", "../corpus/build/*/*/*.o"} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// ciliumObjects are cilium/ebpf's own test objects from the module cache;
// suffix is "-el.elf" or "-eb.elf".
func ciliumObjects(t testing.TB, suffix string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cilium/ebpf").Output()
	if err != nil {
		t.Logf("cilium/ebpf module directory not found: %v", err)
		return nil
	}
	m, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "testdata", "*"+suffix))
	return m
}

func allObjects(t testing.TB) []string {
	objs := append(fixtures(t), corpusObjects()...)
	objs = append(objs, ciliumObjects(t, "-el.elf")...)
	return append(objs, ciliumObjects(t, "-eb.elf")...)
}

// objName names a subtest after an object: testdata/x.o, v3/x.o, cilium/x.elf.
func objName(path string) string {
	if strings.HasPrefix(path, "../corpus/build/") {
		return strings.TrimPrefix(path, "../corpus/build/")
	}
	if strings.HasSuffix(path, ".elf") {
		return "cilium/" + filepath.Base(path)
	}
	return path
}
