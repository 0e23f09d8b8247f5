"""t_rel_ack_flood: one peer floods the ack port with NID::, and guesses keys.

Reliability scenario 9 (docs/RELIABILITY.md). From one address, FLOOD
connections each send 16 `NID::` (the per-connection cap) as fast as the
daemon answers. Measured and logged: how many registrations were answered
and how many targets pile up in the registry: no more than the per-peer
rate limit allows (a burst of 30, then 60 a minute); another peer still
registers. Checked too: the daemon
stays up and keeps proxying, the real target's heartbeats still work, 500
guessed keys (ACK/ID/CLOSE with random 32-hex keys) are all answered BID and
change nothing, the session counts agree and descriptors return.
"""

import random
import socket
import time

import harness as h
import relcheck as rc
from ackclient import RefClient, tokens

FLOOD = 200
BURST, PER_MIN = 30, 60       # ACKPORT_NID_BURST, ACKPORT_NID_PER_MIN


def nid_burst(port):
    """One connection, 16 NID:: at once: how many NID answers came."""
    with h.connect(port, timeout=10) as s:
        s.sendall(b'NID::' * 16)
        buf = b''
        s.settimeout(5)
        try:
            while buf.count(b'NID:') < 16:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
        except (socket.timeout, ConnectionResetError):
            pass
        try:
            s.sendall(b'BYE:')
        except OSError:
            pass
    return sum(1 for v, k in tokens(buf) if v == 'NID' and k)


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--ack-port', '127.0.0.1:0',
                    label='harmonyd (ack flood)')
    c = RefClient(hd.ack_port, a.port, 1000)
    c.register()
    h.check(h.name_of(hd.port) == 'A', 'the real target serves')
    fd0 = hd.fd_count()
    n0 = len(rc.get_json(hd.http_port, '/api/v1/targets')['targets'])

    t0 = time.monotonic()
    answered = sum(nid_burst(hd.ack_port) for _ in range(FLOOD))
    el = time.monotonic() - t0
    targets = rc.get_json(hd.http_port, '/api/v1/targets')['targets']
    piled = len(targets) - n0
    h.log('one peer, %d connections x 16 NID:: in %.1f s: %d registrations answered, '
          '%d targets added to the registry (%d in all)'
          % (FLOOD, el, answered, piled, len(targets)))
    h.check(hd.alive(), 'the daemon died under the flood')
    h.check(piled <= answered, '%d targets added for %d NID answers' % (piled, answered))
    # The per-peer limit (src/ack/ackport.h): a burst of BURST, then PER_MIN a minute.
    allowed = BURST + int(el * PER_MIN / 60) + 2
    h.check(piled <= allowed, 'one peer registered %d targets in %.1f s; the rate limit '
            'allows about %d' % (piled, el, allowed))
    # Another peer is not affected by that one's flood.
    other = RefClient(hd.ack_port, a.port, 10, source='127.0.0.2')
    h.check(other.register()[0][0] == 'NID', 'another peer registers after the flood')
    h.check(h.name_of(hd.port) == 'A', 'proxying after the flood')
    h.check(c.heartbeat()[0] == ('ACK', c.key), 'the real target\'s heartbeat after the flood')

    # Guessed keys: refused, nothing changes.
    rnd = random.Random(99)
    before = sorted((t['id'], t['state'], t['weight']) for t in
                    rc.get_json(hd.http_port, '/api/v1/targets')['targets'])
    refused = 0
    for i in range(500):
        key = b'%032x' % rnd.getrandbits(128)
        verb = (b'ACK', b'ID', b'CLOSE')[i % 3]
        with h.connect(hd.ack_port, timeout=10) as s:
            s.sendall(b'%s:%s:' % (verb, key))
            s.settimeout(5)
            ans = b''
            try:
                while not ans.endswith(b':') or ans.count(b':') < 2:
                    b = s.recv(256)
                    if not b:
                        break
                    ans += b
            except socket.timeout:
                pass
        refused += ans == b'BID:%s:' % key
    after = sorted((t['id'], t['state'], t['weight']) for t in
                   rc.get_json(hd.http_port, '/api/v1/targets')['targets'])
    h.log('500 guessed keys: %d answered BID' % refused)
    h.check(refused == 500, 'only %d of 500 guessed keys were refused with BID' % refused)
    h.check(after == before, 'guessed keys changed the registry')
    h.check(c.heartbeat()[0] == ('ACK', c.key), 'the real target\'s heartbeat')
    h.check(h.name_of(hd.port) == 'A', 'proxying at the end')
    rc.settle(hd, fd0)
    hd.stop()
    a.stop()


h.run(main)
