#!/usr/bin/env python3
"""t_edge_sni_inspect: what SNI inspection closes (issue 17), and a PROXY
header before the ClientHello.

Service strict listens with sni {"a.example": a}, sni-default close,
inspect-timeout 1s, inspect-max 1024 (and an unavailable text, which no
refused connection may get); a has one real `openssl s_server` with a
self-signed a.example certificate. Each of these is closed without a byte
and counted under its reason in harmony_inspect_rejected_total, and none
reaches a's target (its session count does not move):

- no SNI, and a name not in the map (sni-default close): no-route;
- an HTTP request, and an SSLv2-style hello: not-tls;
- a ClientHello whose extensions overrun it: bad-hello;
- a well-formed 3000-byte ClientHello (over inspect-max): too-big;
- 20 bytes of a ClientHello then nothing, and nothing at all: timeout,
  after the inspect timeout (not before).

A real handshake through strict still works. Service both has
accept-proxy 127.0.0.2/32 and the same SNI map: a v1 header and the
ClientHello in one write reach a, and the access log has the header's
client with sni=a.example. Service slowboth (the same, inspect-timeout
2s): one timeout covers the header and the ClientHello together.
"""

import socket
import time

import harness as h
import peers as p
import relcheck as rc


def main():
    ca = p.Cert('a.example')
    sa = p.SServer(ca)
    hd = p.harmonyd({
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'strict',
        'services': {
            'strict': {'listen': '127.0.0.1:0', 'sni': {'a.example': 'a'},
                       'sni-default': 'close', 'inspect-timeout': '1s',
                       'inspect-max': 1024, 'unavailable': 'UNAVAILABLE\n'},
            'both': {'listen': '127.0.0.1:0', 'sni': {'a.example': 'a'},
                     'accept-proxy': '127.0.0.2/32', 'inspect-timeout': '10s'},
            'slowboth': {'listen': '127.0.0.1:0', 'sni': {'a.example': 'a'},
                         'accept-proxy': '127.0.0.2/32', 'inspect-timeout': '2s'},
            'a': {'listen': '127.0.0.1:0', 'target': [sa.target()]},
        }})
    strict, both = p.port_of(hd, 'strict'), p.port_of(hd, 'both')

    def a_sessions():
        ts = rc.get_json(hd.http_port, '/api/v1/services/a/targets')['targets']
        return ts[0]['total']

    def handshake(port, before=b'', source=None):
        with p.connect(port, source=source, timeout=30) as s:
            t = p.TlsClient(s, 'a.example', ca.cert, timeout=30)
            cert = t.handshake(before=before)
            answer = t.request()
        h.check(dict(x[0] for x in cert['subject']).get('commonName') == 'a.example'
                and answer.startswith(b'HTTP/1.0 200 ok'),
                'a handshake through port %d should reach a: %r %r'
                % (port, cert, answer[:100]))

    handshake(strict)
    served = 1
    h.check(h.wait_until(lambda: a_sessions() == served, 5),
            'a\'s target should count the session: %r' % a_sessions())
    counts = {}

    def refused(send, reason, what):
        counts[reason] = counts.get(reason, 0) + 1
        took = p.expect_refused(hd, 'strict', strict, send, reason, counts[reason], what)
        h.check(a_sessions() == served, '%s: a\'s target got a session' % what)
        return took

    refused(p.client_hello(None), 'no-route', 'a ClientHello without SNI')
    refused(p.client_hello('zzz.example'), 'no-route', 'a name not in the map')
    # (Closed at once, not at the inspect timeout: else the reason would
    # be timeout.)
    refused(b'GET / HTTP/1.0\r\nHost: a.example\r\n\r\n', 'not-tls', 'HTTP')
    refused(b'\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10' + b'\x01' * 37,
            'not-tls', 'an SSLv2-style hello')
    refused(p.big_hello(600, 'a.example', bad=True), 'bad-hello',
            'a ClientHello whose extensions overrun it')
    refused(p.big_hello(3000, 'a.example'), 'too-big',
            'a 3000-byte ClientHello (inspect-max 1024)')
    took = refused(p.client_hello('a.example')[:20], 'timeout',
                   '20 bytes of a ClientHello, then nothing')
    h.check(took >= 0.9, 'a slow ClientHello closed after %.2f s, before the inspect '
            'timeout of 1 s' % took)
    took = refused(b'', 'timeout', 'a connection that sends nothing')
    h.check(took >= 0.9, 'a silent connection closed after %.2f s, before the inspect '
            'timeout of 1 s' % took)
    # The others stayed at 0.
    for reason in ('untrusted', 'bad-proxy'):
        h.check(p.rejected(hd, 'strict', reason) == 0, 'strict counted %s' % reason)
    # And strict still serves a real client.
    handshake(strict)
    served += 1

    # A PROXY header, then the ClientHello, in one write.
    hdr = p.pp_v1(('192.0.2.77', 51000), ('127.0.0.1', both))
    handshake(both, before=hdr, source='127.0.0.2')
    served += 1
    def mine():
        return [ln for ln in hd.access_lines() if ln.get('target') == sa.target()
                and p.access_host(ln) != '127.0.0.1']
    lines = h.wait_until(mine, 10)
    h.check(lines and p.access_host(lines[-1]) == '192.0.2.77' and
            lines[-1].get('client', '').endswith(':51000') and
            lines[-1].get('sni') == 'a.example',
            'PROXY then SNI: the access log should say client=192.0.2.77:51000 '
            'sni=a.example, got %r' % lines[-1:])

    # One inspect timeout for the header and the ClientHello together: a
    # header trickled over 1.5 s, then 20 bytes of a hello, is closed about
    # 2 s after the connect (a timer restarted after the header: 3.5 s).
    sb = p.port_of(hd, 'slowboth')
    hdr = p.pp_v1(('192.0.2.78', 51001), ('127.0.0.1', sb))
    t0 = time.monotonic()
    with p.connect(sb, source='127.0.0.2', timeout=20) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i in range(0, len(hdr), 4):
                s.sendall(hdr[i:i + 4])
                time.sleep(1.5 / (len(hdr) / 4))
            s.sendall(p.client_hello('a.example')[:20])
        except OSError:
            pass
        data, how = h.recv_to_end(s, 10, limit=65536)
    took = time.monotonic() - t0
    h.check(data == b'' and how in ('eof', 'reset') and 1.9 <= took < 3.0,
            'a header over 1.5 s then part of a hello (inspect-timeout 2s): expected a '
            'close without a byte about 2 s after the connect, got %r then %s after '
            '%.2f s' % (data, how, took))
    h.check(p.wait_rejected(hd, 'slowboth', 'timeout', 1), 'slowboth counted no timeout')
    h.check(a_sessions() == served, 'a served %d sessions, expected %d'
            % (a_sessions(), served))
    hd.stop()


if __name__ == '__main__':
    h.run(main)
