// Package cost owns k2opt's cost functions: the size of a program in
// instruction slots, a static latency model (per-op cycles, memory and
// helper costs, weighted by how often each instruction runs on the test
// inputs), the error term of the search (K2's popcount-of-xor or |diff| over
// compared outputs plus a per-failing-test charge) and the objective weights
// chosen by --objective size|latency|complexity.
//
// The search (package synth) evaluates millions of candidates per second,
// so every function it calls per candidate is allocation-free; Frequencies
// runs once per program, and the table functions (table.go) once per
// process.
//
// Invariants: Slots counts an ld_imm64 as two; a NOP (Nop, i.e. "goto +0",
// which the final program deletes) costs nothing in every model.
//
// # The latency table
//
// Per-op costs come from a table fitted on the running kernel by
// `k2opt calibrate` (package cost/calibrate, docs/calibrate.md) and checked
// in as calibrated.json, which the package embeds: ns per executed
// instruction of each Feature (ALU 64/32, shifts, mul, div, mod, sdiv,
// smod, movsx, byte swaps, ld_imm64, loads and stores per region,
// atomics, jumps taken/not taken, helper calls). OpCycles is an op's
// feature cost (the mean over a load's regions and a jump's two
// directions) times the calibration machine's clock, so the unit stays
// cycles; at least MinCycles, so deleting any instruction pays. Ops the
// calibration cannot measure (exit, ja, bpf-to-bpf calls, ld_abs/ld_ind,
// may_goto) keep the legacy hand-written estimate scaled by the fitted
// 64-bit ALU cost. LoadTable/ParseTable read another table and UseTable
// installs it (before a search starts: the table is read without locks).
//
// Not modelled: caches, branch misprediction, JIT peculiarities (the kernel
// measures whole programs; see package bench); helper latencies are one
// measured cheap helper, not per-helper measurements. The complexity objective's
// verifier-processed count comes from package safety (and the kernel
// verifier) at program level only: inside a window the search uses size as
// its proxy.
package cost
