#!/bin/sh
# build.sh rebuilds the committed fixture objects (run from anywhere):
#   sh safety/kernel/testdata/build.sh
# clang-19 because -mcpu=v4 arena/may_goto code needs LLVM >= 18.
set -e
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
for c in *.c; do
	$CLANG -O2 -g -target bpf -mcpu=v4 -I/usr/include/x86_64-linux-gnu -c "$c" -o "${c%.c}.o"
done
