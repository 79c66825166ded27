package object

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// .BTF.ext layout (all offsets of the three info areas are relative to the
// end of the header): a header, then func_info, line_info and CO-RE relo
// areas, each a record size followed by blocks of {section name offset in the
// .BTF string table, record count, records}. Every record starts with
// insn_off, which in an ELF file is a byte offset into the named section.

const (
	extFunc = iota
	extLine
	extCore
	extKinds
)

var extNames = [extKinds]string{"func_info", "line_info", "CO-RE relo"}

type btfExt struct {
	hdrLen uint32
	subs   [extKinds]*extSub // nil when absent or empty
}

type extSub struct {
	kind    int
	start   int // byte offset in .BTF.ext of the record-size field
	end     int
	recSize uint32
	blocks  []*extBlock
}

type extBlock struct {
	nameOff uint32
	name    string
	recs    []extRec
}

type extRec struct {
	pos  int    // byte offset of the record in .BTF.ext
	data []byte // rec_size bytes, insn_off first
}

func (r extRec) insnOff(o binary.ByteOrder) uint32 { return o.Uint32(r.data) }

// btfStrings returns the string table of .BTF.
func btfStrings(b []byte, o binary.ByteOrder) ([]byte, error) {
	if len(b) < 24 || o.Uint16(b) != 0xeb9f {
		return nil, fmt.Errorf("bad .BTF header")
	}
	hdrLen := uint64(o.Uint32(b[4:]))
	strOff, strLen := uint64(o.Uint32(b[16:])), uint64(o.Uint32(b[20:]))
	start := hdrLen + strOff
	if start+strLen > uint64(len(b)) {
		return nil, fmt.Errorf(".BTF string table outside the section")
	}
	return b[start : start+strLen], nil
}

func parseBTFExt(b, strs []byte, o binary.ByteOrder) (*btfExt, error) {
	if len(b) < 24 || o.Uint16(b) != 0xeb9f {
		return nil, fmt.Errorf("bad header magic")
	}
	x := &btfExt{hdrLen: o.Uint32(b[4:])}
	if x.hdrLen < 24 || uint64(x.hdrLen) > uint64(len(b)) {
		return nil, fmt.Errorf("bad header length %d", x.hdrLen)
	}
	for kind := 0; kind < extKinds; kind++ {
		field := 8 + 8*kind
		if field+8 > int(x.hdrLen) {
			break
		}
		off, n := uint64(o.Uint32(b[field:])), uint64(o.Uint32(b[field+4:]))
		if n == 0 {
			continue
		}
		start := uint64(x.hdrLen) + off
		end := start + n
		if end > uint64(len(b)) || n < 4 {
			return nil, fmt.Errorf("%s area (offset %d length %d) outside the section", extNames[kind], off, n)
		}
		sub := &extSub{kind: kind, start: int(start), end: int(end), recSize: o.Uint32(b[start:])}
		if sub.recSize < 4 || sub.recSize > 1<<16 {
			return nil, fmt.Errorf("%s record size %d", extNames[kind], sub.recSize)
		}
		for p := start + 4; p < end; {
			if p+8 > end {
				return nil, fmt.Errorf("%s block header at %d truncated", extNames[kind], p)
			}
			blk := &extBlock{nameOff: o.Uint32(b[p:])}
			num := uint64(o.Uint32(b[p+4:]))
			name, ok := cstring(strs, uint64(blk.nameOff))
			if !ok {
				return nil, fmt.Errorf("%s block at %d: bad section name offset %d", extNames[kind], p, blk.nameOff)
			}
			blk.name = name
			p += 8
			if num*uint64(sub.recSize) > end-p {
				return nil, fmt.Errorf("%s block %q: %d records overrun the area", extNames[kind], name, num)
			}
			for i := uint64(0); i < num; i++ {
				blk.recs = append(blk.recs, extRec{pos: int(p), data: b[p : p+uint64(sub.recSize)]})
				p += uint64(sub.recSize)
			}
			sub.blocks = append(sub.blocks, blk)
		}
		x.subs[kind] = sub
	}
	return x, nil
}

// parseBTFExt reads .BTF.ext when there is one. A malformed one is recorded
// and only becomes an error when a write needs to remap it.
func (f *File) parseBTFExt() error {
	ext, btf := -1, -1
	for _, s := range f.Sections {
		switch s.Name {
		case ".BTF.ext":
			ext = s.Index
		case ".BTF":
			btf = s.Index
		}
	}
	if ext < 0 {
		return nil
	}
	f.btfExtIx = ext
	if btf < 0 {
		return f.errf(".BTF.ext", "", -1, "no .BTF section for its string table")
	}
	strs, err := btfStrings(f.data(btf), f.Order)
	if err != nil {
		return f.errf(".BTF", "", -1, "%v", err)
	}
	x, err := parseBTFExt(f.data(ext), strs, f.Order)
	if err != nil {
		return f.errf(".BTF.ext", "", -1, "%v", err)
	}
	f.btfExt = x
	return nil
}

// encode lays out the .BTF.ext again with new blocks. Areas keep their order
// and the bytes between them. It returns the new bytes and, for each old
// record position, the new one (records missing from the map were dropped).
func (x *btfExt) encode(old []byte, o binary.ByteOrder) ([]byte, map[int]int) {
	var present []*extSub
	for _, s := range x.subs {
		if s != nil {
			present = append(present, s)
		}
	}
	sort.Slice(present, func(a, b int) bool { return present[a].start < present[b].start })
	moved := make(map[int]int)
	if len(present) == 0 {
		return append([]byte(nil), old...), moved
	}
	out := append([]byte(nil), old[:present[0].start]...)
	for i, s := range present {
		start := len(out)
		out = appendU32(out, o, s.recSize)
		for _, blk := range s.blocks {
			if len(blk.recs) == 0 {
				continue
			}
			out = appendU32(out, o, blk.nameOff)
			out = appendU32(out, o, uint32(len(blk.recs)))
			for _, r := range blk.recs {
				moved[r.pos] = len(out)
				out = append(out, r.data...)
			}
		}
		field := 8 + 8*s.kind
		o.PutUint32(out[field:], uint32(start)-x.hdrLen)
		o.PutUint32(out[field+4:], uint32(len(out)-start))
		next := len(old)
		if i+1 < len(present) {
			next = present[i+1].start
		}
		if s.end < next {
			out = append(out, old[s.end:next]...)
		}
	}
	return out, moved
}

func appendU32(b []byte, o binary.ByteOrder, v uint32) []byte {
	var t [4]byte
	o.PutUint32(t[:], v)
	return append(b, t[:]...)
}
