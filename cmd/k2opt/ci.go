package main

import "io"

// cmdCI optimizes and verifies with fixed settings, failing on regressions
// (placeholder until issue 8 lands).
func cmdCI(args []string, stdout, stderr io.Writer) error {
	return usageErr("ci: not implemented yet")
}
