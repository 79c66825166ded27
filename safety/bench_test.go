package safety

import (
	"path/filepath"
	"testing"
)

// BenchmarkVerify reports the verdict time per corpus program (v3 build).
// Target: <= 50 µs for a 100-instruction program.
func BenchmarkVerify(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join("..", "corpus", "build", "v3", "*.o"))
	for _, path := range paths {
		for _, p := range linkAll(b, path) {
			b.Run(p.Name, func(b *testing.B) {
				b.ReportMetric(float64(len(p.Insns)), "insns")
				for b.Loop() {
					if res := Verify(p, nil); !res.Accepted {
						b.Fatal(res.Diag)
					}
				}
			})
		}
	}
}
