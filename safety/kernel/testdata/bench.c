/* bench.c: a ~30-instruction XDP program (Ethernet + IPv4 header checks)
 * for the verify-time benchmark. */
#include "common.h"

SEC("xdp")
int xdp_bench(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if ((void *)(p + 34) > end)
		return XDP_PASS;
	if (p[12] != 0x08 || p[13] != 0x00)
		return XDP_PASS;
	if ((p[14] >> 4) != 4 || (p[14] & 0xf) < 5)
		return XDP_DROP;
	if (p[23] == 17 && p[22] < 2)
		return XDP_DROP;
	if (p[23] == 6 && (p[20] & 0x3f))
		return XDP_TX;
	return p[26] == 10 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
