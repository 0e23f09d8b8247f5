"""Issue 18: harmonyd speaks systemd's notify protocol (sd_notify(3)) when
NOTIFY_SOCKET is set, as a Type=notify service. This test is systemd: it
binds the datagram socket, starts harmonyd with NOTIFY_SOCKET and
WATCHDOG_USEC, and checks what arrives, and when: READY=1 once every
listener accepts, a STATUS= summary refreshed from a timer (not per
request), WATCHDOG=1 at half the period, and none while the daemon is
stopped (SIGSTOP: what systemd's watchdog restarts), RELOADING=1 then
READY=1 around SIGHUP, STOPPING=1 at SIGTERM; and a --takeover successor
says READY=1 with MAINPID= while the one it replaces says no STOPPING=1.
Skips in a --without-systemd build."""

import json
import os
import re
import signal
import socket
import struct
import threading
import time
import urllib.request

import harness as h

WATCHDOG_S = 2.0


def built_with_systemd():
    path = os.path.join(os.path.dirname(os.path.dirname(h.HARMONYD)), 'autoconfig.h')
    try:
        with open(path) as f:
            return re.search(r'^#define HAVE_SYSTEMD 1$', f.read(), re.M) is not None
    except OSError:
        return None


def free_ports(n):
    """n ports nothing listens on now (bound to 0, then closed)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def accepts(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=2):
            return True
    except OSError:
        return False


class Notify(threading.Thread):
    """The NOTIFY_SOCKET: every datagram as (arrival time, sender pid, fields)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.msgs = []
        self.cond = threading.Condition()
        self.on_ready = None
        self.start()

    def run(self):
        credsize = struct.calcsize('3i')
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(credsize))
            except OSError:
                return
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack('3i', cdata[:credsize])[0]
            fields = {}
            for line in data.decode('utf-8', 'replace').split('\n'):
                k, _, v = line.partition('=')
                if k:
                    fields[k] = v
            entry = (time.monotonic(), pid, fields)
            if 'READY' in fields and self.on_ready is not None:
                self.on_ready(entry)
            with self.cond:
                self.msgs.append(entry)
                self.cond.notify_all()

    def wait(self, pred, timeout, start=0):
        """The first message (from index start on) that pred accepts, and its index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.msgs):
                    if pred(self.msgs[i][2]):
                        return i, self.msgs[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cond.wait(min(left, 0.5))

    def since(self, t0, key, t1=None):
        with self.cond:
            return [m for m in self.msgs if m[0] >= t0 and (t1 is None or m[0] < t1)
                    and key in m[2]]


def has(key, value=None):
    return lambda f: key in f and (value is None or f[key] == value)


def pings_between(nt, t0, t1, pid=None):
    return [m[0] for m in nt.since(t0, 'WATCHDOG', t1) if pid is None or m[1] == pid]


def takeover(nt, old, ports, env, extra, label):
    listen, ack, http = ports
    start = len(nt.msgs)
    new = h.Harmonyd('--listen', '127.0.0.1:%d' % listen, '--ack-port',
                     '127.0.0.1:%d' % ack, '--http', '127.0.0.1:%d' % http,
                     '--takeover', old.pid, *extra, base=False, env=env, label=label)
    _, ready = nt.wait(lambda f: 'READY' in f and 'MAINPID' in f, h.START_TIMEOUT, start)
    h.check(ready is not None, '%s: no READY=1 with MAINPID=' % label)
    h.check(ready[2]['MAINPID'] == str(new.pid) and ready[1] == new.pid,
            '%s: MAINPID=%s from pid %s, not %d' % (label, ready[2]['MAINPID'],
                                                    ready[1], new.pid))
    t_old = time.monotonic()
    old.stop()
    h.check(not nt.since(t_old, 'STOPPING'), '%s: the one it replaced said STOPPING=1'
            % label)
    # It pings (WATCHDOG_USEC came without WATCHDOG_PID: its own).
    t_new = time.monotonic()
    time.sleep(WATCHDOG_S)
    h.check(pings_between(nt, t_new, None, new.pid), '%s: no WATCHDOG=1' % label)
    return new


def main():
    built = built_with_systemd()
    if built is None:
        h.skip('no autoconfig.h beside %s' % h.HARMONYD)
    if not built:
        h.skip('harmonyd is built --without-systemd')
    nt = Notify(os.path.join(h.tmpdir(), 'notify'))
    ports = listen, ack, http = free_ports(3)
    at_ready = {}

    def on_ready(entry):
        # Right when READY=1 arrives: every listener must take a connection.
        if not at_ready:
            at_ready.update(listen=accepts(listen), ack=accepts(ack),
                            http=accepts(http))

    nt.on_ready = on_ready
    env = dict(os.environ, NOTIFY_SOCKET=nt.path,
               WATCHDOG_USEC=str(int(WATCHDOG_S * 1e6)))
    for k in ('WATCHDOG_PID', 'SYSTEMD_EXEC_PID', 'JOURNAL_STREAM'):
        env.pop(k, None)
    sf = os.path.join(h.tmpdir(), 'state.json')
    hd = h.Harmonyd('--listen', '127.0.0.1:%d' % listen, '--ack-port',
                    '127.0.0.1:%d' % ack, '--http', '127.0.0.1:%d' % http,
                    '--state-file', sf, base=False, env=env)

    # READY=1, with the listeners up, and a STATUS= summary.
    i, ready = nt.wait(has('READY', '1'), h.START_TIMEOUT)
    h.check(ready is not None, 'no READY=1 on NOTIFY_SOCKET')
    h.check(ready[1] in (None, hd.pid), 'READY=1 from pid %s, not %d' % (ready[1], hd.pid))
    h.check(at_ready == {'listen': True, 'ack': True, 'http': True},
            'READY=1 came before every listener accepted: %r' % at_ready)
    h.check('MAINPID' not in ready[2], 'MAINPID= from the process systemd started')
    h.check(not any('READY' in m[2] for m in nt.msgs[:i]), 'READY=1 twice')
    status = ready[2].get('STATUS', '')
    h.check(re.fullmatch(r'1 service, 0/0 targets up, 0 sessions', status),
            'STATUS at READY: %r' % status)

    # STATUS= follows the registry, from a timer: not once per request.
    body = json.dumps({'port': 9, 'host': '127.0.0.1'}).encode()
    req = urllib.request.Request('http://127.0.0.1:%d/api/v1/targets' % http, body,
                                 {'Content-Type': 'application/json'})
    t_reg = time.monotonic()
    with urllib.request.urlopen(req, timeout=10) as r:
        h.check(r.status == 201, 'register: %d' % r.status)
    for _ in range(30):
        with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/status' % http,
                                    timeout=10) as r:
            r.read()
    _, st = nt.wait(lambda f: f.get('STATUS', '').startswith('1 service, 1/1 targets up'),
                    15, i + 1)
    h.check(st is not None, 'no STATUS= with the registered target up; got %r'
            % [m[2] for m in nt.since(0, 'STATUS')])
    h.log('status %r after %.1f s' % (st[2]['STATUS'], st[0] - t_reg))
    n_status = len(nt.since(t_reg, 'STATUS'))
    h.check(n_status <= 3, '%d STATUS= messages for 31 requests in %.1f s'
            % (n_status, time.monotonic() - t_reg))

    # WATCHDOG=1 about every half period (loose: a loaded 2-core machine).
    t0 = time.monotonic()
    time.sleep(3 * WATCHDOG_S)
    pings = pings_between(nt, t0, time.monotonic())
    h.log('%d pings in %.1f s' % (len(pings), 3 * WATCHDOG_S))
    h.check(4 <= len(pings) <= 12, '%d WATCHDOG=1 in %.1f s (period %.1f s)'
            % (len(pings), 3 * WATCHDOG_S, WATCHDOG_S))
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    h.check(max(gaps) < WATCHDOG_S, 'a %.2f s gap between pings (period %.1f s)'
            % (max(gaps), WATCHDOG_S))

    # A stopped loop stops pinging: systemd would restart it.
    os.kill(hd.pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    time.sleep(2 * WATCHDOG_S)
    late = pings_between(nt, t_stop + 0.2, time.monotonic())
    os.kill(hd.pid, signal.SIGCONT)
    h.check(not late, '%d WATCHDOG=1 while the daemon was stopped' % len(late))
    t_cont = time.monotonic()
    h.check(nt.wait(has('WATCHDOG', '1'), 5, len(nt.msgs))[1] is not None,
            'no WATCHDOG=1 after SIGCONT')
    h.log('first ping %.2f s after SIGCONT' % (pings_between(nt, t_cont, None)[0] - t_cont))

    # SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), then READY=1.
    start = len(nt.msgs)
    os.kill(hd.pid, signal.SIGHUP)
    j, rel = nt.wait(has('RELOADING', '1'), 10, start)
    h.check(rel is not None, 'no RELOADING=1 after SIGHUP')
    h.check(re.fullmatch(r'\d+', rel[2].get('MONOTONIC_USEC', '')),
            'RELOADING=1 without MONOTONIC_USEC: %r' % rel[2])
    usec = int(rel[2]['MONOTONIC_USEC'])
    h.check(abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 30,
            'MONOTONIC_USEC=%d is not CLOCK_MONOTONIC' % usec)
    h.check(not any('READY' in m[2] for m in nt.msgs[start:j]), 'READY=1 before RELOADING=1')
    _, again = nt.wait(has('READY', '1'), 15, j + 1)
    h.check(again is not None, 'no READY=1 after RELOADING=1')
    h.check(hd.wait_log(r'SIGHUP: configuration reloaded', 5) is not None,
            'the reload did not happen')

    # --takeover: the new one says READY=1 and MAINPID=; the one replaced,
    # told (SIGUSR2), says no STOPPING=1 (that would stop the service).
    # With a state file to hand over, then without one.
    new = takeover(nt, hd, ports, env, ['--state-file', sf], 'harmonyd-new')
    new = takeover(nt, new, ports, env, [], 'harmonyd-third')
    # SIGTERM: STOPPING=1 from the one that runs now.
    start = len(nt.msgs)
    new.popen.send_signal(signal.SIGTERM)
    _, stopping = nt.wait(has('STOPPING', '1'), 10, start)
    h.check(stopping is not None, 'no STOPPING=1 after SIGTERM')
    h.check(stopping[1] in (None, new.pid), 'STOPPING=1 from pid %s' % stopping[1])
    new.stop()
    h.check(not nt.since(stopping[0] + 0.001, 'READY'), 'READY=1 after STOPPING=1')


h.run(main)
