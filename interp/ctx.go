package interp

import "github.com/cilium/ebpf"

// Context pointer fields the machine fills in.
const (
	cpNone uint8 = iota
	cpData
	cpDataEnd
	cpMeta
	cpAux // flow_keys, sk
)

type ctxPtr struct {
	off  uint32
	kind uint8
}

type span struct{ lo, hi uint32 }

// ctxLayout describes a program type's context: its size, which fields
// are pointers, which byte ranges the program may write.
type ctxLayout struct {
	name     string
	size     int
	ptrs     []ctxPtr
	writable []span
	readOnly bool // no writes at all
	packet   bool // the program sees a packet
	auxSize  int
}

// __sk_buff offsets (include/uapi/linux/bpf.h).
const (
	skbLen       = 0
	skbPktType   = 4
	skbMark      = 8
	skbQueueMap  = 12
	skbProtocol  = 16
	skbPriority  = 32
	skbIngress   = 36
	skbIfindex   = 40
	skbTcIndex   = 44
	skbCb        = 48
	skbHash      = 68
	skbTcClassid = 72
	skbData      = 76
	skbDataEnd   = 80
	skbDataMeta  = 140
	skbFlowKeys  = 144
	skbTstamp    = 152
	skbSk        = 168
	skbSize      = 192

	xdpIngressIfindex = 12
	loopbackIfindex   = 1 // the test run's device

	xdpData     = 0
	xdpDataEnd  = 4
	xdpDataMeta = 8
	xdpSize     = 24

	sockAddrSize  = 72
	flowKeysSize  = 56
	flowKeysFlags = 48 // bpf_flow_keys.flags
)

var (
	xdpLayout = &ctxLayout{name: "xdp_md", size: xdpSize, packet: true, readOnly: true,
		ptrs: []ctxPtr{{xdpData, cpData}, {xdpDataEnd, cpDataEnd}, {xdpDataMeta, cpMeta}}}
	skbLayout = &ctxLayout{name: "__sk_buff", size: skbSize, packet: true,
		ptrs:     []ctxPtr{{skbData, cpData}, {skbDataEnd, cpDataEnd}, {skbDataMeta, cpMeta}, {skbSk, cpAux}},
		writable: []span{{skbMark, skbMark + 4}, {skbQueueMap, skbQueueMap + 4}, {skbPriority, skbPriority + 4}, {skbTcIndex, skbTcIndex + 4}, {skbCb, skbCb + 20}, {skbTcClassid, skbTcClassid + 4}, {skbTstamp, skbTstamp + 8}}}
	sockFilterLayout = &ctxLayout{name: "__sk_buff", size: skbSize, packet: true,
		ptrs:     []ctxPtr{{skbSk, cpAux}},
		writable: []span{{skbCb, skbCb + 20}}}
	flowLayout = &ctxLayout{name: "__sk_buff", size: skbSize, packet: true, auxSize: flowKeysSize,
		ptrs: []ctxPtr{{skbData, cpData}, {skbDataEnd, cpDataEnd}, {skbFlowKeys, cpAux}}, readOnly: true}
	sockAddrLayout = &ctxLayout{name: "bpf_sock_addr", size: sockAddrSize, auxSize: 80,
		ptrs:     []ctxPtr{{64, cpAux}},
		writable: []span{{4, 28}, {40, 60}}}
	ptRegsLayout  = &ctxLayout{name: "pt_regs", size: 168, readOnly: true}
	tpLayout      = &ctxLayout{name: "tracepoint", size: 256, readOnly: true}
	rawTpLayout   = &ctxLayout{name: "raw_tracepoint args", size: 12 * 8, readOnly: true}
	syscallLayout = &ctxLayout{name: "syscall ctx", size: 256}
	genericLayout = &ctxLayout{name: "ctx", size: 256}
)

func layoutFor(t ebpf.ProgramType) *ctxLayout {
	switch t {
	case ebpf.XDP:
		return xdpLayout
	case ebpf.SchedCLS, ebpf.SchedACT, ebpf.CGroupSKB, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
		return skbLayout
	case ebpf.SocketFilter:
		return sockFilterLayout
	case ebpf.FlowDissector:
		return flowLayout
	case ebpf.CGroupSockAddr:
		return sockAddrLayout
	case ebpf.Kprobe, ebpf.PerfEvent:
		return ptRegsLayout
	case ebpf.TracePoint:
		return tpLayout
	case ebpf.RawTracepoint, ebpf.RawTracepointWritable, ebpf.Tracing:
		return rawTpLayout
	case ebpf.Syscall:
		return syscallLayout
	}
	return genericLayout
}

// CtxPointer is what a context field holds when the kernel fills it with
// a pointer rather than a value.
type CtxPointer uint8

// Context pointer fields (CtxPointerAt).
const (
	CtxNoPointer CtxPointer = iota
	CtxData                 // the packet's first byte (a 4-byte load)
	CtxDataEnd              // one past its last byte (a 4-byte load)
	CtxDataMeta             // the XDP/tc metadata start (a 4-byte load)
	CtxAux                  // flow keys, socket (an 8-byte load)
)

// CtxPointerAt reports which pointer a load at offset off of the context
// of programs of type t yields (CtxNoPointer: a plain value).
func CtxPointerAt(t ebpf.ProgramType, off int) CtxPointer {
	for _, f := range layoutFor(t).ptrs {
		if int(f.off) == off {
			return CtxPointer(f.kind) // cpData.. and CtxData.. are in the same order
		}
	}
	return CtxNoPointer
}

// CtxSize is the size of the context structure of programs of type t.
func CtxSize(t ebpf.ProgramType) int { return layoutFor(t).size }

// ctxLoad reads size bytes at off of the context.
func (m *Machine) ctxLoad(off uint32, size uint8) (uint64, FaultKind) {
	l := m.layout
	if uint64(off)+uint64(size) > uint64(l.size) {
		return 0, FaultCtxAccess
	}
	for _, p := range l.ptrs {
		if off == p.off {
			if size != 4 && !(p.kind == cpAux && size == 8) {
				return 0, FaultCtxAccess
			}
			switch p.kind {
			case cpData:
				return mkptr(regPacket, int(m.data)), FaultNone
			case cpDataEnd:
				return mkptr(regPacket, int(m.dend)), FaultNone
			case cpMeta:
				return mkptr(regPacket, int(m.meta)), FaultNone
			case cpAux:
				return mkptr(regAux, 0), FaultNone
			}
		}
		if off < p.off+4 && off+uint32(size) > p.off {
			return 0, FaultCtxAccess // partial pointer read
		}
	}
	return loadLE(m.ctx[off:], size), FaultNone
}

// ctxStore writes the context; only the type's writable fields.
func (m *Machine) ctxStore(off uint32, size uint8, v uint64) FaultKind {
	l := m.layout
	end := uint64(off) + uint64(size)
	if end > uint64(l.size) || l.readOnly {
		return FaultCtxAccess
	}
	if l.writable != nil {
		ok := false
		for _, s := range l.writable {
			if off >= s.lo && end <= uint64(s.hi) {
				ok = true
				break
			}
		}
		if !ok {
			return FaultCtxAccess
		}
	}
	storeLE(m.ctx[off:], size, v)
	return FaultNone
}
