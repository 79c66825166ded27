package kernel

import (
	"regexp"
	"strconv"
	"strings"
)

// logTailLines is how many trailing verifier-log lines a Verdict keeps.
const logTailLines = 40

// errTailLines is how many trailing log lines a RejectError prints.
const errTailLines = 8

var (
	processedRE = regexp.MustCompile(`processed (\d+) insns`)
	insnLineRE  = regexp.MustCompile(`^(\d+): `)
)

// parseProcessed returns N from the verifier's "processed N insns" line, or
// -1 when the log has none (the verifier never ran, or the log was cut).
func parseProcessed(log string) int {
	m := processedRE.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return -1
	}
	n, err := strconv.Atoi(m[len(m)-1][1])
	if err != nil {
		return -1
	}
	return n
}

// logLines splits a verifier log into non-empty lines, right-trimmed.
func logLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimRight(l, " \t\r\x00")
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// tail returns the last n lines.
func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// isStatsLine reports lines the verifier prints after its verdict
// (LogLevelStats); they carry no reason.
func isStatsLine(l string) bool {
	for _, p := range []string{"processed ", "verification time", "stack depth", "max_states_per_insn"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// rejectReason extracts the verifier's reason from a log: the last one or
// two message lines (the verifier often prints a detail line, then a
// summary) after the instruction trace and before the statistics. insn is
// the index of the last traced instruction before the message, or -1 when
// the log has no instruction trace (LogLevelStats only).
func rejectReason(lines []string) (reason string, insn int) {
	i := len(lines) - 1
	for i >= 0 && isStatsLine(strings.TrimSpace(lines[i])) {
		i--
	}
	var msgs []string
	for ; i >= 0 && len(msgs) < 2; i-- {
		l := strings.TrimSpace(lines[i])
		if insnLineRE.MatchString(l) || isStatsLine(l) {
			break
		}
		msgs = append([]string{l}, msgs...)
	}
	insn = -1
	for ; i >= 0; i-- {
		if m := insnLineRE.FindStringSubmatch(strings.TrimSpace(lines[i])); m != nil {
			insn, _ = strconv.Atoi(m[1])
			break
		}
	}
	return strings.Join(msgs, ": "), insn
}
