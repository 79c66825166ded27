// calls.c: bpf-to-bpf calls, a callback passed by address (ld_imm64 of a
// function), helpers, atomics and a bounded loop.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

__u64 total;

static __attribute__((noinline)) __u64 mix(__u64 a, __u64 b)
{
	return (a ^ (b << 17)) * 0x9e3779b97f4a7c15ULL;
}

static __attribute__((noinline)) int bump(__u32 key, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &key);
	if (!v) {
		__u64 one = by;
		bpf_map_update_elem(&hits, &key, &one, BPF_NOEXIST);
		return 0;
	}
	__sync_fetch_and_add(v, by);
	return 1;
}

static long loop_cb(__u64 index, void *ctx)
{
	__u64 *acc = ctx;
	*acc += mix(index, *acc);
	return *acc > 1000;
}

SEC("xdp")
int callers(struct xdp_md *ctx)
{
	__u64 acc = ctx->ingress_ifindex;
	bpf_loop(8, loop_cb, &acc, 0);
	__u64 h = mix(acc, bpf_ktime_get_ns());
	int r = bump(h & 63, 1);
	__sync_fetch_and_add(&total, 2);
	__u64 old = __sync_fetch_and_or(&total, h & 1);
	__sync_fetch_and_and(&total, ~2ULL);
	__sync_fetch_and_xor(&total, old & 4);
	__sync_lock_test_and_set(&total, old);
	__sync_val_compare_and_swap(&total, old, h);
	for (int i = 0; i < 4; i++)
		r += bump(i, h >> i);
	return r & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
