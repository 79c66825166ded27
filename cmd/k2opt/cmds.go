package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
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

// searchable returns the functions the optimizer searches: the entry
// programs, then the subprograms (.text functions) they call.
func searchable(f *object.File) []*object.Function {
	fns := f.Programs()
	for _, fn := range f.Functions {
		if !fn.Entry {
			fns = append(fns, fn)
		}
	}
	return fns
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
	mode := fs.String("verify", "auto", "`MODE`: auto (ours and the kernel's when it may load BPF), kernel, static (ours only)")
	verbose := fs.Bool("v", false, "print the verifier log tail of every program")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt verify IN.o [--prog NAME] [--verify auto|kernel|static] [-v]\n"+flagHelp(fs))
		return nil
	}
	if len(pos) != 1 {
		return usageErr("verify: want exactly one object file, got %d arguments", len(pos))
	}
	if *mode != "auto" && *mode != "kernel" && *mode != "static" {
		return usageErr("verify: --verify must be auto, kernel or static, not %q", *mode)
	}
	f, err := openObject(pos[0])
	if err != nil {
		return err
	}
	progs, err := selectFunctions(f, *prog, false)
	if err != nil {
		return err
	}
	useKernel := *mode != "static"
	if kerr := kernel.Available(); kerr != nil && useKernel {
		if *mode == "kernel" {
			return &exitError{code: exitUsage, msg: fmt.Sprintf("verify %s: kernel verifier unavailable: %v", pos[0], kerr)}
		}
		fmt.Fprintf(stderr, "k2opt: kernel verifier unavailable (%v); static verdicts only\n", kerr)
		useKernel = false
	}
	kv := map[string]kernel.Verdict{}
	if useKernel {
		verdicts, err := kernel.Verify(f.Raw(), nil)
		if err != nil {
			return &exitError{code: exitUsage, msg: fmt.Sprintf("%s: %v", pos[0], err)}
		}
		for _, v := range verdicts {
			kv[v.Program] = v
		}
	}
	bad := 0
	fmt.Fprintf(stdout, "%-24s %-20s %-9s %9s  %-10s %9s  %s\n", "PROGRAM", "SECTION", "K2OPT", "EST.PROC", "KERNEL", "PROCESSED", "")
	for _, fn := range progs {
		ours, est, oursNote := "-", "-", ""
		if *mode != "kernel" {
			ours, est, oursNote = staticVerdict(f, fn.Name)
		}
		kst, kproc, note := "-", "-", ""
		if v, ok := kv[fn.Name]; ok {
			kst = v.Status.String()
			if v.Processed >= 0 {
				kproc = fmt.Sprint(v.Processed)
			}
			switch v.Status {
			case kernel.Rejected, kernel.Failed:
				bad++
				note = firstLine(v.Err)
			case kernel.NotStandalone:
				note = firstLine(v.Err)
			}
		} else if useKernel {
			kst = "absent"
		}
		if oursNote != "" {
			if note != "" {
				note += "; "
			}
			note += "k2opt: " + oursNote
		}
		if !useKernel && ours == "rejected" {
			bad++
		}
		fmt.Fprintf(stdout, "%-24s %-20s %-9s %9s  %-10s %9s  %s\n", fn.Name, fn.Section, ours, est, kst, kproc, note)
		if v, ok := kv[fn.Name]; ok && *verbose && v.Log != "" {
			fmt.Fprintln(stdout, indent(v.Log))
		}
	}
	if bad > 0 {
		return problem("%s: %d program(s) not accepted by the verifier", pos[0], bad)
	}
	return nil
}

// staticVerdict runs k2opt's own verifier-like checker on one program.
func staticVerdict(f *object.File, name string) (verdict, processed, note string) {
	p, err := safety.FromObject(f, name, nil)
	if err != nil {
		return "error", "-", firstLine(err)
	}
	res := safety.Verify(p, nil)
	if res.Accepted {
		return "accepted", fmt.Sprint(res.Processed), ""
	}
	if res.Diag != nil {
		return "rejected", fmt.Sprint(res.Processed), firstLine(res.Diag)
	}
	return "rejected", fmt.Sprint(res.Processed), ""
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
