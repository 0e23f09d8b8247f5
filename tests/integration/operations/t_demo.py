"""Issue 6: `make demo` (contrib/demo.sh) on free ports: harmonyd with one
target registered by harmony-agent (weight 1000) and one by curl over HTTP
(weight 500); persistence keeps each client address on one target, and 30
addresses spread about 2:1; the README's curl examples work against it.

Stopping (issue 13): `make demo | tee log` and Ctrl-C. The terminal's SIGINT
reaches the whole foreground group, so tee dies too and the demo's stdout
is a dead pipe: the demo must still end every process it started (the agent
draining first), and so on SIGHUP (the terminal closed) and SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import time

import harness as h
import adminhttp as ah

SRCDIR = h.SRCDIR


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def descendants(pid):
    out, pending = [], [pid]
    while pending:
        kids = h.children(pending.pop())
        out += kids
        pending += kids
    return out


def running(pids):
    """Those of pids still running (not zombies)."""
    out = []
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if state != 'Z':
            out.append(pid)
    return out


class Demo:
    """`sh contrib/demo.sh BUILD SRC | tee OUT` as a terminal's foreground
    job: a process group of its own, which the signals go to (so tee dies
    with the demo's stdout); stderr to a file that outlives them."""

    def __init__(self, build, ports, name):
        env = dict(os.environ, DEMO_PORTS=' '.join(map(str, ports)))
        self.outpath = os.path.join(h.tmpdir(), name + '.out')
        self.errpath = os.path.join(h.tmpdir(), name + '.err')
        # SIGINT as at a terminal: a harness may start tests with it
        # ignored, and a shell cannot trap a signal ignored on entry.
        with open(self.errpath, 'w') as err:
            self.job = subprocess.Popen(
                ['sh', '-c', 'sh "$0" "$1" "$2" | tee "$3"',
                 os.path.join(SRCDIR, 'contrib', 'demo.sh'), build, SRCDIR, self.outpath],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def out(self):
        try:
            return open(self.outpath).read()
        except OSError:
            return ''

    def err(self):
        return open(self.errpath).read()

    def wait_running(self):
        h.check(h.wait_until(lambda: 'Press Ctrl-C to stop' in self.out(), 30),
                'the demo says it runs:\n%s\n%s' % (self.out(), self.err()))

    def stop(self, sig, what):
        """Signals the job's group; every process it started must end."""
        kids = descendants(self.job.pid)
        h.check(len(running(kids)) >= 7, 'the demo runs its processes: %r' % kids)
        os.killpg(self.job.pid, sig)
        gone = h.wait_until(lambda: running(kids) == [], 30)
        try:
            self.job.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if not gone:
            stray = running(kids)
            for pid in stray:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            h.fail('%s left %d of its processes running: %r\n%s'
                   % (what, len(stray), stray, self.err()[-2000:]))


def main():
    ah.need_curl()
    build = os.path.dirname(os.path.dirname(h.HARMONYD))
    agent = h.AGENT
    if not os.access(agent, os.X_OK):
        h.skip('harmony-agent is not built at %s' % agent)
    ports = free_ports(5)
    proxy, ack, http, p1, p2 = ports
    demo = Demo(build, ports, 'demo')
    stopped = False
    try:
        demo.wait_running()
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
        # What the README says a user sees: one client, one target.
        again = set()
        for _ in range(6):
            r = subprocess.run(['curl', '-s', 'http://127.0.0.1:%d/' % proxy],
                               capture_output=True, timeout=20)
            again.add(r.stdout.decode().strip())
        h.check(len(again) == 1 and again <= {'served from port %d' % p1,
                                              'served from port %d' % p2},
                'persistence keeps one client on one target: %r' % again)
        # The README's examples.
        r = api.expect(200, 'GET', '/api/v1/targets')
        h.check('"key"' not in r.text, 'no key in the listing')
        api.expect(200, 'PATCH', '/api/v1/config', {'concurrency': 0})
        api.expect(200, 'PATCH', '/api/v1/config', {'concurrency': -1})
        m = api.expect(200, 'GET', '/metrics').text
        h.check(re.search(r'^harmony_targets\{state="up"\} 2$', m, re.M),
                'metrics count 2 targets up')
        # Ctrl-C under `| tee`: tee dies too, the demo's stdout with it.
        stopped = True
        demo.stop(signal.SIGINT, 'Ctrl-C')
    finally:
        if not stopped:
            demo.stop(signal.SIGINT, 'Ctrl-C')
    text = demo.err()
    h.check(re.search(r'deregistered', text) is not None,
            'the agent drained its target on the way out:\n' + text[-2000:])
    h.check(re.search(r'all sessions ended: exiting', text) is not None,
            'harmonyd stopped cleanly:\n' + text[-2000:])
    h.check(text.find('deregistered') < text.find('all sessions ended'),
            'the agent drained before harmonyd stopped:\n' + text[-2000:])

    # The terminal closes (SIGHUP); a plain SIGTERM.
    for sig, what in ((signal.SIGHUP, 'SIGHUP'), (signal.SIGTERM, 'SIGTERM')):
        demo = Demo(build, free_ports(5), 'demo-' + what)
        demo.wait_running()
        demo.stop(sig, what)


h.run(main)
