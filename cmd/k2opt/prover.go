package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/synth"
)

// zProver answers synth's window queries with equiv's Z3 checker. Checkers
// are not goroutine-safe, so each chain borrows one from a pool; the proof
// cache is shared by all of them.
type zProver struct {
	pool    sync.Pool
	mu      sync.Mutex
	all     []*equiv.Checker
	cache   *equiv.Cache
	timeout time.Duration
	hits    atomic.Int64
	checks  atomic.Int64
	// proofs (nil: none) keeps Equal window verdicts between runs, in the
	// rule file, under a hash of the query's canonical key (the same key
	// the in-memory cache answers from: both programs, preconditions,
	// every exit's live registers and dead stack). A rule applied again
	// is then checked against its stored proof instead of the solver.
	proofs *synth.RuleSet
}

func newProver(timeout time.Duration) *zProver {
	p := &zProver{cache: equiv.NewCache(0), timeout: timeout}
	p.pool.New = func() any {
		c := equiv.NewChecker(&equiv.Options{Timeout: p.timeout})
		c.Cache = p.cache
		p.mu.Lock()
		p.all = append(p.all, c)
		p.mu.Unlock()
		return c
	}
	return p
}

// Close releases every Z3 context the prover made.
func (p *zProver) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.all {
		c.Close()
	}
	p.all = nil
}

func (p *zProver) CacheHits() int64 { return p.hits.Load() }

// Equivalent implements synth.Prover. A window whose live-in registers have
// a type the precondition cannot state exactly is Unknown: never accepted.
func (p *zProver) Equivalent(ctx context.Context, q *synth.Query) (synth.Verdict, *interp.Input, error) {
	w := &equiv.Window{
		A: q.Orig, B: q.Cand,
		LiveIn: q.Window.LiveIn, LiveOut: q.Window.LiveOut,
		Type: q.Type,
	}
	if q.Entry == nil {
		debugf("decline: no entry state")
		return synth.Unknown, nil, nil
	}
	pre, need, ok := equiv.PreForWindow(q.Entry, q.Window.LiveIn, q.Orig, q.Cand)
	if !ok {
		debugf("decline: live-in types %v", liveTypes(q.Entry, need))
		return synth.Unknown, nil, nil
	}
	w.Pre = pre
	w.Exits = windowExits(q)
	var pkey string
	if p.proofs != nil {
		sum := sha256.Sum256([]byte(p.cache.Key(w)))
		pkey = "window:" + hex.EncodeToString(sum[:16])
		if v, ok := p.proofs.WholeProof(pkey); ok && v == "equal" {
			p.hits.Add(1)
			return synth.Equivalent, nil, nil
		}
	}
	c := p.pool.Get().(*equiv.Checker)
	defer p.pool.Put(c)
	p.checks.Add(1)
	res, err := c.Window(ctx, w)
	if err != nil {
		return synth.Unknown, nil, err
	}
	if res.Cached {
		p.hits.Add(1)
	}
	switch res.Verdict {
	case equiv.Equal:
		if pkey != "" {
			p.proofs.SetWholeProof(pkey, "equal")
		}
		return synth.Equivalent, nil, nil
	case equiv.Unknown:
		debugf("unknown: %s (%s %v, live-in %v)", res.Reason, q.Program, q.Window, liveTypes(q.Entry, need))
	case equiv.NotEqual:
		if res.Counterexample != nil && res.Counterexample.Window {
			return synth.NotEquivalent, res.Counterexample.Input, nil
		}
		return synth.NotEquivalent, nil, nil
	}
	return synth.Unknown, nil, nil
}

// windowExits maps synth's exits onto equiv's exit codes: the window's end
// (a jump to len in slots) is equiv exit code 1 = Exits[0]; a jump to
// len+j leaves by q.Exits[j-1], equiv exit code 1+j = Exits[j]. Both use
// the same dead-stack convention (byte i is r10-len(mask)+i).
func windowExits(q *synth.Query) []equiv.WindowExit {
	out := make([]equiv.WindowExit, 0, 1+len(q.Exits))
	out = append(out, equiv.WindowExit{LiveOut: q.Window.LiveOut, StackDead: q.StackDead})
	for _, e := range q.Exits {
		out = append(out, equiv.WindowExit{LiveOut: e.Live, StackDead: e.StackDead})
	}
	return out
}

func liveTypes(s *safety.Summary, live bpf.RegSet) []string {
	var out []string
	for _, r := range live.Regs() {
		out = append(out, fmt.Sprintf("r%d=%v", r, s.Regs[r]))
	}
	return out
}

var debugProver = os.Getenv("K2OPT_DEBUG") == "prover"

func debugf(format string, a ...any) {
	if debugProver {
		fmt.Fprintf(os.Stderr, "prover: "+format+"\n", a...)
	}
}
