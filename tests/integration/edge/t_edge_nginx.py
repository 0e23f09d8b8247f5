#!/usr/bin/env python3
"""t_edge_nginx: send-proxy (issue 17) to real backends that require the
PROXY protocol: nginx (`listen ... proxy_protocol`, answering
$proxy_protocol_addr and $proxy_protocol_server_addr/port) and HAProxy
(`bind ... accept-proxy`, answering %[src]).

- send-proxy v1 and v2, to nginx and to HAProxy, from an IPv4 client
  (127.0.0.5) and an IPv6 one (::1): the backend sees the client's own
  address, and as the destination harmonyd's listener (address and port);
- accept-proxy and send-proxy together: the address in the incoming
  header is what harmonyd sends on;
- a requeue (the first target refuses): the second target gets its own
  header, and nginx still sees the client;
- without send-proxy nginx refuses the connection (so the checks above
  could fail).
"""

import re

import harness as h
import peers as p

V4 = '127.0.0.5'


def ask(port, host='127.0.0.1', source=None, before=b''):
    """The body of the backend's answer through harmonyd."""
    data, how = p.http_get(port, host, source, before, timeout=20)
    head, _, body = data.partition(b'\r\n\r\n')
    h.check(head.startswith(b'HTTP/1.1 200'), 'expected an HTTP 200 from the backend '
            'through harmonyd (%s:%d from %s), got %r then %s'
            % (host, port, source, data[:300], how))
    return body.decode(errors='replace').strip()


def expect_nginx(port, host, source, want_addr, want_dst, what, before=b''):
    body = ask(port, host, source, before)
    m = re.match(r'addr=<(.*)> remote=<(.*)> server=<(.*)>:<(.*)>$', body)
    h.check(m is not None, '%s: nginx answered %r' % (what, body))
    h.check(m.group(1) == want_addr, '%s: nginx\'s $proxy_protocol_addr should be %s, '
            'is %r' % (what, want_addr, m.group(1)))
    h.check((m.group(3), m.group(4)) == want_dst, '%s: nginx\'s '
            '$proxy_protocol_server_addr:port should be %s:%s (what the client reached), '
            'is %s:%s' % (what, want_dst[0], want_dst[1], m.group(3), m.group(4)))


def main():
    np = p.free_port()
    nginx = p.Nginx(
        '    server {\n'
        '        listen 127.0.0.1:%d proxy_protocol;\n'
        '        location / { return 200 "addr=<$proxy_protocol_addr> remote=<$remote_addr> '
        'server=<$proxy_protocol_server_addr>:<$proxy_protocol_server_port>\\n"; }\n'
        '    }\n' % np, [('127.0.0.1', np)])
    hp = p.free_port()
    haproxy = p.Haproxy(
        'frontend fe\n'
        '    bind 127.0.0.1:%d accept-proxy\n'
        '    http-request return status 200 content-type text/plain '
        'lf-string "src=<%%[src]> dst=<%%[dst]>:<%%[dst_port]>"\n' % hp,
        [('127.0.0.1', hp)], mode='http')
    dead = h.DeadPort()
    ng, ha = '127.0.0.1:%d' % np, '127.0.0.1:%d' % hp
    both = '127.0.0.1:0,[::1]:0'
    hd = p.harmonyd({
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'v1',
        'services': {
            'v1': {'listen': both, 'send-proxy': 'v1', 'target': [ng]},
            'v2': {'listen': both, 'send-proxy': 'v2', 'target': [ng]},
            'hv1': {'listen': both, 'send-proxy': 'v1', 'target': [ha]},
            'hv2': {'listen': both, 'send-proxy': 'v2', 'target': [ha]},
            'chain': {'listen': '127.0.0.1:0', 'accept-proxy': '127.0.0.2/32',
                      'send-proxy': 'v2', 'target': [ng]},
            'requeue': {'listen': '127.0.0.1:0', 'send-proxy': 'v1', 'requeue': 1,
                        'persistent': False, 'target': [dead.target(1000), ng + '@1']},
            'off': {'listen': '127.0.0.1:0', 'target': [ng]},
        }})

    for svc in ('v1', 'v2'):
        p4, p6 = p.port_of(hd, svc), p.port_of(hd, svc, 6)
        expect_nginx(p4, '127.0.0.1', V4, V4, ('127.0.0.1', str(p4)),
                     'send-proxy %s to nginx, IPv4 client' % svc)
        expect_nginx(p6, '::1', '::1', '::1', ('::1', str(p6)),
                     'send-proxy %s to nginx, IPv6 client' % svc)
    for svc in ('hv1', 'hv2'):
        p4, p6 = p.port_of(hd, svc), p.port_of(hd, svc, 6)
        for host, src, port in (('127.0.0.1', V4, p4), ('::1', '::1', p6)):
            body = ask(port, host, src)
            want = 'src=<%s> dst=<%s>:<%d>' % (src, host, port)
            h.check(body == want, 'send-proxy %s to HAProxy accept-proxy from %s: '
                    'expected %r, got %r' % (svc[1:], src, want, body))

    # The incoming header's client is what goes on.
    pc = p.port_of(hd, 'chain')
    expect_nginx(pc, '127.0.0.1', '127.0.0.2', '203.0.113.5', ('198.51.100.1', '8443'),
                 'accept-proxy then send-proxy v2',
                 before=p.pp_v1(('203.0.113.5', 40000), ('198.51.100.1', 8443)))
    expect_nginx(pc, '127.0.0.1', '127.0.0.2', '2001:db8::5', ('2001:db8::1', '443'),
                 'accept-proxy (v2, IPv6) then send-proxy v2',
                 before=p.pp_v2(('2001:db8::5', 40001), ('2001:db8::1', 443)))

    # A requeued connect: the target that answers gets the header.
    pr = p.port_of(hd, 'requeue')
    for i in range(3):
        expect_nginx(pr, '127.0.0.1', V4, V4, ('127.0.0.1', str(pr)),
                     'send-proxy v1 after a requeue (%d)' % i)
    lines = [ln for ln in hd.access_lines() if ln.get('target') == ng]
    h.check(any(ln.get('tries') == '2' for ln in lines),
            'the requeue case should have a session with tries=2 to nginx: %r' % lines)

    # Without send-proxy, nginx refuses: the checks above mean something.
    data, how = p.http_get(p.port_of(hd, 'off'), timeout=20)
    h.check(not data.startswith(b'HTTP/1.1 200'), 'nginx answered a connection without '
            'a PROXY header: %r' % data[:200])
    hd.stop()
    dead.close()
    nginx.stop()
    haproxy.kill()              # haproxy -db ends by the signal itself


if __name__ == '__main__':
    h.run(main)
