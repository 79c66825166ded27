package safety

import (
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used. Benchmarks
// report it next to wall time: on a shared machine wall time includes
// waiting for a core, CPU time does not.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchVerify runs Verify(prog()) b.N times and reports, besides ns/op,
// thread CPU µs per verdict, µs per 100 instructions of the program and
// the processed-instruction estimate.
func benchVerify(b *testing.B, p *Program, prog func() *Program) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res := Verify(p, nil)
	if !res.Accepted {
		b.Fatal(res.Diag)
	}
	n := 0
	c0 := threadCPU()
	for b.Loop() {
		if res := Verify(prog(), nil); !res.Accepted {
			b.Fatal(res.Diag)
		}
		n++
	}
	cpu := float64((threadCPU() - c0).Microseconds()) / float64(n)
	b.ReportMetric(float64(len(p.Insns)), "insns")
	b.ReportMetric(float64(res.Processed), "processed")
	b.ReportMetric(cpu, "cpu-us/op")
	b.ReportMetric(cpu*100/float64(len(p.Insns)), "cpu-us/100insn")
}

// BenchmarkVerify reports the verdict time per corpus program (v3 build),
// verifying one Program repeatedly (its static tables are cached).
// Target: <= 50 µs for a 100-instruction program.
func BenchmarkVerify(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join("..", "corpus", "build", "v3", "*.o"))
	for _, path := range paths {
		for _, p := range linkAll(b, path) {
			b.Run(p.Name, func(b *testing.B) {
				benchVerify(b, p, func() *Program { return p })
			})
		}
	}
}

// BenchmarkVerifyFresh verifies a new Program with the same contents each
// time, as the search does for every candidate (nothing cached).
func BenchmarkVerifyFresh(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join("..", "corpus", "build", "v3", "*.o"))
	for _, path := range paths {
		for _, p := range linkAll(b, path) {
			b.Run(p.Name, func(b *testing.B) {
				benchVerify(b, p, func() *Program {
					return &Program{Name: p.Name, Type: p.Type, Attach: p.Attach, Insns: p.Insns, Funcs: p.Funcs, Refs: p.Refs}
				})
			})
		}
	}
}
