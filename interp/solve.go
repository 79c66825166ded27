package interp

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
)

// Branch solving: GenCoverage's way to an uncovered edge whose jump some
// input reaches. It needs no symbolic reasoning and no shadow state in the
// interpreter: it finds the input bytes the jump's operands depend on by
// perturbing each byte once (influence), then searches those bytes one at a
// time over all 256 values, keeping the value that brings the comparison
// closest to the wanted outcome (branch distance, as in Korel's and
// Angora's search). Transforms between input and comparison (masks,
// shifts, byte swaps, sums of fields, time differences, checksums over a
// field) are inverted by the search itself. Inputs are the packet and its
// length, the context, map values and the environment (time, random
// numbers, cpu, cookies).

// location kinds of one input byte.
const (
	locPacket = iota
	locCtx
	locMapVal
	locEnv
	locLen // the packet length (value = new length)
)

type loc struct {
	area  uint8
	mi, e int32 // map index and entry (locMapVal)
	i     int32 // byte index
}

// envBytes is the environment as bytes the search can set.
const envBytes = 80

func envGet(e *Env) [envBytes]byte {
	var b [envBytes]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], e.Ktime)
	le.PutUint64(b[8:], e.KtimeStep)
	le.PutUint64(b[16:], e.Rand)
	le.PutUint32(b[24:], e.CPU)
	le.PutUint64(b[28:], e.SocketCookie)
	le.PutUint64(b[36:], e.PidTgid)
	le.PutUint64(b[44:], e.UidGid)
	le.PutUint64(b[52:], e.RingbufFail)
	le.PutUint64(b[60:], e.SkbWriteFail)
	le.PutUint32(b[68:], e.FlowFlags)
	le.PutUint64(b[72:], e.MapFull)
	return b
}

func envSet(e *Env, b *[envBytes]byte) {
	le := binary.LittleEndian
	e.Ktime = le.Uint64(b[0:])
	e.KtimeStep = le.Uint64(b[8:])
	e.Rand = le.Uint64(b[16:])
	e.CPU = le.Uint32(b[24:])
	e.SocketCookie = le.Uint64(b[28:])
	e.PidTgid = le.Uint64(b[36:])
	e.UidGid = le.Uint64(b[44:])
	e.RingbufFail = le.Uint64(b[52:])
	e.SkbWriteFail = le.Uint64(b[60:])
	e.FlowFlags = le.Uint32(b[68:])
	e.MapFull = le.Uint64(b[72:])
}

// envUse lists the environment bytes each helper reads.
var envUse = []struct {
	lo, hi  int
	helpers []int32
}{
	{0, 16, []int32{hKtime, hKtimeBoot, hKtimeCoarse}},
	{16, 24, []int32{hPrandom}},
	{24, 28, []int32{hSmpID}},
	{28, 36, []int32{46 /* get_socket_cookie */}},
	{36, 44, []int32{14 /* get_current_pid_tgid */}},
	{44, 52, []int32{15 /* get_current_uid_gid */}},
	{52, 60, []int32{130 /* ringbuf_output */, 131 /* ringbuf_reserve */}},
	{60, 68, []int32{hSkbStoreBytes, hL3Csum, hL4Csum}},
	{72, 80, []int32{hMapUpdate}},
}

// envBytesUsed marks the environment bytes p's helpers read.
func envBytesUsed(p *Program) [envBytes]bool {
	var used [envBytes]bool
	for _, c := range p.code {
		if c.op != bpf.OpCall {
			continue
		}
		for _, u := range envUse {
			for _, h := range u.helpers {
				if int64(h) == c.imm {
					for i := u.lo; i < u.hi; i++ {
						used[i] = true
					}
				}
			}
		}
	}
	if p.Type == ebpf.FlowDissector {
		for i := 68; i < 72; i++ {
			used[i] = true
		}
	}
	return used
}

// locations lists the bytes of in the search may change: the packet,
// the context bytes the program reads, map values, and the environment
// bytes its helpers use.
func (s *solver) locations(in *Input) []loc {
	var out []loc
	if s.packet {
		for i := range in.Packet {
			out = append(out, loc{area: locPacket, i: int32(i)})
		}
		out = append(out, loc{area: locLen})
	}
	read := s.p.ctxBytesRead()
	for i := range in.Ctx {
		if i < len(read) && read[i] {
			out = append(out, loc{area: locCtx, i: int32(i)})
		}
	}
	for mi, kvs := range in.Maps {
		for e, kv := range kvs {
			for i := range kv.Value {
				out = append(out, loc{area: locMapVal, mi: int32(mi), e: int32(e), i: int32(i)})
			}
		}
	}
	for i, u := range s.env {
		if u {
			out = append(out, loc{area: locEnv, i: int32(i)})
		}
	}
	return out
}

// getByte returns the byte at l (for locLen: the packet length, capped).
func getByte(in *Input, l loc) byte {
	switch l.area {
	case locPacket:
		return in.Packet[l.i]
	case locCtx:
		return in.Ctx[l.i]
	case locMapVal:
		return in.Maps[l.mi][l.e].Value[l.i]
	case locEnv:
		b := envGet(&in.Env)
		return b[l.i]
	}
	return byte(min(len(in.Packet), 255))
}

// withByte returns a copy of in with the byte at l set to v, sharing what
// it does not change.
func withByte(in *Input, l loc, v byte, skbLenField bool) *Input {
	o := *in
	switch l.area {
	case locPacket:
		o.Packet = append([]byte(nil), in.Packet...)
		o.Packet[l.i] = v
	case locCtx:
		o.Ctx = append([]byte(nil), in.Ctx...)
		o.Ctx[l.i] = v
	case locMapVal:
		o.Maps = append([][]KV(nil), in.Maps...)
		o.Maps[l.mi] = append([]KV(nil), in.Maps[l.mi]...)
		val := append([]byte(nil), in.Maps[l.mi][l.e].Value...)
		val[l.i] = v
		o.Maps[l.mi][l.e].Value = val
	case locEnv:
		b := envGet(&in.Env)
		b[l.i] = v
		envSet(&o.Env, &b)
	case locLen:
		n := int(v)
		o.Packet = make([]byte, n)
		copy(o.Packet, in.Packet)
		if skbLenField && len(in.Ctx) >= skbLen+4 {
			o.Ctx = append([]byte(nil), in.Ctx...)
			binary.NativeEndian.PutUint32(o.Ctx[skbLen:], uint32(n))
		}
	}
	return &o
}

// branchDist is how far the comparison (a, b) of a jump of op is from
// going the wanted way: 0 when it does.
func branchDist(info *bpf.OpInfo, a, b uint64, taken bool) uint64 {
	w := uint(info.Width)
	if w == 32 {
		a, b = uint64(uint32(a)), uint64(uint32(b))
	}
	if info.Flags&bpf.FlagSigned != 0 { // order-preserving map of signed to unsigned
		a ^= 1 << (w - 1)
		b ^= 1 << (w - 1)
	}
	kind := info.Kind
	if !taken {
		switch kind {
		case bpf.KindJeq:
			kind = bpf.KindJne
		case bpf.KindJne:
			kind = bpf.KindJeq
		case bpf.KindJgt, bpf.KindJsgt:
			kind = bpf.KindJle
		case bpf.KindJge, bpf.KindJsge:
			kind = bpf.KindJlt
		case bpf.KindJlt, bpf.KindJslt:
			kind = bpf.KindJge
		case bpf.KindJle, bpf.KindJsle:
			kind = bpf.KindJgt
		case bpf.KindJset:
			return uint64(bits.OnesCount64(a & b))
		}
	}
	diff := func(x, y uint64) uint64 { // |x - y|
		if x > y {
			return x - y
		}
		return y - x
	}
	switch kind {
	case bpf.KindJeq:
		return diff(a, b)
	case bpf.KindJne:
		if a == b {
			return 1
		}
	case bpf.KindJgt, bpf.KindJsgt:
		if a <= b {
			return b - a + 1
		}
	case bpf.KindJge, bpf.KindJsge:
		if a < b {
			return b - a
		}
	case bpf.KindJlt, bpf.KindJslt:
		if a >= b {
			return a - b + 1
		}
	case bpf.KindJle, bpf.KindJsle:
		if a > b {
			return a - b
		}
	case bpf.KindJset:
		if a&b == 0 {
			return 1
		}
	}
	return 0
}

// solver runs branch solving for GenCoverage.
type solver struct {
	p      *Program
	m      *Machine
	rng    *rand.Rand
	packet bool
	skbLen bool
	try    func(*Input) bool // runs an input through coverage bookkeeping
	runs   *int
	env    [envBytes]bool // environment bytes the program's helpers read
}

// probe runs in recording only the jump at pc; it returns the best
// distance over the jump's executions (MaxUint64: not reached) and the
// first execution's operands.
func (s *solver) probe(in *Input, pc int, info *bpf.OpInfo, taken bool) (best uint64, a, b uint64) {
	s.m.cmpOnly, s.m.cmpPC = true, pc
	s.m.Run(in)
	*s.runs++
	s.m.cmpOnly = false
	best = math.MaxUint64
	for i, c := range s.m.cmps[:s.m.ncmp] {
		if i == 0 {
			a, b = c.a, c.b
		}
		best = min(best, branchDist(info, c.a, c.b, taken))
	}
	return best, a, b
}

// solve searches for an input that takes the edge (pc, taken), starting
// from in (which reaches pc), within limit runs. It reports success.
func (s *solver) solve(in *Input, pc int, taken bool, limit int) bool {
	info := s.p.code[pc].op.Info()
	start := *s.runs
	in = s.explicitArrays(in)
	d0, a0, b0 := s.probe(in, pc, info, taken)
	if d0 == math.MaxUint64 {
		return false
	}
	// influence: which bytes change the first comparison (several
	// perturbations: one may send control elsewhere), then, if few,
	// bytes that change whether the jump is reached at all
	// direct: bytes whose flip flips exactly one byte lane of an operand
	// (the byte is that lane, possibly swapped): searched first
	var direct, infl, ctl []loc
	var want []byte // per direct byte: the other operand's byte in its lane
	for _, l := range s.locations(in) {
		if *s.runs-start > limit/2 {
			break
		}
		old := getByte(in, l)
		found, moved, lane := false, false, false
		for _, v := range [...]byte{old ^ 0xff, old ^ 1, old ^ 0x80} {
			if l.area == locLen {
				v = old + 1
			}
			d, a, b := s.probe(withByte(in, l, v, s.skbLen), pc, info, taken)
			if d == 0 {
				s.try(withByte(in, l, v, s.skbLen))
				return true
			}
			if d != math.MaxUint64 && (a != a0 || b != b0) {
				found = true
				x := (a ^ a0) | (b ^ b0)
				lane = v == old^0xff && x != 0 && bits.OnesCount64(x) == 8 && bits.TrailingZeros64(x)%8 == 0
				if lane {
					k := bits.TrailingZeros64(x)
					other := b0 // this byte feeds a: aim at b's lane
					if a == a0 {
						other = a0
					}
					want = append(want, byte(other>>k))
				}
				break
			}
			moved = moved || d == math.MaxUint64
			if l.area == locLen {
				break
			}
		}
		switch {
		case found && lane:
			direct = append(direct, l)
		case found:
			infl = append(infl, l)
		case moved:
			ctl = append(ctl, l)
		}
	}
	// direct bytes first: their lane value straight away (equality), and
	// its neighbours (orderings)
	for i, l := range direct {
		for _, v := range [...]byte{want[i], want[i] + 1, want[i] - 1} {
			cand := withByte(in, l, v, s.skbLen)
			if d, _, _ := s.probe(cand, pc, info, taken); d == 0 {
				s.try(cand)
				return true
			} else if d < d0 {
				in, d0 = cand, d
				break
			}
		}
	}
	infl = append(direct, infl...)
	if len(infl) < 8 {
		s.rng.Shuffle(len(ctl), func(i, j int) { ctl[i], ctl[j] = ctl[j], ctl[i] })
		infl = append(infl, ctl[:min(len(ctl), 8-len(infl))]...)
	}
	if len(infl) == 0 {
		return false
	}
	cur, dcur := in, d0
	for round := 0; round < 3; round++ {
		improved := false
		for _, l := range infl {
			bestV, bestD := getByte(cur, l), dcur
			for v := range 256 {
				if *s.runs-start > limit {
					return false
				}
				if byte(v) == getByte(cur, l) {
					continue
				}
				cand := withByte(cur, l, byte(v), s.skbLen)
				d, _, _ := s.probe(cand, pc, info, taken)
				if d == 0 {
					s.try(cand) // takes the edge: record it
					return true
				}
				if d < bestD {
					bestV, bestD = byte(v), d
				}
			}
			if bestD < dcur {
				cur, dcur, improved = withByte(cur, l, bestV, s.skbLen), bestD, true
			}
		}
		if !improved {
			break
		}
	}
	return false
}

// explicitArrays returns in with an explicit (zero) entry for every
// array element the run looks up that the input leaves implicit, so the
// search can set its bytes; the run is the same.
func (s *solver) explicitArrays(in *Input) *Input {
	m := s.m
	m.RecordLookups = true
	m.Run(in)
	*s.runs++
	m.RecordLookups = false
	var out *Input
	for _, l := range m.lookups {
		ms := &s.p.Maps[l.mapIdx]
		if mapKind(ms.Type) != mkArray || (l.mapIdx < len(in.Maps) && hasKey(in.Maps[l.mapIdx], l.key)) {
			continue
		}
		if out == nil {
			o := *in
			o.Maps = make([][]KV, len(s.p.Maps))
			copy(o.Maps, in.Maps)
			out = &o
		}
		if hasKey(out.Maps[l.mapIdx], l.key) {
			continue
		}
		out.Maps[l.mapIdx] = append(append([]KV(nil), out.Maps[l.mapIdx]...), KV{Key: l.key, Value: make([]byte, ms.ValueSize)})
	}
	if out == nil {
		return in
	}
	return out
}
