#!/bin/sh
# build.sh: checks on the built corpus (make builds; this script verifies).
#
#   ./build.sh check   every build dir has exactly the objects PROGRAMS lists,
#                      v1 objects use no ALU32/JMP32, and the v4 objects as a
#                      whole contain sdiv, smod, movsx, ldsx, bswap and gotol.
#   ./build.sh load    load every object with `bpftool -d prog loadall` (root,
#                      bpffs mounted) and print "build object/prog result
#                      processed-insns"; objects flagged no-bpftool in
#                      PROGRAMS are listed as skipped.
#
# Exit status is non-zero on the first failed check, with a line saying why.
set -eu
cd "$(dirname "$0")"

OBJDUMP=${OBJDUMP:-/usr/lib/llvm-19/bin/llvm-objdump}
BUILDS="v1 v3 v4"

die() {
	echo "build.sh: $*" >&2
	exit 1
}

# progs BUILD: the programs PROGRAMS lists for BUILD.
progs() {
	awk -v b="$1" '!/^#/ && NF { for (i = 2; i <= NF; i++) if ($i == b) print $1 }' PROGRAMS
}

# flagged NAME FLAG: true when PROGRAMS gives NAME the flag FLAG.
flagged() {
	awk -v n="$1" -v f="$2" '$1 == n { for (i = 2; i <= NF; i++) if ($i == f) found = 1 } END { exit !found }' PROGRAMS
}

check_objects() {
	for b in $BUILDS; do
		want=$(progs "$b" | sort)
		[ -n "$want" ] || die "PROGRAMS lists nothing for $b"
		for p in $want; do
			[ -s "build/$b/$p.o" ] || die "missing build/$b/$p.o (run make -C corpus)"
		done
		have=$(cd "build/$b" && ls -- *.o 2>/dev/null | sed 's/\.o$//' | sort)
		extra=$(printf '%s\n' "$have" | grep -vxF "$want" || true)
		[ -z "$extra" ] || die "build/$b has objects not in PROGRAMS: $extra"
		echo "ok: build/$b has all $(echo "$want" | wc -l) objects"
	done
}

check_v1() {
	for p in $(progs v1); do
		if "$OBJDUMP" -d "build/v1/$p.o" | grep -qE '\bw[0-9]+\b'; then
			die "build/v1/$p.o uses 32-bit subregisters (ALU32/JMP32), not a v1 object"
		fi
	done
	echo "ok: v1 objects use no ALU32/JMP32"
}

# check_v4 greps the v4 disassembly for each cpu-v4 instruction kind.
check_v4() {
	dis=$(mktemp)
	trap 'rm -f "$dis"' EXIT
	for p in $(progs v4); do
		"$OBJDUMP" -d "build/v4/$p.o" | sed "s|^|$p: |" >>"$dis"
	done
	for kind in \
		'sdiv:s/=' \
		'smod:s%=' \
		'movsx:= \(s(8|16|32)\)[rw][0-9]' \
		'ldsx:= \*\(s(8|16|32) \*\)' \
		'bswap:= bswap(16|32|64) ' \
		'gotol:gotol ' \
		'may_goto:may_goto ' \
		'addr_space_cast:addr_space_cast\('; do
		name=${kind%%:*}
		re=${kind#*:}
		n=$(grep -cE "$re" "$dis" || true)
		[ "$n" -gt 0 ] || die "no $name instruction in any v4 object"
		where=$(grep -E "$re" "$dis" | cut -d: -f1 | sort -u | tr '\n' ' ')
		echo "ok: v4 $name x$n in: $where"
	done
}

load() {
	[ "$(id -u)" -eq 0 ] || die "load needs root"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs"
	log=$(mktemp)
	fails=0
	for b in $BUILDS; do
		for p in $(progs "$b"); do
			if flagged "$p" no-bpftool; then
				echo "$b $p skipped (no-bpftool: needs a newer loader)"
				continue
			fi
			pin=/sys/fs/bpf/k2t_${b}_$p
			rm -rf "$pin"
			if bpftool -d prog loadall "build/$b/$p.o" "$pin" >"$log" 2>&1; then
				res=ok
			else
				res=FAIL
				fails=$((fails + 1))
			fi
			# Each program's log ends with "processed N insns"; name it.
			awk -v b="$b" -v res="$res" -v obj="$p" '
				/prog .*: -- BEGIN PROG LOAD LOG --/ { match($0, /prog '\''[^'\'']*'\''/); name = substr($0, RSTART + 6, RLENGTH - 7) }
				/^processed [0-9]+ insns/ { print b, obj "/" name, res, $2; n++ }
				END { if (!n) print b, obj, res, "-" }' "$log"
			if [ "$res" = FAIL ]; then
				grep -E 'libbpf: (prog|map|failed|Error)|^[0-9]+: \(|invalid|R[0-9]+ ' "$log" | tail -5 | sed 's/^/    /'
			fi
			rm -rf "$pin"
		done
	done
	rm -f "$log"
	[ "$fails" -eq 0 ] || die "$fails object(s) failed to load"
}

case "${1:-check}" in
check)
	check_objects
	check_v1
	check_v4
	;;
load) load ;;
*) die "usage: build.sh check|load" ;;
esac
