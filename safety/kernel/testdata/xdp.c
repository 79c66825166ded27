/* xdp.c: an XDP program whose verdict and output packet depend on the
 * input packet, and which leaves traces in three kinds of maps. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} seen SEC(".maps");

/* xdp_classify: IPv4 -> XDP_PASS, IPv6 -> XDP_DROP, anything else ->
 * XDP_TX with the first byte inverted; runts (< 14 bytes) -> XDP_ABORTED. */
SEC("xdp")
int xdp_classify(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 k, z = 0, one = 1, proto;
	int ret;

	if ((void *)(p + 14) > end)
		return XDP_ABORTED;
	proto = ((__u32)p[12] << 8) | p[13];
	if (proto == 0x0800) {
		k = 0;
		ret = XDP_PASS;
	} else if (proto == 0x86dd) {
		k = 1;
		ret = XDP_DROP;
	} else {
		k = 2;
		ret = XDP_TX;
		p[0] ^= 0xff;
	}
	__u64 *c = bpf_map_lookup_elem(&counts, &k);
	if (c)
		__sync_fetch_and_add(c, 1);
	__u64 *pc = bpf_map_lookup_elem(&pcpu, &z);
	if (pc)
		*pc += 1;
	bpf_map_update_elem(&seen, &proto, &one, BPF_ANY);
	return ret;
}

/* sock_len: a socket filter returning the packet length (test-runnable). */
SEC("socket")
int sock_len(struct __sk_buff *skb)
{
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
