package kernel

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ErrNotRunnable is returned by TestRun for program types the kernel cannot
// run with BPF_PROG_TEST_RUN (kprobe, tracepoint, perf_event, lsm, cgroup
// sock hooks, ...). The interpreter and the proofs carry those.
var ErrNotRunnable = errors.New("program type cannot be test-run")

// ErrDataOutTooSmall is returned (wrapped) when the packet the program
// produced did not fit RunOptions.DataOutCap; the result holds what fit.
var ErrDataOutTooSmall = errors.New("data out buffer too small")

// runnable lists the program types with a BPF_PROG_TEST_RUN implementation
// (net/bpf/test_run.c and the syscall/struct_ops runners).
var runnable = map[ebpf.ProgramType]bool{
	ebpf.SocketFilter:  true,
	ebpf.SchedCLS:      true,
	ebpf.SchedACT:      true,
	ebpf.XDP:           true,
	ebpf.CGroupSKB:     true,
	ebpf.LWTIn:         true,
	ebpf.LWTOut:        true,
	ebpf.LWTXmit:       true,
	ebpf.LWTSeg6Local:  true,
	ebpf.FlowDissector: true,
	ebpf.RawTracepoint: true,
	ebpf.Tracing:       true,
	ebpf.SkLookup:      true,
	ebpf.Syscall:       true,
	ebpf.Netfilter:     true,
	ebpf.StructOps:     true,
}

// Runnable reports whether programs of type t can be test-run.
func Runnable(t ebpf.ProgramType) bool { return runnable[t] }

// RunOptions is the input of one BPF_PROG_TEST_RUN.
type RunOptions struct {
	Data []byte // packet (XDP, tc, socket filter, ...)
	// DataOutCap is the room for the output packet; 0 means len(Data)+4096
	// when Data is set (XDP may grow the packet at either end).
	DataOutCap int
	Ctx        []byte // context in (struct xdp_md, __sk_buff, syscall args, ...)
	// CtxOutCap is the room for the output context; 0 means len(Ctx). For
	// syscall programs the kernel writes the context back in place and
	// CtxOut is that copy.
	CtxOutCap int
	Repeat    uint32 // runs; 0 means 1 (the kernel treats 0 as 1)
	Flags     uint32 // BPF_F_TEST_* flags
	CPU       uint32 // with BPF_F_TEST_RUN_ON_CPU
}

// RunResult is the output of one BPF_PROG_TEST_RUN.
type RunResult struct {
	Retval  uint32
	DataOut []byte
	CtxOut  []byte
	// Duration is the kernel-measured average time of one run (0 for
	// syscall programs, which the kernel does not time).
	Duration time.Duration
}

// progTestRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr.
type progTestRunAttr struct {
	progFd      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

const (
	bpfProgTestRun = 10  // BPF_PROG_TEST_RUN
	enotsupp       = 524 // the kernel-internal ENOTSUPP some runners return
	maxEINTR       = 100
)

// TestRun runs p once (or opts.Repeat times) with BPF_PROG_TEST_RUN. It
// issues the syscall itself because cilium/ebpf's Run drops the duration and
// its Benchmark drops the context. Map side effects are those of the runs;
// an interrupted run (EINTR) is retried from scratch.
func TestRun(p *ebpf.Program, opts RunOptions) (RunResult, error) {
	typ := p.Type()
	if !runnable[typ] {
		return RunResult{}, fmt.Errorf("test run: %w (%s)", ErrNotRunnable, typ)
	}

	var res RunResult
	attr := progTestRunAttr{
		progFd: uint32(p.FD()),
		repeat: opts.Repeat,
		flags:  opts.Flags,
		cpu:    opts.CPU,
	}
	if len(opts.Data) > 0 {
		n := opts.DataOutCap
		if n == 0 {
			n = len(opts.Data) + 4096
		}
		res.DataOut = make([]byte, n)
		attr.dataSizeIn, attr.dataIn = uint32(len(opts.Data)), ptr(opts.Data)
		attr.dataSizeOut, attr.dataOut = uint32(n), ptr(res.DataOut)
	}
	ctxIn := opts.Ctx
	if typ == ebpf.Syscall {
		// The syscall runner refuses ctx_out and repeat and writes the
		// context back into ctx_in: run on a copy and return it.
		ctxIn = append([]byte(nil), opts.Ctx...)
		res.CtxOut = ctxIn
		attr.repeat = 0
	} else if len(opts.Ctx) > 0 || opts.CtxOutCap > 0 {
		n := opts.CtxOutCap
		if n == 0 {
			n = len(opts.Ctx)
		}
		res.CtxOut = make([]byte, n)
		attr.ctxSizeOut, attr.ctxOut = uint32(n), ptr(res.CtxOut)
	}
	if len(ctxIn) > 0 {
		attr.ctxSizeIn, attr.ctxIn = uint32(len(ctxIn)), ptr(ctxIn)
	}

	var errno unix.Errno
	for range maxEINTR {
		_, _, errno = unix.Syscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != unix.EINTR {
			break
		}
		if typ == ebpf.Syscall {
			copy(ctxIn, opts.Ctx)
		}
	}
	runtime.KeepAlive(opts.Data)
	runtime.KeepAlive(ctxIn)
	runtime.KeepAlive(res.DataOut)
	runtime.KeepAlive(res.CtxOut)

	res.Retval = attr.retval
	res.Duration = time.Duration(attr.duration)
	if res.DataOut != nil {
		res.DataOut = res.DataOut[:min(int(attr.dataSizeOut), len(res.DataOut))]
	}
	if res.CtxOut != nil && typ != ebpf.Syscall {
		res.CtxOut = res.CtxOut[:min(int(attr.ctxSizeOut), len(res.CtxOut))]
	}
	switch {
	case errno == 0:
		return res, nil
	case errno == enotsupp || errno == unix.EOPNOTSUPP:
		return RunResult{}, fmt.Errorf("test run: %w (%s: kernel says %v)", ErrNotRunnable, typ, errno)
	case errno == unix.ENOSPC:
		return res, fmt.Errorf("test run: %w (%d bytes)", ErrDataOutTooSmall, len(res.DataOut))
	}
	return RunResult{}, fmt.Errorf("test run (%s): BPF_PROG_TEST_RUN: %w", typ, errno)
}

// TestRun runs the named accepted program of o (see TestRun).
func (o *Object) TestRun(prog string, opts RunOptions) (RunResult, error) {
	p := o.Programs[prog]
	if p == nil {
		if v, ok := o.Verdict(prog); ok {
			return RunResult{}, fmt.Errorf("%s: program %s is not loaded (%s)", o.Name, prog, v.Status)
		}
		return RunResult{}, fmt.Errorf("%s: no program %s", o.Name, prog)
	}
	res, err := TestRun(p, opts)
	if err != nil {
		return res, fmt.Errorf("%s: program %s: %w", o.Name, prog, err)
	}
	return res, nil
}
