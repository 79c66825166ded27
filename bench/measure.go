package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety/kernel"
)

// Options tune Measure. Zero fields take the defaults.
type Options struct {
	Repeat     uint32  // runs per BPF_PROG_TEST_RUN (default 20000)
	Trials     int     // trials per side (default 10)
	Inputs     int     // generated inputs per program (default 13: one per packet shape)
	Seed       uint64  // input generator seed (default 1)
	Confidence float64 // of the intervals (default 0.95)
	// Programs, when set, limits the measurement to these names.
	Programs []string
}

func (o *Options) withDefaults() Options {
	r := Options{Repeat: 20000, Trials: 10, Inputs: 13, Seed: 1, Confidence: 0.95}
	if o == nil {
		return r
	}
	if o.Repeat > 0 {
		r.Repeat = o.Repeat
	}
	if o.Trials > 0 {
		r.Trials = o.Trials
	}
	if o.Inputs > 0 {
		r.Inputs = o.Inputs
	}
	if o.Seed != 0 {
		r.Seed = o.Seed
	}
	if o.Confidence > 0 && o.Confidence < 1 {
		r.Confidence = o.Confidence
	}
	r.Programs = o.Programs
	return r
}

// Side is one object's figures for a program.
type Side struct {
	Loaded    bool      `json:"loaded"`
	Processed int       `json:"verifier_processed"` // -1 unknown
	JITBytes  int       `json:"jit_bytes"`          // -1 unknown
	XlatInsns int       `json:"xlated_insns"`       // translated (post-verifier) instructions, -1 unknown
	Latency   Stat      `json:"latency_ns"`         // per-trial mean ns/run over the inputs
	Samples   []float64 `json:"samples_ns,omitempty"`
}

// Program is the measurement of one program.
type Program struct {
	Object string `json:"object,omitempty"`
	Name   string `json:"program"`
	Type   string `json:"type"`
	Inputs int    `json:"inputs"` // inputs both sides ran
	Repeat uint32 `json:"repeat"`
	Before Side   `json:"before"`
	After  *Side  `json:"after,omitempty"`
	// Change is the paired per-trial latency change (after-before)/before
	// in percent; N is 0 when there is no after side or no inputs.
	Change Stat `json:"change_pct"`
	// Mismatch, when set, is an input on which the two sides returned
	// different values or packets (a cheap differential check).
	Mismatch string `json:"mismatch,omitempty"`
	Note     string `json:"note,omitempty"` // why latency was not measured
}

// Measure loads before (and after, when not nil) into the kernel and
// measures every program of before (see the package doc).
func Measure(before, after []byte, opts *Options) ([]Program, error) {
	o := opts.withDefaults()
	bo, err := kernel.Load(before, &kernel.Options{BriefRejectLog: true})
	if err != nil {
		return nil, fmt.Errorf("loading the original: %w", err)
	}
	defer bo.Close()
	var ao *kernel.Object
	if after != nil {
		ao, err = kernel.Load(after, &kernel.Options{BriefRejectLog: true})
		if err != nil {
			return nil, fmt.Errorf("loading the optimized object: %w", err)
		}
		defer ao.Close()
	}
	var out []Program
	for _, v := range bo.Verdicts {
		if v.Status == kernel.NotStandalone {
			continue
		}
		if len(o.Programs) > 0 && !slices.Contains(o.Programs, v.Program) {
			continue
		}
		out = append(out, measureProgram(bo, ao, v, &o))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func side(obj *kernel.Object, name string) Side {
	s := Side{Processed: -1, JITBytes: -1, XlatInsns: -1}
	if v, ok := obj.Verdict(name); ok {
		s.Processed = v.Processed
	}
	p := obj.Programs[name]
	if p == nil {
		return s
	}
	s.Loaded = true
	if info, err := p.Info(); err == nil {
		if n, err := info.JitedSize(); err == nil {
			s.JITBytes = int(n)
		}
		if n, err := info.TranslatedSize(); err == nil {
			s.XlatInsns = n / 8
		}
	}
	return s
}

// pktShapes is the number of packet kinds interp.GenPacket builds.
const pktShapes = interp.PktDNS + 1

// packetTypes take a packet as BPF_PROG_TEST_RUN data.
var packetTypes = map[ebpf.ProgramType]bool{
	ebpf.XDP: true, ebpf.SchedCLS: true, ebpf.SchedACT: true, ebpf.SocketFilter: true,
	ebpf.FlowDissector: true, ebpf.CGroupSKB: true, ebpf.LWTIn: true, ebpf.LWTOut: true, ebpf.LWTXmit: true,
}

func measureProgram(bo, ao *kernel.Object, v kernel.Verdict, o *Options) Program {
	pr := Program{Name: v.Program, Type: v.Type.String(), Repeat: o.Repeat, Before: side(bo, v.Program)}
	if ao != nil {
		s := side(ao, v.Program)
		pr.After = &s
	}
	switch {
	case !pr.Before.Loaded:
		pr.Note = "original not loaded: " + v.Status.String()
		return pr
	case pr.After != nil && !pr.After.Loaded:
		pr.Note = "optimized program not loaded"
		return pr
	case !kernel.Runnable(v.Type):
		pr.Note = fmt.Sprintf("%s programs cannot be test-run", v.Type)
		return pr
	}
	inputs, note := genInputs(bo, ao, v, o)
	pr.Inputs = len(inputs)
	if len(inputs) == 0 {
		pr.Note = note
		return pr
	}
	// Differential check on each input before timing.
	if ao != nil {
		for k, in := range inputs {
			rb, _ := bo.TestRun(v.Program, in)
			ra, _ := ao.TestRun(v.Program, in)
			if rb.Retval != ra.Retval || !bytes.Equal(rb.DataOut, ra.DataOut) {
				pr.Mismatch = fmt.Sprintf("input %d: retval %d vs %d", k, rb.Retval, ra.Retval)
				break
			}
		}
	}
	// One trial runs every input on both sides back to back, alternating
	// which side goes first, so that drift (frequency, other load) hits
	// both sides of a pair alike.
	var bs, as, ch []float64
	for t := range o.Trials {
		var b, a float64
		for k, in := range inputs {
			in.Repeat = o.Repeat
			order := []*kernel.Object{bo, ao}
			if (t+k)%2 == 1 {
				order = []*kernel.Object{ao, bo}
			}
			for _, obj := range order {
				if obj == nil {
					continue
				}
				r, err := obj.TestRun(v.Program, in)
				if err != nil {
					pr.Note = "test run: " + err.Error()
					return pr
				}
				if obj == bo {
					b += float64(r.Duration.Nanoseconds())
				} else {
					a += float64(r.Duration.Nanoseconds())
				}
			}
		}
		b /= float64(len(inputs))
		a /= float64(len(inputs))
		bs = append(bs, b)
		if ao != nil {
			as = append(as, a)
			if b > 0 {
				ch = append(ch, 100*(a-b)/b)
			}
		}
	}
	pr.Before.Latency, pr.Before.Samples = Summarize(bs, o.Confidence), bs
	if ao != nil {
		pr.After.Latency, pr.After.Samples = Summarize(as, o.Confidence), as
		pr.Change = Summarize(ch, o.Confidence)
	}
	if pr.Before.Latency.Mean == 0 {
		pr.Note = "the kernel reports no duration for this program type"
	}
	return pr
}

// genInputs returns up to o.Inputs inputs that both sides' test runs take.
func genInputs(bo, ao *kernel.Object, v kernel.Verdict, o *Options) ([]kernel.RunOptions, string) {
	rng := rand.New(rand.NewPCG(o.Seed, 0x6b326f7074))
	var cands []kernel.RunOptions
	if packetTypes[v.Type] {
		for k := range o.Inputs {
			cands = append(cands, kernel.RunOptions{Data: interp.GenPacket(rng, k%pktShapes)})
		}
	} else {
		cands = append(cands, kernel.RunOptions{}) // no packet: the runner's default context
	}
	var keep []kernel.RunOptions
	var lastErr error
	for _, in := range cands {
		if _, err := bo.TestRun(v.Program, in); err != nil {
			lastErr = err
			continue
		}
		if ao != nil {
			if _, err := ao.TestRun(v.Program, in); err != nil {
				lastErr = err
				continue
			}
		}
		keep = append(keep, in)
	}
	if len(keep) == 0 {
		msg := "no input the test run accepts"
		if lastErr != nil {
			msg += ": " + lastErr.Error()
		}
		return nil, msg
	}
	return keep, ""
}
