package interp

import "fmt"

// FaultKind classifies why a run stopped before exit. The cost function
// charges for faults; equivalence treats two faulting runs by kind.
type FaultKind uint8

// Fault kinds.
const (
	FaultNone        FaultKind = iota
	FaultBadAddress            // dereference of a value that is not a pointer into a live region
	FaultOutOfBounds           // access outside its region's accessible window
	FaultReadOnly              // store into read-only memory (.rodata, read-only ctx fields)
	FaultUninitReg             // read of a register never written (or clobbered by a call)
	FaultUninitStack           // read of stack bytes never written
	FaultCtxAccess             // context access the program type does not allow
	FaultHelperArg             // helper argument of the wrong kind (not a map, bad pointer, bad size)
	FaultUnsupported           // instruction, helper or map type without a model
	FaultCallDepth             // more than MaxFrames nested bpf-to-bpf calls
	FaultStepBudget            // the step budget ran out: did not terminate
	FaultBadJump               // control reached the second slot of an ld_imm64 or left the program
)

var faultNames = [...]string{
	FaultNone:        "none",
	FaultBadAddress:  "bad address",
	FaultOutOfBounds: "out of bounds",
	FaultReadOnly:    "write to read-only memory",
	FaultUninitReg:   "uninitialised register",
	FaultUninitStack: "uninitialised stack read",
	FaultCtxAccess:   "invalid context access",
	FaultHelperArg:   "bad helper argument",
	FaultUnsupported: "unsupported",
	FaultCallDepth:   "call depth exceeded",
	FaultStepBudget:  "did not terminate (step budget)",
	FaultBadJump:     "bad jump",
}

func (k FaultKind) String() string {
	if int(k) < len(faultNames) {
		return faultNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", uint8(k))
}

// Fault is the typed outcome of a run that did not reach exit. PC is the
// slot of the faulting instruction; Addr the address or register involved
// (the helper id for unsupported helpers, the op for unsupported ops).
type Fault struct {
	Kind FaultKind
	PC   int
	Addr uint64
}

// Ok reports whether the run ended without fault.
func (f Fault) Ok() bool { return f.Kind == FaultNone }

func (f Fault) String() string {
	if f.Kind == FaultNone {
		return "ok"
	}
	return fmt.Sprintf("insn %d: %s (0x%x)", f.PC, f.Kind, f.Addr)
}

func (f Fault) Error() string { return f.String() }
