package synth

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/k2opt/k2opt/object"
	"github.com/k2opt/k2opt/safety"
)

// FunctionEntryStates is what a translation validator (package check)
// needs to state window preconditions for function fn of f the way the
// search does: the program type fn runs as and safety's per-instruction
// entry summaries (indexed like fn.Insns), joined over every entry program
// that links fn. before is nil, with note saying why, when no program
// links fn or the static verifier rejects one of them.
func FunctionEntryStates(f *object.File, fn *object.Function) (typ ebpf.ProgramType, before []*safety.Summary, note string, err error) {
	links, err := linkedPrograms(f, fn)
	if err != nil {
		return 0, nil, "", err
	}
	if len(links) == 0 {
		return fn.Type, nil, "no entry program links this function", nil
	}
	typ = fn.Type
	if !fn.Entry {
		typ = links[0].p.Type
	}
	for _, l := range links {
		vr := safety.Verify(l.p, &safety.Options{Summaries: true})
		if !vr.Accepted {
			return typ, nil, fmt.Sprintf("program %s rejected by the static verifier: %v", l.p.Name, firstLine(fmt.Sprint(vr.Err()))), nil
		}
		fu := l.p.Funcs[l.fi]
		if len(vr.Before) < fu.End || fu.End-fu.Start != len(fn.Insns) {
			return typ, nil, "program " + l.p.Name + " links a different body of this function", nil
		}
		before = joinSummaries(before, vr.Before[fu.Start:fu.End])
	}
	return typ, before, "", nil
}
