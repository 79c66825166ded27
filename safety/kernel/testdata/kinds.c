/* kinds.c: one trivial program per section kind, to check which kinds load
 * standalone and which are reported as not loadable. */
#include "common.h"

SEC("kprobe/do_nanosleep")
int kp(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_enter_nanosleep")
int tp(void *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int rawtp(void *ctx) { return 0; }

SEC("fentry/bpf_fentry_test1")
int fent(void *ctx) { return 0; }

SEC("fexit/bpf_fentry_test1")
int fexi(void *ctx) { return 0; }

SEC("fentry/k2opt_no_such_kernel_function")
int fent_missing(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int tpbtf(void *ctx) { return 0; }

SEC("lsm/file_open")
int lsm_open(void *ctx) { return 0; }

SEC("cgroup_skb/ingress")
int cg_skb(struct __sk_buff *skb) { return 1; }

SEC("tc")
int tc_prog(struct __sk_buff *skb) { return 0; }

SEC("syscall")
int sys_prog(void *ctx) { return 7; }

/* A global (BTF-typed) function that freplace can target. */
__attribute__((noinline)) int replaceable(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_caller(struct xdp_md *ctx) { return replaceable(ctx); }

SEC("freplace/replaceable")
int repl(struct xdp_md *ctx) { return XDP_PASS; }

SEC("freplace/k2opt_no_such_target")
int repl_orphan(struct xdp_md *ctx) { return XDP_PASS; }

char LICENSE[] SEC("license") = "GPL";
