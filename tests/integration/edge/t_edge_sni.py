#!/usr/bin/env python3
"""t_edge_sni: TLS passthrough routed by SNI (issue 17), with real
`openssl s_server -www` backends, each with its own self-signed
certificate (a.example, b.example, c.example, each also *.name), and real
clients: `openssl s_client -servername`, curl --resolve, and Python's ssl
over a socket this test writes the ClientHello to.

Service tls listens with sni {"a.example": a, "*.b.example": b,
"r.a.example": r} and sni-default c; service own has sni {"a.example": a}
and no sni-default (itself); a, b, c, r are ordinary services; r's first
target refuses connections (weight 1000), so each session is requeued to
the second, which must get the ClientHello too.

- each client completes the handshake with the right backend (its
  certificate verified for the name: a wrong route fails verification)
  and exchanges data (an HTTP request and its answer);
- a name in other case (X.B.Example) goes where its lower case goes;
- no SNI, and a name not in the map, go to the default service (c), and
  on own to own's targets;
- a ClientHello written in 40 pieces, 20 ms apart, is still routed, and
  one cut into TLS records of 50 bytes;
- a requeue to r's second target completes the handshake (tries=2);
- the access log shows sni=<name> (lower-cased) with the target of the
  service routed to, and nothing for no SNI; persistence is the routed
  service's; harmony_sni_routed_total{service="tls",to} counts.
"""

import socket

import harness as h
import peers as p
import relcheck as rc


def expect_s_client(port, name, cert, what, verify_name=True):
    rc_, out, err = p.s_client(port, name, cert.cert if cert else None,
                               verify_name=verify_name)
    h.check(rc_ == 0 and 'HTTP/1.0 200 ok' in out,
            '%s: s_client -servername %s should complete the handshake with %s\'s '
            'certificate and get the status page; status %d, stdout %r, stderr %r'
            % (what, name, cert.name, rc_, out[-400:], err[-600:]))


def main():
    ca, cb, cc = p.Cert('a.example'), p.Cert('b.example'), p.Cert('c.example')
    sa, sb, sc = p.SServer(ca), p.SServer(cb), p.SServer(cc)
    dead = h.DeadPort()
    one = '127.0.0.1:0'
    hd = p.harmonyd({
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'tls',
        'services': {
            'tls': {'listen': one, 'inspect-timeout': '10s',
                    'sni': {'a.example': 'a', '*.b.example': 'b', 'r.a.example': 'r'},
                    'sni-default': 'c'},
            'own': {'listen': one, 'sni': {'a.example': 'a'}, 'target': [sc.target()]},
            'a': {'listen': one, 'target': [sa.target()]},
            'b': {'listen': one, 'target': [sb.target()]},
            'c': {'listen': one, 'target': [sc.target()]},
            'r': {'listen': one, 'requeue': 1, 'persistent': False,
                  'target': [dead.target(1000), sa.target(1)]},
        }})
    tls, own = p.port_of(hd, 'tls'), p.port_of(hd, 'own')
    routed = []                     # (sni or None, target) per session, in order

    def went(name, target):
        routed.append((name, target))
        hd.settle(len(routed))

    expect_s_client(tls, 'a.example', ca, 's_client to a')
    went('a.example', sa.target())
    rc_, body, err = p.curl_https(tls, 'a.example', ca.cert)
    h.check(rc_ == 0 and 'Ciphers supported' in body, 'curl --resolve a.example should '
            'reach a\'s s_server and verify its certificate: status %d %r %r'
            % (rc_, body[:200], err))
    went('a.example', sa.target())
    expect_s_client(tls, 'x.b.example', cb, 's_client to *.b.example')
    went('x.b.example', sb.target())
    # *.b.example covers any depth; the certificate (*.b.example) only one
    # label, so curl refuses the name: the access log says it went to b.
    p.curl_https(tls, 'deep.y.b.example', cb.cert)
    went('deep.y.b.example', sb.target())
    expect_s_client(tls, 'X.B.Example', cb, 's_client with a name in other case')
    went('x.b.example', sb.target())
    expect_s_client(tls, None, cc, 's_client without SNI (the default, c)')
    went(None, sc.target())
    expect_s_client(tls, 'zzz.example', cc, 'a name not in the map (the default, c)',
                    verify_name=False)
    went('zzz.example', sc.target())
    expect_s_client(own, None, cc, 'without SNI on own (no sni-default: itself)')
    went(None, sc.target())
    expect_s_client(own, 'a.example', ca, 'a.example on own')
    went('a.example', sa.target())

    # The ClientHello in 40 writes, 20 ms apart.
    with p.connect(tls, timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = p.TlsClient(s, 'a.example', ca.cert, timeout=30)
        cert = t.handshake(pieces=40, pause=0.02)
        answer = t.request()
    h.check(dict(x[0] for x in cert['subject']).get('commonName') == 'a.example' and
            answer.startswith(b'HTTP/1.0 200 ok'),
            'a trickled ClientHello should reach a: %r %r' % (cert, answer[:100]))
    went('a.example', sa.target())
    # ... and cut into TLS records of 50 bytes, sent in 5 writes.
    with p.connect(tls, timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = p.TlsClient(s, 'x.b.example', cb.cert, timeout=30)
        cert = t.handshake(pieces=5, pause=0.05, records=50)
        answer = t.request()
    h.check(dict(x[0] for x in cert['subject']).get('commonName') == 'b.example' and
            answer.startswith(b'HTTP/1.0 200 ok'),
            'a ClientHello over 11 TLS records should reach b: %r %r'
            % (cert, answer[:100]))
    went('x.b.example', sb.target())

    # A requeue: the second target gets the ClientHello.
    expect_s_client(tls, 'r.a.example', ca, 'a requeued session (r)')
    went('r.a.example', sa.target())

    lines = hd.wait_access(len(routed))
    h.check(len(lines) == len(routed), 'expected %d access-log lines, got %d: %r'
            % (len(routed), len(lines), lines))
    for (name, target), line in zip(routed, lines):
        h.check(line.get('sni') == name and line.get('target') == target,
                'access log: expected sni=%s target=%s, got %r' % (name, target, line))
    h.check(lines[-1].get('tries') == '2', 'the requeued session: tries=2 expected, %r'
            % lines[-1])
    per = rc.get_json(hd.http_port, '/api/v1/services/a/persistence')
    h.check([e['client'] for e in per['entries']] == ['127.0.0.1'],
            'a\'s persistence (the service routed to) should know the client: %r' % per)
    per = rc.get_json(hd.http_port, '/api/v1/services/tls/persistence')
    h.check(per['count'] == 0, 'tls (the listener\'s service) routed everything away and '
            'should persist nothing: %r' % per)
    # Names the map routes; whether the default's sessions count too the
    # contract leaves open (logged, not checked).
    want = {'a': 3, 'b': 4, 'r': 1}
    got = {to: p.metric(hd, 'harmony_sni_routed_total', service='tls', to=to)
           for to in want}
    h.check(got == want, 'harmony_sni_routed_total{service="tls"}: expected %r, got %r'
            % (want, got))
    h.log('harmony_sni_routed_total{service="tls",to="c"} (the default) is %r'
          % p.metric(hd, 'harmony_sni_routed_total', service='tls', to='c'))
    h.check(p.metric(hd, 'harmony_sni_routed_total', service='own', to='a') == 1,
            'harmony_sni_routed_total{service="own",to="a"} should be 1')
    hd.stop()
    dead.close()


if __name__ == '__main__':
    h.run(main)
