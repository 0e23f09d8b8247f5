#!/usr/bin/env python3
"""t_check_http: http checks against the test backend's http mode, whose
status a file sets (tests/lib/backend.c --status-file), configured per
service in a config file; errors name the service and the key; SIGHUP
applies a changed check.

- services.web.check {"type": "http", "path": "/health", "status":
  "200-299", "interval": "200ms", "rise": 1, "fall": 1}: passing at 200,
  failing with "wrong status: 503" at 503 (no client reaches it then: the
  other target serves), passing again at 204;
- the top level's check is inherited by a service that sets none (api);
- a bad key: "services.web.check.rise: ..." and exit 2;
- SIGHUP with web's check removed: its target's "check" is null, and it is
  chosen whatever the status file says.
"""

import json
import os
import signal

import harness as h
import relcheck as rc


def targets(hd):
    got = {}
    for svc in ('web', 'api'):
        for t in rc.get_json(hd.http_port, '/api/v1/services/%s/targets' % svc)['targets']:
            got[t['port']] = t
    return got


def status_of(hd, port):
    c = targets(hd)[port]['check']
    return c and c['status']


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def main():
    sfile = os.path.join(h.tmpdir(), 'status')
    write(sfile, '200\n')
    web = h.Backend('http', name='WEB', status_file=sfile)
    web2 = h.Backend('http', name='WEB2')
    api = h.Backend('name', name='API')
    conf = {
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'web',
        'check': {'type': 'tcp', 'interval': '300ms', 'fall': 1, 'rise': 1},
        'services': {
            'web': {'listen': '127.0.0.1:0', 'balance': 'roundrobin',
                    'persistent': False, 'requeue': 0,
                    'target': [web.target(), web2.target()],
                    'check': {'type': 'http', 'path': '/health',
                              'status': '200-299', 'interval': '200ms',
                              'timeout': '150ms', 'rise': 1, 'fall': 1}},
            'api': {'listen': '127.0.0.1:0', 'target': [api.target()]},
        },
    }
    path = h.write_file('checks.json', json.dumps(conf))
    hd = h.Harmonyd('-c', path, base=False)
    h.check(h.wait_until(lambda: status_of(hd, web.port) == 'passing', 5),
            'web never passed: %r' % targets(hd).get(web.port))
    h.check(h.wait_until(lambda: status_of(hd, api.port) == 'passing', 5),
            'api did not inherit the top-level tcp check: %r' % targets(hd).get(api.port))
    t = targets(hd)[api.port]
    h.check(t['check']['rise'] == 1 and t['check']['fall'] == 1, repr(t))

    write(sfile, '503\n')
    h.check(h.wait_until(lambda: status_of(hd, web.port) == 'failing', 3),
            'a 503 did not fail the check: %r' % targets(hd)[web.port])
    t = targets(hd)[web.port]
    h.check('wrong status: 503' in t['check']['reason'], repr(t))
    h.check(t['state'] == 'down', repr(t))
    before = web.total
    for _ in range(10):
        with h.connect(hd.port, timeout=10) as s:
            s.sendall(b'GET / HTTP/1.0\r\n\r\n')
            got = s.recv(4096)
            h.check(b'WEB2' in got, 'a client reached the failing target: %r' % got)
    h.check(web.total - before <= 3, 'sessions went to the failing target')

    write(sfile, '204\n')
    h.check(h.wait_until(lambda: status_of(hd, web.port) == 'passing', 3),
            'a 204 did not pass the check: %r' % targets(hd)[web.port])
    h.check(targets(hd)[web.port]['state'] == 'static', repr(targets(hd)[web.port]))

    # SIGHUP: web's check goes; its target is chosen at 503 too.
    write(sfile, '503\n')
    h.check(h.wait_until(lambda: status_of(hd, web.port) == 'failing', 3), 'fail again')
    del conf['services']['web']['check']
    conf['check'] = {'type': 'none'}
    write(path, json.dumps(conf))
    os.kill(hd.popen.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: targets(hd)[web.port]['check'] is None, 5),
            'SIGHUP did not take the check away: %r' % targets(hd)[web.port])
    h.check(targets(hd)[web.port]['state'] == 'static', repr(targets(hd)[web.port]))
    h.check(targets(hd)[api.port]['check'] is None, 'api keeps a check')
    hd.stop()

    # Errors name the service and the key.
    conf['services']['web']['check'] = {'type': 'http', 'rise': 0}
    bad = h.write_file('bad.json', json.dumps(conf))
    rc_, _, err = h.run_harmonyd('-c', bad, '--log-level', 'error')
    h.check(rc_ == 2 and 'services.web.check.rise:' in err, 'got %d %r' % (rc_, err))
    conf['services']['web']['check'] = {'type': 'http', 'status': 'ok'}
    write(bad, json.dumps(conf))
    rc_, _, err = h.run_harmonyd('-c', bad)
    h.check(rc_ == 2 and 'services.web.check.status:' in err, 'got %d %r' % (rc_, err))
    conf['services']['web']['check'] = {'type': 'smtp'}
    write(bad, json.dumps(conf))
    rc_, _, err = h.run_harmonyd('-c', bad)
    h.check(rc_ == 2 and 'services.web.check.type:' in err, 'got %d %r' % (rc_, err))
    rc_, _, err = h.run_harmonyd('--check', 'udp')
    h.check(rc_ == 2 and '--check: bad check' in err, 'got %d %r' % (rc_, err))
    for b in (web, web2, api):
        b.stop()


if __name__ == '__main__':
    h.run(main)
