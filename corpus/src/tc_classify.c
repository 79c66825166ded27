/* tc_classify: egress traffic classifier and DSCP marker.
 *
 * Picks a class for each IPv4/IPv6 packet from a port table (TCP/UDP
 * destination or source port), falling back to the DSCP already in the
 * header. The class sets skb->mark, skb->priority and skb->tc_classid
 * (for an HTB/prio qdisc in direct-action mode) and rewrites DSCP; for
 * IPv4 the header checksum is updated incrementally in place.
 */
#include "common.h"

struct class_info {
	__u32 classid; /* major:minor for tc */
	__u32 mark;
	__u32 priority;
	__u8 dscp;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16); /* port, host byte order */
	__type(value, __u32); /* class index */
} port_class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct class_info);
} classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} class_bytes SEC(".maps");

static __always_inline __u32 class_of_ports(void *l4, void *end, __u8 proto)
{
	__u16 sport, dport;
	__u32 *cls;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	/* Both headers start with source and destination port. */
	if (!IN_PKT(l4, 4, end))
		return 0;
	sport = bpf_ntohs(((__be16 *)l4)[0]);
	dport = bpf_ntohs(((__be16 *)l4)[1]);
	cls = bpf_map_lookup_elem(&port_class, &dport);
	if (!cls)
		cls = bpf_map_lookup_elem(&port_class, &sport);
	return cls ? *cls & 15 : 0;
}

SEC("tc")
int tc_classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct class_info *ci;
	__u32 cls = 0;
	__u64 *bytes;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return TC_ACT_OK;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl < 5)
			return TC_ACT_OK;
		cls = class_of_ports((void *)iph + iph->ihl * 4, end, iph->protocol);
		if (!cls)
			cls = iph->tos >> 5; /* class selector from the precedence bits */
		ci = bpf_map_lookup_elem(&classes, &cls);
		if (!ci)
			return TC_ACT_OK;
		if ((iph->tos >> 2) != ci->dscp) {
			__u16 old = *(__u16 *)iph;
			__u8 tos = (ci->dscp << 2) | (iph->tos & 3);

			iph->tos = tos;
			iph->check = csum_replace2(iph->check, old, *(__u16 *)iph);
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		__u32 w;

		if (!IN_PKT(ip6, sizeof(*ip6), end))
			return TC_ACT_OK;
		cls = class_of_ports(ip6 + 1, end, ip6->nexthdr);
		w = bpf_ntohl(*(__be32 *)ip6);
		if (!cls)
			cls = (w >> 25) & 7;
		ci = bpf_map_lookup_elem(&classes, &cls);
		if (!ci)
			return TC_ACT_OK;
		/* Traffic class sits in bits 20..27 of the first word. */
		w = (w & ~(0xfcU << 20)) | ((__u32)ci->dscp << 22);
		*(__be32 *)ip6 = bpf_htonl(w);
	} else {
		return TC_ACT_OK;
	}

	skb->mark = ci->mark;
	skb->priority = ci->priority;
	skb->tc_classid = ci->classid;
	bytes = bpf_map_lookup_elem(&class_bytes, &cls);
	if (bytes)
		*bytes += skb->len;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
