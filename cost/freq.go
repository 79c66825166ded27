package cost

import (
	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
)

// Frequencies estimates, per instruction of p, the fraction of the inputs
// on which it runs: the path weights of the latency model. It replays the
// inputs with branch-edge coverage on and propagates reachability through
// the CFG. Coverage is per run, not per iteration, so a loop body counts
// once per run that enters it. Instructions of subprograms count as
// reached whenever the program ran (calls are not traced). With no inputs
// every instruction weighs 1.
func Frequencies(p *interp.Program, inputs []*interp.Input) ([]float64, error) {
	cfg, err := bpf.NewCFG(p.Insns, nil)
	if err != nil {
		return nil, err
	}
	freq := make([]float64, len(p.Insns))
	if len(inputs) == 0 {
		for k := range freq {
			freq[k] = 1
		}
		return freq, nil
	}
	m := interp.NewMachine(p, nil)
	m.Coverage = true
	reached := make([]bool, len(cfg.Blocks))
	for _, in := range inputs {
		out := m.Run(in)
		BlockReach(cfg, out.Cover, reached)
		for b, ok := range reached {
			if ok {
				blk := &cfg.Blocks[b]
				for k := blk.Start; k < blk.End; k++ {
					freq[k]++
				}
			}
		}
	}
	for k := range freq {
		freq[k] /= float64(len(inputs))
	}
	return freq, nil
}

// BlockReach fills reached (one per block of cfg) with whether one run
// whose branch-edge coverage is cover (interp.Output.Cover) reached each
// block.
func BlockReach(cfg *bpf.CFG, cover []bool, reached []bool) {
	clear(reached)
	for _, sp := range cfg.Subprogs {
		reached[sp.Entry] = true
	}
	edge := func(p, s, i int) bool {
		blk := &cfg.Blocks[p]
		last := cfg.Insns[blk.End-1]
		if !last.IsCondJump() {
			return true
		}
		pc := cfg.Slot[blk.End-1]
		if 2*pc+1 >= len(cover) {
			return true
		}
		return cover[2*pc+i]
	}
	for changed := true; changed; {
		changed = false
		for b := range cfg.Blocks {
			if reached[b] {
				continue
			}
			for _, p := range cfg.Blocks[b].Preds {
				if !reached[p] {
					continue
				}
				succs := cfg.Blocks[p].Succs
				for i, s := range succs {
					if s == b && edge(p, s, i) {
						reached[b] = true
					}
				}
				if reached[b] {
					changed = true
					break
				}
			}
		}
	}
}
