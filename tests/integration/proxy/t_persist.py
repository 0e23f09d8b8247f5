"""t_persist: with persistence (the default) each client address keeps its
target over 20 connections, while the clients as a whole spread over the
targets by weight; with --no-persistent one client does not stick.

30 clients are the loopback addresses 127.0.0.2 ... 127.0.0.31, taking turns
(round after round), against targets A@1, B@1, C@2."""

import time

import harness as h

CLIENTS = ['127.0.0.%d' % i for i in range(2, 32)]
ROUNDS = 20


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    c = h.Backend('name', name='C')
    targets = ['--target', a.target(1), '--target', b.target(1), '--target', c.target(2)]

    hd = h.Harmonyd(*targets, access_log=True, label='harmonyd (persistent)')
    seen = {src: [] for src in CLIENTS}
    n = 0
    for _ in range(ROUNDS):
        for src in CLIENTS:
            seen[src].append(h.name_of(hd.port, source=src))
            n += 1
            hd.settle(n)
    for src, names in seen.items():
        h.check(len(set(names)) == 1, 'client %s was not kept on one target: %s'
                % (src, ' '.join(names)))
    per_target = {t: sum(names[0] == t for names in seen.values()) for t in 'ABC'}
    h.log('clients per target (weights 1, 1, 2): %r' % per_target)
    h.check(3 <= per_target['A'] <= 12 and 3 <= per_target['B'] <= 12
            and 10 <= per_target['C'] <= 20,
            '30 clients over weights A@1 B@1 C@2 should spread about 7.5/7.5/15, got %r'
            % per_target)
    # The access log names the client of each session.
    lines = hd.access_lines()
    h.check(len(lines) == len(CLIENTS) * ROUNDS and
            {e.get('client', '').rpartition(':')[0] for e in lines} == set(CLIENTS),
            'the access log should have %d lines from the 30 client addresses'
            % (len(CLIENTS) * ROUNDS))
    hd.stop()

    hd = h.Harmonyd(*targets, '--no-persistent', access_log=True,
                    label='harmonyd (no-persistent)')
    names = []
    for i in range(20):
        names.append(h.name_of(hd.port, source=CLIENTS[0]))
        hd.settle(i + 1)
    h.log('--no-persistent, one client: %s' % ' '.join(names))
    h.check(len(set(names)) > 1, 'with --no-persistent one client stayed on %s for 20 '
            'connections' % names[0])
    hd.stop()

    # --persist-ttl: an entry idle for longer is forgotten. Round robin over
    # two equal targets alternates, so whether X is remembered shows: after
    # X, Y, Z (T1, T2, T1) the next fresh pick is T2.
    hd = h.Harmonyd('--target', a.target(), '--target', b.target(), '--balance', 'roundrobin',
                    '--persist-ttl', '2s', access_log=True, label='harmonyd (persist-ttl)')
    x, y, z = '127.0.0.40', '127.0.0.41', '127.0.0.42'
    t0 = time.monotonic()
    first = [h.name_of(hd.port, source=src) for src in (x, y, z)]
    h.check(first[0] != first[1] and first[0] == first[2],
            'round robin over two targets should alternate, got %r' % first)
    again = h.name_of(hd.port, source=x)
    if time.monotonic() - t0 < 1.5:     # else too slow to tell: skip this check
        h.check(again == first[0], 'client %s moved from %s to %s within --persist-ttl'
                % (x, first[0], again))
    hd.settle(4)
    time.sleep(3.5)
    later = h.name_of(hd.port, source=x)
    h.check(later == first[1], 'client %s idle for 3.5 s with --persist-ttl 2s should be '
            'forgotten and get the next round-robin pick %s, got %s'
            % (x, first[1], later))
    hd.stop()

    for p in (a, b, c):
        p.stop()


h.run(main)
