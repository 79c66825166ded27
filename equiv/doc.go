// Package equiv proves rewrites equivalent: window equivalence (two
// instruction sequences with live-in preconditions and live-out registers
// and memory, possibly spanning branches of a loop-free region) and
// whole-program equivalence of loop-free programs, on top of smt's BPF
// encoding. Every NotEqual verdict carries a counterexample that was
// replayed in interp and reproduced there; a counterexample that does not
// reproduce makes the verdict Unknown (and is a bug: tests assert it never
// happens on their samples). A proof cache keyed by a canonical form of the
// query (NOPs and dead writes removed, registers renamed) answers repeated
// queries with a map lookup.
//
// Soundness notes: equivalence means "for every input satisfying the
// precondition on which A does not fault, B does not fault and agrees on
// the exit taken, r0 at an exit instruction or the registers live at the
// window exit taken, and all memory either side wrote (stack bytes unless
// dead at that exit, packet, context, a flow dissector's flow keys, map
// values) and the sequence of effectful helper calls". A window may have
// several exits (jumps past its end): Window.Exits says per exit what is
// live (registers, stack bytes); an exit it does not describe compares
// everything. Unknown covers
// timeouts, unsupported instructions (loops, bpf-to-bpf calls, ld_abs,
// kfuncs, helpers with memory effects, lookups in LPM tries) and map
// lookups after an update of the same map.
//
// A Checker owns one Z3 context and solver: one per goroutine. The Cache is
// shared safely.
package equiv
