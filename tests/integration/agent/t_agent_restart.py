"""t_agent_restart: harmony-agent never depends on a balancer being there.

- A balancer restarted under the agent (a new harmonyd on the same ack
  port, without a state file) gets the target back within about one
  heartbeat: the heartbeat gets BID and the agent registers anew, with its
  port and weight.
- A balancer that is not up yet when the agent starts gets the target
  once it comes up (the agent retries with a backoff).
- A balancer whose connects hang (a black hole) costs only its own
  timeouts: the agent registers with the other one at once, and SIGTERM
  still ends it within --timeout."""

import os
import time

import harness as h
from agenthelp import AGENT, Agent, served_by


OPTS = ('--host-timeout', '5s', '--no-persistent', '--unavailable', 'none\\n')


def restarted_balancer():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', *OPTS, label='harmonyd (first)')
    ack = hd.ack_port
    ag = Agent('--balancer', '127.0.0.1:%d' % ack, '--port', a.port,
               '--weight', 700, '--ack', '300ms')
    h.check(ag.wait_log(r'registered port %d, weight 700' % a.port) is not None,
            'registered with the first harmonyd')
    h.check(served_by(hd) == b'A\n', 'the first harmonyd sends clients to A')

    mark = ag.mark()
    hd.stop()
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: .*refused.*retrying in' % ack, 5, mark)
            is not None, 'the agent notices the balancer is gone')
    time.sleep(0.5)
    h.check(ag.alive(), 'the agent outlives its balancer')

    hd2 = h.Harmonyd('--ack-port', '127.0.0.1:%d' % ack, *OPTS,
                     label='harmonyd (restarted)')
    t0 = time.monotonic()
    h.check(hd2.ack_port == ack, 'the new harmonyd listens on the same ack port')
    h.check(ag.wait_log(r'does not know this target .*registering anew', 5, mark)
            is not None, 'the heartbeat got BID')
    h.check(hd2.wait_log(r'ack: target \d+ is 127\.0\.0\.1:%d, weight 700' % a.port, 5)
            is not None, 'registered anew with port and weight, not a bare NID')
    h.check(h.wait_until(lambda: served_by(hd2) == b'A\n', timeout=5, interval=0.05),
            'the restarted harmonyd sends clients to A')
    took = time.monotonic() - t0
    h.log('back on the restarted balancer after %.2f s' % took)
    h.check(took < 2.5, 'back within about one heartbeat (300 ms): %.2f s' % took)
    ag.stop()
    h.check(hd2.wait_log(r'deregistered', 5) is not None, 'deregistered on SIGTERM')
    hd2.stop()
    a.stop()


def late_balancer():
    a = h.Backend('name', name='A')
    dead = h.DeadPort()
    port = dead.port
    ag = Agent('--balancer', '127.0.0.1:%d' % port, '--port', a.port, '--ack', '300ms',
               label='harmony-agent (early)')
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: connect: Connection refused '
                        r'\(registering; retrying in' % port, 5) is not None,
            'the agent reports the missing balancer once')
    time.sleep(1)
    h.check(ag.alive(), 'the agent keeps trying')
    dead.close()
    hd = h.Harmonyd('--ack-port', '127.0.0.1:%d' % port, *OPTS, label='harmonyd (late)')
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: registered' % port, 10) is not None,
            'registered once the balancer is up')
    h.check(h.wait_until(lambda: served_by(hd) == b'A\n', timeout=5, interval=0.05),
            'the late harmonyd sends clients to A')
    warns = [l for l in ag.err.lines if 'warn' in l]
    h.check(len(warns) == 1, 'one warning for the whole outage, not one per retry: %r'
            % warns)
    ag.stop()
    hd.stop()
    a.stop()


def black_hole():
    a = h.Backend('name', name='A')
    hole = h.BlackHole()
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', *OPTS, label='harmonyd (good)')
    ag = Agent('--balancer', '127.0.0.1:%d' % hole.port,
               '--balancer', '127.0.0.1:%d' % hd.ack_port,
               '--port', a.port, '--ack', '300ms', '--timeout', '500ms',
               label='harmony-agent (black hole)')
    t0 = time.monotonic()
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: registered' % hd.ack_port, 5) is not None,
            'registered with the good balancer')
    h.check(time.monotonic() - t0 < 2, 'without waiting for the black hole')
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: could not connect within 500 ms' % hole.port, 5)
            is not None, 'the black hole times out')
    h.check(served_by(hd) == b'A\n', 'the good balancer sends clients to A')
    t0 = time.monotonic()
    ag.stop()
    took = time.monotonic() - t0
    h.check(took < 3, 'SIGTERM ends the agent within its timeouts: %.2f s' % took)
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: not registered: nothing to deregister'
                        % hole.port, 1) is not None,
            'it says it had nothing to deregister from the black hole')
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: deregistered' % hd.ack_port, 1) is not None,
            'and deregisters from the good one')
    hole.close()
    hd.stop()


def main():
    restarted_balancer()
    late_balancer()
    black_hole()


h.run(main)
