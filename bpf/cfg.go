package bpf

import (
	"fmt"
	"sort"
)

// Block is a basic block: the instructions insns[Start:End] (indices into
// the instruction slice, not slots).
type Block struct {
	ID         int
	Start, End int
	Succs      []int // successor block ids: fall-through first, then the jump target
	Preds      []int
	Subprog    int  // index into CFG.Subprogs
	Exit       bool // ends with exit
	Reachable  bool // reachable from subprogram 0, through calls too
	LoopHeader bool // target of a back edge
}

// Subprog is a function: instructions [Start, End) and its entry block.
type Subprog struct {
	Start, End int // instruction indices
	Entry      int // block id
}

// Edge is a control-flow edge between blocks.
type Edge struct{ From, To int }

// CFG is the control-flow graph of a program: basic blocks, edges,
// subprogram boundaries, reachability and back edges. Calls do not end a
// block; ld_abs/ld_ind may leave the program (r0 = 0) without an edge.
type CFG struct {
	Insns     []Insn
	Slot      []int // slot of each instruction; Slot[len(Insns)] = total slots
	Blocks    []Block
	BlockOf   []int // instruction index -> block id
	Subprogs  []Subprog
	BackEdges []Edge

	external External
}

// External marks, by slot, instructions whose pseudo-call or pseudo-func
// imm is resolved by a relocation (in an object file: a call into another
// section such as .text), so that pc+1+imm does not name an instruction of
// this slice. The object layer fills it from the relocation section.
type External map[int]bool

// CFGOptions adds knowledge the instructions do not carry.
type CFGOptions struct {
	// Entries are extra subprogram entry slots, e.g. from the object's
	// STT_FUNC symbols when calls are still relocation placeholders.
	Entries []int
	// External lists relocated calls and function references.
	External External
}

// localTarget returns the in-slice target slot of a pseudo call or
// pseudo-func load at instruction k, unless it is external.
func (c *CFG) localTarget(k int) (int, bool) {
	if c.external[c.Slot[k]] {
		return 0, false
	}
	return c.Insns[k].CallTarget(c.Slot[k])
}

// NewCFG builds the control-flow graph of insns. It fails like Check, and
// also when a jump leaves its subprogram or a subprogram's last instruction
// falls through (the kernel's "last insn is not an exit or jmp").
func NewCFG(insns []Insn, opts *CFGOptions) (*CFG, error) {
	if err := Check(insns); err != nil {
		return nil, err
	}
	if len(insns) == 0 {
		return nil, &DecodeError{Slot: 0, Reason: "empty program"}
	}
	c := &CFG{Insns: insns, Slot: SlotOffsets(insns)}
	if opts != nil {
		c.external = opts.External
	}
	nslots := c.Slot[len(insns)]
	idx := make([]int, nslots+1) // slot -> instruction index (-1 for ld_imm64 second slots)
	for k := range idx {
		idx[k] = -1
	}
	for k, s := range c.Slot {
		idx[s] = k
	}
	indexOf := func(slot int) int {
		if slot < 0 || slot >= nslots {
			return -1
		}
		return idx[slot]
	}

	// Subprogram entries: 0, pseudo-call and pseudo-func targets, options.
	entry := map[int]bool{0: true}
	for k := range insns {
		if t, ok := c.localTarget(k); ok {
			if ti := indexOf(t); ti >= 0 && ti != k {
				entry[ti] = true
			}
		}
	}
	if opts != nil {
		for _, s := range opts.Entries {
			ti := indexOf(s)
			if ti < 0 {
				return nil, &DecodeError{Slot: s, Reason: "subprogram entry is not an instruction"}
			}
			entry[ti] = true
		}
	}
	starts := make([]int, 0, len(entry))
	for k := range entry {
		starts = append(starts, k)
	}
	sort.Ints(starts)
	subOf := make([]int, len(insns))
	for n, s := range starts {
		end := len(insns)
		if n+1 < len(starts) {
			end = starts[n+1]
		}
		c.Subprogs = append(c.Subprogs, Subprog{Start: s, End: end})
		for k := s; k < end; k++ {
			subOf[k] = n
		}
		last := insns[end-1]
		if op := last.Op(); op != OpExit && op != OpJa && op != OpGotol {
			return nil, &DecodeError{Slot: c.Slot[end-1], Reason: "last instruction of a subprogram falls through"}
		}
	}

	// Leaders.
	leader := make([]bool, len(insns)+1)
	for _, s := range starts {
		leader[s] = true
	}
	for k, in := range insns {
		if t, ok := in.JumpTarget(c.Slot[k]); ok {
			ti := indexOf(t)
			if subOf[ti] != subOf[k] {
				return nil, &DecodeError{Slot: c.Slot[k], Reason: fmt.Sprintf("jump to slot %d leaves the subprogram", t)}
			}
			leader[ti] = true
			leader[k+1] = true
		} else if in.IsExit() {
			leader[k+1] = true
		}
	}
	c.BlockOf = make([]int, len(insns))
	for k := 0; k < len(insns); {
		end := k + 1
		for end < len(insns) && !leader[end] {
			end++
		}
		id := len(c.Blocks)
		c.Blocks = append(c.Blocks, Block{ID: id, Start: k, End: end, Subprog: subOf[k]})
		for j := k; j < end; j++ {
			c.BlockOf[j] = id
		}
		k = end
	}
	for n := range c.Subprogs {
		c.Subprogs[n].Entry = c.BlockOf[c.Subprogs[n].Start]
	}

	// Edges.
	for b := range c.Blocks {
		blk := &c.Blocks[b]
		lastK := blk.End - 1
		last := insns[lastK]
		add := func(to int) {
			for _, s := range blk.Succs {
				if s == to {
					return
				}
			}
			blk.Succs = append(blk.Succs, to)
		}
		switch {
		case last.IsExit():
			blk.Exit = true
		case last.IsUncondJump():
			t, _ := last.JumpTarget(c.Slot[lastK])
			add(c.BlockOf[indexOf(t)])
		case last.IsCondJump():
			add(c.BlockOf[blk.End])
			t, _ := last.JumpTarget(c.Slot[lastK])
			add(c.BlockOf[indexOf(t)])
		default:
			add(c.BlockOf[blk.End]) // cannot be past the end: checked above
		}
	}
	for b := range c.Blocks {
		for _, s := range c.Blocks[b].Succs {
			c.Blocks[s].Preds = append(c.Blocks[s].Preds, b)
		}
	}
	c.findBackEdges()
	c.markReachable(indexOf)
	return c, nil
}

// findBackEdges runs an iterative DFS from each subprogram entry; an edge to
// a block on the DFS stack is a back edge.
func (c *CFG) findBackEdges() {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(c.Blocks))
	type frame struct{ b, next int }
	for _, sp := range c.Subprogs {
		if color[sp.Entry] != white {
			continue
		}
		stack := []frame{{sp.Entry, 0}}
		color[sp.Entry] = grey
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			succs := c.Blocks[f.b].Succs
			if f.next == len(succs) {
				color[f.b] = black
				stack = stack[:len(stack)-1]
				continue
			}
			s := succs[f.next]
			f.next++
			switch color[s] {
			case white:
				color[s] = grey
				stack = append(stack, frame{s, 0})
			case grey:
				c.BackEdges = append(c.BackEdges, Edge{f.b, s})
				c.Blocks[s].LoopHeader = true
			}
		}
	}
}

// markReachable walks from subprogram 0, entering callees through pseudo
// calls and pseudo-func loads.
func (c *CFG) markReachable(indexOf func(int) int) {
	work := []int{c.Subprogs[0].Entry}
	c.Blocks[work[0]].Reachable = true
	for len(work) > 0 {
		b := work[len(work)-1]
		work = work[:len(work)-1]
		visit := func(to int) {
			if !c.Blocks[to].Reachable {
				c.Blocks[to].Reachable = true
				work = append(work, to)
			}
		}
		for _, s := range c.Blocks[b].Succs {
			visit(s)
		}
		for k := c.Blocks[b].Start; k < c.Blocks[b].End; k++ {
			if t, ok := c.localTarget(k); ok {
				if ti := indexOf(t); ti >= 0 {
					visit(c.BlockOf[ti])
				}
			}
		}
	}
}

// HasLoops reports whether any back edge exists.
func (c *CFG) HasLoops() bool { return len(c.BackEdges) > 0 }

// SubprogOf returns the subprogram index of instruction k.
func (c *CFG) SubprogOf(k int) int { return c.Blocks[c.BlockOf[k]].Subprog }

// calleeOf returns the subprogram a pseudo call at instruction k enters, or -1.
func (c *CFG) calleeOf(k int) int {
	t, ok := c.localTarget(k)
	if !ok || !c.Insns[k].IsPseudoCall() {
		return -1
	}
	n := sort.Search(len(c.Subprogs), func(n int) bool { return c.Slot[c.Subprogs[n].Start] >= t })
	if n < len(c.Subprogs) && c.Slot[c.Subprogs[n].Start] == t {
		return n
	}
	return -1
}
