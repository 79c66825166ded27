package bpf

// Liveness holds per-instruction live register sets.
type Liveness struct {
	In, Out []RegSet // indexed by instruction
}

// Liveness computes which registers are live before and after every
// instruction. Uses and definitions come from the opcode table, with these
// call rules: a helper call reads r1..rN (N from HelperArity, five when
// unknown) and writes r0-r5; a kfunc call reads r1-r5 and writes r0-r5; a
// bpf-to-bpf call reads the callee's live-in argument registers (r1-r5,
// computed to a fixed point across subprograms; all five when the target
// is unknown) and writes r0-r5. exit reads r0. r6-r9 survive calls.
func (c *CFG) Liveness() *Liveness {
	n := len(c.Insns)
	lv := &Liveness{In: make([]RegSet, n), Out: make([]RegSet, n)}
	use := make([]RegSet, n)
	def := make([]RegSet, n)
	callee := make([]int, n)
	for k, in := range c.Insns {
		use[k], def[k], callee[k] = in.CallReads(), in.Writes(), -1
		if in.IsPseudoCall() {
			callee[k] = c.calleeOf(k)
		}
	}
	blockIn := make([]RegSet, len(c.Blocks))
	for changed := true; changed; {
		changed = false
		// Reverse block order converges fast for mostly forward code.
		for b := len(c.Blocks) - 1; b >= 0; b-- {
			blk := &c.Blocks[b]
			var live RegSet
			for _, s := range blk.Succs {
				live |= blockIn[s]
			}
			for k := blk.End - 1; k >= blk.Start; k-- {
				lv.Out[k] = live
				u := use[k]
				if callee[k] >= 0 {
					u = blockIn[c.Subprogs[callee[k]].Entry] & callerSaved
				}
				live = live&^def[k] | u
				lv.In[k] = live
			}
			if live != blockIn[b] {
				blockIn[b] = live
				changed = true
			}
		}
	}
	return lv
}
