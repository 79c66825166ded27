package object

import (
	"bytes"
	"os"
	"testing"
)

// TestRoundTrip: reading and writing back with no rewrites is byte-identical,
// for every object we can find.
func TestRoundTrip(t *testing.T) {
	for _, path := range allObjects(t) {
		t.Run(objName(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			var buf bytes.Buffer
			if err := f.Write(&buf, nil); err != nil {
				t.Fatalf("Write: %v", err)
			}
			in, _ := os.ReadFile(path)
			if !bytes.Equal(buf.Bytes(), in) {
				t.Fatalf("round trip differs: %d bytes in, %d out", len(in), buf.Len())
			}
		})
	}
}
