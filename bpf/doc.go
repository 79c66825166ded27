// Package bpf owns the eBPF instruction set as Linux 6.18 accepts it (cpu
// v1-v4): the Insn type, the single opcode table that drives decoding,
// encoding, disassembly (llvm-objdump syntax), the interpreter and the SMT
// encoder, plus control-flow graphs and register liveness.
//
// Nothing outside this package interprets raw opcode bits; it asks the table.
package bpf
