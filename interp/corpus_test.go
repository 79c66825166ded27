package interp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/safety/kernel"
)

type corpusProg struct {
	file, name string
	spec       *ebpf.CollectionSpec
	prog       *Program
}

func corpusPrograms(t *testing.T) []corpusProg {
	files, _ := filepath.Glob("../corpus/build/*/*.o")
	if len(files) == 0 {
		t.Skip("no corpus objects built")
	}
	var out []corpusProg
	for _, f := range files {
		spec, err := ebpf.LoadCollectionSpec(f)
		if err != nil {
			continue // arena objects: cilium/ebpf cannot read them
		}
		names := make([]string, 0, len(spec.Programs))
		for n := range spec.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p, err := FromSpec(spec, n)
			if err != nil {
				// arena code: cilium/ebpf's Marshal zeroes addr_space_cast's offset
				t.Logf("%s: skipped: %v", f, err)
				continue
			}
			out = append(out, corpusProg{f, n, spec, p})
		}
	}
	return out
}

// usesNondeterminism reports programs whose results depend on time or
// randomness the kernel does not let us fix.
func usesNondeterminism(p *Program) bool {
	for _, in := range p.Insns {
		if in.Op() == bpf.OpCall {
			switch in.Imm {
			case hKtime, hKtimeBoot, hKtimeCoarse, hPrandom, hSmpID:
				return true
			}
		}
	}
	return false
}

// TestCorpusCoverage: generated inputs cover the corpus programs'
// reachable branches, and never take an edge BranchReach rules out.
//
// -coverseeds runs it once per seed (e.g. -coverseeds 1,2,3,4) and logs
// each program's minimum over the seeds.
func TestCorpusCoverage(t *testing.T) {
	var seeds []uint64
	for _, f := range strings.Split(*coverSeeds, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("-coverseeds %q: %v", *coverSeeds, err)
		}
		seeds = append(seeds, s)
	}
	type minCov struct {
		label          string
		covered, reach int
		pct            float64
	}
	var mins []minCov
	for _, cp := range corpusPrograms(t) {
		label := fmt.Sprintf("%-3s %-22s", filepath.Base(filepath.Dir(cp.file)), cp.name)
		mc := minCov{label: label, pct: 101}
		for _, seed := range seeds {
			c, r := coverOnce(t, cp, seed)
			pct := 100.0
			if r > 0 {
				pct = 100 * float64(c) / float64(r)
			}
			if pct < mc.pct {
				mc = minCov{label, c, r, pct}
			}
		}
		mins = append(mins, mc)
	}
	if len(seeds) > 1 {
		for _, mc := range mins {
			t.Logf("min over seeds %v: %s %3d/%3d (%5.1f%%)", seeds, mc.label, mc.covered, mc.reach, mc.pct)
		}
	}
}

var coverSeeds = flag.String("coverseeds", "3", "comma-separated GenCoverage seeds for TestCorpusCoverage")

// coverOnce runs GenCoverage on cp with seed, checks its inputs and
// returns covered and reachable edges.
func coverOnce(t *testing.T, cp corpusProg, seed uint64) (int, int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	kept, cov, total := GenCoverage(cp.prog, rng, 50000)
	faults := 0
	m := NewMachine(cp.prog, nil)
	m.Coverage = true
	seen := make([]bool, 2*cp.prog.Slots())
	for _, in := range kept {
		out := m.Run(in)
		if !out.Fault.Ok() {
			faults++
			if faults == 1 {
				t.Logf("%s/%s: %v", filepath.Base(filepath.Dir(cp.file)), cp.name, out.Fault)
			}
		}
		for i, c := range out.Cover {
			seen[i] = seen[i] || c
		}
	}
	st := Stats(cp.prog, seen)
	if st.Covered != cov || st.Reachable != total {
		t.Errorf("%s/%s: GenCoverage says %d/%d, its inputs cover %d/%d", cp.file, cp.name, cov, total, st.Covered, st.Reachable)
	}
	for _, k := range st.Bad {
		t.Errorf("%s/%s: edge %d/%v taken but ruled out as %v", cp.file, cp.name, k/2, k%2 == 1, st.Reach[k])
	}
	pct := 100.0
	if st.Reachable > 0 {
		pct = 100 * float64(st.Covered) / float64(st.Reachable)
	}
	t.Logf("%-3s %-16s %-22s branches %3d/%3d (%5.1f%%) of %3d edges, ruled out: %2d dead, %2d const, %2d rodata, %2d non-null; %3d inputs, %d faulting",
		filepath.Base(filepath.Dir(cp.file)), filepath.Base(cp.file), cp.name, st.Covered, st.Reachable, pct, st.Edges,
		st.Excluded[EdgeDead], st.Excluded[EdgeConst], st.Excluded[EdgeRodata], st.Excluded[EdgeNonNull], len(kept), faults)
	return st.Covered, st.Reachable
}

// pinCPU0 keeps the calling goroutine on CPU 0 so per-CPU map values and
// bpf_get_smp_processor_id match the interpreter's Env.CPU = 0.
func pinCPU0(t *testing.T) func() {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Logf("cannot pin to CPU 0: %v", err)
	}
	return runtime.UnlockOSThread
}

// kmap mirrors one kernel map for the differential, so that setting an
// input writes only what changed. Arrays are flat images (element i on
// CPU c at (i*ncpu+c)*vs), other maps key -> one value per CPU.
type kmap struct {
	m      *ebpf.Map
	spec   *MapSpec
	percpu bool
	array  bool
	ncpu   int
	vs     int
	acur   []byte
	awant  []byte
	cur    map[string][][]byte
	want   map[string][][]byte
}

// comparable map types: the differential reads and writes them.
func kmapComparable(t ebpf.MapType) bool {
	switch t {
	case ebpf.Hash, ebpf.Array, ebpf.LRUHash, ebpf.PerCPUHash, ebpf.PerCPUArray, ebpf.LRUCPUHash, ebpf.LPMTrie:
		return true
	case ebpf.DevMap, ebpf.DevMapHash:
		// entries name the loopback device (keyValue), which exists in
		// the test's namespace; iteration and lookups read them back
		return true
	}
	return false
}

func newKmap(m *ebpf.Map, spec *MapSpec) (*kmap, error) {
	k := &kmap{m: m, spec: spec, percpu: isPerCPU(spec.Type), ncpu: 1, vs: int(spec.ValueSize),
		array: spec.Type == ebpf.Array || spec.Type == ebpf.PerCPUArray}
	if k.percpu {
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return nil, err
		}
		k.ncpu = n
	}
	var err error
	if k.array {
		k.acur, err = k.dumpArray()
		k.awant = make([]byte, len(k.acur))
	} else {
		k.cur, err = k.dumpHash()
	}
	return k, err
}

// dumpArray reads an array with one BPF_MAP_LOOKUP_BATCH into a flat
// image; values are [vs]byte elements, ncpu of them per key.
func (k *kmap) dumpArray() ([]byte, error) {
	n := int(k.spec.MaxEntries)
	keys := make([]uint32, n)
	valsT := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(k.vs, reflect.TypeFor[byte]())), n*k.ncpu, n*k.ncpu)
	var cursor ebpf.MapBatchCursor
	got, err := k.m.BatchLookup(&cursor, keys, valsT.Interface(), nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("map %s: batch lookup returned %d of %d elements", k.spec.Name, got, n)
	}
	for i, key := range keys {
		if key != uint32(i) {
			return nil, fmt.Errorf("map %s: batch lookup returned key %d at %d", k.spec.Name, key, i)
		}
	}
	return bytes.Clone(unsafe.Slice((*byte)(valsT.UnsafePointer()), n*k.ncpu*k.vs)), nil
}

// dumpHash reads a hash-like map by iteration.
func (k *kmap) dumpHash() (map[string][][]byte, error) {
	out := map[string][][]byte{}
	stride := (k.vs + 7) &^ 7
	var key any
	for range k.spec.MaxEntries + 1 {
		next, err := k.m.NextKeyBytes(key)
		if err != nil {
			return nil, err
		}
		if next == nil {
			break
		}
		raw, err := k.m.LookupBytes(next)
		if err != nil {
			return nil, err
		}
		if raw != nil {
			v := make([][]byte, k.ncpu)
			for c := range v {
				v[c] = bytes.Clone(raw[c*stride : c*stride+k.vs])
			}
			out[string(next)] = v
		}
		key = next
	}
	return out, nil
}

// setInput makes the kernel map hold kv on every CPU (arrays: zero where
// kv has no element), writing only the differences.
func (k *kmap) setInput(kv []KV) error {
	if k.array {
		clear(k.awant)
		for _, e := range kv {
			i := int(binary.NativeEndian.Uint32(e.Key))
			if i >= int(k.spec.MaxEntries) {
				continue
			}
			for c := range k.ncpu {
				copy(k.awant[(i*k.ncpu+c)*k.vs:(i*k.ncpu+c+1)*k.vs], e.Value)
			}
		}
		el := k.ncpu * k.vs
		for i := range int(k.spec.MaxEntries) {
			w := k.awant[i*el : (i+1)*el]
			if bytes.Equal(k.acur[i*el:(i+1)*el], w) {
				continue
			}
			if err := k.update(binary.NativeEndian.AppendUint32(nil, uint32(i)), k.split(w)); err != nil {
				return err
			}
			copy(k.acur[i*el:], w)
		}
		return nil
	}
	k.want = map[string][][]byte{}
	for _, e := range kv {
		v := make([]byte, k.vs)
		copy(v, e.Value)
		vals := make([][]byte, k.ncpu)
		for c := range vals {
			vals[c] = v
		}
		k.want[string(e.Key)] = vals
	}
	for key, v := range k.want {
		if c, ok := k.cur[key]; ok && slices.EqualFunc(c, v, bytes.Equal) {
			continue
		}
		if err := k.update([]byte(key), v); err != nil {
			return err
		}
		k.cur[key] = v
	}
	for key := range k.cur {
		if _, ok := k.want[key]; !ok {
			if err := k.m.Delete([]byte(key)); err != nil {
				return fmt.Errorf("map %s delete %x: %w", k.spec.Name, key, err)
			}
			delete(k.cur, key)
		}
	}
	return nil
}

func (k *kmap) split(flat []byte) [][]byte {
	v := make([][]byte, k.ncpu)
	for c := range v {
		v[c] = flat[c*k.vs : (c+1)*k.vs]
	}
	return v
}

func (k *kmap) update(key []byte, v [][]byte) error {
	var val any = v[0]
	if k.percpu {
		val = v
	}
	if err := k.m.Update(key, val, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("map %s key %x: %w", k.spec.Name, key, err)
	}
	return nil
}

// check compares the kernel's map after a run with the interpreter's:
// per-CPU maps by CPU 0's value (the test goroutine runs on CPU 0), and
// the other CPUs must still hold the input value.
func (k *kmap) check(m *Machine, mi int) (string, error) {
	if k.array {
		now, err := k.dumpArray()
		if err != nil {
			return "", err
		}
		k.acur = now
		vals := m.maps[mi].vals
		el := k.ncpu * k.vs
		for i := range int(k.spec.MaxEntries) {
			kv, iv := now[i*el:(i+1)*el], vals[i*k.vs:(i+1)*k.vs]
			if !bytes.Equal(kv[:k.vs], iv) {
				return fmt.Sprintf("map %s element %d: kernel %x, interp %x", k.spec.Name, i, kv[:k.vs], iv), nil
			}
			if !bytes.Equal(kv[k.vs:], k.awant[i*el+k.vs:(i+1)*el]) {
				return fmt.Sprintf("map %s element %d: another CPU's value changed", k.spec.Name, i), nil
			}
		}
		return "", nil
	}
	now, err := k.dumpHash()
	if err != nil {
		return "", err
	}
	k.cur = now
	got := m.Contents(mi)
	if len(now) != len(got) {
		return fmt.Sprintf("map %s: kernel %d entries, interp %d", k.spec.Name, len(now), len(got)), nil
	}
	for _, kv := range got {
		kv0, ok := now[string(kv.Key)]
		if !ok || !bytes.Equal(kv0[0], kv.Value) {
			var kval []byte
			if ok {
				kval = kv0[0]
			}
			return fmt.Sprintf("map %s key %x: kernel %x, interp %x", k.spec.Name, kv.Key, kval, kv.Value), nil
		}
		if old, ok := k.want[string(kv.Key)]; ok && !slices.EqualFunc(kv0[1:], old[1:], bytes.Equal) {
			return fmt.Sprintf("map %s key %x: another CPU's value changed", k.spec.Name, kv.Key), nil
		}
	}
	return "", nil
}

// skbTestRunAccepts reports whether BPF_PROG_TEST_RUN takes in's packet:
// at least an Ethernet header, and for skb programs (tc, socket filter)
// with an IPv4 / IPv6 Ethernet type a whole IPv4 (20 bytes) / IPv6 (40
// bytes) header after it (kernel 6.18: EINVAL otherwise; pinned by
// TestSkbTestRunTruncatedL3). Socket filters get the Ethernet header from
// the harness, with in's skb->protocol as its type.
func skbTestRunAccepts(typ ebpf.ProgramType, in *Input) bool {
	n := len(in.Packet)
	var proto uint16
	switch typ {
	case ebpf.XDP:
		return n >= 14
	case ebpf.SocketFilter:
		proto = binary.BigEndian.Uint16(in.Ctx[skbProtocol:])
		n += 14
	default:
		if n < 14 {
			return false
		}
		proto = binary.BigEndian.Uint16(in.Packet[12:])
	}
	switch proto {
	case 0x0800:
		return n >= 14+20
	case 0x86dd:
		return n >= 14+40
	}
	return n >= 14
}

// fibProbe is an XDP program that runs bpf_fib_lookup on the 64-byte
// struct at the start of the packet and writes the struct back, with the
// return value at offset 64: the kernel's answer for the interpreter's
// Env.Fib.
func fibProbe(flags int32) []bpf.Insn {
	p := []bpf.Insn{
		bpf.Mov64Reg(bpf.R6, bpf.R1),
		bpf.LdxW(bpf.R7, bpf.R6, 0),
		bpf.LdxW(bpf.R3, bpf.R6, 4),
		bpf.Mov64Reg(bpf.R4, bpf.R7),
		bpf.Add64Imm(bpf.R4, 72),
		bpf.JleReg(bpf.R4, bpf.R3, 2),
		bpf.Mov64Imm(bpf.R0, 0),
		bpf.Exit(),
	}
	for k := range int16(8) {
		p = append(p, bpf.LdxDW(bpf.R5, bpf.R7, 8*k), bpf.StxDW(bpf.R10, bpf.R5, -64+8*k))
	}
	p = append(p, bpf.Mov64Reg(bpf.R1, bpf.R6), bpf.Mov64Reg(bpf.R2, bpf.R10), bpf.Add64Imm(bpf.R2, -64),
		bpf.Mov64Imm(bpf.R3, 64), bpf.Mov64Imm(bpf.R4, flags), bpf.Call(hFibLookup),
		bpf.StxDW(bpf.R7, bpf.R0, 64))
	for k := range int16(8) {
		p = append(p, bpf.LdxDW(bpf.R5, bpf.R10, -64+8*k), bpf.StxDW(bpf.R7, bpf.R5, 8*k))
	}
	return append(p, bpf.Mov64Imm(bpf.R0, 2), bpf.Exit())
}

// fibCalibrate asks the kernel what bpf_fib_lookup returns for the
// lookups the interpreter's run of in makes and sets in.Env.Fib to it;
// the routing state of this machine is an input the program cannot see.
func fibCalibrate(t *testing.T, m *Machine, in *Input, probes map[int32]*ebpf.Program) error {
	for range 4 {
		out := m.Run(in)
		var res []FibResult
		for _, c := range out.Calls {
			if c.Helper != hFibLookup || len(c.Data) < fibSize {
				continue
			}
			flags := int32(c.Args[3])
			kp := probes[flags]
			if kp == nil {
				var err error
				if kp, err = loadRaw(t, ebpf.XDP, fibProbe(flags)); err != nil {
					return err
				}
				probes[flags] = kp
			}
			// c.Data is the struct as the program passed it in
			kr, err := kernel.TestRun(kp, kernel.RunOptions{Data: append(bytes.Clone(c.Data[:fibSize]), make([]byte, 8)...)})
			if err != nil {
				return err
			}
			res = append(res, FibResult{Ret: int64(binary.NativeEndian.Uint64(kr.DataOut[64:])), Params: bytes.Clone(kr.DataOut[:fibSize])})
		}
		if len(res) == 0 || fibSame(res, in.Env.Fib) {
			return nil
		}
		in.Env.Fib = res
	}
	return nil
}

func fibSame(a, b []FibResult) bool {
	return slices.EqualFunc(a, b, func(x, y FibResult) bool { return x.Ret == y.Ret && bytes.Equal(x.Params, y.Params) })
}

// diffCorpus runs every runnable corpus program (XDP, tc, socket filter)
// on n generated inputs in the kernel and the interpreter and compares
// r0, the packet, the context fields the test run copies out and the
// maps. Programs whose results depend on time or randomness are left
// out (the kernel's clock cannot be set); bpf_fib_lookup's answers come
// from the kernel (fibCalibrate). It returns the number of compared
// pairs.
func diffCorpus(t *testing.T, n int) int {
	needKernel(t)
	defer pinCPU0(t)()
	pairs, refused, skipped := 0, 0, 0
	objs := map[string]*kernel.Object{}
	probes := map[int32]*ebpf.Program{}
	defer func() {
		for _, o := range objs {
			o.Close()
		}
		for _, p := range probes {
			p.Close()
		}
	}()
	perProg := map[string]int{}
	for _, cp := range corpusPrograms(t) {
		typ := cp.prog.Type
		label := filepath.Base(filepath.Dir(cp.file)) + "/" + cp.name
		if typ != ebpf.XDP && typ != ebpf.SchedCLS && typ != ebpf.SocketFilter {
			continue // no BPF_PROG_TEST_RUN (kprobe, tracepoint, cgroup sock_addr), or flow dissector (not compared yet)
		}
		if usesNondeterminism(cp.prog) {
			t.Logf("%s: not compared: reads the clock or random numbers", label)
			continue
		}
		o := objs[cp.file]
		if o == nil {
			var err error
			o, err = kernel.LoadFile(cp.file, nil)
			if errors.Is(err, unix.EPERM) {
				t.Skipf("kernel refuses BPF_PROG_LOAD: %v", err)
			}
			if err != nil {
				t.Fatalf("%s: %v", cp.file, err)
			}
			objs[cp.file] = o
		}
		if o.Programs[cp.name] == nil {
			t.Errorf("%s: not loaded by the kernel", label)
			continue
		}
		kmaps := make([]*kmap, len(cp.prog.Maps))
		for i := range cp.prog.Maps {
			ms := &cp.prog.Maps[i]
			km := o.Maps[ms.Name]
			if km == nil || !kmapComparable(ms.Type) {
				continue
			}
			var err error
			if kmaps[i], err = newKmap(km, ms); err != nil {
				t.Fatalf("%s: map %s: %v", label, ms.Name, err)
			}
		}
		rng := rand.New(rand.NewPCG(5, uint64(len(cp.name))))
		m := NewMachine(cp.prog, nil)
		for _, in := range GenInputs(cp.prog, rng, n) {
			if !skbTestRunAccepts(typ, in) {
				skipped++
				continue
			}
			if err := fibCalibrate(t, m, in, probes); err != nil {
				t.Fatalf("%s: fib probe: %v", label, err)
			}
			for i, k := range kmaps {
				if k == nil {
					continue
				}
				kv := cp.prog.Maps[i].Contents
				if i < len(in.Maps) && in.Maps[i] != nil {
					kv = in.Maps[i]
				}
				if err := k.setInput(kv); err != nil {
					t.Fatalf("%s: %v", label, err)
				}
			}
			opts := kernel.RunOptions{Data: in.Packet}
			switch typ {
			case ebpf.SchedCLS:
				// __sk_buff fields a test run accepts (convert___skb_to_skb)
				ctx := make([]byte, skbSize)
				copy(ctx[skbMark:skbMark+4], in.Ctx[skbMark:])
				copy(ctx[skbPriority:skbPriority+4], in.Ctx[skbPriority:])
				opts.Ctx = ctx
			case ebpf.SocketFilter:
				// the kernel pulls an Ethernet header it is given
				opts.Data = append([]byte{12: in.Ctx[skbProtocol], 13: in.Ctx[skbProtocol+1]}, in.Packet...)
			}
			kr, err := o.TestRun(cp.name, opts)
			if err != nil {
				refused++
				t.Errorf("%s: test run refused the input: %v\ninput %x", label, err, in.Packet)
				continue
			}
			out := m.Run(in)
			pairs++
			perProg[label]++
			msg := ""
			kpkt := kr.DataOut
			if typ == ebpf.SocketFilter {
				kpkt = kpkt[14:]
			}
			switch {
			case !out.Fault.Ok():
				msg = fmt.Sprintf("interpreter fault %v", out.Fault)
			case uint32(out.R0) != kr.Retval:
				msg = fmt.Sprintf("retval: kernel %d, interp %d", kr.Retval, out.R0)
			case !bytes.Equal(kpkt, out.Packet):
				msg = fmt.Sprintf("packet: kernel %x\ninterp %x", kpkt, out.Packet)
			case typ == ebpf.SchedCLS && !bytes.Equal(kr.CtxOut[skbMark:skbMark+4], m.ctx[skbMark:skbMark+4]):
				msg = fmt.Sprintf("skb->mark: kernel %x, interp %x", kr.CtxOut[skbMark:skbMark+4], m.ctx[skbMark:skbMark+4])
			case typ == ebpf.SchedCLS && !bytes.Equal(kr.CtxOut[skbPriority:skbPriority+4], m.ctx[skbPriority:skbPriority+4]):
				msg = fmt.Sprintf("skb->priority: kernel %x, interp %x", kr.CtxOut[skbPriority:skbPriority+4], m.ctx[skbPriority:skbPriority+4])
			case typ == ebpf.SchedCLS && !bytes.Equal(kr.CtxOut[skbCb:skbCb+20], m.ctx[skbCb:skbCb+20]):
				msg = fmt.Sprintf("skb->cb: kernel %x, interp %x", kr.CtxOut[skbCb:skbCb+20], m.ctx[skbCb:skbCb+20])
			}
			for i, k := range kmaps {
				if msg != "" || k == nil {
					break
				}
				if msg, err = k.check(m, i); err != nil {
					t.Fatalf("%s: %v", label, err)
				}
			}
			if msg != "" {
				t.Errorf("%s: %s\ninput %x ctx %x env %+v", label, msg, in.Packet, in.Ctx, in.Env)
				break
			}
		}
	}
	names := make([]string, 0, len(perProg))
	for k := range perProg {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t.Logf("%-24s %5d pairs", k, perProg[k])
	}
	t.Logf("%d inputs not run: the test run refuses them (skbTestRunAccepts)", skipped)
	if refused > 0 {
		t.Errorf("%d inputs refused by BPF_PROG_TEST_RUN", refused)
	}
	return pairs
}

// TestDiffCorpus: corpus programs vs the kernel on a few thousand
// generated inputs (the soak target runs more).
func TestDiffCorpus(t *testing.T) {
	n := diffCorpus(t, 100)
	t.Logf("%d (program, input) pairs, 0 mismatches", n)
}
