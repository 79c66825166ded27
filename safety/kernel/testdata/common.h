/* common.h: shared definitions for the safety/kernel test fixtures. */
#ifndef K2OPT_KERNEL_COMMON_H
#define K2OPT_KERNEL_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Debian's libbpf 1.1 headers lack __ulong (needed for map_extra). */
#ifndef __ulong
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name
#endif

/* Debian's linux/bpf.h (6.1) predates the arena map type (enum value 33). */
#define MAP_TYPE_ARENA 33

#define __arena __attribute__((address_space(1)))

#endif
