/* tc_mss_clamp: TCP MSS clamping on SYN packets (IPv4 and IPv6).
 *
 * Walks the TCP options of SYN segments with a bounded loop (at most 40
 * option bytes, one option per iteration), and when an MSS option larger
 * than the configured limit is found, rewrites it and fixes the TCP
 * checksum incrementally. The limit comes from an array map, per address
 * family.
 */
#include "common.h"

#define MAX_OPT_BYTES 40
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); /* 0: IPv4 limit, 1: IPv6 limit */
	__type(key, __u32);
	__type(value, __u16);
} mss_limit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); /* 0: syns seen, 1: clamped */
	__type(key, __u32);
	__type(value, __u64);
} clamp_stats SEC(".maps");

static __always_inline void stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&clamp_stats, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline int clamp(struct tcphdr *th, void *end, __u16 limit)
{
	__u8 *opt = (__u8 *)(th + 1);
	__u32 optlen = th->doff * 4 - sizeof(*th);
	__u32 off = 0;
	int i;

	if (optlen > MAX_OPT_BYTES)
		return 0;
	for (i = 0; i < MAX_OPT_BYTES; i++) {
		__u8 *p = opt + off;
		__u8 kind, len;

		if (off >= optlen || !IN_PKT(p, 1, end))
			return 0;
		kind = p[0];
		if (kind == TCPOPT_EOL)
			return 0;
		if (kind == TCPOPT_NOP) {
			off++;
			continue;
		}
		if (!IN_PKT(p, 2, end))
			return 0;
		len = p[1];
		if (len < 2)
			return 0;
		if (kind == TCPOPT_MSS && len == 4) {
			__be16 *mssp = (__be16 *)(p + 2);
			__u16 old;

			if (!IN_PKT(mssp, 2, end))
				return 0;
			old = bpf_ntohs(*mssp);
			if (old <= limit)
				return 0;
			th->check = csum_replace2(th->check, *mssp, bpf_htons(limit));
			*mssp = bpf_htons(limit);
			return 1;
		}
		off += len;
		off &= 0xff; /* keeps the offset bounded for the verifier */
	}
	return 0;
}

SEC("tc")
int tc_mss_clamp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *th;
	__u32 fam;
	__u16 *limit;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl != 5 ||
		    iph->protocol != IPPROTO_TCP)
			return TC_ACT_OK;
		th = (void *)(iph + 1);
		fam = 0;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if (!IN_PKT(ip6, sizeof(*ip6), end) || ip6->nexthdr != IPPROTO_TCP)
			return TC_ACT_OK;
		th = (void *)(ip6 + 1);
		fam = 1;
	} else {
		return TC_ACT_OK;
	}
	if (!IN_PKT(th, sizeof(*th), end) || !th->syn)
		return TC_ACT_OK;
	stat(0);
	limit = bpf_map_lookup_elem(&mss_limit, &fam);
	if (!limit || !*limit)
		return TC_ACT_OK;
	if (clamp(th, end, *limit))
		stat(1);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
