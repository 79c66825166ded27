package main

import (
	"github.com/k2opt/k2opt/check"
	"github.com/k2opt/k2opt/object"
)

// interpDiffers describes the first generated input on which entry
// program name of a and b differ in the interpreter (check.Reproduce:
// r0, a fault, the packet, the helper calls), "" when none does.
//
// The final gate runs it on every changed program: it does not depend on
// the proofs' preconditions (safety's summaries) and it models helper
// effects, such as bpf_fib_lookup writing the MACs, that the kernel's
// test runs seldom reach. A difference means a bug in a proof's
// assumptions; the program is written back unchanged.
func interpDiffers(a, b *object.File, name string, budget int) string {
	if cex := check.Reproduce(a, b, name, budget); cex != nil {
		return cex.Diff
	}
	return ""
}
