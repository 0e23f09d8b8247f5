"""t_connect_timeout: a connect that hangs is abandoned after
--connect-timeout: the session is requeued to another target and served, or,
with nothing else to try, the client gets the unavailable text.

The hanging target is a loopback listener whose accept queue is full (see
harness.BlackHole). Its weight, 1000 against 1, makes it the first pick."""

import time

import harness as h


def main():
    hole = h.BlackHole()
    good = h.Backend('name', name='GOOD')

    hd = h.Harmonyd('--target', hole.target(1000), '--target', good.target(1),
                    '--connect-timeout', '1s', '--requeue', '1', '--no-persistent',
                    access_log=True, label='harmonyd (requeue)')
    t0 = time.monotonic()
    name = h.name_of(hd.port, timeout=30)
    elapsed = time.monotonic() - t0
    h.check(name == 'GOOD', 'expected the session requeued to GOOD, got %r' % name)
    h.check(0.9 <= elapsed <= 15, 'served after %.2f s; expected about 1 s, the '
            'connect timeout to the hanging target' % elapsed)
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('tries') == '2' and lines[0].get('target') == good.target(),
            'expected the session logged tries=2 target=%s, got %r' % (good.target(), lines))
    hd.stop()

    hd = h.Harmonyd('--target', hole.target(), '--connect-timeout', '1s', '--requeue', '0',
                    '--unavailable', 'TIMEOUT', access_log=True,
                    label='harmonyd (no requeue)')
    elapsed = h.expect_unavailable(hd.port, b'TIMEOUT')
    h.check(0.9 <= elapsed <= 15, 'unavailable after %.2f s; expected about 1 s' % elapsed)
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('end') in ('connect-failed', 'unavailable'),
            'expected end=connect-failed (or unavailable), got %r' % lines)
    hd.stop()

    good.stop()
    hole.close()


h.run(main)
