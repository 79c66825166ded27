package safety

import (
	"slices"

	"github.com/cilium/ebpf"
	"github.com/k2opt/k2opt/bpf"
)

// memArg checks that reg points to [0, size) bytes the helper may read
// (initialized) or write; minSize is the smallest size the call may use.
func (c *checker) memArg(pc int, st *State, r bpf.Reg, arg *Reg, minSize, size int64, write bool) error {
	if size == 0 {
		return nil
	}
	switch arg.Type {
	case PtrStack:
		if arg.Null {
			break
		}
		lo := int64(arg.Off) + arg.V.Smin
		hi := int64(arg.Off) + arg.V.Smax + size
		if lo < -MaxStack || hi > 0 || arg.V.Smin < -maxVarOff {
			return c.fail(pc, StackSafety, "r%d: invalid indirect access to stack off=%d size=%d", r, lo, size)
		}
		sf := st.Frames[arg.Frame]
		if write {
			// The kernel simulates a helper's write as one-byte stores.
			if arg.V.IsConst() {
				for o := lo; o < hi; o++ {
					stackData(sf, o, 1, false)
				}
			} else {
				stackVarWrite(sf, lo, hi, false)
			}
			return nil
		}
		for o := lo; o < hi; o++ {
			s, b := byteAtR(sf, o)
			if s.B[b] == StackInvalid && c.opts.Unprivileged {
				return c.fail(pc, Uninit, "r%d: invalid indirect read from stack: byte fp%d (off %d+%d, size %d) is uninitialised", r, o, lo, o-lo, size)
			}
		}
		return nil
	case PtrMapValue, PtrMem, PtrPacket, PtrPacketMeta, PtrArena:
		a := access{reg: r, off: 0, size: int32(size), write: write}
		_, err := c.checkMem(pc, st, arg, a)
		return err
	case PtrCtx:
		return c.fail(pc, HelperArg, "r%d: ctx is not helper memory", r)
	}
	if arg.Type == NotInit {
		return c.fail(pc, Uninit, "r%d !read_ok", r)
	}
	if arg.Null {
		return c.fail(pc, NullDeref, "r%d: %s_or_null passed where memory is expected; null-check it first", r, arg.Type)
	}
	return c.fail(pc, HelperArg, "r%d type=%s expected=fp, pkt, map_value, mem", r, arg.Type)
}

func (c *checker) helperCall(pc int, in bpf.Insn, st *State) (int, error) {
	proto := helpers[in.Imm]
	if proto == nil {
		name := bpf.HelperName(in.Imm)
		if name == "" {
			return 0, c.fail(pc, HelperUse, "invalid func unknown#%d", in.Imm)
		}
		return 0, c.fail(pc, HelperUse, "helper %s (#%d) is not modeled; treated as not allowed", name, in.Imm)
	}
	if !proto.Progs.allows(c.p.Type) {
		return 0, c.fail(pc, HelperUse, "program of this type (%s) cannot call %s", c.p.Type, proto.Name)
	}
	if st.Lock && in.Imm != 94 {
		return 0, c.fail(pc, RefLock, "function calls are not allowed while holding a lock (%s)", proto.Name)
	}
	f := st.cur()
	var m *Map
	var allocSize int32
	var release uint32
	var callback *Reg
	var key Reg // the key of a map lookup when it is a known constant
	var cbCtx Reg
	for k, ak := range proto.Args {
		r := bpf.R1 + bpf.Reg(k)
		arg := &f.Regs[r]
		if arg.Type == NotInit {
			return 0, c.fail(pc, Uninit, "r%d !read_ok: argument %d of %s is not set", r, k+1, proto.Name)
		}
		switch ak {
		case ArgAnything:
		case ArgScalar, ArgSize, ArgSizeOrZero, ArgAllocSize:
			if arg.Type != ScalarValue {
				return 0, c.fail(pc, HelperArg, "r%d type=%s expected=scalar (argument %d of %s)", r, arg.Type, k+1, proto.Name)
			}
		case ArgMapPtr:
			if arg.Type != PtrMap {
				return 0, c.fail(pc, HelperArg, "r%d type=%s expected=map_ptr (argument %d of %s)", r, arg.Type, k+1, proto.Name)
			}
			m = arg.Map
			allowed := proto.Maps
			if allowed == nil {
				allowed = lookupMaps
			}
			if !slices.Contains(allowed, m.Type) {
				return 0, c.fail(pc, MapAccess, "cannot pass map_type %s (%s) into func %s", m.Type, m.Name, proto.Name)
			}
		case ArgMapKey, ArgMapValue:
			size := int64(m.KeySize)
			if ak == ArgMapValue {
				size = int64(m.ValueSize)
			}
			if err := c.memArg(pc, st, r, arg, size, size, false); err != nil {
				return 0, err
			}
			if ak == ArgMapKey && arg.Type == PtrStack && arg.V.IsConst() && !c.opts.Unprivileged {
				lo := int64(arg.Off) + int64(arg.V.T.Value)
				if v, ok := constStackKey(st.Frames[arg.Frame], lo, size); ok {
					key = scalarReg(Const(v))
				}
			}
		case ArgMem, ArgMemOrNull, ArgUninitMem, ArgMemRW:
			if ak == ArgMemOrNull && isNullConst(*arg) {
				break
			}
			sz := &f.Regs[r+1]
			if sz.Type != ScalarValue {
				return 0, c.fail(pc, HelperArg, "r%d: size argument of %s must be a scalar", r+1, proto.Name)
			}
			orZero := proto.Args[k+1] == ArgSizeOrZero
			if sz.V.Smin < 0 {
				return 0, c.fail(pc, HelperArg, "r%d min value is negative (size of argument %d of %s)", r+1, k+1, proto.Name)
			}
			if sz.V.Umax == 0 && !orZero {
				return 0, c.fail(pc, HelperArg, "r%d invalid zero-sized read (argument %d of %s)", r+1, k+1, proto.Name)
			}
			if sz.V.Umax >= maxVarOff {
				return 0, c.fail(pc, HelperArg, "r%d unbounded memory access, make sure to bounds check the size of argument %d of %s", r+1, k+1, proto.Name)
			}
			if err := c.memArg(pc, st, r, arg, int64(sz.V.Umin), int64(sz.V.Umax), ak == ArgUninitMem); err != nil {
				return 0, err
			}
			if ak == ArgMemRW {
				// read first (it must be initialized), then written: what
				// the stack held there (spilled constants, pointers) is
				// gone after the call (bpf_fib_lookup fills in the MACs)
				if err := c.memArg(pc, st, r, arg, int64(sz.V.Umin), int64(sz.V.Umax), true); err != nil {
					return 0, err
				}
			}
		case ArgCtx:
			if arg.Type != PtrCtx || arg.Off != 0 || !arg.V.IsConst() || arg.V.T.Value != 0 {
				return 0, c.fail(pc, HelperArg, "r%d type=%s expected=ctx (argument %d of %s)", r, arg.Type, k+1, proto.Name)
			}
		case ArgCallback:
			if arg.Type != PtrFunc {
				return 0, c.fail(pc, HelperArg, "r%d type=%s expected=func (argument %d of %s)", r, arg.Type, k+1, proto.Name)
			}
			callback = arg
		case ArgCallbackCtx:
			if !(arg.Type == PtrStack && !arg.Null) && !isNullConst(*arg) {
				return 0, c.fail(pc, HelperArg, "r%d type=%s expected=fp or NULL (argument %d of %s)", r, arg.Type, k+1, proto.Name)
			}
			cbCtx = *arg
		case ArgRingbufMem:
			if arg.Type != PtrMem || arg.Ref == 0 || arg.Null {
				return 0, c.fail(pc, HelperArg, "r%d type=%s expected=ringbuf_mem (argument %d of %s)", r, arg.Type, k+1, proto.Name)
			}
			if arg.Off != 0 || !arg.V.IsConst() || arg.V.T.Value != 0 {
				return 0, c.fail(pc, HelperArg, "r%d must have zero offset when passed to release func %s", r, proto.Name)
			}
			release = arg.Ref
		case ArgSpinLock:
			if arg.Type != PtrMapValue || arg.Null || arg.Map.SpinLockOff < 0 || !arg.V.IsConst() ||
				int64(arg.Off)+int64(arg.V.T.Value) != int64(arg.Map.SpinLockOff) {
				return 0, c.fail(pc, HelperArg, "r%d: %s needs a pointer to the bpf_spin_lock of a map value", r, proto.Name)
			}
		}
		if ak == ArgAllocSize {
			if !arg.V.IsConst() {
				return 0, c.fail(pc, HelperArg, "r%d is not a known constant (size of %s)", r, proto.Name)
			}
			allocSize = int32(arg.V.T.Value)
		}
	}
	switch in.Imm {
	case 93:
		if st.Lock {
			return 0, c.fail(pc, RefLock, "bpf_spin_lock is already held; locks cannot nest")
		}
		st.Lock = true
	case 94:
		if !st.Lock {
			return 0, c.fail(pc, RefLock, "bpf_spin_unlock without taking a lock")
		}
		st.Lock = false
	}
	if release != 0 {
		st.Refs = slices.DeleteFunc(st.Refs, func(x uint32) bool { return x == release })
		st.eachReg(func(r *Reg) {
			if r.Ref == release {
				*r = unknownReg()
			}
		})
	}
	if proto.PktChange {
		st.eachReg(func(r *Reg) {
			if r.Type == PtrPacket || r.Type == PtrPacketMeta || r.Type == PtrPacketEnd {
				*r = unknownReg()
			}
		})
	}
	if callback != nil {
		// bpf_loop: run the callback as a frame of its own; its exit queues
		// further iterations (see exit).
		fi := c.p.funcStarting(callback.Func)
		if fi < 0 {
			return 0, c.fail(pc, Malformed, "callback is not a function start")
		}
		if len(st.Frames) >= maxCallDepth {
			return 0, c.fail(pc, StackSafety, "the call stack of %d frames is too deep", len(st.Frames)+1)
		}
		nf := c.ar.frames.get()
		*nf = Frame{CallSite: pc, Func: fi, Callback: true, Args: new([5]Reg), ar: c.ar}
		copy(nf.Args[:], f.Regs[bpf.R1:bpf.R6])
		nf.Regs[bpf.R1] = scalarReg(URange(0, 1<<23))
		nf.Regs[bpf.R2] = cbCtx
		nf.Regs[bpf.R10] = Reg{Type: PtrStack, Frame: uint8(len(st.Frames))}
		st.Frames = append(st.Frames, nf)
		// The loop may also run zero times.
		zero := c.ar.clone(st)
		zero.Frames = zero.Frames[:len(zero.Frames)-1]
		zf := zero.cur()
		c.clobberCallerSaved(zf)
		zf.Regs[bpf.R0] = unknownReg()
		c.fork(pc+1, zero)
		return c.p.Funcs[fi].Start, nil
	}
	c.clobberCallerSaved(f)
	switch proto.Ret {
	case RetInteger:
		f.Regs[bpf.R0] = unknownReg()
	case RetVoid:
		f.Regs[bpf.R0] = Reg{} // the kernel leaves r0 NOT_INIT
	case RetMapValueOrNull:
		f.Regs[bpf.R0] = Reg{Type: PtrMapValue, Map: m, Null: !constArrayKey(m, key), ID: c.newID(), V: Const(0)}
	case RetMemOrNull:
		ref := c.newID()
		st.Refs = append(st.Refs, ref)
		f.Regs[bpf.R0] = Reg{Type: PtrMem, Size: allocSize, Null: true, ID: c.newID(), Ref: ref, V: Const(0)}
	}
	return pc + 1, nil
}

func (c *checker) kfuncCall(pc int, st *State) error {
	ref := c.p.Refs[pc]
	kf, ok := kfuncs[ref.Kfunc]
	if !ok {
		return c.fail(pc, HelperUse, "kfunc %q is not modeled; treated as not allowed", ref.Kfunc)
	}
	if st.Lock {
		return c.fail(pc, RefLock, "function calls are not allowed while holding a lock")
	}
	f := st.cur()
	for k, ak := range kf.args {
		r := bpf.R1 + bpf.Reg(k)
		arg := &f.Regs[r]
		if arg.Type == NotInit {
			return c.fail(pc, Uninit, "r%d !read_ok: argument %d of %s is not set", r, k+1, ref.Kfunc)
		}
		switch ak {
		case ArgScalar:
			if arg.Type != ScalarValue {
				return c.fail(pc, HelperArg, "r%d type=%s expected=scalar (argument %d of %s)", r, arg.Type, k+1, ref.Kfunc)
			}
		case ArgMapPtr:
			if arg.Type != PtrMap || !slices.Contains(kf.maps, arg.Map.Type) {
				return c.fail(pc, HelperArg, "r%d: %s needs a map of type %v", r, ref.Kfunc, kf.maps)
			}
		}
	}
	c.clobberCallerSaved(f)
	switch kf.ret {
	case NotInit: // void
		f.Regs[bpf.R0] = Reg{}
	case PtrArena:
		f.Regs[bpf.R0] = Reg{Type: PtrArena, V: Unknown()}
	default:
		f.Regs[bpf.R0] = unknownReg()
	}
	return nil
}

var _ = ebpf.Array

// constArrayKey: a lookup in an array map with a constant in-range key
// cannot fail, and the kernel (6.14+) returns a non-NULL map value.
func constArrayKey(m *Map, key Reg) bool {
	if m == nil || (m.Type != ebpf.Array && m.Type != ebpf.PerCPUArray) {
		return false
	}
	return key.Type == ScalarValue && key.V.IsConst() && key.V.T.Value < uint64(m.MaxEntries)
}
