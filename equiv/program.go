package equiv

import (
	"context"
	"fmt"
	"slices"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/smt"
)

// Programs checks whole-program equivalence of two loop-free programs of
// one type: from r1 = ctx and an uninitialised stack, on every input on
// which A does not fault, B does not fault and both return the same r0,
// leave the same packet, context and map contents, and make the same
// helper calls. B's maps are matched to A's by name. Identical programs
// are Equal without a solver call; loops, bpf-to-bpf calls and helpers
// with effects the encoder does not model give Unknown.
func (c *Checker) Programs(ctx context.Context, a, b *interp.Program) (Result, error) {
	if a.Type != b.Type {
		return Result{}, fmt.Errorf("programs %s and %s have different types (%s, %s)", a.Name, b.Name, a.Type, b.Type)
	}
	bi, err := remapMaps(a, b)
	if err != nil {
		return Result{}, err
	}
	if slices.Equal(a.Insns, bi) {
		return Result{Verdict: Equal}, nil
	}
	sc := c.ctx.Scope()
	defer sc.Release()
	cfg := &smt.Config{Ctx: CtxLayout(a.Type), Maps: mapInfos(a.Maps)}
	enc := smt.NewEncoder(c.ctx, cfg)
	q := &query{enc: enc, typ: a.Type, maps: a.Maps, a: a.Insns, b: bi}
	for r := bpf.R0; r < bpf.R10; r++ {
		q.regIn[r] = enc.Uninit()
	}
	q.regIn[bpf.R1] = enc.ConstPtr(smt.PtrCtx, 0)
	q.regIn[bpf.R10] = enc.ConstPtr(smt.PtrStack, 0)
	c.Checks++
	return c.solve(ctx, q)
}

// remapMaps rewrites B's map references to A's map indices (by name).
func remapMaps(a, b *interp.Program) ([]bpf.Insn, error) {
	idx := map[string]int{}
	for i, m := range a.Maps {
		idx[m.Name] = i
	}
	out := slices.Clone(b.Insns)
	for k, x := range out {
		if !x.IsLdImm64() || x.Info().Pseudo == bpf.PseudoNone || x.Info().Pseudo == bpf.PseudoFunc ||
			x.Info().Pseudo == bpf.PseudoBTFID {
			continue
		}
		if int(x.Imm) < 0 || int(x.Imm) >= len(b.Maps) {
			return nil, fmt.Errorf("program %s: insn %d: map index %d out of range", b.Name, k, x.Imm)
		}
		m := b.Maps[x.Imm]
		ai, ok := idx[m.Name]
		if !ok {
			return nil, fmt.Errorf("program %s: insn %d: map %s is not used by the other program", b.Name, k, m.Name)
		}
		am := a.Maps[ai]
		if am.Type != m.Type || am.KeySize != m.KeySize || am.ValueSize != m.ValueSize || am.MaxEntries != m.MaxEntries {
			return nil, fmt.Errorf("program %s: map %s differs between the two objects", b.Name, m.Name)
		}
		out[k].Imm = int32(ai)
	}
	return out, nil
}
