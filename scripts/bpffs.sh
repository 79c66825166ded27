#!/bin/sh
# bpffs.sh mounts the BPF filesystem when we may and it is not mounted yet;
# bpftool's loadall pins there. Failure is not fatal: tests skip with a reason.
mountpoint -q /sys/fs/bpf 2>/dev/null && exit 0
[ "$(id -u)" -eq 0 ] || exit 0
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
