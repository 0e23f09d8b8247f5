"""relcheck: helpers shared by the reliability scenario tests (t_rel_*.py).

- get_json(port, path): a GET on the admin interface through http.client
  (much faster than a curl per request, for polling);
- invariant(hd): the sum of the targets' "active" equals the status
  "active" count and the live "sessions" count, once the daemon is quiet;
- settle(hd, fd_base): waits until no session is live, checks the invariant
  and that the daemon's descriptors are back to fd_base;
- cpu_seconds(pid): utime + stime from /proc/PID/stat;
- tcp_report(pid, ports): the TCP states of a process's sockets and of
  every socket on the given ports (/proc/net/tcp), for failure messages;
- listen_stats(): the network namespace's listen-queue counters
  (ListenOverflows, ListenDrops, SyncookiesSent), to compare before/after.
"""

import http.client
import json
import os

import harness as h

_TICK = os.sysconf('SC_CLK_TCK')


def request(port, method, path, body=None, headers=None, timeout=20,
            host='127.0.0.1'):
    """(status, body bytes) of one admin request; status 0 if no answer."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None and 'Content-Type' not in hdrs:
            hdrs['Content-Type'] = 'application/json'
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return 0, b''
    finally:
        c.close()


def get_json(port, path, timeout=20):
    st, body = request(port, 'GET', path, timeout=timeout)
    h.check(st == 200, 'GET %s: expected 200, got %d %r' % (path, st, body[:200]))
    try:
        return json.loads(body)
    except ValueError:
        h.fail('GET %s: not JSON: %r' % (path, body[:200]))


def counts(hd):
    """(status active, status sessions, sum of targets' active)."""
    st = get_json(hd.http_port, '/api/v1/status')
    ts = get_json(hd.http_port, '/api/v1/targets')['targets']
    return st['active'], st['sessions'], sum(t['active'] for t in ts)


def invariant(hd, timeout=15.0, expect_idle=False):
    """Sum of per-target active == status active == live sessions.

    Sessions may still be opening or ending when this is called: it retries
    until the three agree (and are 0 with expect_idle) or timeout passes."""
    last = [None]

    def ok():
        last[0] = counts(hd)
        a, s, per = last[0]
        if expect_idle and (a or s or per):
            return False
        return a == per == s
    if not h.wait_until(ok, timeout, 0.2):
        h.fail('%s: session counts disagree: status active %d, sessions %d, sum of '
               'targets\' active %d%s' % ((hd.label,) + last[0] +
                                         (' (expected all 0)' if expect_idle else '',)))
    return last[0]


def settle(hd, fd_base, timeout=20.0):
    """No session left, counts consistent, fds back to fd_base."""
    h.check(hd.alive(), '%s is not running' % hd.label)
    invariant(hd, timeout, expect_idle=True)
    if not h.wait_until(lambda: hd.fd_count() <= fd_base, timeout, 0.1):
        h.fail('%s has %d descriptors open, %d at the start: a leak?'
               % (hd.label, hd.fd_count(), fd_base))


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rpartition(')')[2].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / _TICK


_TCP_STATES = {1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1',
               5: 'FIN_WAIT2', 6: 'TIME_WAIT', 7: 'CLOSE', 8: 'CLOSE_WAIT',
               9: 'LAST_ACK', 10: 'LISTEN', 11: 'CLOSING', 12: 'NEW_SYN_RECV'}


def _tcp_table():
    """(local port, remote port, state, retransmits, timer, inode) of each
    IPv4 socket and request of this network namespace."""
    rows = []
    try:
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                v = line.split()
                timer, when = v[5].split(':')
                rows.append((int(v[1].split(':')[1], 16), int(v[2].split(':')[1], 16),
                             _TCP_STATES.get(int(v[3], 16), v[3]), int(v[6], 16),
                             '%s/%.1fs' % (timer, int(when, 16) / _TICK), int(v[9])))
    except OSError:
        pass
    return rows


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if link.startswith('socket:['):
                inodes.add(int(link[8:-1]))
    except OSError:
        pass
    return inodes


def tcp_report(pid, ports):
    """Counts of TCP states: of pid's own sockets by the port they are on
    (local or remote, from ports: {port: name}), and of the other sockets on
    those ports (a peer's side, requests, TIME_WAIT). Retransmissions and
    pending timers show a segment the peer keeps dropping."""
    own = _socket_inodes(pid)
    mine, other = {}, {}
    for lport, rport, st, retr, timer, inode in _tcp_table():
        for port, name in ports.items():
            if port not in (lport, rport):
                continue
            side = 'local' if lport == port else 'remote'
            key = (name, side, st)
            d = mine if inode and inode in own else other
            n, rmax, timers = d.get(key, (0, 0, set()))
            if retr and len(timers) < 3:
                timers.add(timer)
            d[key] = (n + 1, max(rmax, retr), timers)
            break

    def text(d):
        return ', '.join('%s port %s: %s %d%s' % (name, side, st, n,
                         ' (retransmits up to %d, timers %s)' % (rmax, sorted(t))
                         if rmax else '')
                         for (name, side, st), (n, rmax, t) in sorted(d.items())) or 'none'
    return 'pid %d sockets: %s; others on those ports: %s' % (pid, text(mine), text(other))


def listen_stats():
    """The namespace's listen-queue counters from /proc/net/netstat: a full
    accept queue drops handshakes (and with syncookies leaves connections
    that only the connecting side knows of)."""
    want = ('ListenOverflows', 'ListenDrops', 'SyncookiesSent')
    try:
        with open('/proc/net/netstat') as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith('TcpExt:'):
            d = dict(zip(names.split()[1:], values.split()[1:]))
            return {k: int(d[k]) for k in want if k in d}
    return {}


def listen_stats_since(before):
    """'ListenOverflows +N, ...' since before = listen_stats()."""
    now = listen_stats()
    return ', '.join('%s +%d' % (k, v - before.get(k, 0)) for k, v in sorted(now.items()))


def small_quarantine_env():
    """The environment for a daemon whose RSS is measured under ASan."""
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') +
                           ':quarantine_size_mb=1:thread_local_quarantine_size_kb=64'
                           ).lstrip(':')
    return env
