package safety

import (
	"fmt"

	"github.com/k2opt/k2opt/bpf"
)

// Class is the half of the KFlex split a property belongs to.
type Class uint8

// The two classes of safety properties.
const (
	// Interface is kernel interface compliance: what the kernel exposes to
	// the extension (context fields, helpers and kfuncs, return values, map
	// rules, references and locks). Narrow, always checked statically.
	Interface Class = iota + 1
	// Extension is extension correctness: the program's own memory safety
	// and termination (stack, map values, packet bounds, initialisation,
	// alignment, division, loops). Broad; KFlex enforces parts of it at run
	// time, the Linux verifier statically.
	Extension
)

func (c Class) String() string {
	switch c {
	case Interface:
		return "kernel interface compliance"
	case Extension:
		return "extension correctness"
	}
	return "unknown class"
}

// Property is the specific property a diagnostic reports.
type Property uint8

// Properties, grouped by class (see Property.Class).
const (
	// Kernel interface compliance.
	CtxAccess   Property = iota + 1 // context field access for the program type
	HelperArg                       // helper / kfunc argument types
	HelperUse                       // helper / kfunc availability for the program type
	ReturnValue                     // allowed return values
	MapAccess                       // map pointer and map value rules (read-only maps, spin lock fields)
	RefLock                         // reference and lock discipline
	// Extension correctness.
	StackSafety  // stack bounds and spill/fill rules
	MapBounds    // map value and sized-memory bounds
	PacketBounds // packet reads/writes without a proven data_end check
	NullDeref    // dereference of a possibly NULL pointer
	Uninit       // read of an uninitialised register or stack byte
	Alignment    // misaligned access
	PointerMath  // forbidden pointer arithmetic or pointer use
	Division     // division by a constant zero
	Termination  // unbounded loops, infinite loops, too complex to verify
	Malformed    // invalid instruction encoding or control flow
)

var propNames = map[Property]string{
	CtxAccess: "ctx access", HelperArg: "helper argument", HelperUse: "helper availability",
	ReturnValue: "return value", MapAccess: "map access", RefLock: "reference/lock discipline",
	StackSafety: "stack safety", MapBounds: "map value bounds", PacketBounds: "packet bounds",
	NullDeref: "null dereference", Uninit: "uninitialised read", Alignment: "alignment",
	PointerMath: "pointer arithmetic", Division: "division", Termination: "termination",
	Malformed: "malformed program",
}

func (p Property) String() string {
	if s, ok := propNames[p]; ok {
		return s
	}
	return fmt.Sprintf("Property(%d)", uint8(p))
}

// Class returns which half of the split p belongs to.
func (p Property) Class() Class {
	if p <= RefLock {
		return Interface
	}
	return Extension
}

// Diagnostic is one safety violation: where, which property, why.
type Diagnostic struct {
	Insn     int    // instruction index in Program.Insns (-1: whole program)
	Slot     int    // slot index of that instruction (llvm-objdump numbering)
	Text     string // the instruction, disassembled
	Func     string // the function holding it
	Property Property
	Reason   string
}

// Class is the diagnostic's half of the KFlex split.
func (d *Diagnostic) Class() Class { return d.Property.Class() }

func (d *Diagnostic) Error() string {
	where := "program"
	if d.Insn >= 0 {
		where = fmt.Sprintf("insn %d (%s)", d.Slot, d.Text)
		if d.Func != "" {
			where = d.Func + ": " + where
		}
	}
	return fmt.Sprintf("%s: %s: %s: %s", where, d.Class(), d.Property, d.Reason)
}

func insnText(in bpf.Insn) string { return in.String() }

func insnTextRaw(in bpf.Insn) string {
	return fmt.Sprintf("%s dst=r%d src=r%d off=%d imm=%d", in.Info().Mnemonic, in.Dst, in.Src, in.Off, in.Imm)
}
