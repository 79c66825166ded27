/* xdp_lb: L4 load balancer with connection affinity (IPv4, DSR-style).
 *
 * Packets to a virtual IP:port are steered to a backend: an LRU
 * connection table keeps established flows on their backend; new flows
 * hash their 5-tuple (a jhash-like mixer) onto the service's slice of a
 * backend ring. The destination IP is rewritten (IP checksum and TCP/UDP
 * checksum updated incrementally, the address being in the pseudo
 * header), the destination MAC set to the backend's, and the frame sent
 * back out with XDP_TX.
 */
#include "common.h"

#define RING_SIZE 65536
#define F_STICKY 1

struct vip_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct vip_meta {
	__u32 ring_base;
	__u32 ring_len;
	__u32 flags;
};

struct flow_key {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u8 proto;
	__u8 pad[3];
};

struct backend {
	__be32 addr;
	__u8 mac[ETH_ALEN];
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RING_SIZE);
	__type(key, __u32);
	__type(value, __u32); /* backend id */
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 100000);
	__type(key, struct flow_key);
	__type(value, __u32); /* backend id */
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} lb_stats SEC(".maps"); /* 0 new, 1 tracked, 2 no backend, 3 not vip */

static __always_inline __u32 rol32(__u32 w, unsigned s)
{
	return (w << s) | (w >> (32 - s));
}

/* Bob Jenkins' final mix of three words, the core of jhash. */
static __always_inline __u32 hash_flow(const struct flow_key *f, __u32 seed)
{
	__u32 a = f->saddr + seed, b = f->daddr + seed;
	__u32 c = (((__u32)f->sport << 16) | f->dport) + seed + f->proto;

	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

static __always_inline void stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&lb_stats, &idx);

	if (c)
		*c += 1;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct vip_key vk = {};
	struct flow_key fk = {};
	struct vip_meta *vm;
	struct backend *be;
	__u32 *bid, id, slot;
	__be16 *ports;
	__u16 *l4csum;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl != 5)
		return XDP_PASS;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return XDP_PASS;
	ports = (void *)(iph + 1);
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ports;

		if (!IN_PKT(th, sizeof(*th), end))
			return XDP_DROP;
		l4csum = &th->check;
	} else if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)ports;

		if (!IN_PKT(uh, sizeof(*uh), end))
			return XDP_DROP;
		l4csum = uh->check ? &uh->check : 0;
	} else {
		return XDP_PASS;
	}

	vk.addr = iph->daddr;
	vk.port = ports[1];
	vk.proto = iph->protocol;
	vm = bpf_map_lookup_elem(&vips, &vk);
	if (!vm) {
		stat(3);
		return XDP_PASS;
	}
	fk.saddr = iph->saddr;
	fk.daddr = iph->daddr;
	fk.sport = ports[0];
	fk.dport = ports[1];
	fk.proto = iph->protocol;

	bid = (vm->flags & F_STICKY) ? bpf_map_lookup_elem(&conntrack, &fk) : 0;
	if (bid) {
		id = *bid;
		stat(1);
	} else {
		if (!vm->ring_len)
			goto none;
		slot = vm->ring_base + hash_flow(&fk, 0x9e3779b9) % vm->ring_len;
		bid = bpf_map_lookup_elem(&ring, &slot);
		if (!bid)
			goto none;
		id = *bid;
		if (vm->flags & F_STICKY)
			bpf_map_update_elem(&conntrack, &fk, &id, BPF_ANY);
		stat(0);
	}
	be = bpf_map_lookup_elem(&backends, &id);
	if (!be || !be->addr)
		goto none;

	if (l4csum)
		*l4csum = csum_replace4(*l4csum, iph->daddr, be->addr);
	iph->check = csum_replace4(iph->check, iph->daddr, be->addr);
	iph->daddr = be->addr;
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	return XDP_TX;
none:
	stat(2);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
