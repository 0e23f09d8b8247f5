#!/usr/bin/env bash
# deb-check: the Debian packages (debian/) as a user gets them. In a copy
# of the tree (the files git knows, nothing built), dpkg-buildpackage -b;
# lintian on the result (an E: or W: fails); `apt-get install ./*.deb`; a
# smoke test of the installed files (harmonyd with /etc/harmony/harmonyd.json
# serving the installed dashboard and its REST API, harmony-agent
# registering a backend, the upgrade's handover script replacing harmonyd
# with no connection refused, a program built with pkg-config harmony);
# `systemd-analyze verify` of the installed units (skipped without it);
# then the packages are purged, so that nothing of them stays on the machine.
#
#   scripts/deb-check.sh
#
# Needs root (apt-get), debhelper, dpkg-dev, fakeroot, lintian, python3,
# and the build dependencies of debian/control. Each check prints one
# "deb-check: PASS|FAIL|SKIP: NAME" line (.ci/run counts them); the exit
# status is 1 if any failed. DEB_CHECK_KEEP=1 keeps the work directory;
# DEB_CHECK_DEBS=DIR takes the packages dpkg-buildpackage left in DIR
# instead of building them.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
PKGS=(harmonyd harmony-agent libharmony0 libharmony-dev)
# Written once the packages are installed, removed once they are purged: a
# run that was killed in between lets the next one purge what it left.
MARK=/var/lib/harmony-deb-check.installed

failed=0
ok() { echo "deb-check: PASS: $1"; }
bad() {
	echo "deb-check: FAIL: $1"
	shift
	[ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/    /'
	failed=1
}
skip() { echo "deb-check: SKIP: $1"; }
# The last lines of a log, indented, after a failure.
show() { tail -n "${2:-40}" "$1" | sed 's/^/    | /'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/harmony-deb.XXXXXX") || exit 1
# apt's _apt user reads the .debs from here.
chmod 755 "$work"
installed=0
purge() {
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get purge -y -q "${PKGS[@]}" \
		>"$work/purge.log" 2>&1
}
cleanup() {
	if [ "$installed" = 1 ]; then
		purge && rm -f "$MARK"
	fi
	[ -n "${DEB_CHECK_KEEP:-}" ] && echo "deb-check: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" != 0 ]; then
	bad preconditions "deb-check installs packages: run it as root"
	exit 1
fi
for tool in dpkg-buildpackage dh lintian fakeroot apt-get python3; do
	command -v "$tool" >/dev/null || { bad preconditions "$tool is not installed"; exit 1; }
done

# Packages of ours already there: leftovers of a killed run are purged,
# anything else is not ours to touch.
present=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null \
	| awk '$2 != "not-installed" { print $1 }')
if [ -n "$present" ]; then
	if [ -f "$MARK" ]; then
		installed=1
		purge || { bad preconditions "could not purge the last run's packages" "$(cat "$work/purge.log")"; exit 1; }
		installed=0
		rm -f "$MARK"
	else
		bad preconditions "already installed, not by deb-check: $present"
		exit 1
	fi
fi

# --- build ---------------------------------------------------------------
tree=$work/harmony
mkdir -p "$tree"
if [ -n "${DEB_CHECK_DEBS:-}" ]; then
	# What an earlier dpkg-buildpackage left in that directory.
	cp "$DEB_CHECK_DEBS"/harmony_*.changes "$DEB_CHECK_DEBS"/harmony_*.buildinfo \
		"$DEB_CHECK_DEBS"/*.deb "$work/" || { bad build "no packages in $DEB_CHECK_DEBS"; exit 1; }
	skip "build (the packages of $DEB_CHECK_DEBS)"
elif git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked and new files as they are in the working tree, no build output.
	(cd "$src" && git ls-files -z --cached --others --exclude-standard \
		| while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
		| tar --null -T - -cf -) | tar -xf - -C "$tree"
else
	cp -a "$src/." "$tree/"
	[ ! -f "$tree/Makefile" ] || make -s -C "$tree" distclean >/dev/null 2>&1 || true
fi
if [ -n "${DEB_CHECK_DEBS:-}" ]; then
	:
elif (cd "$tree" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
	timeout 1500 dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	ok build
else
	bad build "dpkg-buildpackage -us -uc -b failed ($work/build.log):"
	show "$work/build.log" 60
	exit 1
fi
changes=$(ls "$work"/harmony_*.changes)

# --- lintian -------------------------------------------------------------
timeout 600 lintian --fail-on error,warning "$changes" >"$work/lintian.log" 2>&1
st=$?
grep -v 'running with root privileges' "$work/lintian.log" | sed 's/^/    lintian: /'
if [ "$st" -eq 0 ] && ! grep -q '^[EW]: ' "$work/lintian.log"; then
	ok lintian
else
	bad lintian "lintian reports errors or warnings (exit $st)"
fi

# --- install -------------------------------------------------------------
debs=()
for p in "${PKGS[@]}"; do
	debs+=("./$(cd "$work" && ls "${p}"_*.deb)")
done
touch "$MARK"
installed=1
if (cd "$work" && DEBIAN_FRONTEND=noninteractive timeout 300 \
	apt-get install -y -q --no-install-recommends "${debs[@]}") >"$work/install.log" 2>&1; then
	ok install
else
	bad install "apt-get install ${debs[*]} failed:"
	show "$work/install.log"
	exit 1
fi

# --- the installed files -------------------------------------------------
missing=()
for f in /usr/sbin/harmonyd /usr/bin/harmony-agent /etc/harmony/harmonyd.json \
	/usr/share/harmony/web/index.html /usr/share/man/man8/harmonyd.8.gz \
	/usr/share/man/man1/harmony-agent.1.gz /lib/systemd/system/harmonyd.service \
	/lib/systemd/system/harmony-agent@.service /usr/libexec/harmony/harmonyd-handover \
	/usr/include/harmony.h /usr/share/doc/harmonyd/examples/harmonyd.json; do
	[ -e "$f" ] || missing+=("$f")
done
dpkg-query -W -f='${Depends}' harmonyd | grep -q libsystemd0 || missing+=("harmonyd's Depends: libsystemd0")
conffiles=$(dpkg-query -W -f='${Conffiles}' harmonyd)
man8=$(zcat /usr/share/man/man8/harmonyd.8.gz 2>/dev/null)
man1=$(zcat /usr/share/man/man1/harmony-agent.1.gz 2>/dev/null)
if [ ${#missing[@]} -gt 0 ]; then
	bad files "not installed: ${missing[*]}"
elif ! grep -q '^ /etc/harmony/harmonyd.json ' <<<"$conffiles"; then
	bad files "/etc/harmony/harmonyd.json is no conffile: $conffiles"
elif ! grep -q '/etc/harmony/harmonyd\.json' <<<"$man8" || grep -q '/usr/local' <<<"$man8$man1" \
	|| ! grep -q '/etc/harmony/agent\.env' <<<"$man1" || grep -q '@[a-z]*@' <<<"$man8$man1"; then
	bad files "the man pages do not name the package's paths"
elif ! grep -q '"web-root": "/usr/share/harmony/web"' /etc/harmony/harmonyd.json; then
	bad files "/etc/harmony/harmonyd.json does not name the package's web root"
elif ! grep -q -- '-c /etc/harmony/harmonyd.json --state-file %S/harmony/state.json' \
	/lib/systemd/system/harmonyd.service || ! grep -q '^StateDirectory=harmony' \
	/lib/systemd/system/harmonyd.service; then
	bad files "harmonyd.service does not run the packaged config with a state file in StateDirectory"
else
	ok files
fi

# --- smoke test: daemon, dashboard, agent, handover ----------------------
if timeout 120 python3 - "$work" >"$work/smoke.log" 2>&1 <<'PY'
import json, os, re, signal, socket, struct, subprocess, sys, threading, time
import http.client

work = sys.argv[1]
procs = []

def fail(what):
    print('deb-check: FAIL: %s' % what)
    sys.exit(1)

def start(name, argv, **kw):
    log = open(os.path.join(work, name + '.log'), 'w+')
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p, log

def wait_log(log, pattern, proc, secs=15):
    end = time.time() + secs
    while time.time() < end:
        log.seek(0)
        m = re.search(pattern, log.read())
        if m:
            return m
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    fail('no %r in its log:\n%s' % (pattern, log.read()[-3000:]))

def get(port, path):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    c.request('GET', path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body

def fetch(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        return s.recv(64)

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

# systemd's side of sd_notify(3): (sender pid, message) as they come.
notify_path = os.path.join(work, 'notify.sock')
notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify_sock.bind(notify_path)
notify_sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
notified = []
def notify_drain():
    while True:
        data, anc, _, _ = notify_sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = 0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack('iII', value[:12])[0]
        notified.append((pid, data.decode('utf-8', 'replace')))
threading.Thread(target=notify_drain, daemon=True).start()

# A backend answering "A\n" to every connection.
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 0))
srv.listen(128)
backend = srv.getsockname()[1]
def serve():
    while True:
        c, _ = srv.accept()
        try:
            c.sendall(b'A\n')
        finally:
            c.close()
threading.Thread(target=serve, daemon=True).start()

try:
    # The installed daemon with the installed config and its default web
    # root; only the listeners move to free loopback ports (fixed ones: the
    # handover below starts the same command line again).
    ports = {k: free_port() for k in ('clients', 'ack', 'http')}
    hd, hdlog = start('harmonyd', ['/usr/sbin/harmonyd', '-c', '/etc/harmony/harmonyd.json',
                                   '--listen', '127.0.0.1:%d' % ports['clients'],
                                   '--ack-port', '127.0.0.1:%d' % ports['ack'],
                                   '--http', '127.0.0.1:%d' % ports['http'],
                                   '--state-file', os.path.join(work, 'state.json')],
                      env=dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC='1000000'))
    wait_log(hdlog, r'listening: clients', hd)
    status, body = get(ports['http'], '/')
    with open('/usr/share/harmony/web/index.html', 'rb') as f:
        index = f.read()
    if status != 200 or body != index:
        fail('daemon: GET / is not the installed index.html (%d, %d bytes)' % (status, len(body)))
    status, body = get(ports['http'], '/api/v1/status')
    if status != 200 or 'version' not in json.loads(body):
        fail('daemon: GET /api/v1/status: %d %r' % (status, body[:200]))
    print('deb-check: PASS: daemon')

    ag, aglog = start('agent', ['/usr/bin/harmony-agent', '--balancer', '127.0.0.1:%d' % ports['ack'],
                                '--port', str(backend)])
    wait_log(aglog, r'registered port %d' % backend, ag)
    status, body = get(ports['http'], '/api/v1/targets')
    targets = json.loads(body).get('targets', [])
    if status != 200 or [t.get('port') for t in targets] != [backend]:
        fail('agent: GET /api/v1/targets: %d %r' % (status, body[:300]))
    if fetch(ports['clients']) != b'A\n':
        fail('agent: a client is not sent to the registered backend')
    print('deb-check: PASS: agent')

    # The upgrade's handover, outside systemd: clients keep connecting all
    # along and none is refused; the registered target stays.
    refused, served, stop = [], [0], threading.Event()
    def clients():
        while not stop.is_set():
            try:
                if fetch(ports['clients']) == b'A\n':
                    served[0] += 1
            except OSError as e:
                refused.append(repr(e))
            time.sleep(0.01)
    t = threading.Thread(target=clients, daemon=True)
    t.start()
    time.sleep(0.3)
    ho = subprocess.run(['/usr/libexec/harmony/harmonyd-handover', str(hd.pid),
                         os.path.join(work, 'handover.pid')],
                        stdin=subprocess.DEVNULL, stdout=hdlog, stderr=hdlog, timeout=60)
    hd.wait(timeout=30)
    time.sleep(0.3)
    stop.set()
    t.join()
    hdlog.seek(0)
    text = hdlog.read()
    m = re.search(r'harmonyd (\d+) listens; stopping %d' % hd.pid, text)
    if m:
        procs.append(int(m.group(1)))
    if ho.returncode != 0 or not m:
        fail('handover: exit %d:\n%s' % (ho.returncode, text[-3000:]))
    status, body = get(ports['http'], '/api/v1/targets')
    targets = json.loads(body).get('targets', [])
    if refused or served[0] < 10 or [t.get('port') for t in targets] != [backend] \
            or fetch(ports['clients']) != b'A\n':
        fail('handover: %d served, refused %r, targets %r' % (served[0], refused[:5], body[:300]))
    print('deb-check: PASS: handover (%d connections served, none refused)' % served[0])

    # What systemd heard meanwhile: the new one is the main process (READY
    # with its MAINPID) and pings the watchdog; the old one did not stop the
    # service (no STOPPING=1).
    new = procs[-1]
    time.sleep(1.2)
    mine = [m for pid, m in notified if pid == new]
    old_msgs = [m for pid, m in notified if pid == hd.pid]
    if not any('READY=1' in m for m in old_msgs):
        print('deb-check: SKIP: handover notify (harmonyd built without libsystemd)')
    elif any('STOPPING=1' in m for m in old_msgs) \
            or not any('READY=1' in m and 'MAINPID=%d' % new in m for m in mine) \
            or not any('WATCHDOG=1' in m for m in mine):
        fail('handover notify: old %d said %r; new %d said %r' % (hd.pid, old_msgs, new, mine))
    else:
        print('deb-check: PASS: handover notify (READY, MAINPID and watchdog from the new one)')
    ag.terminate()
    ag.wait(timeout=20)
finally:
    for p in reversed(procs):
        try:
            if isinstance(p, int):
                os.kill(p, signal.SIGTERM)
            else:
                p.terminate()
                p.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
PY
then
	grep '^deb-check: ' "$work/smoke.log"
else
	grep '^deb-check: ' "$work/smoke.log"
	grep -q '^deb-check: FAIL' "$work/smoke.log" || echo "deb-check: FAIL: smoke"
	failed=1
	grep -v '^deb-check: ' "$work/smoke.log" | tail -n 40 | sed 's/^/    | /'
	for l in harmonyd agent; do
		[ -f "$work/$l.log" ] && { echo "    $l.log:"; show "$work/$l.log" 20; }
	done
fi

# --- a program built against libharmony-dev ------------------------------
cat >"$work/client.c" <<'EOF'
#include <stdio.h>
#include <harmony.h>
int
main(void)
{
	printf("%s\n", harmony_version());
	return 0;
}
EOF
if cc -o "$work/client" "$work/client.c" $(pkg-config --cflags --libs harmony) \
	>"$work/cc.log" 2>&1 && "$work/client" >>"$work/cc.log" 2>&1; then
	ok libharmony-dev
	# libharmony.a, with the C library still shared.
	cc -o "$work/client-static" "$work/client.c" $(pkg-config --cflags harmony) \
		-Wl,-Bstatic $(pkg-config --libs harmony) -Wl,-Bdynamic -lm >>"$work/cc.log" 2>&1 \
		&& "$work/client-static" >>"$work/cc.log" 2>&1 \
		&& ok "libharmony-dev static" || { bad "libharmony-dev static"; show "$work/cc.log"; }
else
	bad libharmony-dev "a program with pkg-config harmony does not build or run:"
	show "$work/cc.log"
fi

# --- the installed units ---------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	if timeout 60 systemd-analyze verify /lib/systemd/system/harmonyd.service \
		/lib/systemd/system/harmony-agent@.service >"$work/verify.log" 2>&1 \
		&& ! grep -q . "$work/verify.log"; then
		ok "systemd-analyze verify"
	else
		bad "systemd-analyze verify"
		show "$work/verify.log"
	fi
else
	skip "systemd-analyze verify (no systemd-analyze)"
fi

# --- purge ---------------------------------------------------------------
if purge; then
	installed=0
	rm -f "$MARK"
	left=()
	for f in /usr/sbin/harmonyd /usr/bin/harmony-agent /etc/harmony /usr/share/harmony \
		/usr/libexec/harmony /usr/include/harmony.h; do
		[ ! -e "$f" ] || left+=("$f")
	done
	still=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null \
		| awk '$2 != "not-installed" { print $1 }')
	if [ ${#left[@]} -eq 0 ] && [ -z "$still" ]; then
		ok purge
	else
		bad purge "left behind: ${left[*]} $still"
	fi
else
	bad purge "apt-get purge failed:"
	show "$work/purge.log"
fi

exit "$failed"
