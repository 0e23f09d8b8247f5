#!/usr/bin/env python3
"""Slowloris against the admin interface: 200 connections that send half a
request and stall (from 10 loopback addresses, under the per-address
limit) stop neither curl from registering a target nor clients from being
proxied; one address cannot take more than its share; and the stalled
connections are closed by the idle timeout (15 s).

Then the trickle: 512 connections (every slot: 8 addresses x 64) that send
one more header line every 5 s, so that no inactivity timeout ever fires.
A request must arrive whole within 15 s, whatever trickles: each is closed
by then (25 s allowed), and a normal client is answered throughout (a new
connection takes the place of the oldest half-received request)."""

import socket
import threading
import time

import harness as h
from adminhttp import Api, harmonyd

STALLED = 200
SOURCES = ['127.0.0.%d' % i for i in range(2, 12)]     # 20 each: limit is 64
PER_IP = 64
IDLE_S = 15
TRICKLE_SOURCES = ['127.0.0.%d' % i for i in range(2, 10)]
TRICKLE_EACH = 64
TRICKLE_EVERY_S = 5
DEADLINE_S = 15


def open_stalled(port, source, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.bind((source, 0))
        s.connect(('127.0.0.1', port))
        s.sendall(b'POST /api/v1/targets HTTP/1.1\r\nHost: x\r\nContent-Le')
        socks.append(s)
    return socks


def closed_by_server(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(4096) == b''
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = harmonyd('--no-persistent')
    api = Api(hd.http_port)
    api.register(a.port)
    # curl's connection, closed by curl, goes within a sweep: not counted.
    fds0 = hd.fd_count()
    h.wait_until(lambda: hd.fd_count() < fds0, 2)
    fds0 = hd.fd_count()

    stalled = []
    try:
        for src in SOURCES:
            stalled += open_stalled(hd.http_port, src, STALLED // len(SOURCES))
        t0 = time.monotonic()
        h.check(h.wait_until(lambda: hd.fd_count() >= fds0 + STALLED, 10),
                'the daemon holds %d fds, expected %d more' % (hd.fd_count(), STALLED))

        # The API and the proxy still work, at once.
        tb = api.register(b.port)
        h.check(tb['port'] == b.port, 'registration during the attack: %r' % tb)
        names = {h.name_of(hd.port) for _ in range(10)}
        h.check(names == {'A', 'B'}, 'clients during the attack reached %r' % names)
        h.check(time.monotonic() - t0 < 10, 'serving during the attack took %.1f s'
                % (time.monotonic() - t0))

        # One address cannot take more than its share.
        extra = []
        try:
            for _ in range(PER_IP + 6):
                s = socket.create_connection(('127.0.0.1', hd.http_port), timeout=10,
                                             source_address=('127.0.0.99', 0))
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
                extra.append(s)
            refused = sum(closed_by_server(s, 3) for s in extra[PER_IP:])
            h.check(refused == 6, '%d of the connections beyond the per-address limit '
                    'were closed, expected 6' % refused)
        finally:
            for s in extra:
                s.close()
        h.check(api.status()['targets']['total'] == 2, 'status after the flood')

        # The stalled ones are closed by the idle timeout.
        left = IDLE_S + 10 - (time.monotonic() - t0)
        closed = sum(closed_by_server(s, max(left, 1)) for s in stalled[:20])
        h.check(closed == 20, 'only %d of 20 stalled connections were closed within '
                '%d s' % (closed, IDLE_S + 10))
    finally:
        for s in stalled:
            s.close()
    h.check(h.wait_until(lambda: hd.fd_count() <= fds0 + 2, 30),
            'fds after the attack: %d, before %d' % (hd.fd_count(), fds0))
    trickle(hd, api, fds0)
    hd.stop()


class Trickler:
    """One connection sending a header line every TRICKLE_EVERY_S seconds;
    closed_after is how long the server took to close it (None: open)."""

    def __init__(self, port, source):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.bind((source, 0))
        self.s.connect(('127.0.0.1', port))
        self.t0 = time.monotonic()
        self.s.sendall(b'GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n')
        self.s.setblocking(False)
        self.closed_after = None
        self.lines = 0

    def poke(self):
        """One more line; notes a close by the server."""
        if self.closed_after is not None:
            return
        try:
            if self.s.recv(4096) == b'':
                self.closed_after = time.monotonic() - self.t0
                return
        except BlockingIOError:
            pass
        except OSError:
            self.closed_after = time.monotonic() - self.t0
            return
        try:
            self.s.send(b'X-Trickle-%d: a\r\n' % self.lines)
            self.lines += 1
        except OSError:
            self.closed_after = time.monotonic() - self.t0


def trickle(hd, api, fds0):
    conns = []
    for src in TRICKLE_SOURCES:
        conns += [Trickler(hd.http_port, src) for _ in range(TRICKLE_EACH)]
    h.log('%d trickling connections open' % len(conns))
    stop = threading.Event()

    def pump():
        while not stop.wait(TRICKLE_EVERY_S):
            for c in conns:
                c.poke()
    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    try:
        # A normal client is served while every slot trickles.
        for i in range(4):
            t = time.monotonic()
            r = api.get('/api/v1/status', timeout=10)
            h.check(r.status == 200, 'request %d during the trickle: %d %s'
                    % (i, r.status, r.text[:200]))
            h.log('answered during the trickle in %.2f s' % (time.monotonic() - t))
            time.sleep(2)
        # Every trickling request is cut at its deadline, not kept alive.
        limit = DEADLINE_S + 10
        h.wait_until(lambda: all(c.closed_after is not None for c in conns),
                     limit + 5, 0.5)
        for c in conns:
            c.poke()
        still = [c for c in conns if c.closed_after is None]
        late = [c.closed_after for c in conns if c.closed_after is not None and
                c.closed_after > limit]
        h.log('closed after %.1f .. %.1f s' % (
            min(c.closed_after or 99 for c in conns),
            max(c.closed_after or 0 for c in conns)))
        h.check(not still, '%d of %d trickling connections still open after %d s '
                '(they sent %d lines)' % (len(still), len(conns), limit + 5,
                                          still[0].lines if still else 0))
        h.check(not late, '%d trickling connections were closed only after %.1f s'
                % (len(late), max(late) if late else 0))
    finally:
        stop.set()
        pumper.join(15)
        for c in conns:
            c.s.close()
    h.check(h.wait_until(lambda: hd.fd_count() <= fds0 + 2, 30),
            'fds after the trickle: %d, before %d' % (hd.fd_count(), fds0))


h.run(main)
