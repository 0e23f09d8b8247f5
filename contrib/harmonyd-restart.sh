#!/bin/sh
# harmonyd-restart: replace a running harmonyd without refusing or resetting
# a single client connection.
#
#   harmonyd-restart.sh OLD_PID [harmonyd options ...]
#
# harmonyd's listeners use SO_REUSEPORT, so a second harmonyd with the same
# options can listen on the same ports at once. This script starts the new
# one, waits until it says it listens, then sends SIGTERM to the old one,
# which takes what waits in its accept queue, stops listening and lets its
# sessions finish (up to --grace). With --state-file the new one starts from
# the old one's registry and persistence table.
#
# For no gap at all between the old one's last accept and its close, let the
# kernel hand over connections still in a closing listener's queue:
#   sysctl -w net.ipv4.tcp_migrate_req=1        (Linux >= 5.14)
#
# Environment: HARMONYD (default: harmonyd from PATH), HARMONYD_LOG (the new
# daemon's log; default: a new temporary file, whose name is printed).
# Prints the new daemon's PID on stdout.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 OLD_PID [harmonyd options ...]" >&2; exit 2; }
old=$1
shift
kill -0 "$old" 2>/dev/null || { echo "$0: no process $old" >&2; exit 1; }

harmonyd=${HARMONYD:-harmonyd}
log=${HARMONYD_LOG:-$(mktemp "${TMPDIR:-/tmp}/harmonyd.XXXXXX")}
: >>"$log"
start=$(wc -l <"$log")

"$harmonyd" "$@" </dev/null >>"$log" 2>&1 &
new=$!

# Ready once it logs "listening: clients" (after every other listener).
tries=0
until tail -n +"$((start + 1))" "$log" | grep -q 'listening: clients'; do
	if ! kill -0 "$new" 2>/dev/null; then
		echo "$0: the new harmonyd exited; see $log" >&2
		exit 1
	fi
	tries=$((tries + 1))
	if [ "$tries" -gt 300 ]; then
		echo "$0: the new harmonyd is not listening after 30 s; see $log" >&2
		kill -TERM "$new" 2>/dev/null || true
		exit 1
	fi
	sleep 0.1
done

kill -TERM "$old"
[ -n "${HARMONYD_LOG:-}" ] || echo "$0: new harmonyd logs to $log" >&2
echo "$new"
