package calibrate

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
)

// Bench is one generated microbenchmark: an XDP program whose body runs a
// known number of instructions of each feature.
type Bench struct {
	Name   string
	Insns  []bpf.Insn
	Packet []byte // the test-run packet (PacketLen bytes)
	// Counts are the body's executed instructions per feature (a jump's
	// skipped filler is not counted).
	Counts [cost.NumFeatures]int
	// BodyStart and BodyEnd delimit the body in Insns (indices, not slots).
	// The prologue and epilogue around it are the same in every program.
	BodyStart, BodyEnd int
}

// Layout of the generated programs.
const (
	// PacketLen is the size of the test packet; the prologue checks it.
	PacketLen = 256
	// Packet bytes below pktStoreLo are never written: the runner reuses
	// the packet across repeats and r7 is loaded from bytes 0-3.
	pktStoreLo = 64
	pktStoreHi = 240 // the epilogue writes 240-255
	stackBytes = 128 // the prologue initialises r10-128 .. r10-1
	// RetPass is what a program returns when its body ran (XDP_PASS);
	// XDP_DROP means the packet was too short.
	RetPass = 2
	retDrop = 1
)

// Registers: r6 ctx, r7 the jump comparand (a packet word the verifier
// cannot know, never written), r9 the packet; r0-r5 and r8 are the working
// set. Calls clobber r1-r5; r0 and r8 are always initialised scalars.
const (
	regCtx   = bpf.R6
	regCmp   = bpf.R7
	regChain = bpf.R8
	regPkt   = bpf.R9
)

var working = []bpf.Reg{bpf.R0, bpf.R1, bpf.R2, bpf.R3, bpf.R4, bpf.R5, regChain}

// GenOptions size the generated programs.
type GenOptions struct {
	// Include is the probability that a feature appears in a program at
	// all (default 0.6); absent features make the columns independent.
	Include float64
	// Scale multiplies every feature's maximum count (default 1): the
	// maxima are 150 for cheap features, 75 for mul, 30 for division,
	// modulo and atomics, 4 for calls (~15 ns each here): few expensive
	// instructions keep their noise from drowning the cheap ones. Bodies
	// then run 300-1,500 instructions, the size of real programs; at twice
	// that, the per-instruction cost grew with size (the linear fit's
	// intercept went negative) as the JIT image outgrew the front end's
	// caches.
	Scale float64
}

// maxCount is the upper bound of a feature's count in one program at
// Scale 1: expensive features fewer, so that no feature's time dominates.
func maxCount(f cost.Feature) int {
	switch f {
	case cost.FeatMul:
		return 75
	case cost.FeatDiv, cost.FeatMod, cost.FeatSDiv, cost.FeatSMod, cost.FeatAtomic:
		return 30
	case cost.FeatCall:
		return 4
	}
	return 150
}

// Generate builds n microbenchmarks from rng. Every feature appears in at
// least one program, with random counts, so a least-squares fit over them
// is (almost surely) of full rank when n exceeds NumFeatures.
func Generate(rng *rand.Rand, n int, opts *GenOptions) []Bench {
	o := GenOptions{Include: 0.6, Scale: 1}
	if opts != nil {
		if opts.Include > 0 {
			o.Include = opts.Include
		}
		if opts.Scale > 0 {
			o.Scale = opts.Scale
		}
	}
	benches := make([]Bench, n)
	for i := range benches {
		var want [cost.NumFeatures]int
		for f := range cost.NumFeatures {
			// Feature f is forced into program f (when n allows) so no
			// column is all zero.
			if i == int(f)%max(n, 1) || rng.Float64() < o.Include {
				want[f] = 1 + rng.IntN(max(1, int(float64(maxCount(f))*o.Scale)))
			}
		}
		benches[i] = build(rng, fmt.Sprintf("calib_%03d", i), want)
	}
	return benches
}

// gen is the state of one program's generation.
type gen struct {
	rng    *rand.Rand
	insns  []bpf.Insn
	init   bpf.RegSet // initialised scalars among the working set
	cmp    uint32     // r7's run-time value
	last   bpf.Reg    // the register written last (R10: none)
	counts [cost.NumFeatures]int
}

func (g *gen) emit(f cost.Feature, in bpf.Insn) {
	g.insns = append(g.insns, in)
	g.counts[f]++
	if w := in.Writes() &^ bpf.RegsOf(bpf.R10); w.Len() == 1 {
		g.last = w.Regs()[0]
	}
}

// build emits the prologue, want[f] units of each feature in random order
// and the epilogue.
func build(rng *rand.Rand, name string, want [cost.NumFeatures]int) Bench {
	g := &gen{rng: rng, cmp: 1<<20 + rng.Uint32N(1<<30-1<<20), last: bpf.R10}
	pkt := make([]byte, PacketLen)
	for k := range pkt {
		pkt[k] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint32(pkt, g.cmp)

	// Prologue: save ctx, bounds-check the packet, load r7, r8 and r0-r5
	// from it (so the verifier knows none of their values), fill the stack.
	g.insns = append(g.insns,
		bpf.Mov64Reg(regCtx, bpf.R1),
		bpf.LdxW(bpf.R2, regCtx, 0), // data
		bpf.LdxW(bpf.R3, regCtx, 4), // data_end
		bpf.Mov64Reg(regPkt, bpf.R2),
		bpf.Add64Imm(bpf.R2, PacketLen),
	)
	boundsCheck := len(g.insns)
	g.insns = append(g.insns, bpf.JgtReg(bpf.R2, bpf.R3, 0), // patched below
		bpf.LdxW(regCmp, regPkt, 0),
		bpf.LdxDW(regChain, regPkt, 8))
	for k, r := range working[:6] {
		g.insns = append(g.insns, bpf.LdxDW(r, regPkt, int16(16+8*k)))
	}
	for k := 1; k <= stackBytes/8; k++ {
		g.insns = append(g.insns, bpf.StxDW(bpf.R10, working[k%len(working)], int16(-8*k)))
	}
	for _, r := range working {
		g.init |= bpf.RegSet(1) << r
	}
	start := len(g.insns)

	var order []cost.Feature
	for f, c := range want {
		for range c {
			order = append(order, cost.Feature(f))
		}
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, f := range order {
		g.unit(f)
	}
	end := len(g.insns)

	// Epilogue: keep the chain observable in the output packet, pass.
	g.insns = append(g.insns,
		bpf.StxDW(regPkt, regChain, pktStoreHi+8),
		bpf.StxDW(regPkt, bpf.R0, pktStoreHi),
		bpf.Mov64Imm(bpf.R0, RetPass),
		bpf.Exit())
	fail := len(g.insns)
	g.insns = append(g.insns, bpf.Mov64Imm(bpf.R0, retDrop), bpf.Exit())
	slots := bpf.SlotOffsets(g.insns)
	g.insns[boundsCheck].Off = int16(slots[fail] - slots[boundsCheck] - 1)

	return Bench{Name: name, Insns: g.insns, Packet: pkt, Counts: g.counts, BodyStart: start, BodyEnd: end}
}

// Register choice.

func (g *gen) isInit(r bpf.Reg) bool { return g.init.Has(r) }

// dst picks an initialised working register (read and written): half of
// the time the last one written, which chains dependent instructions.
func (g *gen) dst() bpf.Reg {
	if g.isInit(g.last) && g.rng.IntN(2) == 0 {
		return g.last
	}
	for {
		if r := working[g.rng.IntN(len(working))]; g.isInit(r) {
			return r
		}
	}
}

// src picks an initialised scalar to read, r7 included, other than not:
// half of the time the last one written.
func (g *gen) src(not bpf.Reg) bpf.Reg {
	if g.last != not && g.isInit(g.last) && g.rng.IntN(2) == 0 {
		return g.last
	}
	for {
		r := regCmp
		if k := g.rng.IntN(len(working) + 1); k < len(working) {
			r = working[k]
		}
		if r != not && (r == regCmp || g.isInit(r)) {
			return r
		}
	}
}

// out picks any working register to overwrite, and marks it initialised.
func (g *gen) out() bpf.Reg {
	r := working[g.rng.IntN(len(working))]
	g.init |= bpf.RegSet(1) << r
	return r
}

func (g *gen) imm() int32 {
	for {
		if v := int32(g.rng.Uint32()); v != 0 {
			return v
		}
	}
}

func (g *gen) width() int {
	if g.rng.IntN(2) == 0 {
		return 32
	}
	return 64
}

// opFor finds the op of kind k at width w with an immediate or register source.
func opFor(k bpf.Kind, w int, imm bool) bpf.Op {
	op := opIndex[opKey{k, uint8(w), imm}]
	if op == bpf.OpInvalid {
		panic(fmt.Sprintf("calibrate: no op of kind %d width %d imm %v", k, w, imm))
	}
	return op
}

type opKey struct {
	k   bpf.Kind
	w   uint8
	imm bool
}

var opIndex = func() map[opKey]bpf.Op {
	m := map[opKey]bpf.Op{}
	for _, op := range bpf.Ops() {
		info := op.Info()
		if info.Class == bpf.ClassALU || info.Class == bpf.ClassALU64 || info.Class == bpf.ClassJMP || info.Class == bpf.ClassJMP32 {
			key := opKey{info.Kind, info.Width, info.ImmSrc}
			if _, dup := m[key]; !dup {
				m[key] = op
			}
		}
	}
	return m
}()

// memOp finds the load/store op of kind k and size bytes.
func memOp(k bpf.Kind, size int) bpf.Op {
	for _, op := range bpf.Ops() {
		if info := op.Info(); info.Kind == k && int(info.Size) == size {
			return op
		}
	}
	panic(fmt.Sprintf("calibrate: no memory op of kind %d size %d", k, size))
}

var sizes = []int{1, 2, 4, 8}

// stackOff is an aligned offset of a size-byte access in the initialised
// stack.
func (g *gen) stackOff(size int) int16 {
	return int16(-size * (1 + g.rng.IntN(stackBytes/size)))
}

// pktOff is an aligned offset of a size-byte access in [lo, hi).
func (g *gen) pktOff(size, lo, hi int) int16 {
	return int16(lo + size*g.rng.IntN((hi-lo)/size))
}

var (
	simpleKinds = []bpf.Kind{bpf.KindAdd, bpf.KindSub, bpf.KindAnd, bpf.KindOr, bpf.KindXor, bpf.KindMov, bpf.KindNeg}
	shiftKinds  = []bpf.Kind{bpf.KindLsh, bpf.KindRsh, bpf.KindArsh}
	condKinds   = []bpf.Kind{bpf.KindJeq, bpf.KindJne, bpf.KindJgt, bpf.KindJge, bpf.KindJlt, bpf.KindJle,
		bpf.KindJsgt, bpf.KindJsge, bpf.KindJslt, bpf.KindJsle, bpf.KindJset}
	atomicOps = func() (ops []bpf.Op) {
		for _, op := range bpf.Ops() {
			if op.Info().Kind == bpf.KindAtomic {
				ops = append(ops, op)
			}
		}
		return ops
	}()
)

// helperPrandom is bpf_get_prandom_u32: no arguments, a short body.
const helperPrandom = 7

// unit emits one instruction of feature f (a not-taken jump also runs its
// filler, a 64-bit ALU op).
func (g *gen) unit(f cost.Feature) {
	rng := g.rng
	switch f {
	case cost.FeatALU64, cost.FeatALU32:
		w := 64
		if f == cost.FeatALU32 {
			w = 32
		}
		g.simple(f, w)
	case cost.FeatShiftImm:
		w := g.width()
		d := g.dst()
		g.emit(f, bpf.New(opFor(shiftKinds[rng.IntN(3)], w, true), d, 0, 0, int32(1+rng.IntN(w-1))))
	case cost.FeatShiftReg:
		d := g.dst()
		g.emit(f, bpf.New(opFor(shiftKinds[rng.IntN(3)], g.width(), false), d, g.src(d), 0, 0))
	case cost.FeatMul:
		g.binary(f, bpf.KindMul, g.imm()|1)
	case cost.FeatDiv, cost.FeatMod, cost.FeatSDiv, cost.FeatSMod:
		k := map[cost.Feature]bpf.Kind{cost.FeatDiv: bpf.KindDiv, cost.FeatMod: bpf.KindMod,
			cost.FeatSDiv: bpf.KindSDiv, cost.FeatSMod: bpf.KindSMod}[f]
		w := g.width()
		d := g.dst()
		if rng.IntN(2) == 0 {
			g.emit(f, bpf.New(opFor(k, w, true), d, 0, 0, int32(2+rng.IntN(1<<20))))
		} else {
			// r7 is never zero at run time: the division itself runs,
			// after the verifier's zero check.
			g.emit(f, bpf.New(opFor(k, w, false), d, regCmp, 0, 0))
		}
	case cost.FeatMovSX:
		s := g.src(bpf.R10)
		d := g.out()
		if rng.IntN(2) == 0 {
			g.emit(f, bpf.MovSX64(d, s, int16(8<<rng.IntN(3))))
		} else {
			g.emit(f, bpf.MovSX32(d, s, int16(8<<rng.IntN(2))))
		}
	case cost.FeatBswap:
		d, w := g.dst(), int32(16<<rng.IntN(3))
		if rng.IntN(2) == 0 {
			g.emit(f, bpf.Bswap(d, w))
		} else {
			g.emit(f, bpf.Be(d, w))
		}
	case cost.FeatLe:
		g.emit(f, bpf.Le(g.dst(), int32(16<<rng.IntN(3))))
	case cost.FeatLdImm64:
		g.emit(f, bpf.LdImm64(g.out(), rng.Uint64()))
	case cost.FeatLoadStack:
		size := sizes[rng.IntN(4)]
		g.emit(f, bpf.New(memOp(bpf.KindLoad, size), g.out(), bpf.R10, g.stackOff(size), 0))
	case cost.FeatLoadSXStack:
		size := sizes[rng.IntN(3)]
		g.emit(f, bpf.New(memOp(bpf.KindLoadSX, size), g.out(), bpf.R10, g.stackOff(size), 0))
	case cost.FeatStoreStack:
		size := sizes[rng.IntN(4)]
		g.store(f, bpf.R10, size, g.stackOff(size))
	case cost.FeatLoadPkt:
		size := sizes[rng.IntN(4)]
		g.emit(f, bpf.New(memOp(bpf.KindLoad, size), g.out(), regPkt, g.pktOff(size, 0, PacketLen), 0))
	case cost.FeatStorePkt:
		size := sizes[rng.IntN(4)]
		g.store(f, regPkt, size, g.pktOff(size, pktStoreLo, pktStoreHi))
	case cost.FeatLoadCtx:
		// xdp_md data, data_end, data_meta: one load each after the
		// verifier's rewrite. The result is a pointer, not a scalar.
		d := working[1+rng.IntN(5)]
		g.emit(f, bpf.LdxW(d, regCtx, int16(4*rng.IntN(3))))
		g.init &^= bpf.RegSet(1) << d
	case cost.FeatAtomic:
		op := atomicOps[rng.IntN(len(atomicOps))]
		info := op.Info()
		s := g.src(bpf.R10)
		if info.Has(bpf.FlagFetch) && s == regCmp {
			s = g.dst() // fetching writes src; r7 stays read-only
		}
		g.emit(f, bpf.Atomic(op, bpf.R10, s, g.stackOff(int(info.Size))))
	case cost.FeatJmpTaken, cost.FeatJmpNotTaken:
		g.jump(f == cost.FeatJmpTaken)
	case cost.FeatCall:
		g.emit(f, bpf.Call(helperPrandom))
		g.init = bpf.RegSet(1)<<bpf.R0 | bpf.RegSet(1)<<regChain
	default:
		panic(fmt.Sprintf("calibrate: no unit for feature %v", f))
	}
}

// simple emits add/sub/and/or/xor/mov/neg at width w.
func (g *gen) simple(f cost.Feature, w int) {
	k := simpleKinds[g.rng.IntN(len(simpleKinds))]
	imm := g.rng.IntN(2) == 0
	switch k {
	case bpf.KindNeg:
		op := bpf.OpNeg64
		if w == 32 {
			op = bpf.OpNeg32
		}
		g.emit(f, bpf.New(op, g.dst(), 0, 0, 0))
	case bpf.KindMov:
		s := g.src(bpf.R10)
		d := g.out()
		if imm {
			g.emit(f, bpf.New(opFor(k, w, true), d, 0, 0, g.imm()))
		} else {
			g.emit(f, bpf.New(opFor(k, w, false), d, s, 0, 0))
		}
	default:
		d := g.dst()
		if imm {
			g.emit(f, bpf.New(opFor(k, w, true), d, 0, 0, g.imm()))
		} else {
			g.emit(f, bpf.New(opFor(k, w, false), d, g.src(d), 0, 0))
		}
	}
}

// binary emits kind k at a random width with imm or a register source.
func (g *gen) binary(f cost.Feature, k bpf.Kind, imm int32) {
	w := g.width()
	d := g.dst()
	if g.rng.IntN(2) == 0 {
		g.emit(f, bpf.New(opFor(k, w, true), d, 0, 0, imm))
	} else {
		g.emit(f, bpf.New(opFor(k, w, false), d, g.src(d), 0, 0))
	}
}

// store emits st or stx of size bytes at base+off.
func (g *gen) store(f cost.Feature, base bpf.Reg, size int, off int16) {
	if g.rng.IntN(2) == 0 {
		g.emit(f, bpf.New(memOp(bpf.KindStoreImm, size), base, 0, off, g.imm()))
	} else {
		g.emit(f, bpf.New(memOp(bpf.KindStore, size), base, g.src(bpf.R10), off, 0))
	}
}

// jump emits "if r7 <cond> imm goto +1" that is (not) taken at run time,
// followed by a 64-bit ALU filler it skips when taken. The immediates are
// positive and near r7's value, so the verifier, which only knows r7 is a
// u32, must keep both branches.
func (g *gen) jump(taken bool) {
	v := g.cmp
	cands := []int32{int32(v - 1), int32(v), int32(v + 1), int32(^v & 0x7fffffff), int32(v>>1 | 1)}
	for {
		k := condKinds[g.rng.IntN(len(condKinds))]
		w := g.width()
		imm := cands[g.rng.IntN(len(cands))]
		got, _ := bpf.EvalCond(k, w, uint64(v), uint64(int64(imm)))
		if got != taken {
			continue
		}
		if taken {
			g.emit(cost.FeatJmpTaken, bpf.New(opFor(k, w, true), regCmp, 0, 1, imm))
			g.insns = append(g.insns, g.filler()) // skipped: not counted
		} else {
			g.emit(cost.FeatJmpNotTaken, bpf.New(opFor(k, w, true), regCmp, 0, 1, imm))
			g.emit(cost.FeatALU64, g.filler())
		}
		return
	}
}

// filler is a 64-bit add or xor of an initialised register with a
// constant: it keeps the register initialised on both paths.
func (g *gen) filler() bpf.Insn {
	k := bpf.KindAdd
	if g.rng.IntN(2) == 0 {
		k = bpf.KindXor
	}
	return bpf.New(opFor(k, 64, true), g.dst(), 0, 0, g.imm())
}
