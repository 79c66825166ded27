// Package bpf owns the eBPF instruction set as Linux 6.18 accepts it (cpu
// v1-v4): the Insn type, the single opcode table that drives decoding,
// encoding, disassembly (llvm-objdump syntax), the interpreter and the SMT
// encoder, plus control-flow graphs, register liveness and rewriting with
// jump fix-ups.
//
// Nothing outside this package interprets raw opcode bits; it asks the table.
//
// # The table
//
// op.go has one row (OpInfo) per instruction, keyed by a dense Op id:
// Insn.Op() maps the code byte (plus off for sdiv/smod/movsx/addr_space_cast,
// imm for atomics and byte swaps, src for calls and ld_imm64 pseudo loads)
// to its row. A row names the kind, width, memory size, what each field may
// hold (Field roles, which Decode checks and Reads/Writes derive from),
// implicit register uses, commutativity and edge semantics (ZeroDiv for
// x/0 = 0 and x%0 = x, ShiftMask 31/63).
//
// # Invariants
//
//   - Decode(b) == insns implies Encode(insns) == b: Insn keeps the raw
//     fields, semantics are derived.
//   - Decode accepts exactly the encodings the 6.18 verifier accepts before
//     it looks at types (checked against the kernel by
//     TestDecodeAgreesWithKernel), except that pseudo-call and pseudo-func
//     targets are not checked (object files hold relocation placeholders)
//     and a last instruction that falls through is left to NewCFG.
//   - Instruction indices and slots differ: an ld_imm64 is one Insn of two
//     slots. Jump offsets, JumpTarget and CFG slots count slots; CFG blocks,
//     liveness and Rewrite index instructions.
//
// # Not supported
//
// Classic BPF; kernel-internal opcodes (BPF_CALL_ARGS, BPF_TAIL_CALL,
// BPF_PROBE_MEM and friends); the JMP32|JCOND encoding (rejected, as the
// kernel does). Liveness assumes a kfunc or an unresolved bpf-to-bpf call
// reads all of r1-r5.
package bpf
