package equiv

import (
	"math"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
)

// PreFromSafety turns safety's abstract state before a window (a
// Result.Before entry) into window preconditions for the live-in
// registers. Pointers the encoder does not model (sockets, mixed types,
// map values of joined states, ...) become opaque values (pre_ptr.go);
// ok is false when a live-in cannot be stated at all.
func PreFromSafety(s *safety.Summary, liveIn bpf.RegSet) (pre [bpf.NumRegs]RegPre, ok bool) {
	if s == nil {
		return pre, false
	}
	for _, r := range liveIn.Regs() {
		if r == bpf.R10 {
			continue
		}
		g := s.Regs[r]
		if p, handled, ok := preFromSafetyExt(s, &g); handled {
			if !ok {
				return pre, false
			}
			pre[r] = p
			continue
		}
		switch g.Type {
		case safety.ScalarValue:
			v := g.V
			p := RegPre{Kind: smt.Scalar, Known: ^v.T.Mask, Value: v.T.Value, Umin: v.Umin}
			if v.Umax != math.MaxUint64 {
				p.Umax = v.Umax
			}
			pre[r] = p
		case safety.PtrStack, safety.PtrCtx, safety.PtrPacket, safety.PtrFlowKeys:
			if !g.V.IsConst() || g.V.T.Value != 0 || g.Null {
				return pre, false
			}
			p := RegPre{Off: int64(g.Off)}
			switch g.Type {
			case safety.PtrStack:
				if g.Frame != 0 {
					return pre, false
				}
				p.Kind = smt.PtrStack
			case safety.PtrCtx:
				p.Kind = smt.PtrCtx
			case safety.PtrFlowKeys:
				p.Kind = smt.PtrAux
			case safety.PtrPacket:
				p.Kind = smt.PtrPacket
				// may be negative: only data+Range is known to be in
				// the packet, not the pointer itself
				p.Range = int64(g.Range) - int64(g.Off)
			}
			pre[r] = p
		default:
			return pre, false
		}
	}
	return pre, true
}

// PreForWindow is the precondition of window A -> B entered in state s:
// PreFromSafety for the live-ins either side reads and, when their types
// can be stated, those one side writes and the other may pass through
// ("w0 = 2" dropped where r0 is already 2). A live-in neither side
// touches merely passes through: any value is sound for it (B cannot
// recreate an unknown value without reading it). A register
// uninitialised on entry (liveness over-approximates, e.g. by helper
// arity) may hold any value, which is sound too: a side that depends on
// it differs on some value, and the static check rejects uninitialised
// reads anyway. It returns the live-ins it needed when it fails.
func PreForWindow(s *safety.Summary, liveIn bpf.RegSet, a, b []bpf.Insn) (pre [bpf.NumRegs]RegPre, need bpf.RegSet, ok bool) {
	if s == nil {
		return pre, 0, false
	}
	var read, wrote bpf.RegSet
	for _, side := range [][]bpf.Insn{a, b} {
		for _, in := range side {
			read |= in.Reads()
			wrote |= in.Writes()
		}
	}
	entry := *s
	for r := range entry.Regs {
		if entry.Regs[r].Type == safety.NotInit {
			entry.Regs[r] = safety.Reg{Type: safety.ScalarValue, V: safety.Unknown()}
		}
	}
	if pre, ok := PreFromSafety(&entry, liveIn&(read|wrote)); ok {
		return pre, liveIn & (read | wrote), true
	}
	pre, ok = PreFromSafety(&entry, liveIn&read)
	return pre, liveIn & read, ok
}
