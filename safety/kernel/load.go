package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Status is the outcome of loading one program.
type Status uint8

const (
	// Rejected: the kernel (verifier) refused the program; Err is a *RejectError.
	Rejected Status = iota
	// Accepted: the program is loaded; Object.Programs holds it.
	Accepted
	// NotStandalone: the program cannot be loaded on its own here (struct_ops,
	// freplace without a target, attach target missing from this kernel);
	// Err wraps ErrNotStandalone. Not a verifier verdict.
	NotStandalone
	// Failed: something other than the verifier failed (a map reference, BTF,
	// a relocation); Err says what.
	Failed
)

func (s Status) String() string {
	switch s {
	case Rejected:
		return "rejected"
	case Accepted:
		return "accepted"
	case NotStandalone:
		return "not loadable standalone"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// ErrNotStandalone is wrapped by the Err of NotStandalone verdicts.
var ErrNotStandalone = errors.New("not loadable standalone")

// Verdict is the kernel's answer for one program of an object.
type Verdict struct {
	Program  string
	Section  string
	Type     ebpf.ProgramType
	Status   Status
	Accepted bool // Status == Accepted
	// Processed is the verifier's "processed N insns", -1 when unknown.
	Processed int
	// Log is the tail (at most 40 lines) of the verifier log, trimmed. For an
	// accepted program it is the statistics; for a rejected one the end of
	// the instruction trace with the reason.
	Log string
	Err error
	// Raw is true when the program went through the raw loader (raw.go)
	// because cilium/ebpf cannot encode it (arena addr_space_cast).
	Raw bool
}

// RejectError is the error of a Rejected verdict. Error() is a one-line
// summary followed by the last lines of the verifier log, indented.
type RejectError struct {
	Program string
	Insn    int    // last traced instruction (slot index), -1 when unknown
	Reason  string // the verifier's message, one line
	Tail    []string
	Cause   error // the errno (EACCES, EINVAL, ...)
}

// Summary is the one-line form: program, instruction and reason.
func (e *RejectError) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "program %s: rejected by the verifier", e.Program)
	if e.Insn >= 0 {
		fmt.Fprintf(&b, " at insn %d", e.Insn)
	}
	reason := e.Reason
	if reason == "" && e.Cause != nil {
		reason = e.Cause.Error()
	}
	if reason != "" {
		b.WriteString(": ")
		b.WriteString(reason)
	}
	return b.String()
}

func (e *RejectError) Error() string {
	var b strings.Builder
	b.WriteString(e.Summary())
	for _, l := range tail(e.Tail, errTailLines) {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}

func (e *RejectError) Unwrap() error { return e.Cause }

// Options tune loading. The zero value is what callers normally want.
type Options struct {
	// LogSize is the initial verifier log buffer in bytes (default 64 KiB). The
	// buffer grows to the kernel's reported size when it was too small.
	LogSize uint32
	// BriefRejectLog keeps the statistics-only log of a rejected program.
	// By default a rejected program is loaded a second time with the
	// instruction trace (LogLevelBranch) so Log and the error show the
	// verifier state at the failing instruction; programs that made the
	// verifier process more than MaxTraceProcessed instructions are not
	// retraced (their trace would be huge).
	BriefRejectLog bool
}

// MaxTraceProcessed bounds the retrace of rejected programs (see Options).
const MaxTraceProcessed = 200_000

// defaultLogSize fits an accepted program's statistics and a short trace
// with room to spare; bigger logs grow on ENOSPC. A 1 MiB buffer measurably
// slowed every load (the kernel touches the whole user buffer).
const defaultLogSize = 64 << 10

func (o *Options) logSize() uint32 {
	if o == nil || o.LogSize == 0 {
		return defaultLogSize
	}
	return o.LogSize
}

// Object is a loaded BPF object: its maps, its accepted programs and one
// Verdict per program. Close releases every fd.
type Object struct {
	Name     string // file name, or "<bytes>"
	Spec     *ebpf.CollectionSpec
	Maps     map[string]*ebpf.Map
	Programs map[string]*ebpf.Program // accepted programs only
	Verdicts []Verdict                // sorted by program name

	maps *ebpf.Collection
	opts Options
}

// Verdict returns the verdict of the named program.
func (o *Object) Verdict(prog string) (Verdict, bool) {
	for _, v := range o.Verdicts {
		if v.Program == prog {
			return v, true
		}
	}
	return Verdict{}, false
}

// Close releases all programs and maps.
func (o *Object) Close() error {
	if o == nil {
		return nil
	}
	for _, p := range o.Programs {
		p.Close()
	}
	o.Programs = nil
	if o.maps != nil {
		o.maps.Close()
		o.maps = nil
	}
	o.Maps = nil
	return nil
}

// LoadFile loads every program of the object file at path.
func LoadFile(path string, opts *Options) (*Object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return load(path, bytes.NewReader(b), opts)
}

// Load loads every program of an object given as bytes.
func Load(obj []byte, opts *Options) (*Object, error) {
	return load("<bytes>", bytes.NewReader(obj), opts)
}

// VerifyFile loads every program of the object at path, returns the
// verdicts and releases everything.
func VerifyFile(path string, opts *Options) ([]Verdict, error) {
	o, err := LoadFile(path, opts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return o.Verdicts, nil
}

// Verify is VerifyFile for object bytes.
func Verify(obj []byte, opts *Options) ([]Verdict, error) {
	o, err := Load(obj, opts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return o.Verdicts, nil
}

func load(name string, r io.ReaderAt, opts *Options) (*Object, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: reading BPF object: %w", name, err)
	}
	return LoadSpec(name, spec, opts)
}

// LoadSpec loads every program of spec; name labels errors. spec is not
// modified (programs are copied before map fds are patched in).
func LoadSpec(name string, spec *ebpf.CollectionSpec, opts *Options) (*Object, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	o := &Object{Name: name, Spec: spec, Programs: map[string]*ebpf.Program{}}
	if opts != nil {
		o.opts = *opts
	}
	if !isNative(spec.ByteOrder) {
		return nil, fmt.Errorf("%s: object is %s, not this machine's byte order", name, spec.ByteOrder)
	}

	deferred, err := o.createMaps()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	// Extensions (freplace) go last: their target may be another program of
	// this object, which must be loaded first.
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		ea, eb := spec.Programs[a].Type == ebpf.Extension, spec.Programs[b].Type == ebpf.Extension
		if ea != eb {
			if ea {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		o.Verdicts = append(o.Verdicts, o.loadProgram(n, spec.Programs[n]))
	}
	slices.SortFunc(o.Verdicts, func(a, b Verdict) int { return strings.Compare(a.Program, b.Program) })

	// Tail-call tables name programs; fill them with the ones that loaded so
	// test runs follow tail calls as the real loader would.
	for _, d := range deferred {
		if p := o.Programs[d.prog]; p != nil {
			_ = o.Maps[d.mapName].Put(d.key, p)
		}
	}
	return o, nil
}

// deferredSlot is a program-array entry set after programs are loaded.
type deferredSlot struct {
	mapName string
	key     any
	prog    string
}

// createMaps creates every map of the spec once (cilium/ebpf does the work:
// BTF, .data/.rodata contents and freezing, arena map_extra), without any
// program, so that each program can then be loaded on its own against them.
func (o *Object) createMaps() ([]deferredSlot, error) {
	ms := o.Spec.Copy()
	ms.Programs = map[string]*ebpf.ProgramSpec{}
	var deferred []deferredSlot
	for n, m := range ms.Maps {
		switch m.Type {
		case ebpf.StructOpsMap:
			// A struct_ops map holds its programs; it is created with them,
			// which standalone loading does not do.
			delete(ms.Maps, n)
		case ebpf.ProgramArray:
			var keep []ebpf.MapKV
			for _, kv := range m.Contents {
				if p, ok := kv.Value.(string); ok {
					deferred = append(deferred, deferredSlot{n, kv.Key, p})
					continue
				}
				keep = append(keep, kv)
			}
			m.Contents = keep
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(ms, ebpf.CollectionOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating maps: %w", err)
	}
	o.maps = coll
	o.Maps = coll.Maps
	return deferred, nil
}

func (o *Object) loadProgram(name string, orig *ebpf.ProgramSpec) Verdict {
	v := Verdict{Program: name, Section: orig.SectionName, Type: orig.Type, Processed: -1}
	notStandalone := func(format string, args ...any) Verdict {
		v.Status = NotStandalone
		v.Err = fmt.Errorf("program %s: %w: %s", name, ErrNotStandalone, fmt.Sprintf(format, args...))
		return v
	}
	failed := func(err error) Verdict {
		v.Status = Failed
		v.Err = fmt.Errorf("program %s: %w", name, err)
		return v
	}

	ps := orig.Copy()
	switch ps.Type {
	case ebpf.UnspecifiedProgram:
		return notStandalone("section %q has no program type cilium/ebpf knows", ps.SectionName)
	case ebpf.StructOps:
		return notStandalone("struct_ops programs load together with their struct_ops map")
	case ebpf.Extension:
		if ps.AttachTarget == nil {
			target := o.freplaceTarget(ps.AttachTo)
			if target == nil {
				return notStandalone("freplace needs a loaded target program with global function %q; none in this object", ps.AttachTo)
			}
			ps.AttachTarget = target
		}
	}

	for i := range ps.Instructions {
		ins := &ps.Instructions[i]
		if !ins.IsLoadFromMap() || ins.Reference() == "" || int32(ins.Constant) > 0 {
			continue
		}
		m := o.Maps[ins.Reference()]
		if m == nil {
			if ms := o.Spec.Maps[ins.Reference()]; ms != nil && ms.Type == ebpf.StructOpsMap {
				return notStandalone("references struct_ops map %q", ins.Reference())
			}
			return failed(fmt.Errorf("insn %d: map %q is not in the object", i, ins.Reference()))
		}
		if err := ins.AssociateMap(m); err != nil {
			return failed(fmt.Errorf("insn %d: map %q: %w", i, ins.Reference(), err))
		}
	}

	var (
		prog *ebpf.Program
		log  string
		err  error
	)
	if needsRaw(ps.Instructions) {
		v.Raw = true
		prog, log, err = rawLoad(ps, ebpf.LogLevelStats, o.opts.logSize())
	} else {
		prog, log, err = o.cilLoad(ps, ebpf.LogLevelStats)
	}
	if err == nil {
		o.Programs[name] = prog
		v.Status, v.Accepted = Accepted, true
		v.Processed = parseProcessed(log)
		v.Log = strings.Join(tail(logLines(log), logTailLines), "\n")
		return v
	}

	var verr *ebpf.VerifierError
	var lerr *loadError
	cause := errors.Unwrap(err)
	switch {
	case errors.As(err, &verr):
		log, cause = strings.Join(verr.Log, "\n"), verr.Cause
	case errors.As(err, &lerr):
		log, cause = lerr.log, lerr.errno
	}
	switch {
	case errors.Is(err, unix.EPERM) && strings.TrimSpace(log) == "":
		// Refused before the verifier started (Available proved we may
		// load programs): a policy or a missing kernel facility, not a verdict.
		if needsTrampoline(ps) {
			return notStandalone("the kernel refused it before verification (EPERM, empty log); %s programs need BPF trampolines, which this kernel lacks (e.g. CONFIG_FUNCTION_TRACER off)", kindName(ps))
		}
		return notStandalone("the kernel refused it before verification (EPERM, empty log)")
	case verr != nil || lerr != nil:
		// A kernel verdict: handled below.
	case errors.Is(err, btf.ErrNotFound),
		errors.Is(err, ebpf.ErrNotSupported) && strings.HasPrefix(err.Error(), "attach "):
		return notStandalone("attach target %q is not in this kernel: %v", ps.AttachTo, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return notStandalone("this kernel lacks a feature it needs: %v", err)
	default:
		return failed(err)
	}

	v.Status = Rejected
	v.Processed = parseProcessed(log)
	if !o.opts.BriefRejectLog && v.Processed < MaxTraceProcessed {
		if full, ok := o.retrace(ps, v.Raw); ok {
			log = full
		}
	}
	lines := logLines(log)
	reason, insn := rejectReason(lines)
	v.Log = strings.Join(tail(lines, logTailLines), "\n")
	v.Err = &RejectError{Program: name, Insn: insn, Reason: reason, Tail: tail(lines, logTailLines), Cause: cause}
	return v
}

// retrace loads a rejected program again with the instruction trace and
// returns that log; ok is false if the reload did not fail the same way.
func (o *Object) retrace(ps *ebpf.ProgramSpec, raw bool) (string, bool) {
	level := ebpf.LogLevelBranch | ebpf.LogLevelStats
	var (
		prog *ebpf.Program
		err  error
	)
	if raw {
		prog, _, err = rawLoad(ps, level, o.opts.logSize())
	} else {
		prog, _, err = o.cilLoad(ps, level)
	}
	if err == nil {
		prog.Close()
		return "", false
	}
	var verr *ebpf.VerifierError
	var lerr *loadError
	switch {
	case errors.As(err, &verr):
		return strings.Join(verr.Log, "\n"), true
	case errors.As(err, &lerr):
		return lerr.log, true
	}
	return "", false
}

// cilLoad loads through cilium/ebpf, which handles CO-RE, kfuncs (also in
// modules), ksyms, kconfig, BTF ext infos and attach targets.
func (o *Object) cilLoad(ps *ebpf.ProgramSpec, level ebpf.LogLevel) (*ebpf.Program, string, error) {
	prog, err := ebpf.NewProgramWithOptions(ps, ebpf.ProgramOptions{LogLevel: level, LogSizeStart: o.opts.logSize()})
	if err != nil {
		return nil, "", err
	}
	return prog, prog.VerifierLog, nil
}

// needsTrampoline reports program kinds the kernel runs through a BPF
// trampoline (fentry, fexit, fmod_ret, lsm, freplace).
func needsTrampoline(ps *ebpf.ProgramSpec) bool {
	switch ps.Type {
	case ebpf.LSM, ebpf.Extension:
		return true
	case ebpf.Tracing:
		switch ps.AttachType {
		case ebpf.AttachTraceFEntry, ebpf.AttachTraceFExit, ebpf.AttachModifyReturn:
			return true
		}
	}
	return false
}

// kindName names a program kind by its section prefix, e.g. "fentry".
func kindName(ps *ebpf.ProgramSpec) string {
	if i := strings.IndexByte(ps.SectionName, '/'); i > 0 {
		return ps.SectionName[:i]
	}
	if ps.SectionName != "" {
		return ps.SectionName
	}
	return ps.Type.String()
}

// freplaceTarget returns an accepted program of o whose instructions define
// the global function fn, the target an freplace program needs.
func (o *Object) freplaceTarget(fn string) *ebpf.Program {
	names := make([]string, 0, len(o.Programs))
	for n := range o.Programs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, ins := range o.Spec.Programs[n].Instructions {
			if ins.Symbol() == fn && btf.FuncMetadata(&ins) != nil {
				return o.Programs[n]
			}
		}
	}
	return nil
}

// needsRaw reports instructions cilium/ebpf would mis-encode: its Marshal
// rewrites the offset of every ALU instruction (it keeps only the offsets
// it derives for sdiv/smod/movsx, which it decodes into their own opcodes
// with Offset 0). Any ALU instruction left with Offset != 0 after decoding,
// such as addr_space_cast (ALU64 MOV X, off=1), would reach the kernel with
// offset 0.
func needsRaw(insns asm.Instructions) bool {
	for _, ins := range insns {
		if ins.OpCode.Class().IsALU() && ins.Offset != 0 {
			return true
		}
	}
	return false
}
