#!/usr/bin/env python3
"""Who changed a target, with two services (web, the default, and api):
a static target is registered by config; one registered over the ack port
is registered, given its weight and port (up) by ack; one registered over
HTTP in service api is registered by http; an operator's drain, undrain,
weight and delete are the operator's. The history is daemon-wide, newest
first, one seq for every service, and also per service and per target;
?limit= bounds it."""

import json

import harness as h
from ackclient import RefClient
from adminhttp import Api, Events


def brief(events):
    return [(e['service'], e['event'], e['by']) for e in events]


def main():
    st, ak, ht = (h.Backend('name', name=n) for n in ('ST', 'AK', 'HT'))
    path = h.write_file('two.json', json.dumps({
        'ack-port': '127.0.0.1:0', 'http': '127.0.0.1:0', 'default': 'web',
        'services': {
            'web': {'listen': '127.0.0.1:0', 'target': [st.target()]},
            'api': {'listen': '127.0.0.1:0'},
        }}))
    hd = h.Harmonyd('-c', path, base=False)
    api = Api(hd.http_port)
    ev = Events(api)
    h.check(ev.wait(lambda s: True, 10) is not None, 'no snapshot')

    c = RefClient(hd.ack_port, ak.port, weight=700)
    c.register()
    h.check(hd.wait_log(r'target web/\d+ 127\.0\.0\.1:%d is UP \(by ack\)' % ak.port, 5),
            'ack registration not logged:\n' + hd.log_text())
    t = api.expect(201, 'POST', '/api/v1/services/api/targets', {'port': ht.port}).json()
    h.check(t['service'] == 'api', 'registered in %r' % t)
    h.check(hd.wait_log(r'target api/%d 127\.0\.0\.1:%d registered, weight 500 '
                        r'\(by http\)' % (t['id'], ht.port), 5), 'http registration line')
    tid = t['id']
    api.expect(200, 'PATCH', '/api/v1/targets/%d' % tid, {'state': 'draining'})
    h.check(hd.wait_log(r'target api/%d \S+ is DRAINING \(by operator\)' % tid, 5),
            'drain line:\n' + hd.log_text())
    api.expect(200, 'PATCH', '/api/v1/targets/%d' % tid, {'state': 'up', 'weight': 5})
    api.expect(204, 'DELETE', '/api/v1/targets/%d' % tid)
    h.check(hd.wait_log(r'target api/%d \S+ is REMOVED \(by operator' % tid, 5),
            'delete line:\n' + hd.log_text())

    every = api.history()
    seqs = [e['seq'] for e in every]
    h.check(seqs == list(range(seqs[0], seqs[0] - len(seqs), -1)), 'seqs %r' % seqs)
    want = [('web', 'registered', 'config'),
            ('web', 'registered', 'ack'), ('web', 'weight', 'ack'), ('web', 'up', 'ack'),
            ('api', 'registered', 'http'),
            ('api', 'draining', 'operator'), ('api', 'weight', 'operator'),
            ('api', 'up', 'operator'),
            ('api', 'draining', 'operator'), ('api', 'removed', 'operator')]
    h.check(brief(reversed(every)) == want, 'history %r' % brief(reversed(every)))
    h.check(h.wait_until(lambda: len(ev.targets()) >= len(want) - 1, 5), 'SSE short')
    # The stream started after the static registration.
    h.check(brief(ev.targets()) == want[1:], 'SSE %r' % brief(ev.targets()))
    weight = [e for e in every if e['event'] == 'weight']
    h.check([e['weight'] for e in weight] == [5, 700], 'weights %r' % weight)
    portless = [e for e in every if e['by'] == 'ack' and e['event'] == 'registered'][0]
    h.check(portless['to'] == 'portless' and portless['name'] == '127.0.0.1',
            'an ack NID is registered port-less: %r' % portless)

    h.check(brief(reversed(api.history('/api/v1/services/api'))) ==
            [w for w in want if w[0] == 'api'], 'api history')
    h.check(brief(reversed(api.history('/api/v1/services/web'))) ==
            [w for w in want if w[0] == 'web'], 'web history')
    h.check(brief(reversed(api.history('/api/v1/services/default'))) ==
            [w for w in want if w[0] == 'web'], 'default is web')
    mine = api.history('/api/v1/targets/%d' % tid)
    h.check(len(mine) == 6 and all(e['target'] == tid for e in mine), 'target %r' % mine)
    h.check(api.history(limit=2) == every[:2], 'limit 2')
    h.check(api.history('/api/v1/services/web', limit=1) ==
            [e for e in every if e['service'] == 'web'][:1], 'service limit 1')
    for bad in ('0', '-1', 'x', '10001'):
        api.expect(400, 'GET', '/api/v1/events/history?limit=' + bad)
    api.expect(404, 'GET', '/api/v1/services/nope/events/history')
    api.expect(405, 'POST', '/api/v1/events/history')
    h.check(api.history('/api/v1/targets/999') == [], 'an unknown target has none')
    ev.close()
    c.shutdown()
    hd.stop()


h.run(main)
