package kernel

// The raw loader: BPF_PROG_LOAD without cilium/ebpf's encoder.
//
// Why: cilium/ebpf v0.22's Instruction.Marshal rewrites the offset field of
// every ALU instruction (only sdiv/smod/movsx get a non-zero one), so the
// arena instruction addr_space_cast (ALU64 MOV X with off=1, imm=as pair)
// reaches the kernel with off=0 and is refused ("BPF_MOV uses reserved
// fields"). With that offset kept the program loads.
//
// How, with the least reimplementation: cilium still does everything it
// does well. Its ELF reader decodes the instruction (it keeps Offset=1 on a
// plain MOV: only 8/16/32 become movsx), links bpf-to-bpf calls and tags map
// and kfunc references; maps are created by cilium (Object.createMaps) and
// associated with the instructions exactly as its collection loader does.
// Here we then repeat, with cilium's exported API, the few steps of its
// program loader: CO-RE relocation against vmlinux BTF (btf.CORERelocate),
// func/line info (btf.MarshalExtInfos + btf.NewHandle), kfunc BTF ids from
// vmlinux, and attach BTF ids for tracing/LSM programs. We encode with
// asm.Instructions.Marshal (which also resolves call offsets and writes map
// fds) and afterwards put back the offset of each ALU instruction whose
// decoded Offset is non-zero. The program fd is handed to
// ebpf.NewProgramFromFD, so the result is an ordinary *ebpf.Program.
//
// Not handled here (an error says so): kfuncs or attach targets in kernel
// modules, ksym/kconfig externs, freplace, struct_ops.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// nativeOrder is this machine's byte order as one of the two values
// cilium/ebpf's encoder accepts (it rejects binary.NativeEndian).
var nativeOrder binary.ByteOrder = func() binary.ByteOrder {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

// isNative reports whether bo (nil: unspecified) is this machine's order.
func isNative(bo binary.ByteOrder) bool {
	return bo == nil || bo.Uint16([]byte{1, 0}) == nativeOrder.Uint16([]byte{1, 0})
}

// kernelTypes caches the parsed vmlinux BTF for the raw loader.
var kernelTypes = btf.NewCache()

// loadError is a BPF_PROG_LOAD failure of the raw loader, with its log.
type loadError struct {
	errno error
	log   string
}

func (e *loadError) Error() string {
	lines := logLines(e.log)
	reason, _ := rejectReason(lines)
	if reason == "" {
		return fmt.Sprintf("BPF_PROG_LOAD: %v", e.errno)
	}
	return fmt.Sprintf("BPF_PROG_LOAD: %v: %s", e.errno, reason)
}

func (e *loadError) Unwrap() error { return e.errno }

// progLoadAttr is the BPF_PROG_LOAD member of union bpf_attr (uapi
// linux/bpf.h, up to fd_array_cnt). Field order and sizes give the kernel's
// layout on 64-bit targets; pointers are carried as uint64.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
	progBTFFd          uint32
	funcInfoRecSize    uint32
	funcInfo           uint64
	funcInfoCnt        uint32
	lineInfoRecSize    uint32
	lineInfo           uint64
	lineInfoCnt        uint32
	attachBTFID        uint32
	attachBTFObjFd     uint32
	coreReloCnt        uint32
	fdArray            uint64
	coreRelos          uint64
	coreReloRecSize    uint32
	logTrueSize        uint32
	progTokenFd        int32
	fdArrayCnt         uint32
}

const bpfProgLoad = 5 // BPF_PROG_LOAD

// maxLogSize caps the log buffer; the kernel refuses more than UINT32_MAX>>2.
const maxLogSize = 1 << 30

func ptr[T any](s []T) uint64 {
	if len(s) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&s[0])))
}

// rawLoad loads ps (maps already associated) with our own encoding. It
// returns the program, the verifier log, or a *loadError when the kernel
// refused it.
func rawLoad(ps *ebpf.ProgramSpec, level ebpf.LogLevel, logSize uint32) (*ebpf.Program, string, error) {
	if !isNative(ps.ByteOrder) {
		return nil, "", fmt.Errorf("raw loader: program is %s, not this machine's byte order", ps.ByteOrder)
	}
	if ps.Type == ebpf.Extension || ps.Type == ebpf.StructOps {
		return nil, "", fmt.Errorf("raw loader: %s programs: %w", ps.Type, ebpf.ErrNotSupported)
	}
	insns := make(asm.Instructions, len(ps.Instructions))
	copy(insns, ps.Instructions)

	var b btf.Builder
	if err := coreRelocate(insns, &b); err != nil {
		return nil, "", err
	}
	if err := resolveKfuncs(insns); err != nil {
		return nil, "", err
	}
	if err := checkUnresolved(insns); err != nil {
		return nil, "", err
	}
	funcInfo, lineInfo, err := btf.MarshalExtInfos(insns, &b)
	if err != nil {
		return nil, "", fmt.Errorf("raw loader: marshal func/line info: %w", err)
	}

	code, err := encodeKeepOffsets(insns)
	if err != nil {
		return nil, "", err
	}

	license := append([]byte(ps.License), 0)
	attr := progLoadAttr{
		progType:           uint32(ps.Type),
		insnCnt:            uint32(len(code) / asm.InstructionSize),
		insns:              ptr(code),
		license:            ptr(license),
		kernVersion:        ps.KernelVersion,
		progFlags:          ps.Flags,
		progIfindex:        ps.Ifindex,
		expectedAttachType: uint32(ps.AttachType),
	}
	copy(attr.progName[:], progName(ps.Name))

	if !b.Empty() {
		h, err := btf.NewHandle(&b)
		if err != nil {
			return nil, "", fmt.Errorf("raw loader: load program BTF: %w", err)
		}
		defer h.Close()
		attr.progBTFFd = uint32(h.FD())
		attr.funcInfoRecSize = btf.FuncInfoSize
		attr.funcInfoCnt = uint32(len(funcInfo)) / btf.FuncInfoSize
		attr.funcInfo = ptr(funcInfo)
		attr.lineInfoRecSize = btf.LineInfoSize
		attr.lineInfoCnt = uint32(len(lineInfo)) / btf.LineInfoSize
		attr.lineInfo = ptr(lineInfo)
	}
	if id, err := attachBTFID(ps); err != nil {
		return nil, "", err
	} else {
		attr.attachBTFID = uint32(id)
	}

	var logBuf []byte
	size := logSize
	for attempt := 0; ; attempt++ {
		if level != 0 {
			logBuf = make([]byte, size)
			attr.logLevel, attr.logSize, attr.logBuf = uint32(level), size, ptr(logBuf)
		}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgLoad, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		runtime.KeepAlive(funcInfo)
		runtime.KeepAlive(lineInfo)
		runtime.KeepAlive(logBuf)
		log := cString(logBuf)
		if errno == 0 {
			prog, err := ebpf.NewProgramFromFD(int(fd))
			if err != nil {
				unix.Close(int(fd))
				return nil, "", fmt.Errorf("raw loader: wrap program fd: %w", err)
			}
			return prog, log, nil
		}
		switch {
		case errno == unix.EAGAIN && attempt < 5:
			continue
		case errno == unix.ENOSPC && level != 0 && size < maxLogSize:
			// The log did not fit (since 6.4 that fails the load);
			// log_true_size says how much is needed.
			size = max(attr.logTrueSize, min(size*2, maxLogSize))
			size = min(size, maxLogSize)
			continue
		}
		return nil, log, &loadError{errno: errno, log: log}
	}
}

// encodeKeepOffsets marshals insns with cilium/ebpf and restores the offset
// field of ALU instructions that cilium's encoder zeroed.
func encodeKeepOffsets(insns asm.Instructions) ([]byte, error) {
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, nativeOrder); err != nil {
		return nil, fmt.Errorf("raw loader: encode: %w", err)
	}
	code := buf.Bytes()
	iter := insns.Iterate()
	for iter.Next() {
		ins := iter.Ins
		if !ins.OpCode.Class().IsALU() || ins.Offset == 0 {
			continue
		}
		at := int(iter.Offset)*asm.InstructionSize + 2
		if at+2 > len(code) {
			return nil, fmt.Errorf("raw loader: insn %d: offset past the encoded program", iter.Index)
		}
		nativeOrder.PutUint16(code[at:], uint16(ins.Offset))
	}
	return code, nil
}

// coreRelocate applies CO-RE relocations against vmlinux BTF, adding local
// types to b as cilium's loader does.
func coreRelocate(insns asm.Instructions, b *btf.Builder) error {
	var relos []*btf.CORERelocation
	var at []*asm.Instruction
	iter := insns.Iterate()
	for iter.Next() {
		if r := btf.CORERelocationMetadata(iter.Ins); r != nil {
			relos = append(relos, r)
			at = append(at, iter.Ins)
		}
	}
	if len(relos) == 0 {
		return nil
	}
	kernel, err := kernelTypes.Kernel()
	if err != nil {
		return fmt.Errorf("raw loader: CO-RE: %w", err)
	}
	fixups, err := btf.CORERelocate(relos, []*btf.Spec{kernel}, nativeOrder, b.Add)
	if err != nil {
		return fmt.Errorf("raw loader: CO-RE: %w", err)
	}
	for i := range fixups {
		if err := fixups[i].Apply(at[i]); err != nil {
			return fmt.Errorf("raw loader: CO-RE fixup %s: %w", relos[i], err)
		}
	}
	return nil
}

// resolveKfuncs sets each kfunc call's imm to the callee's vmlinux BTF id.
func resolveKfuncs(insns asm.Instructions) error {
	iter := insns.Iterate()
	for iter.Next() {
		ins := iter.Ins
		if !ins.IsKfuncCall() {
			continue
		}
		name := ins.Reference()
		if name == "" {
			if ins.Constant > 0 {
				continue // already a BTF id
			}
			return fmt.Errorf("raw loader: insn %d: kfunc call without a name", iter.Index)
		}
		kernel, err := kernelTypes.Kernel()
		if err != nil {
			return fmt.Errorf("raw loader: kfunc %s: %w", name, err)
		}
		var fn *btf.Func
		if err := kernel.TypeByName(name, &fn); err != nil {
			return fmt.Errorf("raw loader: kfunc %s not in vmlinux BTF (module kfuncs are not supported here): %w", name, err)
		}
		id, err := kernel.TypeID(fn)
		if err != nil {
			return fmt.Errorf("raw loader: kfunc %s: %w", name, err)
		}
		ins.Constant = int64(id)
		ins.Offset = 0 // fd_array index 0: vmlinux
	}
	return nil
}

// checkUnresolved refuses references the raw loader does not resolve.
func checkUnresolved(insns asm.Instructions) error {
	iter := insns.Iterate()
	for iter.Next() {
		ins := iter.Ins
		switch {
		case ins.IsLoadFromMap():
			if ins.Map() == nil && int32(ins.Constant) <= 0 {
				return fmt.Errorf("raw loader: insn %d: unresolved map reference %q (kconfig is not supported here)", iter.Index, ins.Reference())
			}
		case ins.OpCode.IsDWordLoad() && ins.Reference() != "" && !ins.IsLoadOfFunctionPointer():
			return fmt.Errorf("raw loader: insn %d: unsupported relocation to %q (ksym)", iter.Index, ins.Reference())
		}
	}
	return nil
}

// attachBTFID finds the vmlinux BTF id that tracing and LSM programs name
// in their section (fentry/fexit/fmod_ret: the function; tp_btf: the
// btf_trace_ typedef; iter: bpf_iter_ function; lsm: bpf_lsm_ hook).
func attachBTFID(ps *ebpf.ProgramSpec) (btf.TypeID, error) {
	if ps.AttachTo == "" {
		return 0, nil
	}
	var name string
	var typ btf.Type
	switch ps.Type {
	case ebpf.Tracing:
		switch ps.AttachType {
		case ebpf.AttachTraceRawTp:
			name, typ = "btf_trace_"+ps.AttachTo, (*btf.Typedef)(nil)
		case ebpf.AttachTraceIter:
			name, typ = "bpf_iter_"+ps.AttachTo, (*btf.Func)(nil)
		default:
			name, typ = ps.AttachTo, (*btf.Func)(nil)
		}
	case ebpf.LSM:
		name, typ = "bpf_lsm_"+ps.AttachTo, (*btf.Func)(nil)
	default:
		return 0, nil // kprobe and friends: AttachTo is for attaching, not loading
	}
	kernel, err := kernelTypes.Kernel()
	if err != nil {
		return 0, fmt.Errorf("raw loader: attach target %s: %w", name, err)
	}
	var found btf.Type
	switch typ.(type) {
	case *btf.Typedef:
		var t *btf.Typedef
		err, found = kernel.TypeByName(name, &t), t
	default:
		var f *btf.Func
		err, found = kernel.TypeByName(name, &f), f
	}
	if err != nil {
		return 0, fmt.Errorf("raw loader: attach target %s: %w", name, err)
	}
	return kernel.TypeID(found)
}

// progName keeps the characters the kernel accepts in a program name.
func progName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == 15 {
			break
		}
		if r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
