#!/usr/bin/env python3
"""The admin API steering real traffic: a weight change moves the split of
the next 300 connections, drain and undrain, delete, the persistence table
(list, forget one, flush), and pause (concurrency 0) -> queue -> resume."""

import collections
import socket
import time

import harness as h
from adminhttp import Api, harmonyd


def split(hd, n):
    names = collections.Counter()
    for i in range(n):
        names[h.name_of(hd.port)] += 1
        hd.settle(i + 1 + split.done)
    split.done += n
    return names


split.done = 0


def weights(api, hd, ta, tb):
    c = split(hd, 100)
    h.check(abs(c['A'] - 50) <= 5 and abs(c['B'] - 50) <= 5,
            'equal weights split %r' % dict(c))
    t = api.expect(200, 'PATCH', '/api/v1/targets/%d' % tb['id'], {'weight': 300}).json()
    h.check(t['weight'] == 300, 'PATCH answered %r' % t)
    c = split(hd, 300)
    h.log('after weight 100:300: %r' % dict(c))
    h.check(abs(c['A'] - 75) <= 10 and abs(c['B'] - 225) <= 10,
            'weights 100:300 split 300 connections %r' % dict(c))


def drain(api, hd, ta, tb):
    api.expect(200, 'PATCH', '/api/v1/targets/%d' % ta['id'], {'state': 'draining'})
    h.check(api.target(ta['id'])['state'] == 'draining', 'not draining')
    c = split(hd, 20)
    h.check(c == {'B': 20}, 'a draining target got connections: %r' % dict(c))
    api.expect(200, 'PATCH', '/api/v1/targets/%d' % ta['id'], {'state': 'up'})
    c = split(hd, 20)
    h.check(c['A'] > 0, 'an undrained target got nothing: %r' % dict(c))


def delete(api, hd, ta, tb):
    api.expect(204, 'DELETE', '/api/v1/targets/%d' % tb['id'])
    h.check(all(t['id'] != tb['id'] for t in api.targets()), 'deleted target listed')
    api.expect(404, 'GET', '/api/v1/targets/%d' % tb['id'])
    c = split(hd, 10)
    h.check(c == {'A': 10}, 'a deleted target got connections: %r' % dict(c))


def persistence(hd2, api2):
    sources = ['127.0.0.%d' % i for i in range(2, 8)]
    first = {s: h.name_of(hd2.port, source=s) for s in sources}
    p = api2.persistence()
    h.check(p['count'] == len(sources), 'persistence count %r' % p['count'])
    byname = {t['id']: t['name'] for t in api2.targets()}
    for e in p['entries']:
        h.check(e['client'] in first, 'unexpected client %r' % e)
        h.check(e['target'] in byname and e['target_name'] == byname[e['target']],
                'entry names target %r' % e)
        h.check(isinstance(e['last_use_ms_ago'], int) and e['hits'] >= 0, 'entry %r' % e)
    # Sticky: the same answer again.
    for s in sources:
        h.check(h.name_of(hd2.port, source=s) == first[s], '%s moved' % s)
    api2.expect(204, 'DELETE', '/api/v1/persistence/127.0.0.2')
    api2.expect(404, 'DELETE', '/api/v1/persistence/127.0.0.2')
    api2.expect(400, 'DELETE', '/api/v1/persistence/not-an-address')
    p = api2.persistence()
    h.check(p['count'] == len(sources) - 1 and
            all(e['client'] != '127.0.0.2' for e in p['entries']), 'forget one: %r' % p)
    api2.expect(204, 'DELETE', '/api/v1/persistence')
    h.check(api2.persistence()['count'] == 0, 'flush left entries')
    h.check(api2.get('/api/v1/persistence?limit=0').status == 400, 'limit=0 accepted')


def pause(hd2, api2):
    c = api2.expect(200, 'PATCH', '/api/v1/config', {'concurrency': 0}).json()
    h.check(c['concurrency'] == 0 and api2.status()['paused'], 'not paused: %r' % c)
    socks = [h.connect(hd2.port, source='127.0.0.%d' % (20 + i)) for i in range(3)]
    try:
        h.check(h.wait_until(lambda: api2.status()['queued'] == 3, 10),
                'paused clients are not queued: %r' % api2.status())
        for s in socks:
            s.settimeout(0.5)
            try:
                data = s.recv(16)
            except socket.timeout:
                data = None
            h.check(data is None, 'a paused client was served: %r' % data)
        c = api2.expect(200, 'PATCH', '/api/v1/config', {'concurrency': -1}).json()
        h.check(c['concurrency'] == -1, 'resume answered %r' % c)
        for s in socks:
            line = h.recv_line(s, 20)
            h.check(line in (b'A\n', b'B\n'), 'a resumed client got %r' % line)
    finally:
        for s in socks:
            s.close()
    h.check(h.wait_until(lambda: api2.status()['queued'] == 0, 10), 'queue not empty')
    # The other tunables, at run time.
    c = api2.expect(200, 'PATCH', '/api/v1/config',
                    {'balance': 'roundrobin', 'requeue': 2, 'persistent': False,
                     'unavailable': 'busy\r\n'}).json()
    h.check(c['balance'] == 'roundrobin' and c['requeue'] == 2 and
            c['persistent'] is False and c['unavailable'] == 'busy\r\n', 'config %r' % c)
    st = api2.status()
    h.check(st['algorithm'] == 'roundrobin' and not st['persistent'], 'status %r' % st)
    for t in api2.targets():
        api2.expect(200, 'PATCH', '/api/v1/targets/%d' % t['id'], {'state': 'draining'})
    h.expect_unavailable(hd2.port, b'busy\r\n')


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = harmonyd('--no-persistent', '--balance', 'roundrobin', access_log=True)
    api = Api(hd.http_port)
    ta = api.register(a.port, weight=100)
    tb = api.register(b.port, weight=100)
    weights(api, hd, ta, tb)
    drain(api, hd, ta, tb)
    delete(api, hd, ta, tb)
    hd.stop()

    hd2 = harmonyd()
    api2 = Api(hd2.http_port)
    api2.register(a.port)
    api2.register(b.port)
    persistence(hd2, api2)
    pause(hd2, api2)
    hd2.stop()


h.run(main)
