"""peers: real third-party peers for the PROXY protocol and SNI tests
(tests/integration/edge/t_*.py), and the client side those tests speak.

Each peer is a child of the test (a harness.Proc, so harness.run() ends it
by PID whatever happens), with its configuration, pid file, logs and temp
paths in the test's temporary directory, in the foreground, listening only
on 127.0.0.0/8 or ::1:

- Nginx(servers): nginx 'http' server blocks (`-p DIR -c CONF`, single
  process, daemon off);
- Haproxy(text): haproxy with a configuration's frontends and backends
  (`-f CFG -db`, foreground);
- SServer(cert): `openssl s_server -www` with one certificate;
- Cert(name): a self-signed certificate (EC P-256, one day) for a name and
  its subdomains.

need(binary) skips the test (exit 77) when a binary is missing, and only
then. Ports come from free_port(); a peer that cannot listen fails the test
with its error log.

Client side: pp_v1()/pp_v2() build PROXY headers as HAProxy's
proxy-protocol.txt says (to forge, split and oversize them);
client_hello() is a real ClientHello from Python's ssl module, big_hello()
a made one of any size, reframe() cuts one into more TLS records;
TlsClient completes a TLS handshake over a plain socket (so the hello can
be trickled); s_client() and curl_https() run the real clients;
http_get() is a one-shot HTTP/1.0 request.

harmonyd side: harmonyd(conf) starts one from a config dict and learns its
services' listeners; metric() reads /metrics by labels; expect_refused()
is what every refused inspection must look like (closed without a byte,
counted by reason).
"""

import ipaddress
import json
import os
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time

import harness as h
import relcheck as rc
from adminhttp import parse_metrics

_count = 0
PEER_START = 15             # seconds a peer has to start listening


def _nth(prefix):
    global _count
    _count += 1
    d = os.path.join(h.tmpdir(), '%s-%d' % (prefix, _count))
    os.makedirs(d)
    return d


def need(binary, hint=None):
    """The path of binary (PATH, then /usr/sbin), or skip the test."""
    path = shutil.which(binary) or shutil.which(binary, path='/usr/sbin:/sbin')
    if path is None:
        h.skip('%s is not installed (Debian: apt-get install %s)'
               % (binary, hint or binary))
    return path


def free_port(host='127.0.0.1'):
    """A port free on host right now, for a peer's configuration.

    Taken below the kernel's ephemeral range (where every bind to port 0
    and every connect's source port come from), so that another test's
    sockets do not take it before the peer binds it."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rnd = random.Random()
    for _ in range(200):
        port = rnd.randrange(max(1024, low - 12000), low)
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _can_connect(host, port):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect((host, port))
            return True
        except OSError:
            return False


def _wait_listening(proc, addrs, logfile=None):
    """Waits until every (host, port) accepts; fails with the peer's log if
    it exits or does not within PEER_START s."""
    deadline = time.monotonic() + PEER_START
    todo = list(addrs)
    while todo:
        if not proc.alive():
            break
        if _can_connect(*todo[0]):
            todo.pop(0)
            continue
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if todo:
        text = ''
        if logfile and os.path.exists(logfile):
            with open(logfile, errors='replace') as f:
                text = f.read()[-3000:]
        proc.kill()
        h.fail('%s is not listening on %r within %d s (status %s):\n%s\n%s'
               % (proc.label, todo, PEER_START, proc.popen.poll(), text,
                  proc.err.text()[-3000:]))


# --- nginx ---------------------------------------------------------------

class Nginx(h.Proc):
    """nginx serving `servers` (the text of http{} server blocks).

    listen is the list of (host, port) the servers listen on, waited for."""

    def __init__(self, servers, listen, label='nginx'):
        binary = need('nginx')
        self.dir = _nth('nginx')
        self.error_log = os.path.join(self.dir, 'error.log')
        self.access_log = os.path.join(self.dir, 'access.log')
        conf = os.path.join(self.dir, 'nginx.conf')
        temp = ''.join('    %s_temp_path %s;\n' % (k, os.path.join(self.dir, k))
                       for k in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))
        with open(conf, 'w') as f:
            f.write('events { worker_connections 256; }\n'
                    'http {\n'
                    '    access_log %s;\n'
                    '    default_type text/plain;\n'
                    '    keepalive_timeout 0;\n'
                    '%s%s\n}\n' % (self.access_log, temp, servers))
        glob = 'daemon off; master_process off; pid %s; error_log %s info;' % (
            os.path.join(self.dir, 'nginx.pid'), self.error_log)
        super().__init__(label, [binary, '-e', self.error_log, '-p', self.dir,
                                 '-c', conf, '-g', glob])
        _wait_listening(self, listen, self.error_log)

    def log_text(self):
        with open(self.error_log, errors='replace') as f:
            return f.read()

    def dump(self, tail=40):
        super().dump(tail)
        for path in (self.error_log, self.access_log):
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    lines = f.read().splitlines()[-tail:]
                print('  [%s]' % path)
                for line in lines:
                    print('  ' + line)


def nginx_addr_server(port, proxy_protocol=True):
    """An nginx server on 127.0.0.1:port and [::1]:port answering every
    request with 'addr=<$proxy_protocol_addr> remote=<$remote_addr>'."""
    pp = ' proxy_protocol' if proxy_protocol else ''
    return ('    server {\n'
            '        listen 127.0.0.1:%d%s;\n'
            '        listen [::1]:%d%s;\n'
            '        location / { return 200 "addr=<$proxy_protocol_addr> '
            'remote=<$remote_addr>\\n"; }\n'
            '    }\n' % (port, pp, port, pp))


# --- haproxy -------------------------------------------------------------

class Haproxy(h.Proc):
    """haproxy with `sections` (frontends/backends) after a global and
    defaults section of its own; listen as for Nginx."""

    def __init__(self, sections, listen, mode='tcp', label='haproxy'):
        binary = need('haproxy')
        self.dir = _nth('haproxy')
        cfg = os.path.join(self.dir, 'haproxy.cfg')
        with open(cfg, 'w') as f:
            f.write('global\n'
                    '    maxconn 256\n'
                    '    pidfile %s\n'
                    '    log stderr format short local0 info\n'
                    'defaults\n'
                    '    mode %s\n'
                    '    log global\n'
                    '    timeout connect 5s\n'
                    '    timeout client 30s\n'
                    '    timeout server 30s\n'
                    '%s' % (os.path.join(self.dir, 'haproxy.pid'), mode, sections))
        super().__init__(label, [binary, '-f', cfg, '-db'])
        _wait_listening(self, listen)


# --- openssl ---------------------------------------------------------------

class Cert:
    """A self-signed EC certificate for name and *.name (pem paths)."""

    def __init__(self, name):
        openssl = need('openssl')
        d = _nth('cert')
        self.name = name
        self.cert = os.path.join(d, 'cert.pem')
        self.key = os.path.join(d, 'key.pem')
        p = subprocess.run(
            [openssl, 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
             '-subj', '/CN=%s' % name, '-addext',
             'subjectAltName=DNS:%s,DNS:*.%s' % (name, name),
             '-keyout', self.key, '-out', self.cert],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        h.check(p.returncode == 0, 'openssl req for %s failed: %s'
                % (name, p.stderr.decode(errors='replace')))


class SServer(h.Proc):
    """`openssl s_server -www` on 127.0.0.1 with cert: every request gets
    'HTTP/1.0 200 ok' and a status page, then the connection closes."""

    def __init__(self, cert, port=None, label=None):
        openssl = need('openssl')
        self.port = port or free_port()
        self.cert = cert
        super().__init__(label or 's_server %s' % cert.name,
                         [openssl, 's_server', '-accept', '127.0.0.1:%d' % self.port,
                          '-cert', cert.cert, '-key', cert.key, '-www', '-quiet'])
        _wait_listening(self, [('127.0.0.1', self.port)])

    def target(self, weight=None):
        t = '127.0.0.1:%d' % self.port
        return t if weight is None else '%s@%d' % (t, weight)


def s_client(port, servername=None, cafile=None, host='127.0.0.1', timeout=30,
             verify_name=True):
    """`openssl s_client` to host:port (-servername, or -noservername when
    None), verifying the peer against cafile for servername; sends one
    HTTP/1.0 request. verify_name=False: the certificate need not be for
    servername. (returncode, stdout text, stderr text)."""
    cmd = [need('openssl'), 's_client', '-connect', '%s:%d' % (host, port),
           '-ign_eof', '-verify_return_error']
    cmd += ['-servername', servername] if servername else ['-noservername']
    if cafile:
        cmd += ['-CAfile', cafile]
    if servername and cafile and verify_name:
        cmd += ['-verify_hostname', servername.lower()]
    try:
        p = subprocess.run(cmd, input=b'GET / HTTP/1.0\r\n\r\n',
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        h.fail('%s did not finish within %d s' % (' '.join(cmd), timeout))
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


def curl_https(port, name, cafile, timeout=30):
    """curl https://name:port/ with --resolve name:port:127.0.0.1 and
    --cacert cafile: (returncode, body, stderr)."""
    cmd = [need('curl'), '-sS', '--max-time', str(timeout), '--http1.0',
           '--cacert', cafile, '--resolve', '%s:%d:127.0.0.1' % (name, port),
           'https://%s:%d/' % (name, port)]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        h.fail('%s did not finish' % ' '.join(cmd))
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


def client_hello(server_name=None):
    """The first flight of a Python ssl client (its ClientHello), with SNI
    server_name or none."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    h.check(hello[:1] == b'\x16', 'ssl made no ClientHello: %r' % hello[:16])
    return hello


def big_hello(total, server_name=None, bad=False):
    """A TLS 1.2 ClientHello record of about total bytes: a padding
    extension (RFC 7685) first, then server_name if given. bad=True: the
    extensions' length says one byte more than there is."""
    exts = b''
    pad = max(0, total - 60 - (len(server_name) + 9 if server_name else 0))
    exts += struct.pack('!HH', 21, pad) + b'\0' * pad
    if server_name:
        n = server_name.encode()
        entry = b'\x00' + struct.pack('!H', len(n)) + n
        lst = struct.pack('!H', len(entry)) + entry
        exts += struct.pack('!HH', 0, len(lst)) + lst
    body = (b'\x03\x03' + os.urandom(32) + b'\x00' + struct.pack('!H', 2)
            + b'\xc0\x2f' + b'\x01\x00' + struct.pack('!H', len(exts) + bad) + exts)
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    return b'\x16\x03\x01' + struct.pack('!H', len(hs)) + hs


def reframe(flight, size):
    """The TLS records of flight again, their payloads cut into records of
    at most size bytes (what a peer may do to a ClientHello)."""
    out, off = [], 0
    while off + 5 <= len(flight):
        kind, ver, n = flight[off:off + 1], flight[off + 1:off + 3], \
            struct.unpack('!H', flight[off + 3:off + 5])[0]
        payload = flight[off + 5:off + 5 + n]
        for i in range(0, len(payload), size):
            part = payload[i:i + size]
            out.append(kind + ver + struct.pack('!H', len(part)) + part)
        off += 5 + n
    return b''.join(out) + flight[off:]


class TlsClient:
    """A TLS client over a plain connected socket, through memory BIOs, so
    the test decides how the ClientHello is written (pieces, pauses).

    handshake(pieces, pause, records, before) sends `before` (e.g. a PROXY
    header) and the first flight, its records cut to `records` bytes of
    payload, in `pieces` writes `pause` s apart, then completes the
    handshake, verifying the server's certificate against cafile for
    server_name."""

    def __init__(self, sock, server_name, cafile, timeout=30):
        ctx = ssl.create_default_context(cafile=cafile)
        if server_name is None:
            ctx.check_hostname = False
        self.sock, self.timeout = sock, timeout
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=server_name)

    def _read_more(self, deadline):
        left = deadline - time.monotonic()
        h.check(left > 0, 'TLS: no answer within %d s' % self.timeout)
        self.sock.settimeout(left)
        b = self.sock.recv(65536)
        if not b:
            self.inc.write_eof()
        else:
            self.inc.write(b)
        return b

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def handshake(self, pieces=1, pause=0.0, records=None, before=b''):
        deadline = time.monotonic() + self.timeout
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        first = self.out.read()
        if records:
            first = reframe(first, records)
        first = before + first
        step = max(1, -(-len(first) // pieces))
        for off in range(0, len(first), step):
            self.sock.sendall(first[off:off + step])
            if pause and off + step < len(first):
                time.sleep(pause)
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                return self.obj.getpeercert()
            except ssl.SSLWantReadError:
                self._flush()
                if not self._read_more(deadline):
                    h.fail('TLS: EOF during the handshake')

    def request(self, data=b'GET / HTTP/1.0\r\n\r\n'):
        """Writes data, returns everything until the server closes."""
        deadline = time.monotonic() + self.timeout
        self.obj.write(data)
        self._flush()
        got = []
        while True:
            try:
                b = self.obj.read(65536)
                if not b:
                    break
                got.append(b)
            except ssl.SSLWantReadError:
                if not self._read_more(deadline):
                    break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
        return b''.join(got)


# --- PROXY protocol headers (as the test writes them) ----------------------

V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'


def pp_v1(src, dst):
    """'PROXY TCP4|TCP6 src dst sport dport\\r\\n' for (host, port) pairs."""
    fam = 'TCP6' if ':' in src[0] else 'TCP4'
    return ('PROXY %s %s %s %d %d\r\n' % (fam, src[0], dst[0], src[1], dst[1])).encode()


def pp_v2(src=None, dst=None, tlvs=b'', local=False):
    """A v2 header: PROXY over TCP4/TCP6 for (host, port) pairs, then tlvs
    (raw bytes, counted in the length); local=True: LOCAL, AF_UNSPEC."""
    if local:
        return V2_SIG + b'\x20\x00' + struct.pack('!H', len(tlvs)) + tlvs
    a, b = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    fam = 0x21 if a.version == 6 else 0x11
    addrs = a.packed + b.packed + struct.pack('!HH', src[1], dst[1])
    return (V2_SIG + bytes([0x21, fam]) + struct.pack('!H', len(addrs) + len(tlvs))
            + addrs + tlvs)


def tlv(kind, value):
    return bytes([kind]) + struct.pack('!H', len(value)) + value


# --- harmonyd --------------------------------------------------------------

def harmonyd(conf, *args, label=None):
    """harmonyd -c (conf, a dict, written as JSON) with an access log;
    .svc maps each service to its listeners' [(host, port)]."""
    path = h.write_file('harmonyd-%d.json' % (h.Harmonyd._count + 1), json.dumps(conf))
    hd = h.Harmonyd('-c', path, *args, base=False, access_log=True, label=label)
    h.check(hd.http_port is not None, 'no admin port logged:\n' + hd.log_text())
    hd.svc = {}
    for name, addr in re.findall(r'listening: service (\S+) (\S+)', hd.log_text()):
        host, _, port = addr.rpartition(':')
        hd.svc.setdefault(name, []).append((host.strip('[]'), int(port)))
    return hd


def port_of(hd, service, family=4):
    """The port of service's first IPv4 (family 4) or IPv6 (6) listener."""
    for host, port in hd.svc.get(service, []):
        if (':' in host) == (family == 6):
            return port
    h.fail('service %s has no IPv%d listener logged: %r' % (service, family, hd.svc))


def access_host(line):
    """The host part of an access-log line's client=ADDR:PORT."""
    return line.get('client', '').rpartition(':')[0].strip('[]')


# --- plain clients, metrics ----------------------------------------------

def connect(port, host='127.0.0.1', source=None, timeout=30.0):
    """A TCP socket connected to host:port (IPv4 or IPv6), from source."""
    return socket.create_connection((host, port), timeout,
                                    None if source is None else (source, 0))


def http_get(port, host='127.0.0.1', source=None, before=b'', timeout=30.0):
    """One HTTP/1.0 GET (after the bytes `before`, e.g. a PROXY header):
    (response bytes, how the read ended: eof, reset or timeout)."""
    with connect(port, host, source, timeout) as s:
        s.sendall(before + b'GET / HTTP/1.0\r\nHost: test\r\n\r\n')
        return h.recv_to_end(s, timeout, limit=1024 * 1024)


def metrics(hd):
    """/metrics as [(name, {label: value}, number)]."""
    st, body = rc.request(hd.http_port, 'GET', '/metrics')
    h.check(st == 200, 'GET /metrics: %d' % st)
    out = []
    for (name, labels), v in parse_metrics(body.decode()).items():
        d = {}
        for part in labels.strip('{}').split('",') if labels else []:
            k, _, val = part.partition('="')
            d[k] = val.rstrip('"')
        out.append((name, d, v))
    return out


def metric(hd, name, **labels):
    """The value of the series name{labels...} (0 if there is none)."""
    for n, d, v in metrics(hd):
        if n == name and all(d.get(k) == val for k, val in labels.items()):
            return v
    return 0


def rejected(hd, service, reason):
    return metric(hd, 'harmony_inspect_rejected_total', service=service, reason=reason)


def wait_rejected(hd, service, reason, n, timeout=10):
    """Waits for harmony_inspect_rejected_total{service,reason} >= n."""
    return h.wait_until(lambda: rejected(hd, service, reason) >= n, timeout, 0.1)


def expect_refused(hd, service, port, send, reason, n, what, source=None,
                   host='127.0.0.1', wait=10.0):
    """Connects (from source), sends `send` and keeps the connection open:
    harmonyd must close it within wait s without writing a byte (not even
    its unavailable text) and count it: harmony_inspect_rejected_total
    {service,reason} reaches n. Returns the seconds until the close."""
    t0 = time.monotonic()
    with connect(port, host, source, timeout=20) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if send:
                s.sendall(send)
        except OSError:
            pass                # closed already: what comes next says how
        data, how = h.recv_to_end(s, wait, limit=65536)
    took = time.monotonic() - t0
    h.check(data == b'' and how in ('eof', 'reset'),
            '%s: expected harmonyd to close without a byte within %.0f s; got %r '
            'then %s' % (what, wait, data, how))
    h.check(wait_rejected(hd, service, reason, n),
            '%s: harmony_inspect_rejected_total{service="%s",reason="%s"} should be '
            '%d, is %r' % (what, service, reason, n, rejected(hd, service, reason)))
    return took
