package interp

import (
	"encoding/binary"
	"math/bits"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// Helper ids (include/uapi/linux/bpf.h, enum bpf_func_id).
const (
	hMapLookup        = 1
	hMapUpdate        = 2
	hMapDelete        = 3
	hProbeRead        = 4
	hKtime            = 5
	hTracePrintk      = 6
	hPrandom          = 7
	hSmpID            = 8
	hSkbStoreBytes    = 9
	hL3Csum           = 10
	hL4Csum           = 11
	hTailCall         = 12
	hPidTgid          = 14
	hUidGid           = 15
	hComm             = 16
	hRedirect         = 23
	hPerfOutput       = 25
	hSkbLoadBytes     = 26
	hCsumDiff         = 28
	hNumaNode         = 42
	hXdpAdjustHead    = 44
	hProbeReadStr     = 45
	hSocketCookie     = 46
	hFibLookup        = 69
	hRedirectMap      = 51
	hXdpAdjustMeta    = 54
	hXdpAdjustTail    = 65
	hSpinLock         = 93
	hSpinUnlock       = 94
	hProbeReadUser    = 112
	hProbeReadKernel  = 113
	hProbeReadUserS   = 114
	hProbeReadKernelS = 115
	hKtimeBoot        = 125
	hRingbufOutput    = 130
	hRingbufReserve   = 131
	hRingbufSubmit    = 132
	hRingbufDiscard   = 133
	hKtimeCoarse      = 160
	hLoop             = 181
)

// Supported reports whether helper id has a model.
func Supported(id int32) bool {
	switch id {
	case hMapLookup, hMapUpdate, hMapDelete, hProbeRead, hKtime, hTracePrintk, hPrandom, hSmpID,
		hSkbStoreBytes, hL3Csum, hL4Csum, hTailCall, hPidTgid, hUidGid, hComm, hRedirect, hPerfOutput,
		hSkbLoadBytes, hCsumDiff, hNumaNode, hXdpAdjustHead, hProbeReadStr, hSocketCookie, hRedirectMap,
		hXdpAdjustMeta, hXdpAdjustTail, hSpinLock, hSpinUnlock, hProbeReadUser, hProbeReadKernel,
		hProbeReadUserS, hProbeReadKernelS, hKtimeBoot, hRingbufOutput, hRingbufReserve, hRingbufSubmit,
		hRingbufDiscard, hKtimeCoarse, hLoop, hFibLookup:
		return true
	}
	return false
}

// XDP and tc verdicts the redirect helpers return.
const (
	xdpAborted  = 0
	xdpRedirect = 4
	tcActShot   = 2
	tcActRedir  = 7
)

// mapArg decodes a map handle argument.
func (m *Machine) mapArg(v uint64) (int, *mapState, FaultKind) {
	if v>>ptrShift != ptrTag {
		return 0, nil, FaultHelperArg
	}
	id := int(v>>32) & idMask
	if id >= len(m.regions) || m.regions[id].kind != rHandle || ptrOff(v) != 0 {
		return 0, nil, FaultHelperArg
	}
	i := int(m.regions[id].owner)
	return i, &m.maps[i], FaultNone
}

// callHelper runs helper id called at slot pc; it returns the next slot.
func (m *Machine) callHelper(pc int, id int32) (int, FaultKind) {
	r := &m.r
	// Arguments are read before r0-r5 die; the exec loop already killed
	// r1-r5's init bits, the values stay in r[1..5] until we return.
	a1, a2, a3, a4, a5 := r[1], r[2], r[3], r[4], r[5]
	var ret uint64
	switch id {
	case hMapLookup:
		mi, s, f := m.mapArg(a1)
		if f != FaultNone {
			return 0, f
		}
		key, f := m.bytesAt(a2, uint64(s.ks), true, false)
		if f != FaultNone {
			return 0, f
		}
		if s.kind == mkDevmap && s.spec.Type != ebpf.DevMap && s.spec.Type != ebpf.DevMapHash {
			// cpumap: the verifier allows only redirect_map; xskmap
			// lookups return a socket (not modelled)
			return 0, FaultUnsupported
		}
		ret = m.lookup(mi, s, key)
		// misses of hash-like maps, and hits of array maps whose element
		// the input leaves at zero: both are keys worth giving a value
		if m.RecordLookups && (ret == 0 && s.kind != mkArray || ret != 0 && s.kind == mkArray && !s.spec.ReadOnly && s.spec.Contents == nil) {
			m.lookups = append(m.lookups, lookupRec{mi, append([]byte(nil), key...)})
		}
	case hMapUpdate:
		mi, s, f := m.mapArg(a1)
		if f != FaultNone {
			return 0, f
		}
		key, f := m.bytesAt(a2, uint64(s.ks), true, false)
		if f != FaultNone {
			return 0, f
		}
		val, f := m.bytesAt(a3, uint64(s.vs), true, false)
		if f != FaultNone {
			return 0, f
		}
		ret = m.update(mi, s, key, val, a4)
	case hMapDelete:
		_, s, f := m.mapArg(a1)
		if f != FaultNone {
			return 0, f
		}
		key, f := m.bytesAt(a2, uint64(s.ks), true, false)
		if f != FaultNone {
			return 0, f
		}
		ret = m.delete(s, key)
	case hKtime, hKtimeBoot, hKtimeCoarse:
		ret = m.env.Ktime + m.nKtime*m.env.KtimeStep
		m.nKtime++
	case hPrandom:
		ret = uint64(m.prandom())
	case hSmpID:
		ret = uint64(m.env.CPU)
	case hNumaNode:
		ret = 0
	case hPidTgid:
		ret = m.env.PidTgid
	case hUidGid:
		ret = m.env.UidGid
	case hSocketCookie:
		ret = m.env.SocketCookie
	case hComm:
		buf, f := m.bytesAt(a1, a2, false, true)
		if f != FaultNone {
			return 0, f
		}
		n := copy(buf, m.env.Comm[:])
		clear(buf[n:])
		if len(buf) > 0 {
			buf[len(buf)-1] = 0 // strscpy_pad NUL-terminates
		}
	case hSpinLock, hSpinUnlock:
		if _, f := m.bytesAt(a1, 4, false, false); f != FaultNone {
			return 0, f
		}
	case hTracePrintk:
		fmt, f := m.bytesAt(a1, a2, true, false)
		if f != FaultNone {
			return 0, f
		}
		m.record(pc, id, 5, fmt)
		ret = a2 // approximation: the formatted length is not modelled
		r[0], m.init = ret, m.init|1
		m.calls[len(m.calls)-1].Ret = ret
		return pc + 1, FaultNone
	case hProbeRead, hProbeReadUser, hProbeReadKernel:
		dst, f := m.bytesAt(a1, a2, false, true)
		if f != FaultNone {
			return 0, f
		}
		ret = m.probeRead(dst, a3, false)
	case hProbeReadStr, hProbeReadUserS, hProbeReadKernelS:
		dst, f := m.bytesAt(a1, a2, false, true)
		if f != FaultNone {
			return 0, f
		}
		ret = m.probeRead(dst, a3, true)
	case hSkbLoadBytes:
		dst, f := m.bytesAt(a3, a4, false, true)
		if f != FaultNone {
			return 0, f
		}
		if !m.skbCtx(a1) {
			return 0, FaultHelperArg
		}
		plen := uint64(m.dend - m.data)
		if uint64(uint32(a2)) != a2 || a2 > 0x7fffffff || a2+a4 > plen {
			clear(dst)
			ret = negErr(eFAULT)
		} else {
			copy(dst, m.pkt[uint64(m.data)+a2:])
		}
	case hSkbStoreBytes:
		src, f := m.bytesAt(a3, a4, true, false)
		if f != FaultNone {
			return 0, f
		}
		if !m.skbCtx(a1) {
			return 0, FaultHelperArg
		}
		plen := uint64(m.dend - m.data)
		switch {
		case a5&^3 != 0:
			ret = negErr(eINVAL)
		case a2 > 0xffff || a2+a4 > plen || m.skbWriteFails():
			ret = negErr(eFAULT)
		default:
			copy(m.pkt[uint64(m.data)+a2:], src)
		}
		m.record(pc, id, 5, src)
	case hL3Csum, hL4Csum:
		if !m.skbCtx(a1) {
			return 0, FaultHelperArg
		}
		ret = m.csumReplace(id == hL4Csum, a2, a3, a4, a5)
	case hCsumDiff:
		from, f := m.bytesAt(a1, a2, true, false)
		if f != FaultNone {
			return 0, f
		}
		to, f := m.bytesAt(a3, a4, true, false)
		if f != FaultNone {
			return 0, f
		}
		ret = csumDiff(from, to, uint32(a5))
	case hXdpAdjustHead:
		ret = m.adjustHead(int64(int32(a2)))
	case hXdpAdjustMeta:
		ret = m.adjustMeta(int64(int32(a2)))
	case hXdpAdjustTail:
		ret = m.adjustTail(int64(int32(a2)))
	case hRedirect:
		if m.layout == xdpLayout {
			ret = xdpRedirect
			if a2 != 0 {
				ret = xdpAborted
			}
		} else {
			ret = tcActRedir
			if a2&^1 != 0 { // BPF_F_INGRESS
				ret = tcActShot
			}
		}
		m.record(pc, id, 2, nil).Ret = ret
		r[0], m.init = ret, m.init|1
		return pc + 1, FaultNone
	case hRedirectMap:
		_, s, f := m.mapArg(a1)
		if f != FaultNone {
			return 0, f
		}
		const actionMask = 3 // XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX
		const bcast = 1<<3 | 1<<4
		switch {
		case a3&^(actionMask|bcast) != 0:
			ret = xdpAborted
		case s.kind == mkDevmap && s.devFind(uint32(a2)) >= 0:
			ret = xdpRedirect
		default:
			ret = a3 & actionMask
		}
		m.record(pc, id, 3, nil).Ret = ret
		r[0], m.init = ret, m.init|1
		return pc + 1, FaultNone
	case hTailCall:
		if _, s, f := m.mapArg(a2); f != FaultNone || s.kind != mkProgArray {
			return 0, FaultHelperArg
		}
		// Program arrays are empty in the model: the call falls through.
		m.record(pc, id, 3, nil)
		m.init &^= 1 // RET_VOID: r0 is not initialised
		return pc + 1, FaultNone
	case hPerfOutput:
		_, s, f := m.mapArg(a2)
		if f != FaultNone || s.kind != mkPerfEvent {
			return 0, FaultHelperArg
		}
		data, f := m.bytesAt(a4, a5, true, false)
		if f != FaultNone {
			return 0, f
		}
		idx := a3 & 0xffffffff
		if idx == 0xffffffff {
			idx = uint64(m.env.CPU)
		}
		switch {
		case a3&^0xffffffff != 0:
			ret = negErr(eINVAL)
		case idx >= uint64(s.spec.MaxEntries):
			ret = negErr(eE2BIG)
		default:
			ret = negErr(eNOENT) // no perf event is open on the slot
		}
		m.record(pc, id, 5, data).Ret = ret
		r[0], m.init = ret, m.init|1
		return pc + 1, FaultNone
	case hRingbufOutput:
		_, s, f := m.mapArg(a1)
		if f != FaultNone || s.kind != mkRingbuf {
			return 0, FaultHelperArg
		}
		data, f := m.bytesAt(a2, a3, true, false)
		if f != FaultNone {
			return 0, f
		}
		switch {
		case a4&^3 != 0:
			ret = negErr(eINVAL)
		case !m.ringbufRoom(s, a3):
			ret = negErr(eAGAIN)
		}
		m.record(pc, id, 4, data).Ret = ret
		r[0], m.init = ret, m.init|1
		return pc + 1, FaultNone
	case hRingbufReserve:
		_, s, f := m.mapArg(a1)
		if f != FaultNone || s.kind != mkRingbuf {
			return 0, FaultHelperArg
		}
		if a3 == 0 && m.ringbufRoom(s, a2) && m.scrUsed+int(a2) <= len(m.scratch) {
			buf := m.scratch[m.scrUsed : m.scrUsed+int(a2) : m.scrUsed+int(a2)]
			m.scrUsed += int(a2)
			clear(buf)
			id := m.newRegion(region{buf: buf, hi: uint32(a2), kind: rMem, owner: -1})
			if id > 0 {
				ret = mkptr(id, 0)
			}
		}
	case hRingbufSubmit, hRingbufDiscard:
		rg, _, f := m.resolve(a1, 1)
		if f != FaultNone || rg.kind != rMem || rg.owner >= 0 || ptrOff(a1) != 0 {
			return 0, FaultHelperArg
		}
		var data []byte
		if id == hRingbufSubmit {
			data = rg.buf
		}
		rg.kind = rDead // the record is released
		m.record(pc, id, 2, data)
		m.init &^= 1 // void
		return pc + 1, FaultNone
	case hLoop:
		return m.loopStart(pc, a1, a2, a3, a4)
	case hFibLookup:
		if a1 != mkptr(regCtx, 0) || !m.layout.packet {
			return 0, FaultHelperArg
		}
		params, f := m.bytesAt(a2, a3, true, true)
		if f != FaultNone {
			return 0, f
		}
		c := m.record(pc, id, 4, params)
		ret = m.fibLookup(params, a4)
		c.Ret = ret
	default:
		return 0, FaultUnsupported
	}
	r[0] = ret
	m.init |= 1
	return pc + 1, FaultNone
}

// skbCtx reports whether v is the context pointer of an skb program.
func (m *Machine) skbCtx(v uint64) bool {
	return v == mkptr(regCtx, 0) && m.layout.packet && m.layout != xdpLayout
}

func (s *mapState) findU32(k uint32) int {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], k)
	if s.ks != 4 {
		return -1
	}
	return s.find(b[:])
}

// devFind returns the slot of a device (or CPU, socket) map's key, or
// -1; a DEVMAP is an array: keys at or beyond max_entries are absent.
func (s *mapState) devFind(k uint32) int {
	if s.spec.Type != ebpf.DevMapHash && k >= s.spec.MaxEntries {
		return -1
	}
	return s.findU32(k)
}

func (m *Machine) lookup(mi int, s *mapState, key []byte) uint64 {
	switch s.kind {
	case mkDevmap:
		// DEVMAP / DEVMAP_HASH from XDP: a pointer to the entry's struct
		// bpf_devmap_val {ifindex; prog id} (the value as user space
		// wrote it, read-only to the program), or NULL.
		i := s.devFind(binary.NativeEndian.Uint32(key))
		if i < 0 {
			return 0
		}
		return m.valueRegion(mi, i)
	case mkArray:
		i := binary.NativeEndian.Uint32(key)
		if i >= s.spec.MaxEntries {
			return 0
		}
		return m.valueRegion(mi, int(i))
	case mkHash, mkLRU:
		i := s.find(key)
		if i < 0 {
			return 0
		}
		if s.kind == mkLRU {
			s.touch(i)
		}
		return m.valueRegion(mi, i)
	case mkLPM:
		i := s.lpmFind(key)
		if i < 0 {
			return 0
		}
		return m.valueRegion(mi, i)
	}
	return 0
}

// Update flags.
const (
	bpfAny     = 0
	bpfNoExist = 1
	bpfExist   = 2
	bpfFLock   = 4
)

func (m *Machine) update(mi int, s *mapState, key, val []byte, flags uint64) uint64 {
	if flags&^(bpfNoExist|bpfExist|bpfFLock) != 0 || flags&3 == 3 {
		return negErr(eINVAL)
	}
	switch s.kind {
	case mkArray:
		i := binary.NativeEndian.Uint32(key)
		if i >= s.spec.MaxEntries {
			return negErr(eE2BIG)
		}
		if flags&3 == bpfNoExist {
			return negErr(eEXIST)
		}
		if s.spec.ReadOnly {
			return negErr(eINVAL)
		}
		s.markArray(int(i))
		copy(s.vals[int(i)*s.vs:int(i+1)*s.vs], val)
		return 0
	case mkHash, mkLRU:
		exists := s.find(key) >= 0
		if flags&3 == bpfNoExist && exists {
			return negErr(eEXIST)
		}
		if flags&3 == bpfExist && !exists {
			return negErr(eNOENT)
		}
		if !exists && s.kind == mkHash && m.mapFull(mi) {
			return negErr(eE2BIG)
		}
		s.dirty = true
		if s.insert(key, val) < 0 {
			return negErr(eE2BIG)
		}
		return 0
	case mkLPM:
		if m.mapFull(mi) && s.find(key) < 0 {
			return negErr(eNOSPC)
		}
		s.dirty = true
		if s.insert(key, val) < 0 {
			return negErr(eNOSPC)
		}
		return 0
	}
	return negErr(eINVAL)
}

func (m *Machine) delete(s *mapState, key []byte) uint64 {
	switch s.kind {
	case mkArray:
		return negErr(eINVAL)
	case mkHash, mkLRU, mkLPM:
		i := s.find(key)
		if i < 0 {
			return negErr(eNOENT)
		}
		s.dirty = true
		s.used[i] = false
		s.count--
		return 0
	}
	return negErr(eINVAL)
}

// prandom is a deterministic stand-in for bpf_get_prandom_u32 (splitmix64).
func (m *Machine) prandom() uint32 {
	m.rnd += 0x9e3779b97f4a7c15
	z := m.rnd
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return uint32(z ^ z>>31)
}

// probeRead reads "kernel/user memory": Env.ProbeMem mapped at
// Env.ProbeAddr, or any region the program can address. Unmapped: the
// destination is zeroed and -EFAULT returned, as the kernel does.
func (m *Machine) probeRead(dst []byte, src uint64, str bool) uint64 {
	var mem []byte
	if p := m.env.ProbeMem; src >= m.env.ProbeAddr && src-m.env.ProbeAddr < uint64(len(p)) {
		mem = p[src-m.env.ProbeAddr:]
	} else if _, f := m.bytesAt(src, 1, false, false); f == FaultNone {
		rg := &m.regions[int(src>>32)&idMask]
		mem = rg.buf[ptrOff(src):rg.hi]
	}
	if !str {
		if uint64(len(mem)) < uint64(len(dst)) {
			clear(dst)
			return negErr(eFAULT)
		}
		copy(dst, mem)
		return 0
	}
	if len(dst) == 0 {
		return 0
	}
	for i := range dst {
		if i == len(dst)-1 {
			dst[i] = 0
			return uint64(i + 1)
		}
		if i >= len(mem) {
			clear(dst)
			return negErr(eFAULT)
		}
		dst[i] = mem[i]
		if mem[i] == 0 {
			return uint64(i + 1)
		}
	}
	return uint64(len(dst))
}

// one's-complement helpers as in include/net/checksum.h
func csumAdd(a, b uint32) uint32 {
	s := a + b
	if s < b {
		s++
	}
	return s
}
func csumSub(a, b uint32) uint32 { return csumAdd(a, ^b) }
func csumFold(c uint32) uint16 {
	c = c&0xffff + c>>16
	c = c&0xffff + c>>16
	return ^uint16(c)
}
func csum16Add(c, a uint16) uint16 {
	s := c + a
	if s < a {
		s++
	}
	return s
}

// csumPartial is the 32-bit one's-complement sum of b (little-endian
// words, as the x86 kernel reads them) plus seed.
func csumPartial(b []byte, seed uint32) uint32 {
	var s uint64 = uint64(seed)
	for len(b) >= 4 {
		s += uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	var tail [4]byte
	copy(tail[:], b)
	if len(b) > 0 {
		s += uint64(binary.LittleEndian.Uint32(tail[:]))
	}
	s = s&0xffffffff + s>>32
	s = s&0xffffffff + s>>32
	return uint32(s)
}

// csumDiff models bpf_csum_diff as of Linux 6.12+: arch-independent and
// folded to 16 bits (csum_from32to16).
func csumDiff(from, to []byte, seed uint32) uint64 {
	if (len(from)|len(to))&3 != 0 || len(from)+len(to) > 512 {
		return negErr(eINVAL)
	}
	var ret uint32
	switch {
	case len(from) > 0 && len(to) > 0:
		ret = csumSub(csumPartial(to, seed), csumPartial(from, 0))
	case len(to) > 0:
		ret = csumPartial(to, seed)
	case len(from) > 0:
		ret = ^csumPartial(from, ^seed)
	default:
		ret = seed
	}
	return uint64(csumFrom32to16(ret))
}

func csumFrom32to16(x uint32) uint16 {
	x += bits.RotateLeft32(x, 16)
	return uint16(x >> 16)
}

// csumReplace models bpf_l3_csum_replace and bpf_l4_csum_replace on an skb
// whose ip_summed is CHECKSUM_NONE (what BPF_PROG_TEST_RUN builds).
func (m *Machine) csumReplace(l4 bool, off, from, to, flags uint64) uint64 {
	const (
		fieldMask  = 0xf
		pseudoHdr  = 1 << 4
		mangled0   = 1 << 5
		markForce  = 1 << 6
		ipv6       = 1 << 7
		csumMangle = 0xffff
	)
	allowed := uint64(fieldMask)
	if l4 {
		allowed |= pseudoHdr | mangled0 | markForce | ipv6
	}
	if flags&^allowed != 0 {
		return negErr(eINVAL)
	}
	if off > 0xffff || off&1 != 0 || off+2 > uint64(m.dend-m.data) || m.skbWriteFails() {
		return negErr(eFAULT)
	}
	p := m.pkt[uint64(m.data)+off:]
	sum := binary.NativeEndian.Uint16(p)
	if l4 && flags&mangled0 != 0 && flags&markForce == 0 && sum == 0 {
		return 0
	}
	switch flags & fieldMask {
	case 0:
		if from != 0 {
			return negErr(eINVAL)
		}
		sum = csumFold(csumAdd(uint32(to), ^uint32(sum)))
	case 2:
		if l4 {
			sum = csumFold(csumAdd(csumSub(^uint32(sum), uint32(uint16(from))), uint32(uint16(to))))
		} else {
			sum = ^csum16Add(csum16Add(^sum, ^uint16(from)), uint16(to))
		}
	case 4:
		sum = csumFold(csumAdd(csumSub(^uint32(sum), uint32(from)), uint32(to)))
	default:
		return negErr(eINVAL)
	}
	if l4 && flags&mangled0 != 0 && sum == 0 {
		sum = csumMangle
	}
	binary.NativeEndian.PutUint16(p, sum)
	return 0
}

func (m *Machine) packetChanged() {
	m.setPacketWindow()
}

func (m *Machine) adjustHead(delta int64) uint64 {
	if m.layout != xdpLayout {
		return negErr(eNOTSUP)
	}
	metalen := int64(m.data - m.meta)
	data := int64(m.data) + delta
	if data < xdpFrameHdr+metalen || data > int64(m.dend)-14 {
		return negErr(eINVAL)
	}
	if metalen > 0 {
		copy(m.pkt[int64(m.meta)+delta:], m.pkt[m.meta:m.data])
	}
	m.meta = uint32(int64(m.meta) + delta)
	m.data = uint32(data)
	m.packetChanged()
	return 0
}

func (m *Machine) adjustMeta(delta int64) uint64 {
	if m.layout != xdpLayout {
		return negErr(eNOTSUP)
	}
	meta := int64(m.meta) + delta
	if meta < xdpFrameHdr || meta > int64(m.data) {
		return negErr(eINVAL)
	}
	metalen := int64(m.data) - meta
	if metalen&3 != 0 || metalen > xdpMetaMax {
		return negErr(13) // EACCES
	}
	m.meta = uint32(meta)
	m.packetChanged()
	return 0
}

func (m *Machine) adjustTail(delta int64) uint64 {
	if m.layout != xdpLayout {
		return negErr(eNOTSUP)
	}
	end := int64(m.dend) + delta
	if end > xdpFrameSize-xdpTailroom || end < int64(m.data)+14 {
		return negErr(eINVAL)
	}
	if delta > 0 {
		clear(m.pkt[m.dend:end])
	}
	m.dend = uint32(end)
	m.packetChanged()
	return 0
}

// loopStart begins bpf_loop(nr, callback, ctx, flags).
func (m *Machine) loopStart(pc int, nr, cb, ctx, flags uint64) (int, FaultKind) {
	if cb>>ptrShift != ptrTag || int(cb>>32)&idMask != regCode {
		return 0, FaultHelperArg
	}
	if flags != 0 {
		m.r[0], m.init = negErr(eINVAL), m.init|1
		return pc + 1, FaultNone
	}
	nr = uint64(uint32(nr))
	if nr > 1<<23 {
		m.r[0], m.init = negErr(eE2BIG), m.init|1
		return pc + 1, FaultNone
	}
	if nr == 0 {
		m.r[0], m.init = 0, m.init|1
		return pc + 1, FaultNone
	}
	ls := &m.loops[m.depth]
	*ls = loopState{pc: int32(pc), callback: int32(ptrOff(cb)), n: nr, ctx: ctx}
	return m.loopCall(ls)
}

func (m *Machine) loopCall(ls *loopState) (int, FaultKind) {
	if f := m.push(int(ls.pc)+1, ls); f != FaultNone {
		return 0, f
	}
	m.r[1], m.r[2] = ls.i, ls.ctx
	m.init |= 1<<1 | 1<<2
	return int(ls.callback), FaultNone
}

// loopNext runs after a callback returned (r0: 0 continue, 1 stop).
func (m *Machine) loopNext(ls *loopState) (int, FaultKind) {
	ls.i++
	if m.r[0] == 0 && ls.i < ls.n {
		m.steps++ // the helper's own iteration counts against the budget
		if m.steps > m.opts.StepBudget {
			return 0, FaultStepBudget
		}
		return m.loopCall(ls)
	}
	m.r[0] = ls.i
	m.init = m.init&^0x3e | 1
	return int(ls.pc) + 1, FaultNone
}

var _ = bpf.R0

// mapFull reports whether Env.MapFull makes map mi full.
func (m *Machine) mapFull(mi int) bool {
	return mi < 64 && m.env.MapFull>>mi&1 != 0
}

// skbWriteFails reports whether this packet-writing helper call (skb
// store_bytes, l3/l4_csum_replace) fails as when the kernel cannot make
// the skb writable (bpf_try_make_writable: -EFAULT, packet unchanged):
// Env.SkbWriteFail.
func (m *Machine) skbWriteFails() bool {
	n := m.nSkbWrite
	m.nSkbWrite++
	return n < 64 && m.env.SkbWriteFail>>n&1 != 0
}

// ringbufRoom reports whether a record of size bytes can be reserved: it
// fits the ring (8-byte header, rounded up to 8) and the input does not
// make this reservation fail (Env.RingbufFail).
func (m *Machine) ringbufRoom(s *mapState, size uint64) bool {
	n := m.nRingbuf
	m.nRingbuf++
	if n < 64 && m.env.RingbufFail>>n&1 != 0 {
		return false
	}
	return size <= 1<<28 && (size+8+7)&^7 <= uint64(s.spec.MaxEntries)
}

// struct bpf_fib_lookup (include/uapi/linux/bpf.h).
const (
	fibSize      = 64
	fibFamily    = 0
	fibMTU       = 6 // mtu_result, a union with tot_len
	fibIfindex   = 8
	fibVlan      = 48
	fibSmac      = 52
	fibDmac      = 58
	fibFlagsMask = 0x3f // BPF_FIB_LOOKUP_DIRECT ... BPF_FIB_LOOKUP_MARK
	afInet       = 2
	afInet6      = 10
	eAFNOSUPPORT = 97
)

// fibLookup models bpf_fib_lookup: argument checks as the kernel does
// them, then the result Env.Fib gives.
func (m *Machine) fibLookup(p []byte, flags uint64) uint64 {
	if len(p) < fibSize || flags&^fibFlagsMask != 0 {
		return negErr(eINVAL)
	}
	if fam := p[fibFamily]; fam != afInet && fam != afInet6 {
		return negErr(eAFNOSUPPORT)
	}
	n := m.nFib
	m.nFib++
	if len(m.env.Fib) == 0 {
		return 4 // BPF_FIB_LKUP_RET_NOT_FWDED
	}
	r := &m.env.Fib[min(n, len(m.env.Fib)-1)]
	if r.Params != nil {
		copy(p[:fibSize], r.Params)
		return uint64(r.Ret)
	}
	switch r.Ret {
	case 0:
		binary.NativeEndian.PutUint16(p[fibMTU:], r.MTU)
		binary.NativeEndian.PutUint32(p[fibIfindex:], r.Ifindex)
		clear(p[fibVlan : fibVlan+4])
		copy(p[fibSmac:], r.Smac[:])
		copy(p[fibDmac:], r.Dmac[:])
	case 7: // BPF_FIB_LKUP_RET_NO_NEIGH: the egress device is known
		binary.NativeEndian.PutUint32(p[fibIfindex:], r.Ifindex)
	}
	return uint64(r.Ret)
}
