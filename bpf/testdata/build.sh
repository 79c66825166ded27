#!/bin/sh
# build.sh rebuilds the test objects of package bpf from src/*.c.
# ops.c and calls.c: clang (14) -mcpu=v1 and v3; v4.c: clang-19 -mcpu=v4.
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu"
for f in ops calls; do
	for cpu in v1 v3; do
		clang $CFLAGS -mcpu=$cpu -c src/$f.c -o $f-$cpu.o
	done
done
clang-19 $CFLAGS -mcpu=v4 -c src/v4.c -o v4.o
clang-19 $CFLAGS -mcpu=v4 -c src/calls.c -o calls-v4.o
