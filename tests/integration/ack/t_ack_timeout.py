"""Issue 4, test 3: with --host-timeout 1s, a target that stops acking stops
getting traffic within 2 s, and gets it again after one ack."""

import time

import harness as h
from ackclient import RefClient


def names(hd, n):
    out = []
    for _ in range(n):
        with h.connect(hd.port) as s:
            out.append(h.recv_line(s))
    return out


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--no-persistent',
                    '--host-timeout', '1s')
    ca = RefClient(hd.ack_port, a.port, 1000)
    cb = RefClient(hd.ack_port, b.port, 1000)
    ca.register()
    cb.register()
    h.check(set(names(hd, 10)) == {b'A\n', b'B\n'}, 'both targets serve at first')

    # B keeps acking every 300 ms; A falls silent.
    stop_at = time.monotonic() + 2.2
    while time.monotonic() < stop_at:
        h.check(cb.heartbeat()[0][0] == 'ACK', 'B acked')
        time.sleep(0.3)
    got = names(hd, 20)
    h.check(set(got) == {b'B\n'}, 'A gets no traffic 2 s after its last ack: %r'
            % sorted(set(got)))

    # One ack from A brings it back.
    answers = ca.heartbeat()
    h.check(answers == [('ACK', ca.key), ('ID', ca.key)],
            'a down target is still known: %r' % answers)
    # Back from down, A ramps up from a tenth of its weight (flap damping):
    # it shows up within a few dozen sessions.
    got = []
    deadline = time.monotonic() + 10
    while b'A\n' not in got and len(got) < 100 and time.monotonic() < deadline:
        got += names(hd, 1)
    h.check(b'A\n' in got, 'A serves again after one ack: %r' % got)
    hd.stop()


h.run(main)
