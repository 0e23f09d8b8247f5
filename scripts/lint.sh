#!/bin/sh
# Static analysis of the daemon, agent and client sources (src/*.c) and of
# what they share (common/*.c): the direction of includes, cppcheck, then
# clang-tidy with the checks in .clang-tidy. Exits non-zero
# on any finding. Suppressions are inline (cppcheck-suppress, NOLINT) with
# a reason, or below with theirs.
#
#   scripts/lint.sh [CONFIG_H_DIR]
#
# CONFIG_H_DIR holds autoconfig.h (make lint passes the build directory);
# without one, a minimal header is written to a scratch directory.
# LINT_JOBS (2) clang-tidy processes run at once.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
jobs=${LINT_JOBS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cfgdir=${1:-}
if [ -z "$cfgdir" ] || [ ! -f "$cfgdir/autoconfig.h" ]; then
	version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
	printf '#define _GNU_SOURCE 1\n#define HAVE_SYS_EPOLL_H 1\n#define PACKAGE_VERSION "%s"\n' \
		"$version" >"$tmp/autoconfig.h"
	cfgdir=$tmp
fi
cd "$srcdir"
pkgflags=$(pkg-config --cflags libmicrohttpd json-c)
status=0

# cppcheck does not read system headers, so the <sys/queue.h> macros
# (TAILQ_FOREACH ...) are given to it up front, or every list walk reads as
# uninitialized. Global suppressions:
#  funcArgOrderDifferent: cppcheck 2.10 takes the unnamed parameter of a
#    function typedef type (`loop_io_fn *, void *arg`) for a name.
#  preprocessorErrorDirective: it cannot evaluate __has_include (admin.c).
#  readdirCalled: harmonyd is one thread per process, and readdir_r is the
#    deprecated one (glibc, POSIX.1-2024): readdir is the right call here.
queue_h=$(echo '#include <sys/queue.h>' | ${CPP:-cpp} -H -o /dev/null 2>&1 |
	sed -n 's/^\. \(.*queue\.h\)$/\1/p' | head -n 1)
# common/ is shared by all three deliverables: it includes only itself,
# autoconfig.h and system headers, never a header of src/.
echo "lint: common/ includes"
if grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' common/*.[ch] |
    grep -v '"autoconfig\.h"\|"common/[a-z_]*\.h"'; then
	echo "lint: common/ may include only common/*.h and autoconfig.h" >&2
	status=1
fi

echo "lint: cppcheck"
if ! cppcheck -q --std=c11 --library=posix \
    --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
    --suppress=funcArgOrderDifferent --suppress=preprocessorErrorDirective:src/admin.c \
    --suppress=readdirCalled \
    ${queue_h:+--include="$queue_h"} -I . -I src -I "$cfgdir" \
    src/*.c common/*.c; then
	status=1
fi

echo "lint: clang-tidy (.clang-tidy)"
if ! printf '%s\n' src/*.c common/*.c | xargs -P "$jobs" -I{} sh -c \
    'clang-tidy --quiet "$1" -- -std=gnu11 -I . -I src -I "$2" $3 2>/dev/null || exit 1' \
    sh {} "$cfgdir" "$pkgflags" >"$tmp/tidy.out"; then
	status=1
fi
if grep -q 'error:\|warning:' "$tmp/tidy.out"; then
	cat "$tmp/tidy.out"
	status=1
fi
[ "$status" = 0 ] && echo "lint: clean"
exit "$status"
