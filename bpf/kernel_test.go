package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel is the oracle for Decode's validation: each candidate
// instruction is loaded inside a small socket filter, and the verifier's
// log says whether it refused the encoding itself (unknown opcode, reserved
// fields, bad register...) or only something about types and memory, which
// Decode does not judge.

// structural matches verifier messages about the encoding itself.
var structural = regexp.MustCompile(`unknown opcode|reserved fields|invalid BPF_ALU opcode|invalid BPF_JMP|` +
	`R\d+ is invalid|frame pointer is read only|div by zero|invalid shift|invalid atomic|` +
	`addr_space_cast insn can only convert|invalid may_goto|invalid bpf_ld_imm64|unrecognized bpf_ld_imm64|` +
	`jump out of range|invalid BPF_LD`)

type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// Buffers the kernel reads and writes live in globals: the attr struct
// passes them as integers, which neither keep them alive nor follow a
// stack copy.
var (
	kernelLog     = make([]byte, 1<<16)
	kernelCode    = make([]byte, 1<<12)
	kernelLicense = []byte("GPL\x00")
)

// kernelLoad loads insns as a socket filter and returns the verifier log;
// accepted reports success.
func kernelLoad(t *testing.T, insns []Insn) (log string, accepted bool) {
	t.Helper()
	code := AppendEncode(kernelCode[:0], insns, binary.LittleEndian)
	if &code[0] != &kernelCode[0] {
		t.Fatal("program too long for the kernel test buffer")
	}
	clear(kernelLog[:256])
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_SOCKET_FILTER,
		insnCnt:  uint32(len(code) / InsnSize),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&kernelLicense[0]))),
		logLevel: 1,
		logSize:  uint32(len(kernelLog)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&kernelLog[0]))),
	}
	var fd uintptr
	var errno unix.Errno
	for {
		fd, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		// The verifier gives up with EAGAIN when a signal is pending (Go's
		// preemption signal, for one): try again.
		if errno != unix.EAGAIN && errno != unix.EINTR {
			break
		}
	}
	if errno == 0 {
		unix.Close(int(fd))
		return "", true
	}
	if errors.Is(errno, unix.EPERM) {
		t.Skip("kernel refuses BPF_PROG_LOAD (EPERM): not privileged")
	}
	n := 0
	for n < len(kernelLog) && kernelLog[n] != 0 {
		n++
	}
	return string(kernelLog[:n]), false
}

// harness wraps in in a program whose registers are all initialised. A
// branch around in keeps everything after it statically reachable even
// when in is exit or a jump (the kernel reports unreachable code first).
func harness(in Insn) []Insn {
	return []Insn{
		Mov64Imm(R0, 0), Mov64Reg(R6, R1), Mov64Imm(R2, 0), Mov64Imm(R3, 0), Mov64Imm(R4, 0),
		Mov64Imm(R5, 0), Mov64Imm(R7, 0), Mov64Imm(R8, 0), Mov64Imm(R9, 0), StDW(R10, -8, 0),
		JneImm(R0, 0, int16(in.Slots())),
		in,
		Mov64Imm(R0, 0), Exit(),
	}
}

// kernelJudgesFields reports whether the verifier checks op's fields before
// anything that needs more context than the harness gives (an arena map,
// kfunc BTF, fd_array, a valid call target), so that its verdict is about
// the encoding.
func kernelJudgesFields(op Op) bool {
	switch op {
	case OpCallLocal, OpLddwFunc: // targets are the loader's business, not Decode's
		return false
	case OpAddrSpaceCast: // checked for an arena map first
		return false
	case OpCallKfunc, OpLddwBTFID: // resolved against kernel BTF first
		return false
	case OpLddwMapIdx, OpLddwMapIdxValue: // resolved against fd_array first
		return false
	}
	return true
}

// kernelCandidates mutates one field of every op's samples at a time;
// mapFD is a valid map for the map-loading ld_imm64 variants.
func kernelCandidates(mapFD int32) []Insn {
	var out []Insn
	regs := []Reg{0, 1, 10, 11, 15}
	offs := []int16{0, 1, 2, 8, 16, 32, -1}
	imms := []int32{0, 1, 16, 31, 32, 63, 64, -1, 0x40, 0x41, 0xe0, 0xe1, 0xf1, 0x100, 0x110, 1 << 16, 0x10001}
	for op := Op(1); op < NumOps; op++ {
		if !kernelJudgesFields(op) {
			continue
		}
		for _, base := range samples(op) {
			switch r := op.Info(); {
			case op == OpLddwMapFD || op == OpLddwMapValue:
				base.Imm, base.Imm2 = mapFD, 0
			case r.Flags&FlagAtomic != 0 && r.Kind != KindLoadAcquire:
				base.Dst, base.Off = R10, -8
			}
			out = append(out, base)
			for _, r := range regs {
				in := base
				in.Dst = r
				out = append(out, in)
				in = base
				in.Src = r
				out = append(out, in)
			}
			for _, o := range offs {
				in := base
				in.Off = o
				out = append(out, in)
			}
			for _, v := range imms {
				in := base
				in.Imm = v
				out = append(out, in)
			}
			if base.IsLdImm64() {
				in := base
				in.Imm2 = 3
				out = append(out, in)
			}
		}
	}
	// Every code byte with small field values, to catch codes the table lacks.
	for c := 0; c < 256; c++ {
		if c == OpLdImm64 {
			continue
		}
		for _, f := range []Insn{{}, {Dst: 1}, {Dst: 1, Src: 2}, {Dst: 1, Imm: 16}, {Dst: 1, Src: 2, Imm: 1}, {Off: 1}} {
			f.Code = uint8(c)
			if !kernelJudgesFields(f.Op()) {
				continue
			}
			out = append(out, f)
		}
	}
	return out
}

func TestDecodeAgreesWithKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("loads ~10k programs into the kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("BPF_PROG_LOAD needs root")
	}
	mapFD := createArrayMap(t)
	defer unix.Close(int(mapFD))
	mismatches := 0
	for _, in := range kernelCandidates(mapFD) {
		if !kernelJudgesFields(in.Op()) {
			continue
		}
		prog := harness(in)
		ours := Check(prog)
		log, ok := kernelLoad(t, prog)
		kernelStructural := !ok && structural.MatchString(log)
		if (ours != nil) != kernelStructural {
			mismatches++
			if mismatches <= 40 {
				t.Errorf("%s (%v): Decode says %v; kernel: %q", rawString(in), in, ours, verdictLine(log))
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d mismatches", mismatches)
	}
}

func rawString(in Insn) string {
	return fmt.Sprintf("{code 0x%02x dst %d src %d off %d imm %d imm2 %d}", in.Code, in.Dst, in.Src, in.Off, in.Imm, in.Imm2)
}

// verdictLine is the last log line that is neither a state dump nor the
// "processed N insns" summary.
func verdictLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for k := len(lines) - 1; k >= 0; k-- {
		l := lines[k]
		if l == "" || strings.HasPrefix(l, "processed ") || (len(l) > 0 && l[0] >= '0' && l[0] <= '9') {
			continue
		}
		return l
	}
	return ""
}

// createArrayMap creates a one-element array map with 8-byte values.
func createArrayMap(t *testing.T) int32 {
	t.Helper()
	attr := struct {
		mapType, keySize, valueSize, maxEntries, mapFlags uint32
	}{unix.BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		if errors.Is(errno, unix.EPERM) {
			t.Skip("kernel refuses BPF_MAP_CREATE (EPERM): not privileged")
		}
		t.Fatalf("BPF_MAP_CREATE: %v", errno)
	}
	return int32(fd)
}
