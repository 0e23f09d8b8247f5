#!/usr/bin/env python3
"""Targets registered over HTTP live by heartbeats: with --host-timeout 1s
a silent one goes down, an ack (or registering again) brings it back, its
own "ttl" overrides the default, and down for 10 timeouts removes it."""

import harness as h
from adminhttp import Api, harmonyd


def state(api, tid):
    r = api.get('/api/v1/targets/%d' % tid)
    return r.json()['state'] if r.status == 200 else r.status


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = harmonyd('--host-timeout', '1s', '--no-persistent')
    api = Api(hd.http_port)
    ta = api.register(a.port)
    tb = api.register(b.port, ttl='20s')
    h.check(ta['timeout_ms'] == 1000 and tb['timeout_ms'] == 20000,
            'timeouts %r %r' % (ta['timeout_ms'], tb['timeout_ms']))

    h.check(h.wait_until(lambda: state(api, ta['id']) == 'down', 5),
            'a silent target is still %r after 5 s' % state(api, ta['id']))
    h.check(state(api, tb['id']) == 'up', 'the target with ttl 20s went %r'
            % state(api, tb['id']))
    for _ in range(10):
        h.check(h.name_of(hd.port) == 'B', 'a down target got a connection')

    # An ack brings it back; so does registering it again.
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % ta['id'])
    h.check(state(api, ta['id']) == 'up', 'ack left it %r' % state(api, ta['id']))
    h.check(h.wait_until(lambda: state(api, ta['id']) == 'down', 5), 'not down again')
    again = api.register(a.port, status=200)
    h.check(again['id'] == ta['id'] and again['state'] == 'up',
            'registering a down target again: %r' % again)

    # Down for 10 x 1 s: removed.
    h.check(h.wait_until(lambda: state(api, ta['id']) == 404, 25),
            'a target down for 10 timeouts is still %r' % state(api, ta['id']))
    h.check([t['id'] for t in api.targets()] == [tb['id']], 'targets %r' % api.targets())
    hd.stop()


h.run(main)
