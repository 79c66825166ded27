/* xdp_parse: per-protocol packet/byte counters.
 *
 * Parses Ethernet, up to two VLAN tags (802.1Q / 802.1ad QinQ), IPv4 with
 * options (header length from ihl), IPv6 with a short walk over extension
 * headers, then TCP/UDP/ICMP. Counts go to a per-CPU array; every packet
 * passes.
 */
#include "common.h"

enum stat_idx {
	ST_ETH_OTHER,
	ST_VLAN,
	ST_QINQ,
	ST_IPV4,
	ST_IPV4_OPTS,
	ST_IPV4_FRAG,
	ST_IPV6,
	ST_IPV6_EXT,
	ST_TCP,
	ST_TCP_SYN,
	ST_UDP,
	ST_ICMP,
	ST_L4_OTHER,
	ST_MALFORMED,
	ST_MAX,
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_MAX);
	__type(key, __u32);
	__type(value, struct counter);
} proto_stats SEC(".maps");

static __always_inline void count(__u32 idx, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(&proto_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	struct ethhdr *eth = data;
	void *cur;
	__u16 proto;
	__u8 l4;
	int i;

	if (!IN_PKT(eth, sizeof(*eth), end))
		goto malformed;
	proto = eth->h_proto;
	cur = eth + 1;

#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *vh = cur;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (!IN_PKT(vh, sizeof(*vh), end))
			goto malformed;
		proto = vh->h_vlan_encapsulated_proto;
		cur = vh + 1;
		count(i == 0 ? ST_VLAN : ST_QINQ, len);
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur;
		__u32 hlen;

		if (!IN_PKT(iph, sizeof(*iph), end))
			goto malformed;
		hlen = iph->ihl * 4;
		if (hlen < sizeof(*iph) || !IN_PKT(cur, hlen, end))
			goto malformed;
		count(hlen > sizeof(*iph) ? ST_IPV4_OPTS : ST_IPV4, len);
		if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
			count(ST_IPV4_FRAG, len);
			/* Only the first fragment carries the L4 header. */
			if (iph->frag_off & bpf_htons(IP_OFFSET))
				return XDP_PASS;
		}
		l4 = iph->protocol;
		cur += hlen;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;

		if (!IN_PKT(ip6, sizeof(*ip6), end))
			goto malformed;
		count(ST_IPV6, len);
		l4 = ip6->nexthdr;
		cur = ip6 + 1;
#pragma unroll
		for (i = 0; i < 3; i++) {
			struct ipv6_opt_hdr *oh = cur;

			if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING &&
			    l4 != IPPROTO_DSTOPTS)
				break;
			if (!IN_PKT(oh, sizeof(*oh), end))
				goto malformed;
			count(ST_IPV6_EXT, len);
			l4 = oh->nexthdr;
			cur += (oh->hdrlen + 1) * 8;
		}
	} else {
		count(ST_ETH_OTHER, len);
		return XDP_PASS;
	}

	switch (l4) {
	case IPPROTO_TCP: {
		struct tcphdr *th = cur;

		if (!IN_PKT(th, sizeof(*th), end) || th->doff < 5)
			goto malformed;
		count(ST_TCP, len);
		if (th->syn && !th->ack)
			count(ST_TCP_SYN, len);
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = cur;

		if (!IN_PKT(uh, sizeof(*uh), end))
			goto malformed;
		count(ST_UDP, len);
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		count(ST_ICMP, len);
		break;
	default:
		count(ST_L4_OTHER, len);
	}
	return XDP_PASS;

malformed:
	count(ST_MALFORMED, len);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
