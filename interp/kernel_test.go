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
