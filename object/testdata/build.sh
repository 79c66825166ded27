#!/bin/sh
# build.sh rebuilds the object fixtures from src/. Run from anywhere:
#   object/testdata/build.sh
# clang 14 builds the v1-v3 fixture, clang-19 -mcpu=v4 the v4 one. Paths are
# relative so that BTF line info names src/fixture.c the same on every machine.
set -e
cd "$(dirname "$0")"
INC=-I/usr/include/$(uname -m)-linux-gnu
MAP=-fdebug-prefix-map=$(pwd)=.
clang -O2 -g -target bpf $MAP $INC -c src/fixture.c -o fixture-clang14.o
clang-19 -O2 -g -target bpf -mcpu=v4 $MAP $INC -c src/fixture.c -o fixture-clang19-v4.o
