#!/usr/bin/env python3
"""t_edge_check: health checks with "send-proxy": true (issue 17) against a
real nginx that requires the PROXY protocol (`listen ... proxy_protocol`).

One nginx, three services with an http check of it (500ms, rise 1,
fall 2):

- pp2: send-proxy v2, check send-proxy: the check sends a v2 LOCAL header
  and passes;
- pp1: send-proxy off, check send-proxy: a v1 "PROXY UNKNOWN" line (v1
  when the service sends none), passes;
- plain: send-proxy v2, check without send-proxy: nginx refuses the probe
  ("broken header"), the target fails and is down; its clients get the
  unavailable text.

Sessions through pp2 still get nginx to see the client's address.
"""

import re

import harness as h
import peers as p
import relcheck as rc


def check_of(hd, svc):
    ts = rc.get_json(hd.http_port, '/api/v1/services/%s/targets' % svc)['targets']
    h.check(len(ts) == 1, '%s: one target expected, %r' % (svc, ts))
    return ts[0]


def main():
    np = p.free_port()
    nginx = p.Nginx(
        '    server {\n'
        '        listen 127.0.0.1:%d proxy_protocol;\n'
        '        location / { return 200 "addr=<$proxy_protocol_addr>\\n"; }\n'
        '    }\n' % np, [('127.0.0.1', np)])
    ng = '127.0.0.1:%d' % np
    chk = {'type': 'http', 'path': '/', 'interval': '500ms', 'timeout': '500ms',
           'rise': 1, 'fall': 2}
    hd = p.harmonyd({
        'ack-port': 0, 'http': '127.0.0.1:0', 'default': 'pp2',
        'services': {
            'pp2': {'listen': '127.0.0.1:0', 'send-proxy': 'v2', 'target': [ng],
                    'check': dict(chk, **{'send-proxy': True})},
            'pp1': {'listen': '127.0.0.1:0', 'target': [ng],
                    'check': dict(chk, **{'send-proxy': True})},
            'plain': {'listen': '127.0.0.1:0', 'send-proxy': 'v2', 'target': [ng],
                      'unavailable': 'UNAVAILABLE\n', 'check': chk},
        }})

    def status(svc):
        c = check_of(hd, svc)['check']
        return c and c['status']

    for svc in ('pp2', 'pp1'):
        h.check(h.wait_until(lambda: status(svc) == 'passing', 10),
                '%s: a check sending a PROXY header should pass against nginx '
                'proxy_protocol: %r\nnginx error log:\n%s'
                % (svc, check_of(hd, svc), nginx.log_text()[-2000:]))
    h.check(h.wait_until(lambda: status('plain') == 'failing', 10),
            'plain: a check without a PROXY header should fail against nginx '
            'proxy_protocol: %r' % check_of(hd, 'plain'))
    h.check(check_of(hd, 'plain')['state'] == 'down', 'plain: its target should be '
            'down: %r' % check_of(hd, 'plain'))
    # Still passing after several probes (not a first-probe fluke).
    probes = len(re.findall(r'"GET / HTTP', open(nginx.access_log).read()))
    h.check(h.wait_until(lambda: len(re.findall(
        r'"GET / HTTP', open(nginx.access_log).read())) >= probes + 4, 10),
        'nginx should keep getting the probes')
    h.check(status('pp2') == 'passing' and status('pp1') == 'passing',
            'the send-proxy checks keep passing: %r %r'
            % (check_of(hd, 'pp2'), check_of(hd, 'pp1')))
    h.check('broken header' in nginx.log_text(), 'nginx should have logged the plain '
            'probe\'s "broken header"')

    data, how = p.http_get(p.port_of(hd, 'pp2'), source='127.0.0.6', timeout=20)
    h.check(data.startswith(b'HTTP/1.1 200') and data.endswith(b'addr=<127.0.0.6>\n'),
            'a session through pp2: nginx should see 127.0.0.6, got %r then %s'
            % (data[-200:], how))
    with h.connect(p.port_of(hd, 'plain'), timeout=20) as s:
        data, how = h.recv_to_end(s, 20)
    h.check(data == b'UNAVAILABLE\n', 'plain (its only target down): the unavailable '
            'text, got %r then %s' % (data, how))
    hd.stop()


if __name__ == '__main__':
    h.run(main)
