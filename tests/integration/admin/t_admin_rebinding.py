#!/usr/bin/env python3
"""DNS rebinding: a web page on evil.example can point its own name at
127.0.0.1 and then talk to the admin port same-origin, with Host and Origin
both "evil.example:PORT". The admin interface must answer only requests
whose Host names it: the listen address, loopback (localhost, *.localhost,
127.0.0.0/8, [::1]), the names given with --admin-host, and, when it
listens on a wildcard address, the host's own addresses. Anything else is
refused (421, JSON error) for every route, reads included, and changes
nothing."""

import re

import harness as h
from adminhttp import Api, harmonyd


def own_addresses():
    """The host's non-loopback IPv4 addresses (from /proc/net/fib_trie)."""
    found, last = set(), None
    try:
        with open('/proc/net/fib_trie') as f:
            for line in f:
                m = re.match(r'\s+\|-- (\S+)', line)
                if m:
                    last = m.group(1)
                elif '/32 host LOCAL' in line and last and not last.startswith('127.'):
                    found.add(last)
    except OSError:
        pass
    return sorted(found)


def refused(api, method, path, host, origin=None, body=None):
    hdrs = ['Host: %s' % host]
    if origin:
        hdrs.append('Origin: %s' % origin)
    r = api.call(method, path, body, headers=hdrs)
    h.check(r.status == 421, '%s %s with Host %r: expected 421, got %d %s'
            % (method, path, host, r.status, r.text[:200]))
    h.check('error' in r.json(), 'the refusal is a JSON error: %r' % r.text)
    return r


def allowed(api, host, path='/api/v1/status'):
    r = api.call('GET', path, headers=['Host: %s' % host])
    h.check(r.status == 200, 'GET %s with Host %r: expected 200, got %d %s'
            % (path, host, r.status, r.text[:200]))


def main():
    hd = harmonyd('--admin-host', 'admin.example', '--web-root', h.tmpdir())
    port = hd.http_port
    api = Api(port)
    evil = 'evil.example:%d' % port
    origin = 'http://' + evil

    # The rebound page: reads and writes, with Host and Origin agreeing.
    refused(api, 'GET', '/api/v1/status', evil)
    refused(api, 'GET', '/api/v1/targets', evil)
    refused(api, 'GET', '/api/v1/events', evil)
    refused(api, 'GET', '/metrics', evil)
    refused(api, 'GET', '/', evil)
    refused(api, 'POST', '/api/v1/targets', evil, origin, {'port': 9})
    refused(api, 'PATCH', '/api/v1/config', evil, origin, {'concurrency': 0})
    refused(api, 'DELETE', '/api/v1/persistence', evil, origin)
    for host in ('127.0.0.1.nip.io:%d' % port, 'localhost.evil.example',
                 '198.51.100.7:%d' % port, '[2001:db8::1]:%d' % port,
                 'admin.example.evil', '127.0.0.1:%d:1' % port, ':%d' % port, ''):
        refused(api, 'GET', '/api/v1/status', host)
    h.check(api.targets() == [], 'nothing registered: %r' % api.targets())
    h.check(api.get('/api/v1/config').json()['concurrency'] == -1,
            'the config is unchanged')

    # Names of this server are fine.
    for host in ('127.0.0.1:%d' % port, '127.0.0.1', 'localhost:%d' % port,
                 'LOCALHOST.', 'dash.localhost:%d' % port, '127.0.0.5',
                 '[::1]:%d' % port, 'admin.example:%d' % port, 'Admin.Example.'):
        allowed(api, host)
    r = api.call('POST', '/api/v1/targets', {'port': 9},
                 headers=['Host: localhost:%d' % port,
                          'Origin: http://localhost:%d' % port])
    h.check(r.status == 201, 'a same-origin write from localhost: %d %s'
            % (r.status, r.text))
    hd.stop()

    # On a wildcard address: the host's own addresses, as literals.
    hd = harmonyd('--http', '0.0.0.0:0')
    api = Api(hd.http_port)
    allowed(api, '127.0.0.1:%d' % hd.http_port)
    mine = own_addresses()
    h.log('own addresses: %r' % mine)
    for a in mine:
        allowed(api, '%s:%d' % (a, hd.http_port))
    if '198.51.100.7' not in mine:
        refused(api, 'GET', '/api/v1/status', '198.51.100.7:%d' % hd.http_port)
    refused(api, 'GET', '/api/v1/status', 'evil.example:%d' % hd.http_port)
    hd.stop()


h.run(main)
