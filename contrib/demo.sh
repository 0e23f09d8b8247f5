#!/bin/sh
# demo: harmonyd on its defaults with two live targets, as in node-harmony's
# README: a backend on port 1080 registered by harmony-agent over the ack
# port with weight 1000, and one on port 1090 registered with curl over HTTP
# with weight 500. Ctrl-C stops everything.
#
#   contrib/demo.sh BUILDDIR SRCDIR        (what `make demo` runs)
#
# DEMO_PORTS="PROXY ACK HTTP BACKEND1 BACKEND2" changes the ports (the
# defaults are harmonyd's, 3000 1666 1667, and node-harmony's 1080 1090).
set -u
# Children run in sessions of their own (setsid): Ctrl-C reaches only this
# script, which then stops them in order (the agent drains first), on
# SIGINT, SIGTERM, SIGHUP or any exit. Under `make demo | tee log`, Ctrl-C
# kills tee as well: the stop must not die of SIGPIPE on its first echo, so
# it ignores SIGPIPE and ends the children before it says anything.

builddir=${1:-.}
srcdir=${2:-.}
harmonyd=$builddir/src/harmonyd
agent=$builddir/agent/harmony-agent
backend=$builddir/tests/lib/backend
set -- ${DEMO_PORTS:-3000 1666 1667 1080 1090}
proxy_port=$1 ack_port=$2 http_port=$3 port1=$4 port2=$5
http=http://127.0.0.1:$http_port
pids=""

say() {
	printf '%s\n' "$*" 2>/dev/null || :
}

# $1: the exit status (0 after a signal: that is how the demo ends).
stop() {
	trap '' INT TERM HUP PIPE
	trap - EXIT
	[ -n "${tick:-}" ] && kill "$tick" 2>/dev/null
	# The agent first, and wait: it drains its target while harmonyd runs.
	if [ -n "${agent_pid:-}" ]; then
		kill -TERM "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
	fi
	# Each child leads a session and group of its own: end all of it (the
	# heartbeat loop's sleep and curl too).
	for p in $pids; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	say
	say "demo: stopped"
	exit "$1"
}
trap 'stop 0' INT TERM HUP
trap 'stop $?' EXIT

for f in "$harmonyd" "$agent" "$backend"; do
	[ -x "$f" ] || { echo "demo: $f is missing: run 'make' and 'make check' first" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "demo: curl is needed (apt-get install curl)" >&2; exit 1; }

if [ -n "${DEMO_PORTS:-}" ]; then
	setsid "$harmonyd" --web-root "$srcdir/web" --listen "$proxy_port" \
	    --ack-port "$ack_port" --http "$http_port" &
else
	setsid "$harmonyd" --web-root "$srcdir/web" &	# all defaults
fi
pids="$pids $!"
for i in $(seq 1 50); do
	curl -fs "$http/api/v1/status" >/dev/null && break
	sleep 0.1
done
curl -fs "$http/api/v1/status" >/dev/null || { echo "demo: harmonyd did not start (ports $proxy_port, $ack_port, $http_port busy?)" >&2; exit 1; }

setsid "$backend" --listen 127.0.0.1:$port1 --mode http --name "served from port $port1" >/dev/null &
pids="$pids $!"
setsid "$backend" --listen 127.0.0.1:$port2 --mode http --name "served from port $port2" >/dev/null &
pids="$pids $!"

# $port1: harmony-agent over the ack port, weight 1000, heartbeat every 10 s.
setsid "$agent" --balancer 127.0.0.1:$ack_port --port $port1 --weight 1000 --ack 10s --ttl 30s &
agent_pid=$!

# $port2: curl over HTTP, weight 500, then a heartbeat every 10 s with its key.
reply=$(curl -fsS -X POST -H 'Content-Type: application/json' \
	-d "{\"port\": $port2, \"weight\": 500, \"ttl\": \"30s\"}" "$http/api/v1/targets")
id=$(printf '%s' "$reply" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
key=$(printf '%s' "$reply" | sed -n 's/.*"key": *"\([0-9a-f]*\)".*/\1/p')
setsid sh -c 'while sleep 10; do
	curl -fsS -X POST -H "Authorization: Bearer $1" "$2" >/dev/null || :
done' sh "$key" "$http/api/v1/targets/$id/ack" &
pids="$pids $!"

# A builtin, not cat: nothing outside the shell between here and the wait.
say "
Harmony demo is running:
  proxy       http://127.0.0.1:$proxy_port/
              persistence keeps one client on one target; as 6 clients:
              for i in 2 3 4 5 6 7; do curl -s --interface 127.0.0.\$i http://127.0.0.1:$proxy_port/; done
  dashboard   $http/
  REST API    $http/api/v1/targets
  metrics     $http/metrics
Press Ctrl-C to stop.
"
# A tick rather than one bare wait: a trap runs when the tick ends at the
# latest, whatever the shell's wait does with a signal that comes in.
while :; do
	sleep 1 &
	tick=$!
	wait "$tick"
done
