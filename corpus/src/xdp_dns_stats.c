/* xdp_dns_stats: DNS traffic statistics at the NIC.
 *
 * For IPv4/IPv6 UDP packets to or from port 53: parses the DNS header
 * (query/response, opcode, rcode, question count), walks the QNAME labels
 * of the first question with a bounded loop, and counts queries,
 * responses and NXDOMAIN answers per QTYPE in a hash map, plus per-rcode
 * counters and a histogram of name lengths. Optionally drops queries with
 * names longer than a configured limit (a tunnelling heuristic).
 */
#include "common.h"

#define DNS_PORT 53
#define MAX_LABELS 32
#define MAX_NAME 255

struct dnshdr {
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

struct qtype_stats {
	__u64 queries;
	__u64 responses;
	__u64 nxdomain;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u16);
	__type(value, struct qtype_stats);
} by_qtype SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} by_rcode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 9); /* name length / 32 */
	__type(key, __u32);
	__type(value, __u64);
} name_len_hist SEC(".maps");

const volatile __u32 max_query_name = 0; /* 0: never drop */

static __always_inline void inc(void *map, __u32 key)
{
	__u64 *c = bpf_map_lookup_elem(map, &key);

	if (c)
		*c += 1;
}

static __always_inline int handle_dns(struct dnshdr *dns, void *end)
{
	__u8 *qname = (__u8 *)(dns + 1);
	__u32 off = 0, labels = 0;
	struct qtype_stats *st, zero = {};
	__u16 flags, qtype;
	__be16 *qt;
	int i, is_resp;

	if (!IN_PKT(dns, sizeof(*dns), end))
		return XDP_PASS;
	flags = bpf_ntohs(dns->flags);
	is_resp = flags >> 15;
	if (((flags >> 11) & 0xf) != 0 || dns->qdcount == 0)
		return XDP_PASS; /* not a standard query */
	if (is_resp)
		inc(&by_rcode, flags & 0xf);

	for (i = 0; i < MAX_LABELS; i++) {
		__u8 *p = qname + off;
		__u8 len;

		if (!IN_PKT(p, 1, end))
			return XDP_PASS;
		len = *p;
		if (len == 0)
			break;
		if (len & 0xc0)
			return XDP_PASS; /* compression pointers are not valid here */
		off += len + 1;
		if (off > MAX_NAME)
			return XDP_PASS;
		labels++;
	}
	if (i == MAX_LABELS)
		return XDP_PASS;
	inc(&name_len_hist, off / 32);

	qt = (__be16 *)(qname + off + 1);
	if (!IN_PKT(qt, 4, end))
		return XDP_PASS;
	qtype = bpf_ntohs(qt[0]);
	st = bpf_map_lookup_elem(&by_qtype, &qtype);
	if (!st) {
		bpf_map_update_elem(&by_qtype, &qtype, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&by_qtype, &qtype);
		if (!st)
			return XDP_PASS;
	}
	if (is_resp) {
		st->responses++;
		if ((flags & 0xf) == 3)
			st->nxdomain++;
	} else {
		st->queries++;
		if (max_query_name && off > max_query_name && labels > 2)
			return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_dns_stats(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *uh;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if (!IN_PKT(iph, sizeof(*iph), end) || iph->protocol != IPPROTO_UDP)
			return XDP_PASS;
		if (iph->ihl != 5 || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			return XDP_PASS;
		uh = (void *)(iph + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if (!IN_PKT(ip6, sizeof(*ip6), end) || ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		uh = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if (!IN_PKT(uh, sizeof(*uh), end))
		return XDP_PASS;
	if (uh->dest != bpf_htons(DNS_PORT) && uh->source != bpf_htons(DNS_PORT))
		return XDP_PASS;
	return handle_dns((struct dnshdr *)(uh + 1), end);
}

char _license[] SEC("license") = "GPL";
