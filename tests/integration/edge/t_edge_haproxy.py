#!/usr/bin/env python3
"""t_edge_haproxy: harmonyd behind a real HAProxy that sends PROXY v2
(`server ... send-proxy-v2`), issue 17.

HAProxy (tcp mode, on 127.0.0.1 and ::1) relays to harmonyd's service web
(accept-proxy 127.0.0.1/32: HAProxy's own source; round robin over two
name backends, persistent). Clients 127.0.0.2 ... 127.0.0.7 and ::1 connect
to HAProxy, each several times:

- each client stays on one target although every connection comes from
  127.0.0.1, and the clients as a whole use both targets: persistence is
  keyed by the original client (its table lists exactly those clients);
- the access log names the original clients, never 127.0.0.1;
- a peer that is not trusted (127.0.0.9) connecting straight to harmonyd
  with a forged v2 header claiming to be 127.0.0.2 is closed without a
  byte, counted (reason untrusted), reaches no target, and the client it
  claimed keeps its target;
- HAProxy's own address without a header is refused too (bad-proxy).
"""

import harness as h
import peers as p

CLIENTS = ['127.0.0.%d' % i for i in range(2, 8)]
ROUNDS = 4


def name_via(port, host, source):
    with p.connect(port, host, source, timeout=20) as s:
        name, seen = h.read_name(s, 20)
    h.check(name is not None, 'through HAProxy from %s: expected a backend\'s name, %s'
            % (source, seen))
    return name


def main():
    a, b = h.Backend('name', name='A'), h.Backend('name', name='B')
    # HAProxy first, so that the connection that sees it listening finds no
    # harmonyd behind it (else that would be a session of 127.0.0.1's).
    web = p.free_port()
    fp, fp6 = p.free_port(), p.free_port('::1')
    ha = p.Haproxy(
        'frontend fe\n'
        '    bind 127.0.0.1:%d\n'
        '    bind [::1]:%d\n'
        '    default_backend be\n'
        'backend be\n'
        '    server harmonyd 127.0.0.1:%d send-proxy-v2\n' % (fp, fp6, web),
        [('127.0.0.1', fp), ('::1', fp6)])
    hd = p.harmonyd({
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'web',
        'services': {'web': {
            'listen': '127.0.0.1:%d' % web, 'accept-proxy': '127.0.0.1/32',
            'balance': 'roundrobin', 'persistent': True, 'unavailable': 'UNAVAILABLE\n',
            'target': [a.target(), b.target()]}}})

    seen = {c: [] for c in CLIENTS + ['::1']}
    n = 0
    for _ in range(ROUNDS):
        for c in CLIENTS:
            seen[c].append(name_via(fp, '127.0.0.1', c))
            n += 1
            hd.settle(n)
        seen['::1'].append(name_via(fp6, '::1', '::1'))
        n += 1
        hd.settle(n)
    for c, names in seen.items():
        h.check(len(set(names)) == 1, 'client %s (through HAProxy) was not kept on one '
                'target: %s' % (c, ' '.join(names)))
    used = {names[0] for names in seen.values()}
    h.check(used == {'A', 'B'}, 'round robin over the original clients should use both '
            'targets, used %r: the clients were taken for one (HAProxy\'s)?' % used)

    pers = p.rc.get_json(hd.http_port, '/api/v1/services/web/persistence')
    clients = sorted(e['client'] for e in pers['entries'])
    h.check(clients == sorted(seen), 'persistence should hold exactly the original '
            'clients %r, holds %r' % (sorted(seen), clients))
    lines = hd.wait_access(n)
    hosts = {p.access_host(ln) for ln in lines}
    h.check(len(lines) == n and hosts == set(seen),
            'the access log should have %d lines naming the original clients %r; '
            'it has %d naming %r' % (n, sorted(seen), len(lines), sorted(hosts)))

    # A forged header from a peer that is not HAProxy, and HAProxy's own
    # address without a header.
    before = (a.total, b.total)
    claimed = seen['127.0.0.2'][0]
    p.expect_refused(hd, 'web', web, p.pp_v2(('127.0.0.2', 5555), ('127.0.0.1', web)),
                     'untrusted', 1, 'an untrusted peer (127.0.0.9) with a forged header',
                     source='127.0.0.9')
    p.expect_refused(hd, 'web', web, b'hello\n', 'bad-proxy', 1,
                     'a trusted peer (127.0.0.1) without a header')
    h.check((a.total, b.total) == before, 'a refused connection reached a target: '
            '%r -> %r' % (before, (a.total, b.total)))
    h.check(name_via(fp, '127.0.0.1', '127.0.0.2') == claimed,
            '127.0.0.2 should still be on %s' % claimed)
    hd.stop()
    ha.kill()


if __name__ == '__main__':
    h.run(main)
