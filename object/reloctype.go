package object

import "fmt"

// RelocType is an ELF relocation type for EM_BPF (debug/elf defines none).
// Names follow debug/elf and LLVM's ELFRelocs/BPF.def.
type RelocType uint32

// BPF relocation types.
const (
	R_BPF_NONE        RelocType = 0
	R_BPF_64_64       RelocType = 1  // ld_imm64 (map, global data, function address)
	R_BPF_64_ABS64    RelocType = 2  // 8-byte data
	R_BPF_64_ABS32    RelocType = 3  // 4-byte data (DWARF, BTF)
	R_BPF_64_NODYLD32 RelocType = 4  // 4-byte data not resolved by a dynamic loader (.BTF.ext)
	R_BPF_64_32       RelocType = 10 // call imm: (S + A) / 8 - 1
)

func (t RelocType) String() string {
	switch t {
	case R_BPF_NONE:
		return "R_BPF_NONE"
	case R_BPF_64_64:
		return "R_BPF_64_64"
	case R_BPF_64_ABS64:
		return "R_BPF_64_ABS64"
	case R_BPF_64_ABS32:
		return "R_BPF_64_ABS32"
	case R_BPF_64_NODYLD32:
		return "R_BPF_64_NODYLD32"
	case R_BPF_64_32:
		return "R_BPF_64_32"
	}
	return fmt.Sprintf("R_BPF(%d)", uint32(t))
}
