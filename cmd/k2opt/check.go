package main

import "io"

// cmdCheck proves the same-named programs of two objects equivalent.
// Exit 0 equivalent, 1 not (with a counterexample), 2 error.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	return usageErr("check: not implemented yet")
}
