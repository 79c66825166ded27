package interp

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety/kernel"
)

var update = flag.Bool("update", false, "rewrite testdata/edge.golden from the kernel")

// Edge cases: one instruction applied to r2 (dst) and r3 (src) loaded
// from the packet; the result r2 is stored at packet offset 16. The
// expected values in testdata/edge.golden were produced by the kernel
// (go test -run TestEdgeCasesKernel -update); TestEdgeCasesKernel
// re-checks them against the running kernel.

var edgeVals = []uint64{0, 1, 2, 7, 31, 32, 33, 63, 64, 65, 0x7f, 0x80, 0xff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
	0xffffffff, 0x100000000, 0x8000000000000000, 0x7fffffffffffffff, 0xffffffffffffffff, 0xfffffffffffffff9,
	0xffffffff80000000, 0x0123456789abcdef}

var edgeImms = []int32{1, -1, 2, -7, 7, 0x7fffffff, -0x80000000, 31, 32, 63}

type edgeCase struct {
	insn     bpf.Insn
	dst, src uint64
}

func (c edgeCase) key() string {
	return fmt.Sprintf("%02x %x %x %d %d %#x %#x", c.insn.Code, c.insn.Src, c.insn.Off, c.insn.Imm, 0, c.dst, c.src)
}

func edgeCases() []edgeCase {
	var cases []edgeCase
	for _, op := range bpf.Ops() {
		info := op.Info()
		switch info.Kind {
		case bpf.KindDiv, bpf.KindSDiv, bpf.KindMod, bpf.KindSMod, bpf.KindLsh, bpf.KindRsh, bpf.KindArsh,
			bpf.KindMovSX, bpf.KindNeg, bpf.KindLe, bpf.KindBe, bpf.KindBswap, bpf.KindMov, bpf.KindMul:
		default:
			continue
		}
		if info.Class != bpf.ClassALU && info.Class != bpf.ClassALU64 {
			continue
		}
		in := bpf.New(op, bpf.R2, bpf.R3, 0, 0)
		switch {
		case info.Kind == bpf.KindLe || info.Kind == bpf.KindBe || info.Kind == bpf.KindBswap || info.Kind == bpf.KindNeg:
			for _, d := range edgeVals {
				cases = append(cases, edgeCase{in, d, 0})
			}
		case info.ImmSrc:
			for _, imm := range edgeImms {
				in.Imm = imm
				if info.ImmF == bpf.FShift {
					if imm < 0 || imm >= int32(info.Width) {
						continue
					}
				}
				for _, d := range edgeVals {
					cases = append(cases, edgeCase{in, d, 0})
				}
			}
		default:
			for _, d := range edgeVals {
				for _, s := range edgeVals {
					cases = append(cases, edgeCase{in, d, s})
				}
			}
		}
	}
	// sign-extending loads of every width
	for _, op := range []bpf.Op{bpf.OpLdxSB, bpf.OpLdxSH, bpf.OpLdxSW, bpf.OpLdxB, bpf.OpLdxH, bpf.OpLdxW} {
		for _, d := range edgeVals {
			cases = append(cases, edgeCase{bpf.New(op, bpf.R2, bpf.R6, 0, 0), d, 0})
		}
	}
	return cases
}

func edgeProgram(c edgeCase) []bpf.Insn {
	return []bpf.Insn{
		bpf.LdxW(bpf.R6, bpf.R1, 0),
		bpf.LdxW(bpf.R7, bpf.R1, 4),
		bpf.Mov64Reg(bpf.R8, bpf.R6),
		bpf.Add64Imm(bpf.R8, 24),
		bpf.JleReg(bpf.R8, bpf.R7, 2),
		bpf.Mov64Imm(bpf.R0, 1),
		bpf.Exit(),
		bpf.LdxDW(bpf.R2, bpf.R6, 0),
		bpf.LdxDW(bpf.R3, bpf.R6, 8),
		c.insn,
		bpf.StxDW(bpf.R6, bpf.R2, 16),
		bpf.Mov64Imm(bpf.R0, 2),
		bpf.Exit(),
	}
}

func edgePacket(c edgeCase) []byte {
	p := make([]byte, 24)
	binary.LittleEndian.PutUint64(p, c.dst)
	binary.LittleEndian.PutUint64(p[8:], c.src)
	return p
}

func readGolden(t *testing.T) map[string]uint64 {
	f, err := os.Open("testdata/edge.golden")
	if err != nil {
		t.Fatalf("golden file: %v (regenerate with -run TestEdgeCasesKernel -update)", err)
	}
	defer f.Close()
	g := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("golden: bad line %q", line)
		}
		x, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("golden: bad value in %q", line)
		}
		g[k] = x
	}
	return g
}

func runEdge(t *testing.T, c edgeCase) uint64 {
	p, err := NewProgram("edge", ebpf.XDP, edgeProgram(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := NewMachine(p, nil).Run(&Input{Packet: edgePacket(c)})
	if !out.Fault.Ok() || out.R0 != 2 {
		t.Fatalf("%s: fault %v r0 %d", c.insn, out.Fault, out.R0)
	}
	return binary.LittleEndian.Uint64(out.Packet[16:])
}

// TestEdgeCases checks division, shift, sign-extension and byte-order
// edge cases against values the kernel produced.
func TestEdgeCases(t *testing.T) {
	g := readGolden(t)
	cases := edgeCases()
	if len(g) != len(cases) {
		t.Fatalf("golden has %d cases, generator %d (regenerate with -update)", len(g), len(cases))
	}
	bad := 0
	for _, c := range cases {
		want, ok := g[c.key()]
		if !ok {
			t.Fatalf("case %s (%s) missing from golden file", c.key(), c.insn)
		}
		if got := runEdge(t, c); got != want {
			bad++
			if bad < 20 {
				t.Errorf("%s with dst=%#x src=%#x: got %#x, kernel %#x", c.insn, c.dst, c.src, got, want)
			}
		}
	}
}

// TestEdgeCasesKernel re-derives the golden values from the kernel.
func TestEdgeCasesKernel(t *testing.T) {
	needKernel(t)
	cases := edgeCases()
	var b strings.Builder
	b.WriteString("# code src off imm 0 dst src = result, produced by BPF_PROG_TEST_RUN on Linux 6.18 (x86_64)\n")
	var g map[string]uint64
	if !*update {
		g = readGolden(t)
	}
	for _, c := range cases {
		kp, err := loadRaw(t, ebpf.XDP, edgeProgram(c))
		if err != nil {
			t.Fatalf("%s: %v", c.insn, err)
		}
		kr, err := kernel.TestRun(kp, kernel.RunOptions{Data: edgePacket(c)})
		kp.Close()
		if err != nil || kr.Retval != 2 {
			t.Fatalf("%s: test run: %v retval %d", c.insn, err, kr.Retval)
		}
		v := binary.LittleEndian.Uint64(kr.DataOut[16:])
		fmt.Fprintf(&b, "%s = %#x\n", c.key(), v)
		if g != nil && g[c.key()] != v {
			t.Errorf("%s dst=%#x src=%#x: golden %#x, kernel now %#x", c.insn, c.dst, c.src, g[c.key()], v)
		}
	}
	if *update {
		if err := os.WriteFile("testdata/edge.golden", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
