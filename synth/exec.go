package synth

import (
	"math/bits"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
)

// cinsn is the search's form of one window instruction: the op resolved
// once, the immediate sign-extended (or the 64-bit constant of an
// ld_imm64), and a jump's target as a window position (n = the window's
// exit) instead of a slot offset, so that proposals never need jump fix-ups.
type cinsn struct {
	op       bpf.Op
	dst, src uint8
	off      int16
	imm      int64
	tgt      int16
}

// nop is the deletion placeholder inside a candidate.
var nop = cinsn{op: bpf.OpJa, tgt: -1}

func (c cinsn) isNop() bool { return c.op == bpf.OpJa && c.tgt < 0 }

// sem is what the evaluator needs of an op, read once from the table.
type sem struct {
	kind   bpf.Kind
	w32    bool // 32-bit ALU or jump
	immSrc bool
	size   uint8
	sbits  uint8 // movsx source width
	width  uint8
	atomic int32
	ok     bool // the evaluator implements it
}

var sems = func() (t [bpf.NumOps + 1]sem) {
	for _, op := range bpf.Ops() {
		i := op.Info()
		s := sem{kind: i.Kind, w32: i.Width == 32, immSrc: i.ImmSrc, size: i.Size, sbits: i.SrcBits, width: i.Width, atomic: i.Atomic}
		switch i.Kind {
		case bpf.KindAddrSpaceCast, bpf.KindMayGoto, bpf.KindCall, bpf.KindCallLocal, bpf.KindCallKfunc,
			bpf.KindExit, bpf.KindLdAbs, bpf.KindLdInd:
		case bpf.KindLdImm64:
			s.ok = i.Pseudo == bpf.PseudoNone
		case bpf.KindJa:
			s.ok = op == bpf.OpJa // gotol: not inside windows
		case bpf.KindLe, bpf.KindBe, bpf.KindBswap:
			s.ok = true
			s.w32 = false
		default:
			s.ok = true
		}
		if i.Has(bpf.FlagJump) && i.Kind != bpf.KindJa {
			s.w32 = i.Class == bpf.ClassJMP32
		}
		t[op] = s
	}
	return t
}()

// Pointers in tests are tagged like interp's: ptrTag in the top byte, the
// region in the next, a biased 32-bit offset at the bottom.
const (
	ptrTag  = 0xbf
	ptrBias = 1 << 31
)

// Regions a test's pointers may point into.
const (
	RegStack  = iota // offset StackSize is r10
	RegCtx           // the context
	RegPacket        // offset 0 is data
	RegMap0          // map values, one region per distinct map at the window entry
	// RegAux is the program type's auxiliary object: a flow dissector's
	// flow keys (empty for other types, whose sockets stay opaque).
	RegAux     = RegMap0 + 4
	NumRegions = RegAux + 1
	// RegOpaque tags pointers the evaluator cannot dereference (map
	// pointers, sockets, ring buffer memory, ...): they may only be
	// copied, compared and spilled.
	RegOpaque = NumRegions
)

// StackSize is the frame the window sees.
const StackSize = 512

// auxSize is the size of the auxiliary object tests give programs of type
// typ: struct bpf_flow_keys for flow dissectors, else none.
func auxSize(typ ebpf.ProgramType) int {
	if typ == ebpf.FlowDissector {
		return 56
	}
	return 0
}

// Ptr is the test value of a pointer to offset off of region r.
func Ptr(r int, off int) uint64 {
	return uint64(ptrTag)<<56 | uint64(r)<<48 | uint64(uint32(off+ptrBias))
}

// fault kinds of the evaluator (0 = none).
const (
	fNone = iota
	fUninitReg
	fBadAddr
	fOOB
	fUninitStack
	fUnsupported
	fPtrOp // an operation the verifier refuses on a pointer
)

// isPtr reports whether v is a tagged pointer value.
func isPtr(v uint64) bool { return v>>56 == ptrTag && (v>>48)&0xff <= RegOpaque }

// ptrArithOK reports whether the verifier allows pointer arithmetic on a
// pointer to region r (constant maps, data_end and opaque pointers: no).
func ptrArithOK(v uint64) bool { return (v>>48)&0xff < RegOpaque }

// Test is one window input: registers and memory at the window's entry.
// The evaluator mutates Mem during a run and restores it afterwards, so a
// Test belongs to one goroutine at a time (chains clone their tests).
type Test struct {
	Regs      [bpf.NumRegs]uint64
	Init      bpf.RegSet
	Mem       [NumRegions][]byte
	StackInit []bool // len StackSize

	// Expected results, filled by the original window's run.
	want     [bpf.NumRegs]uint64
	wantInit bpf.RegSet
	wantMem  []memByte
	wantExit int // 0: the window's end; j: Window.Exits[j-1]
	// typ gives the context's pointer fields (0: none known)
	typ ebpf.ProgramType
}

// Clone returns a deep copy of t.
func (t *Test) Clone() *Test {
	c := *t
	for r := range c.Mem {
		c.Mem[r] = append([]byte(nil), t.Mem[r]...)
	}
	c.StackInit = append([]bool(nil), t.StackInit...)
	c.wantMem = append([]memByte(nil), t.wantMem...)
	return &c
}

type memByte struct {
	region uint8
	off    uint32
	val    byte
}

type logEntry struct {
	region  uint8
	off     uint32
	old     byte
	oldInit bool
}

// machine runs candidates on tests. It is reused across runs and
// allocates nothing once its log has grown.
type machine struct {
	r    [16]uint64
	init uint16
	log  []logEntry
	t    *Test
	exit int    // how the last run left: 0 the end, j Window.Exits[j-1]
	path uint64 // a hash of the branches the last run took
	// track, when set, records where compared values came from (test
	// generation only; see flip.go).
	track *tracker
}

func (m *machine) resolve(a uint64, size uint8) ([]byte, uint32, int) {
	if a>>56 != ptrTag || (a>>32)&0xffff > 0xff {
		return nil, 0, fBadAddr
	}
	reg := int(a>>48) & 0xff
	if reg >= NumRegions {
		return nil, 0, fBadAddr
	}
	buf := m.t.Mem[reg]
	off := int64(uint32(a)) - ptrBias
	if off < 0 || off+int64(size) > int64(len(buf)) {
		return nil, 0, fOOB
	}
	if reg == RegStack && off&int64(size-1) != 0 {
		return nil, 0, fBadAddr // the verifier wants aligned stack accesses
	}
	return buf, uint32(off), fNone
}

func (m *machine) load(a uint64, size uint8) (uint64, int) {
	buf, off, f := m.resolve(a, size)
	if f != fNone {
		return 0, f
	}
	if a>>48&0xff == RegStack {
		for _, ok := range m.t.StackInit[off : off+uint32(size)] {
			if !ok {
				return 0, fUninitStack
			}
		}
	}
	if a>>48&0xff == RegCtx && m.t.typ != 0 {
		if k := interp.CtxPointerAt(m.t.typ, int(off)); k != interp.CtxNoPointer {
			return m.t.ctxPointer(k, size)
		}
	}
	var v uint64
	for i := int(size) - 1; i >= 0; i-- {
		v = v<<8 | uint64(buf[off+uint32(i)])
	}
	return v, fNone
}

// ctxPointer is the value of a load of a context pointer field: the
// packet's bounds as test pointers (no metadata: data_meta = data), the
// flow keys (RegAux) of a flow dissector, an opaque pointer for sockets.
// Other sizes are refused, as by the verifier.
func (t *Test) ctxPointer(k interp.CtxPointer, size uint8) (uint64, int) {
	switch {
	case k == interp.CtxAux && size == 8:
		if len(t.Mem[RegAux]) > 0 {
			return Ptr(RegAux, 0), fNone
		}
		return Ptr(RegOpaque, 0), fNone
	case k == interp.CtxAux || size != 4:
		return 0, fPtrOp
	case k == interp.CtxDataEnd:
		return Ptr(RegPacket, len(t.Mem[RegPacket])), fNone
	}
	return Ptr(RegPacket, 0), fNone
}

func (m *machine) store(a uint64, size uint8, v uint64) int {
	buf, off, f := m.resolve(a, size)
	if f != fNone {
		return f
	}
	reg := uint8(a >> 48)
	stack := reg == RegStack
	if reg == RegCtx && m.t.typ != 0 && interp.CtxPointerAt(m.t.typ, int(off)) != interp.CtxNoPointer {
		return fPtrOp // the kernel fills these fields; programs cannot write them
	}
	for i := uint32(0); i < uint32(size); i++ {
		e := logEntry{region: reg, off: off + i, old: buf[off+i]}
		if stack {
			e.oldInit = m.t.StackInit[off+i]
			m.t.StackInit[off+i] = true
		}
		m.log = append(m.log, e)
		buf[off+i] = byte(v >> (8 * i))
	}
	return fNone
}

// undo restores the test's memory.
func (m *machine) undo() {
	for i := len(m.log) - 1; i >= 0; i-- {
		e := m.log[i]
		m.t.Mem[e.region][e.off] = e.old
		if e.region == RegStack {
			m.t.StackInit[e.off] = e.oldInit
		}
	}
	m.log = m.log[:0]
}

func sext(v uint64, b uint8) uint64 { return uint64(int64(v<<(64-b)) >> (64 - b)) }

// alu computes one ALU op of width 32 or 64 (operands already read).
func alu(s *sem, a, b uint64) uint64 {
	if s.w32 {
		a, b = uint64(uint32(a)), uint64(uint32(b))
	}
	w := 64
	if s.w32 {
		w = 32
	}
	if r, ok := bpf.EvalALU(s.kind, w, a, b); ok {
		return r
	}
	var r uint64
	switch s.kind {
	case bpf.KindNeg:
		r = -a
	case bpf.KindMov:
		r = b
	case bpf.KindMovSX:
		r = sext(b, s.sbits)
	case bpf.KindLe:
		r = a & (1<<s.width - 1)
		if s.width == 64 {
			r = a
		}
	case bpf.KindBe, bpf.KindBswap:
		switch s.width {
		case 16:
			r = uint64(bits.ReverseBytes16(uint16(a)))
		case 32:
			r = uint64(bits.ReverseBytes32(uint32(a)))
		default:
			r = bits.ReverseBytes64(a)
		}
	}
	if s.w32 {
		r = uint64(uint32(r))
	}
	return r
}

func cond(s *sem, a, b uint64) bool {
	w := 64
	if s.w32 {
		w = 32
	}
	taken, _ := bpf.EvalCond(s.kind, w, a, b)
	return taken
}

// run executes prog on t from its entry state. Memory writes stay in t
// (logged) until undo. It returns a fault kind (fNone when the window was
// left, m.exit saying how).
func (m *machine) run(prog []cinsn, t *Test) int {
	m.t = t
	m.log = m.log[:0]
	copy(m.r[:], t.Regs[:])
	m.r[bpf.R10] = Ptr(RegStack, StackSize)
	m.init = uint16(t.Init) | 1<<bpf.R10
	n := len(prog)
	pc := 0
	m.path = 0
	if m.track != nil {
		m.track.start(m)
	}
	for pc < n {
		c := &prog[pc]
		s := &sems[c.op]
		pc++
		if c.isNop() {
			continue
		}
		dst, src := c.dst&15, c.src&15
		switch s.kind {
		case bpf.KindAdd, bpf.KindSub, bpf.KindMul, bpf.KindDiv, bpf.KindMod, bpf.KindSDiv, bpf.KindSMod,
			bpf.KindOr, bpf.KindAnd, bpf.KindXor, bpf.KindLsh, bpf.KindRsh, bpf.KindArsh,
			bpf.KindNeg, bpf.KindLe, bpf.KindBe, bpf.KindBswap:
			if m.init&(1<<dst) == 0 {
				return fUninitReg
			}
			b := uint64(c.imm)
			srcReg := !s.immSrc && s.kind != bpf.KindNeg && s.kind < bpf.KindLe
			if srcReg {
				if m.init&(1<<src) == 0 {
					return fUninitReg
				}
				b = m.r[src]
			}
			// the verifier's pointer rules: only 64-bit add/sub of a
			// scalar to a pointer, scalar + pointer, pointer - pointer
			if a := m.r[dst]; isPtr(a) || srcReg && isPtr(b) {
				switch {
				case s.w32 || (s.kind != bpf.KindAdd && s.kind != bpf.KindSub):
					return fPtrOp
				case isPtr(a) && srcReg && isPtr(b):
					if s.kind != bpf.KindSub || (a>>48) != (b>>48) {
						return fPtrOp
					}
				case isPtr(a) && !ptrArithOK(a), srcReg && isPtr(b) && (!ptrArithOK(b) || s.kind != bpf.KindAdd):
					return fPtrOp
				}
			}
			if m.track != nil && (s.kind == bpf.KindAdd || s.kind == bpf.KindSub) {
				m.track.add(dst, m.r[dst], b, s.kind == bpf.KindSub, alu(s, m.r[dst], b))
			}
			m.r[dst] = alu(s, m.r[dst], b)
		case bpf.KindMov, bpf.KindMovSX:
			b := uint64(c.imm)
			if !s.immSrc {
				if m.init&(1<<src) == 0 {
					return fUninitReg
				}
				b = m.r[src]
				if isPtr(b) && (s.w32 || s.kind == bpf.KindMovSX) {
					return fPtrOp // partial copy of a pointer
				}
			}
			m.r[dst] = alu(s, 0, b)
			m.init |= 1 << dst
			if m.track != nil && !s.immSrc {
				o := m.track.origin[src]
				o.val = m.r[dst]
				m.track.origin[dst] = o
			}
		case bpf.KindLdImm64:
			m.r[dst] = uint64(c.imm)
			m.init |= 1 << dst
		case bpf.KindJa:
			pc = int(c.tgt)
		case bpf.KindJeq, bpf.KindJne, bpf.KindJgt, bpf.KindJge, bpf.KindJlt, bpf.KindJle, bpf.KindJset,
			bpf.KindJsgt, bpf.KindJsge, bpf.KindJslt, bpf.KindJsle:
			if m.init&(1<<dst) == 0 {
				return fUninitReg
			}
			b := uint64(c.imm)
			if !s.immSrc {
				if m.init&(1<<src) == 0 {
					return fUninitReg
				}
				b = m.r[src]
			} else if isPtr(m.r[dst]) && (s.w32 || c.imm != 0 || s.kind != bpf.KindJeq && s.kind != bpf.KindJne) {
				// a pointer against a constant: only == 0 and != 0 are
				// NULL checks to the verifier; `if r0 <= 4` is the same
				// branch on any real pointer but leaves r0 _or_null
				return fPtrOp
			}
			if m.track != nil {
				m.track.compare(m, dst, src, !s.immSrc, b)
			}
			if cond(s, m.r[dst], b) {
				m.path = m.path*31 + uint64(pc) // the position after the jump: which branch
				pc = int(c.tgt)
			}
		case bpf.KindLoad, bpf.KindLoadSX, bpf.KindLoadAcquire:
			if m.init&(1<<src) == 0 {
				return fUninitReg
			}
			v, f := m.load(m.r[src]+uint64(int64(c.off)), s.size)
			if f != fNone {
				return f
			}
			if s.kind == bpf.KindLoadSX {
				v = sext(v, 8*s.size)
			}
			m.r[dst] = v
			m.init |= 1 << dst
			if m.track != nil {
				m.track.origin[dst] = origin{addr: m.r[src] + uint64(int64(c.off)), size: s.size, val: v}
			}
		case bpf.KindStore, bpf.KindStoreRelease, bpf.KindStoreImm:
			if m.init&(1<<dst) == 0 {
				return fUninitReg
			}
			v := uint64(c.imm)
			if s.kind != bpf.KindStoreImm {
				if m.init&(1<<src) == 0 {
					return fUninitReg
				}
				v = m.r[src]
				// pointers are only spilled whole to the stack
				if isPtr(v) && (s.size != 8 || (m.r[dst]>>48)&0xff != RegStack) {
					return fPtrOp
				}
			}
			if f := m.store(m.r[dst]+uint64(int64(c.off)), s.size, v); f != fNone {
				return f
			}
		case bpf.KindAtomic:
			if f := m.atomic(c, s); f != fNone {
				return f
			}
		default:
			return fUnsupported
		}
	}
	m.exit = pc - n // a jump to n+j leaves by exit j
	return fNone
}

func (m *machine) atomic(c *cinsn, s *sem) int {
	dst, src := c.dst&15, c.src&15
	if m.init&(1<<dst) == 0 || m.init&(1<<src) == 0 {
		return fUninitReg
	}
	addr := m.r[dst] + uint64(int64(c.off))
	old, f := m.load(addr, s.size)
	if f != fNone {
		return f
	}
	v := m.r[src]
	op := s.atomic &^ bpf.AtomicFetch
	var nv uint64
	switch op {
	case bpf.AtomicAdd:
		nv = old + v
	case bpf.AtomicOr:
		nv = old | v
	case bpf.AtomicAnd:
		nv = old & v
	case bpf.AtomicXor:
		nv = old ^ v
	case bpf.AtomicXchg &^ bpf.AtomicFetch:
		nv = v
	case bpf.AtomicCmpxchg &^ bpf.AtomicFetch:
		if m.init&1 == 0 {
			return fUninitReg
		}
		cmp := m.r[0]
		if s.size == 4 {
			cmp = uint64(uint32(cmp))
		}
		nv = old
		if old == cmp {
			nv = v
		}
		if f := m.store(addr, s.size, nv); f != fNone {
			return f
		}
		m.r[0] = old
		return fNone
	default:
		return fUnsupported
	}
	if f := m.store(addr, s.size, nv); f != fNone {
		return f
	}
	if s.atomic&bpf.AtomicFetch != 0 {
		m.r[src] = old
	}
	return fNone
}
