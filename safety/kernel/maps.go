package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

// Snapshot is the contents of an object's maps at one moment, by map name.
// It exists for differential tests: snapshot, run, snapshot, compare with
// the interpreter, restore.
type Snapshot map[string]MapDump

// MapDump is one map's contents.
type MapDump struct {
	Type      ebpf.MapType
	KeySize   uint32
	ValueSize uint32
	PerCPU    bool
	Entries   []Entry // sorted by key bytes
	// Skipped says why the contents were not dumped (map types without
	// key/value lookups: ring buffers, program arrays, arenas, ...).
	Skipped string
}

// Entry is one key and its value (or one value per possible CPU).
type Entry struct {
	Key    []byte
	Value  []byte   // maps with one value per key
	Values [][]byte // per-CPU maps: index = CPU
}

// dumpable lists the map types Snapshot reads.
var dumpable = map[ebpf.MapType]bool{
	ebpf.Hash: true, ebpf.Array: true, ebpf.LRUHash: true,
	ebpf.PerCPUHash: true, ebpf.PerCPUArray: true, ebpf.LRUCPUHash: true,
}

func perCPU(t ebpf.MapType) bool {
	return t == ebpf.PerCPUHash || t == ebpf.PerCPUArray || t == ebpf.LRUCPUHash
}

// Snapshot dumps every map of o.
func (o *Object) Snapshot() (Snapshot, error) { return SnapshotMaps(o.Maps) }

// SnapshotMaps dumps hash and array maps (per-CPU variants included); other
// map types are listed with Skipped set.
func SnapshotMaps(maps map[string]*ebpf.Map) (Snapshot, error) {
	s := make(Snapshot, len(maps))
	for name, m := range maps {
		d, err := dumpMap(m)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		s[name] = d
	}
	return s, nil
}

func dumpMap(m *ebpf.Map) (MapDump, error) {
	d := MapDump{Type: m.Type(), KeySize: m.KeySize(), ValueSize: m.ValueSize(), PerCPU: perCPU(m.Type())}
	if !dumpable[d.Type] {
		d.Skipped = fmt.Sprintf("%s maps are not dumped", d.Type)
		return d, nil
	}
	ncpu := 1
	if d.PerCPU {
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return d, err
		}
		ncpu = n
	}
	stride := int(d.ValueSize+7) &^ 7 // per-CPU values are 8-byte aligned
	add := func(key []byte) error {
		raw, err := m.LookupBytes(key)
		if err != nil {
			return err
		}
		if raw == nil {
			return nil // deleted meanwhile
		}
		e := Entry{Key: key}
		if d.PerCPU {
			for c := range ncpu {
				e.Values = append(e.Values, slices.Clone(raw[c*stride:c*stride+int(d.ValueSize)]))
			}
		} else {
			e.Value = raw[:d.ValueSize]
		}
		d.Entries = append(d.Entries, e)
		return nil
	}
	if d.Type == ebpf.Array || d.Type == ebpf.PerCPUArray {
		for i := range m.MaxEntries() {
			if err := add(binary.NativeEndian.AppendUint32(nil, i)); err != nil {
				return d, err
			}
		}
		return d, nil
	}
	var key any // nil interface: the first key
	for n := uint32(0); ; n++ {
		next, err := m.NextKeyBytes(key)
		if err != nil {
			return d, err
		}
		if next == nil {
			break
		}
		if n > m.MaxEntries() {
			return d, errors.New("iteration did not end (map changing underneath?)")
		}
		if err := add(next); err != nil {
			return d, err
		}
		key = next
	}
	slices.SortFunc(d.Entries, func(a, b Entry) int { return bytes.Compare(a.Key, b.Key) })
	return d, nil
}

// Restore writes s back into o's maps: entries whose value differs are
// updated and hash entries absent from s are deleted. Unchanged entries are
// not written, so frozen maps (.rodata) restore as long as nothing changed.
func (o *Object) Restore(s Snapshot) error {
	now, err := o.Snapshot()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		want, have := s[name], now[name]
		m := o.Maps[name]
		if m == nil {
			return fmt.Errorf("restore: no map %s", name)
		}
		if want.Skipped != "" {
			continue
		}
		cur := map[string]Entry{}
		for _, e := range have.Entries {
			cur[string(e.Key)] = e
		}
		for _, e := range want.Entries {
			c, ok := cur[string(e.Key)]
			delete(cur, string(e.Key))
			if ok && entryEqual(c, e) {
				continue
			}
			var val any = e.Value
			if want.PerCPU {
				val = e.Values
			}
			if err := m.Update(e.Key, val, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("restore map %s key %x: %w", name, e.Key, err)
			}
		}
		for k := range cur {
			if err := m.Delete([]byte(k)); err != nil {
				return fmt.Errorf("restore map %s: delete key %x: %w", name, k, err)
			}
		}
	}
	return nil
}

func entryEqual(a, b Entry) bool {
	return bytes.Equal(a.Value, b.Value) && slices.EqualFunc(a.Values, b.Values, bytes.Equal)
}

// Diff lists the differences from s to t, one line each ("map key: a -> b"),
// sorted; empty when equal.
func (s Snapshot) Diff(t Snapshot) []string {
	var out []string
	for name, a := range s {
		b, ok := t[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: missing", name))
			continue
		}
		ea := map[string]Entry{}
		for _, e := range a.Entries {
			ea[string(e.Key)] = e
		}
		for _, e := range b.Entries {
			old, ok := ea[string(e.Key)]
			delete(ea, string(e.Key))
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s %x: added %s", name, e.Key, e.valueString()))
			case !entryEqual(old, e):
				out = append(out, fmt.Sprintf("%s %x: %s -> %s", name, e.Key, old.valueString(), e.valueString()))
			}
		}
		for k, e := range ea {
			out = append(out, fmt.Sprintf("%s %x: deleted (was %s)", name, k, e.valueString()))
		}
	}
	for name := range t {
		if _, ok := s[name]; !ok {
			out = append(out, fmt.Sprintf("%s: new map", name))
		}
	}
	slices.Sort(out)
	return out
}

func (e Entry) valueString() string {
	if e.Values == nil {
		return fmt.Sprintf("%x", e.Value)
	}
	parts := make([]string, len(e.Values))
	for i, v := range e.Values {
		parts[i] = fmt.Sprintf("%x", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
