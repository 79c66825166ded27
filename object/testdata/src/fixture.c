// fixture.c: a small object exercising what the object package must keep
// consistent when it rewrites a section: BTF maps, .rodata/.data/.bss, static
// and global subprograms in .text calling each other, a bpf_loop callback
// (ld_imm64 src=4), CO-RE relocations, two programs in one section, and a
// provably dead instruction (see dead_store).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} seen SEC(".maps");

const volatile __u32 limit = 100;
__u32 hits = 1;
__u64 total;

struct xdp_md___local {
	__u32 data;
	__u32 data_end;
} __attribute__((preserve_access_index));

static __noinline __u64 mix(__u64 a, __u64 b)
{
	return (a * 31) ^ (b >> 3);
}

static __noinline __u64 bump(__u32 key, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &key);
	if (!v)
		return 0;
	*v = mix(*v, by);
	return *v;
}

__noinline int global_check(__u32 x)
{
	if (x > limit)
		return 1;
	return (int)bump(x & 3, x);
}

struct loop_ctx {
	__u64 acc;
	__u32 key;
};

static int loop_cb(__u32 i, void *data)
{
	struct loop_ctx *c = data;
	c->acc += mix(c->acc, i);
	return c->acc > 1000;
}

static __noinline __u64 looped(__u32 n)
{
	struct loop_ctx c = { .acc = n, .key = 1 };
	bpf_loop(n & 15, loop_cb, &c, 0);
	return c.acc;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	struct xdp_md___local *lc = (void *)ctx;
	__u32 len = lc->data_end - lc->data;
	__u32 key = len & 63;
	__u32 one = 1, *s;

	s = bpf_map_lookup_elem(&seen, &key);
	if (!s)
		bpf_map_update_elem(&seen, &key, &one, BPF_ANY);
	else
		__sync_fetch_and_add(s, 1);
	/* dead_store: the first move is overwritten before any use. */
	asm volatile("r2 = 7\n\tr2 = 8" ::: "r2");
	hits++;
	total += looped(len);
	if (global_check(len))
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	return bump(1, ctx->ingress_ifindex) > 5 ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
	__u64 r = bump(2, skb->len);
	r += looped(skb->mark);
	return r & 1;
}

SEC("socket")
int sock_main(struct __sk_buff *skb)
{
	return global_check(skb->len) ? 0 : skb->len;
}

char LICENSE[] SEC("license") = "GPL";
