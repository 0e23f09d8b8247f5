#!/usr/bin/env python3
"""Issue 13 (docs and first use): node-harmony's client heartbeats every
5 minutes by default, harmonyd's host timeout is 1 minute, so such a
target is down 4 minutes in 5. harmonyd now says so, once per target, when
heartbeats come further apart than the target's timeout."""

import time

import harness as h
from ackclient import RefClient


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--host-timeout', '1s')
    slow = RefClient(hd.ack_port, a.port)
    fast = RefClient(hd.ack_port, b.port)
    slow.register()
    fast.register()
    for i in range(4):
        for _ in range(8):
            time.sleep(0.3)
            fast.heartbeat()
        slow.heartbeat()            # every ~2.5 s, with a 1 s timeout
    log = hd.log_text()
    name = '127.0.0.1:%d' % a.port
    lines = [l for l in log.splitlines() if 'heartbeat' in l and 'timeout' in l]
    h.check(len(lines) == 1 and name in lines[0],
            'one warning for %s, got %r\n%s' % (name, lines, log))
    h.check('127.0.0.1:%d' % b.port not in lines[0], 'no warning for the fast one')
    hd.stop()


h.run(main)
