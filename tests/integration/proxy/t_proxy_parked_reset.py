"""t_proxy_parked_reset: a client that resets while harmonyd is not reading it.

- Relaying, parked: the client sends its request and half-closes; the
  target answers nothing. harmonyd has nothing to read from the client (EOF)
  nor to write to it, so it watches the client for nothing. The client then
  resets (RST). The session, its target connection and its concurrency slot
  must go at once, not after --idle-timeout (60 s here).
  (A client parked because the target does not read is the same case, but
  its reset is only accepted by the kernel while its receive window is
  open: RFC 5961, so it is not tested that way.)
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


def status(hd):
    return rc.get_json(hd.http_port, '/api/v1/status')


def start(target, env, loop):
    return h.Harmonyd('--http', '127.0.0.1:0', '--target', target,
                      '--concurrency', '1', '--idle-timeout', '60s',
                      '--queue-timeout', '60s', access_log=True, env=env,
                      label='harmonyd (%s)' % loop)


def scenario(env, loop):
    # Relaying, the client parked: then it resets. The target answers late.
    late = h.Backend('name', name='LATE', delay_ms=60000)
    hd = start(late.target(), env, loop)
    c = h.connect(hd.port)
    h.check(h.wait_until(lambda: late.cur == 1, 15), 'the client never reached the target')
    c.sendall(b'GET / HTTP/1.0\r\n\r\n')
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.5)         # the EOF is read and passed on: nothing left to watch
    h.check(status(hd)['active'] == 1, 'the session is not active')
    t0 = time.monotonic()
    reset(c)
    gone = h.wait_until(lambda: late.cur == 0 and status(hd)['active'] == 0, 10, 0.1)
    h.check(gone, '%s: a client reset while parked was not noticed: after 10 s the '
            'target still has %d connection(s) and %d session(s) are active '
            '(--idle-timeout is 60 s)' % (loop, late.cur, status(hd)['active']))
    h.log('%s: parked reset noticed in %.2f s' % (loop, time.monotonic() - t0))
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('end') == 'client-reset',
            'expected end=client-reset, got %r' % lines)
    rc.invariant(hd, expect_idle=True)
    hd.stop()
    late.stop()

    # Queued: the slot is held, a second client queues, then resets.
    hold = h.Backend('hold')
    hd = start(hold.target(), env, loop)
    first = h.connect(hd.port)
    h.check(h.wait_until(lambda: hold.cur == 1, 15),
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
    h.check(hold.total == 1, '%s: a queued client that had reset was connected to the '
            'target (it accepted %d connections, expected 1)' % (loop, hold.total))
    lines = hd.wait_access(2)
    ends = sorted(e.get('end') for e in lines)
    h.check(ends == ['client-reset', 'done'],
            'expected end= client-reset and done, got %r' % ends)
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


if __name__ == "__main__":
    h.run(main)
