"""t_shutdown: on SIGTERM the daemon stops accepting, lets open sessions
finish and then exits 0; a session still open after --grace is cut and the
daemon exits 0 anyway."""

import signal
import socket
import subprocess
import time

import harness as h


def wait_exit(hd, timeout):
    try:
        return hd.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def not_served(port):
    """True unless a new client gets its echo (refused or ignored is fine)."""
    try:
        s = h.connect(port, timeout=5)
    except OSError:
        return True
    with s:
        try:
            s.sendall(b'new\n')
        except OSError:
            return True
        return h.recv_line(s, timeout=2) != b'new\n'


def main():
    echo = h.Backend('echo')
    hd = h.Harmonyd('--target', echo.target(), label='harmonyd (graceful)')
    s = h.connect(hd.port)
    s.sendall(b'before\n')
    h.check(h.recv_line(s) == b'before\n', 'the session does not echo')

    hd.popen.send_signal(signal.SIGTERM)
    h.check(h.wait_until(lambda: not_served(hd.port), 10, 0.2),
            'new clients are still served 10 s after SIGTERM')
    s.sendall(b'after\n')
    h.check(h.recv_line(s) == b'after\n',
            'the open session stopped working after SIGTERM')
    h.check(hd.alive(), 'the daemon exited (status %s) with a session still open, long '
            'before its grace period' % hd.popen.poll())
    s.shutdown(socket.SHUT_WR)
    data, how = h.recv_to_end(s)
    s.close()
    h.check((data, how) == (b'', 'eof'), 'the session should end cleanly, got %r then %s'
            % (data, how))
    rc = wait_exit(hd, 10)
    h.check(rc == 0, 'after its last session ended the daemon should exit 0 '
            '(status %s)' % rc)
    hd.stop()       # collects the log and checks for sanitizer reports

    # A session that does not end within --grace is cut.
    hold = h.Backend('hold')
    hd = h.Harmonyd('--target', hold.target(), '--grace', '1s', label='harmonyd (grace 1s)')
    with h.connect(hd.port) as s:
        h.check(h.wait_until(lambda: hold.cur == 1, 15), 'the session did not reach the target')
        t0 = time.monotonic()
        hd.popen.send_signal(signal.SIGTERM)
        rc = wait_exit(hd, 15)
        elapsed = time.monotonic() - t0
        h.check(rc == 0, '--grace 1s: expected exit 0 within 15 s of SIGTERM, status %s' % rc)
        h.check(elapsed >= 0.8, '--grace 1s: the daemon exited after %.2f s, before the grace '
                'period' % elapsed)
        data, how = h.recv_to_end(s, timeout=5)
        h.check(how in ('eof', 'reset') and data == b'',
                'the cut session should be closed, got %r then %s' % (data, how))
    h.check(h.wait_until(lambda: hold.cur == 0, 10),
            'the target still has %d connections after the daemon exited' % hold.cur)
    hd.stop()
    echo.stop()
    hold.stop()


h.run(main)
