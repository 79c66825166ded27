/* flow_dissector: a BPF flow dissector (BPF_PROG_TYPE_FLOW_DISSECTOR).
 *
 * Fills struct bpf_flow_keys for the kernel's flow hashing (RPS, fq,
 * ECMP): walks up to two VLAN tags, IPv4 (fragments flagged, options
 * skipped) or IPv6 (one hop-by-hop/destination/routing header skipped,
 * fragment header parsed) and the TCP/UDP ports. Headers are copied to
 * the stack with bpf_skb_load_bytes, which also works for non-linear
 * packets.
 */
#include "common.h"

#define IPV6_FLOWLABEL_MASK 0x000FFFFF

struct frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* Copies size bytes at off into buf; non-zero when the packet is short. */
static __always_inline int load(struct __sk_buff *skb, __u32 off, void *buf, __u32 size)
{
	return bpf_skb_load_bytes(skb, off, buf, size);
}

static __always_inline int parse_ports(struct __sk_buff *skb, struct bpf_flow_keys *keys)
{
	__be16 ports[2];

	if (keys->ip_proto != IPPROTO_TCP && keys->ip_proto != IPPROTO_UDP)
		return BPF_OK;
	if (keys->is_frag && !keys->is_first_frag)
		return BPF_OK;
	if (keys->ip_proto == IPPROTO_TCP) {
		struct tcphdr th;

		if (load(skb, keys->thoff, &th, sizeof(th)) || th.doff < 5)
			return BPF_DROP;
		keys->sport = th.source;
		keys->dport = th.dest;
		return BPF_OK;
	}
	if (load(skb, keys->thoff, ports, sizeof(ports)))
		return BPF_DROP;
	keys->sport = ports[0];
	keys->dport = ports[1];
	return BPF_OK;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct bpf_flow_keys *keys)
{
	struct iphdr buf, *iph = &buf;

	if (load(skb, keys->nhoff, &buf, sizeof(buf)) || iph->ihl < 5)
		return BPF_DROP;
	keys->addr_proto = ETH_P_IP;
	keys->ipv4_src = iph->saddr;
	keys->ipv4_dst = iph->daddr;
	keys->ip_proto = iph->protocol;
	keys->thoff = keys->nhoff + iph->ihl * 4;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
		keys->is_frag = 1;
		if (iph->frag_off & bpf_htons(IP_OFFSET))
			return BPF_OK;
		keys->is_first_frag = 1;
		if (!(keys->flags & BPF_FLOW_DISSECTOR_F_PARSE_1ST_FRAG))
			return BPF_OK;
	}
	return parse_ports(skb, keys);
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct bpf_flow_keys *keys)
{
	struct ipv6hdr buf, *ip6 = &buf;
	__u8 nexthdr;

	if (load(skb, keys->nhoff, &buf, sizeof(buf)))
		return BPF_DROP;
	keys->addr_proto = ETH_P_IPV6;
	__builtin_memcpy(keys->ipv6_src, &ip6->saddr, sizeof(keys->ipv6_src));
	__builtin_memcpy(keys->ipv6_dst, &ip6->daddr, sizeof(keys->ipv6_dst));
	keys->flow_label = *(__be32 *)ip6 & bpf_htonl(IPV6_FLOWLABEL_MASK);
	nexthdr = ip6->nexthdr;
	keys->thoff = keys->nhoff + sizeof(*ip6);

	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_DSTOPTS ||
	    nexthdr == IPPROTO_ROUTING) {
		struct ipv6_opt_hdr oh;

		if (load(skb, keys->thoff, &oh, sizeof(oh)))
			return BPF_DROP;
		nexthdr = oh.nexthdr;
		keys->thoff += (oh.hdrlen + 1) * 8;
	}
	if (nexthdr == IPPROTO_FRAGMENT) {
		struct frag_hdr fh;

		if (load(skb, keys->thoff, &fh, sizeof(fh)))
			return BPF_DROP;
		keys->is_frag = 1;
		keys->thoff += sizeof(fh);
		nexthdr = fh.nexthdr;
		if (fh.frag_off & bpf_htons(0xFFF8)) {
			keys->ip_proto = nexthdr;
			return BPF_OK;
		}
		keys->is_first_frag = 1;
	}
	keys->ip_proto = nexthdr;
	if (keys->flags & BPF_FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL && keys->flow_label)
		return BPF_OK;
	return parse_ports(skb, keys);
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	__be16 proto = keys->n_proto;
	int i;

#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr vh;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (load(skb, keys->nhoff, &vh, sizeof(vh)))
			return BPF_DROP;
		proto = vh.h_vlan_encapsulated_proto;
		keys->nhoff += sizeof(vh);
		keys->n_proto = proto;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, keys);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, keys);
	return BPF_DROP;
}

char _license[] SEC("license") = "GPL";
