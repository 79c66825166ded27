package main

import "io"

// cmdBench measures kernel latency before and after (placeholder until
// issue 8 lands).
func cmdBench(args []string, stdout, stderr io.Writer) error {
	return usageErr("bench: not implemented yet")
}
