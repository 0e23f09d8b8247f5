"""Issue 13 item 9: a SIGHUP never waits for DNS in the loop.

harmonyd runs with tests/lib/slowdns.c preloaded: getaddrinfo answers the names
the test lists in a file, each after a delay the test sets. A reload to a
static target whose name takes 6 s to resolve must not stall anything:
sessions keep being served promptly by the running configuration while the
name resolves, and the new configuration applies once the answer comes. A
name that takes longer than the 10 s deadline fails the reload with a clear
line (the running configuration stays, the resolver process is gone); a
name that does not resolve fails it too; SIGHUPs during a reload are
coalesced into one more reload after it; SIGTERM during one exits cleanly."""

import json
import os
import signal
import time

import harness as h

SLOW_MS = 6000
PROMPT = 2.5        # s; a loop blocked in getaddrinfo takes SLOW_MS


def write_config(path, obj):
    with open(path, 'w') as f:
        f.write(json.dumps(obj) + '\n')


def write_dns(path, entries):
    with open(path + '.tmp', 'w') as f:
        for name, addr, delay in entries:
            f.write('%s %s %d\n' % (name, addr, delay))
    os.rename(path + '.tmp', path)


def timed_name(port):
    t0 = time.monotonic()
    name = h.name_of(port, timeout=30)
    return name, time.monotonic() - t0


def served_promptly(hd, expect, seconds):
    """Sessions for `seconds`: each served by `expect` within PROMPT s."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        name, took = timed_name(hd.port)
        h.check(took < PROMPT, 'a session took %.1f s while a reload resolved a '
                'slow name: the loop waited for DNS' % took)
        h.check(name == expect, 'served by %s, expected %s (the running '
                'configuration) while the reload resolves' % (name, expect))
        n += 1
        time.sleep(0.2)
    return n


def reloads(hd):
    return hd.log_text().count('SIGHUP: configuration reloaded')


def main():
    lib = os.environ.get('HARMONY_SLOWDNS', '')
    if not lib or not os.path.exists(lib):
        h.skip('tests/lib/.libs/libslowdns.so is not built (HARMONY_SLOWDNS=%r)' % lib)
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    dns = os.path.join(h.tmpdir(), 'dns')
    cf = os.path.join(h.tmpdir(), 'harmonyd.json')
    write_dns(dns, [('a.harmony.test', '127.0.0.1', 0),
                    ('b.harmony.test', '127.0.0.1', 0)])
    write_config(cf, {'target': ['a.harmony.test:%d' % a.port], 'persistent': False})
    env = dict(os.environ, LD_PRELOAD=lib, HARMONY_SLOWDNS_FILE=dns,
               ASAN_OPTIONS=(os.environ.get('ASAN_OPTIONS', '') +
                             ':verify_asan_link_order=0').lstrip(':'))
    hd = h.Harmonyd('-c', cf, env=env)
    h.check(h.name_of(hd.port) == 'A', 'start-up resolved a.harmony.test (A)')

    # A reload whose only name is slow: traffic flows, then it applies.
    write_dns(dns, [('a.harmony.test', '127.0.0.1', 0),
                    ('b.harmony.test', '127.0.0.1', SLOW_MS)])
    write_config(cf, {'target': ['b.harmony.test:%d' % b.port], 'persistent': False})
    t0 = time.monotonic()
    os.kill(hd.pid, signal.SIGHUP)
    n = served_promptly(hd, 'A', SLOW_MS / 1000.0 - 2.0)
    if time.monotonic() - t0 < SLOW_MS / 1000.0 - 0.5:
        h.check(reloads(hd) == 0, 'the reload waited for its name')
    h.check(hd.wait_log(r'SIGHUP: configuration reloaded', 30) is not None,
            'the reload applies once the name resolved')
    took = time.monotonic() - t0
    h.log('%d sessions served promptly while b.harmony.test resolved; the reload '
          'applied after %.1f s' % (n, took))
    h.check(h.wait_until(lambda: h.name_of(hd.port) == 'B', 10),
            'the new static target (B) serves after the reload')

    # Longer than the deadline: the reload fails, the running config stays.
    write_dns(dns, [('a.harmony.test', '127.0.0.1', 60000)])
    write_config(cf, {'target': ['a.harmony.test:%d' % a.port], 'persistent': False})
    t0 = time.monotonic()
    os.kill(hd.pid, signal.SIGHUP)
    served_promptly(hd, 'B', 3.0)
    h.check(hd.wait_log(r'error: SIGHUP: .*a\.harmony\.test.* longer than 10 s.*'
                        r'keeping the running configuration', 30) is not None,
            'a resolver slower than the deadline fails the reload, with a line')
    took = time.monotonic() - t0
    h.check(took >= 9, 'the deadline is 10 s, the reload failed after %.1f s' % took)
    h.check(reloads(hd) == 1, 'the timed-out reload did not apply')
    h.check(h.name_of(hd.port) == 'B', 'the running configuration still serves')
    h.check(h.wait_until(lambda: h.children(hd.pid) == [], 10),
            'the resolver process is gone after the deadline: %r' % h.children(hd.pid))

    # A name that does not resolve fails the reload at once.
    write_dns(dns, [('a.harmony.test', 'fail', 0)])
    os.kill(hd.pid, signal.SIGHUP)
    h.check(hd.wait_log(r'SIGHUP: .*a\.harmony\.test.*cannot resolve.*keeping the '
                        r'running configuration', 15) is not None,
            'an unresolvable name fails the reload')
    h.check(h.name_of(hd.port) == 'B', 'the running configuration still serves')

    # SIGHUPs during a reload: one more reload after it, not one each.
    write_dns(dns, [('a.harmony.test', '127.0.0.1', 2000)])
    resolving = hd.log_text().count('SIGHUP: resolving 1 name')
    os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: hd.log_text().count('SIGHUP: resolving 1 name')
                         > resolving, 10), 'the reload resolves its name')
    for _ in range(3):
        time.sleep(0.2)
        os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: reloads(hd) == 3, 30),
            'two reloads apply (the one running, then one for the SIGHUPs during '
            'it), %d did' % (reloads(hd) - 1))
    time.sleep(3)
    h.check(reloads(hd) == 3, 'the SIGHUPs during a reload were coalesced: '
            '%d reloads' % (reloads(hd) - 1))
    h.check(h.name_of(hd.port) == 'A', 'the last reload applied (A)')
    h.check(h.wait_until(lambda: h.children(hd.pid) == [], 10),
            'no resolver process is left: %r' % h.children(hd.pid))

    # SIGTERM while a reload resolves: a clean exit, the resolver killed.
    write_dns(dns, [('a.harmony.test', '127.0.0.1', 60000)])
    resolving = hd.log_text().count('SIGHUP: resolving 1 name')
    os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: hd.log_text().count('SIGHUP: resolving 1 name')
                         > resolving, 10), 'the reload resolves its name')
    kids = h.wait_until(lambda: h.children(hd.pid), 5)
    h.check(len(kids) == 1, 'one resolver process: %r' % kids)
    hd.stop()
    h.check(h.wait_until(lambda: not os.path.exists('/proc/%d' % kids[0]), 10),
            'the resolver process ended with the daemon')


h.run(main)
