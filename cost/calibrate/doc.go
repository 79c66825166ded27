// Package calibrate fits the latency model of package cost on the running
// kernel (k2opt calibrate).
//
// It generates straight-line XDP programs (Generate) whose bodies run a
// known number of instructions of each cost.Feature in random mixes and
// random order, loads them through the real verifier (Load), times them
// with BPF_PROG_TEST_RUN (Measure: several trials, shuffled order, the
// median per program) and fits ns per executed instruction of each feature
// by ordinary least squares with an intercept for the runner's fixed cost
// (FitLS, gonum QR), with k-fold cross-validated predictions to report
// fitted-vs-measured error honestly. Result.Table is what cost.ParseTable
// reads; cost embeds the checked-in one (cost/calibrated.json).
//
// The programs: r6 holds ctx, r9 the bounds-checked 256-byte packet, r7 a
// packet word the verifier cannot know (the comparand of every conditional
// jump, chosen so the generator knows each direction), r0-r5 and r8 the
// working registers, read and written in random dependency patterns
// (moderate instruction-level parallelism, like compiled code), so the
// JIT, which does not optimise anyway, has nothing to elide; the epilogue
// stores r0 and r8 to the packet. A conditional jump skips a one-instruction
// ALU filler when taken, so counts are of executed instructions.
//
// Invariants: every generated program is accepted by the 6.18 verifier and
// returns XDP_PASS on its packet; Bench.Counts equals the per-feature count
// of the instructions the body executes (checked against the interpreter).
//
// Not measured (the cost model falls back to the legacy estimates scaled by
// the fitted 64-bit ALU cost): ja, exit, bpf-to-bpf calls, ld_abs/ld_ind,
// may_goto, kfuncs (priced as helper calls), per-helper costs (one cheap
// helper, bpf_get_prandom_u32, stands for all). Jumps compare with
// immediates only. The machine is a shared VM: medians, not means.
package calibrate
