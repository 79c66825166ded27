package safety

import (
	"sync"

	"github.com/k2opt/k2opt/bpf"
)

// slab hands out T values from chunks that are reused across Verify calls:
// verification allocates a state per fork and per checkpoint, and the
// garbage collector's cost for those dominated verdict time. A value from
// get may hold stale data; callers overwrite it whole.
type slab[T any] struct {
	chunks [][]T
	ci     int // current chunk
	pos    int // next free index in it
}

func (s *slab[T]) get() *T {
	return &s.getN(1)[0]
}

// getN returns n contiguous values (cap n: append reallocates).
func (s *slab[T]) getN(n int) []T {
	for {
		if s.ci < len(s.chunks) {
			ch := s.chunks[s.ci]
			if s.pos+n <= len(ch) {
				out := ch[s.pos : s.pos+n : s.pos+n]
				s.pos += n
				return out
			}
			s.ci++
			s.pos = 0
			continue
		}
		size := max(64<<min(len(s.chunks), 8), n)
		s.chunks = append(s.chunks, make([]T, size))
	}
}

func (s *slab[T]) reset() { s.ci, s.pos = 0, 0 }

// arena is the memory of one Verify call (states, frames, checkpoints),
// recycled through arenaPool. Nothing in a Result points into it.
type arena struct {
	states slab[State]
	frames slab[Frame]
	ptrs   slab[*Frame]
	cps    slab[checkpoint]
	slots  slab[Slot]
	// scratch holds the per-instruction tables of setup.
	scratch scratch
}

// scratch is the per-instruction memory of one run, reused across Verify
// calls (the static tables live in the Program's cache).
type scratch struct {
	visited [][]*checkpoint
	ptrType []Type
	work    []pending
	ids     [][2]uint32
	// buildCache's temporaries
	atSlot []int32
	seen   []bool
	stack  []int32
	useDef []bpf.RegSet
}

// grow returns (*buf)[:n], reallocating when the capacity is short. The
// contents are stale: callers initialise what they read.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	*buf = (*buf)[:n]
	return *buf
}

// framePtrs returns a Frames slice of length n with room for the deepest
// call stack, so pushing a frame does not allocate.
func (a *arena) framePtrs(n int) []*Frame {
	return a.ptrs.getN(maxCallDepth + 1)[:n]
}

func (a *arena) reset() {
	a.states.reset()
	a.frames.reset()
	a.ptrs.reset()
	a.cps.reset()
	a.slots.reset()
}

var arenaPool = sync.Pool{New: func() any { return new(arena) }}
