// Package interp is k2opt's concrete BPF interpreter: it executes a program
// (or a window of one) from an input state to an output state, millions of
// times per second, for the search's test cases and to replay Z3's
// counterexamples. It also generates test inputs per program type.
//
// What it owns:
//   - Program: instructions pre-decoded once through the bpf opcode table
//     into a compact form; dispatch is on bpf.Op. Every op of bpf.Ops() is
//     either implemented or yields an explicit FaultUnsupported.
//   - Machine: registers with init bits, a 512-byte stack per frame with
//     per-byte init bits, a context laid out per program type, the packet
//     (with headroom for adjust_head/meta), map contents and ring-buffer
//     reservations, and the type's auxiliary object (a flow dissector's
//     flow keys: Input.Aux in, Output.Aux out). Memory is addressed through tagged pointers (region id
//     and offset inside one 64-bit value), so pointer arithmetic stays
//     concrete and a bounds check is a mask and two compares.
//   - Helper models (helpers.go): a helper without a model is a
//     FaultUnsupported, never a guess. Non-deterministic helpers (time,
//     random, cpu id) take their values from Input.Env.
//   - Faults (fault.go): out-of-bounds, bad pointer, uninitialised register
//     or stack read, write to read-only memory, unsupported op or helper,
//     call depth, and the step budget ("did not terminate"). Division by
//     zero is not a fault: BPF defines x/0 = 0 and x%0 = x.
//   - Input generation (gen.go, solve.go): packets per protocol
//     (well-formed, malformed, truncated), map contents that hit and miss,
//     boundary values, and coverage-guided generation (mutation,
//     comparison-guided substitution, branch solving by byte search).
//   - Branch reachability (reach.go): an abstract interpretation that
//     proves branch edges infeasible (with the reason), so coverage is
//     measured against reachable edges only.
//
// Invariants: a Machine is reused across runs and performs no allocation on
// the hot path once warmed up; Output slices alias Machine buffers and stay
// valid until the next Run.
//
// Not modelled: kfuncs (arena), LRU eviction order beyond "oldest first",
// per-CPU values of CPUs other than Env.CPU, helpers not listed in
// helpers.go.
package interp
