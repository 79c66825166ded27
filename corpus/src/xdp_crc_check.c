/* xdp_crc_check: drop corrupted fixed-size telemetry records (v4 only).
 *
 * A telemetry protocol over UDP port 4739 carries fixed 1 KiB records
 * whose last 4 bytes are the CRC-32 (IEEE, reflected) of the rest. The
 * check is one bounds test for the whole record followed by a fully
 * unrolled bitwise CRC over 1020 bytes: a straight run of tens of
 * thousands of instructions, so the early-exit branch spans more than
 * the 16-bit jump offset can hold and clang -mcpu=v4 emits `gotol`
 * (BPF_JMP32|BPF_JA with a 32-bit imm). Older CPU versions cannot
 * express that jump, hence no v1/v3 build.
 */
#include "common.h"

#define RECORD_PORT 4739
#define RECORD_LEN 1024
#define CRC_POLY 0xEDB88320U

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3); /* 0 good, 1 bad crc, 2 short */
	__type(key, __u32);
	__type(value, __u64);
} crc_stats SEC(".maps");

static __always_inline void stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&crc_stats, &idx);

	if (c)
		*c += 1;
}

SEC("xdp")
int xdp_crc_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct udphdr *uh;
	__u8 *rec;
	__u32 crc = 0xFFFFFFFF, want;
	int i, bit;

	if (!IN_PKT(eth, sizeof(*eth), end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if (!IN_PKT(iph, sizeof(*iph), end) || iph->ihl != 5 || iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
	uh = (void *)(iph + 1);
	if (!IN_PKT(uh, sizeof(*uh), end) || uh->dest != bpf_htons(RECORD_PORT))
		return XDP_PASS;
	rec = (__u8 *)(uh + 1);
	if (!IN_PKT(rec, RECORD_LEN, end)) {
		stat(2);
		return XDP_DROP;
	}

	/* Hide the initial value from the optimiser: folding the first
	 * byte's CRC into constants would put 8 branches in front of the
	 * straight run, and the verifier would walk it once per path. */
	asm volatile("" : "+r"(crc));
#pragma clang loop unroll(full)
	for (i = 0; i < RECORD_LEN - 4; i++) {
		crc ^= rec[i];
#pragma clang loop unroll(full)
		for (bit = 0; bit < 8; bit++) {
			__u32 low = crc & 1;

			/* Keep the multiply: as a select clang would emit
			 * `s>>= 31; &= POLY`, on which the verifier forks
			 * its state for each of the 8160 bits. */
			asm volatile("" : "+r"(low));
			crc = (crc >> 1) ^ (low * CRC_POLY);
		}
	}
	crc = ~crc;
	want = rec[RECORD_LEN - 4] | (rec[RECORD_LEN - 3] << 8) |
	       (rec[RECORD_LEN - 2] << 16) | ((__u32)rec[RECORD_LEN - 1] << 24);
	if (crc != want) {
		stat(1);
		return XDP_DROP;
	}
	stat(0);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
