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
