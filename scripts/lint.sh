#!/bin/sh
# Static analysis of every C source of the four deliverables' folders
# (src/ the daemon, lib/ libharmony, agent/ harmony-agent, common/ what they
# share): the direction of includes, cppcheck, then clang-tidy with the
# checks in .clang-tidy. Exits non-zero
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
#  preprocessorErrorDirective: it cannot evaluate __has_include (webroot.c).
#  readdirCalled: harmonyd is one thread per process, and readdir_r is the
#    deprecated one (glibc, POSIX.1-2024): readdir is the right call here.
queue_h=$(echo '#include <sys/queue.h>' | ${CPP:-cpp} -H -o /dev/null 2>&1 |
	sed -n 's/^\. \(.*queue\.h\)$/\1/p' | head -n 1)
# The direction of includes (docs/ARCHITECTURE.md). Every quoted include
# names its folder from the top ("common/log.h", "registry/pool.h"), never
# "../": so the compiler's -I list (Makefile.am) and this table are the whole
# of who may use whom.
#   common/         itself only: the three deliverables share it
#   lib/            common/ and its public header
#   agent/          common/, libharmony's header and itself
#   src/core/       common/, itself (the loop, sockets, the fd budget)
#   src/registry/   + core/ (targets, balancing, persistence)
#   src/ack/ src/proxy/ src/state/   + registry/, each itself
#                   (but ack/ackproto, the pure protocol, only core/,
#                   and proxy/proxyproto, the pure PROXY protocol, too)
#   src/admin/      + ack/ proxy/ state/, config.h and settings.h
#   src/check/      + registry/, itself (health check probes on the loop),
#                   proxy/proxyproto (checks may send a PROXY header)
#   src/service/    + registry/ proxy/ check/, config.h and settings.h (a
#                   service owns its pool, balancer, persistence table,
#                   proxy and checks)
#   src/*.[ch]      the process: anything of src/
sources="src/*.c src/*/*.c common/*.c lib/*.c agent/*.c"
allowed() {
	case $1 in
	common/*) echo 'common/' ;;
	lib/*) echo 'common/|harmony\.h' ;;
	agent/*) echo 'common/|harmony\.h|agent/' ;;
	src/core/*) echo 'common/|core/' ;;
	src/registry/*) echo 'common/|core/|registry/' ;;
	src/ack/ackproto.*) echo 'common/|core/|ack/ackproto' ;;	# the pure protocol
	src/proxy/proxyproto.*) echo 'common/|core/|proxy/proxyproto' ;;	# pure too
	src/ack/* | src/proxy/* | src/state/*)
		d=${1#src/}; echo "common/|core/|registry/|${d%%/*}/" ;;
	src/admin/*) echo 'common/|core/|registry/|ack/|proxy/|state/|admin/|config\.h|settings\.h' ;;
	src/check/*) echo 'common/|core/|registry/|check/|proxy/proxyproto' ;;
	src/service/*) echo 'common/|core/|registry/|proxy/|check/|service/|config\.h|settings\.h' ;;
	src/*) echo 'common/|core/|registry/|ack/|proxy/|state/|admin/|check/|service/|[a-z_]+\.h' ;;
	esac
}
echo "lint: include directions"
for f in $sources src/*.h src/*/*.h common/*.h lib/*.h agent/*.h include/*.h; do
	[ -f "$f" ] || continue
	ok=$(allowed "$f")
	[ -n "$ok" ] || ok='harmony\.h'	# include/: the public header stands alone
	if sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
	    grep -Ev "^(autoconfig\.h|($ok)[a-z_/]*(\.h)?)\$" | grep . >"$tmp/inc"; then
		sed "s|^|lint: $f may not include |" "$tmp/inc" >&2
		status=1
	fi
	if grep -n '#[[:space:]]*include[[:space:]]*"[^"]*\.\./' "$f" >&2; then
		echo "lint: $f: no include may climb out of its folder" >&2
		status=1
	fi
done

echo "lint: cppcheck"
if ! cppcheck -q --std=c11 --library=posix \
    --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
    --suppress=funcArgOrderDifferent --suppress=preprocessorErrorDirective:src/admin/webroot.c \
    --suppress=readdirCalled \
    ${queue_h:+--include="$queue_h"} -I . -I include -I src -I "$cfgdir" \
    $sources; then
	status=1
fi

echo "lint: clang-tidy (.clang-tidy)"
if ! printf '%s\n' $sources | xargs -P "$jobs" -I{} sh -c \
    'clang-tidy --quiet "$1" -- -std=gnu11 -I . -I include -I src -I "$2" $3 2>/dev/null || exit 1' \
    sh {} "$cfgdir" "$pkgflags" >"$tmp/tidy.out"; then
	status=1
fi
if grep -q 'error:\|warning:' "$tmp/tidy.out"; then
	cat "$tmp/tidy.out"
	status=1
fi
[ "$status" = 0 ] && echo "lint: clean"
exit "$status"
