package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
	"github.com/k2opt/k2opt/synth"
)

// A batch run writes, under OUTDIR:
//
//	KEY                      the optimized object (KEY: the input's path below
//	                         the inputs' common directory)
//	report[-I-of-N].json     every object's and program's report
//	summary[-I-of-N].md/.csv the summary table
//	.k2opt-state/H-O/        per object (H: input content hash, O: options
//	                         hash): PROG.json once a program's search is done,
//	                         object.json once the object is written
//
// State files are written atomically, so an interrupted run (Ctrl-C, a
// killed CI job) resumes where it stopped: finished programs are not
// searched again. A program whose search was interrupted is not recorded,
// so a resumed run gives the same outputs as an uninterrupted one.

const (
	stateDir     = ".k2opt-state"
	batchVersion = 1
)

// batchConfig is what a batch run's results depend on (hashed into the
// state key), plus how the run is spread (which does not change results).
type batchConfig struct {
	Objective    string        `json:"objective"`
	Iters        int64         `json:"iters"`
	Time         time.Duration `json:"time_ns"`
	Seed         uint64        `json:"seed"`
	Jobs         int           `json:"jobs"`
	Verify       string        `json:"verify"` // kernel or static, as resolved
	ProofTimeout time.Duration `json:"proof_timeout_ns"`
	Binary       string        `json:"binary_sha256"`   // results depend on the optimizer's version
	Rules        string        `json:"rules,omitempty"` // the rule cache: "none", or FILE's sha256 (empty: the built-in rules)

	obj      cost.Objective
	rules    *synth.RuleSet // nil: none
	parallel int
	shard    int // 1-based; 0: not sharded
	shards   int
	outDir   string
}

func (c *batchConfig) key() string {
	b, _ := json.Marshal(c)
	h := sha256.Sum256(append(b, byte(batchVersion)))
	return hex.EncodeToString(h[:6])
}

// batchReport is report.json: one entry per object, sorted by key.
type batchReport struct {
	Version   int              `json:"version"`
	Config    batchConfig      `json:"config"`
	ConfigKey string           `json:"config_key"`
	Shard     string           `json:"shard,omitempty"` // "I/N"
	Complete  bool             `json:"complete"`        // false: interrupted
	Objects   []objectReport   `json:"objects"`
	Elapsed   time.Duration    `json:"elapsed_ns"`
	Rules     *synth.RuleStats `json:"rules,omitempty"` // the rule cache's size and what it did
}

type objectReport struct {
	Key          string          `json:"key"`
	Input        string          `json:"input"`
	InputSHA256  string          `json:"input_sha256"`
	OutputSHA256 string          `json:"output_sha256,omitempty"`
	Status       string          `json:"status"` // done, copied (not optimizable, written unchanged), error
	Error        string          `json:"error,omitempty"`
	Programs     []programReport `json:"programs"`
	Elapsed      time.Duration   `json:"elapsed_ns"`
}

// programState is one finished program search, the unit of resumption.
type programState struct {
	Report  programReport   `json:"report"`
	Rewrite *object.Rewrite `json:"rewrite,omitempty"`
}

// batchObject is one input object of a run.
type batchObject struct {
	key, path string
	data      []byte
	hash      string
	f         *object.File
	progs     []string
	stateDir  string

	mu      sync.Mutex
	pending int
	states  map[string]*programState
	rep     objectReport
	slots   int
}

func cmdBatch(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "merge" {
		return cmdBatchMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	cfg, help := batchFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt batch -o OUTDIR [flags] IN...   (objects or directories of *.o)\n"+
			"       k2opt batch merge -o DIR REPORT.json|OUTDIR...\n\nflags:\n"+flagHelp(fs))
		return nil
	}
	if err := cfg.finish(fs, stderr); err != nil {
		return err
	}
	rep, err := runBatch(cfg, pos, stdout, stderr)
	if err != nil {
		return err
	}
	return batchVerdict(rep)
}

type batchFlagVals struct {
	out, objective, verify, shard *string
	iters                         *int64
	budget, proofTimeout          *time.Duration
	seed                          *uint64
	jobs, parallel                *int
	rules                         *ruleFlags
	cfg                           batchConfig
}

// batchFlags declares the flags batch and ci share.
func batchFlags(fs *flag.FlagSet) (*batchFlagVals, *bool) {
	v := &batchFlagVals{
		out:          fs.String("o", "", "write outputs, reports and state to `OUTDIR` (required)"),
		objective:    fs.String("objective", "size", "`GOAL`: size, latency or complexity"),
		iters:        fs.Int64("iters", 20000, "proposals per chain per program (fixed budget: reproducible)"),
		budget:       fs.Duration("time", 0, "search time per program instead of --iters (not reproducible)"),
		seed:         fs.Uint64("seed", 1, "random seed"),
		jobs:         fs.Int("jobs", 1, "chains per window; 1 is reproducible"),
		parallel:     fs.Int("parallel", 2, "programs searched at once"),
		verify:       fs.String("verify", "auto", "`MODE`: auto, kernel or static (see k2opt -h)"),
		proofTimeout: fs.Duration("proof-timeout", 10*time.Second, "solver time limit per equivalence check"),
		shard:        fs.String("shard", "", "run only shard `I/N` (1 <= I <= N) of the objects; merge reports with 'k2opt batch merge'"),
		rules:        addRuleFlags(fs),
	}
	return v, fs.Bool("h", false, "show help")
}

// finish validates the flags and fills cfg.
func (v *batchFlagVals) finish(fs *flag.FlagSet, stderr io.Writer) error {
	c := &v.cfg
	name := fs.Name()
	if *v.out == "" {
		return usageErr("%s: missing -o OUTDIR", name)
	}
	obj, err := cost.ParseObjective(*v.objective)
	if err != nil {
		return usageErr("%s: --objective: %v", name, err)
	}
	if *v.verify != "auto" && *v.verify != "kernel" && *v.verify != "static" {
		return usageErr("%s: --verify must be auto, kernel or static, not %q", name, *v.verify)
	}
	if *v.jobs < 1 || *v.parallel < 1 {
		return usageErr("%s: --jobs and --parallel must be at least 1", name)
	}
	if *v.iters < 1 && *v.budget <= 0 {
		return usageErr("%s: --iters must be at least 1", name)
	}
	if *v.shard != "" {
		i, n, ok := parseShard(*v.shard)
		if !ok {
			return usageErr("%s: --shard wants I/N with 1 <= I <= N, not %q", name, *v.shard)
		}
		c.shard, c.shards = i, n
	}
	useKernel := *v.verify != "static"
	if kerr := kernel.Available(); kerr != nil && useKernel {
		if *v.verify == "kernel" {
			return usageErr("%s: --verify kernel: kernel verifier unavailable: %v", name, kerr)
		}
		fmt.Fprintf(stderr, "k2opt: kernel verifier unavailable (%v); outputs are checked statically only\n", kerr)
		useKernel = false
	}
	c.obj = obj
	c.Objective = obj.String()
	c.Iters, c.Time, c.Seed, c.Jobs = *v.iters, *v.budget, *v.seed, *v.jobs
	if c.Time > 0 {
		c.Iters = 0
	}
	c.Verify = "static"
	if useKernel {
		c.Verify = "kernel"
	}
	c.ProofTimeout = *v.proofTimeout
	c.Binary = selfHash()
	// The rule file is part of what results depend on (resumable state).
	if c.rules, err = v.rules.load(); err != nil {
		return err
	}
	switch {
	case c.rules == nil:
		c.Rules = "none"
	case *v.rules.path != "":
		b, _ := os.ReadFile(*v.rules.path)
		h := sha256.Sum256(b)
		c.Rules = hex.EncodeToString(h[:8])
	}
	c.parallel = *v.parallel
	c.outDir = *v.out
	return nil
}

// shardOf marks the files of shard i of n (all when n is 0). Files are
// dealt largest first to the least loaded shard (file size standing in for
// search work), ties to the lowest shard: every machine given the same
// inputs computes the same split, and one huge object does not share its
// shard with a third of the rest.
func shardOf(files []string, i, n int) []bool {
	mine := make([]bool, len(files))
	if n == 0 {
		for k := range mine {
			mine[k] = true
		}
		return mine
	}
	size := make([]int64, len(files))
	order := make([]int, len(files))
	for k, f := range files {
		order[k] = k
		if st, err := os.Stat(f); err == nil {
			size[k] = st.Size()
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return size[order[a]] > size[order[b]] })
	load := make([]int64, n)
	for _, k := range order {
		best := 0
		for s := 1; s < n; s++ {
			if load[s] < load[best] {
				best = s
			}
		}
		load[best] += size[k] + 1
		mine[k] = best == i-1
	}
	return mine
}

func parseShard(s string) (i, n int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, false
	}
	return i, n, true
}

// selfHash identifies the running optimizer, so that state written by
// another build of k2opt is not reused.
func selfHash() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "unknown"
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// collectInputs expands directories (every *.o below them, OUTDIR
// excluded) and returns absolute paths, sorted, and their common directory.
func collectInputs(args []string, outDir string) ([]string, string, error) {
	if len(args) == 0 {
		return nil, "", usageErr("batch: no input objects or directories")
	}
	absOut, _ := filepath.Abs(outDir)
	seen := map[string]bool{}
	var files []string
	for _, a := range args {
		abs, err := filepath.Abs(a)
		if err != nil {
			return nil, "", usageErr("%s: %v", a, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, "", usageErr("%s: %v", a, errors.Unwrap(err))
		}
		if !st.IsDir() {
			if !seen[abs] {
				seen[abs] = true
				files = append(files, abs)
			}
			continue
		}
		err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (p == absOut || d.Name() == stateDir) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".o") && !seen[p] {
				seen[p] = true
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, "", usageErr("%s: %v", a, err)
		}
	}
	if len(files) == 0 {
		return nil, "", usageErr("batch: no *.o files in %s", strings.Join(args, " "))
	}
	sort.Strings(files)
	root := filepath.Dir(files[0])
	for _, f := range files[1:] {
		for !strings.HasPrefix(f, root+string(filepath.Separator)) && root != "/" {
			root = filepath.Dir(root)
		}
	}
	if absOut == root {
		return nil, "", usageErr("batch: -o %s is the inputs' directory; outputs would overwrite them", outDir)
	}
	return files, root, nil
}

// runBatch optimizes the objects of args (this shard's share) into
// cfg.outDir and writes the reports. An interruption returns the partial report and an
// error telling how to resume.
func runBatch(v *batchFlagVals, args []string, stdout, stderr io.Writer) (*batchReport, error) {
	cfg := &v.cfg
	start := time.Now()
	files, root, err := collectInputs(args, cfg.outDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.outDir, stateDir), 0o755); err != nil {
		return nil, usageErr("-o %s: %v", cfg.outDir, err)
	}
	ckey := cfg.key()
	mine := shardOf(files, cfg.shard, cfg.shards)
	var objs []*batchObject
	for i, p := range files {
		if !mine[i] {
			continue
		}
		key, _ := filepath.Rel(root, p)
		objs = append(objs, &batchObject{key: key, path: p})
	}

	// SIGTERM is what CI runners and Kubernetes send on cancellation.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Prepare: read, hash, load state; queue the programs still to search.
	type task struct {
		o    *batchObject
		name string
	}
	var tasks []task
	var finals []*batchObject
	total, reused := 0, 0
	for _, o := range objs {
		o.rep = objectReport{Key: o.key, Input: relOrAbs(o.path)}
		o.data, err = os.ReadFile(o.path)
		if err != nil {
			o.rep.Status, o.rep.Error = "error", fmt.Sprintf("%s: %v", o.rep.Input, errors.Unwrap(err))
			continue
		}
		h := sha256.Sum256(o.data)
		o.hash = hex.EncodeToString(h[:])
		o.rep.InputSHA256 = o.hash
		o.stateDir = filepath.Join(cfg.outDir, stateDir, o.hash[:16]+"-"+ckey)
		if prev, ok := loadObjectState(o, cfg.outDir); ok {
			o.rep = prev
			continue
		}
		o.f, err = object.Parse(o.rep.Input, o.data)
		if err != nil {
			o.rep.Status, o.rep.Error = "error", firstLine(err)
			continue
		}
		if o.f.Spec == nil {
			// Not optimizable here, but the output directory stays a
			// complete set: the object is copied unchanged.
			o.rep.Status, o.rep.Error = "copied", "cilium/ebpf cannot read this object: "+firstLine(o.f.SpecErr)
			o.f = nil
			finals = append(finals, o)
			continue
		}
		if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
			return nil, usageErr("%v", err)
		}
		o.states = map[string]*programState{}
		for _, fn := range searchable(o.f) {
			o.progs = append(o.progs, fn.Name)
			o.slots += fn.Slots()
			if st, ok := loadProgramState(o, fn.Name); ok {
				o.states[fn.Name] = st
				reused++
				continue
			}
			o.pending++
			tasks = append(tasks, task{o, fn.Name})
			total += fn.Slots()
		}
		if o.pending == 0 {
			finals = append(finals, o)
		}
	}
	resumed := 0
	for _, o := range objs {
		if o.rep.Status != "" && o.rep.Status != "error" {
			resumed++
		}
	}

	prog := newProgress(stderr, len(tasks), total)
	if resumed > 0 || reused > 0 {
		fmt.Fprintf(stderr, "k2opt: resuming: %d object(s) and %d program(s) already done in %s\n", resumed, reused, cfg.outDir)
	}
	var wg sync.WaitGroup
	work := make(chan task)
	finalCh := make(chan *batchObject, len(objs))
	for _, o := range finals {
		finalCh <- o
	}
	var failMu sync.Mutex
	var fatal error
	runFinal := func(o *batchObject) {
		if ctx.Err() != nil {
			return
		}
		if err := finishObject(ctx, cfg, o); err != nil {
			failMu.Lock()
			if fatal == nil {
				fatal = err
			}
			failMu.Unlock()
		}
		prog.object(o)
	}
	for range cfg.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case o := <-finalCh:
					runFinal(o)
					continue
				default:
				}
				t, ok := <-work
				if !ok {
					for {
						select {
						case o := <-finalCh:
							runFinal(o)
						default:
							return
						}
					}
				}
				if ctx.Err() != nil {
					continue
				}
				st := searchProgram(ctx, cfg, t.o, t.name)
				if st == nil {
					continue // interrupted: not recorded
				}
				prog.program(st.Report.SlotsBefore)
				t.o.mu.Lock()
				t.o.states[t.name] = st
				t.o.pending--
				last := t.o.pending == 0
				t.o.mu.Unlock()
				if last {
					runFinal(t.o)
				}
			}
		}()
	}
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	prog.done()

	rep := &batchReport{Version: batchVersion, Config: *cfg, ConfigKey: ckey, Complete: true}
	if cfg.shards > 0 {
		rep.Shard = fmt.Sprintf("%d/%d", cfg.shard, cfg.shards)
	}
	finished := 0
	for _, o := range objs {
		if o.rep.Status == "" {
			rep.Complete = false
			continue
		}
		finished++
		rep.Objects = append(rep.Objects, o.rep)
	}
	rep.Elapsed = time.Since(start)
	if cfg.rules != nil {
		st := cfg.rules.Stats()
		rep.Rules = &st
		fmt.Fprintln(stderr, "k2opt: "+v.rules.summary(cfg.rules))
		// An interrupted run keeps the rule file as it was, so that the
		// resumed run finds its state (keyed by the file's hash).
		if rep.Complete && ctx.Err() == nil {
			if err := v.rules.save(cfg.rules); err != nil {
				return nil, err
			}
		}
	}
	if err := writeBatchReports(cfg.outDir, rep); err != nil {
		return nil, err
	}
	if fatal != nil {
		return nil, fatal
	}
	writeSummaryMarkdown(stdout, rep)
	if ctx.Err() != nil || !rep.Complete {
		return rep, problem("batch interrupted: %d of %d objects done; run the same command again to resume", finished, len(objs))
	}
	return rep, nil
}

// batchVerdict: exit 1 when some object could not be processed.
func batchVerdict(rep *batchReport) error {
	var bad []string
	for _, o := range rep.Objects {
		if o.Status == "error" {
			bad = append(bad, o.Error)
		}
	}
	if len(bad) > 0 {
		return problem("%d object(s) failed; first: %s", len(bad), bad[0])
	}
	return nil
}

func relOrAbs(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil {
		return r
	}
	return p
}

// searchProgram runs the search of one program and records it; nil when
// the run was interrupted (the partial result is not kept).
func searchProgram(ctx context.Context, cfg *batchConfig, o *batchObject, name string) *programState {
	// Each search gets its own parse of the object and its own prover (and
	// proof cache), so its result does not depend on what ran before it
	// in this process: resumed and sharded runs agree with one whole run.
	f, err := object.Parse(o.rep.Input, o.data)
	if err != nil {
		return &programState{Report: programReport{Report: synth.Report{Program: name}, Status: "unchanged", Reason: firstLine(err), WholeProof: "skipped"}}
	}
	fn := f.Function(name)
	prover := newProver(cfg.ProofTimeout)
	prover.proofs = cfg.rules
	defer prover.Close()
	opts := synth.Options{Objective: cfg.obj, Time: cfg.Time, Iters: cfg.Iters, Seed: cfg.Seed, Jobs: cfg.Jobs, Prover: prover, Rules: cfg.rules}
	pr := programReport{WholeProof: "skipped", KernelBefore: -1, KernelAfter: -1}
	st := &programState{}
	res, err := synth.OptimizeProgram(ctx, f, fn, opts)
	if ctx.Err() != nil {
		return nil
	}
	if classify(&pr, res, err, synth.Report{Program: name, SlotsBefore: fn.Slots(), SlotsAfter: fn.Slots()}) {
		rw := res.Rewrite
		st.Rewrite = &rw
	}
	st.Report = pr
	b, _ := json.Marshal(st)
	if err := object.WriteFile(programStatePath(o, name), b, ""); err != nil {
		// Not fatal: the program is searched again next time.
		st.Report.Reason = strings.TrimSpace(st.Report.Reason + " (state not saved: " + err.Error() + ")")
	}
	return st
}

func programStatePath(o *batchObject, name string) string {
	return filepath.Join(o.stateDir, "prog-"+name+".json")
}

func loadProgramState(o *batchObject, name string) (*programState, bool) {
	b, err := os.ReadFile(programStatePath(o, name))
	if err != nil {
		return nil, false
	}
	var st programState
	if json.Unmarshal(b, &st) != nil || st.Report.Program != name {
		return nil, false
	}
	return &st, true
}

// loadObjectState returns the recorded report of an object finished by an
// earlier run whose output is still in place.
func loadObjectState(o *batchObject, outDir string) (objectReport, bool) {
	b, err := os.ReadFile(filepath.Join(o.stateDir, "object.json"))
	if err != nil {
		return objectReport{}, false
	}
	var r objectReport
	if json.Unmarshal(b, &r) != nil || r.InputSHA256 != o.hash {
		return objectReport{}, false
	}
	out, err := os.ReadFile(filepath.Join(outDir, o.key))
	if err != nil {
		return objectReport{}, false
	}
	h := sha256.Sum256(out)
	if hex.EncodeToString(h[:]) != r.OutputSHA256 {
		return objectReport{}, false
	}
	r.Key, r.Input = o.key, o.rep.Input // the same content may sit elsewhere now
	return r, true
}

// finishObject runs the final gate (finalCheck) over the recorded program
// results of o, writes the output and marks the object done.
func finishObject(ctx context.Context, cfg *batchConfig, o *batchObject) error {
	start := time.Now()
	out := filepath.Join(cfg.outDir, o.key)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return usageErr("%v", err)
	}
	data := o.data
	rep := o.rep
	if o.f != nil {
		rr := runReport{}
		rws := map[string]object.Rewrite{}
		for _, name := range o.progs {
			st := o.states[name]
			rr.Programs = append(rr.Programs, st.Report)
			if st.Report.Status == "optimized" && st.Rewrite != nil {
				rws[name] = *st.Rewrite
			}
		}
		var err error
		data, err = finalCheck(ctx, o.f, rws, &rr, cfg.Verify == "kernel", cfg.ProofTimeout, cfg.rules)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			o.mu.Lock()
			o.rep.Status, o.rep.Error = "error", firstLine(err)
			o.rep.Programs = rr.Programs
			o.mu.Unlock()
			return nil
		}
		rep.Programs = rr.Programs
		rep.Status = "done"
		for _, p := range rr.Programs {
			rep.Elapsed += p.Elapsed
		}
	}
	if err := object.WriteFile(out, data, o.path); err != nil {
		return usageErr("write %s: %v", out, err)
	}
	h := sha256.Sum256(data)
	rep.OutputSHA256 = hex.EncodeToString(h[:])
	rep.Elapsed += time.Since(start)
	if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
		return usageErr("%v", err)
	}
	b, _ := json.MarshalIndent(&rep, "", "  ")
	if err := object.WriteFile(filepath.Join(o.stateDir, "object.json"), b, ""); err != nil {
		return usageErr("%v", err)
	}
	o.mu.Lock()
	o.rep = rep
	o.mu.Unlock()
	return nil
}

// batchFileName is NAME.EXT, or NAME-I-of-N.EXT for a shard.
func batchFileName(name, ext, shard string) string {
	if shard == "" {
		return name + ext
	}
	i, n, _ := strings.Cut(shard, "/")
	return fmt.Sprintf("%s-%s-of-%s%s", name, i, n, ext)
}

func writeBatchReports(dir string, rep *batchReport) error {
	sort.Slice(rep.Objects, func(i, j int) bool { return rep.Objects[i].Key < rep.Objects[j].Key })
	b, _ := json.MarshalIndent(rep, "", "  ")
	var md, cs strings.Builder
	writeSummaryMarkdown(&md, rep)
	writeSummaryCSV(&cs, rep)
	for _, f := range []struct {
		name, ext string
		data      []byte
	}{
		{"report", ".json", append(b, '\n')},
		{"summary", ".md", []byte(md.String())},
		{"summary", ".csv", []byte(cs.String())},
	} {
		p := filepath.Join(dir, batchFileName(f.name, f.ext, rep.Shard))
		if err := object.WriteFile(p, f.data, ""); err != nil {
			return usageErr("write %s: %v", p, err)
		}
	}
	return nil
}

// summaryRow is one line of the summary: deterministic columns only (no
// timings), so that resumed, sharded and whole runs give the same table.
type summaryRow struct {
	object, program, status                        string
	slotsBefore, slotsAfter, procBefore, procAfter int
	latBefore, latAfter                            float64
	proof                                          string
}

func summaryRows(rep *batchReport) []summaryRow {
	var rows []summaryRow
	for _, o := range rep.Objects {
		if len(o.Programs) == 0 {
			rows = append(rows, summaryRow{object: o.Key, program: "-", status: o.Status + ": " + o.Error, procBefore: -1, procAfter: -1})
			continue
		}
		for _, p := range o.Programs {
			st := p.Status
			if p.Reason != "" {
				st += ": " + p.Reason
			}
			rows = append(rows, summaryRow{object: o.Key, program: p.Program, status: st,
				slotsBefore: p.SlotsBefore, slotsAfter: p.SlotsAfter, procBefore: p.KernelBefore, procAfter: p.KernelAfter,
				latBefore: p.LatencyBefore, latAfter: p.LatencyAfter, proof: p.WholeProof})
		}
	}
	return rows
}

func procStr(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func writeSummaryMarkdown(w io.Writer, rep *batchReport) {
	fmt.Fprintln(w, "| object | program | slots before | slots after | change | est. latency before | after | verifier insns before | after | whole-program proof | status |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
	tb, ta, n, improved := 0, 0, 0, 0
	for _, r := range summaryRows(rep) {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %.1f%% | %.0f | %.0f | %s | %s | %s | %s |\n", r.object, r.program,
			r.slotsBefore, r.slotsAfter, pct(r.slotsBefore, r.slotsAfter), r.latBefore, r.latAfter,
			procStr(r.procBefore), procStr(r.procAfter), mdEscape(r.proof), mdEscape(r.status))
		tb += r.slotsBefore
		ta += r.slotsAfter
		if r.program != "-" {
			n++
		}
		if r.slotsAfter < r.slotsBefore {
			improved++
		}
	}
	fmt.Fprintf(w, "| **total** | %d programs, %d smaller | %d | %d | %.1f%% | | | | | | |\n", n, improved, tb, ta, pct(tb, ta))
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func writeSummaryCSV(w io.Writer, rep *batchReport) {
	cw := csv.NewWriter(w)
	cw.Write([]string{"object", "program", "slots_before", "slots_after", "change_pct", "latency_before", "latency_after",
		"processed_before", "processed_after", "whole_program_proof", "status"})
	for _, r := range summaryRows(rep) {
		cw.Write([]string{r.object, r.program, strconv.Itoa(r.slotsBefore), strconv.Itoa(r.slotsAfter),
			strconv.FormatFloat(pct(r.slotsBefore, r.slotsAfter), 'f', 2, 64),
			strconv.FormatFloat(r.latBefore, 'f', 1, 64), strconv.FormatFloat(r.latAfter, 'f', 1, 64),
			strconv.Itoa(r.procBefore), strconv.Itoa(r.procAfter), r.proof, r.status})
	}
	cw.Flush()
}

// progress draws a bar with an ETA on a terminal, and one line per
// finished object otherwise (CI logs).
type progress struct {
	mu              sync.Mutex
	w               io.Writer
	tty             bool
	start           time.Time
	tasks, finished int
	work, spent     int // slots
	objects         int
}

func newProgress(w io.Writer, tasks, work int) *progress {
	return &progress{w: w, tty: isTerminal(w), start: time.Now(), tasks: tasks, work: work}
}

func (p *progress) eta() string {
	if p.spent == 0 {
		return "?"
	}
	el := time.Since(p.start)
	rest := time.Duration(float64(el) * float64(p.work-p.spent) / float64(p.spent))
	return rest.Round(time.Second).String()
}

func (p *progress) program(slots int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	p.spent += slots
	if p.tty {
		const width = 30
		fill := width
		if p.tasks > 0 {
			fill = width * p.finished / p.tasks
		}
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d programs, %s elapsed, ETA %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
			p.finished, p.tasks, time.Since(p.start).Round(time.Second), p.eta())
	}
}

func (p *progress) object(o *batchObject) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objects++
	if p.tty {
		return
	}
	o.mu.Lock()
	r := o.rep
	o.mu.Unlock()
	if r.Status == "" {
		return // interrupted before the object was written
	}
	tb, ta := 0, 0
	for _, pr := range r.Programs {
		tb += pr.SlotsBefore
		ta += pr.SlotsAfter
	}
	fmt.Fprintf(p.w, "k2opt: [%d/%d programs, ETA %s] %s: %s, %d -> %d slots\n", p.finished, p.tasks, p.eta(), r.Key, r.Status, tb, ta)
}

// done ends the bar's line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.finished > 0 {
		fmt.Fprintln(p.w)
	}
}

// cmdBatchMerge combines the reports of the shards of one batch run.
func cmdBatchMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("batch merge", flag.ContinueOnError)
	out := fs.String("o", "", "write report.json, summary.md and summary.csv to `DIR` (required)")
	partial := fs.Bool("partial", false, "merge even when shards are missing or interrupted")
	help := fs.Bool("h", false, "show help")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *help {
		fmt.Fprint(stdout, "usage: k2opt batch merge -o DIR REPORT.json|OUTDIR...\n"+flagHelp(fs))
		return nil
	}
	if *out == "" {
		return usageErr("batch merge: missing -o DIR")
	}
	var paths []string
	for _, p := range pos {
		st, err := os.Stat(p)
		if err != nil {
			return usageErr("batch merge: %s: %v", p, errors.Unwrap(err))
		}
		if !st.IsDir() {
			paths = append(paths, p)
			continue
		}
		m, _ := filepath.Glob(filepath.Join(p, "report*.json"))
		if len(m) == 0 {
			return usageErr("batch merge: %s holds no report*.json", p)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		return usageErr("batch merge: no reports given")
	}
	merged, err := mergeReports(paths, *partial)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usageErr("batch merge: %v", err)
	}
	if err := writeBatchReports(*out, merged); err != nil {
		return err
	}
	writeSummaryMarkdown(stdout, merged)
	return batchVerdict(merged)
}

func mergeReports(paths []string, partial bool) (*batchReport, error) {
	var merged *batchReport
	shards := map[int]string{}
	nShards := 0
	byKey := map[string]string{} // key -> report holding it
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, usageErr("batch merge: %s: %v", p, errors.Unwrap(err))
		}
		var r batchReport
		if err := json.Unmarshal(b, &r); err != nil || r.Version == 0 {
			return nil, usageErr("batch merge: %s: not a k2opt batch report", p)
		}
		if r.Version != batchVersion {
			return nil, usageErr("batch merge: %s: report version %d, this k2opt reads %d", p, r.Version, batchVersion)
		}
		if merged == nil {
			merged = &batchReport{Version: r.Version, Config: r.Config, ConfigKey: r.ConfigKey, Complete: true}
		} else if r.ConfigKey != merged.ConfigKey {
			return nil, usageErr("batch merge: %s was made with other options or another k2opt build than %s (config %s vs %s)",
				p, paths[0], r.ConfigKey, merged.ConfigKey)
		}
		if r.Shard != "" {
			i, n, ok := parseShard(r.Shard)
			if !ok {
				return nil, usageErr("batch merge: %s: bad shard %q", p, r.Shard)
			}
			if nShards != 0 && n != nShards {
				return nil, usageErr("batch merge: %s is shard %s, others are of %d shards", p, r.Shard, nShards)
			}
			nShards = n
			if prev, dup := shards[i]; dup {
				return nil, usageErr("batch merge: shard %s given twice (%s and %s)", r.Shard, prev, p)
			}
			shards[i] = p
		}
		if !r.Complete {
			merged.Complete = false
			if !partial {
				return nil, problem("batch merge: %s is from an interrupted run; rerun that shard or pass --partial", p)
			}
		}
		for _, o := range r.Objects {
			if prev, dup := byKey[o.Key]; dup {
				return nil, usageErr("batch merge: object %s is in both %s and %s", o.Key, prev, p)
			}
			byKey[o.Key] = p
			merged.Objects = append(merged.Objects, o)
		}
		merged.Elapsed += r.Elapsed
	}
	if nShards > 0 && len(shards) != nShards {
		var missing []string
		for i := 1; i <= nShards; i++ {
			if shards[i] == "" {
				missing = append(missing, fmt.Sprintf("%d/%d", i, nShards))
			}
		}
		merged.Complete = false
		if !partial {
			return nil, problem("batch merge: missing shard(s) %s; pass --partial to merge anyway", strings.Join(missing, ", "))
		}
	}
	return merged, nil
}
