#!/usr/bin/env python3
"""Slowloris against the admin interface: 200 connections that send half a
request and stall (from 10 loopback addresses, under the per-address
limit) stop neither curl from registering a target nor clients from being
proxied; one address cannot take more than its share; and the stalled
connections are closed by the idle timeout (15 s)."""

import socket
import time

import harness as h
from adminhttp import Api, harmonyd

STALLED = 200
SOURCES = ['127.0.0.%d' % i for i in range(2, 12)]     # 20 each: limit is 64
PER_IP = 64
IDLE_S = 15


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
    hd.stop()


h.run(main)
