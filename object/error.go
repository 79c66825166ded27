package object

import (
	"fmt"
	"strings"
)

// Error reports bad input or an impossible rewrite. Its message is one line
// naming the file and, where known, the section, program and instruction.
type Error struct {
	File    string
	Section string // "" if not about one section
	Program string // function name, "" if not about one function
	Insn    int    // slot index within Section, as llvm-objdump -d numbers it; -1 if none
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Section != "" {
		fmt.Fprintf(&b, ": section %s", e.Section)
	}
	if e.Program != "" {
		fmt.Fprintf(&b, ": program %s", e.Program)
	}
	if e.Insn >= 0 {
		fmt.Fprintf(&b, ": insn %d", e.Insn)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (f *File) errf(section, program string, insn int, format string, args ...any) *Error {
	return &Error{File: f.Path, Section: section, Program: program, Insn: insn, Msg: fmt.Sprintf(format, args...)}
}
