/* trace_openat_rb: file-open auditing through a ring buffer.
 *
 * Attached to the syscalls:sys_enter_openat tracepoint. Optionally
 * filtered by a target tgid (a `const volatile` global set by the loader
 * before load, i.e. .rodata) and by an open-flags mask. Each event carries
 * pid, uid, flags, comm and the user-space file name, reserved and
 * submitted in a BPF ring buffer; failed reservations are counted in a
 * .bss global.
 */
#include "common.h"

#define NAME_LEN 128
#define TASK_COMM_LEN 16

/* Layout of /sys/kernel/tracing/events/syscalls/sys_enter_openat/format. */
struct openat_args {
	__u64 common; /* type, flags, preempt_count, pid */
	__s32 syscall_nr;
	__u32 pad;
	__s64 dfd;
	const char *filename;
	__s64 flags;
	__s64 mode;
};

struct open_event {
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	__s32 flags;
	__u64 ts;
	char comm[TASK_COMM_LEN];
	char name[NAME_LEN];
};

const volatile __u32 target_tgid = 0;   /* 0: every process */
const volatile __s32 flags_mask = 0;    /* 0: every open */

__u64 dropped = 0;
__u64 seen = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct openat_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct open_event *e;

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (flags_mask && !(ctx->flags & flags_mask))
		return 0;
	__sync_fetch_and_add(&seen, 1);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->tgid = tgid;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->flags = (__s32)ctx->flags;
	e->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (bpf_probe_read_user_str(e->name, sizeof(e->name), ctx->filename) < 0)
		e->name[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
