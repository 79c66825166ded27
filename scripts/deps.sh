#!/bin/sh
# deps.sh installs the Debian packages k2opt needs, only when something is missing.
set -e
missing=""
need() { # need PACKAGE TEST...
	pkg=$1; shift
	if ! "$@" >/dev/null 2>&1; then missing="$missing $pkg"; fi
}
need libz3-dev      test -f /usr/include/z3.h
need clang          command -v clang
need clang-19       command -v clang-19
need llvm           command -v llvm-objdump
need bpftool        command -v bpftool
need libbpf-dev     test -f /usr/include/bpf/bpf_helpers.h
need linux-libc-dev test -f /usr/include/linux/bpf.h
need gcc            command -v gcc
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing$missing"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
