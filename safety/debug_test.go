package safety

import (
	"fmt"
	"os"
	"testing"

	"github.com/k2opt/k2opt/object"
)

// TestDebugTrace prints the path trace of SAFETY_TRACE=obj:prog (manual aid).
func TestDebugTrace(t *testing.T) {
	spec := os.Getenv("SAFETY_TRACE")
	if spec == "" {
		t.Skip("set SAFETY_TRACE=path.o:prog to trace a program")
	}
	var path, name string
	for i := len(spec) - 1; i >= 0; i-- {
		if spec[i] == ':' {
			path, name = spec[:i], spec[i+1:]
			break
		}
	}
	f, err := object.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromObject(f, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := Verify(p, &Options{Trace: func(pc int, st *State) {
		fmt.Printf("%d: %v ; %s\n", pc, p.Insns[pc].String(), st)
	}})
	fmt.Println(res.Diag, res.Processed)
}
