#!/usr/bin/env python3
"""t_check_fall: a static target that dies is found by its tcp check.

Two static targets, roundrobin, --requeue 0 (a client sent to a dead target
sees the failure), tcp checks every 200 ms, fall 2, rise 2. Target A's
backend is killed: within the fall window (fall x interval, plus jitter and
timeout) its check is failing and it is down, with the reason; from then on
no client sees a failure: every one reaches B. A backend comes back on A's
port: after rise passed checks A passes, is static (up) again and gets
clients again. The log says both verdicts.
"""

import time

import harness as h
import relcheck as rc


def target(hd, port):
    by_port = {t['port']: t for t in
               rc.get_json(hd.http_port, '/api/v1/targets')['targets']}
    return by_port[port]


def served(port, n):
    names = []
    for _ in range(n):
        with h.connect(port, timeout=10) as s:
            try:
                names.append(h.recv_line(s, timeout=5).decode().strip()
                             or 'FAILED: EOF')
            except Exception as e:          # a refused connect, seen as EOF
                names.append('FAILED: %r' % e)
    return names


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    aport = a.port
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', a.target(),
                    '--target', b.target(), '--balance', 'roundrobin',
                    '--no-persistent', '--requeue', '0', '--check', 'tcp',
                    '--check-interval', '200ms', '--check-timeout', '150ms',
                    '--check-fall', '2', '--check-rise', '2')
    h.check(h.wait_until(lambda: target(hd, aport)['check'] is not None and
                         target(hd, aport)['check']['status'] == 'passing', 5),
            'A never passed its first check: %r' % target(hd, aport))
    t = target(hd, aport)
    h.check(t['check']['rise'] == 2 and t['check']['fall'] == 2, repr(t))
    h.check(sorted(set(served(hd.port, 4))) == ['A', 'B'], 'both serve at first')

    a.kill()
    killed = time.monotonic()
    # fall 2 x 200 ms (+ a tenth of jitter each) and the probes' own time.
    h.check(h.wait_until(lambda: target(hd, aport)['state'] == 'down', 3),
            'A not down after its checks failed: %r' % target(hd, aport))
    took = time.monotonic() - killed
    h.log('A down %.2f s after it died' % took)
    h.check(took < 1.5, 'A down only after %.2f s (fall 2 x 200 ms)' % took)
    t = target(hd, aport)
    h.check(t['check']['status'] == 'failing', repr(t))
    h.check('connection refused' in (t['check']['reason'] or ''), repr(t))
    h.check(t['check']['failures'] >= 2, repr(t))
    got = served(hd.port, 30)
    h.check(got == ['B'] * 30, 'after the fall window a client failed: %r' % got)
    h.check(hd.wait_log(r'default/\d+ 127\.0\.0\.1:%d: check failed \(Layer4'
                        r' connection problem: connection refused\)' % aport, 2),
            'no "check failed" line')

    a2 = h.Backend('name', name='A2', listen='127.0.0.1:%d' % aport)
    h.check(h.wait_until(lambda: target(hd, aport)['state'] == 'static', 3),
            'A not back after rise passes: %r' % target(hd, aport))
    t = target(hd, aport)
    h.check(t['check']['status'] == 'passing' and t['check']['successes'] >= 2,
            repr(t))
    h.check(t['check']['latency_ms'] is not None and t['check']['latency_ms'] >= 0,
            repr(t))
    h.check('A2' in served(hd.port, 6), 'A gets no clients once back')
    h.check(hd.wait_log(r'127\.0\.0\.1:%d: check passed' % aport, 2),
            'no "check passed" line')
    hd.stop()
    a2.stop()
    b.stop()


if __name__ == '__main__':
    h.run(main)
