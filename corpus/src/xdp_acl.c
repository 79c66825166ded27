/* xdp_acl: first-match 5-tuple ACL built from BPF-to-BPF calls.
 *
 * The parser is split into static noinline subprograms (Ethernet/VLAN,
 * IPv4, IPv6, L4 ports) that fill a tuple on the caller's stack; rule
 * matching is a global function (verified on its own, with a nullable
 * pointer argument) that scans up to 16 rules in order, each with
 * prefix masks and port ranges; accounting is one more subprogram.
 */
#include "common.h"

#define NRULES 16

struct tuple {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 v6;
	__u16 pad;
};

struct rule {
	__u32 saddr, smask;
	__u32 daddr, dmask;
	__u16 dport_lo, dport_hi;
	__u8 proto; /* 0: any */
	__u8 action; /* XDP_DROP or XDP_PASS */
	__u8 valid;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NRULES);
	__type(key, __u32);
	__type(value, struct rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NRULES + 1);
	__type(key, __u32);
	__type(value, __u64);
} rule_hits SEC(".maps");

/* Returns the L3 offset, or -1; *proto gets the ethertype. */
static __noinline int parse_eth(void *data, void *end, __u16 *proto)
{
	struct ethhdr *eth = data;
	struct vlan_hdr *vh;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return -1;
	*proto = eth->h_proto;
	if (*proto != bpf_htons(ETH_P_8021Q))
		return sizeof(*eth);
	vh = (void *)(eth + 1);
	if (!IN_PKT(vh, sizeof(*vh), end))
		return -1;
	*proto = vh->h_vlan_encapsulated_proto;
	return sizeof(*eth) + sizeof(*vh);
}

/* Returns the L4 offset, or -1. */
static __noinline int parse_ipv4(struct iphdr *iph, void *end, struct tuple *t)
{
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl < 5)
		return -1;
	t->saddr = bpf_ntohl(iph->saddr);
	t->daddr = bpf_ntohl(iph->daddr);
	t->proto = iph->protocol;
	if (iph->frag_off & bpf_htons(IP_OFFSET))
		t->proto = 0; /* no ports in later fragments */
	return iph->ihl * 4;
}

/* IPv6 rules match on the low 32 bits of each address. */
static __noinline int parse_ipv6(struct ipv6hdr *ip6, void *end, struct tuple *t)
{
	if (!IN_PKT(ip6, sizeof(*ip6), end))
		return -1;
	t->saddr = bpf_ntohl(ip6->saddr.in6_u.u6_addr32[3]);
	t->daddr = bpf_ntohl(ip6->daddr.in6_u.u6_addr32[3]);
	t->proto = ip6->nexthdr;
	t->v6 = 1;
	return sizeof(*ip6);
}

static __noinline int parse_ports(void *l4, void *end, struct tuple *t)
{
	__be16 *p = l4;

	if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
		return 0;
	if (!IN_PKT(p, 4, end))
		return -1;
	t->sport = bpf_ntohs(p[0]);
	t->dport = bpf_ntohs(p[1]);
	return 0;
}

/* Global: verified separately; returns the index of the first matching
 * rule, or NRULES when none matches. */
__noinline int acl_match(struct tuple *t)
{
	int i;

	if (!t)
		return NRULES;
	for (i = 0; i < NRULES; i++) {
		__u32 key = i; /* the loop counter stays in a register */
		struct rule *r = bpf_map_lookup_elem(&rules, &key);

		if (!r || !r->valid)
			continue;
		if (r->proto && r->proto != t->proto)
			continue;
		if ((t->saddr & r->smask) != r->saddr)
			continue;
		if ((t->daddr & r->dmask) != r->daddr)
			continue;
		if (t->dport < r->dport_lo || t->dport > r->dport_hi)
			continue;
		return i;
	}
	return NRULES;
}

static __noinline void account(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&rule_hits, &idx);

	if (c)
		*c += 1;
}

SEC("xdp")
int xdp_acl(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct tuple t = {};
	__u16 proto = 0;
	int off, l4;
	__u32 idx;
	struct rule *r;

	off = parse_eth(data, end, &proto);
	if (off < 0)
		return XDP_DROP;
	if (proto == bpf_htons(ETH_P_IP))
		l4 = parse_ipv4(data + off, end, &t);
	else if (proto == bpf_htons(ETH_P_IPV6))
		l4 = parse_ipv6(data + off, end, &t);
	else
		return XDP_PASS;
	if (l4 < 0 || l4 > 60)
		return XDP_DROP;
	if (parse_ports(data + off + l4, end, &t) < 0)
		return XDP_DROP;

	idx = acl_match(&t);
	account(idx);
	if (idx >= NRULES)
		return XDP_PASS;
	r = bpf_map_lookup_elem(&rules, &idx);
	return r && r->action == XDP_DROP ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
