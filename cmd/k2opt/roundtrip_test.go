package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/safety/kernel"
)

// ciliumTestdata lists cilium/ebpf's own little-endian test objects.
func ciliumTestdata(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cilium/ebpf").Output()
	if err != nil {
		t.Skipf("cilium/ebpf module directory unknown: %v", err)
	}
	objs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "testdata", "*-el.elf"))
	if len(objs) == 0 {
		t.Skip("no cilium/ebpf testdata objects in the module cache")
	}
	return objs
}

// bpftoolLoadall loads every program of obj with Debian's bpftool (libbpf)
// and reports success; pins are removed afterwards.
func bpftoolLoadall(t *testing.T, obj string) error {
	t.Helper()
	pin := fmt.Sprintf("/sys/fs/bpf/k2opt_test_%d", os.Getpid())
	defer os.RemoveAll(pin)
	out, err := exec.Command("bpftool", "prog", "loadall", obj, pin).CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("%v: %s", err, lines[len(lines)-1])
	}
	return nil
}

func verdictSummary(t *testing.T, obj string) (map[string]kernel.Status, error) {
	vs, err := kernel.VerifyFile(obj, &kernel.Options{BriefRejectLog: true})
	if err != nil {
		return nil, err
	}
	m := map[string]kernel.Status{}
	for _, v := range vs {
		m[v.Program] = v.Status
	}
	return m, nil
}

// TestRoundTripLoads: for every corpus object and every cilium/ebpf testdata
// object, the -O0 output loads in cilium/ebpf and bpftool whenever the input
// does, with the same per-program verdicts.
func TestRoundTripLoads(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel unavailable: %v", err)
	}
	_, bpftoolErr := exec.LookPath("bpftool")
	if _, err := os.Stat("/sys/fs/bpf"); err != nil {
		bpftoolErr = err
	}
	dir := t.TempDir()
	objs := append(corpusObjects(t), ciliumTestdata(t)...)
	loadedIn := 0
	for _, in := range objs {
		t.Run(filepath.Base(filepath.Dir(in))+"/"+filepath.Base(in), func(t *testing.T) {
			out := filepath.Join(dir, filepath.Base(in))
			if _, stderr, code := runBin(t, "-O0", in, "-o", out); code != 0 {
				// Inputs our reader refuses must be refused as bad input,
				// and only if cilium/ebpf cannot load them either.
				if code != 2 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				if _, err := verdictSummary(t, in); err == nil {
					t.Fatalf("k2opt refuses an object cilium/ebpf reads: %s", stderr)
				}
				t.Skipf("unreadable input, refused with one line: %s", strings.TrimSpace(stderr))
			}
			before, errIn := verdictSummary(t, in)
			after, errOut := verdictSummary(t, out)
			if (errIn == nil) != (errOut == nil) {
				t.Fatalf("cilium/ebpf: input error %v, output error %v", errIn, errOut)
			}
			for prog, st := range before {
				if st == kernel.Accepted {
					loadedIn++
				}
				if after[prog] != st {
					t.Errorf("program %s: input %v, output %v", prog, st, after[prog])
				}
			}
			if bpftoolErr == nil {
				ein, eout := bpftoolLoadall(t, in), bpftoolLoadall(t, out)
				if ein == nil && eout != nil {
					t.Errorf("bpftool loads the input but not the output: %v", eout)
				}
			}
		})
	}
	if loadedIn == 0 {
		t.Fatal("no program of any input loaded: the test proves nothing")
	}
}
