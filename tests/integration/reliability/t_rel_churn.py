"""t_rel_churn: many short sessions leak neither descriptors nor memory.

Reliability scenario 6 (docs/RELIABILITY.md). 2000 warm-up sessions, then
CHURN (50000) more, from 4 client threads and 200 source addresses, to a
name target. Afterwards: every session was served, the session counts agree
and are 0, the daemon's descriptors are back to their count after warm-up and
its RSS is at most 1 MiB above it. Under ASan on a slow 2-core machine this
takes a few minutes; the burst is bounded (each thread's join waits 600 s).

The daemon runs with a 1 MiB ASan quarantine (see t_slowreader).
"""

import time

import harness as h
import relcheck as rc

WARMUP = 2000
CHURN = 50000
THREADS = 4
SLACK_KB = 1024


def sessions(port, n, first):
    bad = 0
    for i in range(first, first + n):
        src = '127.0.%d.%d' % (40 + i % 4, 1 + (i // 4) % 50)
        try:
            with h.connect(port, source=src, timeout=20) as s:
                if h.recv_line(s, 20) != b'A\n':
                    bad += 1
        except OSError:
            bad += 1
    return bad


def burst(port, n, first):
    tasks = [h.Task(sessions, port, n // THREADS, first + k * (n // THREADS))
             for k in range(THREADS)]
    return sum(t.join(600) for t in tasks)


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', a.target(), '--no-persistent',
                    env=rc.small_quarantine_env(), label='harmonyd (churn)')
    h.check(burst(hd.port, WARMUP, 0) == 0, 'warm-up sessions failed')
    rc.settle(hd, 10 ** 6)
    time.sleep(0.5)
    fd0, rss0 = hd.fd_count(), hd.rss_kb()
    t0 = time.monotonic()
    bad = burst(hd.port, CHURN, WARMUP)
    el = time.monotonic() - t0
    h.check(bad == 0, '%d of %d short sessions were not served' % (bad, CHURN))
    rc.settle(hd, fd0)
    time.sleep(0.5)
    rss1 = hd.rss_kb()
    st = rc.get_json(hd.http_port, '/api/v1/status')
    h.log('%d sessions in %.1f s (%.0f/s); fds %d -> %d; RSS %d kB after warm-up, %d kB '
          'after (%+d kB); totals %r' % (CHURN, el, CHURN / el, fd0, hd.fd_count(), rss0,
                                          rss1, rss1 - rss0, st['totals']))
    h.check(st['totals']['connected'] >= WARMUP + CHURN,
            'connected %d, expected %d' % (st['totals']['connected'], WARMUP + CHURN))
    h.check(rss1 <= rss0 + SLACK_KB, 'RSS grew from %d to %d kB over %d sessions (limit '
            '+%d kB): a leak?' % (rss0, rss1, CHURN, SLACK_KB))
    hd.stop()
    a.stop()


h.run(main)
