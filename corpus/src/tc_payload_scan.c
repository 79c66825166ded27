/* tc_payload_scan: count HTTP request methods seen in TCP payloads.
 *
 * For TCP segments to the watched ports, the first bytes of the payload
 * are matched against a small table of method prefixes ("GET ", "POST",
 * ...). The scan of the candidate positions runs inside bpf_loop with a
 * static callback, reading bytes with bpf_skb_load_bytes; hits are counted
 * per method, and packets whose payload starts with a blocked method can
 * be dropped.
 */
#include "common.h"

#define NMETHODS 6
#define SCAN_POSITIONS 16

struct scan_ctx {
	struct __sk_buff *skb;
	__u32 payload_off;
	__u32 payload_len;
	__s32 method; /* -1 until found */
	__u32 pos;    /* where the method starts */
};

static const char methods[NMETHODS][4] = {
	"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI",
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NMETHODS + 1);
	__type(key, __u32);
	__type(value, __u64);
} method_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32); /* bit i: drop method i */
} blocked_methods SEC(".maps");

static long scan_one(__u32 idx, void *arg)
{
	struct scan_ctx *sc = arg;
	char buf[4];
	int m;

	if (idx + 4 > sc->payload_len)
		return 1; /* stop */
	if (bpf_skb_load_bytes(sc->skb, sc->payload_off + idx, buf, 4))
		return 1;
	for (m = 0; m < NMETHODS; m++) {
		if (*(__u32 *)buf == *(__u32 *)methods[m]) {
			sc->method = m;
			sc->pos = idx;
			return 1;
		}
	}
	/* Only leading whitespace may precede the method. */
	return buf[0] != ' ' && buf[0] != '\r' && buf[0] != '\n';
}

SEC("tc")
int tc_payload_scan(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;
	struct scan_ctx sc = { .skb = skb, .method = -1 };
	__u32 key, zero = 0, *blocked;
	__u64 *hits;
	__u16 dport;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->protocol != IPPROTO_TCP || iph->ihl < 5)
		return TC_ACT_OK;
	th = (void *)iph + iph->ihl * 4;
	if (!IN_PKT(th, sizeof(*th), end))
		return TC_ACT_OK;
	dport = bpf_ntohs(th->dest);
	if (dport != 80 && dport != 8080 && dport != 3128)
		return TC_ACT_OK;

	sc.payload_off = sizeof(*eth) + iph->ihl * 4 + th->doff * 4;
	if (skb->len <= sc.payload_off)
		return TC_ACT_OK;
	sc.payload_len = skb->len - sc.payload_off;
	bpf_loop(SCAN_POSITIONS, scan_one, &sc, 0);

	key = sc.method < 0 ? NMETHODS : (__u32)sc.method;
	hits = bpf_map_lookup_elem(&method_hits, &key);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	blocked = bpf_map_lookup_elem(&blocked_methods, &zero);
	if (blocked && sc.method >= 0 && (*blocked >> (sc.method & 31)) & 1)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
