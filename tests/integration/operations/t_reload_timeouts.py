"""Issue 13 item 18: a reload applies the timeouts to what already runs.

--host-timeout 60s -> 1s by SIGHUP: a target registered before it without a
TTL of its own goes down within seconds (traffic moves to the other one),
while a target with its own TTL keeps it. --idle-timeout 0 -> 2s closes a
silent session opened before the reload, but not a busy one; 3s -> 0 keeps
a silent session open past 3 s; 60s -> 1s closes a silent session within
seconds, not after a minute. The same holds for targets restored from the
state file after a restart: they remember whether their timeout was their
own TTL or the default."""

import json
import os
import signal
import time

import harness as h
import adminhttp as ah


def write_config(path, obj):
    with open(path, 'w') as f:
        f.write(json.dumps(obj) + '\n')


def reload(hd, cf, obj):
    n = hd.log_text().count('SIGHUP: configuration reloaded')
    write_config(cf, obj)
    os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: hd.log_text().count('SIGHUP: configuration reloaded')
                         > n, 15), 'the reload applied: %r' % obj)


def names(port, n=20):
    got = {}
    for _ in range(n):
        name = h.name_of(port)
        got[name] = got.get(name, 0) + 1
    return got


def open_silent(port):
    """A session through the echo target, checked to be relaying."""
    s = h.connect(port)
    s.sendall(b'hello\n')
    h.check(h.recv_line(s, timeout=15) == b'hello\n', 'the session relays')
    return s


def closed_within(s, seconds):
    data, how = h.recv_to_end(s, timeout=seconds)
    s.close()
    return how != 'timeout', data, how


def still_open(s):
    try:
        s.sendall(b'still\n')
        ok = h.recv_line(s, timeout=10) == b'still\n'
    except OSError:
        ok = False
    s.close()
    return ok


def busy(port, seconds):
    with h.connect(port) as s:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            msg = b'ping %d\n' % i
            s.sendall(msg)
            h.check(h.recv_line(s, timeout=10) == msg, 'the busy session lives')
            i += 1
            time.sleep(0.3)
        return i


def host_timeout():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    cf = os.path.join(h.tmpdir(), 'hosts.json')
    base = {'persistent': False, 'balance': 'roundrobin'}
    write_config(cf, dict(base, **{'host-timeout': '60s'}))
    hd = ah.harmonyd('-c', cf)
    api = ah.Api(hd.http_port)
    ta = api.register(a.port)
    tb = api.register(b.port, ttl='600s')
    h.check(names(hd.port) == {'A': 10, 'B': 10}, 'both targets serve')

    reload(hd, cf, dict(base, **{'host-timeout': '1s'}))

    def state(tid):
        return api.target(tid).get('state')
    h.check(h.wait_until(lambda: state(ta['id']) == 'down', 10),
            'the target without a TTL of its own goes down after the reload to '
            '--host-timeout 1s: %r' % api.target(ta['id']))
    h.check(api.target(ta['id']).get('timeout_ms') == 1000,
            'its heartbeat timeout is the new default: %r' % api.target(ta['id']))
    h.check(state(tb['id']) == 'up' and api.target(tb['id']).get('timeout_ms') == 600000,
            'the target with its own TTL keeps it: %r' % api.target(tb['id']))
    h.check(names(hd.port) == {'B': 20}, 'traffic goes to the target still up')
    hd.stop()


def restored_host_timeout():
    """Restored from --state-file, a target on the default still follows it."""
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    cf = os.path.join(h.tmpdir(), 'restored.json')
    sf = os.path.join(h.tmpdir(), 'restored.state')
    base = {'persistent': False, 'balance': 'roundrobin', 'state-file': sf}
    write_config(cf, dict(base, **{'host-timeout': '60s'}))
    hd = ah.harmonyd('-c', cf)
    api = ah.Api(hd.http_port)
    ta = api.register(a.port)
    tb = api.register(b.port, ttl='600s')
    hd.stop()

    hd = ah.harmonyd('-c', cf)
    api = ah.Api(hd.http_port)
    h.check(api.target(ta['id']).get('timeout_ms') == 60000 and
            api.target(tb['id']).get('timeout_ms') == 600000,
            'both targets restored with their timeouts: %r' % api.targets())
    reload(hd, cf, dict(base, **{'host-timeout': '1s'}))
    h.check(h.wait_until(lambda: api.target(ta['id']).get('state') == 'down', 10),
            'a restored target without a TTL of its own follows the reload to '
            '--host-timeout 1s: %r' % api.target(ta['id']))
    h.check(api.target(tb['id']).get('timeout_ms') == 600000,
            'the restored target with its own TTL keeps it: %r' % api.target(tb['id']))
    hd.stop()


def idle_timeout():
    echo = h.Backend('echo')
    cf = os.path.join(h.tmpdir(), 'idle.json')
    base = {'target': [echo.target()], 'persistent': False}
    write_config(cf, dict(base, **{'idle-timeout': 0}))
    hd = h.Harmonyd('-c', cf, access_log=True)

    # 0 -> 2s: a silent session from before the reload is closed, a busy one not.
    s1 = open_silent(hd.port)
    reload(hd, cf, dict(base, **{'idle-timeout': '2s'}))
    t_busy = h.Task(busy, hd.port, 5.0)
    closed, data, how = closed_within(s1, 15)
    h.check(closed, 'a silent session from before the reload to --idle-timeout '
            '2s is still open after 15 s')
    h.check(t_busy.join(30) > 5, 'the busy session lived on')
    lines = hd.wait_access(2)
    h.check(sorted(e.get('end') for e in lines) == ['done', 'idle-timeout'],
            'one session ended by idle-timeout, the busy one done: %r' % lines)

    # 3s -> 0: a session armed with 3 s lives on past it.
    reload(hd, cf, dict(base, **{'idle-timeout': '3s'}))
    s2 = open_silent(hd.port)
    reload(hd, cf, dict(base, **{'idle-timeout': 0}))
    time.sleep(5)
    h.check(still_open(s2), 'after the reload to --idle-timeout 0 a silent session '
            'is not closed')

    # 60s -> 1s: the shorter timeout applies to a session already running.
    reload(hd, cf, dict(base, **{'idle-timeout': '60s'}))
    s3 = open_silent(hd.port)
    reload(hd, cf, dict(base, **{'idle-timeout': '1s'}))
    closed, data, how = closed_within(s3, 15)
    h.check(closed, 'after the reload from --idle-timeout 60s to 1s a silent '
            'session is still open after 15 s')
    lines = hd.wait_access(4)
    h.check([e.get('end') for e in lines].count('idle-timeout') == 2,
            'two sessions ended by idle-timeout: %r' % lines)
    hd.stop()


def main():
    host_timeout()
    restored_host_timeout()
    idle_timeout()


h.run(main)
