"""t_split: 300 connections over two static targets weighted 1 and 2 split
about 1:2 -- with leastconn on an idle farm (ties go to smooth weighted
round robin), with roundrobin, and with persistence on and 300 distinct
client addresses."""

import harness as h

N = 300
LIGHT = (85, 115)       # expected 100
HEAVY = (185, 215)      # expected 200


def source(i):
    return '127.0.%d.%d' % (1 + i // 250, 1 + i % 250)


def split(label, a, b, args, sources=False):
    hd = h.Harmonyd('--target', a.target(1), '--target', b.target(2), *args,
                    access_log=True, label='harmonyd (%s)' % label)
    counts = {'A': 0, 'B': 0}
    for i in range(N):
        name = h.name_of(hd.port, source=source(i) if sources else None)
        h.check(name in counts, '%s: unexpected answer %r' % (label, name))
        counts[name] += 1
        hd.settle(i + 1)        # the next client meets an idle farm
    h.log('%s: A@1 got %d, B@2 got %d' % (label, counts['A'], counts['B']))
    hd.stop()
    ok = LIGHT[0] <= counts['A'] <= LIGHT[1] and HEAVY[0] <= counts['B'] <= HEAVY[1]
    return None if ok else ('%s: %d connections over weights 1 and 2 split %d:%d, expected '
                            'about 100:200' % (label, N, counts['A'], counts['B']))


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    errors = [split('leastconn', a, b, ['--no-persistent']),
              split('roundrobin', a, b, ['--no-persistent', '--balance', 'roundrobin']),
              split('persistent, 300 clients', a, b, [], sources=True)]
    errors = [e for e in errors if e]
    h.check(not errors, '; '.join(errors) + ' (%d..%d vs %d..%d)' % (LIGHT + HEAVY))
    # Every client was answered; the backends' "conn" lines reach us through
    # a reader thread, which may lag a loaded machine.
    h.wait_until(lambda: a.total + b.total >= 3 * N, 15, 0.1)
    h.check(a.total + b.total == 3 * N,
            'backends accepted %d connections, expected %d' % (a.total + b.total, 3 * N))
    a.stop()
    b.stop()


h.run(main)
