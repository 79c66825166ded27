// Package check validates an optimised object against its original
// without trusting the optimiser's bookkeeping (translation validation by
// alignment): k2opt check.
//
// Per function (entry programs and .text subprograms), from the two
// objects alone:
//
//  1. Align the instruction lists: an LCS over instructions compared with
//     jump offsets ignored, relocated instructions by relocation symbol and
//     code references by callee; then aligned jumps whose targets do not
//     correspond (directly, or once the unconditional goto chains from
//     both targets are followed: jumps.go) are dropped, and hunks that jump into each other's middle
//     are merged, until the alignment is consistent. The gaps between
//     aligned instructions are the hunks: original [A0,A1) replaced by
//     optimised [B0,B1), each entered only at its start on both sides.
//  2. Decide each hunk: unreachable (safety has no state at A0: the
//     original never gets there, so neither does the optimised code, which
//     is entered only where the original would be); a tail merge (the
//     optimised side is "goto u" or empty, and from A0 the original runs
//     exactly the instructions it runs from u's aligned point until both
//     reach one point: a syntactic bisimulation, see tailMerge); threaded
//     jumps (jumps.go: only no-op jumps on both sides, or one conditional
//     jump per side, the same or the inverse condition, whose exits
//     correspond once goto chains are followed); or an
//     equiv.Checker.Window proof with preconditions from safety's summary
//     of the original at A0, per-exit live registers (bpf liveness of the
//     original) and dead stack bytes (synth.StackLiveness), the optimised
//     side's exits mapped onto the original's through the alignment. A hunk
//     that fails alone is retried merged with up to three neighbours
//     (an LCS may split one rewritten window in pieces equivalent only
//     together).
//  3. A loop-free, small entry program is first tried as a whole
//     (equiv.Checker.Programs); hunks are the fallback when that says
//     Unknown.
//
// Soundness. Invariant: whenever the original is at an aligned point x
// (an aligned instruction or a hunk's start) in an A-reachable state S,
// the optimised program is at x's counterpart in a state T that agrees
// with S on the registers and stack bytes live at x and on all other
// memory and the helper-call history. Aligned instructions are identical
// and read only live state, so they keep the invariant, and aligned jumps
// land on corresponding points. At a hunk's start, S satisfies the
// precondition (safety's summaries over-approximate every state reaching
// A0), and the window proof says: for every entry state satisfying it on
// which the original does not fault, both sides leave by corresponding
// exits agreeing on the registers and stack bytes live there and on all
// memory and calls; the optimised side can only read live-in registers
// (others are uninitialised in the query), and a dead stack byte it reads
// cannot change its outputs (they equal the original's for every value of
// that byte), so T gives the same result as S. The state reached at the
// exit is again A-reachable. Tail merges: the optimised code from u runs
// the aligned instructions the bisimulation paired with the original's
// run from A0, with no hunk on the way, so it performs the same steps on
// T as the original does on S until both reach one point, which is
// aligned and A-reachable. Threaded jumps: a goto chain runs only
// jumps, so the state at its end is the state at its start and chain
// ends may stand for their starts. By induction over the original's execution
// (BPF programs terminate), both programs end at the same exit with the
// same r0, memory and calls. Subprograms: a call is an aligned
// instruction; the callee is checked as a function of its own, with entry
// states joined over every program linking it, so the argument holds per
// frame once every function is checked.
//
// NotEqual: a hunk whose window proof fails with a counterexample is only
// evidence (the entry state may not be reachable); the verdict is
// NotEqual only when a whole-program input found by interp's coverage
// search makes the two programs differ, otherwise Unknown with the hunk
// and its window counterexample.
//
// Not covered (Unknown): hunks that change relocated instructions or
// calls, hunks containing loops or anything equiv does not model (ld_abs,
// kfuncs, helpers with memory effects, live-in pointers to another frame's
// stack), hunks whose exits land on one optimised instruction, functions
// no program links or whose original the static verifier rejects, and
// changed bpf-to-bpf call targets (a callee instruction other than the
// start). NotEqual is never reported for subprograms (they cannot be run
// alone): a real difference there is Unknown.
package check
