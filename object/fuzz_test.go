package object

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/k2opt/k2opt/bpf"
)

// FuzzParse: Parse never panics and fails only with *Error; what parses
// writes back byte-identical, and a rewrite either succeeds or fails with a
// clean error.
func FuzzParse(f *testing.F) {
	for _, path := range fixtures(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := Parse("fuzz.o", data)
		if err != nil {
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %T: %v", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		out, err := obj.Encode(nil, Options{})
		if err == nil && !bytes.Equal(out, data) {
			t.Fatalf("round trip differs")
		}
		for i, fn := range obj.Functions {
			if i == 2 {
				break
			}
			rw := Rewrite{Insns: append([]bpf.Insn{{Code: 0x05}}, fn.Insns...), OldToNew: make([]int, len(fn.Insns))}
			for k := range rw.OldToNew {
				rw.OldToNew[k] = k + 1
			}
			if _, err := obj.Encode(map[string]Rewrite{fn.Name: rw}, Options{}); err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%s: %v", fn.Name, err)
			}
		}
	})
}
