"""t_rel_idle: 8000 idle sessions held open, live traffic beside them.

Reliability scenario 7 (docs/RELIABILITY.md). The test raises its soft
RLIMIT_NOFILE to the hard limit (20000 here); the daemon and the backend
inherit it. 8000 sessions are opened to an echo target and left silent; while
they are held, 300 live echo sessions are all served. The daemon's memory per
idle session is measured (RSS with the idle sessions minus RSS before, over
8000; ASan quarantine 1 MiB). Then all close: the counts agree at 0 and the
descriptors return to their count before.

The target must have accepted every idle session before they are used:
one whose handshake the target's full accept queue dropped (with
syncookies the target then knows nothing of it) reaches it only with the
daemon's FIN at the end, into a full queue again, and the close is judged
on TCP retransmissions (seen once: the target accepted 8501 connections of
the daemon's 8500 and kept one open, with the daemon at 0 sessions). If
the target keeps connections after the close, the failure says what the
daemon still holds, each side's TCP states and the host's listen-queue
overflows.
"""

import os
import resource
import socket
import time

import harness as h
import relcheck as rc

NIDLE = int(os.environ.get('REL_NIDLE', '8000'))
LIVE = 300
PER_SESSION_MAX_KB = 8      # an idle session holds no relay buffer (docs/ARCHITECTURE.md)


def echo_once(port, i):
    with h.connect(port, timeout=20) as s:
        msg = b'live %d\n' % i
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        data, how = h.recv_to_end(s, 20)
    return data == msg and how == 'eof'


def live(port, n):
    return sum(echo_once(port, i) for i in range(n))


def stuck_report(hd, echo, listen0):
    """Why the target still has connections: what the daemon holds (its
    counts, its descriptors) and the TCP state of each side."""
    st = rc.get_json(hd.http_port, '/api/v1/status')
    ts = rc.get_json(hd.http_port, '/api/v1/targets')['targets']
    return ('target still has %d (accepted %d); the daemon has active %d, sessions %d, '
            'queued %d, per target %r, totals %r, %d descriptors; %s; since the start '
            '(the whole host): %s'
            % (echo.cur, echo.total, st['active'], st['sessions'], st['queued'],
               [(t['name'], t['active']) for t in ts], st['totals'], hd.fd_count(),
               rc.tcp_report(hd.pid, {hd.port: 'client', echo.port: 'target'}),
               rc.listen_stats_since(listen0)))


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * NIDLE + 500
    if hard < need:
        h.skip('RLIMIT_NOFILE hard limit %d < %d needed for %d idle sessions'
               % (hard, need, NIDLE))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listen0 = rc.listen_stats()
    echo = h.Backend('echo')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', echo.target(), '--no-persistent',
                    '--idle-timeout', '0', env=rc.small_quarantine_env(),
                    label='harmonyd (idle)')
    h.check(live(hd.port, 200) == 200, 'warm-up')
    rc.settle(hd, 10 ** 6)
    h.check(h.wait_until(lambda: echo.cur == 0, 20, 0.1),
            'the target still has %d warm-up connections' % echo.cur)
    time.sleep(0.5)
    fd0, rss0 = hd.fd_count(), hd.rss_kb()
    t0 = time.monotonic()
    idle = []
    try:
        for i in range(NIDLE):
            idle.append(h.connect(hd.port, source='127.0.%d.%d' % (60 + i % 8, 1 + i // 8 % 250),
                                  timeout=20))
        if not h.wait_until(lambda: rc.counts(hd)[0] >= NIDLE, 60, 0.5):
            h.fail('%d idle sessions opened, the daemon has %r (active, sessions, per '
                   'target) and the target %d; status %r' % (NIDLE, rc.counts(hd), echo.cur,
                   rc.get_json(hd.http_port, '/api/v1/status')))
        # The target must hold them too before anything is judged: a
        # connection the daemon has and the target never accepted (its
        # listen queue dropped the handshake's last ACK) only reaches it
        # with the daemon's FIN at the end, into a full queue again, and
        # that FIN's retransmissions back off past any wait.
        if not h.wait_until(lambda: echo.cur >= NIDLE, 60, 0.5):
            h.fail('the daemon has %d idle sessions, the target accepted only %d of them; '
                   '%s; since the start (the whole host): %s'
                   % (NIDLE, echo.cur, rc.tcp_report(hd.pid, {hd.port: 'client',
                                                             echo.port: 'target'}),
                      rc.listen_stats_since(listen0)))
        opened = time.monotonic() - t0
        a, sess, per = rc.invariant(hd, 30)
        h.check(a == NIDLE, 'status active %d, expected %d' % (a, NIDLE))
        time.sleep(0.5)
        rss1 = hd.rss_kb()
        t1 = time.monotonic()
        ok = live(hd.port, LIVE)
        lat = (time.monotonic() - t1) / LIVE
        h.check(ok == LIVE, 'with %d idle sessions, %d of %d live sessions were served'
                % (NIDLE, ok, LIVE))
        per_kb = (rss1 - rss0) / NIDLE
        h.log('%d idle sessions opened in %.1f s; daemon fds %d -> %d; RSS %d -> %d kB: '
              '%.2f kB per idle session; %d live sessions beside them, %.1f ms each'
              % (NIDLE, opened, fd0, hd.fd_count(), rss0, rss1, per_kb, LIVE, lat * 1000))
        h.check(per_kb <= PER_SESSION_MAX_KB, '%.1f kB of RSS per idle session (limit %d)'
                % (per_kb, PER_SESSION_MAX_KB))
        # An idle session still works when it speaks.
        for s in idle[:5] + idle[-5:]:
            s.sendall(b'wake\n')
            h.check(h.recv_line(s, 20) == b'wake\n', 'an idle session does not echo')
    finally:
        for s in idle:
            s.close()
    if not h.wait_until(lambda: echo.cur == 0, 60, 0.2):
        h.fail(stuck_report(hd, echo, listen0))
    rc.settle(hd, fd0, timeout=30)
    hd.stop()
    echo.stop()


h.run(main)
