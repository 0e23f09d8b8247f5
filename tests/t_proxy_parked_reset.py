"""t_proxy_parked_reset: a client that resets while harmonyd is not reading it.

- Relaying, parked: the target reads nothing, so the client -> target flow
  fills and harmonyd stops watching the client for input (backpressure);
  nothing goes the other way either. The client then resets (RST). The
  session, its target connection and its concurrency slot must go at once,
  not after --idle-timeout (60 s here).
- Queued: --concurrency 1 and the slot is held; a second client queues and
  resets. It must leave the queue at once and never reach the target when
  the slot frees up (HAProxy's abortonclose, for a reset).
Run on both loop backends (HARMONY_LOOP=poll too).
"""

import os
import socket
import struct
import time

import harness as h
import relcheck as rc

RST = struct.pack('ii', 1, 0)


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
    s.close()


def fill(s, limit=64 * 1024 * 1024):
    """Sends until nothing more goes for a second (everything in between is full)."""
    s.setblocking(False)
    chunk = b'x' * 65536
    sent, stuck_since = 0, None
    while sent < limit:
        try:
            sent += s.send(chunk)
            stuck_since = None
        except BlockingIOError:
            if stuck_since is None:
                stuck_since = time.monotonic()
            elif time.monotonic() - stuck_since > 1.0:
                return sent
            time.sleep(0.05)
    h.fail('sent %d bytes to a target that reads nothing: no backpressure?' % sent)


def status(hd):
    return rc.get_json(hd.http_port, '/api/v1/status')


def scenario(env, loop):
    hold = h.Backend('hold')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--target', hold.target(),
                    '--concurrency', '1', '--idle-timeout', '60s',
                    '--queue-timeout', '60s', access_log=True, env=env,
                    label='harmonyd (%s)' % loop)

    # Relaying, the client parked: then it resets.
    c = h.connect(hd.port)
    h.check(h.wait_until(lambda: hold.cur == 1, 15), 'the client never reached the target')
    n = fill(c)
    h.log('%s: %d bytes in flight before the reset' % (loop, n))
    h.check(status(hd)['active'] == 1, 'the session is not active')
    t0 = time.monotonic()
    reset(c)
    gone = h.wait_until(lambda: hold.cur == 0 and status(hd)['active'] == 0, 10, 0.1)
    h.check(gone, '%s: a client reset while parked was not noticed: after 10 s the '
            'target still has %d connection(s) and %d session(s) are active '
            '(--idle-timeout is 60 s)' % (loop, hold.cur, status(hd)['active']))
    h.log('%s: parked reset noticed in %.2f s' % (loop, time.monotonic() - t0))
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('end') == 'client-reset',
            'expected end=client-reset, got %r' % lines)

    # Queued: the slot is held, a second client queues, then resets.
    first = h.connect(hd.port)
    h.check(h.wait_until(lambda: hold.cur == 1 and hold.total == 2, 15),
            'the first client never reached the target')
    second = h.connect(hd.port)
    h.check(h.wait_until(lambda: status(hd)['queued'] == 1, 10), 'the second client '
            'did not queue')
    reset(second)
    h.check(h.wait_until(lambda: status(hd)['queued'] == 0, 10, 0.1),
            '%s: a queued client that reset is still queued after 10 s' % loop)
    first.close()
    h.check(h.wait_until(lambda: hold.cur == 0, 10), 'the first session did not end')
    time.sleep(1.0)         # the freed slot would be handed on at once
    h.check(hold.total == 2, '%s: a queued client that had reset was connected to the '
            'target (it accepted %d connections, expected 2)' % (loop, hold.total))
    lines = hd.wait_access(3)
    ends = sorted(e.get('end') for e in lines)
    h.check(ends == ['client-reset', 'client-reset', 'done'],
            'expected end= client-reset twice and done once, got %r' % ends)
    rc.invariant(hd, expect_idle=True)
    hd.stop()
    hold.stop()


def main():
    for loop in ('epoll', 'poll'):
        env = dict(os.environ)
        if loop == 'poll':
            env['HARMONY_LOOP'] = 'poll'
        else:
            env.pop('HARMONY_LOOP', None)
        scenario(env, loop)


h.run(main)
