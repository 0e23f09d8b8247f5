"""Issue 4, test 5: with --token, nothing registers without `AUTH:`; with
it, registration works; `HOST:` needs the token."""

import harness as h
from ackclient import RefClient, tokens


def exchange(hd, data):
    with h.connect(hd.ack_port) as s:
        s.sendall(data)
        return tokens(h.recv_all(s, timeout=15))


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--token', 's3cret-token')

    got = exchange(hd, b'NID::BAL:1000:SPORT:%d:' % a.port)
    h.check(got == [('ERR', 'auth')], 'NID without AUTH refused: %r' % got)
    got = exchange(hd, b'AUTH:wrong:NID::')
    h.check(got == [('ERR', 'auth')], 'a wrong token refused: %r' % got)
    got = exchange(hd, b'HOST:127.0.0.9:NID::')
    h.check(got == [('ERR', 'auth')], 'HOST without AUTH refused: %r' % got)
    with h.connect(hd.port) as s:
        h.check(h.recv_all(s, timeout=10) == b'', 'nothing registered')

    c = RefClient(hd.ack_port, a.port, 1000, extra=b'AUTH:s3cret-token:')
    answers = c.register()
    h.check([x[0] for x in answers] == ['NID', 'BAL', 'SPORT'],
            'with AUTH the registration works: %r' % answers)
    h.check(c.heartbeat() == [('ACK', c.key), ('ID', c.key)], 'heartbeat with AUTH')
    with h.connect(hd.port) as s:
        h.check(h.recv_line(s) == b'A\n', 'the registered target serves')

    # HOST with the token registers another address (nothing listens there).
    got = exchange(hd, b'AUTH:s3cret-token:HOST:127.0.0.9:NID::SPORT:1:BYE:')
    h.check([x[0] for x in got] == ['AUTH', 'HOST', 'NID', 'SPORT'],
            'HOST with AUTH accepted: %r' % got)
    h.check(c.key not in hd.log_text(), 'the key never appears in the log')
    hd.stop()


h.run(main)
