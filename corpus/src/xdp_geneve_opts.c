/* xdp_geneve_opts: per-tenant accounting of Geneve-encapsulated traffic
 * (v4 only: the option walk is bounded by may_goto).
 *
 * For IPv4 UDP packets to port 6081, walks the Geneve option TLVs (up to
 * 252 bytes of options, each a 4-byte header plus 4-byte words) looking
 * for the tenant option (a configured class/type). The walk has no
 * counter the verifier could bound: `may_goto` lets the kernel cut it
 * short. Bytes and packets are counted per tenant id; packets of blocked
 * tenants are dropped.
 */
#include "common.h"

#define GENEVE_PORT 6081
#define TENANT_CLASS 0x0102
#define TENANT_TYPE 0x80

struct genevehdr {
	__u8 opt_len : 6, ver : 2; /* opt_len in 4-byte words */
	__u8 rsvd1 : 6, critical : 1, oam : 1;
	__be16 proto_type;
	__u8 vni[3];
	__u8 rsvd2;
};

struct geneve_opt {
	__be16 opt_class;
	__u8 type;
	__u8 length : 5, r3 : 1, r2 : 1, r1 : 1; /* data length in 4-byte words */
};

struct tenant_stats {
	__u64 packets;
	__u64 bytes;
	__u32 blocked;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct tenant_stats);
} tenants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4); /* 0 geneve, 1 no tenant, 2 walk cancelled, 3 malformed */
	__type(key, __u32);
	__type(value, __u64);
} geneve_stats SEC(".maps");

static __always_inline void stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&geneve_stats, &idx);

	if (c)
		*c += 1;
}

SEC("xdp")
int xdp_geneve_opts(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct udphdr *uh;
	struct genevehdr *gh;
	struct tenant_stats *ts;
	__u8 *opts;
	__u32 off = 0, optlen, tenant = 0;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl != 5 || iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
	uh = (void *)(iph + 1);
	if (!IN_PKT(uh, sizeof(*uh), end) || uh->dest != bpf_htons(GENEVE_PORT))
		return XDP_PASS;
	gh = (void *)(uh + 1);
	if (!IN_PKT(gh, sizeof(*gh), end) || gh->ver != 0) {
		stat(3);
		return XDP_PASS;
	}
	stat(0);
	optlen = gh->opt_len * 4;
	opts = (__u8 *)(gh + 1);

	while (off < optlen) {
		struct geneve_opt *o = (void *)(opts + (off & 0xff));

		if (!IN_PKT(o, sizeof(*o), end))
			goto malformed;
		if (o->opt_class == bpf_htons(TENANT_CLASS) && o->type == TENANT_TYPE) {
			__be32 *val = (void *)(o + 1);

			if (o->length < 1 || !IN_PKT(val, 4, end))
				goto malformed;
			tenant = bpf_ntohl(*val);
			break;
		}
		off += sizeof(*o) + o->length * 4;
		asm volatile goto("may_goto %l[cancelled]" :::: cancelled);
	}
	if (!tenant) {
		stat(1);
		return XDP_PASS;
	}
	ts = bpf_map_lookup_elem(&tenants, &tenant);
	if (!ts) {
		struct tenant_stats init = {};

		bpf_map_update_elem(&tenants, &tenant, &init, BPF_NOEXIST);
		ts = bpf_map_lookup_elem(&tenants, &tenant);
		if (!ts)
			return XDP_PASS;
	}
	__sync_fetch_and_add(&ts->packets, 1);
	__sync_fetch_and_add(&ts->bytes, (__u64)(end - data));
	return ts->blocked ? XDP_DROP : XDP_PASS;

cancelled:
	stat(2);
	return XDP_PASS;
malformed:
	stat(3);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
