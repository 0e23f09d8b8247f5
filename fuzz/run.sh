#!/bin/sh
# Builds the libFuzzer targets and runs each for a while on a copy of its
# seed corpus (fuzz/corpus/<target>/); exits non-zero if one crashes, leaks
# or trips a sanitizer. Independent of how the tree was configured: the
# daemon's sources are compiled again here with clang's fuzzer, ASan and
# UBSan, into a scratch directory.
#
#   fuzz/run.sh [TARGET...]       (default: ackproto parse config api proxyproto sni)
#
# Environment: FUZZ_CC (clang), FUZZ_SECONDS (30 per target), FUZZ_MAX_LEN
# (4096), FUZZ_BUILDDIR (./fuzz-build), FUZZ_BUILD_ONLY=1 to only build.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-30}
max_len=${FUZZ_MAX_LEN:-4096}
out=${FUZZ_BUILDDIR:-fuzz-build}
targets=${*:-ackproto parse config api proxyproto sni}

# Every module of the daemon's library (api.c needs most of them) and of
# common/ (what it shares with libharmony and the agent), as Makefile.am
# lists them: paths like src/pool and common/duration.
sources() {
	sed -n "/^$1/,/[^\\\\]\$/p" "$srcdir/Makefile.am" |
		tr ' \t\\' '\n\n\n' | sed -n 's|^\(.*\)\.c$|\1|p'
}
lib=$(sources src_libharmonyd_a_SOURCES)
[ -n "$lib" ] || { echo "fuzz: no library sources in Makefile.am" >&2; exit 1; }
common=$(sources common_libcommon_la_SOURCES)
[ -n "$common" ] || { echo "fuzz: no common/ sources in Makefile.am" >&2; exit 1; }

mkdir -p "$out/obj"
out=$(cd "$out" && pwd)

# The configured autoconfig.h is not needed: the modules only ask for
# _GNU_SOURCE, PACKAGE_VERSION and whether epoll exists.
version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
{
	echo '#define _GNU_SOURCE 1'
	echo "#define PACKAGE_VERSION \"${version:-0}\""
	[ -f /usr/include/x86_64-linux-gnu/sys/epoll.h ] || [ -f /usr/include/sys/epoll.h ] &&
		echo '#define HAVE_SYS_EPOLL_H 1'
	:
} >"$out/autoconfig.h.new"
if cmp -s "$out/autoconfig.h.new" "$out/autoconfig.h"; then
	rm -f "$out/autoconfig.h.new"
else
	mv "$out/autoconfig.h.new" "$out/autoconfig.h"
fi

pkgs="libmicrohttpd json-c"
cflags="-g -O1 -std=gnu11 -fno-omit-frame-pointer -I$out -I$srcdir -I$srcdir/src $(pkg-config --cflags $pkgs)"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
libs="$(pkg-config --libs $pkgs) -lm"

# Objects once for all targets, rebuilt when a source or header changed.
objs=
for m in $lib $common; do
	o="$out/obj/$(echo "$m" | tr / _).o"
	if [ ! -f "$o" ] || [ -n "$(find "$srcdir/src" "$srcdir/common" "$out/autoconfig.h" -newer "$o" \( -name '*.[ch]' -o -name autoconfig.h \) 2>/dev/null | head -n 1)" ]; then
		$cc $cflags $san -fsanitize=fuzzer-no-link -c "$srcdir/$m.c" -o "$o"
	fi
	objs="$objs $o"
done
$cc $cflags -c "$srcdir/fuzz/nodns.c" -o "$out/obj/nodns.o"

for t in $targets; do
	$cc $cflags $san -fsanitize=fuzzer "$srcdir/fuzz/fuzz_$t.c" "$out/obj/nodns.o" \
		$objs $libs -o "$out/fuzz_$t"
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

fail=0
for t in $targets; do
	# Never write into the source tree: new inputs go to a scratch copy.
	rm -rf "$out/corpus-$t" "$out/crash-$t"
	mkdir -p "$out/corpus-$t" "$out/crash-$t"
	if [ -d "$srcdir/fuzz/corpus/$t" ]; then
		cp "$srcdir/fuzz/corpus/$t/"* "$out/corpus-$t/" 2>/dev/null || :
	fi
	printf 'fuzz_%s: %ss ... ' "$t" "$seconds"
	if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    "$out/fuzz_$t" -max_total_time="$seconds" -max_len="$max_len" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/crash-$t/" "$out/corpus-$t" \
	    >"$out/fuzz_$t.log" 2>&1; then
		echo "ok ($(ls "$out/corpus-$t" | wc -l) corpus files," \
		    "$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz_$t.log") runs)"
	else
		fail=1
		echo "FAILED"
		tail -n 60 "$out/fuzz_$t.log"
		echo "fuzz_$t: reproducer(s) in $out/crash-$t/:"
		ls -l "$out/crash-$t/"
	fi
done
exit "$fail"
