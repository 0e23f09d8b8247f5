"""t_concurrency: --concurrency caps the sessions proxied at once; the others
wait in the queue and are served as slots free up, or get the unavailable
text after --queue-timeout. --concurrency 0 pauses: everybody queues.
--queue-max 0 means no queue: a client is served while a slot is free and
refused with the unavailable text at once when none is."""

import socket
import time

import harness as h


def main():
    # 5 clients at once, 2 slots, a target that answers after ~1 s.
    slow = h.Backend('name', name='SLOW', delay_ms=1000)
    hd = h.Harmonyd('--target', slow.target(), '--concurrency', '2',
                    label='harmonyd (concurrency 2)')
    tasks = [h.Task(h.name_of, hd.port, None, 60) for _ in range(5)]
    names = [t.join(90) for t in tasks]
    h.check(names == ['SLOW'] * 5, 'all 5 clients should be served, got %r' % names)
    h.check(slow.total == 5, 'the target accepted %d connections, expected 5' % slow.total)
    h.check(slow.max <= 2, '--concurrency 2, but the target saw %d connections at once'
            % slow.max)
    h.check(slow.max == 2, 'the target never saw 2 connections at once (max %d): '
            'the 2 slots were not used in parallel' % slow.max)
    hd.stop()

    # Slots held forever: the queued clients time out with the unavailable text.
    hold = h.Backend('hold')
    hd = h.Harmonyd('--target', hold.target(), '--concurrency', '2', '--queue-timeout', '1s',
                    '--unavailable', 'BUSY\\r\\n', access_log=True,
                    label='harmonyd (queue-timeout)')
    held = [h.connect(hd.port) for _ in range(2)]
    try:
        h.check(h.wait_until(lambda: hold.cur == 2, 15),
                'the 2 first clients should reach the target (it has %d)' % hold.cur)
        queued = [h.Task(h.expect_unavailable, hd.port, b'BUSY\r\n') for _ in range(2)]
        for t in queued:
            elapsed = t.join(60)
            h.check(0.8 <= elapsed <= 20, 'a queued client got the unavailable text after '
                    '%.2f s; --queue-timeout is 1s' % elapsed)
        h.check(hold.total == 2, 'queued clients must not reach the target (it accepted %d)'
                % hold.total)
        lines = hd.wait_access(2)
        h.check(len(lines) == 2 and all(e.get('end') == 'queue-timeout' for e in lines),
                'expected 2 access-log lines with end=queue-timeout, got %r' % lines)
        for s in held:
            s.settimeout(0.2)
            try:
                data = s.recv(100)
                h.fail('a client holding a slot got %r; its session should still be open'
                       % data)
            except socket.timeout:
                pass
    finally:
        for s in held:
            s.close()
    h.check(h.wait_until(lambda: hold.cur == 0, 15),
            'the target still has %d connections after the clients closed' % hold.cur)
    hd.stop()

    # --concurrency 0: paused, nothing reaches the target.
    hd = h.Harmonyd('--target', hold.target(), '--concurrency', '0', '--queue-timeout', '1s',
                    '--unavailable', 'PAUSED', label='harmonyd (concurrency 0)')
    t0 = time.monotonic()
    h.expect_unavailable(hd.port, b'PAUSED')
    h.check(time.monotonic() - t0 >= 0.8, 'paused: the client should have waited in the queue')
    h.check(hold.total == 2, '--concurrency 0, but the target accepted a connection')
    hd.stop()

    # --queue-max 0: no queue. A free slot serves; with none, refused at once.
    hd = h.Harmonyd('--target', hold.target(), '--concurrency', '1', '--queue-max', '0',
                    '--queue-timeout', '30s', '--unavailable', 'FULL', access_log=True,
                    label='harmonyd (queue-max 0)')
    first = h.connect(hd.port)
    try:
        h.check(h.wait_until(lambda: hold.total == 3 and hold.cur == 1, 15),
                '--queue-max 0 with a free slot: the client should reach the target '
                '(it accepted %d of 3, has %d open)' % (hold.total, hold.cur))
        t0 = time.monotonic()
        h.expect_unavailable(hd.port, b'FULL', timeout=20)
        h.check(time.monotonic() - t0 < 15, '--queue-max 0 and no free slot: the '
                'client must be refused at once, not queued until --queue-timeout')
        h.check(hold.total == 3, 'a refused client reached the target')
        lines = hd.wait_access(1)
        h.check(len(lines) == 1 and lines[0].get('end') == 'queue-full',
                'expected one access-log line with end=queue-full, got %r' % lines)
    finally:
        first.close()
    h.check(h.wait_until(lambda: hold.cur == 0, 15), 'the held session did not end')
    # The target has seen the close; harmonyd frees the slot when it reads the
    # target's EOF in turn, which its access-log line says.
    h.check(len(hd.wait_access(2, timeout=15)) == 2,
            'the held session has no access-log line: %r' % hd.access_lines())
    # The slot is free again: served again.
    second = h.connect(hd.port)
    try:
        h.check(h.wait_until(lambda: hold.total == 4, 15),
                'the slot is free again but the client was not served')
    finally:
        second.close()
    hd.stop()
    slow.stop()
    hold.stop()


h.run(main)
