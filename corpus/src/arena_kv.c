/* arena_kv: a chained hash table living in a BPF arena (v4 only).
 *
 * A BPF_PROG_TYPE_SYSCALL program (sleepable, run with BPF_PROG_TEST_RUN
 * or from a loader) implementing put / get / delete / count on u64 keys.
 * All table memory is arena memory: a root page with the bucket heads,
 * node pages handed out by a bump allocator, and a free list of deleted
 * nodes. Pages come from the kfunc bpf_arena_alloc_pages. The root's
 * arena address is kept in an ordinary array map, so the data stay
 * reachable through maps (no .addr_space.1 globals). Chain walks are
 * bounded by may_goto rather than by a counter, so the verifier's states
 * converge instead of being explored once per iteration.
 *
 * Needs clang >= 18 with -mcpu=v4 (address_space(1) pointers become
 * addr_space_cast instructions) and a kernel >= 6.9.
 */
#include "common.h"

#define __arena __attribute__((address_space(1)))
#define PAGE_SIZE 4096
#define NUMA_NO_NODE (-1)
#define NBUCKETS 256
#define ARENA_PAGES 1024

enum { OP_PUT, OP_GET, OP_DEL, OP_COUNT };

struct kv_args {
	__u32 op;
	__u32 pad;
	__u64 key;
	__u64 value;
	__s64 result; /* out: 0 ok, -2 not found, -12 no memory, -22 bad op */
};

struct node {
	struct node __arena *next;
	__u64 key;
	__u64 value;
	__u64 hash;
};

struct root {
	struct node __arena *buckets[NBUCKETS];
	struct node __arena *free;
	char __arena *bump; /* next free byte in the current node page */
	__u64 bump_left;
	__u64 count;
	__u64 pages;
};

struct {
	__uint(type, K2_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ARENA_PAGES);
	__ulong(map_extra, 1ULL << 44); /* fixed user address of page 0 */
} arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64); /* arena address of struct root, 0 before init */
} root_ptr SEC(".maps");

extern void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt,
					   int node_id, __u64 flags) __ksym;
extern void bpf_arena_free_pages(void *map, void __arena *ptr, __u32 page_cnt) __ksym;

static __always_inline __u64 hash64(__u64 k)
{
	/* splitmix64 finaliser */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return k;
}

static __noinline struct root __arena *get_root(void)
{
	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&root_ptr, &zero);
	struct root __arena *r;

	if (!slot)
		return 0;
	if (*slot)
		return (struct root __arena *)*slot;
	r = bpf_arena_alloc_pages(&arena, 0, 1, NUMA_NO_NODE, 0);
	if (!r)
		return 0;
	/* Fresh arena pages are zeroed: buckets start empty. */
	r->pages = 1;
	*slot = (__u64)r;
	return r;
}

static __noinline struct node __arena *alloc_node(struct root __arena *r)
{
	struct node __arena *n = r->free;

	if (n) {
		r->free = n->next;
		return n;
	}
	if (r->bump_left < sizeof(struct node)) {
		char __arena *page = bpf_arena_alloc_pages(&arena, 0, 1, NUMA_NO_NODE, 0);

		if (!page)
			return 0;
		r->bump = page;
		r->bump_left = PAGE_SIZE;
		r->pages++;
	}
	n = (struct node __arena *)r->bump;
	r->bump += sizeof(struct node);
	r->bump_left -= sizeof(struct node);
	return n;
}

SEC("syscall")
int arena_kv(struct kv_args *args)
{
	struct root __arena *r = get_root();
	struct node __arena *n, *prev = 0;
	__u64 h, key = args->key;
	__u32 b;

	if (!r) {
		args->result = -12;
		return 0;
	}
	if (args->op == OP_COUNT) {
		args->result = r->count;
		return 0;
	}
	h = hash64(key);
	b = h & (NBUCKETS - 1);
	n = r->buckets[b];
	while (n) {
		if (n->hash == h && n->key == key)
			break;
		prev = n;
		n = n->next;
		asm volatile goto("may_goto %l[out]" :::: out);
	}
	if (0) {
out:
		/* The kernel cancelled a too-long walk: report not found. */
		n = 0;
	}

	switch (args->op) {
	case OP_GET:
		if (!n) {
			args->result = -2;
			return 0;
		}
		args->value = n->value;
		args->result = 0;
		return 0;
	case OP_PUT:
		if (n) {
			n->value = args->value;
			args->result = 0;
			return 0;
		}
		n = alloc_node(r);
		if (!n) {
			args->result = -12;
			return 0;
		}
		n->key = key;
		n->hash = h;
		n->value = args->value;
		n->next = r->buckets[b];
		r->buckets[b] = n;
		r->count++;
		args->result = 0;
		return 0;
	case OP_DEL:
		if (!n) {
			args->result = -2;
			return 0;
		}
		if (prev)
			prev->next = n->next;
		else
			r->buckets[b] = n->next;
		n->next = r->free;
		r->free = n;
		r->count--;
		args->result = 0;
		return 0;
	}
	args->result = -22;
	return 0;
}

char _license[] SEC("license") = "GPL";
