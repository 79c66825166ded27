package interp

import (
	"math/rand/v2"
	"testing"

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

func benchRun(b *testing.B, p *Program, in *Input) {
	m := NewMachine(p, nil)
	out := m.Run(in) // warm up buffers
	if !out.Fault.Ok() {
		b.Fatalf("fault: %v", out.Fault)
	}
	steps := out.Steps
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Run(in)
	}
	b.ReportMetric(float64(steps)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Minsn/s")
}

// BenchmarkALU: straight-line ALU code.
func BenchmarkALU(b *testing.B) {
	p, err := NewProgram("alu", ebpf.XDP, aluProgram(1000), nil)
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, p, &Input{Packet: make([]byte, 64)})
}
