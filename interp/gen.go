package interp

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// Packet shapes the generator builds.
const (
	PktIPv4TCP = iota
	PktIPv4UDP
	PktIPv4ICMP
	PktIPv4Options
	PktIPv4Fragment
	PktVLANIPv4
	PktIPv6TCP
	PktIPv6UDP
	PktIPv6ICMP
	PktARP
	PktTruncated
	PktGarbage
	PktDNS
	numPktKinds
)

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }

// ipChecksum fills the IPv4 header checksum.
func ipChecksum(h []byte) {
	h[10], h[11] = 0, 0
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	put16(h[10:], ^uint16(s))
}

var interestingPorts = []uint16{0, 1, 22, 53, 80, 443, 8080, 65535, 1024, 123}

// GenPacket builds one packet of the given kind (PktIPv4TCP, ...) with
// random addresses, ports, flags and payload.
func GenPacket(rng *rand.Rand, kind int) []byte {
	eth := make([]byte, 14, 128)
	for i := 0; i < 12; i++ {
		eth[i] = byte(rng.UintN(256))
	}
	switch rng.IntN(4) {
	case 0:
		copy(eth, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	case 1:
		copy(eth, make([]byte, 6)) // the test-run device's address: PACKET_HOST
	}
	port := func() uint16 {
		if rng.IntN(2) == 0 {
			return interestingPorts[rng.IntN(len(interestingPorts))]
		}
		return uint16(rng.UintN(65536))
	}
	addr4 := func(b []byte) {
		switch rng.IntN(4) {
		case 0:
			copy(b, []byte{10, 0, 0, byte(rng.IntN(4))})
		case 1:
			copy(b, []byte{192, 168, 1, byte(rng.IntN(4))})
		default:
			binary.BigEndian.PutUint32(b, rng.Uint32())
		}
	}
	l4 := func(proto byte, n int) []byte {
		switch proto {
		case 6:
			h := make([]byte, 20+n)
			put16(h, port())
			put16(h[2:], port())
			binary.BigEndian.PutUint32(h[4:], rng.Uint32())
			h[12] = 5 << 4
			if rng.IntN(3) == 0 { // MSS option
				h = append(h[:20], append([]byte{2, 4, 0x05, 0xb4}, h[20:]...)...)
				h[12] = 6 << 4
			}
			h[13] = byte(rng.UintN(64))
			put16(h[14:], uint16(rng.UintN(65536)))
			return h
		case 17:
			h := make([]byte, 8+n)
			put16(h, port())
			put16(h[2:], port())
			put16(h[4:], uint16(8+n))
			return h
		default:
			h := make([]byte, 8+n)
			h[0] = []byte{0, 8, 3, 11, 128, 129}[rng.IntN(6)]
			return h
		}
	}
	payload := rng.IntN(48)
	ipv4 := func(proto byte, opts int) []byte {
		h := make([]byte, 20+opts)
		h[0] = 0x40 | byte(5+opts/4)
		h[8] = byte(rng.UintN(256))
		h[9] = proto
		addr4(h[12:])
		addr4(h[16:])
		for i := 20; i < 20+opts; i++ {
			h[i] = 1 // NOP options
		}
		body := l4(proto, payload)
		put16(h[2:], uint16(len(h)+len(body)))
		ipChecksum(h)
		return append(h, body...)
	}
	ipv6 := func(proto byte) []byte {
		h := make([]byte, 40)
		h[0] = 0x60
		h[6] = proto
		h[7] = 64
		for i := 8; i < 40; i++ {
			h[i] = byte(rng.UintN(256))
		}
		body := l4(proto, payload)
		put16(h[4:], uint16(len(body)))
		return append(h, body...)
	}
	var p []byte
	switch kind {
	case PktIPv4TCP:
		put16(eth[12:], 0x0800)
		p = append(eth, ipv4(6, 0)...)
	case PktIPv4UDP:
		put16(eth[12:], 0x0800)
		p = append(eth, ipv4(17, 0)...)
	case PktIPv4ICMP:
		put16(eth[12:], 0x0800)
		p = append(eth, ipv4(1, 0)...)
	case PktIPv4Options:
		put16(eth[12:], 0x0800)
		p = append(eth, ipv4([]byte{6, 17}[rng.IntN(2)], 4*(1+rng.IntN(10)))...)
	case PktIPv4Fragment:
		put16(eth[12:], 0x0800)
		ip := ipv4(17, 0)
		put16(ip[6:], 0x2000|uint16(rng.IntN(100)))
		ipChecksum(ip[:20])
		p = append(eth, ip...)
	case PktVLANIPv4:
		// one to three tags (802.1Q, 802.1ad): stacks exercise tag walks
		put16(eth[12:], 0x8100)
		p = eth
		for n := rng.IntN(3); n > 0; n-- {
			p = append(p, 0, byte(rng.IntN(16)), 0x81, 0x00)
			if rng.IntN(2) == 0 {
				put16(p[len(p)-2:], 0x88a8)
			}
		}
		p = append(p, 0, byte(rng.IntN(16)), 0x08, 0x00)
		p = append(p, ipv4([]byte{6, 17}[rng.IntN(2)], 0)...)
	case PktIPv6TCP:
		put16(eth[12:], 0x86dd)
		p = append(eth, ipv6(6)...)
	case PktIPv6UDP:
		put16(eth[12:], 0x86dd)
		p = append(eth, ipv6(17)...)
	case PktIPv6ICMP:
		put16(eth[12:], 0x86dd)
		p = append(eth, ipv6(58)...)
	case PktARP:
		put16(eth[12:], 0x0806)
		p = append(eth, make([]byte, 28)...)
	case PktTruncated:
		q := GenPacket(rng, rng.IntN(PktARP))
		p = q[:14+rng.IntN(len(q)-14)]
	case PktDNS:
		put16(eth[12:], 0x0800)
		p = append(eth, ipv4(17, 0)...)
		put16(p[14+20+2:], 53)
	default:
		p = make([]byte, 14+rng.IntN(100))
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		if rng.IntN(2) == 0 {
			put16(p[12:], []uint16{0x0800, 0x86dd, 0x8100}[rng.IntN(3)])
		}
	}
	return p
}

// KernelCtx returns the context BPF_PROG_TEST_RUN gives a program of type
// typ for packet pkt, with the fields the caller may set (mark, priority)
// randomised. Nil for types without a packet-derived context.
func KernelCtx(rng *rand.Rand, typ ebpf.ProgramType, pkt []byte) []byte {
	switch typ {
	case ebpf.XDP:
		// without ctx_in the test run uses the loopback device's queue 0
		c := make([]byte, xdpSize)
		binary.NativeEndian.PutUint32(c[xdpIngressIfindex:], loopbackIfindex)
		return c
	case ebpf.SocketFilter:
		// no ctx_in (the test run refuses one for socket filters); the
		// harness prepends an Ethernet header (type: skb->protocol) that
		// the kernel pulls, so the program sees pkt, a whole frame as an
		// AF_PACKET socket's filter does, from its first byte
		c := make([]byte, skbSize)
		binary.NativeEndian.PutUint32(c[skbLen:], uint32(len(pkt)))
		c[skbProtocol], c[skbProtocol+1] = 0x08, 0x00
		if len(pkt) >= 14 { // an AF_PACKET socket's frame: its own type
			copy(c[skbProtocol:], pkt[12:14])
		}
		binary.NativeEndian.PutUint32(c[skbIfindex:], loopbackIfindex)
		return c
	case ebpf.SchedCLS, ebpf.SchedACT:
		c := make([]byte, skbSize)
		binary.NativeEndian.PutUint32(c[skbLen:], uint32(len(pkt)))
		if len(pkt) >= 14 {
			// skb->protocol is __be16: eth_type_trans's h_proto
			copy(c[skbProtocol:], pkt[12:14])
			switch {
			case pkt[0]&1 != 0 && pkt[0] == 0xff:
				binary.NativeEndian.PutUint32(c[skbPktType:], 1) // PACKET_BROADCAST
			case pkt[0]&1 != 0:
				binary.NativeEndian.PutUint32(c[skbPktType:], 2) // PACKET_MULTICAST
			case string(pkt[:6]) != "\x00\x00\x00\x00\x00\x00":
				binary.NativeEndian.PutUint32(c[skbPktType:], 3) // PACKET_OTHERHOST
			}
		}
		binary.NativeEndian.PutUint32(c[skbIfindex:], loopbackIfindex)
		if rng != nil {
			binary.NativeEndian.PutUint32(c[skbMark:], uint32(RandValue(rng)))
			binary.NativeEndian.PutUint32(c[skbPriority:], uint32(rng.IntN(8)))
		}
		return c
	}
	return nil
}

// Coverage returns how many reachable branch edges (taken / not taken of
// each conditional jump, see BranchReach) the inputs cover, and how many
// there are.
func Coverage(p *Program, inputs []*Input) (covered, total int) {
	m := NewMachine(p, nil)
	m.Coverage = true
	seen := make([]bool, 2*len(p.code))
	for _, in := range inputs {
		out := m.Run(in)
		for i, c := range out.Cover {
			seen[i] = seen[i] || c
		}
	}
	return countEdges(p, seen)
}

// EdgeStats is the branch coverage of a set of inputs against the
// program's edges, with the edges BranchReach rules out by reason.
type EdgeStats struct {
	Edges     int               // 2 per conditional jump
	Reachable int               // edges not ruled out
	Covered   int               // reachable edges taken by some input
	Excluded  [numEdgeReach]int // edges ruled out, by EdgeReach (index 0 unused)
	Bad       []int             // edges taken although ruled out (2*pc or 2*pc+1): analysis bugs
	Uncovered []int             // reachable edges no input took
	Reach     []EdgeReach       // per edge, as BranchReach
	_         struct{}          // (room for more without breaking literals)
}

// Stats classifies the branch edges of p given the edges seen
// (Output.Cover accumulated over runs).
func Stats(p *Program, seen []bool) EdgeStats {
	reach := p.branchReach()
	st := EdgeStats{Reach: reach}
	for pc, c := range p.code {
		if c.op == opBadSlot || c.op.Info().Flags&bpf.FlagCondJump == 0 {
			continue
		}
		for k := 2 * pc; k < 2*pc+2; k++ {
			st.Edges++
			hit := k < len(seen) && seen[k]
			if reach[k] != EdgeFeasible {
				st.Excluded[reach[k]]++
				if hit {
					st.Bad = append(st.Bad, k)
				}
				continue
			}
			st.Reachable++
			if hit {
				st.Covered++
			} else {
				st.Uncovered = append(st.Uncovered, k)
			}
		}
	}
	return st
}

func countEdges(p *Program, seen []bool) (covered, total int) {
	st := Stats(p, seen)
	return st.Covered, st.Reachable
}

// SelectCoverage keeps the inputs of candidates that add branch coverage,
// in order (greedy), and reports the coverage reached.
func SelectCoverage(p *Program, candidates []*Input) (kept []*Input, covered, total int) {
	m := NewMachine(p, nil)
	m.Coverage = true
	seen := make([]bool, 2*len(p.code))
	for _, in := range candidates {
		out := m.Run(in)
		gain := false
		for i, c := range out.Cover {
			if c && !seen[i] {
				seen[i], gain = true, true
			}
		}
		if gain {
			kept = append(kept, in)
		}
	}
	covered, total = countEdges(p, seen)
	return kept, covered, total
}

// GenInputs returns n inputs for p: packets of every shape (for packet
// programs), contexts as the kernel's test run builds them, environments,
// and map contents that hit and miss. Keys that make lookups hit are
// harvested by running the program on the input first.
func GenInputs(p *Program, rng *rand.Rand, n int) []*Input {
	m := NewMachine(p, nil)
	m.RecordLookups = true
	layout := layoutFor(p.Type)
	var out []*Input
	for len(out) < n {
		in := &Input{}
		if layout.packet {
			in.Packet = GenPacket(rng, len(out)%numPktKinds)
			in.Ctx = KernelCtx(rng, p.Type, in.Packet)
		} else {
			in.Ctx = make([]byte, layout.size)
			for i := 0; i+8 <= len(in.Ctx); i += 8 {
				v := RandValue(rng)
				if rng.IntN(4) == 0 {
					v = probeAddr // a pointer argument probe_read can follow
				}
				binary.NativeEndian.PutUint64(in.Ctx[i:], v)
			}
		}
		in.Env = Env{Ktime: rng.Uint64() >> 1, KtimeStep: uint64(rng.IntN(1000)), Rand: rng.Uint64(), PidTgid: rng.Uint64(), UidGid: rng.Uint64()}
		if !layout.packet {
			// readable memory behind probeAddr: a NUL-terminated string
			in.Env.ProbeAddr = probeAddr
			in.Env.ProbeMem = make([]byte, 64)
			for i := range rng.IntN(48) {
				in.Env.ProbeMem[i] = byte('a' + rng.IntN(26))
			}
		}
		randEnvChoices(rng, &in.Env)
		out = append(out, in)
		if len(out) >= n || len(p.Maps) == 0 {
			continue
		}
		// a variant whose maps hold the keys this input looked up
		cur := in
		for round := 0; round < 3 && len(out) < n; round++ {
			m.Run(cur)
			if len(m.lookups) == 0 {
				break
			}
			v := *cur
			v.Maps = make([][]KV, len(p.Maps))
			for i := range p.Maps {
				if i < len(cur.Maps) {
					v.Maps[i] = cur.Maps[i]
				}
			}
			added := false
			for _, l := range m.lookups {
				if hasKey(v.Maps[l.mapIdx], l.key) || len(m.lookups) > 1 && rng.IntN(3) == 0 {
					continue // (some left out: a hit on one map may hide the next lookup)
				}
				val := keyValue(&p.Maps[l.mapIdx], l.key, rng)
				if val == nil {
					continue
				}
				added = true
				v.Maps[l.mapIdx] = append(append([]KV(nil), v.Maps[l.mapIdx]...), KV{Key: l.key, Value: val})
			}
			if !added {
				break
			}
			out = append(out, &v)
			cur = &v
		}
	}
	return out
}

// keyValue returns a random value to store under key in map ms, or nil
// when the kernel would refuse the entry: devmap entries are struct
// bpf_devmap_val {ifindex = loopback, no program} (the device
// exists in every network namespace, so the kernel differential can
// store the entry) and a DEVMAP's keys
// are array indices below max_entries.
func keyValue(ms *MapSpec, key []byte, rng *rand.Rand) []byte {
	val := make([]byte, ms.ValueSize)
	switch ms.Type {
	case ebpf.DevMap, ebpf.DevMapHash:
		if len(key) != 4 || len(val) < 4 || ms.Type == ebpf.DevMap && binary.NativeEndian.Uint32(key) >= ms.MaxEntries {
			return nil
		}
		binary.NativeEndian.PutUint32(val, loopbackIfindex)
		return val
	case ebpf.CPUMap, ebpf.XSKMap:
		return nil
	}
	for i := 0; i+8 <= len(val); i += 8 {
		binary.NativeEndian.PutUint64(val[i:], RandValue(rng)>>uint(rng.IntN(2)*32))
	}
	if len(val)%8 != 0 {
		for i := len(val) &^ 7; i < len(val); i++ {
			val[i] = byte(rng.UintN(256))
		}
	}
	return val
}

// withLookedUp returns in plus an entry (random value) for every key its
// run looked up and missed (hash-like maps) or left at zero (arrays), or
// nil when there is none to add. The run uses m with RecordLookups on.
func withLookedUp(p *Program, m *Machine, in *Input, rng *rand.Rand) *Input {
	m.RecordLookups = true
	m.Run(in)
	m.RecordLookups = false
	var v *Input
	for _, l := range m.lookups {
		if l.mapIdx < len(in.Maps) && hasKey(in.Maps[l.mapIdx], l.key) {
			continue
		}
		val := keyValue(&p.Maps[l.mapIdx], l.key, rng)
		if val == nil {
			continue
		}
		if v == nil {
			o := *in
			o.Maps = make([][]KV, len(p.Maps))
			copy(o.Maps, in.Maps)
			v = &o
		}
		if hasKey(v.Maps[l.mapIdx], l.key) {
			continue
		}
		v.Maps[l.mapIdx] = append(append([]KV(nil), v.Maps[l.mapIdx]...), KV{Key: l.key, Value: val})
	}
	return v
}

// probeAddr is where GenInputs maps Env.ProbeMem for tracing programs
// (a kernel direct-map address).
const probeAddr = 0xffff888000100000

func hasKey(kvs []KV, key []byte) bool {
	for _, kv := range kvs {
		if bytes.Equal(kv.Key, key) {
			return true
		}
	}
	return false
}

// mutate returns a copy of in with a few random changes to the packet,
// context, map values or environment.
func mutate(rng *rand.Rand, in *Input) *Input {
	v := *in
	switch k := rng.IntN(10); {
	case k < 6 && len(in.Packet) > 0:
		p := append([]byte(nil), in.Packet...)
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(p))
			switch rng.IntN(4) {
			case 0:
				p[i] = byte(rng.UintN(256))
			case 1:
				p[i] ^= 1 << rng.IntN(8)
			case 2:
				x := RandValue(rng)
				for j := 0; j < 4 && i+j < len(p); j++ {
					p[i+j] = byte(x >> (8 * j))
				}
			default:
				p[i] = []byte{0, 1, 2, 4, 5, 6, 17, 0x40, 0x45, 0x60, 0x80, 0xff}[rng.IntN(12)]
			}
		}
		if rng.IntN(8) == 0 {
			p = p[:14+rng.IntN(max(1, len(p)-13))]
		}
		v.Packet = p
	case k < 8 && len(in.Ctx) > 0:
		c := append([]byte(nil), in.Ctx...)
		i := rng.IntN(len(c)) &^ 3
		binary.NativeEndian.PutUint32(c[i:], uint32(RandValue(rng)))
		v.Ctx = c
	case k < 9 && len(in.Maps) > 0:
		v.Maps = append([][]KV(nil), in.Maps...)
		mi := rng.IntN(len(v.Maps))
		if len(v.Maps[mi]) > 0 {
			kvs := append([]KV(nil), v.Maps[mi]...)
			e := rng.IntN(len(kvs))
			val := append([]byte(nil), kvs[e].Value...)
			if len(val) > 0 {
				i := rng.IntN(len(val))
				val[i] = byte(RandValue(rng))
				if rng.IntN(2) == 0 {
					clear(val)
				}
			}
			kvs[e].Value = val
			if rng.IntN(4) == 0 { // drop the entry: a lookup that hit now misses
				kvs = append(kvs[:e:e], kvs[e+1:]...)
			}
			v.Maps[mi] = kvs
		} else {
			v.Maps[mi] = nil
		}
	case k < 9 || rng.IntN(2) == 0:
		randEnvChoices(rng, &v.Env)
	default:
		v.Env.Ktime = RandValue(rng)
		v.Env.KtimeStep = RandValue(rng) >> uint(rng.IntN(64))
		v.Env.Rand = rng.Uint64()
		v.Env.SkbWriteFail = 0
		if rng.IntN(4) == 0 {
			v.Env.SkbWriteFail = rng.Uint64() >> uint(rng.IntN(64))
		}
		v.Env.MapFull = 0
		if rng.IntN(4) == 0 {
			v.Env.MapFull = rng.Uint64() >> uint(rng.IntN(64))
		}
	}
	return &v
}

// GenCoverage generates inputs for p and grows them by coverage-guided
// mutation for up to budget runs; it returns the inputs that each added
// branch coverage and the coverage reached. Besides random mutation it
// steers toward uncovered branch edges with the operands the branch
// compared (input-to-state substitution, as Redqueen does): where the
// compared value occurs in the packet, the context or a map value, it is
// replaced by the other operand (and its neighbours); packet-bounds
// checks get packet lengths that cross them.
func GenCoverage(p *Program, rng *rand.Rand, budget int) (kept []*Input, covered, total int) {
	m := NewMachine(p, nil)
	m.Coverage = true
	m.cmpLog = true
	seen := make([]bool, 2*len(p.code))
	reach := p.branchReach()
	// reachers[pc]: a few inputs that reach the jump at pc, for solving
	reachers := map[int][]*Input{}
	var queue []*Input
	runs := 0
	try := func(in *Input) bool {
		runs++
		out := m.Run(in)
		gain := false
		for i, c := range out.Cover {
			if c && !seen[i] {
				seen[i], gain = true, true
			}
		}
		if gain {
			kept = append(kept, in)
			for pc := 0; 2*pc+1 < len(out.Cover); pc++ {
				if (out.Cover[2*pc] || out.Cover[2*pc+1]) && len(reachers[pc]) < 3 {
					reachers[pc] = append(reachers[pc], in)
				}
			}
		}
		// comparisons next to an uncovered edge suggest new inputs
		for _, c := range m.cmps[:m.ncmp] {
			if seen[2*c.pc] && seen[2*c.pc+1] {
				continue
			}
			if len(queue) < 4096 {
				queue = append(queue, steer(in, c, m)...)
			}
		}
		if len(p.Maps) > 0 && (gain || runs%16 == 0) {
			// keys this input looked up become entries of a new
			// candidate (the input itself stays: only add, never replace);
			// also now and then for inputs that gained nothing (a solved
			// key field that now misses, e.g. a protocol in a service key)
			runs++
			if v := withLookedUp(p, m, in, rng); v != nil {
				queue = append(queue, v)
			}
		}
		return gain
	}
	sv := &solver{p: p, m: m, rng: rng, packet: m.layout.packet, skbLen: m.layout.packet && m.layout != xdpLayout, try: try, runs: &runs, env: envBytesUsed(p)}
	attempts := map[int]int{}
	seeds := GenInputs(p, rng, min(budget/4, 400))
	for _, in := range seeds {
		try(in)
	}
	if len(kept) == 0 && len(seeds) > 0 {
		kept = append(kept, seeds[0])
	}
	// Random mutation and comparison-guided substitution first; then,
	// whenever they stall, branch solving on the edges still uncovered.
	lastGain, lastSolve := runs, runs
	var targets []int
	for runs < budget && len(kept) > 0 {
		if runs-lastGain > 1000 && runs-lastSolve > 2000 {
			// one round: every uncovered reachable edge whose jump some
			// input reaches gets one bounded attempt, in random order
			targets = targets[:0]
			for k := range seen {
				if !seen[k] && reach[k] == EdgeFeasible && len(reachers[k/2]) > 0 && attempts[k] < 3 {
					targets = append(targets, k)
				}
			}
			rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
			for _, k := range targets {
				if runs >= budget {
					break
				}
				if seen[k] {
					continue // solved on the way to another edge
				}
				rs := reachers[k/2]
				from := rs[attempts[k]%len(rs)]
				attempts[k]++
				if sv.solve(from, k/2, k%2 == 1, min(1500, budget-runs)) {
					lastGain = runs
				}
			}
			lastSolve = runs
		}
		if len(queue) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(queue))
			in := queue[i]
			queue[i] = queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			if try(in) {
				lastGain = runs
			}
			continue
		}
		if try(mutate(rng, kept[rng.IntN(len(kept))])) {
			lastGain = runs
		}
	}
	covered, total = countEdges(p, seen)
	return kept, covered, total
}

// steer returns variants of in meant to flip the branch c recorded.
func steer(in *Input, c cmpRec, m *Machine) []*Input {
	var out []*Input
	// packet bounds: data + n vs data_end, both packet pointers
	if c.a>>ptrShift == ptrTag && c.b>>ptrShift == ptrTag && int(c.a>>32)&idMask == regPacket && int(c.b>>32)&idMask == regPacket {
		delta := ptrOff(c.a) - ptrOff(c.b)
		for _, d := range []int64{delta - 1, delta, delta + 1} {
			n := int64(len(in.Packet)) + d
			if n < 0 || n > 1500 || d == 0 {
				continue
			}
			v := *in
			v.Packet = make([]byte, n)
			copy(v.Packet, in.Packet)
			if v.Ctx != nil && len(v.Ctx) > skbLen+4 && m.layout != xdpLayout {
				v.Ctx = append([]byte(nil), in.Ctx...)
				binary.NativeEndian.PutUint32(v.Ctx[skbLen:], uint32(n))
			}
			out = append(out, &v)
		}
		return out
	}
	for _, pair := range [][2]uint64{{c.a, c.b}, {c.b, c.a}} {
		from, to := pair[0], pair[1]
		for _, t := range []uint64{to, to + 1, to - 1, to | from, to ^ from} {
			if t == from {
				continue
			}
			out = append(out, substitute(in, from, t)...)
		}
	}
	return out
}

// substitute replaces occurrences of from (as 1-, 2-, 4- or 8-byte
// little- or big-endian integers) in in's packet, context and map values
// by to in the same encoding: each of the first few occurrences alone,
// and all of them at once, map keys included (a value the program both
// compares and looks up, such as a protocol in a service key).
func substitute(in *Input, from, to uint64) []*Input {
	var out []*Input
	for _, w := range []int{8, 4, 2, 1} {
		if w < 8 && from>>(8*w) != 0 && from>>(8*w) != 1<<(64-8*w)-1 {
			continue // from does not fit w bytes (zero- or sign-extended)
		}
		if w == 1 && from == 0 {
			continue // zero bytes are everywhere
		}
		for _, be := range []bool{false, true} {
			if w == 1 && be {
				continue
			}
			pat := encode(from, w, be)
			rep := encode(to, w, be)
			for _, i := range indexAll(in.Packet, pat, 4) {
				v := *in
				v.Packet = append([]byte(nil), in.Packet...)
				copy(v.Packet[i:], rep)
				out = append(out, &v)
			}
			for _, i := range indexAll(in.Ctx, pat, 4) {
				v := *in
				v.Ctx = append([]byte(nil), in.Ctx...)
				copy(v.Ctx[i:], rep)
				out = append(out, &v)
			}
			for mi, kvs := range in.Maps {
				for e, kv := range kvs {
					for _, i := range indexAll(kv.Value, pat, 2) {
						v := *in
						v.Maps = append([][]KV(nil), in.Maps...)
						v.Maps[mi] = append([]KV(nil), kvs...)
						val := append([]byte(nil), kv.Value...)
						copy(val[i:], rep)
						v.Maps[mi][e].Value = val
						out = append(out, &v)
					}
				}
			}
			if w > 1 {
				if v, n := replaceAll(in, pat, rep); n > 1 {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// indexAll returns up to n offsets where pat occurs in b.
func indexAll(b, pat []byte, n int) []int {
	var out []int
	for off := 0; len(out) < n; {
		i := bytes.Index(b[off:], pat)
		if i < 0 {
			break
		}
		out = append(out, off+i)
		off += i + 1
	}
	return out
}

// replaceAll returns in with every occurrence of pat replaced by rep in
// the packet, the context and map keys and values, and how many it replaced.
func replaceAll(in *Input, pat, rep []byte) (*Input, int) {
	n := 0
	swap := func(b []byte) []byte {
		if !bytes.Contains(b, pat) {
			return b
		}
		n += bytes.Count(b, pat)
		return bytes.ReplaceAll(b, pat, rep)
	}
	v := *in
	v.Packet = swap(in.Packet)
	v.Ctx = swap(in.Ctx)
	if len(in.Maps) > 0 {
		v.Maps = make([][]KV, len(in.Maps))
		for mi, kvs := range in.Maps {
			if kvs == nil {
				continue
			}
			v.Maps[mi] = make([]KV, len(kvs))
			for e, kv := range kvs {
				v.Maps[mi][e] = KV{Key: swap(kv.Key), Value: swap(kv.Value)}
			}
		}
	}
	return &v, n
}

func encode(v uint64, w int, be bool) []byte {
	b := make([]byte, w)
	for i := range w {
		if be {
			b[w-1-i] = byte(v >> (8 * i))
		} else {
			b[i] = byte(v >> (8 * i))
		}
	}
	return b
}

// randEnvChoices picks the environment's answers to helpers whose outcome
// is outside the program: ring-buffer space and routing lookups.
func randEnvChoices(rng *rand.Rand, e *Env) {
	e.RingbufFail = 0
	if rng.IntN(4) == 0 {
		e.RingbufFail = rng.Uint64()
	}
	f := FibResult{Ret: int64(rng.IntN(9)), MTU: uint16(1500 + rng.IntN(8000))}
	if rng.IntN(2) == 0 {
		f.Ret = 0
	}
	f.Ifindex = []uint32{1, 2, 3, rng.Uint32N(256), rng.Uint32()}[rng.IntN(5)]
	for i := range 6 {
		f.Smac[i], f.Dmac[i] = byte(rng.UintN(256)), byte(rng.UintN(256))
	}
	e.Fib = []FibResult{f}
}
