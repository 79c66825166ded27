/* arena_list: a bounded FIFO log as a doubly linked list in a BPF arena
 * (v4 only).
 *
 * A BPF_PROG_TYPE_SYSCALL program with three operations: push a (ts,
 * value) record at the tail (evicting the oldest record when the log is
 * full), pop the head, and walk the whole list summing the values (the
 * walk is bounded by may_goto). Nodes are recycled through a free list;
 * fresh memory comes from bpf_arena_alloc_pages one page at a time. The
 * list root is found through an ordinary array map.
 *
 * Unlike arena_kv, map_extra is given with __uint and a 32-bit address,
 * the form libbpf 1.1 / bpftool 7.1 can read: this object loads with
 * bpftool, arena_kv needs a newer loader.
 */
#include "common.h"

#define __arena __attribute__((address_space(1)))
#define PAGE_SIZE 4096
#define NUMA_NO_NODE (-1)

enum { OP_PUSH, OP_POP, OP_SUM };

struct log_args {
	__u32 op;
	__u32 max_len; /* for push: evict beyond this many records (0: 1024) */
	__u64 value;
	__u64 ts;
	__s64 result;
};

struct rec {
	struct rec __arena *next;
	struct rec __arena *prev;
	__u64 ts;
	__u64 value;
};

struct log_root {
	struct rec __arena *head;
	struct rec __arena *tail;
	struct rec __arena *free;
	char __arena *bump;
	__u32 bump_left;
	__u32 len;
	__u64 evicted;
};

struct {
	__uint(type, K2_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 256);
	__uint(map_extra, 0x10000000); /* user address of page 0 (below 4 GiB) */
} log_arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} log_root_ptr SEC(".maps");

extern void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt,
					   int node_id, __u64 flags) __ksym;

static __always_inline struct log_root __arena *root(void)
{
	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&log_root_ptr, &zero);
	struct log_root __arena *r;

	if (!slot)
		return 0;
	if (*slot)
		return (struct log_root __arena *)*slot;
	r = bpf_arena_alloc_pages(&log_arena, 0, 1, NUMA_NO_NODE, 0);
	if (r)
		*slot = (__u64)r;
	return r;
}

static __always_inline void unlink_head(struct log_root __arena *r)
{
	struct rec __arena *h = r->head;

	if (!h)
		return;
	r->head = h->next;
	if (r->head)
		r->head->prev = 0;
	else
		r->tail = 0;
	h->next = r->free;
	r->free = h;
	r->len--;
}

static __noinline struct rec __arena *new_rec(struct log_root __arena *r)
{
	struct rec __arena *n = r->free;

	if (n) {
		r->free = n->next;
		return n;
	}
	if (r->bump_left < sizeof(*n)) {
		r->bump = bpf_arena_alloc_pages(&log_arena, 0, 1, NUMA_NO_NODE, 0);
		if (!r->bump)
			return 0;
		r->bump_left = PAGE_SIZE;
	}
	n = (struct rec __arena *)r->bump;
	r->bump += sizeof(*n);
	r->bump_left -= sizeof(*n);
	return n;
}

SEC("syscall")
int arena_list(struct log_args *args)
{
	struct log_root __arena *r = root();
	struct rec __arena *n;
	__u32 max_len = args->max_len ? args->max_len : 1024;
	__u64 sum = 0;

	if (!r) {
		args->result = -12;
		return 0;
	}
	switch (args->op) {
	case OP_PUSH:
		if (r->len >= max_len) {
			unlink_head(r);
			r->evicted++;
		}
		n = new_rec(r);
		if (!n) {
			args->result = -12;
			return 0;
		}
		n->ts = args->ts;
		n->value = args->value;
		n->next = 0;
		n->prev = r->tail;
		if (r->tail)
			r->tail->next = n;
		else
			r->head = n;
		r->tail = n;
		r->len++;
		args->result = r->len;
		return 0;
	case OP_POP:
		n = r->head;
		if (!n) {
			args->result = -2;
			return 0;
		}
		args->value = n->value;
		args->ts = n->ts;
		unlink_head(r);
		args->result = 0;
		return 0;
	case OP_SUM:
		for (n = r->head; n; n = n->next) {
			sum += n->value;
			asm volatile goto("may_goto %l[cancelled]" :::: cancelled);
		}
		args->value = sum;
		args->result = r->len;
		return 0;
	}
	args->result = -22;
	return 0;
cancelled:
	args->value = sum;
	args->result = -4; /* walk cut short by the kernel */
	return 0;
}

char _license[] SEC("license") = "GPL";
