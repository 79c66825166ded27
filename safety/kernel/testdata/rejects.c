/* rejects.c: one program the verifier must reject (packet read without a
 * bounds check) next to one it accepts. */
#include "common.h"

SEC("xdp")
int xdp_oob(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	return *(__u32 *)data; /* no check against data_end */
}

SEC("xdp")
int xdp_ok(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
