/* cgroup_connect4: socket-level load balancing of service VIPs.
 *
 * Attached at cgroup/connect4: a connect() to a service (VIP, port) found
 * in `services` is rewritten to one of its backends, chosen at random
 * (TCP) or by the socket cookie (UDP, so a connected UDP socket keeps its
 * backend). Backends live in an array indexed by service base + slot.
 * Returns 1 (allow) except for services marked closed.
 */
#include "common.h"

#define MAX_BACKENDS 4096

struct svc_key {
	__u32 vip;  /* network byte order */
	__u16 port; /* network byte order */
	__u16 proto;
};

struct svc {
	__u32 base;  /* first backend slot */
	__u32 count; /* number of backends, 0 = reject */
	__u64 connects;
};

struct backend {
	__u32 addr; /* network byte order */
	__u16 port; /* network byte order */
	__u16 weight;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct svc_key);
	__type(value, struct svc);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct backend *be;
	struct svc *s;
	__u32 slot;

	if (ctx->type != 1 /* SOCK_STREAM */ && ctx->type != 2 /* SOCK_DGRAM */)
		return 1;
	key.vip = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	key.proto = ctx->protocol;
	s = bpf_map_lookup_elem(&services, &key);
	if (!s)
		return 1;
	if (s->count == 0)
		return 0;
	__sync_fetch_and_add(&s->connects, 1);
	if (ctx->protocol == IPPROTO_UDP)
		slot = (__u32)bpf_get_socket_cookie(ctx) % s->count;
	else
		slot = bpf_get_prandom_u32() % s->count;
	slot += s->base;
	if (slot >= MAX_BACKENDS)
		return 1;
	be = bpf_map_lookup_elem(&backends, &slot);
	if (!be || !be->addr)
		return 1;
	ctx->user_ip4 = be->addr;
	ctx->user_port = be->port;
	return 1;
}

char _license[] SEC("license") = "GPL";
