package safety

import (
	"fmt"
	"strings"

	"github.com/k2opt/k2opt/bpf"
)

// Type is a register's type, after the Linux verifier's bpf_reg_type.
type Type uint8

// Register types. A pointer type with Reg.Null set is its _or_null variant.
const (
	NotInit       Type = iota
	ScalarValue        // a number; Reg.V holds its bounds
	PtrCtx             // the program's context
	PtrMap             // CONST_PTR_TO_MAP (Reg.Map)
	PtrMapValue        // a map value of Reg.Map (or a global-data section)
	PtrStack           // a stack slot of frame Reg.Frame
	PtrPacketMeta      // xdp data_meta / skb data_meta
	PtrPacket          // packet data; Reg.Range bytes past the id's base are checked
	PtrPacketEnd       // data_end
	PtrFlowKeys        // __sk_buff->flow_keys in flow dissector programs
	PtrSock            // __sk_buff->sk, bpf_sock_addr->sk (sock_common fields)
	PtrMem             // sized memory (ringbuf sample, global function argument)
	PtrArena           // BPF arena memory: faults are handled at run time
	PtrFunc            // address of a subprogram (callback)
	Mixed              // only in joined per-insn summaries: types differ by path
)

var typeNames = [...]string{"not_init", "scalar", "ctx", "map_ptr", "map_value", "fp", "pkt_meta", "pkt",
	"pkt_end", "flow_keys", "sock_common", "mem", "arena", "func", "mixed"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// IsPtr reports whether t is a pointer type.
func (t Type) IsPtr() bool { return t >= PtrCtx && t <= PtrFunc }

// Reg is the abstract value of one register or spilled stack slot.
type Reg struct {
	Type Type
	Null bool   // may be NULL (map_value_or_null, mem_or_null, ...)
	Off  int32  // a pointer's fixed offset
	V    Scalar // a scalar's value, or a pointer's variable offset
	// ID links copies: a null check or a packet bound learned on one copy
	// applies to all; scalars with one ID share branch refinements.
	ID    uint32
	Range int32 // PtrPacket: bytes known to be in the packet past the id's base
	Map   *Map  // PtrMap, PtrMapValue
	Size  int32 // PtrMem: bytes of memory
	Ref   uint32
	Frame uint8 // PtrStack: the frame whose stack it points into
	Func  int   // PtrFunc: target instruction index
}

func scalarReg(v Scalar) Reg { return Reg{Type: ScalarValue, V: v} }

func unknownReg() Reg { return scalarReg(Unknown()) }

func (r Reg) String() string {
	switch r.Type {
	case NotInit:
		return "?"
	case ScalarValue:
		return r.V.String()
	}
	var b strings.Builder
	b.WriteString(r.Type.String())
	if r.Null {
		b.WriteString("_or_null")
	}
	b.WriteByte('(')
	sep := ""
	if r.Map != nil {
		fmt.Fprintf(&b, "map=%s", r.Map.Name)
		sep = ","
	}
	if r.Off != 0 {
		fmt.Fprintf(&b, "%soff=%d", sep, r.Off)
		sep = ","
	}
	if !r.V.IsConst() || r.V.T.Value != 0 {
		fmt.Fprintf(&b, "%svar=%s", sep, r.V)
		sep = ","
	}
	if r.Type == PtrPacket || r.Type == PtrPacketMeta {
		fmt.Fprintf(&b, "%sr=%d", sep, r.Range)
	}
	if r.Type == PtrMem {
		fmt.Fprintf(&b, "%ssz=%d", sep, r.Size)
	}
	b.WriteByte(')')
	return b.String()
}

// Byte states of a stack slot byte.
type StackByte uint8

// Stack byte states (STACK_INVALID, STACK_MISC, STACK_ZERO, STACK_SPILL).
const (
	StackInvalid StackByte = iota
	StackMisc
	StackZero
	StackSpill
)

// Slot is one 8-byte stack slot. When its bytes are StackSpill, Spill is
// the register stored there by an aligned 8-byte store.
type Slot struct {
	B     [8]StackByte
	Spill Reg
}

// MaxStack is the BPF stack size per frame.
const MaxStack = 512

// Frame is one call frame: registers and the frame's stack. Stack[i]
// covers the bytes [fp-8*(i+1), fp-8*i).
type Frame struct {
	Regs     [bpf.NumRegs]Reg
	Stack    []Slot
	CallSite int // caller's call instruction, -1 for the outermost frame
	Func     int // index into Program.Funcs
	// Callback: this frame runs a bpf_loop callback; Iter counts runs.
	Callback bool
	// shared: Stack's backing array is shared with a clone and must be
	// copied before it is written (copy-on-write).
	shared bool
	Args   *[5]Reg // callback frames: the caller's r1-r5 at the call, to run it again (immutable)
	ar     *arena  // where stack copies come from (nil: the heap)
}

// ownStack makes the frame's stack private before a write.
func (f *Frame) ownStack() {
	if f.shared {
		f.Stack = f.ar.stackCopy(f.Stack, len(f.Stack))
		f.shared = false
	}
}

// maxSlotChunks bounds the stack slab (chunks of 64, 128, ... 16384
// slots: 8 chunks are ~16k slots, ~2 MB).
const maxSlotChunks = 8

// stackCopy returns a private copy of old with room for n slots (n >=
// len(old)); new slots are zero (uninitialised).
func (a *arena) stackCopy(old []Slot, n int) []Slot {
	c := (max(n, len(old)+1, 4) + 3) &^ 3
	var ns []Slot
	if a == nil || len(a.slots.chunks) >= maxSlotChunks {
		// Replaced stacks are garbage the slab only reclaims when Verify
		// returns; past a few MB (a path exploring ~1M instructions) the
		// heap, whose collector frees them, takes over.
		ns = make([]Slot, c)
	} else {
		ns = a.slots.getN(c)
	}
	copy(ns, old)
	clear(ns[len(old):n])
	return ns[:n]
}

// State is the verifier state of one path.
type State struct {
	Frames  []*Frame
	Refs    []uint32 // acquired references not yet released
	Lock    bool     // a bpf_spin_lock is held
	MayGoto int      // may_goto depth
	Loop    int      // bounded-loop iterations of the current callback frame
}

// clone copies s; registers are copied, stacks are shared copy-on-write.
// Memory comes from the checker's arena.
func (a *arena) clone(s *State) *State {
	n := a.states.get()
	*n = State{Frames: a.framePtrs(len(s.Frames)), Lock: s.Lock, MayGoto: s.MayGoto, Loop: s.Loop}
	if len(s.Refs) > 0 {
		n.Refs = append([]uint32(nil), s.Refs...)
	}
	for i, f := range s.Frames {
		nf := a.frames.get()
		*nf = *f
		if len(f.Stack) > 0 {
			f.shared, nf.shared = true, true
		}
		n.Frames[i] = nf
	}
	return n
}

func (s *State) cur() *Frame { return s.Frames[len(s.Frames)-1] }

// slot returns stack slot i of frame f for writing, growing the stack as
// needed.
func (f *Frame) slot(i int) *Slot {
	if i >= len(f.Stack) {
		if i < cap(f.Stack) && !f.shared {
			n := len(f.Stack)
			f.Stack = f.Stack[:i+1]
			clear(f.Stack[n:])
		} else {
			f.Stack = f.ar.stackCopy(f.Stack, i+1)
			f.shared = false
		}
	}
	f.ownStack()
	return &f.Stack[i]
}

// noSlot is what reads see beyond a frame's stack: uninitialised bytes.
var noSlot Slot

// slotR returns stack slot i of frame f for reading only: nothing is
// copied or grown.
func (f *Frame) slotR(i int) *Slot {
	if i >= len(f.Stack) {
		return &noSlot
	}
	return &f.Stack[i]
}

// eachReg calls fn for every register and spilled register of the state.
// A shared stack is copied only when fn changes one of its spills.
func (s *State) eachReg(fn func(r *Reg)) {
	for _, f := range s.Frames {
		for i := range f.Regs {
			fn(&f.Regs[i])
		}
		for i := range f.Stack {
			if f.Stack[i].B[0] != StackSpill {
				continue
			}
			if !f.shared {
				fn(&f.Stack[i].Spill)
				continue
			}
			// fn runs on the shared slot (nothing else runs meanwhile);
			// a change is moved into a private copy.
			old := f.Stack[i].Spill
			fn(&f.Stack[i].Spill)
			if nv := f.Stack[i].Spill; nv != old {
				f.Stack[i].Spill = old
				f.ownStack()
				f.Stack[i].Spill = nv
			}
		}
	}
}

// setLinked gives every scalar with the given ID (copies of one value,
// in registers or spilled) the value v: what a branch learned about one
// copy holds for all. A shared stack is copied only when a spill changes.
func (s *State) setLinked(id uint32, v *Scalar) {
	for _, f := range s.Frames {
		for i := range f.Regs {
			if r := &f.Regs[i]; r.Type == ScalarValue && r.ID == id {
				r.V = *v
			}
		}
		for i := range f.Stack {
			sl := &f.Stack[i]
			if sl.B[0] != StackSpill || sl.Spill.Type != ScalarValue || sl.Spill.ID != id || sl.Spill.V == *v {
				continue
			}
			f.ownStack()
			f.Stack[i].Spill.V = *v
		}
	}
}

// String formats the innermost frame's initialized registers.
func (s *State) String() string {
	var b strings.Builder
	f := s.cur()
	for r, reg := range f.Regs {
		if reg.Type != NotInit && r != 10 {
			fmt.Fprintf(&b, " r%d=%s", r, reg.String())
			if reg.ID != 0 {
				fmt.Fprintf(&b, "#%d", reg.ID)
			}
		}
	}
	for i, sl := range f.Stack {
		if sl.B[0] == StackSpill {
			fmt.Fprintf(&b, " fp%d=%s", -8*(i+1), sl.Spill.String())
		}
	}
	return strings.TrimSpace(b.String())
}
