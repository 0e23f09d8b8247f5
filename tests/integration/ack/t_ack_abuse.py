"""Issue 4, test 6: 2000 connections of random bytes and 100 that never send
anything: the daemon stays up, keeps proxying, and leaks no fd."""

import os
import random
import socket
import time

import harness as h
from ackclient import RefClient


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0')
    c = RefClient(hd.ack_port, a.port, 1000)
    c.register()
    baseline = hd.fd_count()
    rnd = random.Random(1234)

    silent = []
    for i in range(100):
        # Spread over source addresses: 16 connections per peer at most.
        silent.append(h.connect(hd.ack_port, source='127.0.1.%d' % (1 + i % 50)))

    deadline = time.monotonic() + 120
    for i in range(2000):
        h.check(time.monotonic() < deadline, 'random-byte connections took too long')
        s = h.connect(hd.ack_port, source='127.0.2.%d' % (1 + i % 200), timeout=10)
        try:
            s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 600))))
            s.shutdown(socket.SHUT_WR)
            h.recv_to_end(s, timeout=10)
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            s.close()
        if i % 500 == 0:
            with h.connect(hd.port) as p:
                h.check(h.recv_line(p) == b'A\n', 'still proxying after %d' % i)

    h.check(hd.alive(), 'the daemon is up')
    with h.connect(hd.port) as p:
        h.check(h.recv_line(p) == b'A\n', 'still proxying')
    h.check(c.heartbeat()[0] == ('ACK', c.key), 'the real target is untouched')
    for s in silent:
        s.close()
    ok = h.wait_until(lambda: hd.fd_count() <= baseline, timeout=15)
    h.check(ok, 'fds back to %d (now %d)' % (baseline, hd.fd_count()))
    hd.stop()


h.run(main)
