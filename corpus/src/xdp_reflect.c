/* xdp_reflect: L2 forwarding and UDP echo reflection.
 *
 * Frames whose destination MAC is in `fdb` are rewritten (new source and
 * destination MAC) and redirected out of the port the entry names through
 * a devmap. UDP packets to the echo port (7) are answered in place: MACs,
 * IP addresses and ports are swapped and the frame goes back out with
 * XDP_TX. Everything else passes to the stack.
 */
#include "common.h"

#define ECHO_PORT 7

struct fdb_entry {
	__u32 port;          /* key into tx_ports */
	__u8 src_mac[ETH_ALEN];
	__u8 dst_mac[ETH_ALEN];
};

struct mac_key {
	__u8 addr[ETH_ALEN];
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct mac_key);
	__type(value, struct fdb_entry);
} fdb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} action_count SEC(".maps");

static __always_inline void bump(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&action_count, &idx);

	if (c)
		*c += 1;
}

static __always_inline void swap_mac(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct mac_key mk = {};
	struct fdb_entry *fe;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return XDP_ABORTED;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		struct udphdr *uh;
		__u32 addr;
		__u16 port;

		if (!IN_PKT(iph, sizeof(*iph), end))
			return XDP_PASS;
		if (iph->protocol != IPPROTO_UDP || iph->ihl != 5)
			goto l2;
		uh = (void *)(iph + 1);
		if (!IN_PKT(uh, sizeof(*uh), end))
			return XDP_PASS;
		if (uh->dest != bpf_htons(ECHO_PORT))
			goto l2;
		/* Swapping both addresses and both ports leaves the IP and
		 * UDP checksums valid: the sums are order independent. */
		swap_mac(eth);
		addr = iph->saddr;
		iph->saddr = iph->daddr;
		iph->daddr = addr;
		port = uh->source;
		uh->source = uh->dest;
		uh->dest = port;
		iph->ttl = 64;
		iph->check = 0;
		{
			__u16 *w = (void *)iph;
			__u32 sum = 0;
			int i;

#pragma unroll
			for (i = 0; i < 10; i++)
				sum += w[i];
			iph->check = csum_fold32(sum);
		}
		bump(0);
		return XDP_TX;
	}
l2:
	__builtin_memcpy(mk.addr, eth->h_dest, ETH_ALEN);
	fe = bpf_map_lookup_elem(&fdb, &mk);
	if (!fe) {
		bump(2);
		return XDP_PASS;
	}
	__builtin_memcpy(eth->h_source, fe->src_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, fe->dst_mac, ETH_ALEN);
	bump(1);
	return bpf_redirect_map(&tx_ports, fe->port, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
