package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
)

// openObject reads an object; every failure is bad input (exit 2) with the
// object package's one-line message.
func openObject(path string) (*object.File, error) {
	f, err := object.Open(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: err.Error()}
	}
	return f, nil
}

// selectFunctions returns the entry programs of f, or the one named prog
// (which may also be a subprogram).
func selectFunctions(f *object.File, prog string, all bool) ([]*object.Function, error) {
	if prog != "" {
		fn := f.Function(prog)
		if fn == nil {
			var names []string
			for _, p := range f.Programs() {
				names = append(names, p.Name)
			}
			return nil, usageErr("%s: no program %q (programs: %s)", f.Path, prog, strings.Join(names, ", "))
		}
		return []*object.Function{fn}, nil
	}
	if all {
		return f.Functions, nil
	}
	return f.Programs(), nil
}

func cmdDis(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dis", flag.ContinueOnError)
	prog := fs.String("prog", "", "disassemble only the function `NAME`")
	raw := fs.Bool("raw", false, "also print each instruction's bytes")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt dis IN.o [--prog NAME] [--raw]\n"+flagHelp(fs))
		return nil
	}
	if len(pos) != 1 {
		return usageErr("dis: want exactly one object file, got %d arguments", len(pos))
	}
	f, err := openObject(pos[0])
	if err != nil {
		return err
	}
	fns, err := selectFunctions(f, *prog, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s:\tfile format elf64-bpf\n", pos[0])
	section := ""
	for _, fn := range fns {
		if fn.Section != section {
			section = fn.Section
			fmt.Fprintf(stdout, "\nDisassembly of section %s:\n", section)
		}
		fmt.Fprintf(stdout, "\n%016x <%s>:\n", fn.Offset*bpf.InsnSize, fn.Name)
		slot := fn.Offset
		for k, in := range fn.Insns {
			text := in.String()
			if r, ok := fn.Reloc(k); ok {
				text += "\t; " + r.Symbol
			}
			if *raw {
				fmt.Fprintf(stdout, "%8d:\t%s\t%s\n", slot, hexBytes(in, f), text)
			} else {
				fmt.Fprintf(stdout, "%8d:\t%s\n", slot, text)
			}
			slot += in.Slots()
		}
	}
	return nil
}

func hexBytes(in bpf.Insn, f *object.File) string {
	b := bpf.Encode([]bpf.Insn{in}, f.Order)
	var s strings.Builder
	for i, c := range b[:bpf.InsnSize] {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}

func cmdVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	prog := fs.String("prog", "", "verify only program `NAME`")
	verbose := fs.Bool("v", false, "print the verifier log tail of every program")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt verify IN.o [--prog NAME] [-v]\n"+flagHelp(fs))
		return nil
	}
	if len(pos) != 1 {
		return usageErr("verify: want exactly one object file, got %d arguments", len(pos))
	}
	f, err := openObject(pos[0])
	if err != nil {
		return err
	}
	if _, err := selectFunctions(f, *prog, false); err != nil {
		return err
	}
	if err := kernel.Available(); err != nil {
		return &exitError{code: exitUsage, msg: fmt.Sprintf("verify %s: kernel verifier unavailable: %v", pos[0], err)}
	}
	verdicts, err := kernel.Verify(f.Raw(), nil)
	if err != nil {
		return &exitError{code: exitUsage, msg: fmt.Sprintf("%s: %v", pos[0], err)}
	}
	bad := 0
	fmt.Fprintf(stdout, "%-28s %-24s %-10s %9s  %s\n", "PROGRAM", "SECTION", "KERNEL", "PROCESSED", "")
	for _, v := range verdicts {
		if *prog != "" && v.Program != *prog {
			continue
		}
		processed := "-"
		if v.Processed >= 0 {
			processed = fmt.Sprint(v.Processed)
		}
		note := ""
		switch v.Status {
		case kernel.Rejected, kernel.Failed:
			bad++
			note = firstLine(v.Err)
		case kernel.NotStandalone:
			note = firstLine(v.Err)
		}
		fmt.Fprintf(stdout, "%-28s %-24s %-10s %9s  %s\n", v.Program, v.Section, v.Status, processed, note)
		if *verbose && v.Log != "" {
			fmt.Fprintln(stdout, indent(v.Log))
		}
	}
	if bad > 0 {
		return problem("%s: %d program(s) not accepted by the kernel verifier", pos[0], bad)
	}
	return nil
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func cmdOptimize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("k2opt", flag.ContinueOnError)
	out := fs.String("o", "", "write the optimized object to `OUT.o` (required)")
	o0 := fs.Bool("O0", false, "no search: read and write back (round trip)")
	prog := fs.String("prog", "", "optimize only program `NAME`")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, usage+"\n\nflags:\n"+flagHelp(fs))
		return nil
	}
	if len(pos) != 1 {
		return usageErr("want exactly one input object, got %d arguments (see k2opt help)", len(pos))
	}
	if *out == "" {
		return usageErr("missing -o OUT.o")
	}
	f, err := openObject(pos[0])
	if err != nil {
		return err
	}
	if _, err := selectFunctions(f, *prog, false); err != nil {
		return err
	}
	if !*o0 {
		return usageErr("the search is not implemented yet; use -O0 for a round trip")
	}
	if err := f.WriteFile(*out, nil); err != nil {
		var oe *object.Error
		if errors.As(err, &oe) {
			return usageErr("%v", err)
		}
		return usageErr("write %s: %v", *out, err)
	}
	return nil
}
