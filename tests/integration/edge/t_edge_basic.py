#!/usr/bin/env python3
"""PROXY protocol and SNI routing (issue 17) with plain Python peers.

One harmonyd, five services. "pp" accepts the PROXY protocol from
127.0.0.1 and sends v2 to its backend; "pp1" accepts it too and sends
v1; "strict" trusts only 10.0.0.0/8, so 127.0.0.1 is refused. "tls"
routes hand-made ClientHellos by server name to "alpha" and "beta", each
with its own backend, and closes the others (sni-default close); alpha
sends v1 with the client's address. The backends record what reaches
them. Checked: the header's source becomes the client's (the backend's
header and the access log say it), the bytes after a header and the
whole ClientHello reach the target unchanged after send-proxy's header,
refusals close without a byte and are counted by reason, SNI moves a
session to another service (its access log line, its counters), and a
requeue sends the header and the ClientHello again to the next target.
"""

import json
import os
import signal
import socket
import struct
import threading
import time

import harness as h
from adminhttp import Api

V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'


class Recorder:
    """A backend that reads until END\\n, then answers NAME and closes;
    got holds what each connection sent, in order."""

    def __init__(self, name):
        self.name = name.encode()
        self.got = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def target(self):
        return '127.0.0.1:%d' % self.port

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        data = b''
        c.settimeout(10)
        try:
            while not data.endswith(b'END\n'):
                b = c.recv(65536)
                if not b:
                    break
                data += b
            with self.lock:
                self.got.append(data)
            c.sendall(self.name + b'\n')
        except OSError:
            pass
        finally:
            c.close()

    def last(self):
        with self.lock:
            return self.got[-1] if self.got else None

    def count(self):
        with self.lock:
            return len(self.got)


def v1(src, dst, sport, dport, fam='TCP4'):
    return ('PROXY %s %s %s %d %d\r\n' % (fam, src, dst, sport, dport)).encode()


def v2_inet(src, dst, sport, dport, tlv=b''):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!HH', sport, dport)
    body = addr + tlv
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack('!H', len(body)) + body


def v2_inet6(src, dst, sport, dport):
    body = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack('!HH', sport, dport))
    return V2_SIG + bytes([0x21, 0x21]) + struct.pack('!H', len(body)) + body


def parse_v2(data):
    """(src, sport, dst, dport, rest) of a v2 PROXY header for INET/INET6."""
    h.check(data[:12] == V2_SIG, 'no v2 signature: %r' % data[:40])
    fam = data[13]
    n = struct.unpack('!H', data[14:16])[0]
    body, rest = data[16:16 + n], data[16 + n:]
    if fam == 0x11:
        src, dst = socket.inet_ntoa(body[0:4]), socket.inet_ntoa(body[4:8])
        sport, dport = struct.unpack('!HH', body[8:12])
    else:
        h.check(fam == 0x21, 'v2 family %#x' % fam)
        src = socket.inet_ntop(socket.AF_INET6, body[0:16])
        dst = socket.inet_ntop(socket.AF_INET6, body[16:32])
        sport, dport = struct.unpack('!HH', body[32:36])
    return src, sport, dst, dport, rest


def client_hello(name, pad=0, split_records=False):
    """A minimal TLS 1.2 ClientHello record with server_name (None: none)."""
    ext = b''
    if name is not None:
        n = name.encode()
        entry = b'\x00' + struct.pack('!H', len(n)) + n
        lst = struct.pack('!H', len(entry)) + entry
        ext += b'\x00\x00' + struct.pack('!H', len(lst)) + lst
    if pad:
        ext += b'\x00\x15' + struct.pack('!H', pad) + b'\x00' * pad
    body = (b'\x03\x03' + os.urandom(32) + b'\x00' + b'\x00\x02\x13\x01' + b'\x01\x00' +
            struct.pack('!H', len(ext)) + ext)
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    if not split_records:
        return b'\x16\x03\x01' + struct.pack('!H', len(hs)) + hs
    half = len(hs) // 2
    return (b'\x16\x03\x01' + struct.pack('!H', half) + hs[:half] +
            b'\x16\x03\x01' + struct.pack('!H', len(hs) - half) + hs[half:])


def exchange(port, chunks, gap=0.0):
    """Sends chunks (with a pause between), then reads to the end."""
    with h.connect(port, timeout=10) as s:
        for i, c in enumerate(chunks):
            if i and gap:
                time.sleep(gap)
            s.sendall(c)
        data, how = h.recv_to_end(s, timeout=10)
        h.check(how != 'timeout', 'no end within 10 s: %r' % data)
        return data


def refused(port, data):
    """The connection is closed without a byte (a reset counts too)."""
    try:
        got = exchange(port, [data])
    except (ConnectionResetError, BrokenPipeError):
        return True
    return got == b''



def metric(api, name, **labels):
    text = api.get('/metrics').text
    for line in text.splitlines():
        if not line.startswith(name + '{'):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(' ', 1)[1])
    return None


def main():
    pp_be, pp1_be = Recorder('PP'), Recorder('PP1')
    alpha_be, beta_be = Recorder('ALPHA'), Recorder('BETA')
    chk_be = Recorder('CHK')
    dead = h.DeadPort()
    conf = {
        'ack-port': '127.0.0.1:0', 'http': '127.0.0.1:0', 'default': 'pp',
        'inspect-timeout': '1s', 'persistent': False,
        'services': {
            'pp': {'listen': '127.0.0.1:0', 'accept-proxy': '127.0.0.1',
                   'send-proxy': 'v2', 'target': [pp_be.target()]},
            'pp1': {'listen': '127.0.0.1:0', 'accept-proxy': ['127.0.0.0/8', '::1'],
                    'send-proxy': 'v1', 'target': [pp1_be.target()]},
            'strict': {'listen': '127.0.0.1:0', 'accept-proxy': '10.0.0.0/8',
                       'target': [pp_be.target()]},
            'tls': {'listen': '127.0.0.1:0', 'sni-default': 'close',
                    'sni': {'a.example': 'alpha', '*.b.example': 'beta'}},
            # A dead target first: every session is requeued to the live one.
            'alpha': {'listen': '127.0.0.1:0', 'send-proxy': 'v1', 'requeue': 1,
                      'balance': 'roundrobin',
                      'target': [dead.target(), alpha_be.target()]},
            'beta': {'listen': '127.0.0.1:0', 'target': [beta_be.target()]},
            'chk': {'listen': '127.0.0.1:0', 'send-proxy': 'v2', 'target': [chk_be.target()],
                    'check': {'type': 'tcp', 'interval': '300ms', 'send-proxy': True}},
        }}
    path = h.write_file('edge.json', json.dumps(conf))
    hd = h.Harmonyd('-c', path, base=False, access_log=True)
    api = Api(hd.http_port)
    ports = {'pp': hd.port}
    for name in ('pp1', 'strict', 'tls', 'alpha', 'beta'):
        m = hd.wait_log(r'listening: service %s 127\.0\.0\.1:(\d+)' % name, 5)
        h.check(m is not None, 'no listener of %s:\n%s' % (name, hd.log_text()))
        ports[name] = int(m.group(1))
    fds = hd.fd_count()

    # v1 in, v2 out: the backend hears the client of the header.
    got = exchange(ports['pp'], [v1('192.0.2.7', '198.51.100.1', 5555, 443) + b'hi\nEND\n'])
    h.check(got == b'PP\n', 'pp answered %r' % got)
    src, sport, dst, dport, rest = parse_v2(pp_be.last())
    h.check((src, sport, dst, dport) == ('192.0.2.7', 5555, '198.51.100.1', 443),
            'v2 out says %r' % ((src, sport, dst, dport),))
    h.check(rest == b'hi\nEND\n', 'the bytes after the header: %r' % rest)
    lines = hd.wait_access(1)
    h.check(lines[-1].get('client') == '192.0.2.7:5555', 'access log %r' % lines[-1])

    # v2 in (a TLV, split over writes), v2 out; then IPv6 in.
    hdr = v2_inet('203.0.113.9', '198.51.100.2', 4000, 80, tlv=b'\x04\x00\x02ab')
    got = exchange(ports['pp'], [hdr[:5], hdr[5:20], hdr[20:] + b'x', b'yEND\n'], gap=0.05)
    h.check(got == b'PP\n', 'pp answered %r' % got)
    src, sport, dst, dport, rest = parse_v2(pp_be.last())
    h.check((src, sport, rest) == ('203.0.113.9', 4000, b'xyEND\n'), 'v2 out %r' % (
        (src, sport, rest),))
    got = exchange(ports['pp'], [v2_inet6('2001:db8::7', '2001:db8::1', 6000, 443) + b'END\n'])
    src, sport, dst, dport, rest = parse_v2(pp_be.last())
    h.check((src, sport, dst, dport) == ('2001:db8::7', 6000, '2001:db8::1', 443),
            'IPv6 in v2 out %r' % ((src, sport, dst, dport),))

    # v2 in, v1 out; an IPv6 client in v1.
    got = exchange(ports['pp1'], [v2_inet('192.0.2.8', '198.51.100.3', 1234, 8443) + b'END\n'])
    h.check(got == b'PP1\n', 'pp1 answered %r' % got)
    h.check(pp1_be.last() == b'PROXY TCP4 192.0.2.8 198.51.100.3 1234 8443\r\nEND\n',
            'v1 out %r' % pp1_be.last())
    got = exchange(ports['pp1'], [v1('2001:db8::9', '2001:db8::1', 7, 8, 'TCP6') + b'END\n'])
    h.check(pp1_be.last() == b'PROXY TCP6 2001:db8::9 2001:db8::1 7 8\r\nEND\n',
            'v1 TCP6 out %r' % pp1_be.last())
    # LOCAL (v2) keeps the connection's own address.
    local = V2_SIG + bytes([0x20, 0x00, 0x00, 0x00])
    got = exchange(ports['pp1'], [local + b'END\n'])
    h.check(pp1_be.last().startswith(b'PROXY TCP4 127.0.0.1 127.0.0.1 '),
            'LOCAL in: %r' % pp1_be.last())

    # Refused: untrusted, bad headers, too long, too slow.
    n = pp_be.count()
    h.check(refused(ports['strict'], v1('192.0.2.7', '198.51.100.1', 1, 2) + b'END\n'),
            'an untrusted peer was served')
    h.check(refused(ports['pp'], b'GET / HTTP/1.0\r\n\r\nEND\n'), 'no header was served')
    h.check(refused(ports['pp'], b'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\nEND\n'),
            'a bad port was served')
    h.check(refused(ports['pp'], b'PROXY TCP4 ' + b'1' * 120 + b'\r\n'), 'a long v1 was served')
    t0 = time.monotonic()
    h.check(refused(ports['pp'], b'PROXY TCP4 1.2'), 'a slow header was served')
    h.check(time.monotonic() - t0 > 0.8, 'closed before the inspect timeout')
    h.check(pp_be.count() == n, 'a refused client reached the backend')
    h.check(metric(api, 'harmony_inspect_rejected_total', service='strict',
                   reason='untrusted') == 1, 'untrusted not counted')
    h.check(metric(api, 'harmony_inspect_rejected_total', service='pp',
                   reason='bad-proxy') == 3, 'bad-proxy not counted 3 times')
    h.check(metric(api, 'harmony_inspect_rejected_total', service='pp',
                   reason='timeout') == 1, 'timeout not counted')

    # SNI: each name to its service, the ClientHello unchanged after v1.
    hello = client_hello('a.example')
    got = exchange(ports['tls'], [hello[:3], hello[3:40], hello[40:] + b'END\n'], gap=0.05)
    h.check(got == b'ALPHA\n', 'a.example reached %r' % got)
    head, _, rest = alpha_be.last().partition(b'\r\n')
    h.check(head.startswith(b'PROXY TCP4 127.0.0.1 127.0.0.1 ') and
            head.endswith((' %d' % ports['tls']).encode()), 'alpha header %r' % head)
    h.check(rest == hello + b'END\n', 'the ClientHello changed on the way')
    # Round robin over a dead target and alpha's: one of two is requeued.
    hello = client_hello('a.example')
    got = exchange(ports['tls'], [hello + b'END\n'])
    h.check(got == b'ALPHA\n', 'a.example reached %r' % got)
    h.check(alpha_be.last().partition(b'\r\n')[2] == hello + b'END\n',
            'the second ClientHello changed on the way')
    hello = client_hello('X.B.Example', split_records=True)
    got = exchange(ports['tls'], [hello + b'END\n'])
    h.check(got == b'BETA\n', 'x.b.example reached %r' % got)
    h.check(beta_be.last() == hello + b'END\n', 'beta got %r' % beta_be.last()[:60])
    h.check(refused(ports['tls'], client_hello('c.example') + b'END\n'), 'no route was served')
    h.check(refused(ports['tls'], client_hello(None) + b'END\n'), 'no SNI was served')
    h.check(refused(ports['tls'], b'GET / HTTP/1.0\r\n\r\n'), 'HTTP was served')
    h.check(refused(ports['tls'], b'\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00'),
            'a ServerHello was served')
    h.check(refused(ports['tls'], client_hello('a.example', pad=17000, split_records=True) + b'END\n'),
            'a hello over inspect-max was served')
    lines = hd.access_lines()
    routed = [l for l in lines if l.get('sni') == 'a.example']
    h.check(len(routed) == 2 and all(l.get('end') == 'done' for l in routed) and
            any(l.get('tries') == '2' for l in routed), 'the access lines of a.example: %r' % routed)
    h.check(any(l.get('sni') == 'x.b.example' for l in lines), 'no sni=x.b.example line')
    h.check(metric(api, 'harmony_sni_routed_total', service='tls', to='alpha') == 2,
            'routed to alpha not counted')
    h.check(metric(api, 'harmony_sni_routed_total', service='tls', to='beta') == 1,
            'routed to beta not counted')
    for reason in ('no-route', 'not-tls', 'bad-hello', 'too-big'):
        h.check(metric(api, 'harmony_inspect_rejected_total', service='tls',
                       reason=reason) == (2 if reason == 'no-route' else 1),
                '%s not counted' % reason)
    svc = api.get('/api/v1/services/tls').json()
    h.check(svc.get('sni') == {'a.example': 'alpha', '*.b.example': 'beta'} and
            svc.get('sni-default') == 'close' and svc.get('send-proxy') == 'off' and
            svc.get('inspect-timeout') == 1000, 'REST %r' % svc)
    svc = api.get('/api/v1/services/pp1').json()
    h.check(svc.get('accept-proxy') == ['127.0.0.0/8', '::1/128'] and
            svc.get('send-proxy') == 'v1', 'REST %r' % svc)
    alpha = api.get('/api/v1/services/alpha').json()
    h.check(alpha['totals']['connected'] >= 1, 'alpha counted nothing: %r' % alpha['totals'])

    # The checks of chk send a v2 LOCAL header, and nothing else.
    h.check(h.wait_until(lambda: chk_be.count() > 0, 5), 'no check reached chk')
    h.check(chk_be.got[0] == V2_SIG + b'\x20\x00\x00\x00', 'the check sent %r' % chk_be.got[0])

    h.check(h.wait_until(lambda: hd.fd_count() == fds, 5),
            'fds %d, were %d' % (hd.fd_count(), fds))

    # SIGHUP removes beta and its route: nothing points at it any more.
    del conf['services']['beta']
    conf['services']['tls']['sni'] = {'a.example': 'alpha'}
    h.write_file('edge.json', json.dumps(conf))
    hd.popen.send_signal(signal.SIGHUP)
    h.check(hd.wait_log(r'configuration reloaded', 10) is not None,
            'no reload:\n%s' % hd.log_text())
    h.check(refused(ports['tls'], client_hello('x.b.example') + b'END\n'),
            'the removed route still served')
    got = exchange(ports['tls'], [client_hello('a.example') + b'END\n'])
    h.check(got == b'ALPHA\n', 'after the reload a.example reached %r' % got)
    h.check(metric(api, 'harmony_sni_routed_total', service='tls', to='alpha') == 3,
            'the count of alpha did not carry over the reload')
    hd.stop()
    dead.close()


h.run(main)
