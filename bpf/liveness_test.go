package bpf

import "testing"

func TestLiveness(t *testing.T) {
	tests := []struct {
		name    string
		prog    []Insn
		liveIn  map[int]RegSet
		liveOut map[int]RegSet
	}{
		{
			name: "straight line",
			prog: []Insn{Mov64Reg(R0, R1), Add64Reg(R0, R2), Mov64Imm(R3, 1), Exit()},
			liveIn: map[int]RegSet{
				0: RegsOf(R1, R2), 1: RegsOf(R0, R2), 2: RegsOf(R0), 3: RegsOf(R0),
			},
			liveOut: map[int]RegSet{2: RegsOf(R0), 3: 0},
		},
		{
			name: "helper arity: map_lookup_elem reads r1, r2 only",
			prog: []Insn{
				Mov64Imm(R3, 5),  // dead: helper 1 takes two arguments
				Call(1),          // r0 = lookup(r1, r2)
				Mov64Reg(R0, R6), // r6 survives the call
				Exit(),
			},
			liveIn:  map[int]RegSet{0: RegsOf(R1, R2, R6), 1: RegsOf(R1, R2, R6)},
			liveOut: map[int]RegSet{0: RegsOf(R1, R2, R6)},
		},
		{
			name: "unknown helper reads all five",
			prog: []Insn{Call(99999), Exit()},
			liveIn: map[int]RegSet{
				0: RegsOf(R1, R2, R3, R4, R5),
			},
		},
		{
			name: "call clobbers r1-r5",
			prog: []Insn{Mov64Reg(R0, R2), Call(5), Add64Reg(R0, R2), Exit()},
			// The call defines (clobbers) r2, so r2 is not live into it.
			liveIn: map[int]RegSet{0: RegsOf(R2), 1: 0, 2: RegsOf(R0, R2)},
		},
		{
			name: "bpf-to-bpf call reads the callee's live-in arguments",
			prog: []Insn{
				Mov64Imm(R1, 1),
				Mov64Imm(R2, 2), // dead: the callee reads only r1
				CallLocal(2),    // -> insn 5
				Add64Reg(R0, R7),
				Exit(),
				Mov64Reg(R0, R1), // callee
				Exit(),
			},
			liveIn:  map[int]RegSet{0: RegsOf(R7), 1: RegsOf(R1, R7), 2: RegsOf(R1, R7), 5: RegsOf(R1)},
			liveOut: map[int]RegSet{1: RegsOf(R1, R7)},
		},
		{
			name: "loop carries liveness around the back edge",
			prog: []Insn{
				Mov64Imm(R0, 0),
				Add64Reg(R0, R6),
				JltImm(R0, 10, -2),
				Exit(),
			},
			liveIn:  map[int]RegSet{0: RegsOf(R6), 1: RegsOf(R0, R6), 2: RegsOf(R0, R6)},
			liveOut: map[int]RegSet{2: RegsOf(R0, R6)},
		},
		{
			name: "ld_abs reads r6 implicitly",
			prog: []Insn{LdAbsB(12), Exit()},
			liveIn: map[int]RegSet{
				0: RegsOf(R6),
			},
		},
		{
			name: "cmpxchg reads r0",
			prog: []Insn{Atomic(OpAtomicCmpxchgDW, R10, R2, -8), Exit()},
			liveIn: map[int]RegSet{
				0: RegsOf(R0, R2, R10),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCFG(tt.prog, nil)
			if err != nil {
				t.Fatal(err)
			}
			lv := c.Liveness()
			for k, want := range tt.liveIn {
				if lv.In[k] != want {
					t.Errorf("live-in of %d (%v) = %v, want %v", k, tt.prog[k], lv.In[k], want)
				}
			}
			for k, want := range tt.liveOut {
				if lv.Out[k] != want {
					t.Errorf("live-out of %d (%v) = %v, want %v", k, tt.prog[k], lv.Out[k], want)
				}
			}
		})
	}
}
