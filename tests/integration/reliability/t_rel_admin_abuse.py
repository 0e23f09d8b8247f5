"""t_rel_admin_abuse: hostile input on the admin port gets a 4xx and
disturbs nothing.

Reliability scenario 8 (docs/RELIABILITY.md):
- a 64 KiB header, 1000 headers, a 1 MiB body: a 4xx (or, for headers, a
  close) and nothing else;
- DOCS random malformed JSON documents (deep nesting, huge numbers, bad UTF-8,
  wrong types, truncation, random bytes) to each write route: POST
  /api/v1/targets, PATCH /api/v1/targets/{id}, PATCH /api/v1/config, and POST
  /api/v1/targets/{id}/ack (whose body is ignored: 204 or 4xx); never a 2xx
  that changes anything, never a 5xx;
- path traversal on the static files: 4xx, and no file outside the web root;
- then: the registry and the config are unchanged, proxying works, the
  session counts agree, the daemon's descriptors are back.
"""

import json
import os
import random
import socket
import time

import harness as h
import relcheck as rc

DOCS = 2000


def raw_request(port, data, timeout=20):
    """Sends data, reads to EOF: the status code (0 if none) and the answer."""
    with h.connect(port, timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        buf, _ = h.recv_to_end(s, timeout)
    if buf.startswith(b'HTTP/1.') and len(buf) >= 12:
        return int(buf[9:12]), buf
    return 0, buf


def bad_string(rnd):
    # Not here: the escape "\ud800" (a lone surrogate), which json-c turns into
    # U+FFFD and the daemon accepts; see docs/RELIABILITY.md.
    return rnd.choice([b'"\xff\xfe"', b'"\xc3\x28"', b'"\xed\xa0\x80"', b'"\xf8\x88\x80\x80\x80"',
                       b'"\xed\xb0\x80"', b'"abc', b'"\x00"', b'"' + b'x' * 70000 + b'"'])


def bad_number(rnd):
    return rnd.choice([b'1e400', b'-1e400', b'99999999999999999999999999999',
                       b'-99999999999999999999', b'1.5', b'-1', b'0x10', b'NaN', b'Infinity',
                       b'00012', b'1' * 400, b'4294967297', b'1000001'])


def bad_doc(rnd, keys):
    kind = rnd.randrange(7)
    if kind == 0:        # deep nesting
        d = rnd.randint(17, 3000)
        o, c = rnd.choice([(b'[', b']'), (b'{"a":', b'}')])
        return o * d + b'1' + c * d
    if kind == 1:        # a real key, a huge or out-of-range number
        key = rnd.choice(keys)
        v = bad_number(rnd)
        while key == 'concurrency' and v in (b'-1', b'1000001'):    # valid there
            v = bad_number(rnd)
        return b'{"%s": %s}' % (key.encode(), v)
    if kind == 2:        # a real key, a bad UTF-8 or unterminated string
        return b'{"%s": %s}' % (rnd.choice(keys).encode(), bad_string(rnd))
    if kind == 3:        # wrong types ("unavailable": null is valid: no text)
        key = rnd.choice(keys)
        v = rnd.choice([b'[]', b'{}', b'[1,2]', b'{"x":1}'] +
                       ([b'null'] if key != 'unavailable' else []) +
                       ([b'true'] if key != 'persistent' else []))
        return b'{"%s": %s}' % (key.encode(), v)
    if kind == 4:        # not an object at all
        return rnd.choice([b'[]', b'1', b'"x"', b'null', b'true', b'[{"port": 1}]'])
    if kind == 5:        # truncated
        doc = json.dumps({k: 1 for k in keys}).encode()
        return doc[:rnd.randrange(1, len(doc))]
    return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))


def snapshot(port):
    ts = rc.get_json(port, '/api/v1/targets')['targets']
    keep = ('id', 'host', 'port', 'weight', 'state', 'source', 'leaving')
    cfg = rc.get_json(port, '/api/v1/config')
    return sorted(tuple(t[k] for k in keep) for t in ts), cfg


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    web = os.path.join(h.SRCDIR, 'web')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', a.target(), '--web-root', web,
                    '--balance', 'roundrobin', '--no-persistent',
                    label='harmonyd (admin abuse)')
    port = hd.http_port
    st, body = rc.request(port, 'POST', '/api/v1/targets',
                          json.dumps({'port': b.port, 'weight': 7}))
    h.check(st == 201, 'registering B: %d %r' % (st, body))
    tid = json.loads(body)['id']
    before = snapshot(port)
    fd0 = hd.fd_count()
    stats = {}

    def note(what, status):
        stats.setdefault(what, {}).setdefault(status, 0)
        stats[what][status] += 1

    # Oversized headers and bodies.
    st, _ = raw_request(port, b'GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ' +
                        b'a' * 65536 + b'\r\n\r\n')
    h.check(st == 0 or 400 <= st < 500, 'a 64 KiB header: got %d' % st)
    note('64 KiB header', st)
    st, _ = raw_request(port, b'GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
                        b''.join(b'X-H%d: v\r\n' % i for i in range(1000)) + b'\r\n')
    h.check(st == 0 or 400 <= st < 500, '1000 headers: got %d' % st)
    note('1000 headers', st)
    big = b'{"port": 1, "x": "' + b'a' * (1024 * 1024) + b'"}'
    st, _ = rc.request(port, 'POST', '/api/v1/targets', big)
    # 413, or a reset when the server answers and closes before the client has
    # sent it all (the client then may not read the 413).
    h.check(st in (413, 0), 'a 1 MiB body: expected 413, got %d' % st)
    note('1 MiB body', st)
    st, _ = raw_request(port, b'POST /api/v1/targets HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                        b'Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{')
    h.check(st == 0 or 400 <= st < 500, 'a huge Content-Length: got %d' % st)
    note('Content-Length 99999999999', st)

    # Path traversal.
    for path in ('/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
                 '/..%2f..%2f..%2fetc%2fpasswd', '/js/../../../etc/passwd',
                 '/%2e%2e%2f%2e%2e%2fetc/passwd', '//etc/passwd', '/./../Makefile.am',
                 '/%00index.html', '/index.html%00.js', '/....//....//etc/passwd',
                 '/' + '../' * 40 + 'etc/passwd', '/..\\..\\etc\\passwd'):
        st, resp = raw_request(port, b'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
                               % path.encode())
        note('traversal', st)
        h.check(400 <= st < 500, 'GET %s: expected a 4xx, got %d' % (path, st))
        h.check(b'root:' not in resp and b'INTEGRATION_TESTS' not in resp,
                'GET %s served a file outside the web root' % path)

    # Random malformed documents to every write route.
    rnd = random.Random(4242)
    routes = [('POST', '/api/v1/targets', ['port', 'weight', 'host', 'ttl'], False),
              ('PATCH', '/api/v1/targets/%d' % tid, ['weight', 'state'], False),
              ('PATCH', '/api/v1/config', ['concurrency', 'requeue', 'balance',
                                           'persistent', 'unavailable'], False),
              ('POST', '/api/v1/targets/%d/ack' % tid, ['x'], True)]
    t0 = time.monotonic()
    surprises = []
    for method, path, keys, ignored in routes:
        for i in range(DOCS):
            doc = bad_doc(rnd, keys)
            st, body = rc.request(port, method, path, doc)
            note('%s %s' % (method, path.replace(str(tid), '{id}')), st)
            if ignored and st == 204:
                continue
            if not 400 <= st < 500:
                surprises.append((method, path, doc[:120], st, body[:200]))
    kinds = sorted(set((m, p, d[:60]) for m, p, d, _, _ in surprises))
    for k in kinds[:20]:
        h.log('accepted: %r' % (k,))
    el = time.monotonic() - t0
    for k, v in sorted(stats.items()):
        h.log('%s: %s' % (k, ', '.join('%d x%d' % kv for kv in sorted(v.items()))))
    h.log('%d malformed documents in %.1f s' % (DOCS * len(routes), el))
    h.check(not surprises, '%d malformed documents were not refused with a 4xx; first: %r'
            % (len(surprises), surprises[:3]))

    # Nothing else disturbed.
    after = snapshot(port)
    h.check(after == before, 'the registry or config changed:\nbefore %r\nafter  %r'
            % (before, after))
    # B weighs 7 against A's 500: over 6 sessions, A serves (nearly) all.
    names = [h.name_of(hd.port) for _ in range(6)]
    h.check(len(names) == 6 and set(names) <= {'A', 'B'},
            'proxying after the abuse: %r' % names)
    rc.settle(hd, fd0 + 2)      # libmicrohttpd may keep its listen/epoll fds busy
    hd.stop()
    a.stop()
    b.stop()


h.run(main)
