package main

import "io"

// cmdBatch optimizes many objects (placeholder until issue 8 lands).
func cmdBatch(args []string, stdout, stderr io.Writer) error {
	return usageErr("batch: not implemented yet")
}
