package safety

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
)

// FromObject links program name of f the way the loader does: the entry
// function, then every subprogram reachable through calls and callback
// references, with maps, global data and kfuncs resolved from the
// relocations. insns, when not nil, replaces the entry function's
// instructions (a candidate with the same relocated instructions at the
// same indexes, as object.Rewrite requires after remapping).
func FromObject(f *object.File, name string, insns []bpf.Insn) (*Program, error) {
	entry := f.Function(name)
	if entry == nil || !entry.Entry {
		return nil, fmt.Errorf("%s: no program %q", f.Path, name)
	}
	if f.Spec == nil {
		return nil, fmt.Errorf("%s: program %s: %v", f.Path, name, f.SpecErr)
	}
	p := &Program{Name: name, Type: entry.Type, Refs: map[int]Ref{}}
	if entry.Program != nil {
		p.Attach = entry.Program.AttachType
	}
	body := func(fn *object.Function) []bpf.Insn {
		if fn == entry && insns != nil {
			return insns
		}
		return fn.Insns
	}
	order := []*object.Function{entry}
	start := map[*object.Function]int{entry: 0}
	total := len(body(entry))
	maps := map[string]*Map{}
	params := globalParams(f.Spec, name)
	type pend struct {
		at     int
		target *object.Function
		idx    int
	}
	var targets []pend
	type fixup struct {
		at  int
		src bpf.Reg
	}
	var fixSrc []fixup
	for q := 0; q < len(order); q++ {
		fn := order[q]
		ins := body(fn)
		offs := bpf.SlotOffsets(ins)
		for k, in := range ins {
			at := start[fn] + k
			rel, hasRel := fn.Reloc(k)
			switch {
			case hasRel && rel.Kind == object.RelocKfunc:
				p.Refs[at] = Ref{Kfunc: rel.Symbol, Target: -1}
			case hasRel && (rel.Kind == object.RelocMap || rel.Kind == object.RelocData):
				mname, off := rel.Symbol, int32(0)
				if rel.Kind == object.RelocData {
					mname, off = rel.SymSection, int32(rel.SymValue)+in.Imm
				}
				m, err := mapOf(f.Spec, maps, mname)
				if err != nil {
					return nil, fmt.Errorf("%s: program %s: insn %d: %v", f.Path, name, offs[k], err)
				}
				p.Refs[at] = Ref{Map: m, Value: rel.Kind == object.RelocData, Off: off, Target: -1}
			case in.IsPseudoCall() || in.IsPseudoFunc() || hasRel && (rel.Kind == object.RelocSubprog || rel.Kind == object.RelocFuncAddr):
				sec, slot := fn.Section, fn.Offset+offs[k]+1+int(in.Imm)
				if in.IsLdImm64() {
					fixSrc = append(fixSrc, fixup{at, bpf.PseudoFunc})
				} else {
					fixSrc = append(fixSrc, fixup{at, bpf.PseudoCall})
				}
				if hasRel {
					sec = rel.SymSection
					if in.IsLdImm64() {
						slot = int((rel.SymValue + uint64(int64(in.Imm))) / 8)
					} else {
						slot = int(rel.SymValue/8) + int(in.Imm) + 1
					}
				}
				tfn, idx := functionAt(f, sec, slot)
				if tfn == nil {
					return nil, fmt.Errorf("%s: program %s: insn %d: call target %s+%d is not an instruction", f.Path, name, offs[k], sec, slot)
				}
				if _, ok := start[tfn]; !ok {
					start[tfn] = total
					total += len(body(tfn))
					order = append(order, tfn)
				}
				targets = append(targets, pend{at, tfn, idx})
			}
		}
	}
	for _, t := range targets {
		r := p.Refs[t.at]
		r.Target = start[t.target] + t.idx
		p.Refs[t.at] = r
	}
	p.Insns = make([]bpf.Insn, 0, total)
	for _, fn := range order {
		s := len(p.Insns)
		p.Insns = append(p.Insns, body(fn)...)
		fu := Func{Name: fn.Name, Start: s, End: len(p.Insns), Global: fn != entry && fn.Global}
		if fu.Global {
			fu.Params = params[fn.Name]
		}
		p.Funcs = append(p.Funcs, fu)
	}
	for _, fx := range fixSrc {
		p.Insns[fx.at].Src = fx.src
	}
	for at, r := range p.Refs {
		if r.Kfunc != "" {
			p.Insns[at].Src = bpf.PseudoKfuncCall
		}
	}
	// Pseudo calls get their linked pc-relative offsets, as the loader does.
	offs := bpf.SlotOffsets(p.Insns)
	for at, r := range p.Refs {
		if r.Target >= 0 && (p.Insns[at].IsPseudoCall() || p.Insns[at].IsPseudoFunc()) {
			p.Insns[at].Imm = int32(offs[r.Target] - offs[at] - 1)
		}
	}
	return p, nil
}

// functionAt finds the function of section sec holding slot, and the
// instruction index there.
func functionAt(f *object.File, sec string, slot int) (*object.Function, int) {
	for _, fn := range f.Functions {
		if fn.Section == sec && slot >= fn.Offset && slot < fn.Offset+fn.Slots() {
			if k := fn.InsnAtSlot(slot - fn.Offset); k >= 0 {
				return fn, k
			}
		}
	}
	return nil, -1
}

func mapOf(spec *ebpf.CollectionSpec, cache map[string]*Map, name string) (*Map, error) {
	if m, ok := cache[name]; ok {
		return m, nil
	}
	ms, ok := spec.Maps[name]
	if !ok {
		// cilium/ebpf names data sections' maps after the section.
		for k, v := range spec.Maps {
			if strings.HasSuffix(k, name) {
				ms, ok = v, true
				break
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("map %q is not defined", name)
	}
	m := &Map{Name: name, Type: ms.Type, KeySize: ms.KeySize, ValueSize: ms.ValueSize, MaxEntries: ms.MaxEntries,
		Flags: ms.Flags, SpinLockOff: -1, ReadOnly: ms.Flags&0x80 != 0 || strings.HasPrefix(name, ".rodata")}
	if m.ReadOnly && ms.Flags&0x80 != 0 && ms.Type == ebpf.Array && len(ms.Contents) == 1 {
		if b, ok := ms.Contents[0].Value.([]byte); ok {
			m.Data = b
		}
	}
	if st, ok := btf.UnderlyingType(ms.Value).(*btf.Struct); ok {
		for _, mem := range st.Members {
			if s, ok := btf.UnderlyingType(mem.Type).(*btf.Struct); ok && s.Name == "bpf_spin_lock" {
				m.SpinLockOff = int32(mem.Offset.Bytes())
			}
		}
	}
	cache[name] = m
	return m, nil
}

// globalParams reads the BTF prototypes of the functions linked into
// program name (global subprograms are verified against them).
func globalParams(spec *ebpf.CollectionSpec, name string) map[string][]Param {
	out := map[string][]Param{}
	ps := spec.Programs[name]
	if ps == nil {
		return out
	}
	for i := range ps.Instructions {
		ins := &ps.Instructions[i]
		fn := btf.FuncMetadata(ins)
		if fn == nil {
			continue
		}
		proto, ok := fn.Type.(*btf.FuncProto)
		if !ok {
			continue
		}
		var prm []Param
		for _, a := range proto.Params {
			prm = append(prm, paramOf(a.Type))
		}
		out[fn.Name] = prm
	}
	return out
}

var ctxTypes = map[string]bool{"xdp_md": true, "__sk_buff": true, "pt_regs": true, "bpf_sock_addr": true}

func paramOf(t btf.Type) Param {
	ptr, ok := btf.UnderlyingType(t).(*btf.Pointer)
	if !ok {
		return Param{Kind: ParamScalar}
	}
	target := btf.UnderlyingType(ptr.Target)
	if s, ok := target.(*btf.Struct); ok && ctxTypes[s.Name] {
		return Param{Kind: ParamCtx}
	}
	size, err := btf.Sizeof(target)
	if err != nil || size <= 0 {
		// void * and friends: the kernel refuses them as global arguments;
		// treat as unusable memory so any dereference is rejected.
		return Param{Kind: ParamMem, Size: 0, Nullable: true}
	}
	return Param{Kind: ParamMem, Size: int32(size), Nullable: true}
}
