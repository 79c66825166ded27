// Package safety is k2opt's verifier-like static checker: abstract
// interpretation modelled on the Linux 6.18 verifier (register types, tnum
// and 32/64-bit signed/unsigned bounds, packet ranges, stack slot states,
// alignment, path-sensitive exploration with state pruning, bounded loops,
// may_goto and bpf_loop callbacks).
//
// Its diagnostics follow the KFlex split: kernel interface compliance
// (context access per program type, helper and kfunc arguments and
// availability, return values, map rules, references and locks) versus
// extension correctness (the program's own memory safety, initialisation,
// alignment, division and termination). Every Diagnostic names the
// instruction, the property and the reason.
//
// Outputs: a fast verdict (Verify), an estimate of the kernel's processed
// instruction count, and per-instruction state summaries (Result.Before /
// Result.After) for equivalence-window preconditions and window choice.
// FromObject links a program of an object file the way the loader does.
//
// Invariants: unknown helpers, kfuncs, program types and ksyms are
// rejected, never guessed; when the model is unsure it rejects. The
// defaults match a root loader (the kernel oracle in safety/kernel runs as
// root); Options.Unprivileged is stricter.
//
// Not supported: precision tracking (we compare all live scalars exactly,
// so pruning differs from the kernel's), open-coded iterators, dynptrs,
// timers, kptrs, tail-call specifics, BTF-typed pointers other than global
// function arguments, struct_ops/LSM/tracing (fentry) context types.
package safety
