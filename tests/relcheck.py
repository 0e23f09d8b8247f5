"""relcheck: helpers shared by the reliability scenario tests (t_rel_*.py).

- get_json(port, path): a GET on the admin interface through http.client
  (much faster than a curl per request, for polling);
- invariant(hd): the sum of the targets' "active" equals the status
  "active" count and the live "sessions" count, once the daemon is quiet;
- settle(hd, fd_base): waits until no session is live, checks the invariant
  and that the daemon's descriptors are back to fd_base;
- cpu_seconds(pid): utime + stime from /proc/PID/stat.
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


def small_quarantine_env():
    """The environment for a daemon whose RSS is measured under ASan."""
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') +
                           ':quarantine_size_mb=1:thread_local_quarantine_size_kb=64'
                           ).lstrip(':')
    return env
