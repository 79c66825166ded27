package kernel

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by Available's error when this process cannot
// load BPF programs (not root, no CAP_BPF, BPF disabled).
var ErrUnavailable = errors.New("kernel BPF unavailable")

var (
	probeOnce sync.Once
	probeErr  error
)

// Available reports whether this process can load BPF programs. The probe
// loads a two-instruction XDP program once; the result is cached. The error
// is one line, wraps ErrUnavailable and the errno, so callers can skip:
//
//	if err := kernel.Available(); err != nil { t.Skip(err) }
func Available() error {
	probeOnce.Do(func() { probeErr = probe() })
	return probeErr
}

func probe() error {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; lifting it is
	// harmless on newer ones and needs the same privilege as loading.
	_ = rlimit.RemoveMemlock()
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
		License:      "GPL",
	}, ebpf.ProgramOptions{LogDisabled: true})
	if err == nil {
		return prog.Close()
	}
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: BPF_PROG_LOAD not permitted (need root or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN): %v", ErrUnavailable, err)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w: the bpf syscall is not implemented: %v", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: probe load failed: %v", ErrUnavailable, err)
}
