package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
)

// interpDiffers runs entry program name of a and b in the interpreter on
// generated inputs (a coverage search over a's branches, then random
// ones) and describes the first input on which they differ: r0, a
// fault, the packet, or the helper calls made (arguments and the memory
// they read). "" when none differs or the interpreter cannot run a.
//
// The final gate runs it on every changed program: it does not depend on
// the proofs' preconditions (safety's summaries) and it models helper
// effects, such as bpf_fib_lookup writing the MACs, that the kernel's
// test runs seldom reach. A difference means a bug in a proof's
// assumptions; the program is written back unchanged.
func interpDiffers(a, b *object.File, name string, budget int) string {
	if a.Spec == nil || b.Spec == nil {
		return ""
	}
	pa, err := interp.FromSpec(a.Spec, name)
	if err != nil {
		return ""
	}
	pb, err := interp.FromSpec(b.Spec, name)
	if err != nil {
		return "the optimised program does not load in the interpreter: " + err.Error()
	}
	rng := rand.New(rand.NewPCG(7, 8))
	inputs, _, _ := interp.GenCoverage(pa, rng, budget)
	inputs = append(inputs, interp.GenInputs(pa, rng, budget/2)...)
	ma, mb := interp.NewMachine(pa, nil), interp.NewMachine(pb, nil)
	for i, x := range inputs {
		oa := ma.Run(x)
		if !oa.Fault.Ok() {
			continue
		}
		r0, pkt, calls := oa.R0, bytes.Clone(oa.Packet), slices.Clone(oa.Calls)
		ob := mb.Run(x)
		switch {
		case !ob.Fault.Ok():
			return fmt.Sprintf("generated input %d: the optimised program faults: %v", i, ob.Fault)
		case ob.R0 != r0:
			return fmt.Sprintf("generated input %d: r0 %#x, optimised %#x", i, r0, ob.R0)
		case !bytes.Equal(ob.Packet, pkt):
			return fmt.Sprintf("generated input %d: the packets differ", i)
		case !slices.EqualFunc(calls, ob.Calls, func(p, q interp.Call) bool {
			return p.Helper == q.Helper && p.Args == q.Args && bytes.Equal(p.Data, q.Data)
		}):
			return fmt.Sprintf("generated input %d: the helper calls differ", i)
		}
	}
	return ""
}
