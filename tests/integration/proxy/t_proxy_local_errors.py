"""t_proxy_local_errors: an error of our own is never blamed on the target.

With no local port left for a connect (EADDRNOTAVAIL), the session ends as
an error of ours (end=error, the unavailable text) and the target is not
marked: no failure counted, not `failing`, its total untouched.

The test runs in a user and network namespace of its own (unshare -rn),
where it may shrink net.ipv4.ip_local_port_range to a single port: one
session to the target holds it, the next connect to the same target finds
none. Clients bind their own ports, outside that range. Skips (77) when
namespaces cannot be made here.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

import harness as h
import relcheck as rc

RANGE = '/proc/sys/net/ipv4/ip_local_port_range'


def in_namespace():
    return os.environ.get('HARMONY_TEST_NETNS') == '1'


def reexec():
    if shutil.which('unshare') is None or shutil.which('ip') is None:
        h.skip('unshare or ip missing')
    env = dict(os.environ, HARMONY_TEST_NETNS='1')
    probe = subprocess.run(['unshare', '-rn', 'true'], capture_output=True)
    if probe.returncode != 0:
        h.skip('cannot make a user and network namespace: %s'
               % probe.stderr.decode().strip())
    os.execvpe('unshare', ['unshare', '-rn', sys.executable] + sys.argv, env)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def client(port, local):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', local))
    s.settimeout(30)
    s.connect(('127.0.0.1', port))
    return s


def main():
    if not in_namespace():
        reexec()
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True, timeout=20)
    with open(RANGE) as f:
        saved = f.read().split()
    hold = h.Backend('hold')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', hold.target(), '--requeue', '1',
                    '--unavailable', 'LOCAL', access_log=True,
                    label='harmonyd (one local port)')
    only, c1, c2 = free_port(), free_port(), free_port()
    with open(RANGE, 'w') as f:
        f.write('%d %d' % (only, only))
    try:
        first = client(hd.port, c1)
        h.check(h.wait_until(lambda: hold.cur == 1, 15),
                'the first client never reached the target')
        second = client(hd.port, c2)
        data, how = h.recv_to_end(second, 30)
        second.close()
    finally:
        with open(RANGE, 'w') as f:
            f.write(' '.join(saved))
    h.check(data == b'LOCAL' and how == 'eof', 'no local port for the target: expected '
            'the unavailable text then EOF, got %r then %s' % (data, how))
    t = rc.get_json(hd.http_port, '/api/v1/targets')['targets'][0]
    h.log('the target after a connect without a local port: state %s, failures %d, '
          'total %d' % (t['state'], t['failures'], t['total']))
    h.check(t['failures'] == 0 and t['state'] != 'failing',
            'no local port left is our shortage, but the target was blamed: state %s, '
            'failures %d' % (t['state'], t['failures']))
    h.check(t['total'] == 1, 'the target\'s total is %d: one session reached it'
            % t['total'])
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('end') == 'error',
            'expected end=error (ours), got %r' % lines)
    h.check(hd.wait_log(r'Cannot assign requested address \(ours', 5) is not None,
            'no log line saying the error is ours')
    first.close()
    h.check(h.wait_until(lambda: hold.cur == 0, 15), 'the first session did not end')
    hd.stop()
    hold.stop()


h.run(main)
