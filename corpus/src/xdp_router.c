/* xdp_router: IPv4/IPv6 forwarding fast path.
 *
 * Looks up the route with bpf_fib_lookup, decrements the TTL / hop limit
 * (IPv4 header checksum updated incrementally, RFC 1624), rewrites the
 * MAC addresses from the neighbour entry and redirects through a devmap.
 * Packets the kernel must see (TTL expiry, no neighbour, local delivery)
 * pass to the stack.
 */
#include "common.h"

#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} egress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} fib_results SEC(".maps");

static __always_inline void note(__u32 rc)
{
	__u32 idx = rc < 8 ? rc : 7;
	__u64 *c = bpf_map_lookup_elem(&fib_results, &idx);

	if (c)
		*c += 1;
}

static __always_inline void ip_decrease_ttl(struct iphdr *iph)
{
	__u16 old = *(__u16 *)&iph->ttl; /* ttl and protocol share a word */

	iph->ttl--;
	iph->check = csum_replace2(iph->check, old, *(__u16 *)&iph->ttl);
}

SEC("xdp")
int xdp_router(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};
	struct iphdr *iph = 0;
	struct ipv6hdr *ip6 = 0;
	long rc;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return XDP_DROP;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		if (!IN_PKT(iph, sizeof(*iph), end))
			return XDP_DROP;
		if (iph->ttl <= 1)
			return XDP_PASS;
		fib.family = AF_INET;
		fib.tos = iph->tos;
		fib.l4_protocol = iph->protocol;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = (void *)(eth + 1);
		if (!IN_PKT(ip6, sizeof(*ip6), end))
			return XDP_DROP;
		if (ip6->hop_limit <= 1)
			return XDP_PASS;
		fib.family = AF_INET6;
		fib.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0FFFFFFF);
		fib.l4_protocol = ip6->nexthdr;
		fib.tot_len = bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
	} else {
		return XDP_PASS;
	}
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	note(rc);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		if (rc == BPF_FIB_LKUP_RET_BLACKHOLE || rc == BPF_FIB_LKUP_RET_UNREACHABLE ||
		    rc == BPF_FIB_LKUP_RET_PROHIBIT)
			return XDP_DROP;
		return XDP_PASS;
	}
	if (!bpf_map_lookup_elem(&egress, &fib.ifindex))
		return XDP_PASS;
	if (iph)
		ip_decrease_ttl(iph);
	else if (ip6)
		ip6->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect_map(&egress, fib.ifindex, 0);
}

char _license[] SEC("license") = "GPL";
