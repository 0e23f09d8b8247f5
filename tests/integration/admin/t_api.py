#!/usr/bin/env python3
"""The admin REST API with curl against the real daemon: registration (and
again), heartbeat, keys kept secret, errors (400 401 403 404 405 413 415
422), the dashboard's static files, /metrics and the event stream."""

import re
import socket
import time

import harness as h
from adminhttp import Api, Events, harmonyd, parse_metrics, web_root

TOKEN = 'api-test-token'


def check_error(r, status, what):
    h.check(r.status == status, '%s: expected %d, got %d %s'
            % (what, status, r.status, r.text[:200]))
    h.check(r.header('content-type') == 'application/json',
            '%s: error without JSON Content-Type' % what)
    h.check(isinstance(r.json().get('error'), str), '%s: no "error" text' % what)


def registration(api, hd, be1, be2):
    keys = []
    t = api.register(be1.port, weight=1000, host='127.0.0.1', ttl='60s')
    h.check(t['port'] == be1.port and t['weight'] == 1000 and t['host'] == '127.0.0.1',
            'registered target is %r' % t)
    h.check(t['state'] == 'up' and t['source'] == 'http', 'state/source %r' % t)
    h.check(t['timeout_ms'] == 60000, 'ttl 60s gave timeout %r' % t['timeout_ms'])
    h.check(re.fullmatch(r'[0-9a-f]{32}', t.get('key', '')), 'no key in %r' % t)
    keys.append(t['key'])

    # Again: the same target, 200, no key without proof; the key holder gets it.
    again = api.register(be1.port, status=200)
    h.check(again['id'] == t['id'], 'second registration made a new target')
    h.check('key' not in again, 'key handed out to a caller without it')
    mine = api.expect(200, 'POST', '/api/v1/targets', {'port': be1.port},
                      token=t['key']).json()
    h.check(mine.get('key') == t['key'], 'the key holder did not get its key back')
    h.check(len(api.targets()) == 1, 'idempotent registration listed twice')

    # The host defaults to the caller's address; ttl as seconds.
    t2 = api.register(be2.port, ttl=30)
    h.check(t2['host'] == '127.0.0.1' and t2['timeout_ms'] == 30000, 'got %r' % t2)
    keys.append(t2['key'])

    # Someone else's address needs the token, and none is configured: 403.
    r = api.post('/api/v1/targets', {'port': be1.port, 'host': '127.0.0.2'})
    check_error(r, 403, 'other host without a token')

    # A client reaches them.
    h.check(h.name_of(hd.port) in ('A', 'B'), 'no backend answered')

    # Heartbeat: 204, and the age restarts.
    time.sleep(0.3)
    before = api.target(t['id'])['last_ack_ms_ago']
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % t['id'])
    after = api.target(t['id'])['last_ack_ms_ago']
    h.check(before >= 250 and after < before, 'ack did not reset the age: %d -> %d'
            % (before, after))
    return t, t2, keys


def errors(api, t):
    tid = t['id']
    check_error(api.get('/api/v1/nothing'), 404, 'unknown route')
    check_error(api.get('/api/v1/targets/999'), 404, 'unknown target')
    check_error(api.post('/api/v1/targets/999/ack'), 404, 'ack of unknown target')
    check_error(api.delete('/api/v1/persistence/127.0.0.99'), 404, 'unknown client')
    r = api.call('PUT', '/api/v1/targets')
    check_error(r, 405, 'PUT targets')
    h.check(r.header('allow') == 'GET, HEAD, POST', 'Allow: %r' % r.header('allow'))
    r = api.call('DELETE', '/metrics')
    check_error(r, 405, 'DELETE /metrics')
    h.check(r.header('allow') == 'GET, HEAD', 'Allow: %r' % r.header('allow'))
    check_error(api.post('/api/v1/targets', raw=b'{"port": 80'), 400, 'broken JSON')
    check_error(api.post('/api/v1/targets', raw=b'{"port":80} {}'), 400, 'trailing data')
    check_error(api.post('/api/v1/targets', raw=b'{"port":80}\0'), 400, 'NUL byte')
    check_error(api.post('/api/v1/targets', raw=b'[' * 100 + b']' * 100), 400, 'nesting')
    check_error(api.post('/api/v1/targets', {'port': 0}), 422, 'port 0')
    check_error(api.post('/api/v1/targets', {'port': 65536}), 422, 'port 65536')
    check_error(api.post('/api/v1/targets', {'port': 80, 'weight': 0}), 422, 'weight 0')
    check_error(api.post('/api/v1/targets', {'port': 80, 'weight': 1000001}), 422,
                'weight 1000001')
    check_error(api.post('/api/v1/targets', {'port': 80, 'ttl': 'soon'}), 422, 'bad ttl')
    check_error(api.post('/api/v1/targets', {'port': '80'}), 422, 'port as text')
    check_error(api.post('/api/v1/targets', {'port': 80, 'host': 'localhost'}), 422,
                'host name')
    check_error(api.patch('/api/v1/targets/%d' % tid, {'weight': 10 ** 30}), 422,
                'huge weight')
    check_error(api.patch('/api/v1/targets/%d' % tid, {'state': 'down'}), 422,
                'state down')
    check_error(api.patch('/api/v1/config', {'concurrency': -5}), 422, 'concurrency -5')
    check_error(api.patch('/api/v1/config', {'balance': 'random'}), 422, 'balance')
    # A browser on another site cannot write (CSRF), even to a body-less route.
    check_error(api.post('/api/v1/targets/%d/ack' % tid,
                         headers=['Origin: http://evil.example']), 403, 'cross-origin ack')
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % tid,
               headers=['Origin: %s' % api.base])
    # 415: a body must say it is JSON.
    check_error(api.post('/api/v1/targets', {'port': 80}, content_type=None), 415,
                'no Content-Type')
    check_error(api.post('/api/v1/targets', {'port': 80},
                         content_type='application/x-www-form-urlencoded'), 415,
                'form Content-Type')
    # 413: announced, and sent chunked (then drained and answered).
    big = b'{"port":80,"x":"' + b'a' * 70000 + b'"}'
    check_error(api.post('/api/v1/targets', raw=big), 413, 'large body')
    check_error(api.post('/api/v1/targets', raw=big,
                         headers=['Transfer-Encoding: chunked']), 413, 'large chunked body')
    # Exactly at the cap is fine (and then a 422 for the unknown field).
    pad = 65536 - len(b'{"port":80,"x":""}')
    check_error(api.post('/api/v1/targets', raw=b'{"port":80,"x":"' + b'a' * pad + b'"}'),
                422, 'body of exactly 64 KiB')
    # The daemon is still fine.
    h.check(len(api.targets()) == 2, 'targets changed by bad requests')


def static_files(api):
    r = api.expect(200, 'GET', '/')
    h.check(r.header('content-type') == 'text/html; charset=utf-8', 'index type %r'
            % r.header('content-type'))
    h.check(r.header('cache-control') == 'no-cache', 'index Cache-Control %r'
            % r.header('cache-control'))
    h.check(r.header('x-content-type-options') == 'nosniff', 'no nosniff on /')
    h.check('Content-Security-Policy' in r.headers or
            'content-security-policy' in r.headers, 'no CSP on the page')
    h.check(b'app.js' in r.body, 'index.html does not load app.js')
    r = api.expect(200, 'GET', '/app.js')
    h.check(r.header('content-type') == 'text/javascript; charset=utf-8', 'js type')
    h.check(r.header('cache-control').startswith('max-age='), 'asset Cache-Control')
    etag = r.header('etag')
    r = api.call('GET', '/app.js', headers=['If-None-Match: %s' % etag])
    h.check(r.status == 304, 'If-None-Match gave %d' % r.status)
    r = api.expect(200, 'GET', '/style.css')
    h.check(r.header('content-type') == 'text/css; charset=utf-8', 'css type')
    for path in ('/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc/passwd',
                 '/.hidden', '//etc/passwd', '/nothing.html', '/web/', '/app.js/'):
        r = api.get(path)
        h.check(r.status == 404, '%s gave %d' % (path, r.status))
    # MHD would cut the path at a decoded NUL: refused before that.
    check_error(api.get('/index.html%00.css'), 400, 'NUL in the URL')
    r = api.call('HEAD', '/')
    h.check(r.status == 200 and r.header('content-type').startswith('text/html'),
            'HEAD / gave %d %r' % (r.status, r.headers))
    check_error(api.post('/index.html', {'x': 1}), 405, 'POST to a file')


def metrics(api, hd, t):
    r = api.expect(200, 'GET', '/metrics')
    h.check(r.header('content-type') == 'text/plain; version=0.0.4; charset=utf-8',
            'metrics type %r' % r.header('content-type'))
    m = parse_metrics(r.text)
    labels = '{id="%d",host="127.0.0.1",port="%d"}' % (t['id'], t['port'])
    h.check(m.get(('harmony_target_weight', labels)) == t['weight'],
            'no weight for target %d in /metrics' % t['id'])
    h.check(m.get(('harmony_targets', '{state="up"}')) == 2, 'targets up != 2')
    h.check(m.get(('harmony_connections_accepted_total', '')) >= 1, 'accepted')
    h.check(('harmony_target_sessions_total', labels) in m, 'per-target sessions')
    for name in ('harmony_queue_length', 'harmony_sessions_active',
                 'harmony_unavailable_total', 'harmony_connect_failures_total',
                 'harmony_persistence_entries', 'harmony_uptime_seconds'):
        h.check((name, '') in m, '%s missing' % name)
    return r.text


def events(api, be3):
    ev = Events(api)
    first = ev.wait(lambda s: True, 10)
    h.check(first is not None, 'no snapshot on connecting to /api/v1/events')
    h.check('status' in first and 'targets' in first and 'persistence' in first,
            'snapshot keys %r' % list(first))
    t = api.register(be3.port, weight=7)
    got = ev.wait(lambda s: any(x['id'] == t['id'] for x in s['targets']), 5)
    h.check(got is not None, 'no event within 5 s of a registration')
    api.expect(204, 'DELETE', '/api/v1/targets/%d' % t['id'])
    got = ev.wait(lambda s: s['status']['targets']['total'] == 2 and
                  all(x['id'] != t['id'] for x in s['targets']), 5)
    h.check(got is not None, 'no event after a removal')
    # Events are coalesced: a burst of changes is not a burst of events.
    n0 = len(ev.snapshots())
    for w in range(1, 41):
        api.call('PATCH', '/api/v1/targets/1', {'weight': w})
    time.sleep(1.0)
    n1 = len(ev.snapshots())
    h.check(n1 > n0, 'no event for 40 weight changes')
    h.check(ev.wait(lambda s: s['targets'][0]['weight'] == 40, 5) is not None,
            'the last weight never came')
    text = ev.proc.out.text()
    ev.close()
    return text, t


def token_mode(be1, be2):
    hd = harmonyd('--token', TOKEN)
    anon = Api(hd.http_port)
    admin = Api(hd.http_port, token=TOKEN)
    r = anon.post('/api/v1/targets', {'port': be1.port})
    check_error(r, 401, 'register without the token')
    h.check((r.header('www-authenticate') or '').startswith('Bearer'),
            'no WWW-Authenticate: Bearer')
    check_error(anon.post('/api/v1/targets', {'port': be1.port}, token='wrong'), 401,
                'register with a wrong token')
    t1 = admin.register(be1.port)
    # The token may register someone else's address.
    t2 = admin.register(be2.port, host='127.0.0.2')
    h.check(t2['host'] == '127.0.0.2', 'host %r' % t2['host'])
    # Reads need nothing.
    h.check(len(anon.targets()) == 2, 'anonymous read failed')
    # A key acts on its own target only.
    anon.expect(204, 'POST', '/api/v1/targets/%d/ack' % t1['id'], token=t1['key'])
    anon.expect(200, 'PATCH', '/api/v1/targets/%d' % t1['id'], {'weight': 9},
                token=t1['key'])
    check_error(anon.post('/api/v1/targets/%d/ack' % t2['id'], token=t1['key']), 401,
                'key of another target')
    check_error(anon.patch('/api/v1/config', {'concurrency': 0}, token=t1['key']), 401,
                'a key is not the token')
    check_error(anon.delete('/api/v1/persistence'), 401, 'flush without token')
    # The token holder gets the key when registering again.
    again = admin.register(be1.port, status=200)
    h.check(again.get('key') == t1['key'], 'token holder did not get the key')
    anon.expect(204, 'DELETE', '/api/v1/targets/%d' % t1['id'], token=t1['key'])
    h.check(len(anon.targets()) == 1, 'delete by key failed')
    log = hd.log_text()
    for k in (t1['key'], t2['key']):
        h.check(k not in log, 'a key is in the daemon log')
    h.check(TOKEN not in log, 'the token is in the daemon log')
    hd.stop()


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    c = h.Backend('name', name='C')
    hd = harmonyd('--web-root', web_root())
    api = Api(hd.http_port)
    h.check(api.targets() == [], 'targets at start')
    t, t2, keys = registration(api, hd, a, b)
    errors(api, t)
    static_files(api)
    mtext = metrics(api, hd, t)
    etext, t3 = events(api, c)
    keys.append(t3['key'])

    # No key in any listing, the metrics, the events or the log.
    listing = api.get('/api/v1/targets').text + api.get('/api/v1/targets/%d' % t['id']).text
    listing += api.get('/api/v1/status').text + api.get('/api/v1/persistence').text
    for k in keys:
        for where, text in (('GET', listing), ('/metrics', mtext), ('events', etext),
                            ('the log', hd.log_text())):
            h.check(k not in text, 'a target key appears in %s' % where)

    # Garbage (here a TLS hello) is answered 400 or just closed; nothing else moves.
    for junk in (b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n',
                 b'GET\r\n\r\n', b'GET / HTTP/9.9\r\n\r\n'):
        with socket.create_connection(('127.0.0.1', hd.http_port), timeout=10) as s:
            s.sendall(junk)
            data = h.recv_all(s, 20, 65536)
            h.check(data == b'' or re.match(rb'HTTP/1\.[01] [45]\d\d ', data),
                    '%r got %r' % (junk, data[:60]))
    h.check(len(api.targets()) == 2, 'targets after garbage')
    hd.stop()

    token_mode(a, b)


h.run(main)
