#!/bin/sh
# harmonyd-restart: replace a running harmonyd without refusing or resetting
# a single client connection.
#
#   harmonyd-restart.sh OLD_PID [harmonyd options ...]
#
# The new harmonyd is started with the same options plus --takeover OLD_PID:
# only then may it listen on ports another harmonyd holds (SO_REUSEPORT; a
# harmonyd started by mistake on them refuses to start). With --state-file
# it first asks the old one (SIGUSR2) for its last save; the old one saves,
# releases the state file and stops saving, and the new one starts from
# that registry and persistence table. Once the new one says it listens,
# this script sends SIGTERM to the old one, which takes what waits in its
# accept queue, stops listening and lets its sessions finish (up to
# --grace); its exit no longer writes the state file.
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

"$harmonyd" --takeover "$old" "$@" </dev/null >>"$log" 2>&1 &
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
