#!/usr/bin/env python3
"""Issue 13 item 14: a token rotated by SIGHUP is revoked on the ack
connections that authenticated with the old one (they used to keep writing
with it); new connections need the new token."""

import os
import signal
import time

import harness as h
from ackclient import tokens


def answers(s, n, timeout=10.0):
    buf, deadline = b'', time.monotonic() + timeout
    s.settimeout(timeout)
    while len(tokens(buf)) < n and time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return tokens(buf)


def main():
    a = h.Backend('name', name='A')
    tokfile = h.write_file('token', b'old-token-1\n')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--token-file', tokfile)
    s = h.connect(hd.ack_port)
    s.sendall(b'AUTH:old-token-1:NID::')
    got = answers(s, 2)
    h.check([v for v, _ in got] == ['AUTH', 'NID'], 'old token works: %r' % got)

    h.write_file('token', b'new-token-2\n')
    os.kill(hd.pid, signal.SIGHUP)
    h.check(hd.wait_log(r'SIGHUP: configuration reloaded', 10) is not None,
            'no reload line')

    # The connection authenticated with the old token may no longer write.
    s.sendall(b'NID::')
    got = answers(s, 1)
    h.check(got == [('ERR', 'auth')], 'old-token connection still writes: %r' % got)
    s.close()
    with h.connect(hd.ack_port) as s2:
        s2.sendall(b'AUTH:old-token-1:NID::')
        got = answers(s2, 1)
    h.check(got == [('ERR', 'auth')], 'the old token on a new connection: %r' % got)
    with h.connect(hd.ack_port) as s3:
        s3.sendall(b'AUTH:new-token-2:NID::SPORT:%d:BYE:' % a.port)
        got = answers(s3, 3)
    h.check([v for v, _ in got] == ['AUTH', 'NID', 'SPORT'], 'new token: %r' % got)
    hd.stop()


h.run(main)
