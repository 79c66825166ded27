package interp

import (
	"encoding/binary"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// Sizes the machine gives a program.
const (
	StackSize = 512 // bytes per frame
	MaxFrames = 8   // bpf-to-bpf call depth limit (MAX_CALL_FRAMES)

	// XDP packet layout as BPF_PROG_TEST_RUN builds it (net/bpf/test_run.c):
	// a 4 KiB frame, 256 bytes of headroom, skb_shared_info at the end.
	xdpHeadroom  = 256
	xdpFrameSize = 4096
	xdpTailroom  = 320 // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	xdpFrameHdr  = 40  // sizeof(struct xdp_frame), reserved at the start
	xdpMetaMax   = 32

	// DefaultStepBudget bounds a run; may_goto's counter is 1<<23 per frame
	// in the kernel, bpf_loop's 1<<23 iterations.
	DefaultStepBudget = 1 << 20
)

// Tagged pointers: bits 52-63 hold ptrTag, bits 32-51 the region id and
// bits 0-31 the offset within the region's buffer.
const (
	ptrTag   = 0xff9
	ptrShift = 52
	idMask   = 1<<20 - 1
)

// Offsets are stored biased by ptrBias so that a pointer moved below its
// region's start stays in the region (and faults as out of bounds).
const ptrBias = 1 << 31

func mkptr(id int, off int) uint64 {
	return ptrTag<<ptrShift | uint64(id)<<32 | uint64(uint32(off+ptrBias))
}

// ptrOff is the (signed) offset of a tagged pointer within its region.
func ptrOff(a uint64) int64 { return int64(uint32(a)) - ptrBias }

// region kinds.
const (
	rDead uint8 = iota
	rStack
	rCtx
	rPacket
	rMem    // plain memory: map values, ring-buffer records, flow keys
	rHandle // a map handle: an argument for helpers, never dereferenced
	rCode   // a subprogram address (bpf_loop callbacks)
)

type region struct {
	buf   []byte
	lo    uint32 // accessible window [lo, hi) of buf
	hi    uint32
	kind  uint8
	ro    bool
	init  []byte // stack: per-byte init flags, 1 = initialised
	owner int32  // rHandle: map index; rMem of a map value: map index, else -1
	slot  int32  // rMem of a map value: entry slot
}

// Fixed region ids.
const (
	regStack0  = 1 // frames 0..MaxFrames-1
	regCtx     = regStack0 + MaxFrames
	regPacket  = regCtx + 1
	regAux     = regPacket + 1 // flow keys (flow dissector), socket (sock_addr)
	regCode    = regAux + 1
	regHandle0 = regCode + 1 // one per map
)

// Options tune a Machine.
type Options struct {
	// StepBudget is the number of instructions after which a run stops
	// with FaultStepBudget; 0 means DefaultStepBudget.
	StepBudget uint64
}

// Env holds the values of non-deterministic helpers. The n-th call (from
// 0) of bpf_ktime_get_ns returns Ktime + n*KtimeStep; bpf_get_prandom_u32
// returns a deterministic sequence seeded by Rand.
type Env struct {
	Ktime        uint64
	KtimeStep    uint64
	Rand         uint64
	CPU          uint32
	PidTgid      uint64
	UidGid       uint64
	Comm         [16]byte
	SocketCookie uint64
	// ProbeMem is memory the probe_read helpers can read, mapped at
	// ProbeAddr (tracing programs' pointers point there).
	ProbeAddr uint64
	ProbeMem  []byte
	// RingbufFail: bit n set makes the n-th (from 0) ring-buffer
	// reservation or output of the run fail as on a full ring
	// (reserve returns NULL, output -EAGAIN).
	RingbufFail uint64
	// SkbWriteFail: bit n set makes the n-th (from 0) packet-writing
	// helper call of a tc program (skb_store_bytes, l3/l4_csum_replace)
	// fail with -EFAULT as when the skb cannot be made writable (a cloned
	// skb and no memory). The kernel's test run never fails them, so the
	// differential leaves it 0; input generation uses it to reach the
	// programs' error paths.
	SkbWriteFail uint64
	// MapFull: bit i set makes map i (a hash or LPM map) full: inserting
	// a key it does not hold fails (-E2BIG, LPM -ENOSPC) as when
	// max_entries other keys fill it; updates of held keys still work.
	// The differential leaves it 0 (the kernel map would need max_entries
	// entries); input generation uses it for failed-update paths.
	MapFull uint64
	// FlowFlags is bpf_flow_keys.flags a flow dissector program gets
	// (BPF_FLOW_DISSECTOR_F_*: the caller's parse-first-fragment,
	// stop-at-flow-label, stop-at-encapsulation requests; a test run
	// takes them from ctx_in).
	FlowFlags uint32
	// Fib gives the results of bpf_fib_lookup calls: the n-th call uses
	// Fib[n] (the last element once they run out). With none, every call
	// returns BPF_FIB_LKUP_RET_NOT_FWDED and leaves the struct alone.
	Fib []FibResult
}

// FibResult is one bpf_fib_lookup outcome. The routing tables and the
// neighbour cache are outside the program, so the result is an input.
type FibResult struct {
	Ret int64
	// Params, when set, is the whole struct bpf_fib_lookup as the kernel
	// left it (a result replayed from the kernel); it is copied over the
	// program's struct verbatim and the fields below are ignored.
	Params []byte
	// On success (Ret 0) and BPF_FIB_LKUP_RET_NO_NEIGH the kernel fills
	// the egress ifindex and, on success, the MAC addresses and the MTU.
	Ifindex    uint32
	Smac, Dmac [6]byte
	MTU        uint16
}

// Input is the initial state of a run.
type Input struct {
	// Packet is the packet for XDP, tc, socket filter and flow dissector
	// programs (the bytes data..data_end).
	Packet []byte
	// Ctx holds the raw context structure (xdp_md, __sk_buff, pt_regs,
	// bpf_sock_addr, tracepoint record, ...). Pointer fields (data,
	// data_end, data_meta, flow_keys) are ignored: the machine fills them.
	// Shorter than the type's context: the rest is zero.
	Ctx []byte
	// Meta is the XDP metadata in front of the packet (data_meta..data).
	Meta []byte
	// Maps gives each map's contents by index into Program.Maps; a nil
	// element (or a short slice) means the spec's Contents. Treat the
	// slices as immutable once used: the machine skips reloading a map
	// whose input slice is the one it loaded last time.
	Maps [][]KV
	Env  Env
	// Aux, when not nil, is the initial contents of the program type's
	// auxiliary object (a flow dissector's struct bpf_flow_keys) in place
	// of the test run's start values; shorter: the rest is zero.
	Aux []byte

	// Window mode (RunWindow): initial registers, which are initialised,
	// and stack contents of frame 0.
	Regs      [bpf.NumRegs]uint64
	RegInit   bpf.RegSet
	Stack     *[StackSize]byte
	StackInit *[StackSize]bool
}

// Call is one side-effecting helper call, in program order.
type Call struct {
	PC     int
	Helper int32
	Args   [5]uint64
	Ret    uint64
	Data   []byte // bytes the helper emitted (ringbuf/perf output, printk format)
}

// Output is the final state of a run. Its slices alias the Machine and
// stay valid until the next run.
type Output struct {
	R0     uint64
	Fault  Fault
	Steps  uint64
	Packet []byte // data..data_end after the run
	Meta   []byte // data_meta..data after the run (XDP)
	Calls  []Call
	// Aux is the auxiliary object after the run (a flow dissector's flow
	// keys, its output); nil for types without one.
	Aux []byte
	// Final registers and their init bits (meaningful in window mode).
	Regs    [bpf.NumRegs]uint64
	RegInit bpf.RegSet
	// Cover is the set of branch edges taken, when Machine.Coverage is on:
	// Cover[2*pc] fall-through, Cover[2*pc+1] jump taken.
	Cover []bool
}

type frame struct {
	ret   int32 // slot to return to
	saved [4]uint64
	sinit uint16 // init bits of r6-r9 (bits 6..9)
	loop  *loopState
}

// loopState is a bpf_loop in progress: the callback frame returns here.
type loopState struct {
	pc       int32 // the helper call's slot
	callback int32
	n, i     uint64
	ctx      uint64
}

// Machine executes one Program. It is not safe for concurrent use; make one
// per goroutine. Runs reuse all buffers.
type Machine struct {
	prog *Program
	opts Options

	r    [16]uint64 // r0-r10; 16 so that reg&15 indexing needs no bounds check
	init uint16

	regions []region
	nfixed  int
	epoch   uint32

	stack     [MaxFrames][StackSize]byte
	stackInit [MaxFrames][StackSize]byte
	frames    [MaxFrames]frame
	depth     int
	maxDepth  int
	loops     [MaxFrames]loopState

	ctx    []byte
	layout *ctxLayout
	pkt    []byte // whole packet frame
	data   uint32 // offsets into pkt
	dend   uint32
	meta   uint32
	aux    []byte
	zlo    uint32 // pkt[zlo:zhi] may be non-zero
	zhi    uint32

	maps []mapState

	calls    []Call
	callData []byte
	scratch  []byte // ring-buffer reservations
	scrUsed  int

	env       *Env
	nKtime    uint64
	nRingbuf  int
	nSkbWrite int
	nFib      int
	rnd       uint64
	mayGoto   uint64
	steps     uint64
	tailCalls int
	// the fast loop's rarely used parameters (exec.go)
	fastLo     int
	fastBudget uint64

	// Coverage turns on branch-edge recording into Output.Cover.
	Coverage bool
	// RecordLookups keeps the keys of map lookups (for input generation).
	RecordLookups bool
	lookups       []lookupRec
	cover         []bool
	// cmpLog records conditional jumps' operands into cmps (with
	// Coverage on), for comparison-guided input generation.
	cmpLog bool
	cmps   [256]cmpRec
	ncmp   int
	// cmpOnly limits cmpLog to the jump at slot cmpPC (branch solving).
	cmpOnly bool
	cmpPC   int
}

// NewMachine prepares a machine for p.
func NewMachine(p *Program, opts *Options) *Machine {
	m := &Machine{prog: p}
	if opts != nil {
		m.opts = *opts
	}
	if m.opts.StepBudget == 0 {
		m.opts.StepBudget = DefaultStepBudget
	}
	m.layout = layoutFor(p.Type)
	m.ctx = make([]byte, m.layout.size)
	m.aux = make([]byte, m.layout.auxSize)
	m.regions = make([]region, regHandle0+len(p.Maps), regHandle0+len(p.Maps)+64)
	for f := range MaxFrames {
		m.regions[regStack0+f] = region{buf: m.stack[f][:], hi: StackSize, kind: rStack, init: m.stackInit[f][:], owner: -1}
	}
	m.regions[regCtx] = region{buf: m.ctx, hi: uint32(len(m.ctx)), kind: rCtx, owner: -1}
	m.regions[regAux] = region{buf: m.aux, hi: uint32(len(m.aux)), kind: rMem, owner: -1}
	m.regions[regCode] = region{kind: rCode, owner: -1}
	m.maps = make([]mapState, len(p.Maps))
	for i := range p.Maps {
		m.regions[regHandle0+i] = region{kind: rHandle, owner: int32(i)}
		m.maps[i].setup(&p.Maps[i])
	}
	m.nfixed = len(m.regions)
	m.pkt = make([]byte, xdpFrameSize)
	m.scratch = make([]byte, 1<<16)
	m.cover = make([]bool, 2*len(p.code))
	return m
}

// Program returns the machine's program.
func (m *Machine) Program() *Program { return m.prog }

// reset loads in into the machine.
func (m *Machine) reset(in *Input) {
	m.regions = m.regions[:m.nfixed]
	m.epoch++
	for f := 0; f <= m.maxDepth; f++ {
		clear(m.stackInit[f][:])
	}
	m.depth, m.maxDepth = 0, 0
	m.calls = m.calls[:0]
	m.lookups = m.lookups[:0]
	m.callData = m.callData[:0]
	m.scrUsed = 0
	m.env = &in.Env
	m.nKtime = 0
	m.nRingbuf, m.nFib, m.nSkbWrite = 0, 0, 0
	m.rnd = in.Env.Rand
	m.mayGoto = 1 << 23
	m.steps = 0
	m.tailCalls = 0
	if m.Coverage {
		clear(m.cover)
	}
	m.ncmp = 0

	// Context: raw bytes; pointer fields are served by the layout.
	n := copy(m.ctx, in.Ctx)
	clear(m.ctx[n:])
	clear(m.aux)

	// Packet: XDP-like frame for every packet-carrying type.
	meta := len(in.Meta)
	if meta > xdpMetaMax {
		meta = xdpMetaMax
	}
	plen := len(in.Packet)
	if plen > xdpFrameSize-xdpHeadroom-xdpTailroom {
		plen = xdpFrameSize - xdpHeadroom - xdpTailroom
	}
	clear(m.pkt[m.zlo:m.zhi])
	m.data = xdpHeadroom
	m.meta = m.data - uint32(meta)
	m.dend = m.data + uint32(plen)
	m.zlo, m.zhi = m.meta, m.dend
	copy(m.pkt[m.meta:], in.Meta[:meta])
	copy(m.pkt[m.data:], in.Packet[:plen])
	m.setPacketWindow()
	if m.prog.Type == ebpf.FlowDissector && plen >= 14 {
		// struct bpf_flow_keys as the test run starts it: nhoff = thoff =
		// ETH_HLEN, n_proto = the Ethernet type (network order)
		m.aux[0], m.aux[2] = 14, 14
		copy(m.aux[10:12], in.Packet[12:14])
	}
	if m.prog.Type == ebpf.FlowDissector {
		binary.NativeEndian.PutUint32(m.aux[flowKeysFlags:], in.Env.FlowFlags)
	}
	if in.Aux != nil {
		n := copy(m.aux, in.Aux)
		clear(m.aux[n:])
	}

	for i := range m.maps {
		var kv []KV
		fromInput := i < len(in.Maps) && in.Maps[i] != nil
		if fromInput {
			kv = in.Maps[i]
		} else {
			kv = m.prog.Maps[i].Contents
		}
		m.maps[i].load(kv)
	}

	m.init = 1 << bpf.R10
	m.r = [16]uint64{}
	m.r[bpf.R10] = mkptr(regStack0, StackSize)
}

func (m *Machine) setPacketWindow() {
	m.regions[regPacket] = region{buf: m.pkt, lo: m.meta, hi: m.dend, kind: rPacket, owner: -1}
	if m.meta < m.zlo || m.zlo == m.zhi {
		m.zlo = m.meta
	}
	m.zhi = max(m.zhi, m.dend)
}

// Run executes the whole program on in, from slot 0 with r1 = ctx.
func (m *Machine) Run(in *Input) Output {
	m.reset(in)
	m.r[bpf.R1] = mkptr(regCtx, 0)
	m.init |= 1 << bpf.R1
	return m.exec(0, -1)
}

// RunWindow executes slots [start, end) of the program from the registers
// and stack of in: it stops when control reaches end (or any slot outside
// [start, end)), at exit, or on a fault. Output.Regs holds the final
// registers. Pointers in in.Regs are made with Machine.Pointer.
func (m *Machine) RunWindow(in *Input, start, end int) Output {
	m.reset(in)
	copy(m.r[:], in.Regs[:])
	m.r[bpf.R10] = mkptr(regStack0, StackSize)
	m.init = uint16(in.RegInit) | 1<<bpf.R10
	if in.Stack != nil {
		m.stack[0] = *in.Stack
	}
	if in.StackInit != nil {
		for i, ok := range in.StackInit {
			m.stackInit[0][i] = b2u8(ok)
		}
	}
	return m.execWindow(start, end)
}

// Region names a memory region for Machine.Pointer.
type Region uint8

// Regions a window input can point into.
const (
	RegionStack  Region = iota // frame 0's stack; offset 512 is r10
	RegionCtx                  // the context
	RegionPacket               // offset 0 is data (negative: headroom/meta)
	RegionAux                  // flow keys / socket of the program type
)

// Pointer returns the tagged pointer to offset off of region r, for window
// inputs. It is valid for any run of this machine.
func (m *Machine) Pointer(r Region, off int) uint64 {
	switch r {
	case RegionStack:
		return mkptr(regStack0, off)
	case RegionCtx:
		return mkptr(regCtx, off)
	case RegionPacket:
		return mkptr(regPacket, xdpHeadroom+off)
	case RegionAux:
		return mkptr(regAux, off)
	}
	return 0
}

// MapHandle returns the value an ld_imm64 of map i produces.
func (m *Machine) MapHandle(i int) uint64 { return mkptr(regHandle0+i, 0) }

// newRegion appends a dynamic region (valid until the next run).
func (m *Machine) newRegion(r region) int {
	if len(m.regions) > idMask {
		return -1
	}
	m.regions = append(m.regions, r)
	return len(m.regions) - 1
}

// record appends a side-effecting call.
func (m *Machine) record(pc int, id int32, nargs int, data []byte) *Call {
	c := Call{PC: pc, Helper: id}
	for i := 0; i < nargs && i < 5; i++ {
		c.Args[i] = m.r[1+i]
	}
	if data != nil {
		start := len(m.callData)
		m.callData = append(m.callData, data...)
		c.Data = m.callData[start:len(m.callData):len(m.callData)]
	}
	m.calls = append(m.calls, c)
	return &m.calls[len(m.calls)-1]
}

func (m *Machine) output(f Fault) Output {
	o := Output{R0: m.r[0], Fault: f, Steps: m.steps, Calls: m.calls, RegInit: bpf.RegSet(m.init)}
	copy(o.Regs[:], m.r[:bpf.NumRegs])
	if m.layout.packet {
		o.Packet = m.pkt[m.data:m.dend]
		o.Meta = m.pkt[m.meta:m.data]
	}
	if len(m.aux) > 0 {
		o.Aux = m.aux
	}
	if m.Coverage {
		o.Cover = m.cover
	}
	return o
}

// isPerCPU reports map types whose value the program sees per CPU.
func isPerCPU(t ebpf.MapType) bool {
	return t == ebpf.PerCPUArray || t == ebpf.PerCPUHash || t == ebpf.LRUCPUHash
}

type lookupRec struct {
	mapIdx int
	key    []byte
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}
