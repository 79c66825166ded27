package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/k2opt/k2opt/synth"
)

// parseInterspersed parses flags that may appear before or after positional
// arguments (k2opt IN.o -o OUT.o), which the flag package alone does not allow.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagHelp renders a flag set's defaults for -h.
func flagHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// ruleFlags are --rules and --no-rules (the rule cache, synth/rules.go).
type ruleFlags struct {
	path *string
	off  *bool
}

func addRuleFlags(fs *flag.FlagSet) *ruleFlags {
	return &ruleFlags{
		path: fs.String("rules", "", "rule cache `FILE`: its rules are applied (each proven again), what the search learns is written back (created if missing); default: the built-in rules, read-only"),
		off:  fs.Bool("no-rules", false, "use no rule cache at all"),
	}
}

// load returns the rule set to use (nil: none). A malformed file is bad
// input (exit 2), named with its line.
func (r *ruleFlags) load() (*synth.RuleSet, error) {
	if *r.off {
		if *r.path != "" {
			return nil, usageErr("--rules and --no-rules exclude each other")
		}
		return nil, nil
	}
	if *r.path == "" {
		rs, err := synth.DefaultRules()
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return rs, nil
	}
	rs, err := synth.LoadRules(*r.path)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return rs, nil
}

// save writes rs back to --rules FILE (atomically); nothing without one.
func (r *ruleFlags) save(rs *synth.RuleSet) error {
	if *r.path == "" || rs == nil {
		return nil
	}
	if err := rs.WriteFile(*r.path); err != nil {
		return usageErr("write %s: %v", *r.path, err)
	}
	return nil
}

// summary is the rule cache's line for the end of a run ("" without one).
func (r *ruleFlags) summary(rs *synth.RuleSet) string {
	if rs == nil {
		return ""
	}
	st := rs.Stats()
	if *r.path == "" {
		return fmt.Sprintf("rules: %d fired, %d window searches skipped; built-in rules (read-only): %d entries",
			st.Fired, st.Skipped, st.Loaded)
	}
	return fmt.Sprintf("rules: %d fired, %d window searches skipped, %d learned; %s: %d rules, %d no-better entries",
		st.Fired, st.Skipped, st.Learned, *r.path, st.Rules, st.NoBetter)
}
