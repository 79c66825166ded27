/* may_goto.c: a 1000-iteration loop made verifiable by may_goto
 * (cancellable loop). */
#include "common.h"

SEC("xdp")
int may_goto_loop(struct xdp_md *ctx)
{
	__u32 sum = 0;
	int i;

	for (i = 0; i < 1000; i++) {
		asm volatile goto("may_goto %l[out]" :::: out);
		sum += i;
	}
out:
	return sum % 7; /* 499500 % 7 == 1 */
}

char LICENSE[] SEC("license") = "GPL";
