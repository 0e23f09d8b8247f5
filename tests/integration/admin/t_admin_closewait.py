#!/usr/bin/env python3
"""Admin connections whose peer has closed are released at once. A client
that sends part of a request (or a whole one, keeping the connection) and
closes leaves a socket in CLOSE-WAIT that libmicrohttpd, in edge-triggered
epoll mode after a short read, never reads again: 600 such clients held 64
fds (the per-address limit, refusing everything else from that address)
for the 15 s idle timeout. They must be gone within a second or so (3 s
allowed here), with no CLOSE-WAIT socket left on the admin port."""

import socket
import time

import harness as h
from adminhttp import Api, harmonyd

CLIENTS = 600
KINDS = [
    b'garbage\r\n',
    b'GET / HTTP/1.1\r\n',
    b'GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n',
    b'POST /api/v1/targets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: '
    b'application/json\r\nContent-Length: 100\r\n\r\n{"po',
    b'GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
]


def close_wait(port):
    """Sockets in CLOSE-WAIT (state 08) whose local port is port."""
    n = 0
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == '08' and int(parts[1].rsplit(':', 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def main():
    hd = harmonyd()
    api = Api(hd.http_port)
    api.status()
    fds0 = hd.fd_count()
    for i in range(CLIENTS):
        s = socket.create_connection(('127.0.0.1', hd.http_port), timeout=10)
        s.sendall(KINDS[i % len(KINDS)])
        s.close()
    t0 = time.monotonic()
    released = h.wait_until(lambda: hd.fd_count() <= fds0 and
                            close_wait(hd.http_port) == 0, 3, 0.05)
    h.log('%d fds more and %d CLOSE-WAIT right after; released after %.2f s'
          % (hd.fd_count() - fds0, close_wait(hd.http_port), time.monotonic() - t0))
    h.check(released, '%d fds more than before and %d sockets in CLOSE-WAIT 3 s '
            'after the clients closed' % (hd.fd_count() - fds0, close_wait(hd.http_port)))
    # The address those clients came from is served again at once.
    h.check(api.status()['targets']['total'] == 0, 'status after the clients')

    # Event streams whose clients go: their connections are suspended
    # between events, so nothing but a check of ours sees the FIN.
    fds0 = hd.fd_count()
    subs = []
    for _ in range(20):
        s = socket.create_connection(('127.0.0.1', hd.http_port), timeout=10)
        s.sendall(b'GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        subs.append(s)
    for s in subs:
        got = b''
        while b'event: snapshot' not in got:
            b = s.recv(65536)
            h.check(b != b'', 'an event stream ended before its snapshot: %r' % got)
            got += b
    h.check(h.wait_until(lambda: hd.fd_count() >= fds0 + 20, 5), 'subscribers counted')
    for s in subs:
        s.close()
    t0 = time.monotonic()
    released = h.wait_until(lambda: hd.fd_count() <= fds0 and
                            close_wait(hd.http_port) == 0, 3, 0.05)
    h.log('event streams released after %.2f s' % (time.monotonic() - t0))
    h.check(released, '%d fds more and %d in CLOSE-WAIT 3 s after 20 event '
            'streams closed' % (hd.fd_count() - fds0, close_wait(hd.http_port)))
    hd.stop()


h.run(main)
