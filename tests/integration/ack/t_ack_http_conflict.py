#!/usr/bin/env python3
"""Issue 13 item 19 (ack part): an ack `SPORT` for a host:port that is
registered over HTTP, and alive, is refused with `ERR:exists:` and logged;
the HTTP target and its key stay. (It used to replace that target silently,
its key then answering BID.) A re-registration over the ack port of a
host:port the ack port holds still replaces the old one, and says so."""

import harness as h
from ackclient import RefClient, tokens
from adminhttp import Api, harmonyd


def main():
    a = h.Backend('name', name='A')
    hd = harmonyd('--ack-port', '127.0.0.1:0')
    api = Api(hd.http_port)
    t = api.register(a.port, weight=700)
    c = RefClient(hd.ack_port, a.port, 300)
    got = c._exchange([b'NID::', b'BAL:300:', b'SPORT:%d:' % a.port])
    h.check([v for v, _ in got] == ['NID', 'BAL', 'ERR'] and got[2][1] == 'exists',
            'SPORT over an HTTP target: %r' % got)
    c.key = got[0][1]
    ts = api.targets()
    h.check(len(ts) == 1 and ts[0]['id'] == t['id'] and ts[0]['weight'] == 700,
            'the HTTP target stays, alone: %r' % ts)
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % t['id'], token=t['key'])
    h.check(c.heartbeat()[0][0] == 'BID', 'the refused registration is gone')
    log = hd.log_text()
    h.check('127.0.0.1:%d' % a.port in log and 'registered over HTTP' in log,
            'the refusal is logged:\n%s' % log)

    # Ack over ack: the newer registration wins (a restarted client), logged.
    b = h.Backend('name', name='B')
    c1 = RefClient(hd.ack_port, b.port)
    c1.register()
    c2 = RefClient(hd.ack_port, b.port)
    c2.register()
    ports = sorted(x['port'] for x in api.targets())
    h.check(ports == sorted([a.port, b.port]), 'one target per address: %r' % ports)
    h.check(c2.heartbeat() == [('ACK', c2.key), ('ID', c2.key)], 'the newer key works')
    h.check(hd.wait_log(r'replaces target', 5) is not None, 'the replacement is logged')
    hd.stop()


h.run(main)
