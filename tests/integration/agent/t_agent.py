"""t_agent: harmony-agent registers one backend with two harmonyd instances
at once (--balancer twice), keeps it up there by heartbeats past their host
timeout, and on SIGTERM deregisters it from both (CLOSE: draining) and
exits 0: new clients then find no target on either, while a session opened
before goes on to its end."""

import os
import socket
import time

import harness as h
from agenthelp import AGENT, Agent, served_by


def main():
    a = h.Backend('name', name='A')
    common = ('--ack-port', '127.0.0.1:0', '--host-timeout', '1s', '--no-persistent',
              '--unavailable', 'none\\n')
    hd1 = h.Harmonyd(*common, label='harmonyd#1')
    hd2 = h.Harmonyd(*common, label='harmonyd#2')
    h.check(hd1.ack_port and hd2.ack_port, 'both balancers have an ack port')

    ag = Agent('--balancer', '127.0.0.1:%d' % hd1.ack_port,
               '--balancer', '127.0.0.1:%d' % hd2.ack_port,
               '--port', a.port, '--weight', 1000, '--ack', '300ms', '-v')
    for hd in (hd1, hd2):
        h.check(ag.wait_log(r'127\.0\.0\.1:%d: registered port %d, weight 1000'
                            % (hd.ack_port, a.port)) is not None,
                'the agent registered with the balancer on ack port %d' % hd.ack_port)
        h.check(hd.wait_log(r'ack: target \d+ is 127\.0\.0\.1:%d, weight 1000' % a.port)
                is not None, '%s has the target with its port and weight' % hd.label)
        h.check(served_by(hd) == b'A\n', '%s sends clients to A' % hd.label)

    # Three host timeouts later it is still up on both: the heartbeats count.
    time.sleep(3)
    for hd in (hd1, hd2):
        for _ in range(5):
            got = served_by(hd)
            h.check(got == b'A\n', '%s still sends clients to A after 3 s: %r'
                    % (hd.label, got))
    h.check(ag.wait_log(r'heartbeat answered', 1) is not None, 'heartbeats are logged at -v')

    # A session opened before the drain runs to its end.
    held = h.connect(hd1.port)
    h.check(h.recv_line(held) == b'A\n', 'the held session reached A')

    t0 = time.monotonic()
    ag.stop()
    h.check(time.monotonic() - t0 < 5, 'the agent deregistered and exited promptly')
    for hd in (hd1, hd2):
        h.check(ag.wait_log(r'127\.0\.0\.1:%d: deregistered' % hd.ack_port, 1)
                is not None, 'the agent logged its CLOSE on ack port %d' % hd.ack_port)
        h.check(hd.wait_log(r'ack: target \d+ \(127\.0\.0\.1:%d\) deregistered' % a.port)
                is not None, '%s drained the target' % hd.label)
        for _ in range(5):
            h.expect_unavailable(hd.port, b'none\n', timeout=10)

    held.sendall(b'bye\n')
    held.shutdown(socket.SHUT_WR)
    h.check(h.recv_all(held, timeout=10) == b'', 'the held session ended cleanly')
    held.close()

    text = ag.err.text()
    h.check('warn' not in text and 'error' not in text,
            'no warning from the agent in a clean run:\n%s' % text)
    hd1.stop()
    hd2.stop()


h.run(main)
