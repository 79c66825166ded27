// Package object reads clang-built BPF ELF objects and writes them back with
// some functions rewritten.
//
// Reading combines two views: debug/elf-level parsing done here (sections,
// symbols, relocations, .BTF.ext records: everything that depends on
// instruction offsets) and cilium/ebpf's CollectionSpec (maps, program types,
// BTF), kept as File.Spec. cilium/ebpf may refuse objects we can still read
// (for example arena globals); its error is kept in File.SpecErr and reading
// goes on.
//
// Writing owns every byte that depends on instruction offsets. A rewritten
// function gets new instructions (jump offsets inside it are the caller's
// job) and an old-to-new index map; the writer then rebuilds the function's
// section and remaps:
//
//   - relocation offsets in .rel<sec> (a relocated instruction that was
//     deleted is an error);
//   - symbol values and sizes in the section (STT_FUNC sizes, LBB labels; a
//     label on a deleted instruction moves to the next kept one);
//   - bpf-to-bpf calls and ld_imm64 pseudo-func references: pc-relative ones
//     inside a section (clang 14 and 19 emit calls between .text functions
//     without relocation) and section-symbol-relative ones with a relocation
//     (calls from program sections into .text, bpf_loop callbacks); these
//     in-place addends are patched even in sections whose functions were not
//     rewritten, since their targets moved;
//   - .BTF.ext func_info, line_info and CO-RE relocation insn_off (bytes),
//     and the .rel.BTF.ext entries pointing at those records;
//   - the ELF layout: section offsets with their alignment, the section
//     header table.
//
// Line info of a deleted instruction moves to the next kept instruction of
// the same function when that one has no record of its own (so every kept
// instruction keeps the source line it had), otherwise it is dropped; every
// function keeps a record at its first instruction, as the kernel requires.
// CO-RE relocations on deleted instructions are an error.
//
// DWARF is not remapped: its line programs, location and range lists encode
// addresses with variable-length fields. When any section changes, every
// .debug_* section and its relocation section is dropped: its header stays
// (so no section or symbol index moves) but it becomes empty and unnamed.
// Unnamed matters: llvm-objdump finds DWARF by section name and, when there
// is none, prints source lines from .BTF.ext (checked with llvm-objdump-19
// -S). BTF and .BTF.ext stay and remain exact; they are what the kernel,
// bpftool's linum and llvm-objdump -S then use. An object written without
// rewrites is byte-identical to its input.
//
// Other readers' entry points: Function.IsCodeRef and File.Callee resolve
// bpf-to-bpf calls and callback references in both encodings (pc-relative
// inside a section, or symbol + addend through a relocation; clang 14 and 19
// use the first between .text functions, newer clang the second).
//
// Only 64-bit ELF with e_machine EM_BPF is accepted, in either byte order.
// Errors on bad input are *Error values naming the file, section, program
// and instruction.
package object
