#!/usr/bin/env python3
"""Issue 13 item 16: node-harmony clients must not multiply after a restart
without --state-file or after a removal.

The original client (tests/lib/ackclient.py NodeClient, lib/client.js's message
queue as it is) answers a BID with a bare `NID::` on its next connection and
keeps resending the message that got the BID. Against a harmonyd that does
not know its key it used to add port-less targets on every heartbeat, list
them `up` and count them in "Targets up". Now:
- a port-less target is `portless`, never `up`, and not counted as up in
  /api/v1/status, /metrics or the dashboard;
- the re-registrations of a host reuse its one port-less target;
- the log says once what to do, and the target's `note` says it too;
- DELETE (the dashboard's Remove) of a target whose client keeps
  heartbeating stays removed: its key is answered, nothing comes back;
- a host with several ported targets (several clients) still works.
"""

import harness as h
from ackclient import NodeClient, RefClient
from adminhttp import Api, harmonyd, parse_metrics


def up_metric(api):
    m = parse_metrics(api.expect(200, 'GET', '/metrics').text)
    return m.get(('harmony_targets', '{state="up"}'))


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    args = ('--ack-port', '127.0.0.1:0', '--host-timeout', '30s', '--no-persistent')
    hd1 = harmonyd(*args)
    c1 = NodeClient(hd1.ack_port, a.port)
    c2 = NodeClient(hd1.ack_port, b.port)
    c1.start()
    c2.start()
    api1 = Api(hd1.http_port)
    t1 = api1.targets()
    h.check(sorted(t['port'] for t in t1) == sorted([a.port, b.port]) and
            all(t['state'] == 'up' for t in t1), 'registered: %r' % t1)
    c1.heartbeat()
    h.check(not c1.open, 'a heartbeat of a known key ends with BYE:')
    hd1.stop()
    c1.shutdown()
    c2.shutdown()

    # A restart without --state-file: a new harmonyd that knows no key.
    hd2 = harmonyd(*args)
    api = Api(hd2.http_port)
    c1.ack_port = c2.ack_port = hd2.ack_port
    for i in range(10):
        c1.heartbeat()
        c2.heartbeat()
        n = len(api.targets())
        h.check(n <= 1, 'heartbeat %d: %d targets from two re-registering '
                'clients on one host' % (i + 1, n))
    ts = api.targets()
    h.log('after 10 heartbeats each: %r' % ts)
    h.check(len(ts) == 1, 'one port-less target for the host: %r' % ts)
    t = ts[0]
    h.check(t['port'] == 0 and t['state'] == 'portless', 'port-less state %r' % t)
    h.check('--state-file' in (t.get('note') or ''), 'the note says what to do: %r' % t)
    st = api.status()['targets']
    h.check(st['up'] == 0 and st['portless'] == 1, 'status counts %r' % st)
    h.check(up_metric(api) == 0, 'harmony_targets{state="up"} %r' % up_metric(api))
    log = hd2.log_text()
    hints = log.count('registered without a port')
    h.check(hints == 1, 'the hint is logged once, not %d times:\n%s' % (hints, log))
    h.check('--state-file' in log, 'the log says to use --state-file')

    # Remove it: the clients keep heartbeating, nothing comes back.
    api.expect(204, 'DELETE', '/api/v1/targets/%d' % t['id'])
    for i in range(6):
        c1.heartbeat()
        c2.heartbeat()
    ts = api.targets()
    h.check(ts == [], 'a removed target came back: %r' % ts)
    c1.shutdown()
    c2.shutdown()

    # A ported target removed while its client heartbeats stays removed.
    c3 = NodeClient(hd2.ack_port, a.port)
    c3.start()
    ts = api.targets()
    h.check(len(ts) == 1 and ts[0]['port'] == a.port and ts[0]['state'] == 'up',
            'a fresh client registers with its port: %r' % ts)
    with h.connect(hd2.port) as s:
        h.check(h.recv_line(s) == b'A\n', 'served by the fresh client')
    api.expect(204, 'DELETE', '/api/v1/targets/%d' % ts[0]['id'])
    for i in range(8):
        c3.heartbeat()
    ts = api.targets()
    h.check(ts == [], 'after a removal the client added %r' % ts)
    h.check(not c3.open, 'the removed key is answered: the client says BYE:')
    c3.shutdown()

    # One host, several clients with ports: each its own target, all serve.
    r1 = RefClient(hd2.ack_port, a.port)
    r2 = RefClient(hd2.ack_port, b.port)
    r1.register()
    r2.register()
    ts = api.targets()
    h.check(sorted(t['port'] for t in ts) == sorted([a.port, b.port]) and
            all(t['state'] == 'up' for t in ts), 'two ported targets: %r' % ts)
    h.check(api.status()['targets']['up'] == 2, 'both counted up')
    seen = set(h.name_of(hd2.port) for _ in range(10))
    h.check(seen == {'A', 'B'}, 'both serve: %r' % seen)
    hd2.stop()


h.run(main)
