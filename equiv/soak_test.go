//go:build soak

package equiv

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	. "github.com/k2opt/k2opt/bpf"
)

// TestSoakProperty: the random-rewrite property over many more rewrites.
func TestSoakProperty(t *testing.T) {
	property(t, 2, 3000, 10000)
}

func rssMiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

// TestSoakMemory: 200,000 window queries (cache off) stay under 1 GiB
// resident.
func TestSoakMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	ck := NewChecker(&Options{NoCache: true})
	defer ck.Close()
	ops := []Insn{Add64Reg(R0, R1), Sub64Imm(R0, 3), Mul32Reg(R0, R1), Lsh64Imm(R1, 2), Xor64Reg(R1, R0),
		StxDW(R10, R0, -8), LdxW(R1, R10, -8), Mov32Reg(R0, R1), Rsh64Reg(R0, R1), And64Imm(R1, 0xff)}
	const n = 200000
	for i := range n {
		a := make(I, 4)
		for k := range a {
			a[k] = ops[rng.IntN(len(ops))]
		}
		b := append(I(nil), a...)
		b[rng.IntN(4)] = ops[rng.IntN(len(ops))]
		w := Window{A: a, B: b, LiveIn: RegsOf(R0, R1), LiveOut: RegsOf(R0, R1)}
		if _, err := ck.Window(context.Background(), &w); err != nil {
			t.Fatal(err)
		}
		if i%20000 == 0 {
			t.Logf("%d queries: RSS %d MiB", i, rssMiB(t))
		}
	}
	if m := rssMiB(t); m > 1024 {
		t.Fatalf("RSS %d MiB after %d queries", m, n)
	} else {
		t.Logf("RSS %d MiB after %d queries", m, n)
	}
}
