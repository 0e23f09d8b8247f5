#!/bin/sh
# demo: harmonyd on its defaults with two live targets, as in node-harmony's
# README: a backend on port 1080 registered by harmony-agent over the ack
# port with weight 1000, and one on port 1090 registered with curl over HTTP
# with weight 500. Ctrl-C stops everything.
#
#   contrib/demo.sh BUILDDIR SRCDIR        (what `make demo` runs)
set -u

builddir=${1:-.}
srcdir=${2:-.}
harmonyd=$builddir/src/harmonyd
agent=$builddir/src/harmony-agent
backend=$builddir/tests/backend
http=http://127.0.0.1:1667
pids=""

stop() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	# The agent drains its target on SIGTERM; then the rest.
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	exit 0
}
trap stop INT TERM EXIT

for f in "$harmonyd" "$agent" "$backend"; do
	[ -x "$f" ] || { echo "demo: $f is missing: run 'make' and 'make check' first" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "demo: curl is needed (apt-get install curl)" >&2; exit 1; }

"$harmonyd" --web-root "$srcdir/web" &
pids="$pids $!"
for i in $(seq 1 50); do
	curl -fs "$http/api/v1/status" >/dev/null && break
	sleep 0.1
done
curl -fs "$http/api/v1/status" >/dev/null || { echo "demo: harmonyd did not start (ports 3000, 1666, 1667 busy?)" >&2; exit 1; }

"$backend" --listen 127.0.0.1:1080 --mode http --name "served from port 1080" >/dev/null &
pids="$pids $!"
"$backend" --listen 127.0.0.1:1090 --mode http --name "served from port 1090" >/dev/null &
pids="$pids $!"

# 1080: harmony-agent over the ack port, weight 1000, heartbeat every 10 s.
"$agent" --balancer 127.0.0.1:1666 --port 1080 --weight 1000 --ack 10s --ttl 30s &
pids="$pids $!"

# 1090: curl over HTTP, weight 500, then a heartbeat every 10 s with its key.
reply=$(curl -fsS -X POST -H 'Content-Type: application/json' \
	-d '{"port": 1090, "weight": 500, "ttl": "30s"}' "$http/api/v1/targets")
id=$(printf '%s' "$reply" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
key=$(printf '%s' "$reply" | sed -n 's/.*"key": *"\([0-9a-f]*\)".*/\1/p')
(
	while sleep 10; do
		curl -fsS -X POST -H "Authorization: Bearer $key" \
		    "$http/api/v1/targets/$id/ack" >/dev/null || true
	done
) &
pids="$pids $!"

cat <<EOT

Harmony demo is running:
  proxy       http://127.0.0.1:3000/     (curl it a few times: 1080 serves about 2 of 3)
  dashboard   $http/
  REST API    $http/api/v1/targets
  metrics     $http/metrics
Press Ctrl-C to stop.

EOT
wait
