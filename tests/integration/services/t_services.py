#!/usr/bin/env python3
"""Two services in one harmonyd (issue 15), from a config file: web
(roundrobin, static targets, no persistence, the default) and api (hash,
persistence, its own unavailable text), on two ports. Each port reaches
only its own service's targets, registered every way there is: static,
over HTTP (POST /api/v1/services/api/targets), over the ack port with
SVC:api: before the NID, and by harmony-agent --service api; an
unmodified node-harmony client (no SVC) lands in the default service.
Persistence tables are kept apart; today's routes mean the default
service; a target id is found whatever its service; /metrics labels each
target with its service."""

import json
import re

import harness as h
from ackclient import RefClient
from adminhttp import Api, parse_metrics
from agenthelp import Agent, served_by


def served(port, n):
    """The backends' names that n connections to port reached."""
    names = []
    for _ in range(n):
        with h.connect(port, timeout=10) as s:
            names.append(h.recv_line(s, timeout=10))
    return names


def main():
    wa, wb = h.Backend('name', name='WA'), h.Backend('name', name='WB')
    ac, ad, ae = (h.Backend('name', name=n) for n in ('AC', 'AD', 'AE'))
    legacy = h.Backend('name', name='LEGACY')
    path = h.write_file('two.json', json.dumps({
        'ack-port': '127.0.0.1:0', 'http': '127.0.0.1:0',
        'host-timeout': '5s', 'default': 'web',
        'services': {
            'web': {'listen': '127.0.0.1:0', 'balance': 'roundrobin',
                    'persistent': False, 'target': [wa.target(), wb.target()]},
            'api': {'listen': '127.0.0.1:0', 'balance': 'hash',
                    'unavailable': 'api down\\n'},
        }}))
    hd = h.Harmonyd('-c', path, base=False)
    m = hd.wait_log(r'listening: service api 127\.0\.0\.1:(\d+)', 1)
    h.check(m is not None, 'the api listener is logged:\n%s' % hd.log_text())
    api_port = int(m.group(1))
    api = Api(hd.http_port)

    svcs = {s['name']: s for s in api.get('/api/v1/services').json()['services']}
    h.check(sorted(svcs) == ['api', 'web'], 'services %r' % sorted(svcs))
    h.check(svcs['web']['default'] and not svcs['api']['default'], 'default %r' % svcs)
    h.check(svcs['web']['listeners'] == ['127.0.0.1:%d' % hd.port] and
            svcs['api']['listeners'] == ['127.0.0.1:%d' % api_port],
            'listeners %r' % svcs)
    h.check(svcs['web']['algorithm'] == 'roundrobin' and
            svcs['api']['algorithm'] == 'hash', 'algorithms %r' % svcs)
    h.check(svcs['web']['targets']['total'] == 2 and svcs['api']['targets']['total'] == 0,
            'static targets in web only: %r' % svcs)

    # api has nothing yet: its own text; web serves its two, in turn.
    h.check(served(api_port, 1) == [b'api down\n'], 'api with no target')
    h.check(sorted(served(hd.port, 4)) == [b'WA\n', b'WA\n', b'WB\n', b'WB\n'],
            'web round robin over its static targets')

    # api's targets, registered three ways.
    t_c = api.expect(201, 'POST', '/api/v1/services/api/targets',
                     {'port': ac.port}).json()
    h.check(t_c['service'] == 'api', 'HTTP registration %r' % t_c)
    ref = RefClient(hd.ack_port, ad.port, weight=500, extra=b'SVC:api:')
    answers = ref.register()
    h.check(answers[0][0] == 'NID', 'ack SVC:api: registration %r' % answers)
    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', ae.port,
               '--ack', '500ms', '--service', 'api')
    h.check(ag.wait_log(r'registered port %d' % ae.port) is not None,
            'the agent registered in api:\n%s' % ag.err.text())
    # An unmodified node-harmony client names no service: the default one.
    old = RefClient(hd.ack_port, legacy.port, weight=500)
    old.register()
    # "default", which no service is called here, means the default one.
    h.check(api.get('/api/v1/services/default').json()['name'] == 'web',
            '/api/v1/services/default is web')
    alias = RefClient(hd.ack_port, legacy.port, weight=500, extra=b'SVC:default:')
    h.check(alias.register()[0][0] == 'NID', 'SVC:default: registers')
    legacy_t = [t for t in api.targets() if t['port'] == legacy.port]
    h.check(len(legacy_t) == 1 and legacy_t[0]['service'] == 'web',
            'SVC:default: is the same backend again, in web: %r' % legacy_t)
    # A service that does not exist: refused on both sides.
    with h.connect(hd.ack_port) as s:
        s.sendall(b'SVC:nope:NID::')
        s.settimeout(10)
        got = s.recv(64)
    h.check(got.startswith(b'ERR:service:'), 'SVC:nope: answered %r' % got)
    h.check(api.post('/api/v1/services/nope/targets', {'port': 1}).status == 404,
            'POST to no service is 404')

    def names_of(service):
        return sorted(t['port'] for t in
                      api.get('/api/v1/services/%s/targets' % service).json()['targets'])
    h.check(h.wait_until(lambda: names_of('api') == sorted([ac.port, ad.port, ae.port])),
            'api targets %r' % names_of('api'))
    h.check(names_of('web') == sorted([wa.port, wb.port, legacy.port]),
            'web targets %r' % names_of('web'))
    default_route = sorted(t['port'] for t in api.targets())
    h.check(default_route == names_of('web'), '/api/v1/targets is the default'
            ' service: %r' % default_route)
    one = api.get('/api/v1/targets/%d' % t_c['id']).json()
    h.check(one['service'] == 'api' and one['port'] == ac.port,
            '/api/v1/targets/{id} finds an api target: %r' % one)

    # Each port reaches only its own targets.
    web_names = set(served(hd.port, 12))
    h.check(web_names <= {b'WA\n', b'WB\n', b'LEGACY\n'}, 'web reached %r' % web_names)
    api_names = set(served(api_port, 6))
    h.check(api_names and api_names <= {b'AC\n', b'AD\n', b'AE\n'},
            'api reached %r' % api_names)
    # Every target that took a session says how long its connects take.
    took = [t for t in api.get('/api/v1/services/api/targets').json()['targets']
            if t['total'] > 0]
    h.check(took and all(isinstance(t['connect_ms'], int) and t['connect_ms'] >= 0 and
                         t['connect_avg_ms'] >= 0 for t in took),
            'connect times: %r' % [(t['port'], t.get('connect_ms')) for t in took])
    # hash + persistence: one client address, one api target.
    h.check(len(api_names) == 1, 'api keeps a client on one target: %r' % api_names)

    # Persistence: api remembers the client, web (no persistence) does not.
    p_api = api.get('/api/v1/services/api/persistence').json()
    h.check(p_api['count'] == 1 and p_api['entries'][0]['client'] == '127.0.0.1',
            'api persistence %r' % p_api)
    p_web = api.get('/api/v1/persistence').json()
    h.check(p_web['count'] == 0, 'web (the default) has none: %r' % p_web)
    api.expect(204, 'DELETE', '/api/v1/services/api/persistence/127.0.0.1')
    h.check(api.get('/api/v1/services/api/persistence').json()['count'] == 0,
            'forgotten in api')

    # A tunable of one service changes only that one.
    api.expect(200, 'PATCH', '/api/v1/services/api', {'concurrency': 0})
    h.check(api.get('/api/v1/services/web').json()['concurrency'] == -1,
            'web untouched by a PATCH of api')
    h.check(api.get('/api/v1/config').json()['concurrency'] == -1,
            '/api/v1/config is the default service')
    api.expect(200, 'PATCH', '/api/v1/services/api', {'concurrency': -1})

    # /metrics: every per-target series says its service.
    m = parse_metrics(api.get('/metrics').text)
    labels = '{service="api",id="%d",host="127.0.0.1",port="%d"}' % (t_c['id'], ac.port)
    h.check(('harmony_target_weight', labels) in m, 'per-target series with'
            ' service: %r' % [k for k in m if k[0] == 'harmony_target_weight'])
    h.check(m.get(('harmony_service_targets', '{service="api",state="up"}')) == 3,
            'api targets up in /metrics')
    h.check(m.get(('harmony_targets', '{state="up"}')) == 4, 'daemon-wide up'
            ' (web: 2 static, 1 up; api: 3 up): %r' % m.get(('harmony_targets', '{state="up"}')))
    h.check(m.get(('harmony_targets', '{state="static"}')) == 2, 'daemon-wide static')

    ag.stop()
    hd.stop()


if __name__ == '__main__':
    h.run(main)
