package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/equiv"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/smt"
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
	for _, r := range q.Window.LiveIn.Regs() {
		if r == bpf.R10 {
			continue
		}
		if q.Entry == nil {
			return synth.Unknown, nil, nil
		}
		pre, ok := regPre(q.Entry.Regs[r])
		if !ok {
			debugf("decline: r%d is %v", r, q.Entry.Regs[r])
			return synth.Unknown, nil, nil
		}
		w.Pre[r] = pre
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
		return synth.Equivalent, nil, nil
	case equiv.Unknown:
		debugf("unknown: %s", res.Reason)
	case equiv.NotEqual:
		if res.Counterexample != nil && res.Counterexample.Window {
			return synth.NotEquivalent, res.Counterexample.Input, nil
		}
		return synth.NotEquivalent, nil, nil
	}
	return synth.Unknown, nil, nil
}

// regPre turns safety's joined abstract state of a live-in register into an
// equivalence precondition. Only what the precondition states exactly is
// accepted: scalars (known bits, unsigned bounds) and stack, context and
// packet pointers with a constant offset; anything else declines.
func regPre(r safety.Reg) (equiv.RegPre, bool) {
	switch r.Type {
	case safety.NotInit:
		// Uninitialised on entry (liveness over-approximates, e.g. helper
		// arity): any value. Sound: a candidate that reads it differs on
		// some value, and the static check rejects uninitialised reads.
		return equiv.AnyScalar(), true
	case safety.ScalarValue:
		pre := equiv.RegPre{Kind: smt.Scalar, Known: ^r.V.T.Mask, Value: r.V.T.Value & ^r.V.T.Mask}
		if r.V.Umax != ^uint64(0) && r.V.Umax != 0 {
			pre.Umin, pre.Umax = r.V.Umin, r.V.Umax
		}
		return pre, true
	case safety.PtrStack:
		if r.Frame != 0 || !r.V.IsConst() || r.V.T.Value != 0 {
			return equiv.RegPre{}, false
		}
		return equiv.RegPre{Kind: smt.PtrStack, Off: int64(r.Off)}, true
	case safety.PtrCtx:
		if !r.V.IsConst() || r.V.T.Value != 0 {
			return equiv.RegPre{}, false
		}
		return equiv.RegPre{Kind: smt.PtrCtx, Off: int64(r.Off)}, true
	case safety.PtrPacket:
		if r.ID != 0 || !r.V.IsConst() || r.V.T.Value != 0 {
			return equiv.RegPre{}, false
		}
		rng := int64(r.Range) - int64(r.Off)
		if rng < 0 {
			rng = 0
		}
		return equiv.RegPre{Kind: smt.PtrPacket, Off: int64(r.Off), Range: rng}, true
	}
	return equiv.RegPre{}, false
}

var debugProver = os.Getenv("K2OPT_DEBUG") == "prover"

func debugf(format string, a ...any) {
	if debugProver {
		fmt.Fprintf(os.Stderr, "prover: "+format+"\n", a...)
	}
}
