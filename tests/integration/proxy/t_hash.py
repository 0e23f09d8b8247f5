"""t_hash: --balance hash maps a client address to a target from the targets
alone: two daemons given the same targets in a different order send each of
60 clients to the same target, the clients spread over all targets, and
removing a target moves (almost) only its own clients."""

import harness as h

CLIENTS = ['127.0.3.%d' % i for i in range(1, 61)]


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    c = h.Backend('name', name='C')
    common = ['--balance', 'hash', '--no-persistent']
    hd1 = h.Harmonyd(*common, '--target', a.target(), '--target', b.target(),
                     '--target', c.target(), label='harmonyd (A B C)')
    hd2 = h.Harmonyd(*common, '--target', c.target(), '--target', a.target(),
                     '--target', b.target(), label='harmonyd (C A B)')
    hd3 = h.Harmonyd(*common, '--target', b.target(), '--target', a.target(),
                     label='harmonyd (B A)')

    first, second, again, without_c = {}, {}, {}, {}
    for src in CLIENTS:
        first[src] = h.name_of(hd1.port, source=src)
        second[src] = h.name_of(hd2.port, source=src)
        again[src] = h.name_of(hd1.port, source=src)
        without_c[src] = h.name_of(hd3.port, source=src)

    per_target = {t: sum(v == t for v in first.values()) for t in 'ABC'}
    h.log('clients per target: %r' % per_target)
    differ = [s for s in CLIENTS if first[s] != second[s]]
    h.check(not differ, 'the two daemons disagree for %d of 60 clients, e.g. %s: %s vs %s'
            % (len(differ), differ[0] if differ else '', first.get(differ[0]) if differ
               else '', second.get(differ[0]) if differ else ''))
    unstable = [s for s in CLIENTS if first[s] != again[s]]
    h.check(not unstable, 'hash without persistence sent %d clients to another target '
            'the second time' % len(unstable))
    h.check(all(n >= 8 for n in per_target.values()),
            '60 clients over 3 equal targets should spread about 20 each, got %r' % per_target)

    # Without C: C's clients move to A or B; the others (nearly all) stay.
    h.check(all(without_c[s] in ('A', 'B') for s in CLIENTS), 'a daemon without C sent a '
            'client to C')
    kept = [s for s in CLIENTS if first[s] != 'C']
    moved = [s for s in kept if without_c[s] != first[s]]
    h.log('without C, %d of the %d clients of A and B moved' % (len(moved), len(kept)))
    h.check(len(moved) <= len(kept) // 10, 'removing C moved %d of the %d clients of A and B'
            % (len(moved), len(kept)))

    for p in (hd1, hd2, hd3, a, b, c):
        p.stop()


h.run(main)
