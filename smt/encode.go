package smt

// The BPF -> bit-vector encoding. An Encoder symbolically executes a
// loop-free instruction sequence (a window or a whole program) from a
// symbolic input state that two runs share by name, and returns the final
// state: exit taken, registers, per-region memory write logs, helper-call
// log and the condition under which the run faults. Branches become path
// conditions: instructions are visited in order (all jumps go forward), the
// states reaching an instruction are merged with ite, and every memory
// write is logged with the path condition of its instruction, so a read
// scans the log of its region backwards (a write from a path that did not
// happen has a false guard on the reading path).
//
// Memory is split per region (stack, packet, context, the program type's
// auxiliary object such as a flow dissector's flow keys, the values of
// each map); addresses are offsets from the region start, so accesses at known
// constant offsets skip each other in Go without building terms (K2's
// concretised offsets), and symbolic offsets fall back to ite chains over
// the log on top of a per-region initial array.
//
// Pointers are (kind, offset) pairs next to their 64-bit value base+offset,
// with a symbolic base per region kept away from 0 and from wrapping, so
// pointer comparisons (data + 14 > data_end) and NULL checks are plain
// bit-vector comparisons.

import (
	"fmt"

	"github.com/k2opt/k2opt/bpf"
)

// Kind is what a register holds, as far as the encoder tracks it.
type Kind uint8

// Value kinds.
const (
	Scalar    Kind = iota // a number
	PtrStack              // offset from r10 (negative)
	PtrPacket             // offset from data; data_end is PtrPacket at offset PktLen
	PtrCtx                // offset into the context
	PtrMapVal             // a value of map Map under key Key (maybe NULL)
	MapHandle             // ld_imm64 of map Map
	Opaque                // derived from a pointer by an op the encoder does not track
	Conflict              // paths disagree on the kind; using it as a pointer is unsupported
	// PtrAux: offset into the program type's auxiliary object (a flow
	// dissector's struct bpf_flow_keys, CtxLayout.AuxSize bytes). Last,
	// so that the other kinds keep their numbers.
	PtrAux
)

var kindNames = [...]string{"scalar", "stack", "packet", "ctx", "map_value", "map", "opaque", "conflict", "aux"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Val is a register's symbolic value.
type Val struct {
	T    Term // bv64 value
	Kind Kind
	Map  int  // PtrMapVal, MapHandle: map index
	Off  Term // pointers: bv64 offset into the region
	Key  Term // PtrMapVal: key bits
	Null Term // PtrMapVal: Bool, the pointer is NULL
	Init Term // Bool: the register is initialised
	// KOff is the offset when it is a known constant (KOK).
	KOff int64
	KOK  bool
}

// CtxField is a pointer-valued field of the context (data, data_end, ...).
type CtxField struct {
	Off  int
	Kind CtxFieldKind
}

// CtxFieldKind says what a context pointer field points to.
type CtxFieldKind uint8

// Context pointer fields.
const (
	CtxData CtxFieldKind = iota + 1
	CtxDataEnd
	CtxDataMeta
	CtxOther    // socket: not modelled (unsupported)
	CtxFlowKeys // flow keys (an 8-byte load): a PtrAux at offset 0
)

// CtxLayout is the context structure of a program type.
type CtxLayout struct {
	Size     int
	Ptrs     []CtxField
	ReadOnly bool
	Writable [][2]int // [lo, hi) byte ranges; nil: all (unless ReadOnly)
	// AuxSize is the size of the object a CtxFlowKeys field points to
	// (0: none). It is output memory: runs compare what they write there.
	AuxSize int
}

// MapInfo describes a map the program refers to by index.
type MapInfo struct {
	KeySize, ValueSize int
	MaxEntries         uint32
	Array              bool // lookups of keys < MaxEntries never fail, others always do
	ReadOnly           bool
	// Unsure: a map-value pointer's map is not known (one of several):
	// its value size and read-only flag are symbolic (encode_opaque.go).
	Unsure bool
	// NoLookup: the map is not a key -> value table (an LPM trie matches
	// prefixes, so two keys may find one value): map helpers on it are
	// unsupported; its values are reachable only through live-in pointers.
	NoLookup bool
}

// Config fixes the environment of an encoding; both runs of an equivalence
// query use the same Config.
type Config struct {
	// StackInit: the stack starts initialised with symbolic bytes (window
	// mode); otherwise it starts uninitialised and reading it faults.
	StackInit bool
	Ctx       *CtxLayout
	Maps      []MapInfo
	// MaxPacket bounds the symbolic packet length.
	MaxPacket int
}

// Helpers whose effect is their return value and their call-log entry.
var pureHelpers = map[int32]bool{
	1: true, 2: true, 3: true, // map lookup/update/delete
	5: true, 7: true, 8: true, 14: true, 15: true, // ktime, prandom, cpu, pid_tgid, uid_gid
	23: true, 51: true, 118: true, 125: true, 160: true, // redirect, redirect_map, jiffies, boot_ns, ktime_coarse
}

// Call is one helper call in the call log.
type Call struct {
	Guard Term // Bool: the call happens
	Idx   Term // bv64: its position in the run's call sequence
	ID    int32
	Args  []Term // bv64 chunks (map keys and values as bytes)
	Ret   Term
	// Lookups: the key (for counterexample map contents).
	Map int
	Key Term
}

// Write is one byte store in a region's log.
type Write struct {
	Guard Term
	Key   Term // map values: the key; otherwise invalid
	Off   Term // bv64 offset
	KOff  int64
	KOK   bool
	B     Term // bv8
	// Spill: the first byte of an aligned 8-byte store of a pointer.
	Spill *Val
	Size  int
	// Part is the byte's index in its store (the store's first byte,
	// Part 0, has the store's Size; the others have Size 1).
	Part int
}

// Mem is one region's write log.
type Mem struct {
	Kind    Kind
	Map     int
	Writes  []Write
	keyBits int
}

// RegionKey identifies a region: kind and map index.
type RegionKey struct {
	Kind Kind
	Map  int
}

// Final is the state at the end of a run.
type Final struct {
	Exit  Term // bv16: 0 = exit insn, 1+t = left the window to slot len+t
	Regs  [bpf.NumRegs]Val
	Fault Term // Bool
	Mem   map[RegionKey]*Mem
	Calls []Call
	// NCalls bounds the number of calls on any path; CallN is the number
	// made on the path taken (bv64).
	NCalls int
	CallN  Term
	// Reached: the run reaches the end on some path (false: every path faults).
	Reached bool
}

// Unsupported is returned for instructions and situations the encoder
// does not model; an equivalence check answers Unknown.
type Unsupported struct {
	PC     int
	Insn   bpf.Insn
	Reason string
}

func (e *Unsupported) Error() string {
	return fmt.Sprintf("insn %d (%s): unsupported: %s", e.PC, e.Insn, e.Reason)
}

// Encoder builds the encoding of runs over one shared symbolic input. It
// belongs to one query: make a new one (cheap) per query, inside a Scope.
type Encoder struct {
	C   *Context
	Cfg *Config
	// Assume collects facts about the shared symbols (bases away from 0,
	// packet length bounds) that hold on every input.
	Assume []Term

	tru, fls Term
	bv64     Sort
	bv8      Sort
	consts   map[string]Term
	funcs    map[string]Func
	arrays   map[RegionKey]Term
	// Keys and lookups seen, for counterexamples.
	Lookups []Call
}

// NewEncoder prepares an encoder for one query.
func NewEncoder(c *Context, cfg *Config) *Encoder {
	e := &Encoder{C: c, Cfg: cfg, consts: map[string]Term{}, funcs: map[string]Func{}, arrays: map[RegionKey]Term{}}
	e.tru, e.fls = c.True(), c.False()
	e.bv64, e.bv8 = c.BVSort(64), c.BVSort(8)
	if cfg.MaxPacket == 0 {
		cfg.MaxPacket = 3520
	}
	return e
}

// True and False are the encoder's cached Boolean constants (Go-level
// folding compares against them).
func (e *Encoder) True() Term  { return e.tru }
func (e *Encoder) False() Term { return e.fls }

// Sym is the shared 64-bit input symbol name (created once per query).
func (e *Encoder) Sym(name string) Term {
	if t, ok := e.consts[name]; ok {
		return t
	}
	t := e.C.Const(name, e.bv64)
	e.consts[name] = t
	return t
}

// Region base addresses lie in [BaseLo, BaseHi]: offsets within +-2^31
// neither wrap nor reach 0 nor cross the sign bit, and the range holds
// the addresses the code really sees (the kernel's, 0xffff8880... and
// 0xffffc900..., and interp's tagged 0xff9...), so a comparison of a
// pointer with a number (signed: pointers are negative; jset of high
// bits) is proven only when it holds for the real addresses too. (It was
// [2^40, 2^60], where "r10 s> 0" held and B could drop code that runs.)
const (
	BaseLo = 0xff80_0000_0000_0000
	BaseHi = 0xffff_fffe_0000_0000
)

func (e *Encoder) assumeBase(t Term) {
	e.Assume = append(e.Assume, e.C.UGE(t, e.C.BV(BaseLo, 64)), e.C.ULE(t, e.C.BV(BaseHi, 64)))
}

// base is a region's symbolic base address (see BaseLo).
func (e *Encoder) base(name string) Term {
	if t, ok := e.consts[name]; ok {
		return t
	}
	t := e.C.Const(name, e.bv64)
	e.consts[name] = t
	e.assumeBase(t)
	return t
}

// StackBase is r10's value.
func (e *Encoder) StackBase() Term { return e.base("base_stack") }

// PktBase is data's value.
func (e *Encoder) PktBase() Term { return e.base("base_pkt") }

// CtxBase is the context pointer's value.
func (e *Encoder) CtxBase() Term { return e.base("base_ctx") }

// AuxBase is the address of the auxiliary object (flow keys).
func (e *Encoder) AuxBase() Term { return e.base("base_aux") }

// PktLen is the symbolic packet length (data_end - data).
func (e *Encoder) PktLen() Term {
	if t, ok := e.consts["pkt_len"]; ok {
		return t
	}
	t := e.C.Const("pkt_len", e.bv64)
	e.consts["pkt_len"] = t
	e.Assume = append(e.Assume, e.C.ULE(t, e.C.BV(uint64(e.Cfg.MaxPacket), 64)))
	return t
}

// Array is the initial contents of a region: bv64 (or key++bv64) -> bv8.
func (e *Encoder) Array(k RegionKey) Term {
	if t, ok := e.arrays[k]; ok {
		return t
	}
	var name string
	dom := e.bv64
	switch k.Kind {
	case PtrStack:
		name = "mem_stack"
	case PtrPacket:
		name = "mem_pkt"
	case PtrCtx:
		name = "mem_ctx"
	case PtrAux:
		name = "mem_aux"
	case PtrMapVal:
		name = fmt.Sprintf("mem_map%d", k.Map)
		dom = e.C.BVSort(64 + 8*e.Cfg.Maps[k.Map].KeySize)
	}
	t := e.C.Const(name, e.C.ArraySort(dom, e.bv8))
	e.arrays[k] = t
	return t
}

func (e *Encoder) fn(name string, dom []Sort, rng Sort) Func {
	if f, ok := e.funcs[name]; ok {
		return f
	}
	f := e.C.Func(name, dom, rng)
	e.funcs[name] = f
	return f
}

// MapValBase is the address of map m's value under key.
func (e *Encoder) MapValBase(m int, key Term) Term {
	kb := 8 * e.Cfg.Maps[m].KeySize
	f := e.fn(fmt.Sprintf("mapval_base%d", m), []Sort{e.C.BVSort(kb)}, e.bv64)
	t := e.C.Apply(f, key)
	e.assumeBase(t)
	return t
}

// Present says whether map m holds key (before any update in the run).
func (e *Encoder) Present(m int, key Term) Term {
	mi := e.Cfg.Maps[m]
	if mi.Array {
		return e.C.ULT(e.C.Extract(31, 0, key), e.C.BV(uint64(mi.MaxEntries), 32))
	}
	f := e.fn(fmt.Sprintf("map_present%d", m), []Sort{e.C.BVSort(8 * mi.KeySize)}, e.C.BoolSort())
	return e.C.Apply(f, key)
}

// Boolean helpers with Go-level constant folding.

func (e *Encoder) and(a, b Term) Term {
	switch {
	case a == e.fls || b == e.fls:
		return e.fls
	case a == e.tru:
		return b
	case b == e.tru:
		return a
	}
	return e.C.And(a, b)
}

func (e *Encoder) or(a, b Term) Term {
	switch {
	case a == e.tru || b == e.tru:
		return e.tru
	case a == e.fls:
		return b
	case b == e.fls:
		return a
	}
	return e.C.Or(a, b)
}

func (e *Encoder) not(a Term) Term {
	switch a {
	case e.tru:
		return e.fls
	case e.fls:
		return e.tru
	}
	return e.C.Not(a)
}

func (e *Encoder) ite(c, x, y Term) Term {
	switch {
	case c == e.tru || x == y:
		return x
	case c == e.fls:
		return y
	}
	return e.C.Ite(c, x, y)
}

// ScalarVal is an initialised scalar.
func (e *Encoder) ScalarVal(t Term) Val { return Val{T: t, Kind: Scalar, Init: e.tru} }

// PtrVal is an initialised non-NULL pointer of kind k at offset off
// (koff when constant) from base.
func (e *Encoder) PtrVal(k Kind, base, off Term, koff int64, kok bool) Val {
	return Val{T: e.C.Add(base, off), Kind: k, Off: off, KOff: koff, KOK: kok, Init: e.tru, Null: e.fls}
}

// ConstPtr is PtrVal at a constant offset.
func (e *Encoder) ConstPtr(k Kind, off int64) Val {
	return e.PtrVal(k, e.kindBase(k), e.C.BV(uint64(off), 64), off, true)
}

func (e *Encoder) kindBase(k Kind) Term {
	switch k {
	case PtrStack:
		return e.StackBase()
	case PtrPacket:
		return e.PktBase()
	case PtrCtx:
		return e.CtxBase()
	case PtrAux:
		return e.AuxBase()
	}
	return Term{}
}

// Uninit is an uninitialised register.
func (e *Encoder) Uninit() Val { return Val{T: e.C.BV(0, 64), Kind: Scalar, Init: e.fls} }

// ReadMem reads n bytes at a pointer-derived address (region k, key, off)
// from the final memory state of a run (init reported for the stack).
func (e *Encoder) ReadMem(f *Final, k RegionKey, key, off Term, koff int64, kok bool) (b, init Term) {
	m := f.Mem[k]
	return e.readByte(m, k, key, off, koff, kok, e.tru)
}

func (e *Encoder) readByte(m *Mem, k RegionKey, key, off Term, koff int64, kok bool, pc Term) (Term, Term) {
	var idx Term
	if k.Kind == PtrMapVal {
		idx = e.C.Concat(key, off)
	} else {
		idx = off
	}
	init := e.tru
	if k.Kind == PtrStack && !e.Cfg.StackInit {
		init = e.fls
	}
	if m == nil {
		return e.C.Select(e.Array(k), idx), init
	}
	// Scan from the oldest write so that later writes wrap earlier ones;
	// collect the relevant writes first (concrete mismatches skipped).
	v := e.C.Select(e.Array(k), idx)
	for i := range m.Writes {
		w := &m.Writes[i]
		var hit Term
		sameKey := k.Kind != PtrMapVal || w.Key == key
		switch {
		case kok && w.KOK && sameKey:
			if koff != w.KOff {
				continue
			}
			hit = w.Guard
		default:
			c := e.C.Eq(w.Off, off)
			if !sameKey {
				c = e.C.And(e.C.Eq(w.Key, key), c)
			}
			hit = e.and(w.Guard, c)
		}
		v = e.ite(hit, w.B, v)
		init = e.or(init, hit)
	}
	return v, init
}
