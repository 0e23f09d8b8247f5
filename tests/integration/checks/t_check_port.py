#!/usr/bin/env python3
"""t_check_port: a check port other than the traffic port (--check-port).

The target's traffic goes to a name backend; its check goes to another
backend's port (a health endpoint). While the health backend answers, the
target passes and serves; once it is killed the target fails its check
and is down although its traffic port still answers: the check port, not
the traffic port, decided. The check port's backend saw the probes, the
traffic backend none but the clients'.
"""

import harness as h
import relcheck as rc


def target(hd):
    return rc.get_json(hd.http_port, '/api/v1/targets')['targets'][0]


def main():
    traffic = h.Backend('name', name='T')
    health = h.Backend('name', name='H')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', traffic.target(),
                    '--check', 'tcp', '--check-port', str(health.port),
                    '--check-interval', '200ms', '--check-fall', '1',
                    '--check-rise', '1')
    h.check(h.wait_until(lambda: target(hd)['check']['status'] == 'passing', 5),
            'never passed: %r' % target(hd))
    h.check(h.wait_until(lambda: health.total >= 2, 3), 'no probe at the check port')
    h.check(traffic.total == 0, 'a probe went to the traffic port')
    with h.connect(hd.port, timeout=10) as s:
        h.check(h.recv_line(s, timeout=5) == b'T\n', 'the traffic port serves')
    health.kill()
    h.check(h.wait_until(lambda: target(hd)['check']['status'] == 'failing', 3),
            'the check port died and the check passes: %r' % target(hd))
    h.check(target(hd)['state'] == 'down', repr(target(hd)))
    h.check(traffic.total == 1, 'probes at the traffic port: %d' % traffic.total)
    hd.stop()
    traffic.stop()


if __name__ == '__main__':
    h.run(main)
