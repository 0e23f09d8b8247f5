#!/usr/bin/env python3
"""t_check_scale: 10 000 static targets checked, with the sockets in flight
bounded (CHECK_INFLIGHT_MAX, 256, src/check/check.h).

The targets are 10 000 loopback addresses (127.1.x.y) at one port, in
three services (a service holds at most 4 096 static targets) that
inherit the top level's check, where a
listener never accepts: each probe's connect ends in the backlog or hangs,
and a send-expect probe waits out its 300 ms timeout, so probes pile up
faster than they end (interval 4 s: 2 500 due a second, at most 853 can
end). harmonyd starts without a check and counts its fds (from /proc);
a SIGHUP brings the check. While it runs, harmonyd's open fds stay within
those plus 256 and a few, and reach near that bound; every target gets its
verdict (failing: a timeout) within 40 s.
"""

import json
import os
import signal
import socket
import time

import harness as h
import relcheck as rc

N = 10000
INFLIGHT_MAX = 256


def main():
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hole.bind(('0.0.0.0', 0))
    hole.listen(4096)
    port = hole.getsockname()[1]
    addrs = ['127.1.%d.%d:%d' % (i // 250, 1 + i % 250, port) for i in range(N)]
    svcs = ['s0', 's1', 's2']
    conf = {
        'ack-port': 0, 'default': 's0',
        'services': {name: {'listen': '127.0.0.1:0', 'target': addrs[k::3]}
                     for k, name in enumerate(svcs)},
        'check': {'type': 'none'},
    }
    path = h.write_file('scale.json', json.dumps(conf))
    hd = h.Harmonyd('-c', path, '--http', '127.0.0.1:0', base=False)
    time.sleep(0.5)
    base = hd.fd_count()
    # SIGHUP brings the check to every service's targets.
    conf['check'] = {'type': 'send-expect', 'send': 'PING\\r\\n', 'expect': 'PONG',
                     'interval': '4s', 'timeout': '300ms', 'rise': 1, 'fall': 1}
    with open(path, 'w') as f:
        json.dump(conf, f)
    os.kill(hd.popen.pid, signal.SIGHUP)

    def all_targets():
        ts = []
        for name in svcs:
            ts += rc.get_json(hd.http_port, '/api/v1/services/%s/targets' % name,
                              timeout=30)['targets']
        return ts

    most = 0
    judged = 0
    end = time.monotonic() + 40 * h._SLOW
    last_api = 0
    while time.monotonic() < end:
        most = max(most, hd.fd_count())
        if time.monotonic() - last_api > 2:
            last_api = time.monotonic()
            ts = all_targets()
            h.check(len(ts) == N, '%d targets listed' % len(ts))
            judged = sum(1 for t in ts if t['check']['last_ms_ago'] is not None)
            h.log('%d of %d judged, at most %d fds (%d at start)' %
                  (judged, N, most, base))
            if judged == N:
                break
        time.sleep(0.02)
    h.check(judged == N, 'only %d of %d targets judged in 40 s' % (judged, N))
    h.check(most <= base + INFLIGHT_MAX + 8,
            '%d fds open, %d at start: more than %d probes at once' %
            (most, base, INFLIGHT_MAX))
    h.check(most >= base + INFLIGHT_MAX // 2,
            'at most %d fds (%d at start): the probes never piled up' % (most, base))
    ts = all_targets()
    failing = sum(1 for t in ts if t['check']['status'] == 'failing')
    h.check(failing == N, '%d of %d failing' % (failing, N))
    h.check('timeout' in ts[0]['check']['reason'], repr(ts[0]))
    hd.stop()
    hole.close()


if __name__ == '__main__':
    h.run(main)
