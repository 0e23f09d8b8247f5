"""Issue 9: SIGHUP re-reads the config file and applies it with no session
dropped: new static target weights, algorithm and token apply to new
sessions while a long transfer runs through and completes intact. A broken
config is rejected whole and the old one keeps working. A runtime override
(PATCH /api/v1/config) survives the reload."""

import json
import os
import signal
import socket
import threading
import time

import harness as h
import adminhttp as ah
from ackclient import tokens

SIZE = 24 * 1024 * 1024


def write_config(path, obj):
    with open(path, 'w') as f:
        f.write('// harmonyd test config\n' + json.dumps(obj, indent=1) + '\n')


def transfer(port, result):
    """Echo SIZE bytes slowly (~4 s) and check what comes back."""
    data = h.pattern(0, SIZE)
    got = []
    s = h.connect(port)

    def reader():
        try:
            got.append(h.recv_all(s, timeout=60))
        except OSError as e:
            got.append(repr(e).encode())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for off in range(0, SIZE, 256 * 1024):
        s.sendall(data[off:off + 256 * 1024])
        time.sleep(0.04)
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    s.close()
    result['ok'] = got and got[0] == data
    result['len'] = len(got[0]) if got else -1


def split(hd, n=40):
    counts = {}
    for i in range(n):
        name = h.name_of(hd.port)
        counts[name] = counts.get(name, 0) + 1
    return counts


def ack_nid(hd, auth=b''):
    with h.connect(hd.ack_port) as s:
        s.sendall(auth + b'NID::BYE:')
        return tokens(h.recv_all(s, timeout=15))


def main():
    echo = h.Backend('echo')
    b = h.Backend('name', name='B')
    c = h.Backend('name', name='C')
    cf = os.path.join(h.tmpdir(), 'harmonyd.json')
    write_config(cf, {'target': [echo.target(1)], 'balance': 'leastconn',
                      'persistent': False})
    hd = ah.harmonyd('-c', cf, '--ack-port', '127.0.0.1:0')
    api = ah.Api(hd.http_port)

    result = {}
    t = threading.Thread(target=transfer, args=(hd.port, result), daemon=True)
    t.start()
    h.check(h.wait_until(lambda: echo.cur == 1, 10), 'the transfer reached the echo target')

    # The new config: other static targets and weights, roundrobin, a token.
    write_config(cf, {'target': [b.target(3), c.target(1)], 'balance': 'roundrobin',
                      'persistent': False, 'token': 's3cret'})
    os.kill(hd.pid, signal.SIGHUP)
    h.check(hd.wait_log(r'SIGHUP: configuration reloaded', 10) is not None,
            'the reload is logged')
    h.check(result == {}, 'the transfer is still running during the reload')
    counts = split(hd)
    h.check(counts == {'B': 30, 'C': 10}, 'new weights and algorithm apply: %r' % counts)
    h.check(ack_nid(hd) == [('ERR', 'auth')], 'the new token applies on the ack port')
    got = ack_nid(hd, b'AUTH:s3cret:')
    h.check([x[0] for x in got] == ['AUTH', 'NID'], 'with AUTH it registers: %r' % got)
    api.expect(401, 'PATCH', '/api/v1/config', {'requeue': 5})
    api.expect(200, 'PATCH', '/api/v1/config', {'requeue': 5}, token='s3cret')

    t.join(90)
    h.check(result.get('ok'), 'the transfer completed intact across the reload '
            '(%r bytes back)' % result.get('len'))

    # A broken config is rejected whole; the running one keeps working.
    with open(cf, 'w') as f:
        f.write('{"target": ["127.0.0.1:1@1"], "balance": "nonsense"')
    os.kill(hd.pid, signal.SIGHUP)
    h.check(hd.wait_log(r'keeping the running configuration', 10) is not None,
            'a broken config is reported')
    counts = split(hd, 20)
    h.check(counts == {'B': 15, 'C': 5}, 'the old config still serves: %r' % counts)

    # A good reload again: the PATCHed requeue survives it.
    write_config(cf, {'target': [b.target(1), c.target(1)], 'balance': 'roundrobin',
                      'persistent': False, 'token': 's3cret'})
    os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: hd.log_text().count('SIGHUP: configuration reloaded') == 2,
                         10), 'second reload')
    st = api.status()
    h.check(st.get('requeue') == 5, 'the runtime override survives SIGHUP: %r' % st)
    counts = split(hd, 20)
    h.check(counts == {'B': 10, 'C': 10}, 'reweighed again: %r' % counts)
    hd.stop()


h.run(main)
