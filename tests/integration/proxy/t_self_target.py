#!/usr/bin/env python3
"""Issue 13 item 6: harmonyd refuses to take one of its own listeners as a
target (a client there would come back in, again and again: one connection
became 1003 sessions). Over HTTP (409, JSON error), over the ack port
(`ERR:self:`, no token needed from loopback), as a static target (a start-up
error naming it; on SIGHUP, a log line naming it), and for every address a
wildcard listener covers."""

import json
import os
import signal
import socket

import harness as h
from ackclient import RefClient, tokens
from adminhttp import Api, harmonyd

TOKEN = 'self-test-token'


def exchange(port, data):
    with h.connect(port) as s:
        s.sendall(data)
        return tokens(h.recv_all(s, timeout=15))


def main():
    a = h.Backend('name', name='A')
    hd = harmonyd('--ack-port', '127.0.0.1:0')
    api = Api(hd.http_port)
    for port, what in ((hd.port, 'client'), (hd.ack_port, 'ack'),
                       (hd.http_port, 'http')):
        r = api.post('/api/v1/targets', {'port': port})
        h.check(r.status == 409, 'HTTP: %s listener %d as a target: %d %s'
                % (what, port, r.status, r.text[:200]))
        h.check('own' in r.json().get('error', ''), 'a clear error: %r' % r.text)
        got = exchange(hd.ack_port, b'NID::SPORT:%d:BYE:' % port)
        h.check([v for v, _ in got] == ['NID', 'ERR'] and got[1][1] == 'self',
                'ack: %s listener %d as a target: %r' % (what, port, got))
    h.check(api.targets() == [], 'nothing registered: %r' % api.targets())
    # Still fine for a real backend.
    c = RefClient(hd.ack_port, a.port)
    c.register()
    with h.connect(hd.port) as s:
        h.check(h.recv_line(s) == b'A\n', 'a real target serves')
    h.check('own client listener' in hd.log_text(), 'the refusal is logged')
    hd.stop()

    # A wildcard listener covers every local address: 127.0.0.0/8 too.
    hd = harmonyd('--listen', '0.0.0.0:0', '--token', TOKEN)
    api = Api(hd.http_port, token=TOKEN)
    for host in ('127.0.0.1', '127.0.0.3', '0.0.0.0', '::ffff:127.0.0.2'):
        r = api.post('/api/v1/targets', {'port': hd.port, 'host': host})
        # 0.0.0.0 is no target's address at all (422).
        h.check(r.status == 409 or (host == '0.0.0.0' and r.status == 422),
                'HTTP: %s:%d under 0.0.0.0:%d: %d %s'
                % (host, hd.port, hd.port, r.status, r.text[:200]))
    hd.stop()
    if socket.has_ipv6:
        try:
            hd = harmonyd('--listen', '[::]:0', '--token', TOKEN)
        except h.Failure:
            hd = None
        if hd is not None:
            api = Api(hd.http_port, token=TOKEN)
            r = api.post('/api/v1/targets', {'port': hd.port, 'host': '::1'})
            h.check(r.status == 409, 'HTTP: [::1]:%d under [::]: %d %s'
                    % (hd.port, r.status, r.text[:200]))
            hd.stop()

    # A reload that makes our own listener a static target: refused, named.
    cf = os.path.join(h.tmpdir(), 'self.json')
    with open(cf, 'w') as f:
        json.dump({'target': [a.target()], 'persistent': False}, f)
    hd = harmonyd('-c', cf)
    api = Api(hd.http_port)
    with open(cf, 'w') as f:
        json.dump({'target': [a.target(), '127.0.0.1:%d' % hd.port],
                   'persistent': False}, f)
    os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: 'configuration reloaded' in hd.log_text(), 15),
            'the reload applied:\n' + hd.log_text())
    h.check(any(('127.0.0.1:%d' % hd.port) in l and 'own client listener' in l
                for l in hd.log_text().splitlines()),
            'the reload names the refused target:\n' + hd.log_text())
    h.check([t['port'] for t in api.targets()] == [a.port],
            'only the real target is in the pool: %r' % api.targets())
    with h.connect(hd.port) as s:
        h.check(h.recv_line(s) == b'A\n', 'traffic still flows')
    hd.stop()

    # A static target on our own listener: refused at start, named.
    port = a.port
    a.stop()
    rc, _, err = h.run_harmonyd('--listen', '127.0.0.1:%d' % port, '--ack-port',
                                '0', '--http', '0', '--target', '127.0.0.1:%d' % port)
    h.check(rc != 0, 'started with itself as a target')
    h.check('127.0.0.1:%d' % port in err and 'own' in err,
            'the start-up error names the target: %r' % err)


h.run(main)
