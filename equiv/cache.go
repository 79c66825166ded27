package equiv

import (
	"encoding/binary"
	"sync"

	"github.com/k2opt/k2opt/bpf"
)

// Cache maps canonical window queries to proven verdicts (Equal, and
// NotEqual with its counterexample; Unknown is not cached). It is safe for
// concurrent use, so workers can share one.
type Cache struct {
	mu   sync.RWMutex
	m    map[string]Result
	max  int
	buf  []byte
	bufs sync.Pool
}

// NewCache makes a cache of at most size entries (0: 1<<20); when full it
// is cleared (the search refills it with what it still asks).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1 << 20
	}
	return &Cache{m: map[string]Result{}, max: size}
}

// Len is the number of entries.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Get looks a key up.
func (c *Cache) Get(key string) (Result, bool) {
	c.mu.RLock()
	r, ok := c.m[key]
	c.mu.RUnlock()
	return r, ok
}

// lookupRaw tries the query's raw (uncanonicalised) form first: a repeated
// identical query costs a serialisation and a map lookup, no opcode-table
// walks. It returns the raw key for a later Put on a miss.
func (c *Cache) lookupRaw(w *Window) (Result, string, bool) {
	var bp *[]byte
	if v := c.bufs.Get(); v != nil {
		bp = v.(*[]byte)
	} else {
		b := make([]byte, 0, 512)
		bp = &b
	}
	b := rawKey((*bp)[:0], w)
	c.mu.RLock()
	r, ok := c.m[string(b)] // no allocation for the lookup
	c.mu.RUnlock()
	var key string
	if !ok {
		key = string(b)
	}
	*bp = b
	c.bufs.Put(bp)
	return r, key, ok
}

// rawKey serialises a query as given; 'r' marks it so it never equals a
// canonical key.
func rawKey(b []byte, w *Window) []byte {
	b = append(b, 'r', byte(w.Type))
	b = binary.LittleEndian.AppendUint16(b, uint16(w.LiveIn))
	b = appendOuts(b, w, func(s bpf.RegSet) uint16 { return uint16(s) })
	for r := range w.Pre {
		p := &w.Pre[r]
		if *p == (RegPre{}) || !w.LiveIn.Has(bpf.Reg(r)) {
			continue
		}
		b = append(b, byte(r), byte(p.Kind))
		b = binary.LittleEndian.AppendUint64(b, uint64(p.Off))
		b = binary.LittleEndian.AppendUint64(b, uint64(p.Range))
		b = binary.LittleEndian.AppendUint64(b, p.Known)
		b = binary.LittleEndian.AppendUint64(b, p.Value)
		b = binary.LittleEndian.AppendUint64(b, p.Umin)
		b = binary.LittleEndian.AppendUint64(b, p.Umax)
		b = appendPreExt(b, p, w.Maps)
	}
	for _, m := range w.Maps {
		b = binary.LittleEndian.AppendUint32(b, uint32(m.Type))
		b = binary.LittleEndian.AppendUint32(b, m.KeySize)
		b = binary.LittleEndian.AppendUint32(b, m.ValueSize)
		b = binary.LittleEndian.AppendUint32(b, m.MaxEntries)
		b = append(b, boolByte(m.ReadOnly))
	}
	for k, insns := range [2][]bpf.Insn{w.A, w.B} {
		b = append(b, 0xff, byte(k))
		for _, x := range insns {
			b = append(b, x.Code, byte(x.Dst)|byte(x.Src)<<4)
			b = binary.LittleEndian.AppendUint16(b, uint16(x.Off))
			b = binary.LittleEndian.AppendUint32(b, uint32(x.Imm))
			b = binary.LittleEndian.AppendUint32(b, uint32(x.Imm2))
		}
	}
	return b
}

// Put stores a verdict.
func (c *Cache) Put(key string, r Result) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = r
	c.mu.Unlock()
}

// Key is the canonical form of a window query: NOPs removed (ja +0,
// mov64 rX, rX), dead register writes of straight-line windows removed,
// registers renamed in order of first use (when the windows make no calls
// and do not exit, where r0-r5 have fixed roles), then the instructions,
// live sets, preconditions, program type and map shapes serialised.
// Two queries with one key have the same verdict.
func (c *Cache) Key(w *Window) string {
	var bp *[]byte
	if v := c.bufs.Get(); v != nil {
		bp = v.(*[]byte)
	} else {
		b := make([]byte, 0, 512)
		bp = &b
	}
	b := canonicalKey((*bp)[:0], w)
	s := string(b)
	*bp = b
	c.bufs.Put(bp)
	return s
}

func canonicalKey(b []byte, w *Window) []byte {
	// Dead writes are removed only from straight-line windows, whose one
	// exit is falling off the end (exit code 1).
	o := w.outs()
	a := canonInsns(w.A, w.LiveIn, o.liveAt(1))
	bb := canonInsns(w.B, w.LiveIn, o.liveAt(1))
	// Register renaming.
	var ren [bpf.NumRegs]bpf.Reg
	for i := range ren {
		ren[i] = bpf.Reg(i)
	}
	if !fixedRoles(a) && !fixedRoles(bb) {
		var used [bpf.NumRegs]bool
		var done [bpf.NumRegs]bool
		next := bpf.Reg(0)
		see := func(r bpf.Reg) {
			if r >= bpf.R10 || done[r] {
				return
			}
			done[r] = true
			ren[r] = next
			used[next] = true
			next++
		}
		for _, insns := range [][]bpf.Insn{a, bb} {
			for _, x := range insns {
				f := x.Info()
				if f.SrcF >= bpf.FRegR && f.SrcF <= bpf.FRegRW {
					see(x.Src)
				}
				if f.DstF >= bpf.FRegR && f.DstF <= bpf.FRegRW {
					see(x.Dst)
				}
			}
		}
		for r := bpf.R0; r < bpf.R10; r++ {
			if !done[r] && (w.LiveIn.Has(r) || w.exitLiveUnion().Has(r)) {
				see(r)
			}
		}
		_ = used
	}
	rs := func(s bpf.RegSet) uint16 {
		var o uint16
		for _, r := range s.Regs() {
			o |= 1 << ren[r]
		}
		return o
	}
	b = append(b, byte(w.Type))
	b = binary.LittleEndian.AppendUint16(b, rs(w.LiveIn))
	b = appendOuts(b, w, rs)
	var pres [bpf.NumRegs]RegPre
	for r := bpf.R0; r < bpf.R10; r++ {
		if w.LiveIn.Has(r) {
			pres[ren[r]] = w.Pre[r]
		}
	}
	for r := range pres {
		p := pres[r]
		if p == (RegPre{}) {
			continue
		}
		b = append(b, byte(r), byte(p.Kind))
		for _, v := range []uint64{uint64(p.Off), uint64(p.Range), p.Known, p.Value, p.Umin, p.Umax} {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		b = appendPreExt(b, &p, w.Maps)
	}
	b = append(b, 0xfe)
	for _, m := range w.Maps {
		b = binary.LittleEndian.AppendUint32(b, uint32(m.Type))
		b = binary.LittleEndian.AppendUint32(b, m.KeySize)
		b = binary.LittleEndian.AppendUint32(b, m.ValueSize)
		b = binary.LittleEndian.AppendUint32(b, m.MaxEntries)
		b = append(b, boolByte(m.ReadOnly))
	}
	for k, insns := range [][]bpf.Insn{a, bb} {
		b = append(b, 0xff, byte(k))
		for _, x := range insns {
			f := x.Info()
			if f.SrcF >= bpf.FRegR && f.SrcF <= bpf.FRegRW {
				x.Src = ren[x.Src]
			}
			if f.DstF >= bpf.FRegR && f.DstF <= bpf.FRegRW {
				x.Dst = ren[x.Dst]
			}
			b = append(b, x.Code, byte(x.Dst)|byte(x.Src)<<4)
			b = binary.LittleEndian.AppendUint16(b, uint16(x.Off))
			b = binary.LittleEndian.AppendUint32(b, uint32(x.Imm))
			if x.IsLdImm64() {
				b = binary.LittleEndian.AppendUint32(b, uint32(x.Imm2))
			}
		}
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// fixedRoles: calls and exits give r0-r5 meaning, so no renaming.
func fixedRoles(insns []bpf.Insn) bool {
	for _, x := range insns {
		if x.IsCall() || x.IsExit() {
			return true
		}
	}
	return false
}

// isNop: ja +0, and 64-bit mov of a register to itself.
func isNop(x bpf.Insn) bool {
	switch x.Op() {
	case bpf.OpJa:
		return x.Off == 0
	case bpf.OpMov64Reg:
		return x.Dst == x.Src
	}
	return false
}

// canonInsns removes NOPs and, in straight-line windows, register writes
// that nothing reads. It returns insns itself when nothing is removed.
func canonInsns(insns []bpf.Insn, liveIn, liveOut bpf.RegSet) []bpf.Insn {
	// Removing an instruction must not remove a fault: only instructions
	// whose reads are initialised on every path (a forward must-set, exact
	// for straight-line code, conservative across jumps) go.
	safe := make([]bool, len(insns))
	def := liveIn | bpf.RegsOf(bpf.R10)
	straight := true
	for i, x := range insns {
		safe[i] = x.Reads()&^def == 0
		def |= x.Writes()
		if (x.IsJump() || x.IsCall() || x.IsExit()) && !isNop(x) {
			def = 0 // conservative past control flow
		}
	}
	for _, x := range insns {
		if (x.IsJump() || x.IsCall() || x.IsExit()) && !isNop(x) {
			straight = false
			break
		}
	}
	var drop []bool
	mark := func(i int) {
		if drop == nil {
			drop = make([]bool, len(insns))
		}
		drop[i] = true
	}
	for i, x := range insns {
		if isNop(x) && safe[i] {
			mark(i)
		}
	}
	if straight {
		live := liveOut
		for i := len(insns) - 1; i >= 0; i-- {
			x := insns[i]
			f := x.Info()
			pureWrite := (f.Class == bpf.ClassALU || f.Class == bpf.ClassALU64 ||
				(x.IsLdImm64() && f.Pseudo == bpf.PseudoNone)) && f.Kind != bpf.KindAddrSpaceCast
			if pureWrite && safe[i] && !live.Has(x.Dst) && !f.Has(bpf.FlagLoad) {
				mark(i)
				continue
			}
			if drop != nil && drop[i] {
				continue
			}
			live &^= x.Writes()
			live |= x.Reads()
		}
	}
	if drop == nil {
		return insns
	}
	return removeInsns(insns, drop)
}

// removeInsns deletes the marked instructions, remapping jump targets
// (a target past the end stays the same distance past the new end).
func removeInsns(insns []bpf.Insn, drop []bool) []bpf.Insn {
	old := bpf.SlotOffsets(insns)
	total := old[len(insns)]
	newSlot := make([]int, len(insns)+1)
	s := 0
	for i, x := range insns {
		newSlot[i] = s
		if !drop[i] {
			s += x.Slots()
		}
	}
	newSlot[len(insns)] = s
	idx := map[int]int{}
	for i, o := range old {
		idx[o] = i
	}
	mapT := func(t int) int {
		if t >= total {
			return s + t - total
		}
		return newSlot[idx[t]]
	}
	out := make([]bpf.Insn, 0, len(insns))
	for i, x := range insns {
		if drop[i] {
			continue
		}
		if t, ok := x.JumpTarget(old[i]); ok && x.Code != 0x85 {
			nt := mapT(t)
			here := newSlot[i]
			if x.Op() == bpf.OpGotol {
				x.Imm = int32(nt - here - 1)
			} else {
				x.Off = int16(nt - here - 1)
			}
		}
		out = append(out, x)
	}
	return out
}
