package interp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety/kernel"
)

// needKernel skips when this process may not load BPF programs.
func needKernel(tb testing.TB) {
	tb.Helper()
	if err := kernel.Available(); err != nil {
		tb.Skipf("kernel refuses BPF_PROG_LOAD: %v", err)
	}
}

// loadRaw loads insns as a program of type typ into the kernel.
func loadRaw(tb testing.TB, typ ebpf.ProgramType, insns []bpf.Insn) (*ebpf.Program, error) {
	tb.Helper()
	raw := bpf.Encode(insns, binary.LittleEndian) // cilium/ebpf compares against LittleEndian
	ai, err := asm.AppendInstructions(nil, bytes.NewReader(raw), binary.LittleEndian, "linux")
	if err != nil {
		tb.Fatalf("unmarshal: %v", err)
	}
	p, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{Type: typ, Instructions: ai, License: "GPL"},
		ebpf.ProgramOptions{LogDisabled: true})
	if errors.Is(err, unix.EPERM) {
		tb.Skipf("kernel refuses BPF_PROG_LOAD: %v", err)
	}
	if err != nil {
		// load again for the verifier's log
		_, err2 := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{Type: typ, Instructions: ai, License: "GPL"},
			ebpf.ProgramOptions{LogLevel: ebpf.LogLevelInstruction})
		var ve *ebpf.VerifierError
		if errors.As(err2, &ve) && len(ve.Log) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.Join(ve.Log[max(0, len(ve.Log)-6):], " | "))
		}
	}
	return p, err
}

// diffRandom runs nprog random programs on ninput packets each in the
// kernel and the interpreter and returns the number of compared pairs.
func diffRandom(t *testing.T, seed uint64, nprog, ninput int) int {
	needKernel(t)
	rng := rand.New(rand.NewPCG(seed, 0x6b326f7074))
	pairs, rejected := 0, 0
	for pi := range nprog {
		insns := RandomXDP(rng, RandOptions{V4: pi%2 == 0, Body: 10 + rng.IntN(50)})
		prog, err := NewProgram("rand", ebpf.XDP, insns, nil)
		if err != nil {
			t.Fatalf("program %d: %v", pi, err)
		}
		kp, err := loadRaw(t, ebpf.XDP, insns)
		if err != nil {
			rejected++
			if rejected <= 3 {
				t.Logf("program %d rejected: %v\n%s", pi, err, bpf.Disasm(insns))
			}
			continue
		}
		m := NewMachine(prog, nil)
		for range ninput {
			pkt := RandomPacket(rng)
			kr, err := kernel.TestRun(kp, kernel.RunOptions{Data: pkt})
			if err != nil {
				t.Fatalf("program %d: test run: %v", pi, err)
			}
			out := m.Run(&Input{Packet: pkt})
			pairs++
			if msg := compareXDP(kr, out); msg != "" {
				t.Errorf("program %d mismatch: %s\ninput %x\n%s", pi, msg, pkt, bpf.Disasm(insns))
				kp.Close()
				return pairs
			}
		}
		kp.Close()
	}
	if rejected*10 > nprog {
		t.Errorf("verifier rejected %d of %d random programs (generator bug)", rejected, nprog)
	}
	return pairs
}

func compareXDP(kr kernel.RunResult, out Output) string {
	if !out.Fault.Ok() {
		return fmt.Sprintf("interpreter fault %v, kernel retval %d", out.Fault, kr.Retval)
	}
	if uint64(kr.Retval) != out.R0&0xffffffff {
		return fmt.Sprintf("retval: kernel %d, interp %d", kr.Retval, out.R0)
	}
	if !bytes.Equal(kr.DataOut, out.Packet) {
		for i := range min(len(kr.DataOut), len(out.Packet)) {
			if kr.DataOut[i] != out.Packet[i] {
				return fmt.Sprintf("packet differs first at byte %d (kernel %x, interp %x); lens %d/%d", i,
					kr.DataOut[i&^7:min(i&^7+8, len(kr.DataOut))], out.Packet[i&^7:min(i&^7+8, len(out.Packet))], len(kr.DataOut), len(out.Packet))
			}
		}
		return fmt.Sprintf("packet length: kernel %d, interp %d", len(kr.DataOut), len(out.Packet))
	}
	return ""
}

// TestDiffRandom: a few thousand (program, input) pairs in make test; the
// soak target runs 100,000+.
func TestDiffRandom(t *testing.T) {
	n := diffRandom(t, 1, 150, 20)
	if testing.Short() {
		return
	}
	t.Logf("%d (program, input) pairs, 0 mismatches", n)
}

// TestCmpxchg32Zext pins the ISA semantics of a 32-bit cmpxchg (r0 is
// zero-extended, also on success) and records what this kernel does.
// Kernel 6.18 on x86-64 omits the zero-extension when the only 64-bit
// read of r0 lies behind a pruned verifier state (the Ja below is a
// pruning point): x86's cmpxchg does not write eax on success, so r0 keeps
// its old high half. We follow the ISA; RandomXDP emits w0 = w0 after each
// 32-bit cmpxchg so that the differential test compares ISA behaviour.
func TestCmpxchg32Zext(t *testing.T) {
	prog := func(tail ...bpf.Insn) []bpf.Insn {
		p := []bpf.Insn{
			bpf.LdxW(bpf.R6, bpf.R1, 0),
			bpf.LdxW(bpf.R7, bpf.R1, 4),
			bpf.Mov64Reg(bpf.R8, bpf.R6),
			bpf.Add64Imm(bpf.R8, 64),
			bpf.JleReg(bpf.R8, bpf.R7, 2),
			bpf.Mov64Imm(bpf.R0, 1),
			bpf.Exit(),
			bpf.Mov64Imm(bpf.R0, -1),
			bpf.Mov64Imm(bpf.R2, 5),
			bpf.LdxB(bpf.R8, bpf.R6, 0),
			bpf.StDW(bpf.R10, -8, -1),
			bpf.Atomic(bpf.OpAtomicCmpxchgW, bpf.R10, bpf.R2, -4), // succeeds: r0 = 0xffffffff
		}
		p = append(p, tail...)
		return append(p, bpf.StxDW(bpf.R6, bpf.R0, 0), bpf.Mov64Imm(bpf.R0, 2), bpf.Exit())
	}
	cases := []struct {
		name  string
		insns []bpf.Insn
	}{
		{"straight", prog()},
		{"branch", prog(bpf.JeqImm(bpf.R8, 0, 1), bpf.Rsh32Imm(bpf.R0, 0))},
		{"branch-prune", prog(bpf.JeqImm(bpf.R8, 0, 1), bpf.Rsh32Imm(bpf.R0, 0), bpf.Ja(0))},
	}
	for _, c := range cases {
		p, err := NewProgram(c.name, ebpf.XDP, c.insns, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := NewMachine(p, nil).Run(&Input{Packet: make([]byte, 64)})
		got := binary.LittleEndian.Uint64(out.Packet)
		if !out.Fault.Ok() || got != 0xffffffff {
			t.Errorf("%s: interpreter r0 = %#x (%v), want 0xffffffff", c.name, got, out.Fault)
		}
		if kernel.Available() != nil {
			continue
		}
		kp, err := loadRaw(t, ebpf.XDP, c.insns)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		kr, err := kernel.TestRun(kp, kernel.RunOptions{Data: make([]byte, 64)})
		kp.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: kernel r0 = %#x", c.name, binary.LittleEndian.Uint64(kr.DataOut))
	}
}

// TestSkbTestRunTruncatedL3 pins the kernel's rule that skbTestRunAccepts
// encodes: a tc or socket-filter test run refuses (EINVAL) a packet whose
// Ethernet type is IPv4 or IPv6 but whose L3 header is cut short.
func TestSkbTestRunTruncatedL3(t *testing.T) {
	needKernel(t)
	for _, typ := range []ebpf.ProgramType{ebpf.SchedCLS, ebpf.SocketFilter} {
		kp, err := loadRaw(t, typ, []bpf.Insn{bpf.Mov64Imm(bpf.R0, 0), bpf.Exit()})
		if err != nil {
			t.Fatal(err)
		}
		for _, proto := range []uint16{0x0800, 0x86dd, 0x8100, 0x0806} {
			for n := 14; n < 80; n++ {
				p := make([]byte, n)
				binary.BigEndian.PutUint16(p[12:], proto)
				opts := kernel.RunOptions{Data: p}
				in := &Input{Packet: p, Ctx: make([]byte, skbSize)}
				if typ == ebpf.SchedCLS {
					opts.Ctx = make([]byte, skbSize)
				} else {
					in.Packet = p[14:]
					binary.BigEndian.PutUint16(in.Ctx[skbProtocol:], proto)
				}
				_, err := kernel.TestRun(kp, opts)
				if want := skbTestRunAccepts(typ, in); want != (err == nil) {
					t.Errorf("%v type %#04x len %d: predicate %v, kernel error %v", typ, proto, n, want, err)
				}
			}
		}
		kp.Close()
	}
}
