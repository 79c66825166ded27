package interp

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// aluProgram is straight-line ALU code: n instructions over r0-r5.
func aluProgram(n int) []bpf.Insn {
	rng := rand.New(rand.NewPCG(7, 7))
	ops := []func(d, s bpf.Reg) bpf.Insn{bpf.Add64Reg, bpf.Xor64Reg, bpf.Sub32Reg, bpf.Or64Reg, bpf.Mul64Reg, bpf.And32Reg}
	var p []bpf.Insn
	for r := bpf.R0; r <= bpf.R5; r++ {
		p = append(p, bpf.Mov64Imm(r, int32(r)*77+1))
	}
	for len(p) < n-1 {
		d, s := bpf.Reg(rng.IntN(6)), bpf.Reg(rng.IntN(6))
		if rng.IntN(3) == 0 {
			p = append(p, bpf.Lsh64Imm(d, int32(rng.IntN(63))))
		} else {
			p = append(p, ops[rng.IntN(len(ops))](d, s))
		}
	}
	return append(p, bpf.Exit())
}

// threadCPU is the calling thread's CPU time.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRun runs p on in and reports BPF instructions per second of the
// benchmark thread's CPU time ("Minsn/s": per core, what other processes
// on a shared machine do not distort) and per second of wall time.
func benchRun(b *testing.B, p *Program, in *Input) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := NewMachine(p, nil)
	out := m.Run(in) // warm up buffers
	if !out.Fault.Ok() {
		b.Fatalf("fault: %v", out.Fault)
	}
	steps := out.Steps
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU(b)
	for b.Loop() {
		m.Run(in)
	}
	cpu := threadCPU(b) - cpu0
	insns := float64(steps) * float64(b.N)
	b.ReportMetric(insns/cpu.Seconds()/1e6, "Minsn/s")
	b.ReportMetric(insns/b.Elapsed().Seconds()/1e6, "wall-Minsn/s")
}

// BenchmarkALU: straight-line ALU code.
func BenchmarkALU(b *testing.B) {
	p, err := NewProgram("alu", ebpf.XDP, aluProgram(1000), nil)
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, p, &Input{Packet: make([]byte, 64)})
}

// BenchmarkCorpusXDP: corpus XDP programs on a generated IPv4 TCP packet
// whose map lookups hit (the maps hold the keys the program looks up).
func BenchmarkCorpusXDP(b *testing.B) {
	for _, name := range []string{"xdp_parse", "xdp_firewall", "xdp_lb"} {
		b.Run(name, func(b *testing.B) {
			spec, err := ebpf.LoadCollectionSpec("../corpus/build/v3/" + name + ".o")
			if err != nil {
				b.Skipf("corpus object: %v", err)
			}
			p, err := FromSpec(spec, name)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			// the longest-running fault-free generated input
			var best *Input
			var bestSteps uint64
			m := NewMachine(p, nil)
			for _, in := range GenInputs(p, rng, 200) {
				if out := m.Run(in); out.Fault.Ok() && out.Steps > bestSteps {
					best, bestSteps = in, out.Steps
				}
			}
			if best == nil {
				b.Fatal("no fault-free input")
			}
			benchRun(b, p, best)
		})
	}
}
