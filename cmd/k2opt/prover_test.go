package main

import (
	"context"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety"
	"github.com/k2opt/k2opt/synth"
)

// The adapter passes per-exit live-outs and per-byte dead stack to equiv.
func TestProverExits(t *testing.T) {
	dead := func(offs ...int) []bool {
		m := make([]bool, 512)
		for _, o := range offs {
			m[512+o] = true
		}
		return m
	}
	r23 := bpf.RegsOf(bpf.R2, bpf.R3)
	// r4 = r2; if w3 == w4 goto out  vs  if w3 == w2 goto out
	orig := []bpf.Insn{bpf.Mov64Reg(bpf.R4, bpf.R2), bpf.Jeq32Reg(bpf.R3, bpf.R4, 1)}
	cand := []bpf.Insn{bpf.Jeq32Reg(bpf.R3, bpf.R2, 1)}
	store := []bpf.Insn{bpf.StB(bpf.R10, -8, 1)}
	cases := []struct {
		name       string
		orig, cand []bpf.Insn
		liveOut    bpf.RegSet
		stackDead  []bool
		exits      []synth.QueryExit
		want       synth.Verdict
	}{
		{"r4 dead at both exits", orig, cand, r23, nil, []synth.QueryExit{{Live: r23}}, synth.Equivalent},
		{"r4 live at the out exit", orig, cand, r23, nil, []synth.QueryExit{{Live: r23 | bpf.RegsOf(bpf.R4)}}, synth.NotEquivalent},
		{"r4 live at the end", orig, cand, r23 | bpf.RegsOf(bpf.R4), nil, []synth.QueryExit{{Live: r23}}, synth.NotEquivalent},
		{"out exit not described", orig, cand, r23, nil, nil, synth.NotEquivalent},
		{"dead store to a dead byte", store, nil, r23, dead(-8), nil, synth.Equivalent},
		{"dead store, byte live", store, nil, r23, dead(-7), nil, synth.NotEquivalent},
		{"dead store, no mask", store, nil, r23, nil, nil, synth.NotEquivalent},
	}
	p := newProver(0)
	defer p.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &synth.Query{Program: "t", Type: ebpf.XDP, Orig: c.orig, Cand: c.cand,
				Window:    synth.Window{LiveIn: r23, LiveOut: c.liveOut},
				Entry:     &safety.Summary{Paths: 1},
				StackDead: c.stackDead, Exits: c.exits}
			v, _, err := p.Equivalent(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if v != c.want {
				t.Fatalf("verdict %s, want %s", v, c.want)
			}
		})
	}
}
