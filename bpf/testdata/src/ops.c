// ops.c: arithmetic, shifts, byte swaps, branches and memory widths, so that
// the disassembly and round-trip tests see most ALU/JMP/LDX/STX forms.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

volatile __u64 sink;

SEC("xdp")
int arith(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if (p + 16 > (__u8 *)end)
		return XDP_PASS;
	__u64 a = *(__u64 *)p;
	__u32 b = *(__u32 *)(p + 8);
	__u16 c = *(__u16 *)(p + 12);
	__u8 d = p[14];
	__s64 s = (__s64)a;
	__u64 r = a * 7 + b - c;
	r ^= (r >> 13) | (r << 7);
	r += (s >> 3) & 0xff;
	if (b)
		r += a / b + a % b;
	__u32 w = b * 3 + c;
	w = (w >> 5) ^ (w << 3);
	if (d)
		w = w / d + w % d;
	r += w;
	r += bpf_ntohs(c) + bpf_ntohl(b) + bpf_be64_to_cpu(a);
	r = -r;
	if ((__s32)w < -5)
		r |= 1;
	if (r & 0x10)
		r &= ~0xfULL;
	sink = r;
	__u32 key = d & 3;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);
	if (v)
		*v += r;
	return r > 1000 ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int stores(struct __sk_buff *skb)
{
	__u8 buf[16];
	*(__u64 *)buf = skb->len;
	*(__u32 *)(buf + 8) = skb->protocol;
	*(__u16 *)(buf + 12) = skb->vlan_tci;
	buf[14] = skb->pkt_type;
	buf[15] = 0;
	__u64 sum = 0;
	for (int i = 0; i < 16; i++)
		sum += buf[i] * (i + 1);
	if (sum > skb->mark && sum < 100000)
		return 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
