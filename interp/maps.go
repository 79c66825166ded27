package interp

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/cilium/ebpf"
)

// maxHashSlots caps a hash map's storage; an update beyond it fails with
// -E2BIG as a full map would.
const maxHashSlots = 1 << 16

// Errno values helpers return (negated).
const (
	eNOENT  = 2
	eE2BIG  = 7
	eEXIST  = 17
	eAGAIN  = 11
	eINVAL  = 22
	eNOSPC  = 28
	eNOTSUP = 95
	eFAULT  = 14
)

func negErr(e int) uint64 { return uint64(-int64(e)) }

// mapState is one map's contents. Array maps hold every element; hash maps
// hold up to cap slots, found by linear scan (test inputs are small).
type mapState struct {
	spec   *MapSpec
	kind   uint8
	ks, vs int
	keys   []byte
	vals   []byte
	used   []bool
	age    []uint64 // LRU: last use
	n      int      // slots [0, n) may be used
	count  int
	clock  uint64
	loaded []KV // the contents loaded last
	dirty  bool
	// array maps: image is the loaded contents; dirtyIdx lists elements
	// that may have been written since.
	image    []byte
	dirtyIdx []int32
	isDirty  []bool
	// regions handed out this run, per slot (valid when epoch matches)
	regID    []int32
	regEpoch []uint32
}

// map kinds
const (
	mkUnsupported uint8 = iota
	mkArray
	mkHash
	mkLRU
	mkLPM
	mkRingbuf
	mkPerfEvent
	mkProgArray
	mkDevmap
)

func mapKind(t ebpf.MapType) uint8 {
	switch t {
	case ebpf.Array, ebpf.PerCPUArray:
		return mkArray
	case ebpf.Hash, ebpf.PerCPUHash:
		return mkHash
	case ebpf.LRUHash, ebpf.LRUCPUHash:
		return mkLRU
	case ebpf.LPMTrie:
		return mkLPM
	case ebpf.RingBuf:
		return mkRingbuf
	case ebpf.PerfEventArray:
		return mkPerfEvent
	case ebpf.ProgramArray:
		return mkProgArray
	case ebpf.DevMap, ebpf.DevMapHash, ebpf.CPUMap, ebpf.XSKMap:
		return mkDevmap
	}
	return mkUnsupported
}

func (s *mapState) setup(spec *MapSpec) {
	s.spec = spec
	s.kind = mapKind(spec.Type)
	s.ks, s.vs = int(spec.KeySize), int(spec.ValueSize)
	var slots int
	switch s.kind {
	case mkArray:
		slots = int(spec.MaxEntries)
		s.image = make([]byte, slots*s.vs)
		s.isDirty = make([]bool, slots)
	case mkHash, mkLRU, mkLPM, mkDevmap:
		slots = min(int(spec.MaxEntries), maxHashSlots)
		s.keys = make([]byte, slots*s.ks)
		s.used = make([]bool, slots)
		s.age = make([]uint64, slots)
	default:
		return
	}
	s.vals = make([]byte, slots*s.vs)
	s.regID = make([]int32, slots)
	s.regEpoch = make([]uint32, slots)
	s.dirty = true
}

func sameKV(a, b []KV) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// load makes kv the map's contents, cheaply when nothing changed.
func (s *mapState) load(kv []KV) {
	switch s.kind {
	case mkArray:
		if !sameKV(kv, s.loaded) || s.loaded == nil && s.dirty {
			clear(s.image)
			for _, e := range kv {
				if len(e.Key) < 4 {
					continue
				}
				i := int(binary.NativeEndian.Uint32(e.Key))
				if i < int(s.spec.MaxEntries) {
					copy(s.image[i*s.vs:(i+1)*s.vs], e.Value)
				}
			}
			copy(s.vals, s.image)
			for _, i := range s.dirtyIdx {
				s.isDirty[i] = false
			}
			s.dirtyIdx = s.dirtyIdx[:0]
			s.loaded, s.dirty = kv, false
			return
		}
		for _, i := range s.dirtyIdx {
			copy(s.vals[int(i)*s.vs:int(i+1)*s.vs], s.image[int(i)*s.vs:])
			s.isDirty[i] = false
		}
		s.dirtyIdx = s.dirtyIdx[:0]
	case mkHash, mkLRU, mkLPM, mkDevmap:
		if sameKV(kv, s.loaded) && !s.dirty {
			return
		}
		clear(s.used[:s.n])
		s.n, s.count, s.clock = 0, 0, 0
		for _, e := range kv {
			s.insert(e.Key, e.Value)
		}
		s.loaded, s.dirty = kv, false
	}
}

func (s *mapState) markArray(i int) {
	if !s.isDirty[i] {
		s.isDirty[i] = true
		s.dirtyIdx = append(s.dirtyIdx, int32(i))
	}
}

// find returns the slot of key, or -1.
func (s *mapState) find(key []byte) int {
	ks := s.ks
	for i := 0; i < s.n; i++ {
		if s.used[i] && bytes.Equal(s.keys[i*ks:(i+1)*ks], key) {
			return i
		}
	}
	return -1
}

// insert adds or overwrites key; it returns the slot or -1 when full.
func (s *mapState) insert(key, val []byte) int {
	if len(key) < s.ks {
		return -1
	}
	key = key[:s.ks]
	i := s.find(key)
	if i < 0 {
		if s.count >= len(s.used) {
			if s.kind != mkLRU {
				return -1
			}
			i = s.oldest()
			s.count--
		} else {
			for i = 0; i < len(s.used) && s.used[i]; i++ {
			}
		}
		s.used[i] = true
		s.count++
		if i >= s.n {
			s.n = i + 1
		}
		copy(s.keys[i*s.ks:], key)
	}
	v := s.vals[i*s.vs : (i+1)*s.vs]
	n := copy(v, val)
	clear(v[n:])
	s.touch(i)
	return i
}

func (s *mapState) touch(i int) {
	s.clock++
	s.age[i] = s.clock
}

func (s *mapState) oldest() int {
	best := -1
	for i := 0; i < s.n; i++ {
		if s.used[i] && (best < 0 || s.age[i] < s.age[best]) {
			best = i
		}
	}
	return best
}

// lpmFind returns the slot with the longest prefix matching key
// ({u32 prefixlen; u8 data[]}), or -1.
func (s *mapState) lpmFind(key []byte) int {
	best, bestLen := -1, -1
	if len(key) < s.ks || s.ks < 4 {
		return -1
	}
	maxBits := (s.ks - 4) * 8
	qlen := int(binary.NativeEndian.Uint32(key))
	for i := 0; i < s.n; i++ {
		if !s.used[i] {
			continue
		}
		k := s.keys[i*s.ks : (i+1)*s.ks]
		plen := int(binary.NativeEndian.Uint32(k))
		if plen > maxBits || plen > qlen || plen <= bestLen {
			continue
		}
		if prefixEqual(k[4:], key[4:], plen) {
			best, bestLen = i, plen
		}
	}
	return best
}

func prefixEqual(a, b []byte, bits int) bool {
	n := bits / 8
	if !bytes.Equal(a[:n], b[:n]) {
		return false
	}
	if r := bits % 8; r != 0 {
		mask := byte(0xff << (8 - r))
		return a[n]&mask == b[n]&mask
	}
	return true
}

// Contents returns map i's entries after the last run, sorted by key
// (arrays: every element). It allocates; tests and replay use it.
func (m *Machine) Contents(i int) []KV {
	s := &m.maps[i]
	var out []KV
	switch s.kind {
	case mkArray:
		for k := 0; k < int(s.spec.MaxEntries); k++ {
			key := binary.NativeEndian.AppendUint32(nil, uint32(k))
			out = append(out, KV{Key: key, Value: slices.Clone(s.vals[k*s.vs : (k+1)*s.vs])})
		}
	case mkHash, mkLRU, mkLPM, mkDevmap:
		for k := 0; k < s.n; k++ {
			if s.used[k] {
				out = append(out, KV{Key: slices.Clone(s.keys[k*s.ks : (k+1)*s.ks]), Value: slices.Clone(s.vals[k*s.vs : (k+1)*s.vs])})
			}
		}
		slices.SortFunc(out, func(a, b KV) int { return bytes.Compare(a.Key, b.Key) })
	}
	return out
}

// valueRegion returns a pointer to slot's value, creating its region once
// per run.
func (m *Machine) valueRegion(mi, slot int) uint64 {
	s := &m.maps[mi]
	if s.regEpoch[slot] == m.epoch {
		return mkptr(int(s.regID[slot]), 0)
	}
	// devmap values are read-only to programs (the kernel's devmap sets
	// BPF_F_RDONLY_PROG on every devmap)
	ro := s.spec.ReadOnly || s.kind == mkDevmap
	if s.kind == mkArray && !ro {
		s.markArray(slot)
	} else if !ro {
		s.dirty = true
	}
	id := m.newRegion(region{buf: s.vals[slot*s.vs : (slot+1)*s.vs], hi: uint32(s.vs), kind: rMem, ro: ro, owner: int32(mi), slot: int32(slot)})
	if id < 0 {
		return 0
	}
	s.regID[slot], s.regEpoch[slot] = int32(id), m.epoch
	return mkptr(id, 0)
}
