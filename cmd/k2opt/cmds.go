package main

import "io"

func cmdDis(args []string, stdout, stderr io.Writer) error {
	return usageErr("dis: not implemented yet")
}

func cmdVerify(args []string, stdout, stderr io.Writer) error {
	return usageErr("verify: not implemented yet")
}

func cmdOptimize(args []string, stdout, stderr io.Writer) error {
	return usageErr("optimize: not implemented yet")
}
