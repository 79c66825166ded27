// Package cost owns k2opt's cost functions: the size of a program in
// instruction slots, a static latency model (per-op cycles, memory and
// helper costs, weighted by how often each instruction runs on the test
// inputs), the error term of the search (K2's popcount-of-xor or |diff| over
// compared outputs plus a per-failing-test charge) and the objective weights
// chosen by --objective size|latency|complexity.
//
// The search (package synth) evaluates millions of candidates per second,
// so every function here is allocation-free except Frequencies, which runs
// once per program.
//
// Invariants: Slots counts an ld_imm64 as two; a NOP (Nop, i.e. "goto +0",
// which the final program deletes) costs nothing in every model.
//
// Not modelled: caches, branch misprediction, JIT peculiarities (the kernel
// measures whole programs; see package bench); helper latencies are coarse
// classes, not per-helper measurements. The complexity objective's
// verifier-processed count comes from package safety (and the kernel
// verifier) at program level only: inside a window the search uses size as
// its proxy.
package cost
