package safety

import (
	"math"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

// maxVarOff is BPF_MAX_VAR_OFF: pointer offsets stay within ±2^29.
const maxVarOff = 1 << 29

// step executes instruction pc on st (in place) and returns the next pc,
// or -1 when the path ends. Forked paths are queued with c.fork.
func (c *checker) step(pc int, st *State) (int, error) {
	in := c.p.Insns[pc]
	info := c.meta[pc].info()
	f := st.cur()
	switch info.Class {
	case bpf.ClassALU, bpf.ClassALU64:
		return pc + 1, c.alu(pc, in, info, f)
	case bpf.ClassLDX:
		return pc + 1, c.load(pc, in, info, st)
	case bpf.ClassST, bpf.ClassSTX:
		if info.Kind == bpf.KindAtomic {
			return pc + 1, c.atomic(pc, in, info, st)
		}
		if info.Kind == bpf.KindLoadAcquire {
			return pc + 1, c.load(pc, in, info, st)
		}
		return pc + 1, c.store(pc, in, info, st)
	case bpf.ClassLD:
		return pc + 1, c.ld(pc, in, info, st)
	}
	// JMP / JMP32
	switch info.Kind {
	case bpf.KindJa:
		return int(c.meta[pc].target), nil
	case bpf.KindExit:
		return c.exit(pc, st)
	case bpf.KindCall:
		if c.p.Refs[pc].Kfunc != "" {
			return pc + 1, c.kfuncCall(pc, st)
		}
		return c.helperCall(pc, in, st)
	case bpf.KindCallLocal:
		return c.localCall(pc, in, st)
	case bpf.KindCallKfunc:
		return pc + 1, c.kfuncCall(pc, st)
	case bpf.KindMayGoto:
		// Taken when the run-time budget is spent: explore the exit first,
		// queue the loop body one may_goto level deeper (kernel order).
		body := c.ar.clone(st)
		body.MayGoto++
		c.fork(pc+1, body)
		return int(c.meta[pc].target), nil
	}
	return c.condJump(pc, in, info, st)
}

func (c *checker) readReg(pc int, f *Frame, r bpf.Reg) (*Reg, error) {
	if f.Regs[r].Type == NotInit {
		return nil, c.fail(pc, Uninit, "r%d is read before it is written (!read_ok)", r)
	}
	return &f.Regs[r], nil
}

// operand returns the second operand of an ALU or jump instruction. An
// immediate is returned in the checker's scratch register (only V is ever
// set there); callers must not modify the result.
func (c *checker) operand(pc int, in bpf.Insn, info *bpf.OpInfo, f *Frame) (*Reg, error) {
	if info.ImmSrc {
		v := uint64(int64(in.Imm))
		if info.Width == 32 {
			v = uint64(uint32(in.Imm))
		}
		c.imm.Type = ScalarValue
		c.imm.V = Const(v)
		return &c.imm, nil
	}
	return c.readReg(pc, f, in.Src)
}

func (c *checker) alu(pc int, in bpf.Insn, info *bpf.OpInfo, f *Frame) error {
	dst := &f.Regs[in.Dst]
	w := int(info.Width)
	switch info.Kind {
	case bpf.KindMov:
		src, err := c.operand(pc, in, info, f)
		if err != nil {
			return err
		}
		if w == 64 {
			if src.Type == ScalarValue && !info.ImmSrc && !src.V.IsConst() && src.ID == 0 {
				src.ID = c.newID() // src is f.Regs[in.Src]
			}
			*dst = *src
			return nil
		}
		if src.Type != ScalarValue {
			*dst = scalarReg(URange(0, math.MaxUint32))
			return nil
		}
		*dst = scalarReg(src.V.zext32())
		return nil
	case bpf.KindMovSX:
		src, err := c.operand(pc, in, info, f)
		if err != nil {
			return err
		}
		v := Unknown()
		if src.Type == ScalarValue {
			v = src.V
		}
		*dst = scalarReg(SignExt(v, int(info.SrcBits), w))
		return nil
	case bpf.KindAddrSpaceCast:
		if !c.hasArena {
			return c.fail(pc, MapAccess, "addr_space_cast insn can only be used in a program that has an associated arena")
		}
		if _, err := c.readReg(pc, f, in.Src); err != nil {
			return err
		}
		if in.Imm == 1 {
			*dst = Reg{Type: PtrArena, V: Unknown()}
		} else {
			*dst = scalarReg(URange(0, math.MaxUint32))
		}
		return nil
	}
	if dst.Type == NotInit {
		return c.fail(pc, Uninit, "r%d is read before it is written (!read_ok)", in.Dst)
	}
	switch info.Kind {
	case bpf.KindNeg, bpf.KindLe, bpf.KindBe, bpf.KindBswap:
		if dst.Type != ScalarValue {
			if c.opts.Unprivileged {
				return c.fail(pc, PointerMath, "r%d pointer arithmetic prohibited (%s on %s)", in.Dst, info.Mnemonic, dst.Type)
			}
			// root: the pointer leaks into an unknown scalar.
			*dst = unknownReg()
			return nil
		}
		if info.Kind == bpf.KindNeg {
			*dst = scalarReg(Neg(dst.V, w))
		} else {
			*dst = scalarReg(Swap(info.Kind, dst.V, w))
		}
		return nil
	}
	src, err := c.operand(pc, in, info, f)
	if err != nil {
		return err
	}
	if dst.Type == ScalarValue && src.Type == ScalarValue {
		*dst = scalarReg(ALU(info.Kind, dst.V, src.V, w))
		return nil
	}
	return c.ptrALU(pc, in, info, dst, *src)
}

func isAddSub(k bpf.Kind) bool { return k == bpf.KindAdd || k == bpf.KindSub }

// ptrALU is adjust_ptr_min_max_vals: pointer +/- scalar, pointer - pointer.
func (c *checker) ptrALU(pc int, in bpf.Insn, info *bpf.OpInfo, dst *Reg, src Reg) error {
	k := info.Kind
	if dst.Type == PtrArena || src.Type == PtrArena {
		// Arena pointers are plain addresses for ALU; faults are handled at run time.
		if info.Width == 32 {
			*dst = scalarReg(URange(0, math.MaxUint32))
		} else {
			*dst = Reg{Type: PtrArena, V: Unknown()}
		}
		return nil
	}
	if info.Width == 32 {
		if k == bpf.KindSub && !c.opts.Unprivileged {
			*dst = scalarReg(URange(0, math.MaxUint32))
			return nil
		}
		return c.fail(pc, PointerMath, "r%d 32-bit pointer arithmetic prohibited", in.Dst)
	}
	if dst.Type.IsPtr() && src.Type.IsPtr() {
		if k == bpf.KindSub { // pointer difference: allowed when privileged
			*dst = unknownReg()
			return nil
		}
		return c.fail(pc, PointerMath, "r%d pointer %s pointer prohibited", in.Dst, info.Mnemonic)
	}
	if !isAddSub(k) {
		return c.fail(pc, PointerMath, "r%d pointer arithmetic with %s operator prohibited", in.Dst, info.Mnemonic)
	}
	ptr, off := *dst, src
	if dst.Type == ScalarValue {
		if k == bpf.KindSub {
			return c.fail(pc, PointerMath, "r%d tried to subtract pointer from scalar", in.Dst)
		}
		ptr, off = src, *dst
	}
	switch {
	case ptr.Null:
		return c.fail(pc, NullDeref, "r%d pointer arithmetic on %s_or_null prohibited, null-check it first", in.Dst, ptr.Type)
	case ptr.Type == PtrPacketEnd || ptr.Type == PtrMap || ptr.Type == PtrSock || ptr.Type == PtrFunc:
		return c.fail(pc, PointerMath, "r%d pointer arithmetic on %s prohibited", in.Dst, ptr.Type)
	}
	v := off.V
	if v.IsConst() {
		x := int64(v.T.Value)
		if k == bpf.KindSub {
			x = -x
		}
		no := int64(ptr.Off) + x
		if x >= maxVarOff || x <= -maxVarOff || no >= maxVarOff || no <= -maxVarOff {
			return c.fail(pc, PointerMath, "math between %s pointer and %d is not allowed", ptr.Type, x)
		}
		ptr.Off = int32(no)
		*dst = ptr
		return nil
	}
	if v.Smin == math.MinInt64 || v.Smin <= -maxVarOff || v.Smax >= maxVarOff {
		return c.fail(pc, PointerMath, "math between %s pointer and register with unbounded min value is not allowed", ptr.Type)
	}
	if ptr.Type == PtrCtx {
		return c.fail(pc, CtxAccess, "variable ctx access prohibited (r%d += scalar)", in.Dst)
	}
	ptr.V = ALU(k, ptr.V, v, 64)
	if ptr.V.Smin <= -maxVarOff || ptr.V.Smax >= maxVarOff {
		return c.fail(pc, PointerMath, "value %s makes %s pointer be out of bounds", ptr.V, ptr.Type)
	}
	if ptr.Type == PtrPacket || ptr.Type == PtrPacketMeta {
		ptr.ID, ptr.Range = c.newID(), 0
	}
	*dst = ptr
	return nil
}

// access describes one memory access for checkMem.
type access struct {
	reg   bpf.Reg
	off   int32 // instruction offset
	size  int32
	write bool
	atom  bool // atomic: strict alignment, no ctx/packet
}

// memRegion checks an access through ptr and returns the value read (for
// loads of fixed-layout memory) and any error. Stack accesses are done by
// stackAccess.
func (c *checker) checkMem(pc int, st *State, ptr *Reg, a access) (Reg, error) {
	if ptr.Type == NotInit {
		return Reg{}, c.fail(pc, Uninit, "r%d is read before it is written (!read_ok)", a.reg)
	}
	if ptr.Null {
		return Reg{}, c.fail(pc, NullDeref, "r%d invalid mem access '%s_or_null': the pointer may be NULL", a.reg, ptr.Type)
	}
	val := unknownReg()
	val.V = Trunc(Unknown(), int(a.size))
	switch ptr.Type {
	case ScalarValue:
		return Reg{}, c.fail(pc, PointerMath, "r%d invalid mem access 'scalar': not a pointer", a.reg)
	case PtrArena:
		// KFlex: arena memory is the extension's own heap; guard pages and the
		// fault handler make every access safe at run time.
		return val, nil
	case PtrCtx:
		return c.ctxAccess(pc, ptr, a)
	case PtrStack:
		return Reg{}, nil // handled by the caller
	case PtrMapValue, PtrMem:
		// what names the memory in diagnostics (built only on failure).
		size, prop := int64(0), MapBounds
		what := func() string {
			if ptr.Type == PtrMapValue {
				return "map value " + ptr.Map.Name
			}
			return "memory"
		}
		if ptr.Type == PtrMapValue {
			size = int64(ptr.Map.ValueSize)
			if a.write && ptr.Map.ReadOnly {
				return Reg{}, c.fail(pc, MapAccess, "write into read-only map %s", ptr.Map.Name)
			}
		} else {
			size = int64(ptr.Size)
		}
		lo := int64(ptr.Off) + int64(a.off) + ptr.V.Smin
		if lo < 0 {
			return Reg{}, c.fail(pc, prop, "r%d min value is negative (offset %d into %s)", a.reg, lo, what())
		}
		if ptr.V.Umax >= maxVarOff {
			return Reg{}, c.fail(pc, prop, "r%d unbounded memory access into %s", a.reg, what())
		}
		hi := int64(ptr.Off) + int64(a.off) + int64(ptr.V.Umax) + int64(a.size)
		if hi > size {
			return Reg{}, c.fail(pc, prop, "invalid access to %s: off=%d size=%d, value_size=%d", what(), hi-int64(a.size), a.size, size)
		}
		if ptr.Type == PtrMapValue && ptr.Map.SpinLockOff >= 0 {
			l := int64(ptr.Map.SpinLockOff)
			if lo < l+4 && hi > l {
				return Reg{}, c.fail(pc, MapAccess, "direct access to bpf_spin_lock in %s is disallowed", what())
			}
		}
		if a.atom {
			if err := c.align(pc, ptr, a, true); err != nil {
				return Reg{}, err
			}
		}
		if ptr.Type == PtrMapValue && !a.write && ptr.Map.Data != nil && ptr.V.IsConst() {
			// bpf_map_direct_read: a frozen read-only map's bytes are known.
			var x uint64
			for k := a.size - 1; k >= 0; k-- {
				x <<= 8
				if o := lo + int64(k); o < int64(len(ptr.Map.Data)) {
					x |= uint64(ptr.Map.Data[o])
				}
			}
			return scalarReg(Const(x)), nil
		}
		return val, nil
	case PtrPacket, PtrPacketMeta:
		if a.atom {
			return Reg{}, c.fail(pc, PointerMath, "BPF_ATOMIC stores into r%d pkt are not allowed", a.reg)
		}
		if !c.pi.pkt {
			return Reg{}, c.fail(pc, CtxAccess, "no direct packet access for program type %s", c.p.Type)
		}
		if a.write && (c.p.Type == ebpf.FlowDissector || c.p.Type == ebpf.CGroupSKB) {
			return Reg{}, c.fail(pc, CtxAccess, "cannot write into packet in program type %s", c.p.Type)
		}
		if ptr.V.Smin < 0 {
			return Reg{}, c.fail(pc, PacketBounds, "r%d min value is negative, packet offset must be unsigned", a.reg)
		}
		off := int64(ptr.Off) + int64(a.off)
		if off < 0 || off+int64(a.size) > int64(ptr.Range) || ptr.V.Umax+uint64(max(off, 0)) > 0xffff {
			return Reg{}, c.fail(pc, PacketBounds, "invalid access to packet, off=%d size=%d, r%d range=%d: no data_end check covers it", off, a.size, a.reg, ptr.Range)
		}
		return val, nil
	case PtrFlowKeys:
		off := int64(ptr.Off) + int64(a.off)
		if !ptr.V.IsConst() || off < 0 || off+int64(a.size) > flowKeysSize {
			return Reg{}, c.fail(pc, CtxAccess, "invalid access to flow keys off=%d size=%d", off, a.size)
		}
		return val, nil
	case PtrSock:
		off := int64(ptr.Off) + int64(a.off)
		if a.write || !ptr.V.IsConst() || off < 0 || off+int64(a.size) > sockCommonSize || off%int64(a.size) != 0 {
			return Reg{}, c.fail(pc, CtxAccess, "invalid sock access off=%d size=%d", off, a.size)
		}
		return val, nil
	}
	return Reg{}, c.fail(pc, PointerMath, "r%d invalid mem access '%s'", a.reg, ptr.Type)
}

// align enforces check_ptr_alignment where the kernel is strict (stack
// always, others for atomics).
func (c *checker) align(pc int, ptr *Reg, a access, strict bool) error {
	if !strict || a.size == 1 {
		return nil
	}
	off := int64(ptr.Off) + int64(a.off) + int64(ptr.V.T.Value)
	if off%int64(a.size) != 0 || ptr.V.T.Mask&uint64(a.size-1) != 0 {
		return c.fail(pc, Alignment, "misaligned %s access off %d size %d", ptr.Type, off, a.size)
	}
	return nil
}

func (c *checker) ctxAccess(pc int, ptr *Reg, a access) (Reg, error) {
	if ptr.Off != 0 || !ptr.V.IsConst() || ptr.V.T.Value != 0 {
		return Reg{}, c.fail(pc, CtxAccess, "dereference of modified ctx ptr r%d off=%d disallowed", a.reg, ptr.Off)
	}
	if a.atom {
		return Reg{}, c.fail(pc, CtxAccess, "BPF_ATOMIC stores into r%d ctx are not allowed", a.reg)
	}
	off, size := a.off, a.size
	pi := c.pi
	val := unknownReg()
	val.V = Trunc(Unknown(), int(size))
	if pi.fields == nil {
		if off < pi.readMin || off+size > pi.ctxSize || off%size != 0 || (a.write && !pi.writeAll) {
			return Reg{}, c.fail(pc, CtxAccess, "invalid bpf_context access off=%d size=%d for %s", off, size, c.p.Type)
		}
		return val, nil
	}
	if c.p.Type == ebpf.CGroupSockAddr && !sockAddrFieldOK(c.p.Attach, off) {
		return Reg{}, c.fail(pc, CtxAccess, "invalid bpf_context access off=%d size=%d: field not available for attach type %s", off, size, c.p.Attach)
	}
	for _, fl := range pi.fields {
		if off < fl.off || off >= fl.off+fl.size {
			continue
		}
		if a.write {
			if !fl.write || fl.typ != ScalarValue || off+size > fl.off+fl.size || off%size != 0 || size != fl.size && !fl.anyWrite {
				return Reg{}, c.fail(pc, CtxAccess, "write to read-only or partial ctx field off=%d size=%d for %s", off, size, c.p.Type)
			}
			return val, nil
		}
		if fl.typ != ScalarValue {
			if off != fl.off || size != fl.size {
				return Reg{}, c.fail(pc, CtxAccess, "invalid bpf_context access off=%d size=%d: pointer field needs a full-size load", off, size)
			}
			r := Reg{Type: fl.typ, V: Const(0), Null: fl.null}
			if fl.null {
				r.ID = c.newID()
			}
			return r, nil
		}
		if off+size > fl.off+fl.size || off%size != 0 || fl.exact && size != fl.size {
			return Reg{}, c.fail(pc, CtxAccess, "invalid bpf_context access off=%d size=%d", off, size)
		}
		return val, nil
	}
	return Reg{}, c.fail(pc, CtxAccess, "invalid bpf_context access off=%d size=%d for %s", off, size, c.p.Type)
}

// sockAddrFieldOK is the address-family check of sock_addr_is_valid_access:
// user_ip4 / user_ip6 only for their family's hooks, msg_src_ip4/6 only for
// sendmsg.
func sockAddrFieldOK(at ebpf.AttachType, off int32) bool {
	v4 := at == ebpf.AttachCGroupInet4Bind || at == ebpf.AttachCGroupInet4Connect || at == ebpf.AttachCgroupInet4GetPeername ||
		at == ebpf.AttachCgroupInet4GetSockname || at == ebpf.AttachCGroupUDP4Sendmsg || at == ebpf.AttachCGroupUDP4Recvmsg
	v6 := at == ebpf.AttachCGroupInet6Bind || at == ebpf.AttachCGroupInet6Connect || at == ebpf.AttachCgroupInet6GetPeername ||
		at == ebpf.AttachCgroupInet6GetSockname || at == ebpf.AttachCGroupUDP6Sendmsg || at == ebpf.AttachCGroupUDP6Recvmsg
	switch {
	case off >= 4 && off < 8:
		return v4
	case off >= 8 && off < 24:
		return v6
	case off >= 40 && off < 44:
		return at == ebpf.AttachCGroupUDP4Sendmsg
	case off >= 44 && off < 60:
		return at == ebpf.AttachCGroupUDP6Sendmsg
	}
	return true
}

// stackRange returns the byte range [lo, hi) of a stack access relative to
// the frame pointer, checking bounds and alignment.
func (c *checker) stackRange(pc int, ptr *Reg, a access) (int64, int64, error) {
	lo := int64(ptr.Off) + int64(a.off) + ptr.V.Smin
	hi := int64(ptr.Off) + int64(a.off) + ptr.V.Smax + int64(a.size)
	if ptr.V.Smin < -maxVarOff || ptr.V.Smax > maxVarOff {
		return 0, 0, c.fail(pc, StackSafety, "unbounded variable-offset stack access")
	}
	if lo < -MaxStack || hi > 0 {
		return 0, 0, c.fail(pc, StackSafety, "invalid stack access off=%d size=%d (stack is [-512, 0))", lo, a.size)
	}
	if err := c.align(pc, ptr, a, true); err != nil {
		return 0, 0, err
	}
	return lo, hi, nil
}

// byteAt returns the slot holding stack byte off (< 0) for writing, and
// the byte's index in it.
func byteAt(f *Frame, off int64) (*Slot, int) {
	i := int((-off - 1) / 8)
	return f.slot(i), int(7 - (-off-1)%8)
}

// byteAtR is byteAt for reading: the slot must not be modified.
func byteAtR(f *Frame, off int64) (*Slot, int) {
	i := int((-off - 1) / 8)
	return f.slotR(i), int(7 - (-off-1)%8)
}

// stackRead reads size bytes at [lo, lo+size) of frame f (fixed offset),
// like check_stack_read_fixed_off. Slot bytes B[0..n) hold a spill of n
// bytes (the kernel's slot_type[7..8-n]); Slot.Spill is the whole register.
func (c *checker) stackRead(pc int, f *Frame, lo int64, size int32, reg bpf.Reg) (Reg, error) {
	s, b := byteAtR(f, lo)
	if s.B[0] == StackSpill {
		n := spillSize(s)
		if size == 8 && n == 8 && s.Spill.Type != NotInit {
			return s.Spill, nil
		}
		if s.Spill.Type != ScalarValue {
			return Reg{}, c.fail(pc, StackSafety, "invalid size of register fill: %d-byte read of a spilled %s", size, s.Spill.Type)
		}
		if int(size) <= n && b == 0 {
			return scalarReg(Trunc(s.Spill.V, int(size))), nil
		}
		spills, zeros := 0, 0
		for j := b; j < b+int(size); j++ {
			switch s.B[j] {
			case StackSpill:
				spills++
			case StackZero:
				zeros++
			case StackInvalid:
				if c.opts.Unprivileged {
					return Reg{}, c.fail(pc, Uninit, "invalid read from stack off %d+%d size %d: byte is uninitialised", lo, j-b, size)
				}
			}
		}
		if spills == int(size) && s.Spill.V.IsConst() && s.Spill.V.T.Value == 0 || zeros == int(size) {
			return scalarReg(Const(0)), nil
		}
		return scalarReg(Trunc(Unknown(), int(size))), nil
	}
	zero := true
	for j := b; j < b+int(size); j++ {
		switch s.B[j] {
		case StackInvalid:
			if c.opts.Unprivileged {
				return Reg{}, c.fail(pc, Uninit, "invalid read from stack off %d+%d size %d: byte fp%d is uninitialised", lo, j-b, size, lo+int64(j-b))
			}
			zero = false // a root loader may read uninitialised stack (allow_uninit_stack)
		case StackMisc:
			zero = false
		case StackSpill:
			return Reg{}, c.fail(pc, StackSafety, "invalid read from stack off %d+%d size %d: part of a clobbered spill", lo, j-b, size)
		}
	}
	if zero {
		return scalarReg(Const(0)), nil
	}
	return scalarReg(Trunc(Unknown(), int(size))), nil
}

// spillSize counts the spilled bytes of a slot from its lowest byte.
func spillSize(s *Slot) int {
	n := 0
	for n < 8 && s.B[n] == StackSpill {
		n++
	}
	return n
}

var allSpill = [8]StackByte{StackSpill, StackSpill, StackSpill, StackSpill, StackSpill, StackSpill, StackSpill, StackSpill}

// stackSpill is save_register_state: v is kept whole, its size bytes from
// the slot's lowest byte are marked spilled, the others become misc
// (zero and invalid bytes stay).
func stackSpill(s *Slot, size int32, v *Reg) {
	s.Spill = *v
	if size == 8 {
		s.B = allSpill
		return
	}
	for j := range s.B {
		switch {
		case j < int(size):
			s.B[j] = StackSpill
		case s.B[j] == StackZero || s.B[j] == StackInvalid:
		default:
			s.B[j] = StackMisc
		}
	}
}

// stackData is a plain (non-spill) write of size bytes at lo: a spill in
// the slot is destroyed and its bytes scrubbed to misc, the written bytes
// become zero or misc.
func stackData(f *Frame, lo int64, size int32, zero bool) {
	s, b := byteAt(f, lo)
	if s.B[0] == StackSpill {
		for j := range s.B {
			if s.B[j] != StackInvalid {
				s.B[j] = StackMisc
			}
		}
	}
	s.Spill = Reg{}
	kind := StackMisc
	if zero {
		kind = StackZero
	}
	for j := b; j < b+int(size) && j < 8; j++ {
		s.B[j] = kind
	}
}

// stackVarWrite is check_stack_write_var_off over the bytes [lo, hi): each
// byte may be written, so spills there are forgotten (their other bytes
// keep their type) and the bytes become misc, or stay zero for zero writes.
func stackVarWrite(f *Frame, lo, hi int64, zero bool) {
	for o := lo; o < hi; o++ {
		s, b := byteAt(f, o)
		if zero && s.B[b] == StackSpill && s.Spill.Type == ScalarValue && s.Spill.V.IsConst() && s.Spill.V.T.Value == 0 {
			continue
		}
		s.Spill = Reg{}
		if zero && s.B[b] == StackZero {
			continue
		}
		s.B[b] = StackMisc
	}
}

// stackStore is check_stack_write_fixed_off for a register or immediate
// value v of size bytes at lo.
func (c *checker) stackStore(pc int, st *State, frame int, lo int64, size int32, v Reg) error {
	f := st.Frames[frame]
	s, b := byteAt(f, lo)
	switch {
	case v.Type == ScalarValue && b == 0 && !c.opts.Unprivileged:
		stackSpill(s, size, &v)
	case v.Type == ScalarValue && b == 0 && size == 8:
		stackSpill(s, size, &v)
	case v.Type != ScalarValue:
		if size != 8 {
			return c.fail(pc, StackSafety, "invalid size of register spill: %d-byte store of a %s", size, v.Type)
		}
		if frame != len(st.Frames)-1 && v.Type == PtrStack {
			return c.fail(pc, StackSafety, "cannot spill pointers to stack into stack frame of the caller")
		}
		stackSpill(s, size, &v)
	default:
		stackData(f, lo, size, v.V.IsConst() && v.V.T.Value == 0)
	}
	return nil
}

// constStackKey is get_constant_map_key: the constant a map key on the
// stack is known to hold (zero bytes, or a scalar spill of exactly the
// key's size).
func constStackKey(f *Frame, lo int64, size int64) (uint64, bool) {
	s, b := byteAtR(f, lo)
	zeros := 0
	for j := b; j < 8 && s.B[j] == StackZero; j++ {
		zeros++
	}
	if int64(zeros) >= size {
		return 0, true
	}
	if s.B[0] != StackSpill || s.Spill.Type != ScalarValue || !s.Spill.V.IsConst() {
		return 0, false
	}
	n := 0
	for j := b; j < 8 && s.B[j] == StackSpill; j++ {
		n++
	}
	if int64(n) != size || int64(s.Spill.V.T.Value) < 0 {
		return 0, false
	}
	return s.Spill.V.T.Value, true
}

func (c *checker) load(pc int, in bpf.Insn, info *bpf.OpInfo, st *State) error {
	f := st.cur()
	ptr, err := c.readReg(pc, f, in.Src)
	if err != nil {
		return err
	}
	a := access{reg: in.Src, off: int32(in.Off), size: int32(info.Size)}
	if err := c.insnPtr(pc, ptr.Type); err != nil {
		return err
	}
	if info.Kind == bpf.KindLoadAcquire {
		if err := c.atomicPtrOK(pc, in.Src, ptr); err != nil {
			return err
		}
		a.atom = true
	}
	var v Reg
	if ptr.Type == PtrStack && !ptr.Null {
		lo, hi, err := c.stackRange(pc, ptr, a)
		if err != nil {
			return err
		}
		sf := st.Frames[ptr.Frame]
		if ptr.V.IsConst() {
			if v, err = c.stackRead(pc, sf, lo, a.size, in.Src); err != nil {
				return err
			}
		} else {
			for o := lo; o < hi; o++ {
				s, b := byteAtR(sf, o)
				if s.B[b] == StackInvalid && c.opts.Unprivileged {
					return c.fail(pc, Uninit, "invalid variable-offset read from stack: byte fp%d may be uninitialised", o)
				}
			}
			v = scalarReg(Trunc(Unknown(), int(a.size)))
		}
	} else {
		if v, err = c.checkMem(pc, st, ptr, a); err != nil {
			return err
		}
	}
	if info.Kind == bpf.KindLoadSX {
		if v.Type != ScalarValue {
			v = unknownReg()
		}
		v = scalarReg(SignExt(v.V, 8*int(info.Size), 64))
	}
	f.Regs[in.Dst] = v
	return nil
}

func (c *checker) store(pc int, in bpf.Insn, info *bpf.OpInfo, st *State) error {
	f := st.cur()
	ptr, err := c.readReg(pc, f, in.Dst)
	if err != nil {
		return err
	}
	var v Reg
	if info.Kind == bpf.KindStoreImm {
		v = scalarReg(Const(uint64(int64(in.Imm))))
		if ptr.Type == PtrCtx {
			return c.fail(pc, CtxAccess, "BPF_ST stores into r%d ctx are not allowed", in.Dst)
		}
	} else {
		src, err := c.readReg(pc, f, in.Src)
		if err != nil {
			return err
		}
		v = *src
	}
	a := access{reg: in.Dst, off: int32(in.Off), size: int32(info.Size), write: true}
	if err := c.insnPtr(pc, ptr.Type); err != nil {
		return err
	}
	if ptr.Type == PtrStack && !ptr.Null {
		lo, hi, err := c.stackRange(pc, ptr, a)
		if err != nil {
			return err
		}
		sf := st.Frames[ptr.Frame]
		if !ptr.V.IsConst() {
			if v.Type != ScalarValue && c.opts.Unprivileged {
				return c.fail(pc, PointerMath, "r%d leaks a pointer into a variable-offset stack write", in.Src)
			}
			stackVarWrite(sf, lo, hi, v.Type == ScalarValue && v.V.IsConst() && v.V.T.Value == 0)
			return nil
		}
		return c.stackStore(pc, st, int(ptr.Frame), lo, a.size, v)
	}
	if info.Kind == bpf.KindStoreRelease {
		if err := c.atomicPtrOK(pc, in.Dst, ptr); err != nil {
			return err
		}
		a.atom = true
	}
	if ptr.Type == PtrCtx && v.Type != ScalarValue && c.opts.Unprivileged {
		return c.fail(pc, CtxAccess, "r%d leaks a pointer into ctx", in.Src)
	}
	_, err = c.checkMem(pc, st, ptr, a)
	return err
}

// insnPtr is save_aux_ptr_type: one load or store instruction may not
// access ctx (or socket, arena) memory on one path and other memory on
// another, because the kernel rewrites ctx accesses per instruction.
func (c *checker) insnPtr(pc int, t Type) error {
	prev := c.ptrType[pc]
	if prev == NotInit {
		c.ptrType[pc] = t
		return nil
	}
	special := func(t Type) bool { return t == PtrCtx || t == PtrSock || t == PtrArena }
	if prev != t && (special(prev) || special(t)) {
		return c.fail(pc, PointerMath, "same insn cannot be used with different pointers (%s and %s)", prev, t)
	}
	return nil
}

// atomicPtrOK is atomic_ptr_type_ok: atomics, load-acquire and
// store-release never go through ctx, packet, flow keys or socket pointers.
func (c *checker) atomicPtrOK(pc int, r bpf.Reg, ptr *Reg) error {
	switch ptr.Type {
	case PtrCtx, PtrPacket, PtrPacketMeta, PtrPacketEnd, PtrFlowKeys, PtrSock:
		return c.fail(pc, PointerMath, "BPF_ATOMIC stores into r%d %s are not allowed", r, ptr.Type)
	}
	return nil
}

func (c *checker) atomic(pc int, in bpf.Insn, info *bpf.OpInfo, st *State) error {
	f := st.cur()
	ptr, err := c.readReg(pc, f, in.Dst)
	if err != nil {
		return err
	}
	src, err := c.readReg(pc, f, in.Src)
	if err != nil {
		return err
	}
	if src.Type != ScalarValue && c.opts.Unprivileged {
		return c.fail(pc, PointerMath, "r%d leaks addr into mem (atomic operand must be a scalar)", in.Src)
	}
	if info.Atomic == bpf.AtomicCmpxchg {
		if f.Regs[bpf.R0].Type == NotInit {
			return c.fail(pc, Uninit, "r0 is read before it is written (cmpxchg compares r0)")
		}
		if f.Regs[bpf.R0].Type != ScalarValue && c.opts.Unprivileged {
			return c.fail(pc, PointerMath, "r0 leaks addr into mem")
		}
	}
	if err := c.atomicPtrOK(pc, in.Dst, ptr); err != nil {
		return err
	}
	if ptr.Type == PtrArena && info.Flags&bpf.FlagFetch != 0 &&
		(info.Atomic&^bpf.AtomicFetch == bpf.AtomicAnd || info.Atomic&^bpf.AtomicFetch == bpf.AtomicOr || info.Atomic&^bpf.AtomicFetch == bpf.AtomicXor) {
		// bpf_jit_supports_insn (x86-64): no fetch-and/or/xor on arena memory.
		return c.fail(pc, PointerMath, "BPF_ATOMIC stores into r%d arena are not allowed (fetch and/or/xor)", in.Dst)
	}
	if info.Flags&bpf.FlagFetch != 0 {
		load := in.Src
		if info.Atomic == bpf.AtomicCmpxchg {
			load = bpf.R0
		}
		if load == in.Dst {
			// check_atomic_rmw fills the fetch register before checking the
			// write, so the address register has become a scalar.
			return c.fail(pc, PointerMath, "r%d is both the address and the fetch destination of %s", in.Dst, info.Mnemonic)
		}
	}
	if err := c.insnPtr(pc, ptr.Type); err != nil {
		return err
	}
	a := access{reg: in.Dst, off: int32(in.Off), size: int32(info.Size), write: true, atom: true}
	if ptr.Type == PtrStack && !ptr.Null {
		lo, _, err := c.stackRange(pc, ptr, a)
		if err != nil {
			return err
		}
		if !ptr.V.IsConst() {
			return c.fail(pc, StackSafety, "variable-offset atomic stack access")
		}
		sf := st.Frames[ptr.Frame]
		old, err := c.stackRead(pc, sf, lo, a.size, in.Dst)
		if err != nil {
			return err
		}
		if old.Type != ScalarValue {
			return c.fail(pc, PointerMath, "atomic operation on a spilled pointer")
		}
		stackData(sf, lo, a.size, false)
	} else if _, err := c.checkMem(pc, st, ptr, a); err != nil {
		return err
	}
	if info.Flags&bpf.FlagFetch != 0 {
		dst := in.Src
		if info.Atomic == bpf.AtomicCmpxchg {
			dst = bpf.R0
		}
		f.Regs[dst] = scalarReg(Trunc(Unknown(), int(a.size)))
	}
	return nil
}

func (c *checker) ld(pc int, in bpf.Insn, info *bpf.OpInfo, st *State) error {
	f := st.cur()
	switch info.Kind {
	case bpf.KindLdAbs, bpf.KindLdInd:
		switch c.p.Type {
		case ebpf.SocketFilter, ebpf.SchedCLS, ebpf.SchedACT:
		default:
			return c.fail(pc, CtxAccess, "BPF_LD_[ABS|IND] instructions not allowed for program type %s", c.p.Type)
		}
		if r6 := f.Regs[bpf.R6]; r6.Type != PtrCtx || r6.Off != 0 {
			return c.fail(pc, CtxAccess, "BPF_LD_[ABS|IND] needs the ctx in r6")
		}
		if info.Kind == bpf.KindLdInd {
			if s, err := c.readReg(pc, f, in.Src); err != nil {
				return err
			} else if s.Type != ScalarValue && c.opts.Unprivileged {
				return c.fail(pc, PointerMath, "r%d: ld_ind offset must be a scalar", in.Src)
			}
		}
		if st.Lock {
			return c.fail(pc, RefLock, "BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region")
		}
		c.clobberCallerSaved(f)
		f.Regs[bpf.R0] = scalarReg(Trunc(Unknown(), int(info.Size)))
		return nil
	}
	ref, hasRef := c.p.Refs[pc]
	dst := &f.Regs[in.Dst]
	if hasRef && ref.Map != nil {
		// An object file's map loads carry src 0 until the loader sets the
		// pseudo source; the relocation says what they load.
		if ref.Value {
			if ref.Off < 0 || uint32(ref.Off) >= max(ref.Map.ValueSize, 1) {
				return c.fail(pc, MapBounds, "invalid access to map value pointer, value_size=%d off=%d", ref.Map.ValueSize, ref.Off)
			}
			*dst = Reg{Type: PtrMapValue, Map: ref.Map, Off: ref.Off, V: Const(0)}
		} else {
			*dst = Reg{Type: PtrMap, Map: ref.Map, V: Const(0)}
		}
		return nil
	}
	switch info.Pseudo {
	case bpf.PseudoNone:
		*dst = scalarReg(Const(in.Imm64()))
	case bpf.PseudoMapFD, bpf.PseudoMapIdx:
		if !hasRef || ref.Map == nil {
			return c.fail(pc, MapAccess, "ld_imm64 of a map that the object does not define")
		}
		*dst = Reg{Type: PtrMap, Map: ref.Map, V: Const(0)}
	case bpf.PseudoMapValue, bpf.PseudoMapIdxValue:
		if !hasRef || ref.Map == nil {
			return c.fail(pc, MapAccess, "ld_imm64 of a map value that the object does not define")
		}
		if ref.Off < 0 || uint32(ref.Off) >= max(ref.Map.ValueSize, 1) {
			return c.fail(pc, MapBounds, "invalid access to map value pointer, value_size=%d off=%d", ref.Map.ValueSize, ref.Off)
		}
		*dst = Reg{Type: PtrMapValue, Map: ref.Map, Off: ref.Off, V: Const(0)}
	case bpf.PseudoFunc:
		if !hasRef || ref.Target < 0 || c.p.funcStarting(ref.Target) < 0 {
			return c.fail(pc, Malformed, "ld_imm64 of a function address that is not a function start")
		}
		*dst = Reg{Type: PtrFunc, Func: ref.Target, V: Const(0)}
	default:
		return c.fail(pc, HelperUse, "ld_imm64 with pseudo source %d (ksym/BTF id) is not modeled", info.Pseudo)
	}
	return nil
}

func (c *checker) clobberCallerSaved(f *Frame) {
	for r := bpf.R1; r <= bpf.R5; r++ {
		f.Regs[r] = Reg{}
	}
}

// condJump handles conditional jumps: dead-branch elimination, bound
// refinement, packet range and null-check propagation.
func (c *checker) condJump(pc int, in bpf.Insn, info *bpf.OpInfo, st *State) (int, error) {
	f := st.cur()
	a, err := c.readReg(pc, f, in.Dst)
	if err != nil {
		return 0, err
	}
	b, err := c.operand(pc, in, info, f)
	if err != nil {
		return 0, err
	}
	k, w := info.Kind, int(info.Width)
	taken, fall := int(c.meta[pc].target), pc+1
	var tst, fst *State // nil: infeasible
	switch {
	case a.Type == ScalarValue && b.Type == ScalarValue:
		bt := branchTaken(k, a.V, b.V, w)
		if bt == 1 {
			// Always taken: refine the path's own state, nothing to fork.
			if !c.refineState(st, in, info, k, *a, *b) {
				return -1, nil
			}
			return taken, nil
		}
		if bt != 0 {
			tst = c.ar.clone(st)
			if !c.refineState(tst, in, info, k, *a, *b) {
				tst = nil
			}
		}
		if bt != 1 {
			fst = st
			if !c.refineState(fst, in, info, negate(k), *a, *b) {
				fst = nil
			}
		}
	case w == 64 && (k == bpf.KindJeq || k == bpf.KindJne) && (isNullConst(*b) && a.Type.IsPtr() || isNullConst(*a) && b.Type.IsPtr()):
		p := *a
		if a.Type == ScalarValue {
			p = *b
		}
		eq, ne := c.ar.clone(st), st
		if k == bpf.KindJne {
			tst, fst = ne, eq
		} else {
			tst, fst = eq, ne
		}
		if p.Null {
			markNull(eq, p, true)
			markNull(ne, p, false)
		} else if regNotNull(p) {
			// A non-NULL pointer never equals 0 (reg_not_null types only:
			// the kernel explores both branches for ctx, stack, packet...).
			if k == bpf.KindJeq {
				tst = nil
			} else {
				fst = nil
			}
		}
	default:
		tst, fst = c.ar.clone(st), st
		if w == 64 {
			c.pktCompare(k, *a, *b, tst, fst)
		}
	}
	switch {
	case tst != nil && fst != nil:
		if tst == st {
			tst = c.ar.clone(st) // st itself continues below as fst
		}
		c.fork(taken, tst)
		return c.continueWith(st, fst, fall), nil
	case tst != nil:
		return c.continueWith(st, tst, taken), nil
	case fst != nil:
		return c.continueWith(st, fst, fall), nil
	}
	// Both infeasible: the state itself is impossible; end the path.
	return -1, nil
}

func (c *checker) continueWith(st, next *State, pc int) int {
	if next != st {
		*st = *next
	}
	return pc
}

// regNotNull is reg_not_null: the pointer types known never to be NULL.
func regNotNull(r Reg) bool {
	switch r.Type {
	case PtrMapValue, PtrMem, PtrSock:
		return !r.Null
	}
	return false
}

func isNullConst(r Reg) bool { return r.Type == ScalarValue && r.V.IsConst() && r.V.T.Value == 0 }

// markNull resolves a null check on every copy of p (same ID).
func markNull(st *State, p Reg, isNull bool) {
	if p.ID == 0 {
		return
	}
	st.eachReg(func(r *Reg) {
		if r.Type == p.Type && r.Null && r.ID == p.ID {
			if isNull {
				*r = scalarReg(Const(0))
			} else {
				r.Null = false
			}
		}
	})
	if isNull && p.Ref != 0 {
		st.Refs = slices.DeleteFunc(st.Refs, func(x uint32) bool { return x == p.Ref })
	}
}

// refineState applies "a k b" to the registers of st; false if infeasible.
func (c *checker) refineState(st *State, in bpf.Insn, info *bpf.OpInfo, k bpf.Kind, a, b Reg) bool {
	w := int(info.Width)
	na, nb, ok := refine(k, a.V, b.V, w)
	if !ok {
		return false
	}
	f := st.cur()
	f.Regs[in.Dst].V = na
	if a.ID != 0 {
		st.setLinked(a.ID, &na)
	}
	if !info.ImmSrc {
		f.Regs[in.Src].V = nb
		if b.ID != 0 {
			st.setLinked(b.ID, &nb)
		}
	}
	return true
}

// pktCompare is find_good_pkt_pointers: a packet pointer compared with
// data_end (or data_meta with data) proves a range on one branch.
func (c *checker) pktCompare(k bpf.Kind, a, b Reg, tst, fst *State) {
	// Normalize to "pkt k end".
	pkt, end := a, b
	if !(isPktLike(a.Type) && endOf(a.Type) == b.Type) {
		if !(isPktLike(b.Type) && endOf(b.Type) == a.Type) {
			return
		}
		pkt, end, k = b, a, swapOperands(k)
	}
	_ = end
	var good *State
	switch k {
	case bpf.KindJgt, bpf.KindJge: // pkt > end: fall-through has pkt <= end
		good = fst
	case bpf.KindJlt, bpf.KindJle:
		good = tst
	default:
		return
	}
	if pkt.Off <= 0 || pkt.V.Umax > 0xffff || pkt.V.Umax+uint64(pkt.Off) > 0xffff {
		return
	}
	good.eachReg(func(r *Reg) {
		if r.Type == pkt.Type && r.ID == pkt.ID && r.Range < pkt.Off {
			r.Range = pkt.Off
		}
	})
}

func isPktLike(t Type) bool { return t == PtrPacket || t == PtrPacketMeta }

func endOf(t Type) Type {
	if t == PtrPacketMeta {
		return PtrPacket
	}
	return PtrPacketEnd
}

// exit returns from a subprogram or ends the program.
func (c *checker) exit(pc int, st *State) (int, error) {
	f := st.cur()
	r0 := &f.Regs[bpf.R0]
	if r0.Type == NotInit {
		return 0, c.fail(pc, Uninit, "r0 !read_ok: the return value is not set")
	}
	if len(st.Frames) > 1 {
		if f.Callback {
			if r0.Type != ScalarValue || r0.V.Smin < 0 || r0.V.Smax > 1 {
				return 0, c.fail(pc, ReturnValue, "callback must return 0 or 1, r0 is %s", r0)
			}
		} else if r0.Type == PtrStack && int(r0.Frame) == len(st.Frames)-1 {
			return 0, c.fail(pc, StackSafety, "cannot return stack pointer to the caller frame")
		}
		ret := *r0
		callsite := f.CallSite
		isCB, args := f.Callback, f.Args
		st.Frames = st.Frames[:len(st.Frames)-1]
		caller := st.cur()
		if isCB {
			// Another iteration may follow: verify the call again from the
			// state this one left behind, with the call's arguments.
			again := c.ar.clone(st)
			copy(again.cur().Regs[bpf.R1:bpf.R6], args[:])
			again.Loop++
			c.fork(callsite, again)
			st.Loop = 0
		}
		c.clobberCallerSaved(caller)
		if isCB {
			caller.Regs[bpf.R0] = unknownReg()
		} else {
			caller.Regs[bpf.R0] = ret
		}
		return callsite + 1, nil
	}
	if st.Lock {
		return 0, c.fail(pc, RefLock, "bpf_spin_unlock is missing before exit")
	}
	if len(st.Refs) > 0 {
		return 0, c.fail(pc, RefLock, "unreleased reference id=%d (ringbuf sample not submitted or discarded)", st.Refs[0])
	}
	if f.Func != 0 {
		if r0.Type != ScalarValue {
			return 0, c.fail(pc, ReturnValue, "at global subprogram exit r0 is not a scalar value (%s)", r0.Type)
		}
		return -1, nil
	}
	if r0.Type != ScalarValue && (c.pi.retCheck || c.opts.Unprivileged) {
		return 0, c.fail(pc, ReturnValue, "at program exit r0 is not a known value (%s)", r0.Type)
	}
	if c.pi.retCheck && (r0.V.Smin < c.pi.retLo || r0.V.Smax > c.pi.retHi) {
		return 0, c.fail(pc, ReturnValue, "at program exit r0 has %s, should have been in [%d, %d] for %s", r0.V, c.pi.retLo, c.pi.retHi, c.p.Type)
	}
	return -1, nil
}

func (c *checker) localCall(pc int, in bpf.Insn, st *State) (int, error) {
	ref, ok := c.p.Refs[pc]
	fi := -1
	if ok {
		fi = c.p.funcStarting(ref.Target)
	}
	if fi < 0 {
		return 0, c.fail(pc, Malformed, "call to an instruction that is not a function start")
	}
	if st.Lock {
		return 0, c.fail(pc, RefLock, "function calls are not allowed while holding a lock")
	}
	caller := st.cur()
	fn := c.p.Funcs[fi]
	if fn.Global {
		for k, prm := range fn.Params {
			if k >= 5 {
				break
			}
			r := bpf.R1 + bpf.Reg(k)
			arg, err := c.readReg(pc, caller, r)
			if err != nil {
				return 0, err
			}
			switch prm.Kind {
			case ParamScalar:
				if arg.Type != ScalarValue {
					return 0, c.fail(pc, HelperArg, "r%d: global function %s expects a scalar, got %s", r, fn.Name, arg.Type)
				}
			case ParamCtx:
				if arg.Type != PtrCtx || arg.Off != 0 {
					return 0, c.fail(pc, HelperArg, "r%d: global function %s expects ctx, got %s", r, fn.Name, arg.Type)
				}
			case ParamMem:
				if prm.Nullable && isNullConst(*arg) {
					continue
				}
				if err := c.memArg(pc, st, r, arg, int64(prm.Size), int64(prm.Size), false); err != nil {
					return 0, err
				}
			}
		}
		c.clobberCallerSaved(caller)
		caller.Regs[bpf.R0] = unknownReg()
		return pc + 1, nil
	}
	if len(st.Frames) >= maxCallDepth {
		return 0, c.fail(pc, StackSafety, "the call stack of %d frames is too deep", len(st.Frames)+1)
	}
	nf := c.ar.frames.get()
	*nf = Frame{CallSite: pc, Func: fi, ar: c.ar}
	for r := bpf.R1; r <= bpf.R5; r++ {
		nf.Regs[r] = caller.Regs[r]
	}
	nf.Regs[bpf.R10] = Reg{Type: PtrStack, Frame: uint8(len(st.Frames))}
	st.Frames = append(st.Frames, nf)
	return fn.Start, nil
}
