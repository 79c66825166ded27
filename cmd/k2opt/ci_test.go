package main

import (
	"bytes"
	"context"
	"debug/elf"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k2opt/k2opt/safety/kernel"
)

func needKernelVerifier(t *testing.T) {
	t.Helper()
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel verifier unavailable: %v", err)
	}
}

// TestCI runs the real binary: a clean run passes; limits below the
// programs' sizes fail with one FAIL line per program and exit 1.
func TestCI(t *testing.T) {
	needKernelVerifier(t)
	in := batchInputs(t)
	cases := []struct {
		name  string
		flags []string
		code  int
		want  []string // in stdout
	}{
		{"clean", nil, 0, []string{"ci: ok: 3 object(s), 3 program(s)"}},
		{"max-slots", []string{"--max-slots", "120"}, 1, []string{
			"FAIL ", "program xdp_parse has ", "instruction slots after optimization (317 before), over --max-slots 120",
			"program xdp_reflect has ", "(201 before)",
		}},
		{"max-processed", []string{"--max-processed", "300"}, 1, []string{
			"program xdp_parse: the verifier processed", "over --max-processed 300",
		}},
	}
	out := filepath.Join(t.TempDir(), "out") // shared: later runs reuse the first's work
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"ci", "--iters", batchIters, "-o", out, in}, c.flags...)
			stdout, stderr, code := runBin(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if c.code != 0 {
				last := strings.Split(strings.TrimSpace(stderr), "\n")
				if l := last[len(last)-1]; !strings.HasPrefix(l, "k2opt: ci: ") || !strings.Contains(l, "failed") {
					t.Errorf("last stderr line %q: want the ci verdict", l)
				}
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"ci", "-o", out, "--max-slots", "-1", in},
			{"ci", in},
			{"ci", "-o", out, "--verify", "static", "--max-processed", "10", in},
		} {
			_, stderr, code := runBin(t, args...)
			if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("k2opt %q: exit %d, stderr %q; want 2 and one line", args, code, stderr)
			}
		}
	})
}

// patchXDP rewrites the instruction of the xdp section that matches old
// (8 bytes) into repl.
func patchXDP(t *testing.T, name string, old, repl []byte) string {
	return mutate(t, name, func(b []byte, ef *elf.File) {
		s := ef.Sections[sectionIndex(t, ef, "xdp")]
		sec := b[s.Offset : s.Offset+s.Size]
		for i := len(sec) - 8; i >= 0; i -= 8 {
			if bytes.Equal(sec[i:i+8], old) {
				copy(sec[i:], repl)
				return
			}
		}
		t.Fatalf("instruction % x not found", old)
	})
}

// TestCICheck: the re-check catches an output that is not equivalent (the
// final return value changed) and one the verifier rejects.
func TestCICheck(t *testing.T) {
	needKernelVerifier(t)
	pass := []byte{0xb4, 0x00, 0, 0, 2, 0, 0, 0} // w0 = 2 (XDP_PASS)
	cases := []struct {
		name string
		out  string
		lim  ciLimits
		want string // "" = no failure
	}{
		{"identical", demoObj, ciLimits{}, ""},
		{"returns XDP_DROP", patchXDP(t, "drop.o", pass, []byte{0xb4, 0x00, 0, 0, 1, 0, 0, 0}), ciLimits{}, "is not equivalent to"},
		{"reads an unset register", mutate(t, "bad.o", func(b []byte, ef *elf.File) {
			s := ef.Sections[sectionIndex(t, ef, "xdp")]
			copy(b[s.Offset:], []byte{0x79, 0x50, 0, 0, 0, 0, 0, 0}) // r0 = *(u64 *)(r5 + 0)
		}), ciLimits{}, "does not load"},
		{"slot limit", demoObj, ciLimits{maxSlots: 10}, "over --max-slots 10"},
		{"processed limit", demoObj, ciLimits{maxProcessed: 10}, "over --max-processed 10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fails := ciCheck(context.Background(), demoObj, c.out, c.lim, true, 10*time.Second)
			if c.want == "" {
				if len(fails) != 0 {
					t.Fatalf("unexpected failures: %q", fails)
				}
				return
			}
			if len(fails) == 0 || !strings.Contains(strings.Join(fails, "\n"), c.want) {
				t.Fatalf("failures %q: want one containing %q", fails, c.want)
			}
			for _, f := range fails {
				if strings.Contains(f, "\n") || !strings.Contains(f, "xdp_parse") {
					t.Errorf("failure %q: want one line naming the program", f)
				}
			}
		})
	}
}
