//go:build soak

package safety

import "testing"

// TestAgreementSoak is the 10,000-variant agreement study recorded in
// docs/safety.md: go test -tags soak -run TestAgreementSoak -timeout 60m ./safety
func TestAgreementSoak(t *testing.T) {
	s := study(t, 10_000, 42)
	s.report(t, 25)
}
