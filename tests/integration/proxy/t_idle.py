"""t_idle: --idle-timeout 1s closes a silent session, while a session with
traffic every 300 ms lives on well past 2 s."""

import time

import harness as h


def silent(port):
    with h.connect(port) as s:
        t0 = time.monotonic()
        data, how = h.recv_to_end(s, timeout=15)
        return time.monotonic() - t0, data, how


def active(port):
    with h.connect(port) as s:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 3.0:
            msg = b'ping %d\n' % i
            try:
                s.sendall(msg)
                back = h.recv_line(s, timeout=10)
            except OSError as e:
                h.fail('the active session broke after %.2f s: %s'
                       % (time.monotonic() - t0, e))
            h.check(back == msg, 'the active session got %r after %.2f s, expected %r'
                    % (back, time.monotonic() - t0, msg))
            i += 1
            time.sleep(0.3)
        return i


def main():
    echo = h.Backend('echo')
    hd = h.Harmonyd('--target', echo.target(), '--idle-timeout', '1s', access_log=True)
    quiet = h.Task(silent, hd.port)
    busy = h.Task(active, hd.port)
    elapsed, data, how = quiet.join(60)
    h.check(data == b'', 'the silent session received %r' % data)
    h.check(how != 'timeout', 'the silent session was still open after %.0f s; '
            '--idle-timeout is 1s' % elapsed)
    h.check(0.8 <= elapsed <= 10, 'the silent session ended after %.2f s (%s); '
            '--idle-timeout is 1s' % (elapsed, how))
    exchanges = busy.join(60)
    h.log('silent session closed after %.2f s (%s); active one made %d exchanges'
          % (elapsed, how, exchanges))
    lines = hd.wait_access(2)
    ends = sorted(e.get('end') for e in lines)
    h.check(ends == ['done', 'idle-timeout'],
            'expected one session ended by idle-timeout and one done, got %r' % lines)
    h.check(h.wait_until(lambda: echo.cur == 0, 10),
            'the target still has %d connections' % echo.cur)
    hd.stop()
    echo.stop()


h.run(main)
