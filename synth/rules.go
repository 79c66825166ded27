package synth

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/k2opt/k2opt/bpf"
	"github.com/k2opt/k2opt/cost"
	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
)

// The rule cache (EPSO's idea): every window the search improves is
// stored as a rule in a canonical form, and every window it searched
// without finding anything better as a "no-better" entry, so that a
// later run applies the rule (or skips the search) instead of searching.
// A rule never makes anything correct: each application is proven by the
// Prover and checked by Func.Check like any search candidate.
//
// Canonical form of a window: registers other than r10 renamed r0, r1, ...
// in order of first appearance (dst before src); immediates abstracted to
// symbols K0, K1, ... in order of first appearance (equal values share a
// symbol); ops, memory offsets and window-relative jump targets kept. Its
// precondition, part of the key: the objective, an entry-type signature
// of the live-in registers the window mentions (from safety's summary at
// the window's start: scalar bounds, known constants as symbols, pointer
// kinds with offsets and packet ranges, the program type for ctx
// pointers), and per exit the mentioned live-out registers and, when the
// window stores, the dead stack bytes. The symbols' values ("vals") are
// kept too: only an entry whose values match, learned with at least the
// current budget, may skip the search; one with other values is still
// instantiated and proven, and the search then goes on from it.
//
// Registers a replacement uses that the pattern does not mention are its
// scratch registers; the rule keeps the ones they were (the "scratch"
// line) and an instance takes them again even when they are live in the
// window (the search reads registers that pass through a window, e.g. one
// holding a value it needs), then, if that one is not proven, free ones.
// So a rule applied in the window it was learned from is the proven
// candidate itself, the same prover query, which the stored Equal verdict
// answers.
//
// Rules also fire "sliding" (for programs never seen): a rule trimmed to
// the span where pattern and replacement differ (no jumps in it) is tried
// at every position of a window; the candidate must pass the window's
// tests, then the prover and Func.Check.
//
// Determinism: a program sees the rules loaded into the set (the base) and
// the ones it learned itself, never those learned meanwhile by programs
// running in parallel; these are merged into the set when the program
// ends (RuleSet.Fork, commit). Same seed, --jobs 1 and the same rule file
// give the same output.

// RulesVersion is the rule file format's version (its first line).
const RulesVersion = 1

// SearchGeneration numbers versions of the search whose results differ
// (new proposals, peepholes, tests). Every entry records the generation
// that wrote it (gen=N in the file; none = 0). An entry from an older
// generation never ends a window: a no-better entry no longer skips the
// search, and a rewrite is still instantiated and proven but the search
// then runs from it, so that the better search gets its chance and the
// run replaces the entry with one of the current generation. Bump it when
// a change to the search should re-open windows older runs gave up on.
//
//	1: copy forwarding and load reuse, two rounds, jump threading, and
//	   safety's summaries after bpf_fib_lookup (stack it writes unknown)
//	2: delete-and-repair in the pre-pass
//	3: summaries under the unprivileged rules where the program passes
//	   them; pointer-constant compares other than NULL checks fault
const SearchGeneration = 3

// searchGen is SearchGeneration; tests move it to stand for a newer search.
var searchGen = SearchGeneration

const rulesHeader = "k2opt rules"

// Bounds on the rule work per window.
const (
	maxSlideTries = 64 // sliding candidates evaluated on the tests
	maxAbsTries   = 2  // same-shape rules with other constants instantiated
)

//go:embed default.rules
var defaultRulesText []byte

// rinsn is one instruction of a rule in canonical form.
type rinsn struct {
	op       bpf.Op
	nop      bool  // a deleted position (replacements only)
	dst, src uint8 // canonical registers; 10 is r10
	off      int16
	imm      int64 // a literal, or a symbol index when sym
	sym      bool
	tgt      int16
}

// fieldUse says which fields of an op a rule keeps.
type fieldUse struct{ dst, src, off, imm, tgt bool }

func isRegField(f bpf.Field) bool { return f == bpf.FRegR || f == bpf.FRegW || f == bpf.FRegRW }

func uses(op bpf.Op) fieldUse {
	i := op.Info()
	u := fieldUse{dst: isRegField(i.DstF), src: isRegField(i.SrcF)}
	if i.Has(bpf.FlagJump) {
		u.tgt = true
	} else {
		u.off = i.OffF == bpf.FAny
	}
	u.imm = op == bpf.OpLddw || i.ImmF == bpf.FAny || i.ImmF == bpf.FShift || i.ImmF == bpf.FNonZero
	return u
}

// canon renames one window's registers and constants.
type canon struct {
	reg  [bpf.NumRegs]int8 // concrete -> canonical, -1: not mentioned
	conc []uint8           // canonical -> concrete
	vals []int64           // symbol -> value
}

func newCanon() *canon {
	z := &canon{}
	for i := range z.reg {
		z.reg[i] = -1
	}
	return z
}

func (z *canon) r(x uint8) uint8 {
	if x >= uint8(bpf.R10) {
		return 10
	}
	if z.reg[x] < 0 {
		z.reg[x] = int8(len(z.conc))
		z.conc = append(z.conc, x)
	}
	return uint8(z.reg[x])
}

func (z *canon) symOf(v int64) (int, bool) {
	for i, x := range z.vals {
		if x == v {
			return i, true
		}
	}
	return 0, false
}

func (z *canon) sym(v int64) int64 {
	if i, ok := z.symOf(v); ok {
		return int64(i)
	}
	z.vals = append(z.vals, v)
	return int64(len(z.vals) - 1)
}

// pattern canonicalises the original window instructions: every
// immediate becomes a symbol.
func (z *canon) pattern(c []cinsn) []rinsn { return z.canonical(c, true) }

// replacement canonicalises a candidate with the pattern's names:
// registers the pattern does not mention get fresh canonical numbers,
// constants no symbol holds stay literal.
func (z *canon) replacement(c []cinsn) []rinsn { return z.canonical(c, false) }

// canonical renames c's registers and immediates; newSyms makes a symbol
// of every immediate, otherwise only of those a symbol already holds.
func (z *canon) canonical(c []cinsn, newSyms bool) []rinsn {
	out := make([]rinsn, len(c))
	for i, x := range c {
		if x.isNop() && !newSyms {
			out[i] = rinsn{nop: true}
			continue
		}
		u := uses(x.op)
		ri := rinsn{op: x.op}
		if u.dst {
			ri.dst = z.r(x.dst)
		}
		if u.src {
			ri.src = z.r(x.src)
		}
		if u.off {
			ri.off = x.off
		}
		switch {
		case !u.imm:
		case newSyms:
			ri.imm, ri.sym = z.sym(x.imm), true
		default:
			if s, ok := z.symOf(x.imm); ok {
				ri.imm, ri.sym = int64(s), true
			} else {
				ri.imm = x.imm
			}
		}
		if u.tgt {
			ri.tgt = x.tgt
		}
		out[i] = ri
	}
	return out
}

// windowKey is a window's canonical form: abs is the key without the
// constants' values, key adds them.
type windowKey struct {
	abs, key string
	obj      string
	in       string
	exits    []string
	pat      []rinsn
	z        *canon
	npat     int     // canonical registers the pattern mentions
	free     []uint8 // concrete registers free for scratch use
	vals     []int64 // = z.vals
	stores   bool    // the pattern writes memory
}

// keyOf computes the canonical form of window w of f.
func keyOf(f *Func, w Window, orig []cinsn, obj cost.Objective) *windowKey {
	z := newCanon()
	k := &windowKey{z: z, obj: obj.String()}
	k.pat = z.pattern(orig)
	k.npat = len(z.conc)
	for _, x := range orig {
		if x.op.Info().Has(bpf.FlagStore) {
			k.stores = true
		}
	}
	// entry signature of the mentioned live-in registers
	var sum *safety.Summary
	if w.Start < len(f.Before) {
		sum = f.Before[w.Start]
	}
	var in []string
	for ci, r := range z.conc {
		if !w.LiveIn.Has(bpf.Reg(r)) {
			continue
		}
		in = append(in, fmt.Sprintf("r%d=%s", ci, regSig(z, f, sum, r)))
	}
	k.in = strings.Join(in, " ")
	// exits: the end, then Window.Exits
	type exit struct {
		insn int
		live bpf.RegSet
	}
	exits := []exit{{w.End, w.LiveOut}}
	for _, e := range w.Exits {
		exits = append(exits, exit{e.Insn, e.Live})
	}
	busy := w.LiveIn
	for j, e := range exits {
		busy |= e.live
		s := fmt.Sprintf("exit %d live", j)
		for ci, r := range z.conc {
			if e.live.Has(bpf.Reg(r)) {
				s += fmt.Sprintf(" r%d", ci)
			}
		}
		if k.stores && f.StackLive != nil && e.insn < len(f.StackLive) {
			if d := deadRanges(&f.StackLive[e.insn]); d != "" {
				s += " dead " + d
			}
		}
		k.exits = append(k.exits, s)
	}
	for r := uint8(0); r < uint8(bpf.R10); r++ {
		if z.reg[r] < 0 && !busy.Has(bpf.Reg(r)) {
			k.free = append(k.free, r)
		}
	}
	k.vals = z.vals
	k.abs = absKey(k.obj, k.in, k.exits, k.pat)
	k.key = k.abs + "|" + valsLine(k.vals)
	return k
}

func absKey(obj, in string, exits []string, pat []rinsn) string {
	var b strings.Builder
	b.WriteString(obj)
	b.WriteString("|in " + in)
	for _, e := range exits {
		b.WriteString("|" + e)
	}
	for _, x := range pat {
		b.WriteString("|" + x.text())
	}
	return b.String()
}

func valsLine(vals []int64) string {
	s := "vals"
	for i, v := range vals {
		s += fmt.Sprintf(" K%d=%d", i, v)
	}
	return s
}

// regSig is the entry signature of concrete register r.
func regSig(z *canon, f *Func, sum *safety.Summary, r uint8) string {
	if sum == nil {
		return "?"
	}
	g := sum.Regs[r]
	s := ""
	switch g.Type {
	case safety.NotInit:
		return "uninit"
	case safety.Mixed:
		return "mixed"
	case safety.ScalarValue:
		if g.V.IsConst() {
			return fmt.Sprintf("K%d", z.sym(int64(g.V.T.Value)))
		}
		b := sigText(g.V.String())
		if b == "" {
			return "scalar"
		}
		return "scalar(" + b + ")"
	case safety.PtrCtx:
		s = "ctx:" + f.Type.String()
	case safety.PtrStack:
		s = "fp"
		if g.Frame != 0 {
			s += strconv.Itoa(int(g.Frame))
		}
	case safety.PtrPacket, safety.PtrPacketMeta:
		s = fmt.Sprintf("%s(r=%d)", g.Type, g.Range)
	case safety.PtrMapValue:
		vs := uint32(0)
		if g.Map != nil {
			vs = g.Map.ValueSize
		}
		s = fmt.Sprintf("map_value(vs=%d)", vs)
	case safety.PtrMem:
		s = fmt.Sprintf("mem(sz=%d)", g.Size)
	default:
		s = g.Type.String()
	}
	if g.Off != 0 {
		s += fmt.Sprintf("%+d", g.Off)
	}
	if !g.V.IsConst() || g.V.T.Value != 0 {
		s += "(var=" + sigText(g.V.String()) + ")"
	}
	if g.Null {
		s += "?"
	}
	return s
}

// sigText makes s one token of a rule file line: no spaces, no ';'
// (comments) and no '|' (key separator).
func sigText(s string) string {
	s = strings.NewReplacer(";", "", "|", "").Replace(s)
	return strings.Join(strings.Fields(s), ",")
}

// deadRanges renders the dead bytes of live as fp-relative ranges.
func deadRanges(live *StackSet) string {
	var parts []string
	for i := 0; i < StackSize; {
		if live.Has(i) {
			i++
			continue
		}
		j := i
		for j+1 < StackSize && !live.Has(j+1) {
			j++
		}
		parts = append(parts, fmt.Sprintf("%d..%d", i-StackSize, j-StackSize))
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// text renders x as a rule line: the op's name and the fields it uses.
func (x rinsn) text() string {
	if x.nop {
		return "-"
	}
	u := uses(x.op)
	s := x.op.String()
	if u.dst {
		s += " " + regName(x.dst)
	}
	if u.src {
		s += " " + regName(x.src)
	}
	if u.off {
		s += fmt.Sprintf(" %+d", x.off)
	}
	if u.imm {
		if x.sym {
			s += fmt.Sprintf(" K%d", x.imm)
		} else {
			s += fmt.Sprintf(" #%d", x.imm)
		}
	}
	if u.tgt {
		s += fmt.Sprintf(" @%d", x.tgt)
	}
	return s
}

func regName(r uint8) string { return "r" + strconv.Itoa(int(r)) }

// disasm renders x in llvm-objdump syntax for a rule file comment
// (symbols shown by name, jump targets as window positions).
func (x rinsn) disasm(pos int) string {
	if x.nop {
		return "(deleted)"
	}
	const sentinel = 0x5eed1234
	imm := x.imm
	if x.sym {
		imm = sentinel
	}
	c := cinsn{op: x.op, dst: x.dst, src: x.src, off: x.off, imm: imm, tgt: x.tgt}
	s := c.insn(pos, int(x.tgt)).String()
	if x.sym {
		s = strings.Replace(s, strconv.Itoa(sentinel), fmt.Sprintf("K%d", x.imm), 1)
	}
	if uses(x.op).tgt {
		if i := strings.LastIndex(s, "goto "); i >= 0 {
			s = s[:i] + fmt.Sprintf("goto @%d", x.tgt)
		}
	}
	return s
}

// ruleEntry is one cache entry: a proven rewrite (rep) or, with rep nil,
// a window searched with budget proposals without finding anything better.
type ruleEntry struct {
	abs    string
	obj    string
	in     string
	exits  []string
	vals   []int64
	pat    []rinsn
	rep    []rinsn
	budget int64
	gen    int // the SearchGeneration that wrote it
	// scratch are the concrete registers the replacement's scratch
	// registers had where it was learned: preferred (even live ones, see
	// instances), so that a second run proves and writes the same.
	scratch []uint8
}

func (e *ruleEntry) key() string { return e.abs + "|" + valsLine(e.vals) }

// better reports whether e should replace o (same key) in a merge.
func (e *ruleEntry) better(o *ruleEntry) bool {
	if (e.rep != nil) != (o.rep != nil) {
		return e.rep != nil
	}
	if e.rep != nil {
		a, b := repCost(e.rep), repCost(o.rep)
		if a != b {
			return a < b
		}
	}
	if e.gen != o.gen {
		return e.gen > o.gen
	}
	if e.budget != o.budget {
		return e.budget > o.budget
	}
	return e.text() < o.text()
}

// repCost is a replacement's size in slots.
func repCost(rep []rinsn) int {
	n := 0
	for _, x := range rep {
		switch {
		case x.nop:
		case x.op == bpf.OpLddw:
			n += 2
		default:
			n++
		}
	}
	return n
}

// merge combines two entries of one key: the better one, with the larger
// budget (no search with either budget found anything better than it).
// Budgets are evidence of the generation that spent them: the merged
// entry carries the newest generation and the largest budget among the
// entries of that generation (an older search's budget says nothing of
// what the current one would find).
func merge(a, b *ruleEntry) *ruleEntry {
	if b == nil {
		return a
	}
	if a == nil {
		return b
	}
	best, other := a, b
	if b.better(a) {
		best, other = b, a
	}
	gen, budget := best.gen, best.budget
	switch {
	case other.gen > gen:
		gen, budget = other.gen, other.budget
	case other.gen == gen:
		budget = max(budget, other.budget)
	}
	if gen != best.gen || budget != best.budget {
		c := *best
		c.gen, c.budget = gen, budget
		return &c
	}
	return best
}

// text renders e as a rule file block.
func (e *ruleEntry) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s budget=%d", e.obj, e.budget)
	if e.gen != 0 {
		fmt.Fprintf(&b, " gen=%d", e.gen)
	}
	if e.rep != nil {
		fmt.Fprintf(&b, " slots=%d->%d", repCost(e.pat), repCost(e.rep))
	}
	b.WriteString("\n  in")
	if e.in != "" {
		b.WriteString(" " + e.in)
	}
	b.WriteString("\n")
	for _, x := range e.exits {
		b.WriteString("  " + x + "\n")
	}
	b.WriteString("  " + valsLine(e.vals) + "\n")
	if len(e.scratch) > 0 {
		b.WriteString("  scratch")
		for _, r := range e.scratch {
			b.WriteString(" " + regName(r))
		}
		b.WriteString("\n")
	}
	writeInsns := func(xs []rinsn) {
		for i, x := range xs {
			t := x.text()
			fmt.Fprintf(&b, "    %-28s ; %d: %s\n", t, i, x.disasm(i))
		}
	}
	b.WriteString("  match\n")
	writeInsns(e.pat)
	if e.rep == nil {
		b.WriteString("  no-better\n")
	} else {
		b.WriteString("  replace\n")
		writeInsns(e.rep)
	}
	b.WriteString("end\n")
	return b.String()
}

// slideRule is a rule trimmed to the span where it changes something.
type slideRule struct {
	pat, rep []rinsn
	npat     int // canonical registers of the full pattern (others are scratch)
}

func (s *slideRule) text() string {
	var b strings.Builder
	for _, x := range s.pat {
		b.WriteString(x.text() + ";")
	}
	b.WriteString("->")
	for _, x := range s.rep {
		b.WriteString(x.text() + ";")
	}
	return b.String()
}

func rinsnEqual(a, b rinsn) bool { return a == b }

// slideOf trims e to its differing span; nil when that span has jumps or
// uses symbols or registers bound outside it.
func slideOf(e *ruleEntry) *slideRule {
	if e.rep == nil {
		return nil
	}
	a, b := 0, len(e.pat)
	for a < b && rinsnEqual(e.pat[a], e.rep[a]) {
		a++
	}
	for b > a && rinsnEqual(e.pat[b-1], e.rep[b-1]) {
		b--
	}
	if a == b {
		return nil
	}
	npat := 0
	for _, x := range e.pat {
		u := uses(x.op)
		if u.dst && x.dst != 10 {
			npat = max(npat, int(x.dst)+1)
		}
		if u.src && x.src != 10 {
			npat = max(npat, int(x.src)+1)
		}
	}
	pat, rep := e.pat[a:b], e.rep[a:b]
	regs := map[uint8]bool{}
	syms := map[int64]bool{}
	for _, x := range pat {
		u := uses(x.op)
		if u.tgt {
			return nil
		}
		if u.dst {
			regs[x.dst] = true
		}
		if u.src {
			regs[x.src] = true
		}
		if u.imm && x.sym {
			syms[x.imm] = true
		}
	}
	for _, x := range rep {
		if x.nop {
			continue
		}
		u := uses(x.op)
		if u.tgt {
			return nil
		}
		for _, r := range []struct {
			used bool
			r    uint8
		}{{u.dst, x.dst}, {u.src, x.src}} {
			if r.used && r.r != 10 && !regs[r.r] && int(r.r) < npat {
				return nil
			}
		}
		if u.imm && x.sym && !syms[x.imm] {
			return nil
		}
	}
	return &slideRule{pat: slices.Clone(pat), rep: slices.Clone(rep), npat: npat}
}

// ruleStore holds entries by key, positive ones by abstract key, and the
// sliding rules by their first op.
type ruleStore struct {
	byKey     map[string]*ruleEntry
	byAbs     map[string][]*ruleEntry
	slide     map[bpf.Op][]*slideRule
	slideSeen map[string]bool
}

func newStore() *ruleStore {
	return &ruleStore{byKey: map[string]*ruleEntry{}, byAbs: map[string][]*ruleEntry{},
		slide: map[bpf.Op][]*slideRule{}, slideSeen: map[string]bool{}}
}

func (s *ruleStore) add(e *ruleEntry) {
	k := e.key()
	old := s.byKey[k]
	m := merge(old, e)
	s.byKey[k] = m
	if m.rep != nil {
		list := s.byAbs[e.abs]
		if i := slices.Index(list, old); old != nil && i >= 0 {
			list[i] = m
		} else {
			list = append(list, m)
		}
		s.byAbs[e.abs] = list
		if sr := slideOf(m); sr != nil {
			t := sr.text()
			if !s.slideSeen[t] {
				s.slideSeen[t] = true
				s.slide[sr.pat[0].op] = append(s.slide[sr.pat[0].op], sr)
			}
		}
	}
}

// RuleSet is a rule cache: the rules loaded from a file (the base, never
// changed afterwards) and the ones learned since. It is safe for
// concurrent use. Options.Rules takes one; OptimizeProgram works on a
// Fork of it and commits what it learned when it ends.
type RuleSet struct {
	mu      sync.Mutex
	base    *ruleStore // read-only
	learned *ruleStore
	parent  *RuleSet
	// proofs are whole-program proof verdicts by the key the CLI gives
	// (hashes of the input object and the written one, program name):
	// its final gate asks here before running the proof again.
	proofs map[string]string

	fired, skipped, nlearned int64
}

// NewRuleSet returns an empty rule set.
func NewRuleSet() *RuleSet {
	return &RuleSet{base: newStore(), learned: newStore(), proofs: map[string]string{}}
}

// WholeProof returns the whole-program proof verdict stored under key.
func (rs *RuleSet) WholeProof(key string) (string, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	v, ok := rs.proofs[key]
	return v, ok
}

// SetWholeProof stores a whole-program proof verdict (one line; key
// without spaces).
func (rs *RuleSet) SetWholeProof(key, verdict string) {
	verdict = strings.Join(strings.Fields(strings.ReplaceAll(verdict, ";", ",")), " ")
	if key == "" || strings.ContainsAny(key, " \t;") || verdict == "" {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.proofs == nil {
		rs.proofs = map[string]string{}
	}
	rs.proofs[key] = verdict
}

// RuleStats are a rule set's size and what it did.
type RuleStats struct {
	Rules    int   `json:"rules"`           // proven rewrites
	NoBetter int   `json:"no_better"`       // windows searched without finding anything better
	Sliding  int   `json:"sliding"`         // trimmed rules tried at every window position
	Loaded   int   `json:"loaded"`          // entries read from the file (rules and no-better)
	Fired    int64 `json:"fired"`           // rule rewrites that became a window's best (proven and checked)
	Skipped  int64 `json:"windows_skipped"` // window searches skipped
	Learned  int64 `json:"learned"`         // entries added or improved by searches
	Proofs   int   `json:"whole_proofs"`    // whole-program proof verdicts stored
	Stale    int   `json:"stale"`           // entries of an older SearchGeneration (never end a window)
}

// Stats reports the set's size (base and learned merged) and counters.
func (rs *RuleSet) Stats() RuleStats {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := RuleStats{Fired: rs.fired, Skipped: rs.skipped, Learned: rs.nlearned, Loaded: len(rs.base.byKey)}
	seen := map[string]bool{}
	for _, e := range rs.all() {
		if e.gen < searchGen {
			st.Stale++
		}
		if e.rep == nil {
			st.NoBetter++
			continue
		}
		st.Rules++
		if sr := slideOf(e); sr != nil {
			seen[sr.text()] = true
		}
	}
	st.Sliding = len(seen)
	st.Proofs = len(rs.proofs)
	return st
}

// all returns the merged entries sorted by key (rs.mu held).
func (rs *RuleSet) all() []*ruleEntry {
	m := make(map[string]*ruleEntry, len(rs.base.byKey)+len(rs.learned.byKey))
	for k, e := range rs.base.byKey {
		m[k] = e
	}
	for k, e := range rs.learned.byKey {
		m[k] = merge(m[k], e)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*ruleEntry, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// Fork returns a view of rs for one program: it sees rs's loaded rules
// and what it learns itself. commit adds what it learned to rs.
func (rs *RuleSet) Fork() *RuleSet {
	root := rs
	for root.parent != nil {
		root = root.parent
	}
	return &RuleSet{base: root.base, learned: newStore(), parent: root, proofs: map[string]string{}}
}

// commit merges a fork's learned entries and counters into its parent.
func (rs *RuleSet) commit() {
	if rs.parent == nil {
		return
	}
	rs.mu.Lock()
	entries := make([]*ruleEntry, 0, len(rs.learned.byKey))
	for _, e := range rs.learned.byKey {
		entries = append(entries, e)
	}
	f, s, l := rs.fired, rs.skipped, rs.nlearned
	rs.learned = newStore()
	rs.fired, rs.skipped, rs.nlearned = 0, 0, 0
	rs.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].key() < entries[j].key() })
	p := rs.parent
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range entries {
		p.learned.add(e)
	}
	p.fired += f
	p.skipped += s
	p.nlearned += l
}

// lookup returns the entry of key (nil: none).
func (rs *RuleSet) lookup(key string) *ruleEntry {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return merge(rs.base.byKey[key], rs.learned.byKey[key])
}

// lookupAbs returns the rules of abstract key abs, base first.
func (rs *RuleSet) lookupAbs(abs string) []*ruleEntry {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append(slices.Clone(rs.base.byAbs[abs]), rs.learned.byAbs[abs]...)
}

func (rs *RuleSet) slides(op bpf.Op) []*slideRule {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append(slices.Clone(rs.base.slide[op]), rs.learned.slide[op]...)
}

func (rs *RuleSet) learn(e *ruleEntry) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	old := merge(rs.base.byKey[e.key()], rs.learned.byKey[e.key()])
	if old == nil || merge(old, e) != old {
		rs.nlearned++
	}
	rs.learned.add(e)
}

func (rs *RuleSet) count(fired, skipped int64) {
	rs.mu.Lock()
	rs.fired += fired
	rs.skipped += skipped
	rs.mu.Unlock()
}

// Marshal renders the set (base and learned merged) as a rule file:
// a version header, then one block per entry sorted by key, so that the
// file diffs well.
func (rs *RuleSet) Marshal() []byte {
	rs.mu.Lock()
	entries := rs.all()
	proofs := make([]string, 0, len(rs.proofs))
	for k, v := range rs.proofs {
		proofs = append(proofs, "proof "+k+" "+v+"\n")
	}
	rs.mu.Unlock()
	sort.Strings(proofs)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d\n", rulesHeader, RulesVersion)
	b.WriteString("; k2opt rule cache: proven window rewrites and windows searched without improvement.\n")
	b.WriteString("; Every rule is proven again wherever it is applied. Format: docs/rules.md.\n")
	for _, e := range entries {
		b.WriteString("\n")
		b.WriteString(e.text())
	}
	if len(proofs) > 0 {
		b.WriteString("\n; whole-program proof verdicts: input object, output object, program\n")
		for _, p := range proofs {
			b.WriteString(p)
		}
	}
	return b.Bytes()
}

// WriteFile writes the set to path atomically (temp file + rename).
func (rs *RuleSet) WriteFile(path string) error {
	return object.WriteFile(path, rs.Marshal(), "")
}

// LoadRules reads a rule file; a file that does not exist gives an empty
// set (the first run of a cache).
func LoadRules(path string) (*RuleSet, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return NewRuleSet(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseRules(path, b)
}

var defaultBase struct {
	once   sync.Once
	s      *ruleStore
	proofs map[string]string
	err    error
}

// DefaultRules returns a set holding the rules embedded in the binary
// (synth/default.rules, learned from the corpus by `make rules`).
func DefaultRules() (*RuleSet, error) {
	defaultBase.once.Do(func() {
		rs, err := ParseRules("default.rules (embedded)", defaultRulesText)
		if err != nil {
			defaultBase.err = err
			return
		}
		defaultBase.s, defaultBase.proofs = rs.base, rs.proofs
	})
	if defaultBase.err != nil {
		return nil, defaultBase.err
	}
	proofs := make(map[string]string, len(defaultBase.proofs))
	for k, v := range defaultBase.proofs {
		proofs[k] = v
	}
	return &RuleSet{base: defaultBase.s, learned: newStore(), proofs: proofs}, nil
}

// ParseRules parses a rule file; errors name the file and the line.
func ParseRules(name string, data []byte) (*RuleSet, error) {
	rs := NewRuleSet()
	ops := map[string]bpf.Op{}
	for _, op := range bpf.Ops() {
		ops[op.String()] = op
	}
	lines := strings.Split(string(data), "\n")
	errf := func(ln int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", name, ln+1, fmt.Sprintf(format, a...))
	}
	header := false
	var e *ruleEntry
	var start int
	section := "" // "", "head", "match", "replace", "no-better"
	for ln, raw := range lines {
		line := raw
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !header {
			if len(f) != 3 || f[0]+" "+f[1] != rulesHeader {
				return nil, errf(ln, "not a k2opt rule file (want %q first)", fmt.Sprintf("%s %d", rulesHeader, RulesVersion))
			}
			if f[2] != strconv.Itoa(RulesVersion) {
				return nil, errf(ln, "rule file version %s, this k2opt reads %d", f[2], RulesVersion)
			}
			header = true
			continue
		}
		if e == nil && f[0] == "proof" {
			if len(f) < 3 {
				return nil, errf(ln, "want \"proof KEY VERDICT\"")
			}
			rs.proofs[f[1]] = strings.Join(f[2:], " ")
			continue
		}
		if e == nil {
			if f[0] != "rule" || len(f) < 3 {
				return nil, errf(ln, "want \"rule OBJECTIVE budget=N\", got %q", strings.TrimSpace(line))
			}
			obj, err := cost.ParseObjective(f[1])
			if err != nil {
				return nil, errf(ln, "%v", err)
			}
			e = &ruleEntry{obj: obj.String(), budget: -1}
			start = ln
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "budget":
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil || n < 0 {
						return nil, errf(ln, "bad budget %q", v)
					}
					e.budget = n
				case "gen":
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return nil, errf(ln, "bad generation %q", v)
					}
					e.gen = n
				case "slots": // informational
				default:
					return nil, errf(ln, "unknown rule attribute %q", kv)
				}
			}
			if e.budget < 0 {
				return nil, errf(ln, "rule without budget=N")
			}
			section = "head"
			continue
		}
		switch {
		case f[0] == "end":
			if section != "replace" && section != "no-better" {
				return nil, errf(ln, "rule ends without \"replace\" or \"no-better\"")
			}
			if err := e.validate(); err != nil {
				return nil, errf(start, "%v", err)
			}
			e.abs = absKey(e.obj, e.in, e.exits, e.pat)
			rs.base.add(e)
			e, section = nil, ""
		case section == "head" && f[0] == "in":
			e.in = strings.Join(f[1:], " ")
			for _, t := range f[1:] {
				if r, _, ok := strings.Cut(t, "="); !ok || !validReg(r) {
					return nil, errf(ln, "bad entry type %q (want rN=TYPE)", t)
				}
			}
		case section == "head" && f[0] == "exit":
			if len(f) < 3 || f[1] != strconv.Itoa(len(e.exits)) || f[2] != "live" {
				return nil, errf(ln, "want \"exit %d live REGS [dead RANGES]\"", len(e.exits))
			}
			for i := 3; i < len(f); i++ {
				if f[i] == "dead" && i == len(f)-2 {
					break
				}
				if !validReg(f[i]) {
					return nil, errf(ln, "bad live register %q", f[i])
				}
			}
			e.exits = append(e.exits, strings.Join(f, " "))
		case section == "head" && f[0] == "vals":
			for i, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if k != fmt.Sprintf("K%d", i) || err != nil {
					return nil, errf(ln, "bad value %q (want K%d=N)", kv, i)
				}
				e.vals = append(e.vals, n)
			}
		case section == "head" && f[0] == "scratch":
			for _, t := range f[1:] {
				if !validReg(t) || t == "r10" {
					return nil, errf(ln, "bad scratch register %q", t)
				}
				n, _ := strconv.Atoi(t[1:])
				e.scratch = append(e.scratch, uint8(n))
			}
		case (section == "head" || section == "match") && f[0] == "match":
			if section == "match" || len(e.exits) == 0 {
				return nil, errf(ln, "\"match\" before any \"exit\" line, or twice")
			}
			section = "match"
		case section == "match" && f[0] == "replace":
			e.rep = []rinsn{}
			section = "replace"
		case section == "match" && f[0] == "no-better":
			section = "no-better"
		case section == "match" || section == "replace":
			x, err := parseRinsn(ops, f, section == "replace")
			if err != nil {
				return nil, errf(ln, "%v", err)
			}
			if section == "match" {
				e.pat = append(e.pat, x)
			} else {
				e.rep = append(e.rep, x)
			}
		default:
			return nil, errf(ln, "unexpected %q in a rule (section %s)", strings.TrimSpace(line), section)
		}
	}
	if !header {
		return nil, fmt.Errorf("%s:1: empty file, not a k2opt rule file (want %q first)", name, fmt.Sprintf("%s %d", rulesHeader, RulesVersion))
	}
	if e != nil {
		return nil, errf(start, "rule not closed by \"end\"")
	}
	return rs, nil
}

func validReg(s string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "r"))
	return strings.HasPrefix(s, "r") && err == nil && n >= 0 && n <= 10
}

func parseRinsn(ops map[string]bpf.Op, f []string, rep bool) (rinsn, error) {
	if f[0] == "-" && len(f) == 1 {
		if !rep {
			return rinsn{}, fmt.Errorf("a deletion (-) in a pattern")
		}
		return rinsn{nop: true}, nil
	}
	op, ok := ops[f[0]]
	if !ok {
		return rinsn{}, fmt.Errorf("unknown op %q", f[0])
	}
	if !sems[op].ok {
		return rinsn{}, fmt.Errorf("op %s cannot be in a window", f[0])
	}
	u := uses(op)
	x := rinsn{op: op}
	args := f[1:]
	want := 0
	for _, b := range []bool{u.dst, u.src, u.off, u.imm, u.tgt} {
		if b {
			want++
		}
	}
	if len(args) != want {
		return rinsn{}, fmt.Errorf("%s wants %d operand(s), got %d", f[0], want, len(args))
	}
	next := func() string { a := args[0]; args = args[1:]; return a }
	reg := func() (uint8, error) {
		a := next()
		if !validReg(a) {
			return 0, fmt.Errorf("bad register %q", a)
		}
		n, _ := strconv.Atoi(a[1:])
		return uint8(n), nil
	}
	var err error
	if u.dst {
		if x.dst, err = reg(); err != nil {
			return x, err
		}
	}
	if u.src {
		if x.src, err = reg(); err != nil {
			return x, err
		}
	}
	if u.off {
		a := next()
		n, err := strconv.ParseInt(a, 10, 16)
		if err != nil || (a[0] != '+' && a[0] != '-') {
			return x, fmt.Errorf("bad offset %q (want +N or -N)", a)
		}
		x.off = int16(n)
	}
	if u.imm {
		a := next()
		switch {
		case strings.HasPrefix(a, "K"):
			n, err := strconv.Atoi(a[1:])
			if err != nil || n < 0 {
				return x, fmt.Errorf("bad symbol %q", a)
			}
			x.imm, x.sym = int64(n), true
		case strings.HasPrefix(a, "#"):
			n, err := strconv.ParseInt(a[1:], 10, 64)
			if err != nil {
				return x, fmt.Errorf("bad constant %q", a)
			}
			x.imm = n
		default:
			return x, fmt.Errorf("bad immediate %q (want Kn or #N)", a)
		}
	}
	if u.tgt {
		a := next()
		n, err := strconv.Atoi(strings.TrimPrefix(a, "@"))
		if err != nil || !strings.HasPrefix(a, "@") || n < 0 {
			return x, fmt.Errorf("bad jump target %q (want @N)", a)
		}
		x.tgt = int16(n)
	}
	return x, nil
}

// validate checks a parsed entry's shape.
func (e *ruleEntry) validate() error {
	n := len(e.pat)
	if n == 0 {
		return fmt.Errorf("rule with an empty pattern")
	}
	if e.rep != nil && len(e.rep) != n {
		return fmt.Errorf("replacement has %d positions, pattern %d", len(e.rep), n)
	}
	check := func(xs []rinsn, what string) error {
		for i, x := range xs {
			if x.nop {
				continue
			}
			u := uses(x.op)
			if u.imm && x.sym && int(x.imm) >= len(e.vals) {
				return fmt.Errorf("%s %d: symbol K%d has no value", what, i, x.imm)
			}
			if u.tgt && (int(x.tgt) <= i || int(x.tgt) > n+len(e.exits)-1) {
				return fmt.Errorf("%s %d: jump target @%d outside 1+%d..%d", what, i, x.tgt, i, n+len(e.exits)-1)
			}
		}
		return nil
	}
	if err := check(e.pat, "match"); err != nil {
		return err
	}
	return check(e.rep, "replace")
}

// instances are the candidates a rule's replacement gives in the window
// of k, most faithful first: scratch registers on the registers they had
// where the rule was learned (hint), even live ones, then, when that
// differs, on free ones only.
//
// A replacement's "scratch" registers are all the registers the pattern
// does not mention, and the search uses live ones too: it may read a
// register that passes through the window holding a value it needs (r7
// compared instead of a reloaded copy), or write one on a path to an exit
// where it is dead. Given free registers only, the rule instantiated in
// the very window it was learned from would be another candidate than
// the proven one (a wrong one when it reads): another prover query, which
// the stored Equal verdict does not answer. Every instance is proven, so
// a hint that means something else in another window costs one proof.
func (k *windowKey) instances(xs []rinsn, vals []int64, hint []uint8) [][]cinsn {
	var out [][]cinsn
	if c, ok := k.instantiate(xs, vals, k.z.conc, k.npat, k.free, hint, true); ok {
		out = append(out, c)
	}
	if c, ok := k.instantiate(xs, vals, k.z.conc, k.npat, k.free, hint, false); ok &&
		(len(out) == 0 || !slices.Equal(c, out[0])) {
		out = append(out, c)
	}
	return out
}

// instantiate turns canonical instructions into a candidate for the
// window of k: pattern registers map back, scratch registers take free
// ones, symbols their values. It reports false when that is impossible.
// hint (may be nil) are preferred scratch registers (ruleEntry.scratch);
// with anyHint they are taken even when not free (live in the window),
// as long as the pattern does not mention them (see instances).
func (k *windowKey) instantiate(xs []rinsn, vals []int64, conc []uint8, npat int, free, hint []uint8, anyHint bool) ([]cinsn, bool) {
	fresh := map[uint8]uint8{}
	var taken [bpf.NumRegs]bool
	mapReg := func(r uint8) (uint8, bool) {
		if r == 10 {
			return 10, true
		}
		if int(r) < npat {
			if int(r) >= len(conc) {
				return 0, false
			}
			return conc[r], true
		}
		if c, ok := fresh[r]; ok {
			return c, true
		}
		if i := int(r) - npat; i < len(hint) && hint[i] < uint8(bpf.R10) && !taken[hint[i]] &&
			(slices.Contains(free, hint[i]) || anyHint && !slices.Contains(conc[:min(npat, len(conc))], hint[i])) {
			fresh[r], taken[hint[i]] = hint[i], true
			return hint[i], true
		}
		for _, c := range free {
			if !taken[c] {
				fresh[r], taken[c] = c, true
				return c, true
			}
		}
		return 0, false
	}
	out := make([]cinsn, len(xs))
	for i, x := range xs {
		if x.nop {
			out[i] = nop
			continue
		}
		u := uses(x.op)
		info := x.op.Info()
		c := cinsn{op: x.op, off: x.off, tgt: x.tgt}
		var ok bool
		if u.dst {
			if c.dst, ok = mapReg(x.dst); !ok {
				return nil, false
			}
		}
		if u.src {
			if c.src, ok = mapReg(x.src); !ok {
				return nil, false
			}
		}
		if u.imm {
			v := x.imm
			if x.sym {
				if int(x.imm) >= len(vals) {
					return nil, false
				}
				v = vals[x.imm]
			}
			if x.op != bpf.OpLddw && v != int64(int32(v)) {
				return nil, false
			}
			c.imm = v
		}
		switch info.Disc {
		case bpf.DiscImm:
			c.imm = int64(info.Imm)
		case bpf.DiscOff:
			c.off = info.Off
		case bpf.DiscSrc:
			c.src = uint8(info.Src)
		}
		out[i] = c
	}
	return out, true
}

// ruleState carries what the rule hooks of OptimizeWindow share.
type ruleState struct {
	rs       *RuleSet
	k        *windowKey
	fired    int   // rule rewrites that became the best
	budget   int64 // this window's budget (currentBudget)
	iters    int64
	deadline time.Time
}

// currentBudget is the window's proposal budget for comparison with a
// rule's: iters per chain times chains, or for a time budget a nominal
// 1M proposals/s per chain.
func currentBudget(iters int64, jobs int, deadline time.Time) int64 {
	jobs = max(jobs, 1)
	switch {
	case iters > 0:
		return iters * int64(jobs)
	case !deadline.IsZero():
		return int64(time.Until(deadline).Seconds()*1e6) * int64(jobs)
	}
	return math.MaxInt64
}

// rulesBefore is OptimizeWindow's first hook: an entry with this window's
// key and constants, learned with at least this budget, ends the window
// (skip reports true): a proven and checked rule rewrite becomes its
// result, a no-better entry leaves it unchanged. Otherwise a matching
// rule that proves becomes the start of the search.
func (ws *windowSearch) rulesBefore(opts Options, iters int64, deadline time.Time, res *WindowResult) (*ruleState, bool) {
	if opts.Rules == nil || opts.Prover == nil {
		return nil, false
	}
	st := &ruleState{rs: opts.Rules, k: keyOf(ws.f, ws.w, ws.p.orig, opts.Objective),
		budget: currentBudget(iters, opts.Jobs, deadline), iters: iters, deadline: deadline}
	k := st.k
	if e := st.rs.lookup(k.key); e != nil {
		// only a search at least as good as this one may end the window
		enough := e.budget >= st.budget && e.gen >= searchGen
		if e.rep == nil {
			if enough {
				res.RuleSkipped = true
				st.rs.count(0, 1)
				return st, true
			}
		} else if ws.proveAny(k.instances(e.rep, k.vals, e.scratch)) {
			st.fired++
			if enough {
				res.RuleSkipped = true
				st.rs.count(1, 1)
				ws.ruleResult(res, st)
				return st, true
			}
			st.rs.count(1, 0)
			return st, false
		}
	}
	// the same shape with other constants: proven here, then searched on
	for i, e := range st.rs.lookupAbs(k.abs) {
		if i >= maxAbsTries {
			break
		}
		if slices.Equal(e.vals, k.vals) {
			continue // tried above
		}
		if ws.proveAny(k.instances(e.rep, k.vals, e.scratch)) {
			st.fired++
			st.rs.count(1, 0)
			break
		}
	}
	return st, false
}

// proveAny proves the candidates in order until one is proven (and
// checked); it reports whether one was.
func (ws *windowSearch) proveAny(cs [][]cinsn) bool {
	for _, c := range cs {
		if ws.prove(c, 0, nil) {
			return true
		}
	}
	return false
}

// ruleResult fills res from the best proven candidate (a skipped search).
func (ws *windowSearch) ruleResult(res *WindowResult, st *ruleState) {
	res.RulesFired = st.fired
	if ws.bestChain < 0 {
		return
	}
	res.PerfAfter = ws.bestPerf
	res.TimeToBest = ws.toBest
	res.ProofsAttempted, res.ProofsProven, res.ProofsUnsafe = ws.attempts, ws.proven, ws.unsafe
	res.Edits = map[int][]bpf.Insn{}
	for i, e := range fromC(ws.best, ws.w, ws.f.slot) {
		res.Edits[ws.w.Start+i] = e
	}
}

// rulesSlide is the second hook, once the tests exist: unless a rule
// already fired, trimmed rules are tried at every window position; the
// rewrites that keep every test passing accumulate, and the result goes
// to the prover and Func.Check.
func (ws *windowSearch) rulesSlide(st *ruleState, tests []*Test) {
	if st == nil || st.fired > 0 || len(tests) == 0 {
		return
	}
	p := ws.p
	cur := slices.Clone(p.orig)
	n := len(cur)
	// positions some jump lands on: a span must not swallow one
	landed := make([]bool, n+1)
	for _, c := range cur {
		if uses(c.op).tgt && int(c.tgt) <= n && c.tgt >= 0 {
			landed[c.tgt] = true
		}
	}
	var m machine
	m.log = make([]logEntry, 0, 256)
	tries, applied := 0, 0
	for i := 0; i < n && tries < maxSlideTries; i++ {
		if cur[i].isNop() {
			continue
		}
		for _, sr := range st.rs.slides(cur[i].op) {
			if tries >= maxSlideTries {
				break
			}
			cand, ok := st.k.slideAt(cur, i, sr, landed)
			if !ok {
				continue
			}
			tries++
			if p.perf(cand) < p.perf(cur) && p.zeroErr(&m, cand, tests) {
				cur = cand
				applied++
				break
			}
		}
	}
	if applied > 0 && ws.prove(cur, 0, nil) {
		st.fired += applied
		st.rs.count(int64(applied), 0)
	}
}

// slideAt matches sr at position i of cur and returns the rewritten copy.
func (k *windowKey) slideAt(cur []cinsn, i int, sr *slideRule, landed []bool) ([]cinsn, bool) {
	if i+len(sr.pat) > len(cur) {
		return nil, false
	}
	for j := i + 1; j < i+len(sr.pat); j++ {
		if landed[j] {
			return nil, false
		}
	}
	var regOf [11]int16 // canonical -> concrete+1
	var used [11]bool
	syms := map[int64]int64{}
	bind := func(canon, conc uint8) bool {
		if canon == 10 || conc == 10 {
			return canon == conc
		}
		if regOf[canon] != 0 {
			return regOf[canon] == int16(conc)+1
		}
		if used[conc] {
			return false
		}
		regOf[canon] = int16(conc) + 1
		used[conc] = true
		return true
	}
	for j, x := range sr.pat {
		c := cur[i+j]
		if c.isNop() || c.op != x.op {
			return nil, false
		}
		u := uses(x.op)
		if u.dst && !bind(x.dst, c.dst) || u.src && !bind(x.src, c.src) || u.off && x.off != c.off {
			return nil, false
		}
		if u.imm {
			if x.sym {
				if v, ok := syms[x.imm]; ok && v != c.imm {
					return nil, false
				}
				syms[x.imm] = c.imm
			} else if x.imm != c.imm {
				return nil, false
			}
		}
	}
	// scratch registers: free in the whole window and not bound here
	var free []uint8
	for _, r := range k.free {
		if !used[r] {
			free = append(free, r)
		}
	}
	var conc []uint8
	npat := 0
	for c := range 10 {
		if regOf[c] != 0 {
			for len(conc) < c {
				conc = append(conc, 255) // unbound: instantiate refuses
			}
			conc = append(conc, uint8(regOf[c]-1))
			npat = c + 1
		}
	}
	npat = max(npat, sr.npat)
	for len(conc) < npat {
		conc = append(conc, 255)
	}
	maxSym := int64(-1)
	for s := range syms {
		maxSym = max(maxSym, s)
	}
	vals := make([]int64, maxSym+1)
	for s, v := range syms {
		vals[s] = v
	}
	rep, ok := k.instantiate(sr.rep, vals, conc, npat, free, nil, false)
	if !ok {
		return nil, false
	}
	for _, c := range rep {
		if !c.isNop() && (c.dst == 255 || c.src == 255) {
			return nil, false
		}
	}
	out := slices.Clone(cur)
	copy(out[i:], rep)
	return out, true
}

// rulesAfter is the last hook: a searched window adds its rule (the best
// proven candidate) or, with nothing better found, a no-better entry.
func (ws *windowSearch) rulesAfter(st *ruleState, res *WindowResult) {
	if st == nil {
		return
	}
	res.RulesFired = st.fired
	if res.Proposals == 0 && res.Edits == nil {
		return // nothing was searched (no tests)
	}
	k := st.k
	// The budget the search had: all of it for a proposal budget it ran
	// to the end (chains count only the proposals they could make), the
	// proposals made when it was cut short or ran on time.
	budget := res.Proposals
	cut := ws.ctx.Err() != nil || (!st.deadline.IsZero() && time.Now().After(st.deadline))
	if st.iters > 0 && !cut {
		budget = max(budget, st.budget)
	}
	e := &ruleEntry{abs: k.abs, obj: k.obj, in: k.in, exits: k.exits, vals: k.vals, pat: k.pat, budget: budget, gen: searchGen}
	if res.Edits != nil {
		z := *k.z
		z.conc = slices.Clone(k.z.conc)
		z.vals = slices.Clone(k.z.vals)
		e.rep = z.replacement(ws.best)
		if len(z.vals) != len(k.vals) {
			return
		}
		e.scratch = z.conc[k.npat:]
		// Instantiated here, the rule must give back the proven candidate:
		// the same prover query, answered by its stored verdict in a later
		// run. One that cannot (no known case) is not kept.
		if cs := k.instances(e.rep, k.vals, e.scratch); len(cs) == 0 || !slices.Equal(straight(cs[0]), straight(ws.best)) {
			return
		}
	}
	st.rs.learn(e)
}
