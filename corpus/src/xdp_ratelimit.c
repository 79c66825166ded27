/* xdp_ratelimit: per-source token-bucket rate limiter.
 *
 * Each IPv4 source gets a bucket in a hash map: tokens refill with
 * bpf_ktime_get_ns at a configured rate (packets per second) up to a
 * burst size, each packet takes one token, packets without a token are
 * dropped. Bucket updates are serialised with bpf_spin_lock. Sources in
 * an allow list bypass the limiter.
 */
#include "common.h"

#define NSEC_PER_SEC 1000000000ULL
/* Tokens are kept in 1/1024 units to refill smoothly at low rates. */
#define TOKEN_SHIFT 10

struct bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens;
	__u64 last_ns;
	__u64 passed;
	__u64 dropped;
};

struct limit_cfg {
	__u64 rate;  /* packets per second */
	__u64 burst; /* packets */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* spin locks are not allowed in LRU maps */
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct limit_cfg);
} limit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} allow SEC(".maps");

SEC("xdp")
int xdp_ratelimit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct limit_cfg *cfg;
	struct bucket *b, fresh = {};
	__u64 now, cap, elapsed, add;
	__u32 zero = 0, src;
	int pass;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end))
		return XDP_PASS;
	src = iph->saddr;
	if (bpf_map_lookup_elem(&allow, &src))
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&limit, &zero);
	if (!cfg || !cfg->rate)
		return XDP_PASS;
	cap = cfg->burst << TOKEN_SHIFT;
	now = bpf_ktime_get_ns();

	b = bpf_map_lookup_elem(&buckets, &src);
	if (!b) {
		fresh.tokens = cap - (1 << TOKEN_SHIFT);
		fresh.last_ns = now;
		fresh.passed = 1;
		bpf_map_update_elem(&buckets, &src, &fresh, BPF_NOEXIST);
		return XDP_PASS;
	}

	bpf_spin_lock(&b->lock);
	elapsed = now > b->last_ns ? now - b->last_ns : 0;
	/* Cap elapsed so the multiplication cannot overflow. */
	if (elapsed > 60 * NSEC_PER_SEC)
		elapsed = 60 * NSEC_PER_SEC;
	add = (elapsed * cfg->rate << TOKEN_SHIFT) / NSEC_PER_SEC;
	if (add) {
		b->tokens += add;
		if (b->tokens > cap)
			b->tokens = cap;
		b->last_ns = now;
	}
	pass = b->tokens >= (1 << TOKEN_SHIFT);
	if (pass) {
		b->tokens -= 1 << TOKEN_SHIFT;
		b->passed++;
	} else {
		b->dropped++;
	}
	bpf_spin_unlock(&b->lock);
	return pass ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
