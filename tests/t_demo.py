"""Issue 6: `make demo` (contrib/demo.sh) on free ports: harmonyd with one
target registered by harmony-agent (weight 1000) and one by curl over HTTP
(weight 500); six client addresses spread about 2:1; the README's curl
examples work against it; SIGINT stops everything and the agent drains."""

import os
import re
import signal
import socket
import subprocess
import time

import harness as h
import adminhttp as ah

SRCDIR = os.environ.get('srcdir', os.path.join(os.path.dirname(__file__), '..'))


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def children(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(')', 1)[1].split()[1]) == pid:
            out.append(int(d))
    return out


def main():
    ah.need_curl()
    build = os.path.dirname(os.path.dirname(h.HARMONYD))
    agent = os.path.join(build, 'src', 'harmony-agent')
    if not os.access(agent, os.X_OK):
        h.skip('harmony-agent is not built at %s' % agent)
    ports = free_ports(5)
    proxy, ack, http, p1, p2 = ports
    env = dict(os.environ, DEMO_PORTS=' '.join(map(str, ports)))
    # SIGINT as at a terminal: a harness may start tests with it ignored,
    # and a shell cannot trap a signal ignored on entry.
    demo = subprocess.Popen(['sh', os.path.join(SRCDIR, 'contrib', 'demo.sh'), build, SRCDIR],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = h._LineReader(demo.stdout)
    try:
        h.check(out.wait_for(r'Press Ctrl-C to stop', 30) is not None,
                'the demo says it runs:\n' + out.text())
        api = ah.Api(http)
        h.check(h.wait_until(lambda: len([t for t in api.targets()
                                          if t['state'] == 'up' and t['port']]) == 2, 15),
                'two targets up: %r' % api.targets())
        ts = {t['port']: t for t in api.targets()}
        h.check(ts[p1]['weight'] == 1000 and ts[p1]['source'] == 'ack',
                'the agent registered %d with weight 1000: %r' % (p1, ts))
        h.check(ts[p2]['weight'] == 500 and ts[p2]['source'] == 'http',
                'curl registered %d with weight 500: %r' % (p2, ts))
        names = []
        for i in range(2, 32):
            r = subprocess.run(['curl', '-s', '--interface', '127.0.0.%d' % i,
                                'http://127.0.0.1:%d/' % proxy], capture_output=True,
                               timeout=20)
            names.append(r.stdout.decode().strip())
        n1 = names.count('served from port %d' % p1)
        n2 = names.count('served from port %d' % p2)
        h.log('30 clients: %d on %d, %d on %d' % (n1, p1, n2, p2))
        h.check(n1 + n2 == 30 and n1 > n2 > 0, 'clients spread about 2:1: %r' % names)
        # The README's examples.
        r = api.expect(200, 'GET', '/api/v1/targets')
        h.check('"key"' not in r.text, 'no key in the listing')
        api.expect(200, 'PATCH', '/api/v1/config', {'concurrency': 0})
        api.expect(200, 'PATCH', '/api/v1/config', {'concurrency': -1})
        m = api.expect(200, 'GET', '/metrics').text
        h.check(re.search(r'^harmony_targets\{state="up"\} 2$', m, re.M),
                'metrics count 2 targets up')
    finally:
        kids = children(demo.pid)       # in sessions of their own: ours to end
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            for pid in [demo.pid] + kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            h.fail('the demo did not stop on SIGINT')
    h.check(out.wait_for(r'deregistered', 10) is not None,
            'the agent drained its target on the way out:\n' + out.text()[-2000:])
    h.check(out.wait_for(r'all sessions ended: exiting', 10) is not None,
            'harmonyd stopped cleanly:\n' + out.text()[-2000:])


h.run(main)
