"""Issue 4, test 4: a target down for 10 x its timeout is removed; then
`ID:` and `ACK:` with its key are answered `BID:`, and a new
`NID::BAL:..:SPORT:..:` registers it again (and it serves)."""

import time

import harness as h
from ackclient import RefClient


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--host-timeout', '500ms')
    ca = RefClient(hd.ack_port, a.port, 1000)
    ca.register()
    old = ca.key
    with h.connect(hd.port) as s:
        h.check(h.recv_line(s) == b'A\n', 'served while registered')

    # Down after 0.5 s, removed 10 x 0.5 s later: wait for the BID.
    deadline = time.monotonic() + 20
    answers = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        answers = ca._exchange([b'ID:%s:' % old.encode()])
        if answers[0][0] == 'BID':
            break
    h.check(answers == [('BID', old)], 'ID of a removed target is BID: %r' % answers)
    answers = ca.heartbeat()
    h.check(answers == [('BID', old), ('BID', old)],
            'ACK and ID of a removed target are BID: %r' % answers)
    with h.connect(hd.port) as s:
        got = h.recv_all(s, timeout=10)
    h.check(got == b'', 'no target: the client is closed: %r' % got)

    ca.need_nid = False
    ca.register()
    h.check(ca.key != old, 'a new key')
    with h.connect(hd.port) as s:
        h.check(h.recv_line(s) == b'A\n', 'served again after NID::BAL:SPORT:')
    hd.stop()


h.run(main)
