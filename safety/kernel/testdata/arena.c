/* arena.c: a BPF arena (KFlex-style extension heap). clang emits
 * addr_space_cast (ALU64 MOV with off=1) for accesses through __arena
 * pointers; cilium/ebpf drops that offset, so this needs the raw loader. */
#include "common.h"

struct {
	__uint(type, MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4); /* pages */
	__ulong(map_extra, 0x1ull << 44); /* user VA of the mapping */
} arena SEC(".maps");

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt,
				    int node_id, __u64 flags) __ksym;
void bpf_arena_free_pages(void *map, void __arena *ptr, __u32 page_cnt) __ksym;

struct args {
	int n;
};

/* arena_sum: fills n (<= 16, from the context) words of a fresh arena page
 * with 3*i and sums them back: 3n(n-1)/2, 360 for n = 16. */
SEC("syscall")
int arena_sum(struct args *ctx)
{
	__u64 __arena *p = bpf_arena_alloc_pages(&arena, (void __arena *)0, 1, -1, 0);
	volatile __u64 __arena *q;
	__u64 s = 0;
	int i, n = ctx->n;

	if (!p)
		return -1;
	q = p;
	for (i = 0; i < 16 && i < n; i++)
		q[i] = i * 3;
	for (i = 0; i < 16 && i < n; i++)
		s += q[i];
	bpf_arena_free_pages(&arena, (void __arena *)p, 1);
	return s;
}

char LICENSE[] SEC("license") = "GPL";
