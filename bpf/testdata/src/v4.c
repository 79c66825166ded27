// v4.c (clang-19 -mcpu=v4): signed division and modulo, sign-extending
// loads and moves, bswap, 32-bit atomics, may_goto.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile __s64 out64;
volatile __s32 out32;
__u32 counter32;

SEC("xdp")
int signed_ops(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 16 > end)
		return XDP_PASS;
	__s8 a = *(__s8 *)data;
	__s16 b = *(__s16 *)(data + 2);
	__s32 c = *(__s32 *)(data + 4);
	__s64 d = *(__s64 *)(data + 8);
	__s64 x = (__s64)a + b;
	if (c)
		x += d / c + d % c;
	if (b)
		out32 = c / b + c % b;
	__s64 y = (__s8)d + (__s16)c + (__s32)d;
	out64 = x + y + __builtin_bswap16((__u16)c) + __builtin_bswap32((__u32)d) + __builtin_bswap64(d);
	__sync_fetch_and_add(&counter32, 1);
	__u32 old = __sync_fetch_and_or(&counter32, 2);
	__sync_fetch_and_and(&counter32, old);
	__sync_fetch_and_xor(&counter32, 5);
	__sync_lock_test_and_set(&counter32, old);
	__sync_val_compare_and_swap(&counter32, old, 9);
	return XDP_PASS;
}

SEC("xdp")
int bounded(struct xdp_md *ctx)
{
	__u64 n = 0;
	for (int i = 0; i < 100; i++) {
		asm volatile goto("may_goto %l[out]" :::: out);
		n += i * ctx->rx_queue_index;
	}
out:
	return n & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
