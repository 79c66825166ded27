package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/k2opt/k2opt/bench"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
)

// benchPair is one object measured before and after.
type benchPair struct {
	label, before, after string // after "" = before only
}

// cmdBench measures kernel latency, JIT size and verifier work of an
// object's programs, before and after optimization (see package bench).
func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	batchDir := fs.String("batch", "", "measure every object of the batch run in `OUTDIR` (input vs output)")
	changed := fs.Bool("changed", false, "with --batch: only objects whose output differs from the input")
	repeat := fs.Uint("repeat", 20000, "runs per BPF_PROG_TEST_RUN call (the kernel reports their mean)")
	trials := fs.Int("trials", 10, "trials per side; the interval is over trials")
	inputs := fs.Int("inputs", 13, "generated inputs per program (packets of each shape)")
	seed := fs.Uint64("seed", 1, "input generator seed")
	conf := fs.Float64("confidence", 0.95, "confidence level of the intervals")
	prog := fs.String("prog", "", "measure only program `NAME`")
	plotPath := fs.String("plot", "", "write a chart of the per-program changes to `FILE` (.svg, .png or .pdf)")
	jsonPath := fs.String("json", "", "write every measurement, with the samples, to `FILE.json`")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt bench [flags] IN.o [OUT.o]\n       k2opt bench [flags] --batch OUTDIR\n\nflags:\n"+flagHelp(fs))
		return nil
	}
	switch {
	case *repeat < 1 || *repeat > 1<<31:
		return usageErr("bench: --repeat must be between 1 and 2^31")
	case *trials < 1 || *inputs < 1:
		return usageErr("bench: --trials and --inputs must be at least 1")
	case *conf <= 0 || *conf >= 1:
		return usageErr("bench: --confidence must be between 0 and 1, e.g. 0.95")
	case *plotPath != "" && !slices.Contains([]string{".svg", ".png", ".pdf"}, strings.ToLower(filepath.Ext(*plotPath))):
		return usageErr("bench: --plot wants a .svg, .png or .pdf file name, not %q", *plotPath)
	}
	var pairs []benchPair
	switch {
	case *batchDir != "" && len(pos) > 0:
		return usageErr("bench: give either --batch OUTDIR or objects, not both")
	case *batchDir != "":
		pairs, err = batchPairs(*batchDir, *changed)
		if err != nil {
			return err
		}
	case len(pos) == 1:
		pairs = []benchPair{{before: pos[0]}}
	case len(pos) == 2:
		pairs = []benchPair{{before: pos[0], after: pos[1]}}
	default:
		return usageErr("bench: want IN.o [OUT.o] or --batch OUTDIR, got %d arguments", len(pos))
	}
	if *plotPath != "" && pairs[0].after == "" {
		return usageErr("bench: --plot needs an optimized object to compare with")
	}
	if err := kernel.Available(); err != nil {
		return usageErr("bench: needs BPF_PROG_LOAD and BPF_PROG_TEST_RUN: %v", err)
	}
	opts := &bench.Options{Repeat: uint32(*repeat), Trials: *trials, Inputs: *inputs, Seed: *seed, Confidence: *conf}
	if *prog != "" {
		opts.Programs = []string{*prog}
	}
	var all []bench.Program
	for i, p := range pairs {
		if len(pairs) > 1 && isTerminal(stderr) {
			fmt.Fprintf(stderr, "\r\033[K[%d/%d] %s", i+1, len(pairs), p.label)
		}
		before, err := readBenchObject(p.before)
		if err != nil {
			return err
		}
		var after []byte
		if p.after != "" {
			if after, err = readBenchObject(p.after); err != nil {
				return err
			}
		}
		res, err := bench.Measure(before, after, opts)
		if err != nil {
			return usageErr("bench %s: %v", p.before, err)
		}
		if *prog != "" && len(res) == 0 {
			return usageErr("bench: %s has no program %q", p.before, *prog)
		}
		for k := range res {
			res[k].Object = p.label
			if res[k].Mismatch != "" {
				fmt.Fprintf(stderr, "k2opt: warning: %s program %s: the two objects differ in a test run (%s); programs using time or random helpers may do so legitimately\n",
					p.before, res[k].Name, res[k].Mismatch)
			}
		}
		all = append(all, res...)
	}
	if len(pairs) > 1 && isTerminal(stderr) {
		fmt.Fprint(stderr, "\r\033[K")
	}
	bench.WriteTable(stdout, all, *conf)
	if s := bench.Totals(all); s != "" {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, s)
	}
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := object.WriteFile(*jsonPath, append(b, '\n'), ""); err != nil {
			return usageErr("write %s: %v", *jsonPath, err)
		}
	}
	if *plotPath != "" {
		if err := bench.Plot(all, *plotPath); err != nil {
			return problem("%v", err)
		}
	}
	return nil
}

func readBenchObject(p string) ([]byte, error) {
	if _, err := openObject(p); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, usageErr("%s: %v", p, errors.Unwrap(err))
	}
	return b, nil
}

// batchPairs lists the objects of a batch run: its report's inputs and the
// outputs in dir.
func batchPairs(dir string, changedOnly bool) ([]benchPair, error) {
	reps, _ := filepath.Glob(filepath.Join(dir, "report*.json"))
	if len(reps) == 0 {
		return nil, usageErr("bench: %s holds no batch report (report*.json)", dir)
	}
	var pairs []benchPair
	for _, r := range reps {
		b, err := os.ReadFile(r)
		if err != nil {
			return nil, usageErr("bench: %v", err)
		}
		var rep batchReport
		if err := json.Unmarshal(b, &rep); err != nil || rep.Version == 0 {
			return nil, usageErr("bench: %s: not a k2opt batch report", r)
		}
		for _, o := range rep.Objects {
			if o.Status != "done" || (changedOnly && o.OutputSHA256 == o.InputSHA256) {
				continue
			}
			out := filepath.Join(dir, o.Key)
			if _, err := os.Stat(o.Input); err != nil {
				return nil, usageErr("bench: %s: input %s: %v (run bench from the directory batch ran in)", r, o.Input, errors.Unwrap(err))
			}
			if _, err := os.Stat(out); err != nil {
				return nil, usageErr("bench: %s: output %s missing", r, out)
			}
			if changedOnly {
				if ch := anyChanged(o); !ch {
					continue
				}
			}
			pairs = append(pairs, benchPair{label: o.Key, before: o.Input, after: out})
		}
	}
	if len(pairs) == 0 {
		return nil, usageErr("bench: no object to measure in %s", dir)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].label < pairs[j].label })
	return pairs, nil
}

func anyChanged(o objectReport) bool {
	for _, p := range o.Programs {
		if p.Status == "optimized" {
			return true
		}
	}
	return false
}
