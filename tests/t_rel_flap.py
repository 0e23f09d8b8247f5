"""t_rel_flap: a target whose heartbeats go on and off every 0.5 s.

Reliability scenario 3 (docs/RELIABILITY.md). Two name targets registered
over HTTP with --host-timeout 250ms: S heartbeats every 80 ms throughout; F
heartbeats every 80 ms for 0.5 s, then not at all for 0.5 s, for FLAP_S
seconds, so it goes down and back up about once a second. Meanwhile
sessions run back to back. Checked:
- no crash, no stuck state: every session is served (by S or F), and once F
  heartbeats steadily again it is "up" and gets sessions again;
- counters consistent: the targets' totals add up to the sessions connected,
  the session counts agree at 0, descriptors return;
- hysteresis (flap damping, src/pool.c): once the damping has built up (the
  second half), F gets at most 15 % of the sessions (measured: 5 %; ~37 % without
  damping: it is up ~3/4 of the time, at equal weight).
"""

import json
import threading
import time

import harness as h
import relcheck as rc

FLAP_S = 12.0
BEAT = 0.08


def register(port, be_port):
    st, body = rc.request(port, 'POST', '/api/v1/targets', json.dumps({'port': be_port}))
    h.check(st == 201, 'register: %d %r' % (st, body))
    d = json.loads(body)
    return d['id'], d['key']


def ack(port, tid, key):
    st, _ = rc.request(port, 'POST', '/api/v1/targets/%d/ack' % tid,
                       headers={'Authorization': 'Bearer ' + key}, timeout=5)
    return st


def main():
    s_be = h.Backend('name', name='S')
    f_be = h.Backend('name', name='F')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--host-timeout', '250ms', '--no-persistent',
                    label='harmonyd (flap)')
    hp = hd.http_port
    sid, skey = register(hp, s_be.port)
    fid, fkey = register(hp, f_be.port)
    fd0 = hd.fd_count()
    stop = threading.Event()
    flapping = threading.Event()
    flapping.set()
    bad_acks = []

    def beat(tid, key, flap):
        t0 = time.monotonic()
        while not stop.is_set():
            on = not flap or not flapping.is_set() or int((time.monotonic() - t0) / 0.5) % 2 == 0
            if on:
                st = ack(hp, tid, key)
                if st != 204:
                    bad_acks.append((tid, st))
            time.sleep(BEAT)
    beaters = [threading.Thread(target=beat, args=(sid, skey, False), daemon=True),
               threading.Thread(target=beat, args=(fid, fkey, True), daemon=True)]
    for t in beaters:
        t.start()
    try:
        counts = {'S': 0, 'F': 0}
        late = {'S': 0, 'F': 0}         # the second half: damping at its full
        states = set()
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < FLAP_S:
            name = h.name_of(hd.port, timeout=15)
            h.check(name in counts, 'a session got %r' % name)
            counts[name] += 1
            n += 1
            if time.monotonic() - t0 >= FLAP_S / 2:
                late[name] += 1
            if n % 20 == 0:
                for t in rc.get_json(hp, '/api/v1/targets')['targets']:
                    if t['id'] == fid:
                        states.add(t['state'])
        share = counts['F'] / max(1, n)
        late_share = late['F'] / max(1, late['F'] + late['S'])
        h.log('%.0f s of flapping: %d sessions, S %d, F %d (F share %.1f %%; %.1f %% in the '
              'second half); F seen in states %s' % (FLAP_S, n, counts['S'], counts['F'],
                                                      100 * share, 100 * late_share,
                                                      sorted(states)))
        h.check(hd.alive(), 'the daemon died')
        h.check('down' in states and 'up' in states, 'F did not flap (states seen: %s): '
                'the test did not test' % sorted(states))
        h.check(late_share <= 0.15, 'the flapping target got %.0f %% of the sessions in the '
                'second half of its flapping: no damping?' % (100 * late_share))
        # Flapping stops: F recovers and gets traffic again.
        flapping.clear()
        t1 = time.monotonic()
        got_f = [0]

        def f_serves():
            got_f[0] += h.name_of(hd.port, timeout=15) == 'F'
            return got_f[0] >= 5
        h.check(h.wait_until(f_serves, 40, 0.02),
                'F heartbeats steadily again but got only %d sessions in 40 s' % got_f[0])
        h.log('after the flapping: F served 5 sessions %.1f s after steady heartbeats'
              % (time.monotonic() - t1))
        f = [t for t in rc.get_json(hp, '/api/v1/targets')['targets'] if t['id'] == fid][0]
        h.check(f['state'] == 'up', 'F is %r after steady heartbeats' % f['state'])
    finally:
        stop.set()
        for t in beaters:
            t.join(10)
    h.check(not bad_acks, 'heartbeats refused: %r' % bad_acks[:5])
    rc.settle(hd, fd0)
    st = rc.get_json(hp, '/api/v1/status')
    ts = rc.get_json(hp, '/api/v1/targets')['targets']
    h.check(sum(t['total'] for t in ts) == st['totals']['connected'],
            'the targets\' totals add up to %d, connected %d'
            % (sum(t['total'] for t in ts), st['totals']['connected']))
    hd.stop()
    s_be.stop()
    f_be.stop()


h.run(main)
