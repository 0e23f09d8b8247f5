#!/usr/bin/env python3
"""The event stream with many targets: at 5000 targets a snapshot is some
1.5 MB, more than a subscriber's old 1 MiB queue, and was dropped every
time, so the stream carried only pings. Every subscriber must get the
current snapshot, and the newest one after a change, however large; with
subscribers that read nothing at all, memory stays bounded (a stalled
subscriber holds one snapshot, shared, not a queue of them) and the others
are still served."""

import http.client
import json
import socket
import time

import harness as h
import relcheck as rc
from adminhttp import Api, Events, harmonyd

TARGETS = 5000
STALLED = 20


def register_many(port, n):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    for i in range(n):
        c.request('POST', '/api/v1/targets', json.dumps({'port': 10000 + i, 'ttl': '24h'}),
                  {'Content-Type': 'application/json'})
        r = c.getresponse()
        r.read()
        h.check(r.status == 201, 'registration %d: %d' % (i, r.status))
    c.close()


def stalled_subscriber(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(('127.0.0.1', port))
    s.sendall(b'GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    return s


def main():
    # A 1 MiB ASan quarantine: freed snapshots must not count (t_slowreader).
    hd = harmonyd(env=rc.small_quarantine_env())
    api = Api(hd.http_port)
    t0 = time.monotonic()
    register_many(hd.http_port, TARGETS)
    h.log('%d targets registered in %.1f s' % (TARGETS, time.monotonic() - t0))

    ev = Events(api)
    snap = ev.wait(lambda s: len(s['targets']) == TARGETS, 30)
    h.check(snap is not None, 'no snapshot with %d targets within 30 s; events: %r'
            % (TARGETS, [(e, len(d)) for e, d in ev.events()][:10]))
    h.log('a snapshot of %d bytes' % len(json.dumps(snap)))

    # Subscribers that never read, while the registry keeps changing.
    rss0 = hd.rss_kb()
    stalled = [stalled_subscriber(hd.http_port) for _ in range(STALLED)]
    try:
        for i in range(8):
            api.register(20000 + i, ttl='24h')
            time.sleep(0.4)
        snap = ev.wait(lambda s: len(s['targets']) == TARGETS + 8, 30)
        h.check(snap is not None, 'the newest snapshot (%d targets) did not come'
                % (TARGETS + 8))
        fresh = Events(api)
        h.check(fresh.wait(lambda s: len(s['targets']) == TARGETS + 8, 30) is not None,
                'a new subscriber did not get the current snapshot')
        fresh.close()
        grown = hd.rss_kb() - rss0
        h.log('RSS grew by %d KiB with %d stalled subscribers' % (grown, STALLED))
        # One snapshot in flight each at most (some 1.5 MB), not a queue.
        h.check(grown < (STALLED + 2) * 4 * 1024, 'RSS grew by %d KiB' % grown)
        h.check(api.status()['targets']['total'] == TARGETS + 8, 'status still served')
    finally:
        for s in stalled:
            s.close()
    ev.close()
    hd.stop()


h.run(main)
