"""t_rel_stall: the daemon held off the CPU does not count that against a target.

A target registered over HTTP with --host-timeout 300ms heartbeats every
50 ms throughout, while sessions run back to back. The daemon is stopped
(SIGSTOP) for 0.7 s, four times: a loaded machine can hold a process off the
CPU that long. Each heartbeat sent meanwhile waits in the daemon's admin
socket, on time; the daemon must read it before it judges the target's
deadline, which has passed by the time it runs again. Checked: the target
is never seen down nor back from down (a reduced effective weight), every
session is served (none gets the unavailable close), and no heartbeat is
refused.

Before the fix, the deadline timer fired in the first pass after the stall,
before the waiting heartbeat was read: the target was down for a moment and
a client got an at-once close ("unavailable" in the access log).
"""

import json
import os
import signal
import threading
import time

import harness as h
import relcheck as rc

STALLS = 4
STALL_S = 0.7
BEAT = 0.05


def one_session(port, timeout=15):
    """The name line, or None and how the read ended."""
    t0 = time.monotonic()
    with h.connect(port, timeout=timeout) as s:
        return h.read_name(s, timeout - (time.monotonic() - t0))


def main():
    be = h.Backend('name', name='T')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--host-timeout', '300ms', '--no-persistent',
                    access_log=True, label='harmonyd (stall)')
    hp = hd.http_port
    st, body = rc.request(hp, 'POST', '/api/v1/targets', json.dumps({'port': be.port}))
    h.check(st == 201, 'register: %d %r' % (st, body))
    d = json.loads(body)
    tid, key = d['id'], d['key']
    stop = threading.Event()
    bad_acks = []

    def beat():
        while not stop.is_set():
            st, _ = rc.request(hp, 'POST', '/api/v1/targets/%d/ack' % tid,
                               headers={'Authorization': 'Bearer ' + key}, timeout=10)
            if st != 204:
                bad_acks.append(st)
            time.sleep(BEAT)
    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    stalled = []

    def staller():
        time.sleep(1.0)
        for _ in range(STALLS):
            if stop.is_set():
                break
            os.kill(hd.pid, signal.SIGSTOP)
            try:
                time.sleep(STALL_S)
            finally:
                os.kill(hd.pid, signal.SIGCONT)
            stalled.append(time.monotonic())
            time.sleep(1.0)
    stall_t = threading.Thread(target=staller, daemon=True)
    seen_down = []                      # samples of the target not up at full weight

    def watch():
        while stall_t.is_alive() and not stop.is_set():
            st, body = rc.request(hp, 'GET', '/api/v1/targets', timeout=10)
            if st == 200:
                for x in json.loads(body)['targets']:
                    if x['state'] != 'up' or x['effective_weight'] != x['weight']:
                        seen_down.append((x['state'], x['effective_weight']))
            time.sleep(0.03)
    watcher = threading.Thread(target=watch, daemon=True)
    stall_t.start()
    watcher.start()
    misses = []
    n = 0
    try:
        deadline = time.monotonic() + 60
        while stall_t.is_alive() and time.monotonic() < deadline:
            name, seen = one_session(hd.port)
            n += 1
            if name != 'T':
                misses.append((n, name, seen))
                if len(misses) >= 5:
                    break
        stall_t.join(15)
        watcher.join(15)
    finally:
        stop.set()
        beater.join(15)
    h.check(hd.alive(), 'the daemon died')
    h.check(len(stalled) == STALLS, 'only %d stalls of %d happened' % (len(stalled), STALLS))
    ends = {}
    for a in hd.access_lines():
        ends[a.get('end')] = ends.get(a.get('end'), 0) + 1
    status = rc.get_json(hp, '/api/v1/status')
    h.log('%d sessions across %d stalls of %.1f s: ends %s, unavailable %d; target seen '
          'down %d times' % (n, len(stalled), STALL_S, ends, status['totals']['unavailable'],
                             len(seen_down)))
    h.check(not misses, 'sessions not served after the daemon was held off the CPU: %s; '
            'access-log ends %s; log tail:\n%s'
            % (misses, ends, '\n'.join(hd.log_text().splitlines()[-10:])))
    h.check(status['totals']['unavailable'] == 0,
            '%d clients got the unavailable close' % status['totals']['unavailable'])
    h.check(not bad_acks, 'heartbeats refused: %r' % bad_acks[:5])
    h.check(not seen_down, 'the target was seen down (or back from down, at a reduced '
            'weight) %d times: %s' % (len(seen_down), seen_down[:5]))
    hd.stop()
    be.stop()


h.run(main)
