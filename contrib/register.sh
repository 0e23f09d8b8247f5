#!/bin/sh
# register.sh: register a backend with harmonyd over its HTTP API, heartbeat
# until stopped, then deregister (drain) it: harmony-agent's job with only a
# shell and curl.
#
#   register.sh [-u URL] [-w WEIGHT] [-t TTL] [-H HOST] PORT
#
#   -u URL     harmonyd's admin API (default: $HARMONY_URL, or
#              http://127.0.0.1:1667)
#   -w WEIGHT  1..1000000 (default: 500)
#   -t TTL     seconds without a heartbeat before harmonyd marks the target
#              down (default: 60); heartbeats go every TTL/3 seconds
#   -H HOST    register this address instead of the one harmonyd sees the
#              request come from (needs the admin token)
#
# HARMONY_TOKEN: harmonyd's token, if it has one (registering needs it then).
# The target's own key, from the answer to the registration, is what the
# heartbeats and the final DELETE carry. Tokens and keys go to curl on its
# standard input, never on its command line (ps would show them).
#
# SIGTERM or SIGINT (or the end of the script for any reason) deregisters.
# A heartbeat answered 404 means harmonyd lost the target (restarted without
# a state file, or the target expired): the script registers anew.
set -eu

url=${HARMONY_URL:-http://127.0.0.1:1667}
weight=500
ttl=60
host=

usage() {
	echo "usage: $0 [-u URL] [-w WEIGHT] [-t TTL] [-H HOST] PORT" >&2
	exit 2
}

while getopts u:w:t:H: opt; do
	case $opt in
	u) url=$OPTARG ;;
	w) weight=$OPTARG ;;
	t) ttl=$OPTARG ;;
	H) host=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
port=$1
for n in "$port" "$weight" "$ttl"; do
	case $n in
	''|*[!0-9]*) echo "$0: not a number: '$n'" >&2; exit 2 ;;
	esac
done
period=$((ttl / 3))
[ "$period" -ge 1 ] || period=1
url=${url%/}

# curl with an Authorization header taken from stdin ($1: the bearer).
api() {
	bearer=$1
	shift
	if [ -n "$bearer" ]; then
		printf 'header = "Authorization: Bearer %s"\n' "$bearer" |
		    curl --config - -sS --max-time 10 "$@"
	else
		curl -sS --max-time 10 "$@"
	fi
}

# The value of a top-level JSON field, string or number (jq if present).
field() {
	if command -v jq >/dev/null 2>&1; then
		printf '%s' "$2" | jq -r --arg f "$1" '.[$f] // empty'
	else
		printf '%s' "$2" | tr -d '\n' |
		    sed -n "s/.*\"$1\" *: *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p"
	fi
}

id=
key=

register() {
	body="{\"port\":$port,\"weight\":$weight,\"ttl\":\"${ttl}s\""
	[ -z "$host" ] || body="$body,\"host\":\"$host\""
	body="$body}"
	if ! answer=$(api "${HARMONY_TOKEN:-}" -f -X POST \
	    -H 'Content-Type: application/json' -d "$body" "$url/api/v1/targets"); then
		echo "$0: registration with $url failed" >&2
		return 1
	fi
	id=$(field id "$answer")
	key=$(field key "$answer")
	if [ -z "$id" ] || [ -z "$key" ]; then
		echo "$0: no id or key in harmonyd's answer: $answer" >&2
		return 1
	fi
	echo "registered port $port (weight $weight) with $url as target $id"
}

deregister() {
	[ -n "$id" ] || return 0
	code=$(api "$key" -o /dev/null -w '%{http_code}' -X DELETE \
	    "$url/api/v1/targets/$id") || code=000
	case $code in
	204|404) echo "deregistered target $id" ;;
	*) echo "$0: deregistering target $id: HTTP $code" >&2 ;;
	esac
	id=
}

trap deregister EXIT
trap 'exit 0' INT TERM

until register; do
	sleep 5
done
while :; do
	# In the background, so that a signal ends the wait at once.
	sleep "$period" &
	wait $! || :
	code=$(api "$key" -o /dev/null -w '%{http_code}' -X POST \
	    "$url/api/v1/targets/$id/ack") || code=000
	case $code in
	204) ;;
	404)
		echo "$0: harmonyd no longer knows target $id: registering anew" >&2
		id=
		register || :
		;;
	*) echo "$0: heartbeat for target $id: HTTP $code" >&2 ;;
	esac
done
