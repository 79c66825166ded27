/* tc_nat: static source NAT on egress (IPv4 TCP/UDP).
 *
 * A hash map from (private address, private port, protocol) to a public
 * (address, port). Matching packets are rewritten with bpf_skb_store_bytes
 * and both checksums are fixed with bpf_l3_csum_replace and
 * bpf_l4_csum_replace (BPF_F_PSEUDO_HDR for the address, which is part of
 * the TCP/UDP pseudo header; BPF_F_MARK_MANGLED_0 for UDP's zero checksum).
 */
#include "common.h"

#define ETH_HLEN 14
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))

struct nat_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct nat_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u64 packets;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct nat_key);
	__type(value, struct nat_val);
} snat SEC(".maps");

SEC("tc")
int tc_snat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct nat_key key = {};
	struct nat_val *nv;
	__u32 l4_off, csum_off, port_off, flags;
	__be32 new_addr, old_addr;
	__be16 new_port, old_port;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl < 5)
		return TC_ACT_OK;
	if (iph->frag_off & bpf_htons(IP_OFFSET))
		return TC_ACT_OK;
	l4_off = ETH_HLEN + iph->ihl * 4;

	key.addr = iph->saddr;
	key.proto = iph->protocol;
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)iph + iph->ihl * 4;

		if (!IN_PKT(th, sizeof(*th), end))
			return TC_ACT_OK;
		key.port = th->source;
		csum_off = l4_off + offsetof(struct tcphdr, check);
		port_off = l4_off + offsetof(struct tcphdr, source);
		flags = 0;
	} else if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)iph + iph->ihl * 4;

		if (!IN_PKT(uh, sizeof(*uh), end))
			return TC_ACT_OK;
		key.port = uh->source;
		csum_off = l4_off + offsetof(struct udphdr, check);
		port_off = l4_off + offsetof(struct udphdr, source);
		flags = BPF_F_MARK_MANGLED_0;
	} else {
		return TC_ACT_OK;
	}

	nv = bpf_map_lookup_elem(&snat, &key);
	if (!nv)
		return TC_ACT_OK;
	__sync_fetch_and_add(&nv->packets, 1);
	old_addr = key.addr;
	old_port = key.port;
	new_addr = nv->addr;
	new_port = nv->port;

	/* L4 checksum first: the helpers may invalidate packet pointers. */
	if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
				flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)))
		return TC_ACT_SHOT;
	if (new_port != old_port) {
		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port,
					flags | sizeof(new_port)))
			return TC_ACT_SHOT;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
			return TC_ACT_SHOT;
	}
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, IP_SRC_OFF, &new_addr, sizeof(new_addr), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
