package kernel

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// BenchmarkVerify measures BPF_PROG_LOAD (verify + JIT) of the
// 32-instruction xdp_bench program, the cost of one kernel verdict.
func BenchmarkVerify(b *testing.B) {
	needKernel(b)
	spec, err := ebpf.LoadCollectionSpec("testdata/bench.o")
	if err != nil {
		b.Fatal(err)
	}
	ps := spec.Programs["xdp_bench"]
	o := &Object{}
	b.ReportMetric(float64(len(ps.Instructions)), "insns")
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := o.cilLoad(ps, ebpf.LogLevelStats)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// BenchmarkVerifyRaw is BenchmarkVerify through the raw loader.
func BenchmarkVerifyRaw(b *testing.B) {
	needKernel(b)
	spec, err := ebpf.LoadCollectionSpec("testdata/bench.o")
	if err != nil {
		b.Fatal(err)
	}
	ps := spec.Programs["xdp_bench"]
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := rawLoad(ps, ebpf.LogLevelStats, defaultLogSize)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// BenchmarkLoadObject is the whole path for a small object: parse the ELF,
// create maps, load each program, close.
func BenchmarkLoadObject(b *testing.B) {
	needKernel(b)
	obj, err := os.ReadFile("testdata/xdp.o")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		o, err := Load(obj, nil)
		if err != nil {
			b.Fatal(err)
		}
		o.Close()
	}
}

// BenchmarkTestRun is one BPF_PROG_TEST_RUN of xdp_bench on 64 bytes.
func BenchmarkTestRun(b *testing.B) {
	o := loadFixture(b, "bench.o")
	pkt := ethPacket(0x0800, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.TestRun("xdp_bench", RunOptions{Data: pkt}); err != nil {
			b.Fatal(err)
		}
	}
}
