package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/interp"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
)

// nondeterministic helpers: programs calling them cannot be compared run
// by run (time, random numbers).
var nondeterministic = map[int32]bool{5: true, 7: true, 125: true, 160: true}

// TestOptimizedKernelDifferential optimizes sample programs and runs the
// original and the optimized object side by side with BPF_PROG_TEST_RUN on
// generated packets: return values, output packets and, at the end, every
// map must agree.
func TestOptimizedKernelDifferential(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("kernel unavailable: %v", err)
	}
	// Per-CPU maps are compared CPU by CPU: keep every run on one CPU.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpus unix.CPUSet
	cpus.Set(0)
	if err := unix.SchedSetaffinity(0, &cpus); err != nil {
		t.Skipf("cannot pin to CPU 0: %v", err)
	}
	inputs := 2000
	if testing.Short() {
		inputs = 300
	}
	dir := t.TempDir()
	compared := 0
	for _, in := range append(optimizeSample, "../../corpus/build/v3/xdp_reflect.o", "../../corpus/build/v3/xdp_router.o", "../../corpus/build/v3/tc_classify.o",
		// tail merges (xdp_firewall), windows with exits across a parser loop (xdp_dns_stats)
		"../../corpus/build/v3/xdp_firewall.o", "../../corpus/build/v3/xdp_dns_stats.o") {
		out := filepath.Join(dir, filepath.Base(filepath.Dir(in))+"_"+filepath.Base(in))
		if _, stderr, code := runBin(t, in, "-o", out, "--iters", "20000", "--seed", "5"); code != 0 {
			t.Fatalf("%s: exit %d: %s", in, code, stderr)
		}
		ia, _ := os.ReadFile(in)
		ib, _ := os.ReadFile(out)
		if bytes.Equal(ia, ib) {
			continue // nothing changed: nothing to compare
		}
		f, err := object.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kernel.Load(ia, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := kernel.Load(ib, nil)
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		for _, fn := range f.Programs() {
			if !kernel.Runnable(fn.Type) || a.Programs[fn.Name] == nil || usesHelper(fn.Insns, nondeterministic) {
				continue
			}
			rng := rand.New(rand.NewPCG(11, uint64(len(fn.Insns))))
			for i := 0; i < inputs; i++ {
				pkt := interp.GenPacket(rng, i%(interp.PktDNS+1))
				opts := kernel.RunOptions{Data: pkt}
				if fn.Type != ebpf.SocketFilter && fn.Type != ebpf.XDP {
					opts.Ctx = interp.KernelCtx(rng, fn.Type, pkt)
				}
				ra, errA := a.TestRun(fn.Name, opts)
				rb, errB := b.TestRun(fn.Name, opts)
				if (errA == nil) != (errB == nil) {
					t.Fatalf("%s/%s input %d: errors differ: %v vs %v (packet %x)", in, fn.Name, i, errA, errB, pkt)
				}
				if errA != nil {
					continue // the kernel refuses this input for both
				}
				if ra.Retval != rb.Retval || !bytes.Equal(ra.DataOut, rb.DataOut) {
					t.Fatalf("%s/%s input %d: original r0=%d, optimized r0=%d (packet %x)", in, fn.Name, i, ra.Retval, rb.Retval, pkt)
				}
				compared++
			}
		}
		sa, errA := a.Snapshot()
		sb, errB := b.Snapshot()
		if errA != nil || errB != nil {
			t.Fatalf("snapshots: %v, %v", errA, errB)
		}
		if d := sa.Diff(sb); len(d) > 0 {
			t.Errorf("%s: maps differ after the runs: %v", in, d[:min(len(d), 5)])
		}
		a.Close()
		b.Close()
	}
	if compared == 0 {
		t.Fatal("no optimized program was compared: the test proves nothing")
	}
	t.Logf("%d (program, input) pairs compared, 0 differences", compared)
}

func usesHelper(insns []bpf.Insn, ids map[int32]bool) bool {
	for _, in := range insns {
		if in.Code == 0x85 && in.Src == 0 && ids[in.Imm] {
			return true
		}
	}
	return false
}
