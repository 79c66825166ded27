package safety

import (
	"path/filepath"
	"testing"

	"github.com/k2opt/k2opt/object"
)

// TestStudyRegressions replays variants the agreement study found we
// accepted while the kernel rejected them (testdata/*.o, written by
// SAFETY_STUDY_DUMP); each must now be rejected for the kernel's reason.
func TestStudyRegressions(t *testing.T) {
	if testing.Short() {
		t.Skip("explores up to 1M instructions")
	}
	cases := []struct {
		file, prog string
		prop       Property
	}{
		// A may_goto loop whose state keeps changing: the kernel unrolls it
		// to the 1M limit; widening made us converge and accept.
		{"geneve_maygoto_1m.o", "xdp_geneve_opts", Termination},
		// bpf_arena_alloc_pages returns a scalar until addr_space_cast;
		// dereferencing it directly is "R7 invalid mem access 'scalar'".
		{"arena_alloc_scalar.o", "arena_list", PointerMath},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f, err := object.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			p, err := FromObject(f, tc.prog, nil)
			if err != nil {
				t.Fatal(err)
			}
			res := Verify(p, nil)
			if res.Accepted {
				t.Fatalf("accepted (processed %d), the kernel rejects it", res.Processed)
			}
			if res.Diag.Property != tc.prop {
				t.Fatalf("rejected for %v, want %v: %v", res.Diag.Property, tc.prop, res.Diag)
			}
		})
	}
}
