/* kprobe_latency: vfs_read latency histogram with slow-call events.
 *
 * kprobe/vfs_read records the entry time per thread in a hash map;
 * kretprobe/vfs_read computes the latency, adds it to a log2 histogram
 * (bounded loop) and, for calls slower than a threshold, sends an event
 * with bpf_perf_event_output to a perf event array. Registers are read
 * through bpf_tracing.h's PT_REGS_* (x86-64 pt_regs).
 */
#include "common.h"
#include <asm/ptrace.h>
#include <bpf/bpf_tracing.h>

#define SLOTS 32

struct start {
	__u64 ts;
	__u64 count; /* requested bytes */
};

struct slow_event {
	__u32 tgid;
	__u32 tid;
	__u64 latency_ns;
	__u64 requested;
	__s64 ret;
	char comm[16];
};

const volatile __u64 slow_ns = 10 * 1000 * 1000;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} slow_events SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
	int i;

	for (i = 0; i < 63; i++) {
		if (v <= 1)
			break;
		v >>= 1;
		r++;
	}
	return r;
}

SEC("kprobe/vfs_read")
int read_entry(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s = {
		.ts = bpf_ktime_get_ns(),
		.count = PT_REGS_PARM3(ctx),
	};

	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("kretprobe/vfs_read")
int read_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct start *s = bpf_map_lookup_elem(&starts, &tid);
	struct slow_event ev = {};
	__u64 delta;
	__u32 slot;
	__u64 *bucket;

	if (!s)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	ev.requested = s->count;
	bpf_map_delete_elem(&starts, &tid);

	slot = log2_u64(delta / 1000); /* microseconds */
	if (slot >= SLOTS)
		slot = SLOTS - 1;
	bucket = bpf_map_lookup_elem(&hist, &slot);
	if (bucket)
		__sync_fetch_and_add(bucket, 1);

	if (delta < slow_ns)
		return 0;
	ev.tgid = id >> 32;
	ev.tid = tid;
	ev.latency_ns = delta;
	ev.ret = PT_REGS_RC(ctx);
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	bpf_perf_event_output(ctx, &slow_events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return 0;
}

char _license[] SEC("license") = "GPL";
