package kernel

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// needKernel skips (one line) when the kernel refuses BPF_PROG_LOAD.
func needKernel(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		tb.Skip(err)
	}
}

func loadFixture(tb testing.TB, name string) *Object {
	tb.Helper()
	needKernel(tb)
	o, err := LoadFile(filepath.Join("testdata", name), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	return o
}

func TestVerdicts(t *testing.T) {
	type want struct {
		obj, prog    string
		status       []Status // any of
		minProcessed int
		raw          bool
		logHas       string
		errHas       string
	}
	tt := t
	objs := map[string]*Object{}
	acc := []Status{Accepted}
	// fentry/fexit/lsm/freplace need BPF trampolines; kernels without them
	// refuse before verification, which must not be reported as a rejection.
	accOrNS := []Status{Accepted, NotStandalone}
	ns := []Status{NotStandalone}
	for _, tc := range []want{
		{"xdp.o", "xdp_classify", acc, 20, false, "processed", ""},
		{"xdp.o", "sock_len", acc, 1, false, "", ""},
		{"rejects.o", "xdp_oob", []Status{Rejected}, 1, false, "outside of the packet", "invalid access to packet"},
		{"rejects.o", "xdp_ok", acc, 1, false, "", ""},
		{"arena.o", "arena_sum", acc, 10, true, "", ""},
		{"may_goto.o", "may_goto_loop", acc, 1000, false, "", ""},
		{"bench.o", "xdp_bench", acc, 20, false, "", ""},
		{"kinds.o", "kp", acc, 1, false, "", ""},
		{"kinds.o", "tp", acc, 1, false, "", ""},
		{"kinds.o", "rawtp", acc, 1, false, "", ""},
		{"kinds.o", "tpbtf", acc, 1, false, "", ""},
		{"kinds.o", "cg_skb", acc, 1, false, "", ""},
		{"kinds.o", "tc_prog", acc, 1, false, "", ""},
		{"kinds.o", "sys_prog", acc, 1, false, "", ""},
		{"kinds.o", "xdp_caller", acc, 2, false, "", ""},
		{"kinds.o", "fent", accOrNS, -1, false, "", ""},
		{"kinds.o", "fexi", accOrNS, -1, false, "", ""},
		{"kinds.o", "lsm_open", accOrNS, -1, false, "", ""},
		{"kinds.o", "repl", accOrNS, -1, false, "", ""},
		{"kinds.o", "fent_missing", ns, -1, false, "", "k2opt_no_such_kernel_function"},
		{"kinds.o", "repl_orphan", ns, -1, false, "", "k2opt_no_such_target"},
	} {
		t.Run(tc.obj+"/"+tc.prog, func(t *testing.T) {
			o := objs[tc.obj]
			if o == nil {
				o = loadFixture(tt, tc.obj) // released when TestVerdicts ends
				objs[tc.obj] = o
			}
			v, ok := o.Verdict(tc.prog)
			if !ok {
				t.Fatalf("no verdict for %s", tc.prog)
			}
			found := false
			for _, s := range tc.status {
				found = found || v.Status == s
			}
			if !found {
				t.Fatalf("status %s, want one of %v; err: %v", v.Status, tc.status, v.Err)
			}
			if v.Accepted != (v.Status == Accepted) || (v.Status == Accepted) != (o.Programs[tc.prog] != nil) {
				t.Errorf("Accepted=%v, status %s, loaded=%v disagree", v.Accepted, v.Status, o.Programs[tc.prog] != nil)
			}
			if v.Status == Accepted && v.Err != nil {
				t.Errorf("accepted with error %v", v.Err)
			}
			if v.Status != Accepted && v.Err == nil {
				t.Errorf("status %s without error", v.Status)
			}
			if v.Status == NotStandalone && !errors.Is(v.Err, ErrNotStandalone) {
				t.Errorf("not-standalone error does not wrap ErrNotStandalone: %v", v.Err)
			}
			if tc.minProcessed > 0 && v.Processed < tc.minProcessed {
				t.Errorf("processed %d insns, want >= %d", v.Processed, tc.minProcessed)
			}
			if v.Raw != tc.raw {
				t.Errorf("raw loader used = %v, want %v", v.Raw, tc.raw)
			}
			if !strings.Contains(v.Log, tc.logHas) {
				t.Errorf("log lacks %q:\n%s", tc.logHas, v.Log)
			}
			if tc.errHas != "" && (v.Err == nil || !strings.Contains(v.Err.Error(), tc.errHas)) {
				t.Errorf("error %v lacks %q", v.Err, tc.errHas)
			}
		})
	}
}

func TestRejectError(t *testing.T) {
	o := loadFixture(t, "rejects.o")
	v, _ := o.Verdict("xdp_oob")
	var re *RejectError
	if !errors.As(v.Err, &re) {
		t.Fatalf("error %T %v is not a *RejectError", v.Err, v.Err)
	}
	if re.Insn != 1 {
		t.Errorf("insn %d, want 1 (the unchecked load)", re.Insn)
	}
	if !errors.Is(v.Err, unix.EACCES) {
		t.Errorf("cause %v, want EACCES", re.Cause)
	}
	sum := re.Summary()
	if strings.Contains(sum, "\n") || !strings.Contains(sum, "xdp_oob") || !strings.Contains(sum, "outside of the packet") {
		t.Errorf("summary %q: want one line naming the program and the reason", sum)
	}
	if lines := strings.Split(re.Error(), "\n"); len(lines) < 3 || lines[0] != sum {
		t.Errorf("Error() should be the summary plus the log tail, got:\n%s", re.Error())
	}
}

func ethPacket(ethertype uint16, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i + 1)
	}
	if n >= 14 {
		binary.BigEndian.PutUint16(p[12:], ethertype)
	}
	return p
}

func TestRunXDP(t *testing.T) {
	o := loadFixture(t, "xdp.o")
	for _, tc := range []struct {
		name    string
		pkt     []byte
		retval  uint32
		flipped bool
	}{
		{"ipv4", ethPacket(0x0800, 64), 2, false},
		{"ipv6", ethPacket(0x86dd, 64), 1, false},
		{"arp", ethPacket(0x0806, 64), 3, true},
		{"min", ethPacket(0x0800, 14), 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := o.TestRun("xdp_classify", RunOptions{Data: tc.pkt})
			if err != nil {
				t.Fatal(err)
			}
			if res.Retval != tc.retval {
				t.Errorf("retval %d, want %d", res.Retval, tc.retval)
			}
			want := append([]byte(nil), tc.pkt...)
			if tc.flipped {
				want[0] ^= 0xff
			}
			if string(res.DataOut) != string(want) {
				t.Errorf("data out\n %x\nwant\n %x", res.DataOut, want)
			}
		})
	}
}

func TestRunShortPacket(t *testing.T) {
	o := loadFixture(t, "xdp.o")
	// The kernel wants at least an Ethernet header; the error must say so.
	_, err := o.TestRun("xdp_classify", RunOptions{Data: make([]byte, 10)})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "xdp_classify") {
		t.Errorf("error %v, want EINVAL naming the program", err)
	}
}

func TestRunRepeatAndCtx(t *testing.T) {
	o := loadFixture(t, "xdp.o")
	// struct xdp_md in and out: data, data_end, data_meta, ingress_ifindex,
	// rx_queue_index, egress_ifindex (6 x u32). The kernel wants data_end
	// equal to the packet length and the rest zero.
	ctx := make([]byte, 24)
	binary.NativeEndian.PutUint32(ctx[4:], 64)
	res, err := o.TestRun("xdp_classify", RunOptions{Data: ethPacket(0x0800, 64), Ctx: ctx, Repeat: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retval != 2 || len(res.CtxOut) != 24 {
		t.Fatalf("retval %d ctx out %d bytes, want 2 and 24", res.Retval, len(res.CtxOut))
	}
	if end := binary.NativeEndian.Uint32(res.CtxOut[4:]); end != 64 {
		t.Errorf("ctx out data_end %d, want 64", end)
	}
	if res.Duration <= 0 {
		t.Errorf("duration %v, want > 0 for 100 runs", res.Duration)
	}
	s, err := o.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.NativeEndian.Uint64(s["counts"].Entries[0].Value); got != 100 {
		t.Errorf("counts[0] = %d after 100 runs, want 100", got)
	}
}

func TestRunSocketFilter(t *testing.T) {
	o := loadFixture(t, "xdp.o")
	res, err := o.TestRun("sock_len", RunOptions{Data: ethPacket(0x0800, 60)})
	if err != nil {
		t.Fatal(err)
	}
	// The skb runner strips the Ethernet header for non-tc programs.
	if res.Retval != 60-14 {
		t.Errorf("skb->len %d, want %d", res.Retval, 60-14)
	}
}

func TestRunArena(t *testing.T) {
	o := loadFixture(t, "arena.o")
	for _, n := range []int32{0, 1, 4, 16, 100} {
		ctx := binary.NativeEndian.AppendUint32(nil, uint32(n))
		res, err := o.TestRun("arena_sum", RunOptions{Ctx: ctx})
		if err != nil {
			t.Fatal(err)
		}
		k := min(n, 16)
		if want := uint32(3 * k * (k - 1) / 2); res.Retval != want {
			t.Errorf("n=%d: retval %d, want %d", n, res.Retval, want)
		}
	}
}

func TestRunMayGoto(t *testing.T) {
	o := loadFixture(t, "may_goto.o")
	res, err := o.TestRun("may_goto_loop", RunOptions{Data: ethPacket(0x0800, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retval != 499500%7 {
		t.Errorf("retval %d, want %d", res.Retval, 499500%7)
	}
}

func TestNotRunnable(t *testing.T) {
	o := loadFixture(t, "kinds.o")
	for _, prog := range []string{"kp", "tp"} {
		_, err := o.TestRun(prog, RunOptions{Data: ethPacket(0, 64)})
		if !errors.Is(err, ErrNotRunnable) {
			t.Errorf("%s: error %v, want ErrNotRunnable", prog, err)
		}
	}
	if _, err := o.TestRun("repl_orphan", RunOptions{}); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("running an unloaded program: error %v, want 'not loaded'", err)
	}
	res, err := o.TestRun("sys_prog", RunOptions{})
	if err != nil || res.Retval != 7 {
		t.Errorf("syscall program: retval %d err %v, want 7", res.Retval, err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	o := loadFixture(t, "xdp.o")
	before, err := o.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, et := range []uint16{0x0800, 0x0800, 0x86dd, 0x0806} {
		if _, err := o.TestRun("xdp_classify", RunOptions{Data: ethPacket(et, 64)}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := o.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	counts := after["counts"]
	if len(counts.Entries) != 4 {
		t.Fatalf("counts has %d entries, want 4 (array)", len(counts.Entries))
	}
	for i, want := range []uint64{2, 1, 1, 0} {
		if got := binary.NativeEndian.Uint64(counts.Entries[i].Value); got != want {
			t.Errorf("counts[%d] = %d, want %d", i, got, want)
		}
	}
	pc := after["pcpu"]
	if !pc.PerCPU || len(pc.Entries) != 1 {
		t.Fatalf("pcpu dump: perCPU=%v entries=%d", pc.PerCPU, len(pc.Entries))
	}
	ncpu, _ := ebpf.PossibleCPU()
	var sum uint64
	for _, v := range pc.Entries[0].Values {
		sum += binary.NativeEndian.Uint64(v)
	}
	if len(pc.Entries[0].Values) != ncpu || sum != 4 {
		t.Errorf("pcpu: %d values summing to %d, want %d values summing to 4", len(pc.Entries[0].Values), sum, ncpu)
	}
	seen := after["seen"]
	if len(seen.Entries) != 3 {
		t.Errorf("seen has %d keys, want 3 ethertypes", len(seen.Entries))
	}
	if d := before.Diff(after); len(d) != 3+1+3 {
		t.Errorf("diff has %d lines, want 7:\n%s", len(d), strings.Join(d, "\n"))
	}
	if err := o.Restore(before); err != nil {
		t.Fatal(err)
	}
	again, err := o.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(again); len(d) != 0 {
		t.Errorf("after restore:\n%s", strings.Join(d, "\n"))
	}
}

func TestBadInput(t *testing.T) {
	needKernel(t)
	for _, tc := range []struct {
		name string
		load func() error
		has  string
	}{
		{"not elf", func() error { _, err := Load([]byte("definitely not ELF"), nil); return err }, "<bytes>"},
		{"missing file", func() error { _, err := LoadFile("testdata/no_such.o", nil); return err }, "no_such.o"},
		{"text file", func() error { _, err := LoadFile("testdata/xdp.c", nil); return err }, "xdp.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.load()
			if err == nil || !strings.Contains(err.Error(), tc.has) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v: want one line naming %q", err, tc.has)
			}
		})
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

func TestNoFDLeak(t *testing.T) {
	needKernel(t)
	obj, err := os.ReadFile("testdata/xdp.o")
	if err != nil {
		t.Fatal(err)
	}
	arena, err := os.ReadFile("testdata/arena.o")
	if err != nil {
		t.Fatal(err)
	}
	// Warm up caches (feature probes, BTF) that keep fds for the process.
	for _, b := range [][]byte{obj, arena} {
		o, err := Load(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
	start := openFDs(t)
	for i := range 200 {
		b := obj
		if i%2 == 1 {
			b = arena
		}
		o, err := Load(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Programs) == 0 {
			t.Fatal("nothing loaded")
		}
		o.Close()
	}
	if end := openFDs(t); end > start {
		t.Errorf("open fds grew from %d to %d over 200 loads", start, end)
	}
}

// TestCorpus loads every object the corpus build produced and expects every
// program accepted (or, for kinds this kernel cannot load on their own,
// reported as not standalone, never rejected).
func TestCorpus(t *testing.T) {
	var objs []string
	err := filepath.WalkDir("../../corpus/build", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".o") {
			objs = append(objs, p)
		}
		return nil
	})
	if err != nil || len(objs) == 0 {
		t.Skip("no corpus objects under corpus/build")
	}
	needKernel(t)
	for _, p := range objs {
		t.Run(strings.TrimPrefix(p, "../../corpus/build/"), func(t *testing.T) {
			vs, err := VerifyFile(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) == 0 {
				t.Fatal("no programs")
			}
			for _, v := range vs {
				switch v.Status {
				case Accepted:
					if v.Processed <= 0 {
						t.Errorf("%s: accepted but processed %d", v.Program, v.Processed)
					}
				case NotStandalone:
					t.Logf("%s: %v", v.Program, v.Err)
				default:
					t.Errorf("%s: %s: %v", v.Program, v.Status, v.Err)
				}
			}
		})
	}
}

// TestArenaNeedsRawLoader documents why raw.go exists: through cilium/ebpf's
// own encoder the arena program is refused. If this starts passing, a newer
// cilium/ebpf keeps ALU offsets and the raw loader can go.
func TestArenaNeedsRawLoader(t *testing.T) {
	o := loadFixture(t, "arena.o")
	ps := o.Spec.Programs["arena_sum"].Copy()
	for i := range ps.Instructions {
		ins := &ps.Instructions[i]
		if ins.IsLoadFromMap() && ins.Reference() != "" {
			if err := ins.AssociateMap(o.Maps[ins.Reference()]); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, _, err := o.cilLoad(ps, ebpf.LogLevelBranch)
	if err == nil {
		p.Close()
		t.Fatal("cilium/ebpf loaded the arena program itself; the raw loader may be obsolete")
	}
	if !strings.Contains(err.Error(), "reserved fields") && !strings.Contains(strings.Join(verifierLog(err), "\n"), "reserved fields") {
		t.Errorf("unexpected failure: %v", err)
	}
}

func verifierLog(err error) []string {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return ve.Log
	}
	return nil
}
