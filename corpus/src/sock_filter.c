/* sock_filter: a tcpdump-style socket filter for AF_PACKET sockets.
 *
 * Keeps IPv4 TCP/UDP packets whose source or destination port is in a
 * watch list (array of up to 8 ports, scanned with a bounded loop), plus
 * all ICMP, and truncates kept packets to a snap length. Uses the classic
 * LD_ABS/LD_IND loads (llvm.bpf.load.*) that socket filters may use, and
 * bpf_skb_load_bytes for the ports.
 */
#include "common.h"

#define SNAPLEN 256
#define NWATCH 8

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

struct watch {
	__u16 ports[NWATCH]; /* host byte order, 0 = unused */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct watch);
} watchlist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} kept SEC(".maps");

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	__u32 zero = 0, nh = ETH_HLEN, hl, i;
	struct watch *w;
	__u16 ports[2];
	__u8 proto;
	__u64 *cnt;

	if (load_half(skb, offsetof(struct ethhdr, h_proto)) != ETH_P_IP)
		return 0;
	proto = load_byte(skb, nh + offsetof(struct iphdr, protocol));
	/* Non-first fragments have no ports. */
	if (load_half(skb, nh + offsetof(struct iphdr, frag_off)) & IP_OFFSET)
		return 0;
	if (proto == IPPROTO_ICMP)
		goto keep;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	hl = (load_byte(skb, nh) & 0xf) << 2;
	if (hl < 20)
		return 0;
	if (bpf_skb_load_bytes(skb, nh + hl, ports, sizeof(ports)))
		return 0;
	ports[0] = bpf_ntohs(ports[0]);
	ports[1] = bpf_ntohs(ports[1]);
	w = bpf_map_lookup_elem(&watchlist, &zero);
	if (!w)
		return 0;
	for (i = 0; i < NWATCH; i++) {
		__u16 p = w->ports[i];

		if (p && (p == ports[0] || p == ports[1]))
			goto keep;
	}
	return 0;
keep:
	zero = load_word(skb, nh + offsetof(struct iphdr, daddr)) >> 31; /* multicast-ish split */
	cnt = bpf_map_lookup_elem(&kept, &zero);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	return skb->len < SNAPLEN ? skb->len : SNAPLEN;
}

char _license[] SEC("license") = "GPL";
