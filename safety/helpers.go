package safety

import "github.com/cilium/ebpf"

// ArgKind is a helper argument type (enum bpf_arg_type).
type ArgKind uint8

// Helper argument kinds.
const (
	ArgNone        ArgKind = iota
	ArgAnything            // any initialized value
	ArgScalar              // an initialized scalar
	ArgMapPtr              // CONST_PTR_TO_MAP
	ArgMapKey              // readable memory of the map's key size
	ArgMapValue            // readable memory of the map's value size
	ArgMem                 // readable, initialized memory; the next arg is its size
	ArgMemOrNull           // ArgMem or NULL
	ArgUninitMem           // writable memory; the next arg is its size
	ArgMemRW               // initialized memory the helper reads and may write (ARG_PTR_TO_MEM without MEM_RDONLY); the next arg is its size
	ArgSize                // constant size > 0 for the previous arg
	ArgSizeOrZero          // constant size >= 0 for the previous arg
	ArgCtx                 // the program's context, unmodified
	ArgCallback            // address of a subprogram
	ArgCallbackCtx         // pointer passed to the callback, or NULL
	ArgRingbufMem          // a ringbuf sample being released
	ArgSpinLock            // pointer to the bpf_spin_lock in a map value
	ArgAllocSize           // constant size of the memory returned (ringbuf_reserve)
)

// RetKind is a helper's return type.
type RetKind uint8

// Helper return kinds.
const (
	RetInteger RetKind = iota
	RetVoid
	RetMapValueOrNull
	RetMemOrNull // ringbuf sample of the ArgAllocSize size, acquires a reference
)

// progSet says which program types may call a helper.
type progSet uint8

const (
	progsAll progSet = iota
	progsTC          // tc (sched_cls/act) only
	progsSKB         // programs with an __sk_buff ctx (tc, socket filter, cgroup skb, flow dissector)
	progsXDP
	progsNet     // xdp and tc
	progsTracing // kprobe, tracepoint and other tracing types
	progsNoNet   // tracing, cgroup and syscall programs (task context)
)

func (s progSet) allows(t ebpf.ProgramType) bool {
	tc := t == ebpf.SchedCLS || t == ebpf.SchedACT
	tracing := t == ebpf.Kprobe || t == ebpf.TracePoint || t == ebpf.RawTracepoint || t == ebpf.Tracing || t == ebpf.PerfEvent
	switch s {
	case progsTC:
		return tc
	case progsSKB:
		return tc || t == ebpf.SocketFilter || t == ebpf.CGroupSKB || t == ebpf.FlowDissector
	case progsXDP:
		return t == ebpf.XDP
	case progsNet:
		return tc || t == ebpf.XDP
	case progsTracing:
		return tracing
	case progsNoNet:
		return tracing || t == ebpf.CGroupSockAddr || t == ebpf.CGroupSKB || t == ebpf.Syscall || t == ebpf.CGroupSock
	}
	return true
}

// Proto is a helper's signature (struct bpf_func_proto) as the checker needs it.
type Proto struct {
	Name      string
	Args      []ArgKind
	Ret       RetKind
	Progs     progSet
	PktChange bool           // invalidates packet pointers
	Maps      []ebpf.MapType // allowed map types for ArgMapPtr; nil: lookup-capable maps
	Release   bool           // releases the reference of its ArgRingbufMem
}

var lookupMaps = []ebpf.MapType{ebpf.Hash, ebpf.Array, ebpf.PerCPUHash, ebpf.PerCPUArray, ebpf.LRUHash,
	ebpf.LRUCPUHash, ebpf.LPMTrie, ebpf.HashOfMaps, ebpf.ArrayOfMaps, ebpf.DevMap, ebpf.DevMapHash, ebpf.CPUMap,
	ebpf.XSKMap, ebpf.SockMap, ebpf.SockHash}

var (
	any5 = []ArgKind{ArgCtx, ArgAnything, ArgAnything, ArgAnything, ArgAnything}
)

// helpers is the helper table, by id (the subset k2opt models; an unknown
// helper is a kernel-interface diagnostic, never a guess).
var helpers = map[int32]*Proto{
	1:   {Name: "bpf_map_lookup_elem", Args: []ArgKind{ArgMapPtr, ArgMapKey}, Ret: RetMapValueOrNull},
	2:   {Name: "bpf_map_update_elem", Args: []ArgKind{ArgMapPtr, ArgMapKey, ArgMapValue, ArgAnything}},
	3:   {Name: "bpf_map_delete_elem", Args: []ArgKind{ArgMapPtr, ArgMapKey}},
	4:   {Name: "bpf_probe_read", Args: []ArgKind{ArgUninitMem, ArgSize, ArgAnything}, Progs: progsTracing},
	5:   {Name: "bpf_ktime_get_ns"},
	7:   {Name: "bpf_get_prandom_u32"},
	8:   {Name: "bpf_get_smp_processor_id"},
	9:   {Name: "bpf_skb_store_bytes", Args: []ArgKind{ArgCtx, ArgAnything, ArgMem, ArgSize, ArgAnything}, Progs: progsTC, PktChange: true},
	10:  {Name: "bpf_l3_csum_replace", Args: any5, Progs: progsTC, PktChange: true},
	11:  {Name: "bpf_l4_csum_replace", Args: any5, Progs: progsTC, PktChange: true},
	12:  {Name: "bpf_tail_call", Args: []ArgKind{ArgCtx, ArgMapPtr, ArgAnything}, Ret: RetVoid, Maps: []ebpf.MapType{ebpf.ProgramArray}},
	13:  {Name: "bpf_clone_redirect", Args: []ArgKind{ArgCtx, ArgAnything, ArgAnything}, Progs: progsTC, PktChange: true},
	14:  {Name: "bpf_get_current_pid_tgid", Progs: progsNoNet},
	15:  {Name: "bpf_get_current_uid_gid", Progs: progsNoNet},
	16:  {Name: "bpf_get_current_comm", Args: []ArgKind{ArgUninitMem, ArgSize}, Progs: progsNoNet},
	23:  {Name: "bpf_redirect", Args: []ArgKind{ArgAnything, ArgAnything}, Progs: progsNet},
	25:  {Name: "bpf_perf_event_output", Args: []ArgKind{ArgCtx, ArgMapPtr, ArgAnything, ArgMem, ArgSizeOrZero}, Maps: []ebpf.MapType{ebpf.PerfEventArray}},
	26:  {Name: "bpf_skb_load_bytes", Args: []ArgKind{ArgCtx, ArgAnything, ArgUninitMem, ArgSize}, Progs: progsSKB},
	28:  {Name: "bpf_csum_diff", Args: []ArgKind{ArgMemOrNull, ArgSizeOrZero, ArgMemOrNull, ArgSizeOrZero, ArgAnything}, Progs: progsNet},
	34:  {Name: "bpf_get_hash_recalc", Args: []ArgKind{ArgCtx}, Progs: progsTC},
	35:  {Name: "bpf_get_current_task", Progs: progsNoNet},
	44:  {Name: "bpf_xdp_adjust_head", Args: []ArgKind{ArgCtx, ArgAnything}, Progs: progsXDP, PktChange: true},
	46:  {Name: "bpf_get_socket_cookie", Args: []ArgKind{ArgCtx}},
	51:  {Name: "bpf_redirect_map", Args: []ArgKind{ArgMapPtr, ArgAnything, ArgAnything}, Progs: progsXDP, Maps: []ebpf.MapType{ebpf.DevMap, ebpf.DevMapHash, ebpf.CPUMap, ebpf.XSKMap}},
	54:  {Name: "bpf_xdp_adjust_meta", Args: []ArgKind{ArgCtx, ArgAnything}, Progs: progsXDP, PktChange: true},
	65:  {Name: "bpf_xdp_adjust_tail", Args: []ArgKind{ArgCtx, ArgAnything}, Progs: progsXDP, PktChange: true},
	69:  {Name: "bpf_fib_lookup", Args: []ArgKind{ArgCtx, ArgMemRW, ArgSize, ArgAnything}, Progs: progsNet},
	80:  {Name: "bpf_get_current_cgroup_id", Progs: progsNoNet},
	93:  {Name: "bpf_spin_lock", Args: []ArgKind{ArgSpinLock}, Ret: RetVoid},
	94:  {Name: "bpf_spin_unlock", Args: []ArgKind{ArgSpinLock}, Ret: RetVoid},
	112: {Name: "bpf_probe_read_user", Args: []ArgKind{ArgUninitMem, ArgSizeOrZero, ArgAnything}, Progs: progsNoNet},
	113: {Name: "bpf_probe_read_kernel", Args: []ArgKind{ArgUninitMem, ArgSizeOrZero, ArgAnything}, Progs: progsNoNet},
	114: {Name: "bpf_probe_read_user_str", Args: []ArgKind{ArgUninitMem, ArgSizeOrZero, ArgAnything}, Progs: progsNoNet},
	115: {Name: "bpf_probe_read_kernel_str", Args: []ArgKind{ArgUninitMem, ArgSizeOrZero, ArgAnything}, Progs: progsNoNet},
	130: {Name: "bpf_ringbuf_output", Args: []ArgKind{ArgMapPtr, ArgMem, ArgSizeOrZero, ArgAnything}, Maps: []ebpf.MapType{ebpf.RingBuf}},
	131: {Name: "bpf_ringbuf_reserve", Args: []ArgKind{ArgMapPtr, ArgAllocSize, ArgAnything}, Ret: RetMemOrNull, Maps: []ebpf.MapType{ebpf.RingBuf}},
	132: {Name: "bpf_ringbuf_submit", Args: []ArgKind{ArgRingbufMem, ArgAnything}, Ret: RetVoid, Release: true},
	133: {Name: "bpf_ringbuf_discard", Args: []ArgKind{ArgRingbufMem, ArgAnything}, Ret: RetVoid, Release: true},
	181: {Name: "bpf_loop", Args: []ArgKind{ArgAnything, ArgCallback, ArgCallbackCtx, ArgAnything}},
}

// Kfunc signatures the checker models (by BTF name).
var kfuncs = map[string]struct {
	args []ArgKind
	ret  Type
	maps []ebpf.MapType
}{
	// void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, u32 cnt, int node, u64 flags)
	// The verifier types the result as a plain scalar (R0=scalar() in its
	// log): it becomes an arena pointer only through addr_space_cast.
	"bpf_arena_alloc_pages": {args: []ArgKind{ArgMapPtr, ArgScalar, ArgScalar, ArgScalar, ArgScalar}, ret: ScalarValue, maps: []ebpf.MapType{ebpf.Arena}},
	// void bpf_arena_free_pages(void *map, void __arena *ptr, u32 cnt)
	"bpf_arena_free_pages": {args: []ArgKind{ArgMapPtr, ArgAnything, ArgScalar}, ret: NotInit, maps: []ebpf.MapType{ebpf.Arena}},
}
