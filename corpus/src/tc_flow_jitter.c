/* tc_flow_jitter: per-flow inter-arrival jitter and IP-ID/TTL drift.
 *
 * For each IPv4 TCP/UDP flow (LRU hash keyed by the 5-tuple) keeps the
 * last arrival time, an RFC 3550-style smoothed jitter of the
 * inter-arrival gaps, the mean signed gap change (sum / count), the
 * signed IP-ID step between consecutive packets (negative: reordering)
 * and the TTL drift since the first packet (a path change). Histograms of
 * the IP-ID step modulo a configured width count reordering patterns.
 *
 * The arithmetic is signed on purpose: with -mcpu=v4 clang emits sdiv,
 * smod, movsx (the (__s8)/(__s16)/(__s32) casts) and ldsx (signed loads
 * of the __s8/__s16 fields); older CPUs get the portable fallback.
 */
#include "common.h"

#define HIST 16

struct flow_key {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 proto;
};

struct flow_state {
	__u64 last_ns;
	__s64 last_gap;
	__s64 jitter;     /* smoothed |gap change|, ns */
	__s64 sum_change; /* sum of signed gap changes */
	__s64 mean_change;
	__u32 count;
	__u16 last_ipid;
	__s16 ipid_step;
	__s8 ttl_drift;
	__u8 first_ttl;
	__u16 reordered;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct flow_state);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST);
	__type(key, __u32);
	__type(value, __u64);
} step_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s32); /* histogram width, 1..HIST */
} hist_width SEC(".maps");

static __always_inline __s64 sdiv64(__s64 a, __s64 b)
{
	if (b == 0)
		return 0;
#ifdef __BPF_FEATURE_SDIV_SMOD
	return a / b;
#else
	__u64 ua = a < 0 ? -(__u64)a : (__u64)a;
	__u64 ub = b < 0 ? -(__u64)b : (__u64)b;
	__u64 q = ua / ub;

	return (a < 0) != (b < 0) ? -(__s64)q : (__s64)q;
#endif
}

static __always_inline __s32 smod32(__s32 a, __s32 b)
{
	if (b == 0)
		return a;
#ifdef __BPF_FEATURE_SDIV_SMOD
	return a % b;
#else
	__u32 ua = a < 0 ? -(__u32)a : (__u32)a;
	__u32 ub = b < 0 ? -(__u32)b : (__u32)b;
	__u32 r = ua % ub;

	return a < 0 ? -(__s32)r : (__s32)r;
#endif
}

SEC("tc")
int tc_flow_jitter(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct flow_key key = {};
	struct flow_state *st, init = {};
	struct iphdr *iph;
	__be16 *ports;
	__u64 now = bpf_ktime_get_ns();
	__s64 gap, change, ipid_step, ttl_drift;
	__s32 width, bucket, *wp;
	__u32 zero = 0, b;
	__u64 *h;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl != 5)
		return TC_ACT_OK;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	ports = (void *)(iph + 1);
	if (!IN_PKT(ports, 4, end))
		return TC_ACT_OK;
	key.saddr = iph->saddr;
	key.daddr = iph->daddr;
	key.sport = ports[0];
	key.dport = ports[1];
	key.proto = iph->protocol;

	st = bpf_map_lookup_elem(&flows, &key);
	if (!st) {
		init.last_ns = now;
		init.last_ipid = bpf_ntohs(iph->id);
		init.first_ttl = iph->ttl;
		bpf_map_update_elem(&flows, &key, &init, BPF_ANY);
		return TC_ACT_OK;
	}

	gap = (__s64)(now - st->last_ns);
	change = gap - st->last_gap;
	st->jitter += ((change < 0 ? -change : change) - st->jitter) >> 4;
	st->sum_change += change;
	st->count++;
	st->mean_change = sdiv64(st->sum_change, (__s64)st->count);
	st->last_gap = gap;
	st->last_ns = now;

	/* The IP-ID wraps at 16 bits: the signed 16-bit difference is the step. */
	st->ipid_step = (__s16)(bpf_ntohs(iph->id) - st->last_ipid);
	st->last_ipid = bpf_ntohs(iph->id);
	st->ttl_drift = (__s8)(iph->ttl - st->first_ttl);

	/* Signed reloads of the narrow fields (ldsx on v4). */
	ipid_step = *(volatile __s16 *)&st->ipid_step;
	ttl_drift = *(volatile __s8 *)&st->ttl_drift;
	if (ipid_step < 0)
		st->reordered++;

	wp = bpf_map_lookup_elem(&hist_width, &zero);
	width = wp ? *wp : HIST;
	if (width <= 0 || width > HIST)
		width = HIST;
	bucket = smod32((__s32)ipid_step, width);
	if (bucket < 0)
		bucket += width;
	b = (__u32)bucket;
	h = bpf_map_lookup_elem(&step_hist, &b);
	if (h)
		*h += 1;
	/* A TTL that moved by more than 4 hops: let the stack see it first. */
	if (ttl_drift > 4 || ttl_drift < -4)
		skb->mark = (__u32)(__s32)ttl_drift;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
