/* common.h: shared definitions for the k2opt corpus programs.
 *
 * Only Debian headers are used: linux-libc-dev (6.1 UAPI) and libbpf-dev 1.1.
 * What those lack (arena map type, __ulong, vlan_hdr, kfunc declarations) is
 * defined here.
 */
#ifndef K2_CORPUS_COMMON_H
#define K2_CORPUS_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* libbpf 1.1 lacks __ulong (needed for map_extra in arena maps). */
#ifndef __ulong
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name
#endif

/* linux-libc-dev 6.1 predates the arena map type (6.9). */
#define K2_MAP_TYPE_ARENA 33

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#ifndef offsetof
#define offsetof(t, m) __builtin_offsetof(t, m)
#endif

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

/* The UAPI headers do not export the 802.1Q tag layout. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* Cursor-style bounds check: true when [p, p+n) lies inside the packet. */
#define IN_PKT(p, n, end) ((void *)(p) + (n) <= (void *)(end))

static __always_inline __u16 csum_fold32(__u32 csum)
{
	csum = (csum & 0xffff) + (csum >> 16);
	csum = (csum & 0xffff) + (csum >> 16);
	return (__u16)~csum;
}

/* RFC 1624 incremental update of a 16-bit one's complement checksum
 * when a 16-bit word changes from old to new. */
static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32) new;
	return csum_fold32(sum);
}

static __always_inline __u16 csum_replace4(__u16 check, __u32 old, __u32 new)
{
	check = csum_replace2(check, old >> 16, new >> 16);
	return csum_replace2(check, old & 0xffff, new & 0xffff);
}

#endif
