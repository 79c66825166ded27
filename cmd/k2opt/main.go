// Command k2opt is a stochastic superoptimizer for eBPF object files.
//
//	k2opt [flags] IN.o -o OUT.o   optimize: search, prove, verify, write
//	k2opt dis IN.o [--prog NAME]  disassemble
//	k2opt verify IN.o             our static verdict and the kernel verifier's
//	k2opt check A.o B.o           prove two objects' programs equivalent
//	k2opt batch / ci / bench      corpus runs, CI gate, kernel latency
//
// Exit codes: 0 success, 1 the job ran and found a problem, 2 bad usage or input.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes of the CLI contract.
const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2
)

// exitError carries an exit code and a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

func problem(format string, a ...any) error {
	return &exitError{code: exitProblem, msg: fmt.Sprintf(format, a...)}
}

const usage = `usage:
  k2opt [flags] IN.o -o OUT.o        optimize every program in IN.o (or --prog NAME)
  k2opt dis IN.o [--prog NAME]       disassemble
  k2opt verify IN.o [--prog NAME]    our static verdict and the kernel verifier's, side by side
  k2opt check A.o B.o                prove the programs of two objects equivalent
  k2opt batch -o OUTDIR IN...        many objects or directories: parallel, resumable, --shard i/n, summary
  k2opt batch merge -o OUTDIR DIR... merge sharded batch reports
  k2opt ci -o OUTDIR IN...           optimize, verify, fail on non-equivalence, rejection or limits
  k2opt bench IN.o [OUT.o]           kernel-measured latency before/after (BPF_PROG_TEST_RUN)
  k2opt calibrate [--write FILE]     fit the latency model's per-op costs on this kernel
run 'k2opt help' or 'k2opt COMMAND -h' for flags`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code; it never panics on
// bad input: every error becomes one line on stderr.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "k2opt: internal error: %v\n", r)
			code = exitUsage
		}
	}()
	var err error
	switch {
	case len(args) == 0:
		fmt.Fprintln(stderr, usage)
		return exitUsage
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprintln(stdout, usage)
		return exitOK
	case args[0] == "dis":
		err = cmdDis(args[1:], stdout, stderr)
	case args[0] == "verify":
		err = cmdVerify(args[1:], stdout, stderr)
	case args[0] == "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case args[0] == "batch":
		err = cmdBatch(args[1:], stdout, stderr)
	case args[0] == "ci":
		err = cmdCI(args[1:], stdout, stderr)
	case args[0] == "bench":
		err = cmdBench(args[1:], stdout, stderr)
	case args[0] == "calibrate":
		err = cmdCalibrate(args[1:], stdout, stderr)
	default:
		err = cmdOptimize(args, stdout, stderr)
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "k2opt: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "k2opt: "+err.Error())
	return exitUsage
}
