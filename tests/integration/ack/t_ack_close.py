"""Issue 4, test 2: the reference client's CLOSE (`CLOSE:<key>:ID:<key>:`,
never `BYE:`) drains its target: new connections all go to the other one,
while a session opened before the CLOSE runs to its end."""

import socket

import harness as h
from ackclient import RefClient


def which(hd, n):
    s = h.connect(hd.port)
    return s, h.recv_line(s)


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--no-persistent', access_log=True)
    ca = RefClient(hd.ack_port, a.port, 1000)
    cb = RefClient(hd.ack_port, b.port, 1000)
    ca.register()
    cb.register()

    # Open sessions until one is on A, and keep it open.
    held, others = None, []
    for _ in range(10):
        s, name = which(hd, 0)
        if name == b'A\n':
            held = s
            break
        others.append(s)
    h.check(held is not None, 'a session reached A')
    for s in others:
        s.close()

    answers = ca.close()
    h.check(answers[0] == ('CLOSE', ca.key), 'CLOSE answered: %r' % answers)
    # The client never says BYE: the server's idle timeout (10 s) ends it.

    for i in range(20):
        with h.connect(hd.port) as s:
            got = h.recv_line(s)
        h.check(got == b'B\n', 'after CLOSE, connection %d went to B: %r' % (i, got))

    # The held session still works to its end: send, half-close, see EOF.
    held.sendall(b'still here\n' * 100)
    held.shutdown(socket.SHUT_WR)
    rest = h.recv_all(held, timeout=10)
    held.close()
    h.check(rest == b'', 'the drained session ended cleanly: %r' % rest[:40])
    lines = hd.wait_access(1 + len(others) + 20 + 1, timeout=10)
    ends = [l for l in lines if l.get('up') == str(len(b'still here\n') * 100)]
    h.check(ends and ends[0].get('end') == 'done',
            'the session opened before CLOSE ended "done": %r' % ends)
    ca.shutdown()
    hd.stop()


h.run(main)
