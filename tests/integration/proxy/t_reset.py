"""t_reset: resets on either side end just that session, are passed on as
resets, leave the daemon serving others, and leak no descriptor.

- a target that sends 256 KiB and then resets, next to an echo target
  (round robin): the client of the first sees a reset (possibly after some
  data), the echo sessions work throughout;
- clients that reset their own sessions: the target's side is closed too;
- the daemon's open descriptors return to their count before.
"""

import socket
import struct

import harness as h

RESET_BYTES = 256 * 1024


def reset_socket(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()


def session(port):
    """'echo' or 'reset', after checking what came back."""
    with h.connect(port) as s:
        try:
            s.sendall(b'ping\n')
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass        # already reset: the reset target answers the first byte fast
        data, how = h.recv_to_end(s)
    if data == b'ping\n' and how == 'eof':
        return 'echo'
    h.check(data == h.pattern(0, len(data)) and len(data) <= RESET_BYTES,
            'a session got %d bytes, neither the echo nor a part of the stream' % len(data))
    h.check(how == 'reset', 'the target reset the session after %d bytes, but the client '
            'saw %s instead of a reset' % (len(data), how))
    return 'reset'


def fds_settle(hd, base):
    if h.wait_until(lambda: hd.fd_count() <= base, 15):
        return
    h.fail('%s has %d descriptors open, %d before the sessions: a leak?'
           % (hd.label, hd.fd_count(), base))


def main():
    rst = h.Backend('reset', nbytes=RESET_BYTES)
    echo = h.Backend('echo')
    hd = h.Harmonyd('--target', rst.target(1), '--target', echo.target(1),
                    '--balance', 'roundrobin', '--no-persistent', access_log=True,
                    label='harmonyd (target resets)')
    kinds = [session(hd.port) for _ in range(2)]        # warm-up: one of each
    hd.wait_access(2)
    base = hd.fd_count()
    h.log('descriptors after warm-up: %d' % base)
    for _ in range(20):
        kinds.append(session(hd.port))
    h.log('sessions: %d echo, %d reset' % (kinds.count('echo'), kinds.count('reset')))
    h.check(kinds.count('echo') >= 8 and kinds.count('reset') >= 8,
            'round robin over a resetting and an echo target: expected about 11 of each, '
            'got %d echo and %d reset' % (kinds.count('echo'), kinds.count('reset')))
    lines = hd.wait_access(len(kinds))
    resets = [e for e in lines if e.get('end') == 'target-reset']
    h.check(len(resets) == kinds.count('reset'),
            'expected %d access-log lines with end=target-reset, got %d: %r'
            % (kinds.count('reset'), len(resets), lines))
    fds_settle(hd, base)
    hd.stop()

    # Clients reset their sessions with a target that holds them open.
    hold = h.Backend('hold')
    hd = h.Harmonyd('--target', hold.target(), access_log=True,
                    label='harmonyd (client resets)')
    with h.connect(hd.port) as s:                       # warm-up
        h.check(h.wait_until(lambda: hold.cur == 1, 15), 'warm-up session not connected')
    hd.wait_access(1)
    h.check(h.wait_until(lambda: hold.cur == 0, 15), 'warm-up session still open')
    base = hd.fd_count()
    clients = [h.connect(hd.port) for _ in range(10)]
    h.check(h.wait_until(lambda: hold.cur == 10, 15),
            'the target has %d connections, expected 10' % hold.cur)
    for s in clients:
        s.sendall(b'some bytes')
        reset_socket(s)
    h.check(h.wait_until(lambda: hold.cur == 0, 15),
            'after the clients reset, the target still has %d connections' % hold.cur)
    lines = hd.wait_access(11)
    h.check(sum(e.get('end') == 'client-reset' for e in lines) == 10,
            'expected 10 access-log lines with end=client-reset, got %r' % lines)
    # Still serving after all that.
    with h.connect(hd.port) as s:
        h.check(h.wait_until(lambda: hold.cur == 1, 15),
                'a new session after the resets did not reach the target')
    fds_settle(hd, base)
    hd.stop()
    for p in (rst, echo, hold):
        p.stop()


h.run(main)
