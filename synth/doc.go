// Package synth owns k2opt's stochastic search: window selection, the
// window evaluator, Metropolis-Hastings chains with their proposals, the
// scheduling of chains over goroutines with budgets, and the per-window and
// per-program pipelines (OptimizeWindow, OptimizeProgram).
//
// Pipeline: SelectWindows cuts a function into windows of 2..20
// instructions between pinned ones (calls, exits, pseudo ld_imm64 loads,
// relocated instructions, ops the evaluator does not model), entered only
// at their start, with forward jumps that stay inside or leave to the end
// (so windows may span branches but never loops). Each window gets tests:
// live-in registers drawn from safety's entry summary (constants, scalar
// bounds, pointers into stack/ctx/packet/map values), random memory and
// interp's packets (sometimes cut to the length the verifier knows to be
// in bounds; _or_null pointers are sometimes NULL; pointers the evaluator
// cannot dereference, e.g. map pointers, are opaque); the original window's
// run on each test is the expected output. The evaluator applies the
// verifier's pointer rules (only 64-bit add/sub of scalars on pointers,
// whole 8-byte spills to the stack, aligned stack accesses): breaking them
// is a fault. Stack bytes dead after the window (StackLiveness) are not
// compared, so dead stores can go. A peephole pre-pass (peephole.go:
// constants from safety's summaries, folding, byte-load merging, dead code,
// test-guided deletions) proposes a first candidate; chains (one per
// --jobs, different temperatures and error weights) then start from the
// best proven candidate and propose more, the evaluator scores them (cost =
// w_e*error + w_p*perf, error as in package cost), and Metropolis-Hastings
// accepts with min(1, exp(-beta*(c'-c))). A candidate with zero error that
// beats the best proven one goes to the Prover; Equivalent, plus the
// whole-program check (Func.Check: safety.Verify of every program linking
// the function, with the window and the windows accepted before it
// applied), makes it the best and restarts the chains from it; a
// counterexample becomes a test for every chain.
//
// Structural passes (tailmerge.go, jumps.go) run before the windows and
// need no proof, the machine executing the same non-jump instructions in
// the same order: tail merging, then jump threading (jumps past goto
// chains, "if c goto +1; goto L" -> "if !c goto L", no-op jumps and
// unreachable code removed). They are kept only if the program with them
// passes Func.Check, and the instructions they touch are pinned.
//
// Rule cache (rules.go, docs/rules.md): with Options.Rules, a window whose
// canonical form (registers renamed, constants as symbols, entry types,
// live-outs and dead stack per exit) matches a stored rule gets the rule's
// rewrite first, proven and checked like any candidate; an entry learned
// with at least the current budget and the same constants ends the window
// without search (a rewrite, or "searched, nothing better"). Rules trimmed
// to the span they change are tried at every position of other windows.
// What the search finds is learned; RuleSet reads and writes the
// line-oriented rule file, DefaultRules the set built into the binary.
//
// Invariants:
//   - Nothing is emitted without Prover saying Equivalent; with no Prover
//     the program is returned unchanged.
//   - Candidates stay well-formed: ops from the bpf table only, r10 never
//     written, jump targets forward and inside the window (or its end);
//     pinned instructions are never in a window. A NOP is a deletion,
//     applied with bpf.Rewrite's jump fix-ups.
//   - The proposal/evaluation loop allocates nothing; one chain owns its
//     tests (the evaluator mutates and restores their memory).
//   - Same Seed, Jobs 1 and an Iters budget (no Time) give identical output.
//   - OptimizeProgram's result passes safety.Verify (checked per proven
//     candidate, on a relinked program: safety.FromObject cannot take a
//     rewrite that deletes instructions) and object encoding, and for the
//     complexity objective lowers the processed count (kernel-confirmed
//     when possible). It optimises entry programs and .text subprograms.
//
// Not supported: windows containing calls, exits, ld_abs/ind, may_goto,
// gotol, addr_space_cast or back edges; tests from whole-program runs (the
// window's entry states are drawn from safety's summaries instead); stack
// contents at a window's entry are random (spilled pointers and constants
// are not restored from safety's stack state).
package synth
