/* xdp_firewall: drop traffic from blocked sources.
 *
 * Rules: an LPM trie of blocked IPv4 prefixes, a hash of blocked IPv6
 * source addresses, and a hash of blocked (protocol, destination port)
 * pairs. A config array switches the firewall between enforce and
 * monitor mode. Drop reasons are counted in a per-CPU array.
 */
#include "common.h"

struct lpm_v4_key {
	__u32 prefixlen;
	__u32 addr;
};

struct port_key {
	__u8 proto;
	__u8 pad;
	__u16 port; /* network byte order */
};

struct fw_config {
	__u32 enforce; /* 0: count only, 1: drop */
	__u32 drop_fragments;
};

enum {
	R_PASS,
	R_SRC_V4,
	R_SRC_V6,
	R_PORT,
	R_FRAGMENT,
	R_MALFORMED,
	R_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u64); /* hit counter */
} blocked_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct in6_addr);
	__type(value, __u64);
} blocked_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct port_key);
	__type(value, __u64);
} blocked_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int verdict(__u32 reason, struct fw_config *cfg)
{
	__u64 *cnt = bpf_map_lookup_elem(&verdicts, &reason);

	if (cnt)
		*cnt += 1;
	if (reason == R_PASS || !cfg || !cfg->enforce)
		return XDP_PASS;
	return XDP_DROP;
}

static __always_inline int check_port(__u8 proto, void *l4, void *end,
				      struct fw_config *cfg)
{
	struct port_key pk = { .proto = proto };
	__u64 *hits;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if (!IN_PKT(th, sizeof(*th), end))
			return verdict(R_MALFORMED, cfg);
		pk.port = th->dest;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if (!IN_PKT(uh, sizeof(*uh), end))
			return verdict(R_MALFORMED, cfg);
		pk.port = uh->dest;
	} else {
		return verdict(R_PASS, cfg);
	}
	hits = bpf_map_lookup_elem(&blocked_ports, &pk);
	if (hits) {
		__sync_fetch_and_add(hits, 1);
		return verdict(R_PORT, cfg);
	}
	return verdict(R_PASS, cfg);
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	struct fw_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u64 *hits;

	if (!IN_PKT(eth, sizeof(*eth), end))
		return verdict(R_MALFORMED, cfg);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		struct lpm_v4_key key = { .prefixlen = 32 };

		if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl < 5)
			return verdict(R_MALFORMED, cfg);
		key.addr = iph->saddr;
		hits = bpf_map_lookup_elem(&blocked_v4, &key);
		if (hits) {
			__sync_fetch_and_add(hits, 1);
			return verdict(R_SRC_V4, cfg);
		}
		if (iph->frag_off & bpf_htons(IP_OFFSET)) {
			if (cfg && cfg->drop_fragments)
				return verdict(R_FRAGMENT, cfg);
			return verdict(R_PASS, cfg);
		}
		return check_port(iph->protocol, (void *)iph + iph->ihl * 4, end, cfg);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if (!IN_PKT(ip6, sizeof(*ip6), end))
			return verdict(R_MALFORMED, cfg);
		hits = bpf_map_lookup_elem(&blocked_v6, &ip6->saddr);
		if (hits) {
			__sync_fetch_and_add(hits, 1);
			return verdict(R_SRC_V6, cfg);
		}
		return check_port(ip6->nexthdr, ip6 + 1, end, cfg);
	}
	return verdict(R_PASS, cfg);
}

char _license[] SEC("license") = "GPL";
