#!/usr/bin/env python3
"""t_edge_accept: accept-proxy (issue 17) with PROXY headers this test
writes byte by byte, as HAProxy's proxy-protocol.txt says.

Service web (accept-proxy 127.0.0.2/32,::1; two echo targets, round
robin, persistent; inspect-timeout 10s) and service slow (the same, with
inspect-timeout 1s):

- from a trusted source, v1 TCP4, v2 TCP4 with TLVs, v2 TCP6, and v1 over
  an IPv6 connection: the bytes after the header (in the same write) reach
  the target unchanged, and the header's address is the client's in the
  access log and for persistence (two header clients from one source land
  on two targets and stay there);
- service hash (balance hash, no persistence): 12 header clients from one
  source are each kept on one target, and spread over several;
- v2 LOCAL and v1 UNKNOWN: the connection's own address;
- a header split over one write per byte: accepted;
- a v1 line of exactly 107 bytes is accepted, one of 108 is refused; a v2
  header of exactly 4096 bytes is accepted, one announcing 4097 is refused
  as soon as its 16 first bytes are in (long before the inspect timeout);
- an untrusted source (127.0.0.3) with a forged header, a trusted source
  without a header, a header that stops (slow, 1 s timeout): each closed
  without a byte (not even the unavailable text), never reaching a target,
  counted in harmony_inspect_rejected_total by reason.
"""

import socket
import time

import harness as h
import peers as p

PAYLOAD = b'hello after the header\n'
TRUSTED = '127.0.0.2'
UNAVAILABLE = 'UNAVAILABLE\n'


def echo_through(port, header, host='127.0.0.1', source=TRUSTED, pieces=None):
    """Sends header + PAYLOAD (one write, or one write per byte of the
    header with pieces='bytes'), half-closes, returns what came back."""
    with p.connect(port, host, source, timeout=20) as s:
        if pieces == 'bytes':
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(header)):
                s.sendall(header[i:i + 1])
                time.sleep(0.005)
            s.sendall(PAYLOAD)
        else:
            s.sendall(header + PAYLOAD)
        s.shutdown(socket.SHUT_WR)
        return h.recv_to_end(s, 20, limit=65536)


def expect_echo(hd, n, port, header, what, **kw):
    data, how = echo_through(port, header, **kw)
    h.check(data == PAYLOAD and how == 'eof',
            '%s: the bytes after the header should come back from the echo '
            'target, then EOF; got %r then %s' % (what, data, how))
    lines = hd.wait_access(n)
    h.check(len(lines) >= n, '%s: no access-log line %d' % (what, n))
    return lines[n - 1]


def expect_refused(hd, service, port, send, reason, n, what, source=TRUSTED,
                   backends=()):
    """peers.expect_refused, and no target got a connection meanwhile."""
    before = [b.total for b in backends]
    took = p.expect_refused(hd, service, port, send, reason, n, what, source)
    h.check([b.total for b in backends] == before,
            '%s: a target got a connection (%r -> %r)'
            % (what, before, [b.total for b in backends]))
    return took


def main():
    e1, e2 = h.Backend('echo', name='E1'), h.Backend('echo', name='E2')
    e3 = h.Backend('echo', name='E3')
    names = [h.Backend('name', name='N%d' % i) for i in range(4)]
    svc = {'accept-proxy': '%s/32,::1' % TRUSTED, 'balance': 'roundrobin',
           'persistent': True, 'unavailable': UNAVAILABLE}
    hd = p.harmonyd({
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'web',
        'services': {
            'web': dict(svc, listen='127.0.0.1:0,[::1]:0', target=[e1.target(), e2.target()],
                        **{'inspect-timeout': '10s'}),
            'slow': dict(svc, listen='127.0.0.1:0', target=[e3.target()],
                         **{'inspect-timeout': '1s'}),
            'hash': dict(svc, listen='127.0.0.1:0', balance='hash', persistent=False,
                         target=[b.target() for b in names]),
        }})
    web, web6, slow = p.port_of(hd, 'web'), p.port_of(hd, 'web', 6), p.port_of(hd, 'slow')
    dst = ('127.0.0.1', web)
    n = 0

    # Two header clients from one trusted source: round robin gives them
    # two targets, persistence keeps each on its own.
    got = {}
    for i in range(6):
        client = '198.51.100.%d' % (7 + i % 2)
        hdr = (p.pp_v1((client, 4000 + i), dst) if i < 2 else
               p.pp_v2((client, 4000 + i), dst,
                       p.tlv(0x01, b'h2') + p.tlv(0x02, b'api.example') + p.tlv(0x04, b'\0' * 9)))
        n += 1
        line = expect_echo(hd, n, web, hdr, 'v%d header from %s' % (1 if i < 2 else 2, client))
        h.check(p.access_host(line) == client and
                line.get('client', '').endswith(':%d' % (4000 + i)),
                'the access log should name the header\'s client %s:%d, got %r'
                % (client, 4000 + i, line))
        got.setdefault(client, set()).add(line.get('target'))
    h.check(all(len(t) == 1 for t in got.values()) and
            got['198.51.100.7'] != got['198.51.100.8'],
            'the two header clients should each stay on one target, and round robin '
            'should have given them different ones: %r' % got)
    pers = p.rc.get_json(hd.http_port, '/api/v1/services/web/persistence')
    clients = sorted(e['client'] for e in pers['entries'])
    h.check(clients == ['198.51.100.7', '198.51.100.8'],
            'persistence should know the header clients only, not %s: %r' % (TRUSTED, clients))

    # hash (no persistence) keys on the header's client: 12 of them from one
    # source, 3 connections each, each kept on one target, spread over more
    # than one (all 12 on one of 4 targets: 4 ** -11).
    hp, picks = p.port_of(hd, 'hash'), {}
    for rnd in range(3):
        for i in range(12):
            client = '203.0.113.%d' % (100 + i)
            with p.connect(hp, source=TRUSTED, timeout=20) as s:
                s.sendall(p.pp_v1((client, 6000 + rnd), ('127.0.0.1', hp)) if i % 2 else
                          p.pp_v2((client, 6000 + rnd), ('127.0.0.1', hp)))
                name, seen = h.read_name(s, 20)
            h.check(name is not None, 'hash, header client %s: no name line (%s)'
                    % (client, seen))
            picks.setdefault(client, set()).add(name)
    h.check(all(len(v) == 1 for v in picks.values()) and
            len(set().union(*picks.values())) > 1,
            'hash should keep each header client on one target and spread the 12 over '
            'several: %r' % picks)
    n += 36
    h.check(len(hd.wait_access(n)) == n, 'one access-log line per hash session')

    # IPv6 both ways: a v2 TCP6 header over IPv4, a v1 TCP4 header over IPv6.
    n += 1
    line = expect_echo(hd, n, web, p.pp_v2(('2001:db8::9', 4713), ('2001:db8::1', 443)),
                       'v2 TCP6 header')
    h.check(p.access_host(line) == '2001:db8::9', 'access log client for a v2 TCP6 '
            'header should be 2001:db8::9, got %r' % line)
    n += 1
    line = expect_echo(hd, n, web6, p.pp_v1(('198.51.100.10', 4714), ('192.0.2.1', 443)),
                       'v1 TCP4 header over an IPv6 connection', host='::1', source='::1')
    h.check(p.access_host(line) == '198.51.100.10', 'access log client for a v1 '
            'header over IPv6 should be 198.51.100.10, got %r' % line)

    # LOCAL and UNKNOWN: the connection's own address.
    n += 1
    line = expect_echo(hd, n, web, p.pp_v2(local=True), 'v2 LOCAL')
    h.check(p.access_host(line) == TRUSTED, 'v2 LOCAL: the client is the connection\'s '
            'own %s, got %r' % (TRUSTED, line))
    n += 1
    line = expect_echo(hd, n, web, b'PROXY UNKNOWN\r\n', 'v1 UNKNOWN')
    h.check(p.access_host(line) == TRUSTED, 'v1 UNKNOWN: the client is the connection\'s '
            'own %s, got %r' % (TRUSTED, line))

    # One write per byte (TCP_NODELAY): the parser waits for the rest.
    n += 1
    hdr = p.pp_v2(('203.0.113.50', 5000), dst, p.tlv(0x02, b'split.example'))
    line = expect_echo(hd, n, web, hdr, 'v2 header in %d writes' % len(hdr), pieces='bytes')
    h.check(p.access_host(line) == '203.0.113.50', 'split v2: client %r' % line)
    n += 1
    hdr = p.pp_v1(('203.0.113.51', 5001), dst)
    line = expect_echo(hd, n, web, hdr, 'v1 header in %d writes' % len(hdr), pieces='bytes')
    h.check(p.access_host(line) == '203.0.113.51', 'split v1: client %r' % line)

    # The bounds, and one byte over each. v1: 107 bytes with CRLF (UNKNOWN
    # lets the sender pad, the receiver ignores the rest of the line).
    v1max = b'PROXY UNKNOWN ' + b'x' * (107 - 16) + b'\r\n'
    h.check(len(v1max) == 107, 'test bug: %d' % len(v1max))
    n += 1
    expect_echo(hd, n, web, v1max, 'a 107-byte v1 line')
    v2max = p.pp_v2(('203.0.113.52', 5002), dst, p.tlv(0x04, b'\0' * (4096 - 28 - 3)))
    h.check(len(v2max) == 4096, 'test bug: %d' % len(v2max))
    n += 1
    line = expect_echo(hd, n, web, v2max, 'a 4096-byte v2 header')
    h.check(p.access_host(line) == '203.0.113.52', '4096-byte v2: client %r' % line)
    backends = (e1, e2, e3) + tuple(names)
    bad = 0
    v1over = b'PROXY UNKNOWN ' + b'x' * (108 - 16) + b'\r\n'
    bad += 1
    took = expect_refused(hd, 'web', web, v1over, 'bad-proxy', bad,
                          'a 108-byte v1 line (no CRLF in its first 107 bytes)', backends=backends)
    h.check(took < 8, 'a v1 line over 107 bytes should be refused at once, not after '
            'the inspect timeout (took %.1f s)' % took)
    v2over = p.V2_SIG + b'\x21\x11' + (4097 - 16).to_bytes(2, 'big')
    bad += 1
    took = expect_refused(hd, 'web', web, v2over, 'bad-proxy', bad,
                          'a v2 header announcing 4097 bytes (its first 16 sent)',
                          backends=backends)
    h.check(took < 8, 'a v2 header over 4096 bytes should be refused once its length '
            'is read, not after the inspect timeout (took %.1f s)' % took)

    # Refused: untrusted with a forged header, trusted without one, garbage.
    expect_refused(hd, 'web', web, p.pp_v1((TRUSTED, 1234), dst) + PAYLOAD, 'untrusted', 1,
                   'an untrusted source (127.0.0.3) with a forged header',
                   source='127.0.0.3', backends=backends)
    bad += 1
    expect_refused(hd, 'web', web, b'GET / HTTP/1.0\r\n\r\n', 'bad-proxy', bad,
                   'a trusted source without a header', backends=backends)
    bad += 1
    expect_refused(hd, 'web', web, b'PROXY TCP4 1.2.3.400 127.0.0.1 1 2\r\n', 'bad-proxy',
                   bad, 'a v1 header with a bad address', backends=backends)
    bad += 1
    overrun = p.pp_v2(('198.51.100.1', 1), dst)
    overrun = overrun[:14] + (12 + 3).to_bytes(2, 'big') + overrun[16:] + b'\x04\x00\x04'
    expect_refused(hd, 'web', web, overrun + PAYLOAD, 'bad-proxy', bad,
                   'a v2 TCP4 header with a TLV overrunning its length', backends=backends)

    # Slow: a header that stops is closed after the inspect timeout (1 s).
    took = expect_refused(hd, 'slow', slow, b'PROXY TCP4 ', 'timeout', 1,
                          'a header that stops after 11 bytes (inspect-timeout 1s)',
                          backends=backends)
    h.check(took >= 0.9, 'closed after %.2f s, before the inspect timeout of 1 s' % took)
    h.check(p.rejected(hd, 'slow', 'bad-proxy') == 0 and
            p.rejected(hd, 'web', 'timeout') == 0,
            'each refusal counted under its own service and reason: %r'
            % [m for m in p.metrics(hd) if m[0] == 'harmony_inspect_rejected_total'])
    # After all that, web still serves.
    n += 1
    expect_echo(hd, n, web, p.pp_v1(('198.51.100.7', 4999), dst), 'a last v1 header')
    hd.stop()


if __name__ == '__main__':
    h.run(main)
