package bpf

import (
	"reflect"
	"strings"
	"testing"
)

func blockSpans(c *CFG) [][2]int {
	var out [][2]int
	for _, b := range c.Blocks {
		out = append(out, [2]int{b.Start, b.End})
	}
	return out
}

func TestCFGShapes(t *testing.T) {
	tests := []struct {
		name      string
		prog      []Insn
		spans     [][2]int
		succs     [][]int
		backEdges []Edge
		subprogs  []Subprog
		reachable []bool
	}{
		{
			name: "diamond",
			prog: []Insn{
				JeqImm(R1, 0, 2), // 0 -> 3
				Mov64Imm(R0, 1),  // 1
				Ja(1),            // 2 -> 4
				Mov64Imm(R0, 2),  // 3
				Exit(),           // 4
			},
			spans:     [][2]int{{0, 1}, {1, 3}, {3, 4}, {4, 5}},
			succs:     [][]int{{1, 2}, {3}, {3}, nil},
			subprogs:  []Subprog{{0, 5, 0}},
			reachable: []bool{true, true, true, true},
		},
		{
			name: "loop",
			prog: []Insn{
				Mov64Imm(R0, 0),
				Add64Imm(R0, 1),
				JltImm(R0, 10, -2), // -> 1
				Exit(),
			},
			spans:     [][2]int{{0, 1}, {1, 3}, {3, 4}},
			succs:     [][]int{{1}, {2, 1}, nil},
			backEdges: []Edge{{1, 1}},
			subprogs:  []Subprog{{0, 4, 0}},
			reachable: []bool{true, true, true},
		},
		{
			name: "may_goto loop over an ld_imm64",
			prog: []Insn{
				Mov64Imm(R0, 0),  // slot 0
				MayGoto(4),       // slot 1 -> slot 6
				LdImm64(R1, 1),   // slots 2-3
				Add64Reg(R0, R1), // slot 4
				Ja(-5),           // slot 5 -> slot 1
				Exit(),           // slot 6
			},
			spans:     [][2]int{{0, 1}, {1, 2}, {2, 5}, {5, 6}},
			succs:     [][]int{{1}, {2, 3}, {1}, nil},
			backEdges: []Edge{{2, 1}},
			subprogs:  []Subprog{{0, 6, 0}},
			reachable: []bool{true, true, true, true},
		},
		{
			name: "pseudo call and dead code",
			prog: []Insn{
				Mov64Imm(R1, 1),
				CallLocal(3),    // slot 1 -> slot 5
				Ja(1),           // skips 3
				Mov64Imm(R0, 7), // unreachable
				Exit(),
				Mov64Reg(R0, R1), // subprog 1
				Exit(),
				Mov64Imm(R0, 1), // subprog 2 (entry given by options), never called
				Exit(),
			},
			spans:     [][2]int{{0, 3}, {3, 4}, {4, 5}, {5, 7}, {7, 9}},
			succs:     [][]int{{2}, {2}, nil, nil, nil},
			subprogs:  []Subprog{{0, 5, 0}, {5, 7, 3}, {7, 9, 4}},
			reachable: []bool{true, false, true, true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts *CFGOptions
			if tt.name == "pseudo call and dead code" {
				opts = &CFGOptions{Entries: []int{7}}
			}
			c, err := NewCFG(tt.prog, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := blockSpans(c); !reflect.DeepEqual(got, tt.spans) {
				t.Errorf("blocks = %v, want %v", got, tt.spans)
			}
			for b, want := range tt.succs {
				if b < len(c.Blocks) && !reflect.DeepEqual(c.Blocks[b].Succs, want) {
					t.Errorf("block %d succs = %v, want %v", b, c.Blocks[b].Succs, want)
				}
			}
			// Preds mirror Succs.
			for _, b := range c.Blocks {
				for _, s := range b.Succs {
					found := false
					for _, p := range c.Blocks[s].Preds {
						found = found || p == b.ID
					}
					if !found {
						t.Errorf("block %d -> %d has no matching pred", b.ID, s)
					}
				}
			}
			if !reflect.DeepEqual(c.BackEdges, tt.backEdges) {
				t.Errorf("back edges = %v, want %v", c.BackEdges, tt.backEdges)
			}
			if c.HasLoops() != (len(tt.backEdges) > 0) {
				t.Errorf("HasLoops = %v", c.HasLoops())
			}
			if !reflect.DeepEqual(c.Subprogs, tt.subprogs) {
				t.Errorf("subprogs = %v, want %v", c.Subprogs, tt.subprogs)
			}
			for b, want := range tt.reachable {
				if c.Blocks[b].Reachable != want {
					t.Errorf("block %d reachable = %v, want %v", b, c.Blocks[b].Reachable, want)
				}
			}
		})
	}
}

func TestCFGErrors(t *testing.T) {
	tests := []struct {
		name string
		prog []Insn
		want string
	}{
		{"falls off the end", []Insn{Mov64Imm(R0, 0)}, "falls through"},
		{"subprogram falls into the next", []Insn{CallLocal(1), Mov64Imm(R0, 0), Mov64Imm(R0, 1), Exit()}, "falls through"},
		{"jump out of the subprogram", []Insn{CallLocal(2), JeqImm(R1, 0, 1), Exit(), Mov64Imm(R0, 0), Exit()}, "leaves the subprogram"},
		{"jump past the end", []Insn{Ja(5), Exit()}, "outside the program"},
		{"jump into ld_imm64", []Insn{Ja(1), LdImm64(R0, 1), Exit()}, "second slot"},
		{"bad opcode", []Insn{{Code: 0xff}, Exit()}, "unknown opcode 0xff"},
		{"empty", nil, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCFG(tt.prog, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCFG error = %v, want it to mention %q", err, tt.want)
			}
			if _, ok := err.(*DecodeError); !ok {
				t.Errorf("error is %T, want *DecodeError", err)
			}
		})
	}
}

func TestCFGOnObjects(t *testing.T) {
	n := 0
	for _, path := range testObjects(t) {
		for _, s := range progSections(t, path) {
			insns, err := Decode(s.code, s.order)
			if err != nil {
				continue // reported by the round-trip test
			}
			c, err := NewCFG(insns, &CFGOptions{External: s.ext})
			if err != nil {
				t.Errorf("%s: section %s: %v", path, s.name, err)
				continue
			}
			n++
			// Every instruction is in exactly the block BlockOf says.
			for k := range insns {
				b := c.Blocks[c.BlockOf[k]]
				if k < b.Start || k >= b.End {
					t.Fatalf("%s:%s: insn %d in block %v", path, s.name, k, b)
				}
			}
			lv := c.Liveness()
			calls := false
			for _, in := range insns {
				calls = calls || in.Op() == OpCallKfunc || in.Op() == OpCallLocal
			}
			// A program's entry reads only the context (and the frame
			// pointer). Not checked where calls to functions of unknown
			// arity (kfuncs, relocated calls) make r1-r5 conservatively
			// live, nor in .text, which holds functions with arguments.
			if s.name != ".text" && !calls && lv.In[0]&^RegsOf(R1, R10) != 0 {
				t.Errorf("%s:%s: registers live at entry: %v", path, s.name, lv.In[0])
			}
		}
	}
	t.Logf("built CFG and liveness for %d sections", n)
}
