package interp

import (
	"encoding/binary"
	"math/bits"

	"github.com/k2opt/k2opt/bpf"
)

func loadLE(b []byte, size uint8) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

func storeLE(b []byte, size uint8, v uint64) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

// resolve maps address a to its region and offset for an access of size
// bytes; ctx accesses are left to the caller (kind rCtx).
func (m *Machine) resolve(a uint64, size uint8) (*region, uint32, FaultKind) {
	if a>>ptrShift != ptrTag {
		return nil, 0, FaultBadAddress
	}
	id := int(a>>32) & idMask
	if id >= len(m.regions) {
		return nil, 0, FaultBadAddress
	}
	r := &m.regions[id]
	if r.kind == rHandle || r.kind == rCode || r.kind == rDead {
		return nil, 0, FaultBadAddress
	}
	o := ptrOff(a)
	off := uint32(o)
	if r.kind == rCtx {
		if o < 0 {
			return nil, 0, FaultCtxAccess
		}
		return r, off, FaultNone
	}
	if o < int64(r.lo) || o+int64(size) > int64(r.hi) {
		return nil, 0, FaultOutOfBounds
	}
	return r, off, FaultNone
}

func (m *Machine) load(a uint64, size uint8) (uint64, FaultKind) {
	r, off, f := m.resolve(a, size)
	if f != FaultNone {
		return 0, f
	}
	if r.kind == rCtx {
		return m.ctxLoad(off, size)
	}
	if r.init != nil {
		for _, ok := range r.init[off : off+uint32(size)] {
			if ok == 0 {
				return 0, FaultUninitStack
			}
		}
	}
	return loadLE(r.buf[off:], size), FaultNone
}

func (m *Machine) store(a uint64, size uint8, v uint64) FaultKind {
	r, off, f := m.resolve(a, size)
	if f != FaultNone {
		return f
	}
	if r.kind == rCtx {
		return m.ctxStore(off, size, v)
	}
	if r.ro {
		return FaultReadOnly
	}
	if r.init != nil {
		init := r.init[off : off+uint32(size)]
		for i := range init {
			init[i] = 1
		}
	}
	storeLE(r.buf[off:], size, v)
	return FaultNone
}

// bytesAt returns n bytes of memory at a (for helpers), checking bounds
// and, for the stack, init bits when read is set.
func (m *Machine) bytesAt(a uint64, n uint64, read, write bool) ([]byte, FaultKind) {
	if n > 1<<20 {
		return nil, FaultHelperArg
	}
	if n == 0 {
		return nil, FaultNone
	}
	if a>>ptrShift != ptrTag {
		return nil, FaultBadAddress
	}
	id := int(a>>32) & idMask
	if id >= len(m.regions) {
		return nil, FaultBadAddress
	}
	r := &m.regions[id]
	o := ptrOff(a)
	if r.kind == rHandle || r.kind == rCode || r.kind == rDead {
		return nil, FaultBadAddress
	}
	if r.kind == rCtx {
		return nil, FaultHelperArg
	}
	if o < int64(r.lo) || o+int64(n) > int64(r.hi) {
		return nil, FaultOutOfBounds
	}
	off := uint64(o)
	if write && r.ro {
		return nil, FaultReadOnly
	}
	if r.init != nil {
		init := r.init[off : off+n]
		if read {
			for _, ok := range init {
				if ok == 0 {
					return nil, FaultUninitStack
				}
			}
		}
		if write {
			for i := range init {
				init[i] = 1
			}
		}
	}
	return r.buf[off : off+n], FaultNone
}

// initOnes[n] is n stack init flags, all set, read as one little-endian
// integer.
var initOnes = [16]uint64{1: 0x01, 2: 0x0101, 4: 0x01010101, 8: 0x0101010101010101}

func sx(v uint64, size uint8) uint64 {
	switch size {
	case 1:
		return uint64(int64(int8(v)))
	case 2:
		return uint64(int64(int16(v)))
	case 4:
		return uint64(int64(int32(v)))
	}
	return v
}

// exec runs from pc until exit (end < 0) or until control reaches end.
func (m *Machine) exec(pc int, end int) Output {
	return m.run(pc, 0, len(m.prog.code), end >= 0)
}

func (m *Machine) execWindow(start, end int) Output {
	if start < 0 || end > len(m.prog.code) || start >= end {
		return m.output(Fault{Kind: FaultBadJump, PC: start})
	}
	return m.run(start, start, end, true)
}

// run is the interpreter loop. Control leaving [lo, hi) ends a window run
// normally and faults a whole-program run.
func (m *Machine) run(pc, lo, hi int, window bool) Output {
	code := m.prog.code
	r := &m.r
	init := m.init
	budget := m.opts.StepBudget
	steps := m.steps
	cov := m.Coverage
	track := window || !m.prog.initSafe
	span := uint(hi - lo)
	// whole-program runs without init bits or coverage use the threaded
	// copy of the fast loop (threaded.go)
	threaded := !track && !cov && !window
	var fk FaultKind
	var t bool
	for {
		if threaded {
			m.fastBudget = budget
			pc, steps = m.threaded(pc, hi, steps)
		} else {
			pc, steps, init = m.fast(pc, lo, hi, steps, budget, init, track)
		}
		if uint(pc-lo) >= span {
			if window {
				m.init, m.steps = init, steps
				return m.output(Fault{})
			}
			fk = FaultBadJump
			goto fault
		}
		{
			in := &code[pc]
			steps++
			if track {
				if in.reads&^init != 0 {
					fk = FaultUninitReg
					goto fault
				}
				init = init&^in.kill | in.gen
			}
			d, s := in.dst&15, in.src&15
			switch in.op {
			// 64-bit ALU
			case bpf.OpAdd64Imm:
				r[d] += uint64(in.imm)
			case bpf.OpAdd64Reg:
				r[d] += r[s]
			case bpf.OpSub64Imm:
				r[d] -= uint64(in.imm)
			case bpf.OpSub64Reg:
				r[d] -= r[s]
			case bpf.OpMul64Imm:
				r[d] *= uint64(in.imm)
			case bpf.OpMul64Reg:
				r[d] *= r[s]
			case bpf.OpDiv64Imm:
				r[d] /= uint64(in.imm)
			case bpf.OpDiv64Reg:
				if r[s] == 0 {
					r[d] = 0
				} else {
					r[d] /= r[s]
				}
			case bpf.OpSDiv64Imm:
				r[d] = uint64(int64(r[d]) / in.imm)
			case bpf.OpSDiv64Reg:
				if r[s] == 0 {
					r[d] = 0
				} else {
					r[d] = uint64(int64(r[d]) / int64(r[s]))
				}
			case bpf.OpMod64Imm:
				r[d] %= uint64(in.imm)
			case bpf.OpMod64Reg:
				if r[s] != 0 {
					r[d] %= r[s]
				}
			case bpf.OpSMod64Imm:
				r[d] = uint64(int64(r[d]) % in.imm)
			case bpf.OpSMod64Reg:
				if r[s] != 0 {
					r[d] = uint64(int64(r[d]) % int64(r[s]))
				}
			case bpf.OpOr64Imm:
				r[d] |= uint64(in.imm)
			case bpf.OpOr64Reg:
				r[d] |= r[s]
			case bpf.OpAnd64Imm:
				r[d] &= uint64(in.imm)
			case bpf.OpAnd64Reg:
				r[d] &= r[s]
			case bpf.OpXor64Imm:
				r[d] ^= uint64(in.imm)
			case bpf.OpXor64Reg:
				r[d] ^= r[s]
			case bpf.OpLsh64Imm:
				r[d] <<= uint64(in.imm) & 63
			case bpf.OpLsh64Reg:
				r[d] <<= r[s] & 63
			case bpf.OpRsh64Imm:
				r[d] >>= uint64(in.imm) & 63
			case bpf.OpRsh64Reg:
				r[d] >>= r[s] & 63
			case bpf.OpArsh64Imm:
				r[d] = uint64(int64(r[d]) >> (uint64(in.imm) & 63))
			case bpf.OpArsh64Reg:
				r[d] = uint64(int64(r[d]) >> (r[s] & 63))
			case bpf.OpNeg64:
				r[d] = -r[d]
			case bpf.OpMov64Imm:
				r[d] = uint64(in.imm)
			case bpf.OpMov64Reg:
				r[d] = r[s]
			case bpf.OpMovSX64B:
				r[d] = uint64(int64(int8(r[s])))
			case bpf.OpMovSX64H:
				r[d] = uint64(int64(int16(r[s])))
			case bpf.OpMovSX64W:
				r[d] = uint64(int64(int32(r[s])))
			case bpf.OpBswap16, bpf.OpBe16:
				r[d] = uint64(bits.ReverseBytes16(uint16(r[d])))
			case bpf.OpBswap32, bpf.OpBe32:
				r[d] = uint64(bits.ReverseBytes32(uint32(r[d])))
			case bpf.OpBswap64, bpf.OpBe64:
				r[d] = bits.ReverseBytes64(r[d])
			case bpf.OpLe16:
				r[d] = uint64(uint16(r[d]))
			case bpf.OpLe32:
				r[d] = uint64(uint32(r[d]))
			case bpf.OpLe64:

			// 32-bit ALU: operate on the low halves, zero-extend.
			case bpf.OpAdd32Imm:
				r[d] = uint64(uint32(r[d]) + uint32(in.imm))
			case bpf.OpAdd32Reg:
				r[d] = uint64(uint32(r[d]) + uint32(r[s]))
			case bpf.OpSub32Imm:
				r[d] = uint64(uint32(r[d]) - uint32(in.imm))
			case bpf.OpSub32Reg:
				r[d] = uint64(uint32(r[d]) - uint32(r[s]))
			case bpf.OpMul32Imm:
				r[d] = uint64(uint32(r[d]) * uint32(in.imm))
			case bpf.OpMul32Reg:
				r[d] = uint64(uint32(r[d]) * uint32(r[s]))
			case bpf.OpDiv32Imm:
				r[d] = uint64(uint32(r[d]) / uint32(in.imm))
			case bpf.OpDiv32Reg:
				if uint32(r[s]) == 0 {
					r[d] = 0
				} else {
					r[d] = uint64(uint32(r[d]) / uint32(r[s]))
				}
			case bpf.OpSDiv32Imm:
				r[d] = uint64(uint32(int32(r[d]) / int32(in.imm)))
			case bpf.OpSDiv32Reg:
				if uint32(r[s]) == 0 {
					r[d] = 0
				} else {
					r[d] = uint64(uint32(int32(r[d]) / int32(r[s])))
				}
			case bpf.OpMod32Imm:
				r[d] = uint64(uint32(r[d]) % uint32(in.imm))
			case bpf.OpMod32Reg:
				if uint32(r[s]) == 0 {
					r[d] = uint64(uint32(r[d]))
				} else {
					r[d] = uint64(uint32(r[d]) % uint32(r[s]))
				}
			case bpf.OpSMod32Imm:
				r[d] = uint64(uint32(int32(r[d]) % int32(in.imm)))
			case bpf.OpSMod32Reg:
				if uint32(r[s]) == 0 {
					r[d] = uint64(uint32(r[d]))
				} else {
					r[d] = uint64(uint32(int32(r[d]) % int32(r[s])))
				}
			case bpf.OpOr32Imm:
				r[d] = uint64(uint32(r[d]) | uint32(in.imm))
			case bpf.OpOr32Reg:
				r[d] = uint64(uint32(r[d]) | uint32(r[s]))
			case bpf.OpAnd32Imm:
				r[d] = uint64(uint32(r[d]) & uint32(in.imm))
			case bpf.OpAnd32Reg:
				r[d] = uint64(uint32(r[d]) & uint32(r[s]))
			case bpf.OpXor32Imm:
				r[d] = uint64(uint32(r[d]) ^ uint32(in.imm))
			case bpf.OpXor32Reg:
				r[d] = uint64(uint32(r[d]) ^ uint32(r[s]))
			case bpf.OpLsh32Imm:
				r[d] = uint64(uint32(r[d]) << (uint32(in.imm) & 31))
			case bpf.OpLsh32Reg:
				r[d] = uint64(uint32(r[d]) << (uint32(r[s]) & 31))
			case bpf.OpRsh32Imm:
				r[d] = uint64(uint32(r[d]) >> (uint32(in.imm) & 31))
			case bpf.OpRsh32Reg:
				r[d] = uint64(uint32(r[d]) >> (uint32(r[s]) & 31))
			case bpf.OpArsh32Imm:
				r[d] = uint64(uint32(int32(r[d]) >> (uint32(in.imm) & 31)))
			case bpf.OpArsh32Reg:
				r[d] = uint64(uint32(int32(r[d]) >> (uint32(r[s]) & 31)))
			case bpf.OpNeg32:
				r[d] = uint64(-uint32(r[d]))
			case bpf.OpMov32Imm:
				r[d] = uint64(uint32(in.imm))
			case bpf.OpMov32Reg:
				r[d] = uint64(uint32(r[s]))
			case bpf.OpMovSX32B:
				r[d] = uint64(uint32(int32(int8(r[s]))))
			case bpf.OpMovSX32H:
				r[d] = uint64(uint32(int32(int16(r[s]))))

			// jumps
			case bpf.OpJa, bpf.OpGotol:
				// the step budget is checked where control can go back:
				// jumps, calls and returns
				if steps > budget {
					fk = FaultStepBudget
					goto fault
				}
				pc = int(in.tgt)
				continue
			case bpf.OpJeqImm:
				t = r[d] == uint64(in.imm)
				goto cond
			case bpf.OpJeqReg:
				t = r[d] == r[s]
				goto cond
			case bpf.OpJneImm:
				t = r[d] != uint64(in.imm)
				goto cond
			case bpf.OpJneReg:
				t = r[d] != r[s]
				goto cond
			case bpf.OpJgtImm:
				t = r[d] > uint64(in.imm)
				goto cond
			case bpf.OpJgtReg:
				t = r[d] > r[s]
				goto cond
			case bpf.OpJgeImm:
				t = r[d] >= uint64(in.imm)
				goto cond
			case bpf.OpJgeReg:
				t = r[d] >= r[s]
				goto cond
			case bpf.OpJltImm:
				t = r[d] < uint64(in.imm)
				goto cond
			case bpf.OpJltReg:
				t = r[d] < r[s]
				goto cond
			case bpf.OpJleImm:
				t = r[d] <= uint64(in.imm)
				goto cond
			case bpf.OpJleReg:
				t = r[d] <= r[s]
				goto cond
			case bpf.OpJsetImm:
				t = r[d]&uint64(in.imm) != 0
				goto cond
			case bpf.OpJsetReg:
				t = r[d]&r[s] != 0
				goto cond
			case bpf.OpJsgtImm:
				t = int64(r[d]) > in.imm
				goto cond
			case bpf.OpJsgtReg:
				t = int64(r[d]) > int64(r[s])
				goto cond
			case bpf.OpJsgeImm:
				t = int64(r[d]) >= in.imm
				goto cond
			case bpf.OpJsgeReg:
				t = int64(r[d]) >= int64(r[s])
				goto cond
			case bpf.OpJsltImm:
				t = int64(r[d]) < in.imm
				goto cond
			case bpf.OpJsltReg:
				t = int64(r[d]) < int64(r[s])
				goto cond
			case bpf.OpJsleImm:
				t = int64(r[d]) <= in.imm
				goto cond
			case bpf.OpJsleReg:
				t = int64(r[d]) <= int64(r[s])
				goto cond
			case bpf.OpJeq32Imm:
				t = uint32(r[d]) == uint32(in.imm)
				goto cond
			case bpf.OpJeq32Reg:
				t = uint32(r[d]) == uint32(r[s])
				goto cond
			case bpf.OpJne32Imm:
				t = uint32(r[d]) != uint32(in.imm)
				goto cond
			case bpf.OpJne32Reg:
				t = uint32(r[d]) != uint32(r[s])
				goto cond
			case bpf.OpJgt32Imm:
				t = uint32(r[d]) > uint32(in.imm)
				goto cond
			case bpf.OpJgt32Reg:
				t = uint32(r[d]) > uint32(r[s])
				goto cond
			case bpf.OpJge32Imm:
				t = uint32(r[d]) >= uint32(in.imm)
				goto cond
			case bpf.OpJge32Reg:
				t = uint32(r[d]) >= uint32(r[s])
				goto cond
			case bpf.OpJlt32Imm:
				t = uint32(r[d]) < uint32(in.imm)
				goto cond
			case bpf.OpJlt32Reg:
				t = uint32(r[d]) < uint32(r[s])
				goto cond
			case bpf.OpJle32Imm:
				t = uint32(r[d]) <= uint32(in.imm)
				goto cond
			case bpf.OpJle32Reg:
				t = uint32(r[d]) <= uint32(r[s])
				goto cond
			case bpf.OpJset32Imm:
				t = uint32(r[d])&uint32(in.imm) != 0
				goto cond
			case bpf.OpJset32Reg:
				t = uint32(r[d])&uint32(r[s]) != 0
				goto cond
			case bpf.OpJsgt32Imm:
				t = int32(r[d]) > int32(in.imm)
				goto cond
			case bpf.OpJsgt32Reg:
				t = int32(r[d]) > int32(r[s])
				goto cond
			case bpf.OpJsge32Imm:
				t = int32(r[d]) >= int32(in.imm)
				goto cond
			case bpf.OpJsge32Reg:
				t = int32(r[d]) >= int32(r[s])
				goto cond
			case bpf.OpJslt32Imm:
				t = int32(r[d]) < int32(in.imm)
				goto cond
			case bpf.OpJslt32Reg:
				t = int32(r[d]) < int32(r[s])
				goto cond
			case bpf.OpJsle32Imm:
				t = int32(r[d]) <= int32(in.imm)
				goto cond
			case bpf.OpJsle32Reg:
				t = int32(r[d]) <= int32(r[s])
				goto cond
			case bpf.OpMayGoto:
				// The kernel's hidden per-program counter: jump once it is
				// exhausted, otherwise count down and fall through.
				if m.mayGoto == 0 {
					t = true
				} else {
					m.mayGoto--
					t = false
				}
				goto cond

			case bpf.OpExit:
				if steps > budget {
					fk = FaultStepBudget
					goto fault
				}
				if m.depth == 0 {
					m.init, m.steps = init, steps
					return m.output(Fault{})
				}
				m.init, m.steps = init, steps
				next, f := m.ret()
				if f != FaultNone {
					fk = f
					goto fault
				}
				init = m.init
				pc = next
				continue
			case bpf.OpCall:
				if steps > budget {
					fk = FaultStepBudget
					goto fault
				}
				m.init, m.steps = init, steps
				next, f := m.callHelper(pc, int32(in.imm))
				if f != FaultNone {
					fk = f
					goto fault
				}
				init, steps = m.init, m.steps
				pc = next
				continue
			case bpf.OpCallLocal:
				if steps > budget {
					fk = FaultStepBudget
					goto fault
				}
				m.init = init
				if f := m.push(pc+1, nil); f != FaultNone {
					fk = f
					goto fault
				}
				init = m.init
				pc = int(in.tgt)
				continue

			// 64-bit immediates
			case bpf.OpLddw:
				r[d] = uint64(in.imm)
				pc += 2
				continue
			case bpf.OpLddwMapFD, bpf.OpLddwMapIdx:
				r[d] = mkptr(regHandle0+int(uint32(in.imm)), 0)
				pc += 2
				continue
			case bpf.OpLddwMapValue, bpf.OpLddwMapIdxValue:
				mi := int(uint32(in.imm))
				if m.maps[mi].kind != mkArray {
					fk = FaultUnsupported
					goto fault
				}
				p := m.valueRegion(mi, 0)
				if p == 0 {
					fk = FaultUnsupported
					goto fault
				}
				r[d] = p + uint64(in.imm)>>32
				pc += 2
				continue
			case bpf.OpLddwFunc:
				r[d] = mkptr(regCode, int(in.tgt))
				pc += 2
				continue

			case bpf.OpLdAbsW, bpf.OpLdAbsH, bpf.OpLdAbsB, bpf.OpLdIndW, bpf.OpLdIndH, bpf.OpLdIndB:
				off := int64(int32(in.imm))
				if in.op >= bpf.OpLdIndW {
					off = int64(int32(uint32(r[s]) + uint32(in.imm)))
				}
				v, ok, f := m.ldAbs(off, in.size)
				if f != FaultNone {
					fk = f
					goto fault
				}
				if !ok {
					// the kernel's ld_abs epilogue: r0 = 0; exit
					r[0] = 0
					m.init, m.steps = init, steps
					return m.output(Fault{})
				}
				r[0] = v

			// memory
			case bpf.OpLdxB, bpf.OpLdxH, bpf.OpLdxW, bpf.OpLdxDW, bpf.OpLoadAcqB, bpf.OpLoadAcqH, bpf.OpLoadAcqW, bpf.OpLoadAcqDW:
				v, f := m.load(r[s]+uint64(int64(in.off)), in.size)
				if f != FaultNone {
					fk = f
					goto fault
				}
				r[d] = v
			case bpf.OpLdxSB, bpf.OpLdxSH, bpf.OpLdxSW:
				v, f := m.load(r[s]+uint64(int64(in.off)), in.size)
				if f != FaultNone {
					fk = f
					goto fault
				}
				r[d] = sx(v, in.size)
			case bpf.OpStB, bpf.OpStH, bpf.OpStW, bpf.OpStDW:
				if f := m.store(r[d]+uint64(int64(in.off)), in.size, uint64(in.imm)); f != FaultNone {
					fk = f
					goto fault
				}
			case bpf.OpStxB, bpf.OpStxH, bpf.OpStxW, bpf.OpStxDW, bpf.OpStoreRelB, bpf.OpStoreRelH, bpf.OpStoreRelW, bpf.OpStoreRelDW:
				if f := m.store(r[d]+uint64(int64(in.off)), in.size, r[s]); f != FaultNone {
					fk = f
					goto fault
				}
			case bpf.OpAtomicAddW, bpf.OpAtomicOrW, bpf.OpAtomicAndW, bpf.OpAtomicXorW,
				bpf.OpAtomicFetchAddW, bpf.OpAtomicFetchOrW, bpf.OpAtomicFetchAndW, bpf.OpAtomicFetchXorW,
				bpf.OpAtomicXchgW, bpf.OpAtomicCmpxchgW,
				bpf.OpAtomicAddDW, bpf.OpAtomicOrDW, bpf.OpAtomicAndDW, bpf.OpAtomicXorDW,
				bpf.OpAtomicFetchAddDW, bpf.OpAtomicFetchOrDW, bpf.OpAtomicFetchAndDW, bpf.OpAtomicFetchXorDW,
				bpf.OpAtomicXchgDW, bpf.OpAtomicCmpxchgDW:
				if f := m.atomic(in); f != FaultNone {
					fk = f
					goto fault
				}

			case bpf.OpCallKfunc, bpf.OpAddrSpaceCast, bpf.OpLddwBTFID:
				fk = FaultUnsupported
				goto fault
			default:
				fk = FaultBadJump // the second slot of an ld_imm64, or an op id outside the table
				if in.op != opBadSlot {
					fk = FaultUnsupported
				}
				goto fault
			}
			pc++
			continue
		}
	cond:
		if steps > budget {
			fk = FaultStepBudget
			goto fault
		}
		if cov {
			k := 2 * pc
			if t {
				k++
			}
			m.cover[k] = true
			if m.cmpLog && m.ncmp < len(m.cmps) && code[pc].cond && (!m.cmpOnly || m.cmpPC == pc) {
				m.cmps[m.ncmp] = m.cmpOf(pc, &code[pc])
				m.ncmp++
			}
		}
		if t {
			pc = int(code[pc].tgt)
		} else {
			pc++
		}
		continue
	fault:
		m.init, m.steps = init, steps
		var a uint64
		if uint(pc) < uint(len(code)) {
			a = uint64(code[pc].op)
		}
		return m.output(Fault{Kind: fk, PC: pc, Addr: a})
	}
}

//go:generate go run gen_threaded.go

// fast is the interpreter's fast loop: ALU, jumps and plain loads and
// stores, without calls so that its variables stay in registers. It
// returns where it stopped: at an instruction it does not handle or that
// would fault (before changing any state), on leaving [lo, hi),
// or when the step budget is used up; run carries on from there.
func (m *Machine) fast(pc, lo, hi int, steps, budget uint64, init uint16, track bool) (int, uint64, uint16) {
	// Few variables live across iterations (pc, steps, init, track,
	// code, r): with more, the compiler spills them on every step.
	m.fastLo, m.fastBudget = lo, budget
	code := m.prog.code[:hi]
	r := &m.r
	var t bool
	for {
		if uint(pc) >= uint(len(code)) {
			return pc, steps, init
		}
		in := &code[pc]
		if track && in.reads&^init != 0 {
			return pc, steps, init
		}
		d, s := in.dst&15, in.src&15
		switch in.op {
		case bpf.OpAdd64Imm:
			r[d] += uint64(in.imm)
		case bpf.OpAdd64Reg:
			r[d] += r[s]
		case bpf.OpSub64Imm:
			r[d] -= uint64(in.imm)
		case bpf.OpSub64Reg:
			r[d] -= r[s]
		case bpf.OpMul64Imm:
			r[d] *= uint64(in.imm)
		case bpf.OpMul64Reg:
			r[d] *= r[s]
		case bpf.OpDiv64Imm:
			r[d] /= uint64(in.imm)
		case bpf.OpDiv64Reg:
			if r[s] == 0 {
				r[d] = 0
			} else {
				r[d] /= r[s]
			}
		case bpf.OpSDiv64Imm:
			r[d] = uint64(int64(r[d]) / in.imm)
		case bpf.OpSDiv64Reg:
			if r[s] == 0 {
				r[d] = 0
			} else {
				r[d] = uint64(int64(r[d]) / int64(r[s]))
			}
		case bpf.OpMod64Imm:
			r[d] %= uint64(in.imm)
		case bpf.OpMod64Reg:
			if r[s] != 0 {
				r[d] %= r[s]
			}
		case bpf.OpSMod64Imm:
			r[d] = uint64(int64(r[d]) % in.imm)
		case bpf.OpSMod64Reg:
			if r[s] != 0 {
				r[d] = uint64(int64(r[d]) % int64(r[s]))
			}
		case bpf.OpOr64Imm:
			r[d] |= uint64(in.imm)
		case bpf.OpOr64Reg:
			r[d] |= r[s]
		case bpf.OpAnd64Imm:
			r[d] &= uint64(in.imm)
		case bpf.OpAnd64Reg:
			r[d] &= r[s]
		case bpf.OpXor64Imm:
			r[d] ^= uint64(in.imm)
		case bpf.OpXor64Reg:
			r[d] ^= r[s]
		case bpf.OpLsh64Imm:
			r[d] <<= uint64(in.imm) & 63
		case bpf.OpLsh64Reg:
			r[d] <<= r[s] & 63
		case bpf.OpRsh64Imm:
			r[d] >>= uint64(in.imm) & 63
		case bpf.OpRsh64Reg:
			r[d] >>= r[s] & 63
		case bpf.OpArsh64Imm:
			r[d] = uint64(int64(r[d]) >> (uint64(in.imm) & 63))
		case bpf.OpArsh64Reg:
			r[d] = uint64(int64(r[d]) >> (r[s] & 63))
		case bpf.OpNeg64:
			r[d] = -r[d]
		case bpf.OpMov64Imm:
			r[d] = uint64(in.imm)
		case bpf.OpMov64Reg:
			r[d] = r[s]
		case bpf.OpMovSX64B:
			r[d] = uint64(int64(int8(r[s])))
		case bpf.OpMovSX64H:
			r[d] = uint64(int64(int16(r[s])))
		case bpf.OpMovSX64W:
			r[d] = uint64(int64(int32(r[s])))
		case bpf.OpBswap16, bpf.OpBe16:
			r[d] = uint64(bits.ReverseBytes16(uint16(r[d])))
		case bpf.OpBswap32, bpf.OpBe32:
			r[d] = uint64(bits.ReverseBytes32(uint32(r[d])))
		case bpf.OpBswap64, bpf.OpBe64:
			r[d] = bits.ReverseBytes64(r[d])
		case bpf.OpLe16:
			r[d] = uint64(uint16(r[d]))
		case bpf.OpLe32:
			r[d] = uint64(uint32(r[d]))
		case bpf.OpLe64:

		// 32-bit ALU: operate on the low halves, zero-extend.
		case bpf.OpAdd32Imm:
			r[d] = uint64(uint32(r[d]) + uint32(in.imm))
		case bpf.OpAdd32Reg:
			r[d] = uint64(uint32(r[d]) + uint32(r[s]))
		case bpf.OpSub32Imm:
			r[d] = uint64(uint32(r[d]) - uint32(in.imm))
		case bpf.OpSub32Reg:
			r[d] = uint64(uint32(r[d]) - uint32(r[s]))
		case bpf.OpMul32Imm:
			r[d] = uint64(uint32(r[d]) * uint32(in.imm))
		case bpf.OpMul32Reg:
			r[d] = uint64(uint32(r[d]) * uint32(r[s]))
		case bpf.OpDiv32Imm:
			r[d] = uint64(uint32(r[d]) / uint32(in.imm))
		case bpf.OpDiv32Reg:
			if uint32(r[s]) == 0 {
				r[d] = 0
			} else {
				r[d] = uint64(uint32(r[d]) / uint32(r[s]))
			}
		case bpf.OpSDiv32Imm:
			r[d] = uint64(uint32(int32(r[d]) / int32(in.imm)))
		case bpf.OpSDiv32Reg:
			if uint32(r[s]) == 0 {
				r[d] = 0
			} else {
				r[d] = uint64(uint32(int32(r[d]) / int32(r[s])))
			}
		case bpf.OpMod32Imm:
			r[d] = uint64(uint32(r[d]) % uint32(in.imm))
		case bpf.OpMod32Reg:
			if uint32(r[s]) == 0 {
				r[d] = uint64(uint32(r[d]))
			} else {
				r[d] = uint64(uint32(r[d]) % uint32(r[s]))
			}
		case bpf.OpSMod32Imm:
			r[d] = uint64(uint32(int32(r[d]) % int32(in.imm)))
		case bpf.OpSMod32Reg:
			if uint32(r[s]) == 0 {
				r[d] = uint64(uint32(r[d]))
			} else {
				r[d] = uint64(uint32(int32(r[d]) % int32(r[s])))
			}
		case bpf.OpOr32Imm:
			r[d] = uint64(uint32(r[d]) | uint32(in.imm))
		case bpf.OpOr32Reg:
			r[d] = uint64(uint32(r[d]) | uint32(r[s]))
		case bpf.OpAnd32Imm:
			r[d] = uint64(uint32(r[d]) & uint32(in.imm))
		case bpf.OpAnd32Reg:
			r[d] = uint64(uint32(r[d]) & uint32(r[s]))
		case bpf.OpXor32Imm:
			r[d] = uint64(uint32(r[d]) ^ uint32(in.imm))
		case bpf.OpXor32Reg:
			r[d] = uint64(uint32(r[d]) ^ uint32(r[s]))
		case bpf.OpLsh32Imm:
			r[d] = uint64(uint32(r[d]) << (uint32(in.imm) & 31))
		case bpf.OpLsh32Reg:
			r[d] = uint64(uint32(r[d]) << (uint32(r[s]) & 31))
		case bpf.OpRsh32Imm:
			r[d] = uint64(uint32(r[d]) >> (uint32(in.imm) & 31))
		case bpf.OpRsh32Reg:
			r[d] = uint64(uint32(r[d]) >> (uint32(r[s]) & 31))
		case bpf.OpArsh32Imm:
			r[d] = uint64(uint32(int32(r[d]) >> (uint32(in.imm) & 31)))
		case bpf.OpArsh32Reg:
			r[d] = uint64(uint32(int32(r[d]) >> (uint32(r[s]) & 31)))
		case bpf.OpNeg32:
			r[d] = uint64(-uint32(r[d]))
		case bpf.OpMov32Imm:
			r[d] = uint64(uint32(in.imm))
		case bpf.OpMov32Reg:
			r[d] = uint64(uint32(r[s]))
		case bpf.OpMovSX32B:
			r[d] = uint64(uint32(int32(int8(r[s]))))
		case bpf.OpMovSX32H:
			r[d] = uint64(uint32(int32(int16(r[s]))))

		case bpf.OpJa, bpf.OpGotol:
			t = true
			goto jump
		case bpf.OpJeqImm:
			t = r[d] == uint64(in.imm)
			goto jump
		case bpf.OpJeqReg:
			t = r[d] == r[s]
			goto jump
		case bpf.OpJneImm:
			t = r[d] != uint64(in.imm)
			goto jump
		case bpf.OpJneReg:
			t = r[d] != r[s]
			goto jump
		case bpf.OpJgtImm:
			t = r[d] > uint64(in.imm)
			goto jump
		case bpf.OpJgtReg:
			t = r[d] > r[s]
			goto jump
		case bpf.OpJgeImm:
			t = r[d] >= uint64(in.imm)
			goto jump
		case bpf.OpJgeReg:
			t = r[d] >= r[s]
			goto jump
		case bpf.OpJltImm:
			t = r[d] < uint64(in.imm)
			goto jump
		case bpf.OpJltReg:
			t = r[d] < r[s]
			goto jump
		case bpf.OpJleImm:
			t = r[d] <= uint64(in.imm)
			goto jump
		case bpf.OpJleReg:
			t = r[d] <= r[s]
			goto jump
		case bpf.OpJsetImm:
			t = r[d]&uint64(in.imm) != 0
			goto jump
		case bpf.OpJsetReg:
			t = r[d]&r[s] != 0
			goto jump
		case bpf.OpJsgtImm:
			t = int64(r[d]) > in.imm
			goto jump
		case bpf.OpJsgtReg:
			t = int64(r[d]) > int64(r[s])
			goto jump
		case bpf.OpJsgeImm:
			t = int64(r[d]) >= in.imm
			goto jump
		case bpf.OpJsgeReg:
			t = int64(r[d]) >= int64(r[s])
			goto jump
		case bpf.OpJsltImm:
			t = int64(r[d]) < in.imm
			goto jump
		case bpf.OpJsltReg:
			t = int64(r[d]) < int64(r[s])
			goto jump
		case bpf.OpJsleImm:
			t = int64(r[d]) <= in.imm
			goto jump
		case bpf.OpJsleReg:
			t = int64(r[d]) <= int64(r[s])
			goto jump
		case bpf.OpJeq32Imm:
			t = uint32(r[d]) == uint32(in.imm)
			goto jump
		case bpf.OpJeq32Reg:
			t = uint32(r[d]) == uint32(r[s])
			goto jump
		case bpf.OpJne32Imm:
			t = uint32(r[d]) != uint32(in.imm)
			goto jump
		case bpf.OpJne32Reg:
			t = uint32(r[d]) != uint32(r[s])
			goto jump
		case bpf.OpJgt32Imm:
			t = uint32(r[d]) > uint32(in.imm)
			goto jump
		case bpf.OpJgt32Reg:
			t = uint32(r[d]) > uint32(r[s])
			goto jump
		case bpf.OpJge32Imm:
			t = uint32(r[d]) >= uint32(in.imm)
			goto jump
		case bpf.OpJge32Reg:
			t = uint32(r[d]) >= uint32(r[s])
			goto jump
		case bpf.OpJlt32Imm:
			t = uint32(r[d]) < uint32(in.imm)
			goto jump
		case bpf.OpJlt32Reg:
			t = uint32(r[d]) < uint32(r[s])
			goto jump
		case bpf.OpJle32Imm:
			t = uint32(r[d]) <= uint32(in.imm)
			goto jump
		case bpf.OpJle32Reg:
			t = uint32(r[d]) <= uint32(r[s])
			goto jump
		case bpf.OpJset32Imm:
			t = uint32(r[d])&uint32(in.imm) != 0
			goto jump
		case bpf.OpJset32Reg:
			t = uint32(r[d])&uint32(r[s]) != 0
			goto jump
		case bpf.OpJsgt32Imm:
			t = int32(r[d]) > int32(in.imm)
			goto jump
		case bpf.OpJsgt32Reg:
			t = int32(r[d]) > int32(r[s])
			goto jump
		case bpf.OpJsge32Imm:
			t = int32(r[d]) >= int32(in.imm)
			goto jump
		case bpf.OpJsge32Reg:
			t = int32(r[d]) >= int32(r[s])
			goto jump
		case bpf.OpJslt32Imm:
			t = int32(r[d]) < int32(in.imm)
			goto jump
		case bpf.OpJslt32Reg:
			t = int32(r[d]) < int32(r[s])
			goto jump
		case bpf.OpJsle32Imm:
			t = int32(r[d]) <= int32(in.imm)
			goto jump
		case bpf.OpJsle32Reg:
			t = int32(r[d]) <= int32(r[s])
			goto jump
		case bpf.OpLddw:
			r[d] = uint64(in.imm)
			pc++

		case bpf.OpLdxB, bpf.OpLdxH, bpf.OpLdxW, bpf.OpLdxDW, bpf.OpLoadAcqB, bpf.OpLoadAcqH, bpf.OpLoadAcqW, bpf.OpLoadAcqDW,
			bpf.OpLdxSB, bpf.OpLdxSH, bpf.OpLdxSW:
			a := r[s] + uint64(int64(in.off))
			id := int(a>>32) & idMask
			if a>>ptrShift != ptrTag || id >= len(m.regions) {
				return pc, steps, init
			}
			rg := &m.regions[id]
			o := ptrOff(a)
			sz := int64(in.size)
			if o < int64(rg.lo) || o+sz > int64(rg.hi) || rg.kind != rStack && rg.kind != rPacket && rg.kind != rMem {
				return pc, steps, init
			}
			if rg.init != nil && loadLE(rg.init[o:], in.size) != initOnes[in.size&15] {
				return pc, steps, init
			}
			v := loadLE(rg.buf[o:], in.size)
			if in.sx {
				v = sx(v, in.size)
			}
			r[d] = v
		case bpf.OpStB, bpf.OpStH, bpf.OpStW, bpf.OpStDW, bpf.OpStxB, bpf.OpStxH, bpf.OpStxW, bpf.OpStxDW,
			bpf.OpStoreRelB, bpf.OpStoreRelH, bpf.OpStoreRelW, bpf.OpStoreRelDW:
			a := r[d] + uint64(int64(in.off))
			id := int(a>>32) & idMask
			if a>>ptrShift != ptrTag || id >= len(m.regions) {
				return pc, steps, init
			}
			rg := &m.regions[id]
			o := ptrOff(a)
			sz := int64(in.size)
			if o < int64(rg.lo) || o+sz > int64(rg.hi) || rg.kind != rStack && rg.kind != rPacket && rg.kind != rMem || rg.ro {
				return pc, steps, init
			}
			v := uint64(in.imm)
			if in.srcReg {
				v = r[s]
			}
			if rg.init != nil {
				storeLE(rg.init[o:], in.size, initOnes[in.size&15])
			}
			storeLE(rg.buf[o:], in.size, v)
		default:
			return pc, steps, init
		}
		steps++
		if track {
			init = init&^in.kill | in.gen
		}
		pc++
		continue
	jump:
		steps++
		if track {
			init = init&^in.kill | in.gen
		}
		if in.cond && m.Coverage {
			k := 2 * pc
			if t {
				k++
			}
			m.cover[k] = true
			if m.cmpLog && m.ncmp < len(m.cmps) && (!m.cmpOnly || m.cmpPC == pc) {
				m.cmps[m.ncmp] = cmpRec{pc: int32(pc), a: r[in.dst&15], b: uint64(in.imm)}
				if !in.immSrc {
					m.cmps[m.ncmp].b = r[in.src&15]
				}
				m.ncmp++
			}
		}
		if !t {
			pc++
			continue
		}
		// the step budget and the window's start are checked where
		// control can go back: on taken jumps
		pc = int(in.tgt)
		if pc < m.fastLo || steps >= m.fastBudget {
			return pc, steps, init
		}
	}
}

// atomic executes one read-modify-write instruction.
func (m *Machine) atomic(in *inst) FaultKind {
	r := &m.r
	d, s := in.dst&15, in.src&15
	a := r[d] + uint64(int64(in.off))
	rg, off, f := m.resolve(a, in.size)
	if f != FaultNone {
		return f
	}
	if rg.kind == rCtx {
		return FaultCtxAccess
	}
	if rg.ro {
		return FaultReadOnly
	}
	if rg.init != nil {
		for _, ok := range rg.init[off : off+uint32(in.size)] {
			if ok == 0 {
				return FaultUninitStack
			}
		}
	}
	b := rg.buf[off:]
	old := loadLE(b, in.size)
	src := r[s]
	mask := ^uint64(0)
	if in.size == 4 {
		mask = 0xffffffff
	}
	var nv uint64
	info := in.op.Info()
	switch info.Atomic &^ bpf.AtomicFetch {
	case bpf.AtomicAdd:
		nv = old + src
	case bpf.AtomicOr:
		nv = old | src
	case bpf.AtomicAnd:
		nv = old & src
	case bpf.AtomicXor:
		nv = old ^ src
	case bpf.AtomicXchg &^ bpf.AtomicFetch:
		nv = src
	case bpf.AtomicCmpxchg &^ bpf.AtomicFetch:
		nv = old
		if old == r[0]&mask {
			nv = src
		}
		storeLE(b, in.size, nv&mask)
		r[0] = old
		return FaultNone
	default:
		return FaultUnsupported
	}
	storeLE(b, in.size, nv&mask)
	if info.Atomic&bpf.AtomicFetch != 0 {
		r[s] = old
	}
	return FaultNone
}

// ldAbs is the legacy packet load of socket filters and tc programs: a
// big-endian read at off from the start of the packet. ok is false when the
// kernel's helper would fail (the program then returns 0).
func (m *Machine) ldAbs(off int64, size uint8) (uint64, bool, FaultKind) {
	if !m.layout.packet || m.layout == xdpLayout {
		return 0, false, FaultCtxAccess
	}
	if off < 0 {
		if off >= -0x200000 { // SKF_LL_OFF / SKF_NET_OFF ancillary offsets
			return 0, false, FaultUnsupported
		}
		return 0, false, FaultNone
	}
	n := int64(m.dend - m.data)
	if off+int64(size) > n {
		return 0, false, FaultNone
	}
	b := m.pkt[int64(m.data)+off:]
	switch size {
	case 1:
		return uint64(b[0]), true, FaultNone
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), true, FaultNone
	}
	return uint64(binary.BigEndian.Uint32(b)), true, FaultNone
}

// push enters a bpf-to-bpf call (or a bpf_loop callback): a new frame with
// its own stack; r6-r9 are saved and start uninitialised in the callee.
func (m *Machine) push(ret int, loop *loopState) FaultKind {
	if m.depth+1 >= MaxFrames {
		return FaultCallDepth
	}
	f := &m.frames[m.depth]
	f.ret = int32(ret)
	f.saved = [4]uint64{m.r[6], m.r[7], m.r[8], m.r[9]}
	f.sinit = m.init & (0xf << 6)
	f.loop = loop
	m.depth++
	if m.depth > m.maxDepth {
		m.maxDepth = m.depth
	}
	clear(m.stackInit[m.depth][:])
	m.r[10] = mkptr(regStack0+m.depth, StackSize)
	m.init &^= 0xf<<6 | 1
	return FaultNone
}

// ret leaves a frame and returns the slot to continue at.
func (m *Machine) ret() (int, FaultKind) {
	m.depth--
	f := &m.frames[m.depth]
	m.r[6], m.r[7], m.r[8], m.r[9] = f.saved[0], f.saved[1], f.saved[2], f.saved[3]
	m.r[10] = mkptr(regStack0+m.depth, StackSize)
	m.init = m.init&^(0x1ff<<1) | f.sinit | 1<<10
	if f.loop != nil {
		return m.loopNext(f.loop)
	}
	return int(f.ret), FaultNone
}

// cmpRec is one executed conditional jump's operands (for input
// generation: the values a branch compared).
type cmpRec struct {
	pc   int32
	a, b uint64
}

func (m *Machine) cmpOf(pc int, in *inst) cmpRec {
	c := cmpRec{pc: int32(pc), a: m.r[in.dst&15], b: uint64(in.imm)}
	if !in.immSrc {
		c.b = m.r[in.src&15]
	}
	return c
}
