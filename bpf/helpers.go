package bpf

//go:generate go run ./internal/genhelpers -out helpers_gen.go

// HelperArity returns how many argument registers (r1..rN) helper id reads,
// from libbpf's declarations (variadic helpers count as five). ok is false
// for ids libbpf does not declare; callers must then assume all five.
func HelperArity(id int32) (n int, ok bool) {
	if id <= 0 || int(id) >= len(helperTable) || helperTable[id].name == "" {
		return 5, false
	}
	return int(helperTable[id].arity), true
}

// HelperName returns the libbpf name of helper id ("bpf_map_lookup_elem"),
// or "" when unknown.
func HelperName(id int32) string {
	if id <= 0 || int(id) >= len(helperTable) {
		return ""
	}
	return helperTable[id].name
}
