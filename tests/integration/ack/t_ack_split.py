"""Issue 4, test 1: two targets registered over the ack port by reference
clients (one in a burst, one a byte at a time) with weights 1000 and 500,
as in node-harmony's README, share 300 connections about 2:1."""

import re

import harness as h
from ackclient import RefClient


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--no-persistent', access_log=True)
    ca = RefClient(hd.ack_port, a.port, 1000)
    cb = RefClient(hd.ack_port, b.port, 500, bytewise=True)
    for c in (ca, cb):
        answers = c.register()
        h.check([x[0] for x in answers] == ['NID', 'BAL', 'SPORT'],
                'registration answered NID, BAL, SPORT: %r' % answers)
        h.check(re.fullmatch(r'[0-9a-f]{32}', c.key), 'key is 128 bits of hex')
        h.check(answers[1][1] == str(c.weight) and answers[2][1] == str(c.port),
                'BAL and SPORT repeat the arguments: %r' % answers)
    h.check(ca.key != cb.key, 'keys differ')
    for c in (ca, cb):
        k = c.key
        h.check(c.heartbeat() == [('ACK', k), ('ID', k)], 'heartbeat answered')

    counts = {b'A\n': 0, b'B\n': 0}
    for i in range(300):
        with h.connect(hd.port) as s:
            got = h.recv_line(s)
        h.check(got in counts, 'connection %d answered by A or B: %r' % (i, got))
        counts[got] += 1
        hd.settle(i + 1)
    h.log('split: %r' % counts)
    h.check(185 <= counts[b'A\n'] <= 215, 'A (1000) got about 2/3: %r' % counts)
    h.check(85 <= counts[b'B\n'] <= 115, 'B (500) got about 1/3: %r' % counts)
    hd.stop()


h.run(main)
