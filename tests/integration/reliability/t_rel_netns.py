"""t_rel_netns: writes from a peer that is neither loopback nor --allow'ed.

Reliability scenario 10 (docs/RELIABILITY.md). A network namespace of the
test's own, joined to the root namespace by a veth pair with addresses of
10.213.N.0/30 (they exist only on that pair; removed at the end). harmonyd
runs in the root namespace, its admin and ack ports bound to the veth address.
From inside the namespace:
- no token, no --allow: GET answers 200, every write (POST/PATCH/DELETE, ack
  port NID::) is refused (403 / ERR) and the registry is unchanged;
- --allow 10.213.N.2/32: the same POST registers (201): the refusal above is
  the allow-list at work, not a broken path;
- --token: no write without it, even from loopback (401), one with it works;
  the key never appears in GET /api/v1/targets, /metrics or the daemon's log.
Skips (77) when namespaces cannot be created here (no CAP_NET_ADMIN).
Key-per-target and the other token cases are in t_api.py.
"""

import json
import os
import shutil
import subprocess

import harness as h
import relcheck as rc

NS = 'hrel%d' % os.getpid()
VA, VB = 'hra%d' % (os.getpid() % 100000), 'hrb%d' % (os.getpid() % 100000)
NET = os.getpid() % 250 + 1
HOST_IP, NS_IP = '10.213.%d.1' % NET, '10.213.%d.2' % NET


def ip(*args, check=True):
    p = subprocess.run(['ip'] + list(args), capture_output=True, timeout=20)
    if check and p.returncode != 0:
        h.fail('ip %s: %s' % (' '.join(args), p.stderr.decode().strip()))
    return p


def in_ns(*cmd, timeout=30):
    p = subprocess.run(['ip', 'netns', 'exec', NS] + list(cmd), capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def curl_ns(method, url, body=None, token=None):
    cmd = ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}',
           '-X', method]
    if body is not None:
        cmd += ['-H', 'Content-Type: application/json', '--data-binary', json.dumps(body)]
    if token:
        cmd += ['-H', 'Authorization: Bearer ' + token]
    rcode, out, err = in_ns(*(cmd + [url]))
    return int(out or '0')


ACK_SCRIPT = r'''
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"NID::BAL:5:SPORT:7:")
s.settimeout(3)
buf = b""
try:
    while buf.count(b":") < 6:
        b = s.recv(4096)
        if not b:
            break
        buf += b
except socket.timeout:
    pass
sys.stdout.write(buf.decode("latin-1"))
'''


def setup():
    if shutil.which('ip') is None or shutil.which('curl') is None:
        h.skip('needs the ip (iproute2) and curl programs')
    p = ip('netns', 'add', NS, check=False)
    if p.returncode != 0:
        h.skip('cannot create a network namespace here: %s' % p.stderr.decode().strip())
    ip('link', 'add', VA, 'type', 'veth', 'peer', 'name', VB)
    ip('link', 'set', VB, 'netns', NS)
    ip('addr', 'add', HOST_IP + '/30', 'dev', VA)
    ip('link', 'set', VA, 'up')
    ip('netns', 'exec', NS, 'ip', 'addr', 'add', NS_IP + '/30', 'dev', VB)
    ip('netns', 'exec', NS, 'ip', 'link', 'set', VB, 'up')
    ip('netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up')


def teardown():
    ip('link', 'del', VA, check=False)
    ip('netns', 'del', NS, check=False)


def daemon(*extra):
    hd = h.Harmonyd('--http', HOST_IP + ':0', '--ack-port', HOST_IP + ':0', *extra,
                    label='harmonyd (netns %s)' % ' '.join(extra))
    h.check(hd.http_port and hd.ack_port, 'no http/ack port logged')
    return hd


def count_targets(hd):
    st, body = rc.request(hd.http_port, 'GET', '/api/v1/targets', host=HOST_IP)
    h.check(st == 200, 'GET /api/v1/targets: %d' % st)
    return len(json.loads(body)['targets'])


def main():
    setup()
    try:
        a = h.Backend('name', name='A')
        hd = daemon('--target', a.target())
        base = 'http://%s:%d' % (HOST_IP, hd.http_port)
        h.check(curl_ns('GET', base + '/api/v1/status') == 200, 'GET from the namespace')
        n0 = count_targets(hd)
        got = {
            'POST /targets': curl_ns('POST', base + '/api/v1/targets', {'port': 9}),
            'PATCH /config': curl_ns('PATCH', base + '/api/v1/config', {'concurrency': 0}),
            'PATCH /targets/1': curl_ns('PATCH', base + '/api/v1/targets/1', {'weight': 1}),
            'DELETE /targets/1': curl_ns('DELETE', base + '/api/v1/targets/1'),
            'DELETE /persistence': curl_ns('DELETE', base + '/api/v1/persistence'),
        }
        h.log('writes from %s without token or --allow: %r' % (NS_IP, got))
        for what, st in got.items():
            h.check(st == 403, '%s from a non-allowed peer: expected 403, got %d' % (what, st))
        rcode, out, err = in_ns('python3', '-c', ACK_SCRIPT, HOST_IP, str(hd.ack_port))
        h.log('ack port NID:: from %s: %r' % (NS_IP, out))
        h.check(out.startswith('ERR:') and 'NID:' not in out, 'the ack port answered a '
                'non-allowed peer %r, expected ERR:' % out)
        h.check(count_targets(hd) == n0, 'the registry changed')
        st = json.loads(rc.request(hd.http_port, 'GET', '/api/v1/status', host=HOST_IP)[1])
        h.check(st['concurrency'] == -1, 'the config changed: %r' % st['concurrency'])
        hd.stop()

        # The same write from an --allow'ed network works.
        hd = daemon('--allow', NS_IP + '/32')
        base = 'http://%s:%d' % (HOST_IP, hd.http_port)
        st = curl_ns('POST', base + '/api/v1/targets', {'port': a.port})
        h.check(st == 201, 'POST from an --allow\'ed peer: expected 201, got %d' % st)
        hd.stop()

        # With a token: nothing writes without it, from anywhere.
        tok = 'netns-token-%d' % os.getpid()
        hd = daemon('--token', tok, '--target', a.target())
        base = 'http://%s:%d' % (HOST_IP, hd.http_port)
        h.check(curl_ns('POST', base + '/api/v1/targets', {'port': 9}) == 401,
                'POST from the namespace without the token')
        h.check(curl_ns('PATCH', base + '/api/v1/config', {'concurrency': 0}, token='wrong')
                == 401, 'PATCH with a wrong token')
        st, _ = rc.request(hd.http_port, 'POST', '/api/v1/targets', json.dumps({'port': 9}),
                           host=HOST_IP)
        h.check(st == 401, 'POST from the host without the token: expected 401, got %d' % st)
        st = curl_ns('POST', base + '/api/v1/targets', {'port': a.port + 0}, token=tok)
        h.check(st == 201, 'POST with the token from the namespace: expected 201, got %d' % st)
        st, body = rc.request(hd.http_port, 'POST', '/api/v1/targets',
                              json.dumps({'port': 4242}),
                              headers={'Authorization': 'Bearer ' + tok}, host=HOST_IP)
        h.check(st == 201, 'POST with the token: %d' % st)
        key = json.loads(body)['key']
        seen = [rc.request(hd.http_port, 'GET', p, host=HOST_IP)[1]
                for p in ('/api/v1/targets', '/api/v1/status', '/metrics',
                          '/api/v1/targets/%d' % json.loads(body)['id'])]
        h.check(all(key.encode() not in b for b in seen), 'a GET shows a target\'s key')
        h.check(key not in hd.log_text(), 'the log shows a target\'s key')
        h.check(tok not in hd.log_text(), 'the log shows the token')
        hd.stop()
        a.stop()
    finally:
        teardown()


h.run(main)
