package safety

import (
	"fmt"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

// Program is a linked program as the kernel verifies it: the entry
// function followed by every subprogram it reaches, with call targets,
// map references and kfunc names resolved by instruction index.
type Program struct {
	Name   string
	Type   ebpf.ProgramType
	Attach ebpf.AttachType
	Insns  []bpf.Insn
	Funcs  []Func      // Funcs[0] is the entry; ordered by Start
	Refs   map[int]Ref // by instruction index

	// cache holds the static tables Verify derives from Insns, Funcs and
	// Type; it is rebuilt when they change.
	cache atomic.Pointer[progCache]
}

// Func is one function of a linked program: instructions [Start, End).
type Func struct {
	Name       string
	Start, End int
	// Global functions are verified on their own with arguments typed by
	// BTF (Params); static ones are verified in the caller's context.
	Global bool
	Params []Param
}

// Param is a global function's argument type.
type Param struct {
	Kind     ParamKind
	Size     int32 // ParamMem: bytes behind the pointer
	Nullable bool
}

// ParamKind classifies a global function argument.
type ParamKind uint8

// Global function argument kinds.
const (
	ParamScalar ParamKind = iota
	ParamMem
	ParamCtx
)

// Ref is what an instruction refers to outside the instruction stream.
type Ref struct {
	Map    *Map   // ld_imm64 of a map (PseudoMapFD) or of its value (PseudoMapValue)
	Value  bool   // the ld_imm64 loads a pointer into the map's value
	Off    int32  // value offset for Value
	Target int    // call / func address: target instruction index (-1 none)
	Kfunc  string // kfunc call: the function's name
}

// Map describes a map the program uses.
type Map struct {
	Name                           string
	Type                           ebpf.MapType
	KeySize, ValueSize, MaxEntries uint32
	Flags                          uint32
	SpinLockOff                    int32 // offset of a bpf_spin_lock in the value, -1 when none
	ReadOnly                       bool  // .rodata and maps frozen for the program
	// Data is the value of a frozen read-only array (.rodata): the kernel
	// turns loads from it at constant offsets into known constants.
	Data []byte
}

// ctxField is one field of a context structure.
type ctxField struct {
	off, size int32
	typ       Type // ScalarValue or the pointer type a full load yields
	write     bool
	null      bool // the pointer may be NULL
	exact     bool // reads must load the whole field (no narrow loads)
	anyWrite  bool // writes of any aligned size inside the field (cb[])
}

// exact marks fields that allow only full-size loads.
func exact(fs []ctxField) []ctxField {
	for i := range fs {
		fs[i].exact = true
	}
	return fs
}

// progInfo is what the checker knows about a program type.
type progInfo struct {
	ctxSize  int32
	fields   []ctxField // nil: any aligned read inside ctxSize (tracing)
	readMin  int32      // fields == nil: lowest readable offset
	writeAll bool       // fields == nil: writes allowed too
	retLo    int64      // allowed return values [retLo, retHi] when retCheck
	retHi    int64
	retCheck bool
	pkt      bool // has direct packet access
}

func u32s(off, n int32, write bool) []ctxField {
	out := make([]ctxField, n)
	for i := range out {
		out[i] = ctxField{off: off + 4*int32(i), size: 4, typ: ScalarValue, write: write}
	}
	return out
}

func fields(parts ...[]ctxField) []ctxField {
	var out []ctxField
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(off, size int32, t Type, write bool) []ctxField {
	return []ctxField{{off: off, size: size, typ: t, write: write}}
}

// cbField is __sk_buff.cb[5]: any aligned access inside it.
var cbField = []ctxField{{off: 48, size: 20, typ: ScalarValue, write: true, anyWrite: true}}

// __sk_buff for tc programs (tc_cls_act_is_valid_access).
var skbTC = fields(
	one(0, 4, ScalarValue, false),                             // len
	one(4, 4, ScalarValue, false),                             // pkt_type
	one(8, 4, ScalarValue, true),                              // mark
	one(12, 4, ScalarValue, true),                             // queue_mapping
	one(16, 4, ScalarValue, false),                            // protocol
	one(20, 4, ScalarValue, false),                            // vlan_present
	one(24, 4, ScalarValue, false),                            // vlan_tci
	one(28, 4, ScalarValue, false),                            // vlan_proto
	one(32, 4, ScalarValue, true),                             // priority
	one(36, 4, ScalarValue, false),                            // ingress_ifindex
	one(40, 4, ScalarValue, false),                            // ifindex
	one(44, 4, ScalarValue, true),                             // tc_index
	cbField,                                                   // cb[5]
	one(68, 4, ScalarValue, false),                            // hash
	one(72, 4, ScalarValue, true),                             // tc_classid
	one(76, 4, PtrPacket, false),                              // data
	one(80, 4, PtrPacketEnd, false),                           // data_end
	one(84, 4, ScalarValue, false),                            // napi_id
	u32s(88, 12, false),                                       // family .. local_ip6
	one(136, 4, ScalarValue, false),                           // local_port
	one(140, 4, PtrPacketMeta, false),                         // data_meta
	exact(one(152, 8, ScalarValue, true)),                     // tstamp
	one(160, 4, ScalarValue, false),                           // wire_len
	one(164, 4, ScalarValue, false),                           // gso_segs
	[]ctxField{{off: 168, size: 8, typ: PtrSock, null: true}}, // sk
	one(176, 4, ScalarValue, false),                           // gso_size
	exact(one(184, 8, ScalarValue, false)),                    // hwtstamp
)

// __sk_buff for socket filters: no direct packet access, only cb[] writable.
var skbFilter = fields(
	u32s(0, 12, false), cbField, u32s(68, 2, false), u32s(84, 13, false),
	one(160, 4, ScalarValue, false), one(164, 4, ScalarValue, false), one(176, 4, ScalarValue, false),
)

var progInfos = map[ebpf.ProgramType]*progInfo{
	ebpf.XDP: {ctxSize: 24, pkt: true, fields: fields( // __is_valid_xdp_access: 4-byte loads only
		one(0, 4, PtrPacket, false), one(4, 4, PtrPacketEnd, false), one(8, 4, PtrPacketMeta, false),
		exact(u32s(12, 3, false)))},
	ebpf.SchedCLS:     {ctxSize: 192, pkt: true, fields: skbTC},
	ebpf.SchedACT:     {ctxSize: 192, pkt: true, fields: skbTC},
	ebpf.SocketFilter: {ctxSize: 192, fields: skbFilter},
	ebpf.FlowDissector: {ctxSize: 192, pkt: true, fields: fields(
		one(76, 4, PtrPacket, false), one(80, 4, PtrPacketEnd, false),
		[]ctxField{{off: 144, size: 8, typ: PtrFlowKeys}})},
	ebpf.Kprobe:     {ctxSize: 168}, // struct pt_regs on x86-64
	ebpf.TracePoint: {ctxSize: 2048, readMin: 8},
	ebpf.CGroupSockAddr: {ctxSize: 72, retCheck: true, retLo: 0, retHi: 1, fields: fields(
		// sock_addr_is_valid_access: family, type, protocol: full loads only.
		exact(u32s(0, 1, false)), u32s(4, 1, true), u32s(8, 4, true), u32s(24, 1, true), exact(u32s(28, 3, false)),
		u32s(40, 5, false), []ctxField{{off: 64, size: 8, typ: PtrSock}})},
	ebpf.CGroupSKB: {ctxSize: 192, pkt: true, retCheck: true, retLo: 0, retHi: 1, fields: skbTC},
	ebpf.Syscall:   {ctxSize: 65535, writeAll: true},
}

// flowKeysSize is sizeof(struct bpf_flow_keys).
const flowKeysSize = 56

// sockCommonSize bounds reads through PtrSock (struct bpf_sock).
const sockCommonSize = 80

// Check validates the linked program's structure: known types, every
// instruction valid, jumps inside their function. It is the first step of
// Verify and reports a *Diagnostic.
func (p *Program) info() (*progInfo, error) {
	pi := progInfos[p.Type]
	if pi == nil {
		return nil, fmt.Errorf("program type %s is not supported", p.Type)
	}
	return pi, nil
}

// funcAt returns the index of the function holding instruction i.
func (p *Program) funcAt(i int) int {
	for k := len(p.Funcs) - 1; k >= 0; k-- {
		if p.Funcs[k].Start <= i {
			return k
		}
	}
	return 0
}

// funcStarting returns the index of the function starting at i, or -1.
func (p *Program) funcStarting(i int) int {
	for k := range p.Funcs {
		if p.Funcs[k].Start == i {
			return k
		}
	}
	return -1
}
