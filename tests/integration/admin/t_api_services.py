#!/usr/bin/env python3
"""The REST interface of services, with the one service harmonyd runs
today, `default`: GET /api/v1/services lists it with its listeners as bound,
algorithm and counts; GET/PATCH /api/v1/services/default show and change
the same tunables as /api/v1/config (and need the same token); its targets
and persistence table under /api/v1/services/default/...; every target says
its service, and POST /api/v1/targets takes one; a name that is no service
(unknown, invalid, hostile) is a 404 whose JSON names it escaped; /metrics
has the per-service series and each target's service."""

import json
import urllib.parse

import harness as h
from adminhttp import Api, harmonyd, parse_metrics

TOKEN = 's3rvices-t0ken'
SVC = '/api/v1/services/default'


def check_404(r, name, what):
    h.check(r.status == 404, '%s: %d %s' % (what, r.status, r.text[:200]))
    h.check(r.header('content-type') == 'application/json', '%s: type %r'
            % (what, r.header('content-type')))
    err = r.json().get('error', '')
    h.check(err.startswith("no service '%s'" % name), '%s: error %r' % (what, err))


def listing(api, hd):
    svcs = api.expect(200, 'GET', '/api/v1/services').json()['services']
    h.check(len(svcs) == 1, 'one service: %r' % svcs)
    s = svcs[0]
    h.check(s['name'] == 'default' and s['default'] is True, 'name %r' % s)
    h.check(s['listeners'] == ['127.0.0.1:%d' % hd.port],
            'listeners as bound: %r (clients on %d)' % (s['listeners'], hd.port))
    h.check(s['algorithm'] == 'leastconn' and s['persistent'] is True, 'algo %r' % s)
    for key in ('active', 'queued', 'sessions', 'concurrency', 'paused',
                'persistence_entries'):
        h.check(key in s, 'service has no %s: %r' % (key, s))
    h.check(s['targets']['total'] == 0 and s['targets']['up'] == 0, 'targets %r'
            % s['targets'])
    h.check('config' not in s, 'the list shows no config')
    one = api.expect(200, 'GET', SVC).json()
    cfg = api.expect(200, 'GET', '/api/v1/config').json()
    h.check(one['config'] == cfg, 'service config %r != /api/v1/config %r'
            % (one['config'], cfg))
    h.check(one['name'] == 'default' and one['listeners'] == s['listeners'],
            'GET service %r' % one)
    h.check(api.call('HEAD', SVC).status == 200, 'HEAD a service')
    r = api.call('POST', SVC, {'requeue': 1})
    h.check(r.status == 405 and r.header('allow') == 'GET, HEAD, PATCH',
            'POST a service: %d %r' % (r.status, r.headers))


def patching(api, anon):
    h.check(anon.patch(SVC, {'requeue': 3}).status == 401, 'PATCH needs the token')
    r = api.expect(200, 'PATCH', SVC, {'requeue': 3, 'balance': 'roundrobin'})
    h.check(r.json()['config']['requeue'] == 3 and
            r.json()['algorithm'] == 'roundrobin', 'PATCH answer %r' % r.json())
    cfg = api.expect(200, 'GET', '/api/v1/config').json()
    h.check(cfg['requeue'] == 3 and cfg['balance'] == 'roundrobin',
            '/api/v1/config after PATCH of the service: %r' % cfg)
    # The same rules: checked whole, nothing lands.
    r = api.patch(SVC, {'requeue': 2, 'concurrency': -5})
    h.check(r.status == 422, 'out of range: %d %s' % (r.status, r.text))
    h.check(api.get('/api/v1/config').json()['requeue'] == 3, 'nothing landed')
    api.expect(200, 'PATCH', '/api/v1/config', {'balance': 'leastconn'})
    h.check(api.get(SVC).json()['algorithm'] == 'leastconn', 'and the other way')


def targets(api, be1, be2):
    t1 = api.expect(201, 'POST', SVC + '/targets', {'port': be1.port}).json()
    h.check(t1['service'] == 'default', 'registered in %r' % t1.get('service'))
    t2 = api.register(be2.port, service='default')
    h.check(t2['service'] == 'default', 'body service: %r' % t2)
    again = api.register(be2.port, status=200)
    h.check(again['id'] == t2['id'], 'the same target again')
    listed = api.expect(200, 'GET', SVC + '/targets').json()['targets']
    h.check(sorted(t['id'] for t in listed) == sorted([t1['id'], t2['id']]),
            'service targets %r' % listed)
    h.check(all(t['service'] == 'default' for t in api.targets()), 'service field')
    h.check(api.target(t1['id'])['service'] == 'default', 'one target')
    check_404(api.post('/api/v1/targets', {'port': be1.port, 'service': 'nope'}),
              'nope', 'POST to a service that does not exist')
    r = api.post('/api/v1/targets', {'port': be1.port, 'service': 'No!'})
    h.check(r.status == 422 and 'service' in r.json()['error'],
            'an invalid name: %d %s' % (r.status, r.text))
    r = api.post(SVC + '/targets', {'port': be1.port, 'service': 'web'})
    h.check(r.status == 422, 'body and path disagree: %d %s' % (r.status, r.text))
    s = api.get(SVC).json()
    h.check(s['targets']['total'] == 2 and s['targets']['up'] == 2,
            'counts %r' % s['targets'])
    return t1, t2


def persistence(api, hd):
    for src in ('127.0.0.2', '127.0.0.3'):
        with h.connect(hd.port, source=src) as c:
            h.check(h.recv_all(c, 10, 4096) != b'', 'no answer through harmonyd')
    whole = api.expect(200, 'GET', '/api/v1/persistence').json()
    mine = api.expect(200, 'GET', SVC + '/persistence').json()

    def clients(p):
        return sorted((e['client'], e['target']) for e in p['entries'])
    h.check(mine['count'] == 2 and clients(mine) == clients(whole),
            'service persistence %r vs %r' % (mine, whole))
    h.check(api.get(SVC).json()['persistence_entries'] == 2, 'entries count')
    api.expect(204, 'DELETE', SVC + '/persistence/127.0.0.2')
    api.expect(404, 'DELETE', SVC + '/persistence/127.0.0.2')
    h.check(api.get('/api/v1/persistence').json()['count'] == 1, 'one forgotten')
    api.expect(204, 'DELETE', SVC + '/persistence')
    h.check(api.get('/api/v1/persistence').json()['count'] == 0, 'flushed')
    r = api.call('PATCH', SVC + '/persistence', {})
    h.check(r.status == 405 and r.header('allow') == 'GET, HEAD, DELETE',
            'PATCH persistence: %d' % r.status)


def unknown(api, be1):
    for method, path, body in (('GET', '/api/v1/services/nope', None),
                               ('PATCH', '/api/v1/services/nope', {'requeue': 1}),
                               ('GET', '/api/v1/services/nope/targets', None),
                               ('POST', '/api/v1/services/nope/targets',
                                {'port': be1.port}),
                               ('GET', '/api/v1/services/nope/persistence', None),
                               ('DELETE', '/api/v1/services/nope/persistence', None)):
        check_404(api.call(method, path, body), 'nope', '%s %s' % (method, path))
    # Invalid names are 404 too (no service has them), and named escaped.
    check_404(api.get('/api/v1/services/Default'), 'Default', 'upper case')
    check_404(api.get('/api/v1/services/' + 'a' * 64), 'a' * 64, '64 bytes')
    evil = '"<script>\\\n\x1b\u00e9'
    r = api.get('/api/v1/services/' + urllib.parse.quote(evil, safe=''))
    h.check(r.status == 404, 'hostile name: %d' % r.status)
    err = json.loads(r.body.decode('utf-8'))['error']   # still one JSON object
    h.check(err.startswith('no service \'"<script>\\x5c\\x0a\\x1b\u00e9\''),
            'hostile name shown escaped: %r' % err)
    h.check(b'<script>\\\n' not in r.body and b'\x1b' not in r.body,
            'raw bytes in the body: %r' % r.body)
    r = api.get('/api/v1/services/' + 'x' * 300)
    h.check(r.status == 404 and len(r.json()['error']) < 200,
            'a long name is cut: %r' % r.text[:100])
    h.check(api.get('/api/v1/services/default/nothing').status == 404, 'sub path')
    h.check(api.get('/api/v1/services/').status == 404, 'no name')


def metrics(api, t1):
    m = parse_metrics(api.expect(200, 'GET', '/metrics').text)
    h.check(m.get(('harmony_service_targets', '{service="default",state="up"}')) == 2,
            'service targets up')
    info = '{service="default",id="%d",host="127.0.0.1",port="%d"}' % (t1['id'],
                                                                     t1['port'])
    h.check(m.get(('harmony_target_info', info)) == 1, 'target info %s' % info)
    h.check(m.get(('harmony_service_connections_accepted_total',
                   '{service="default"}')) == m.get(
                       ('harmony_connections_accepted_total', '')),
            'per-service accepted = daemon-wide with one service')
    h.check(('harmony_service_relayed_bytes_total',
             '{service="default",direction="up"}') in m, 'service bytes')
    # Today's series keep their labels.
    h.check(('harmony_target_weight', '{id="%d",host="127.0.0.1",port="%d"}'
             % (t1['id'], t1['port'])) in m, 'target weight unchanged')


def main():
    be1 = h.Backend('name', name='A')
    be2 = h.Backend('name', name='B')
    hd = harmonyd('--token', TOKEN)
    api = Api(hd.http_port, token=TOKEN)
    anon = Api(hd.http_port)
    listing(api, hd)
    patching(api, anon)
    t1, _ = targets(api, be1, be2)
    persistence(api, hd)
    unknown(api, be1)
    metrics(api, t1)
    hd.stop()


h.run(main)
