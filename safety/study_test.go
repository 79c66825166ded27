package safety

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety/kernel"
	"golang.org/x/sys/unix"
)

// mutate applies one random proposal of the kinds the search makes to a
// copy of insns: change an operand (register, immediate, offset), replace an
// instruction with another of its class, turn one into ja +0, swap a memory
// width, or replace two contiguous instructions. ld_imm64 and calls are
// left alone (their relocations must stay put). It returns a description.
func mutate(r *rand.Rand, insns []bpf.Insn) ([]bpf.Insn, string) {
	out := append([]bpf.Insn(nil), insns...)
	var cand []int
	for k, in := range out {
		if !in.IsLdImm64() && !in.IsCall() {
			cand = append(cand, k)
		}
	}
	if len(cand) == 0 {
		return out, "none"
	}
	k := cand[r.IntN(len(cand))]
	in := &out[k]
	switch kind := r.IntN(6); kind {
	case 0: // register operand
		if r.IntN(2) == 0 {
			in.Dst = bpf.Reg(r.IntN(11))
			return out, fmt.Sprintf("insn %d dst=r%d", k, in.Dst)
		}
		in.Src = bpf.Reg(r.IntN(11))
		return out, fmt.Sprintf("insn %d src=r%d", k, in.Src)
	case 1: // immediate or offset
		deltas := []int32{1, -1, 2, -2, 4, -4, 8, -8, 16}
		if in.IsJump() || r.IntN(2) == 0 && in.Info().Size != 0 {
			d := deltas[r.IntN(len(deltas))]
			if in.IsJump() {
				d = deltas[r.IntN(4)]
			}
			in.Off += int16(d)
			return out, fmt.Sprintf("insn %d off%+d", k, d)
		}
		switch r.IntN(3) {
		case 0:
			in.Imm += deltas[r.IntN(len(deltas))]
		case 1:
			in.Imm = int32(r.IntN(64))
		default:
			in.Imm = int32(r.Uint32())
		}
		return out, fmt.Sprintf("insn %d imm=%d", k, in.Imm)
	case 2, 5: // replace with another op of the same class (twice: two contiguous)
		n := 1
		if kind == 5 && k+1 < len(out) && !out[k+1].IsLdImm64() && !out[k+1].IsCall() {
			n = 2
		}
		var desc []string
		for j := k; j < k+n; j++ {
			cls := out[j].Info().Class
			var ops []bpf.Op
			for _, op := range bpf.Ops() {
				i := op.Info()
				if i.Class == cls && i.Flags&(bpf.FlagCall|bpf.FlagImm64|bpf.FlagExit) == 0 {
					ops = append(ops, op)
				}
			}
			if len(ops) == 0 {
				continue
			}
			op := ops[r.IntN(len(ops))]
			o := out[j]
			out[j] = bpf.New(op, o.Dst, o.Src, o.Off, o.Imm)
			desc = append(desc, fmt.Sprintf("insn %d -> %s", j, op))
		}
		return out, strings.Join(desc, ", ")
	case 3: // nop
		*in = bpf.New(bpf.OpJa, 0, 0, 0, 0)
		return out, fmt.Sprintf("insn %d -> ja +0", k)
	default: // memory width
		i := in.Info()
		if i.Size == 0 || i.Kind == bpf.KindAtomic {
			in.Imm ^= 1
			return out, fmt.Sprintf("insn %d imm^=1", k)
		}
		sizes := map[uint8]uint8{1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
		ns := []uint8{1, 2, 4, 8}[r.IntN(4)]
		in.Code = in.Code&^0x18 | sizes[ns]
		return out, fmt.Sprintf("insn %d width %d->%d", k, i.Size, ns)
	}
}

type studyCase struct {
	path, prog, desc string
	ours, kern       string
}

type studyResult struct {
	variants, skipped       int
	bothAccept, bothReject  int
	falseAccept, falseRejct int
	byProp                  map[Property]int // our rejection reasons on false rejects
	fa, fr                  []studyCase
	ourSec                  float64
}

// study mutates corpus programs n times in total and compares our verdict
// with the kernel's on the same object bytes.
func study(t *testing.T, n int, seed uint64) *studyResult {
	if err := kernel.Available(); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skip("kernel refuses BPF_PROG_LOAD (EPERM)")
		}
		t.Skipf("kernel oracle unavailable: %v", err)
	}
	type target struct {
		f    *object.File
		prog string
	}
	var targets []target
	for _, path := range corpusObjects(t) {
		f, err := object.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range f.Programs() {
			targets = append(targets, target{f, fn.Name})
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x5afe))
	res := &studyResult{byProp: map[Property]int{}}
	for res.variants < n {
		tg := targets[r.IntN(len(targets))]
		fn := tg.f.Function(tg.prog)
		insns, desc := mutate(r, fn.Insns)
		id := make([]int, len(insns))
		for k := range id {
			id[k] = k
		}
		b, err := tg.f.Encode(map[string]object.Rewrite{tg.prog: {Insns: insns, OldToNew: id}}, object.Options{})
		if err != nil {
			res.skipped++
			continue
		}
		vf, err := object.Parse(tg.f.Path, b)
		if err != nil {
			res.skipped++
			continue
		}
		p, err := FromObject(vf, tg.prog, nil)
		if err != nil {
			res.skipped++
			continue
		}
		verdicts, err := kernel.Verify(b, &kernel.Options{BriefRejectLog: true})
		if err != nil {
			res.skipped++
			continue
		}
		var kv *kernel.Verdict
		for i := range verdicts {
			if verdicts[i].Program == tg.prog {
				kv = &verdicts[i]
			}
		}
		if kv == nil || (kv.Status != kernel.Accepted && kv.Status != kernel.Rejected) {
			res.skipped++
			continue
		}
		ours := Verify(p, &Options{})
		res.variants++
		c := studyCase{path: filepath.Base(filepath.Dir(tg.f.Path)) + "/" + filepath.Base(tg.f.Path), prog: tg.prog, desc: desc}
		if ours.Diag != nil {
			c.ours = ours.Diag.Error()
		}
		if kv.Err != nil {
			var re *kernel.RejectError
			if errors.As(kv.Err, &re) {
				c.kern = re.Summary()
			} else {
				c.kern = kv.Err.Error()
			}
		}
		switch {
		case ours.Accepted && kv.Accepted:
			res.bothAccept++
		case !ours.Accepted && !kv.Accepted:
			res.bothReject++
		case ours.Accepted:
			res.falseAccept++
			res.fa = append(res.fa, c)
			dumpVariant(t, "fa", len(res.fa), tg.prog, b)
		default:
			res.falseRejct++
			res.byProp[ours.Diag.Property]++
			res.fr = append(res.fr, c)
			dumpVariant(t, "fr", len(res.fr), tg.prog, b)
		}
	}
	return res
}

// dumpVariant writes a disagreeing variant's object to $SAFETY_STUDY_DUMP
// (when set) so it can be traced by both verifiers (TestDebugTrace).
func dumpVariant(t *testing.T, kind string, n int, prog string, obj []byte) {
	dir := os.Getenv("SAFETY_STUDY_DUMP")
	if dir == "" {
		return
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%03d-%s.o", kind, n, prog))
	if err := os.WriteFile(name, obj, 0o644); err != nil {
		t.Logf("dump %s: %v", name, err)
	}
}

func (s *studyResult) report(t *testing.T, examples int) {
	t.Logf("variants %d (skipped %d: encode/parse/not a verifier verdict)", s.variants, s.skipped)
	t.Logf("                  kernel accept  kernel reject")
	t.Logf("  safety accept   %13d  %13d", s.bothAccept, s.falseAccept)
	t.Logf("  safety reject   %13d  %13d", s.falseRejct, s.bothReject)
	t.Logf("accepted by us, rejected by the kernel: %.2f%% of variants", 100*float64(s.falseAccept)/float64(max(s.variants, 1)))
	var props []Property
	for p := range s.byProp {
		props = append(props, p)
	}
	sort.Slice(props, func(i, j int) bool { return s.byProp[props[i]] > s.byProp[props[j]] })
	for _, p := range props {
		t.Logf("  false reject by %-24s %d", p.String()+":", s.byProp[p])
	}
	for i, c := range s.fa {
		if i >= examples {
			break
		}
		t.Logf("FALSE ACCEPT %s:%s [%s]\n    kernel: %s", c.path, c.prog, c.desc, c.kern)
	}
	for i, c := range s.fr {
		if i >= examples {
			break
		}
		t.Logf("FALSE REJECT %s:%s [%s]\n    ours: %s", c.path, c.prog, c.desc, c.ours)
	}
}

// TestAgreementSmall runs a few hundred mutated variants through both
// verifiers; accepted-by-us-rejected-by-the-kernel must stay <= 1%.
func TestAgreementSmall(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	s := study(t, n, 1)
	s.report(t, 20)
	// Target: at most 1% accepted by us but rejected by the kernel (the
	// 10,000-variant soak measured 0.1-0.2%, docs/safety.md).
	if limit := s.variants / 100; s.falseAccept > max(limit, 1) {
		t.Errorf("%d of %d variants accepted by safety but rejected by the kernel (target <= 1%%)", s.falseAccept, s.variants)
	}
	if s.bothReject == 0 || s.bothAccept == 0 {
		t.Errorf("degenerate study: %d both-accept, %d both-reject", s.bothAccept, s.bothReject)
	}
}
