//go:build soak

package safety

import (
	"os"
	"strconv"
	"testing"
)

// TestAgreementSoak is the 10,000-variant agreement study recorded in
// docs/safety.md: go test -tags soak -run TestAgreementSoak -timeout 60m ./safety
// SAFETY_STUDY_N and SAFETY_STUDY_SEED override the size and the seed;
// SAFETY_STUDY_DUMP=dir keeps the disagreeing variants' objects.
func TestAgreementSoak(t *testing.T) {
	n, seed := 10_000, uint64(42)
	if v, err := strconv.Atoi(os.Getenv("SAFETY_STUDY_N")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("SAFETY_STUDY_SEED"), 10, 64); err == nil {
		seed = v
	}
	s := study(t, n, seed)
	s.report(t, 40)
}
