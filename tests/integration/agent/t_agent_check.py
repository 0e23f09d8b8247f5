"""t_agent_check: harmony-agent heartbeats only while its --check passes.

exec: with `--check 'exec:test -e FILE'`, removing FILE takes the target
out of rotation on both balancers within about one host timeout (the agent
stops heartbeating; it does not deregister), and creating it again brings
the target back on both within about one check interval. Before the first
check passes, nothing is registered.

tcp: with `--check tcp`, stopping the backend makes the check fail; once
the target is down and the backend listens again on the same port, the
check passes and the next heartbeat brings the target back."""

import os
import time

import harness as h
from agenthelp import AGENT, Agent, served_by


def serves(hd, name):
    return served_by(hd) == name


def exec_check():
    a = h.Backend('name', name='A')
    common = ('--ack-port', '127.0.0.1:0', '--host-timeout', '1s', '--no-persistent',
              '--unavailable', 'none\\n')
    hd1 = h.Harmonyd(*common, label='harmonyd#1')
    hd2 = h.Harmonyd(*common, label='harmonyd#2')
    flag = os.path.join(h.tmpdir(), 'healthy')

    # The check fails at first: nothing may be registered.
    ag = Agent('--balancer', '127.0.0.1:%d' % hd1.ack_port,
               '--balancer', '127.0.0.1:%d' % hd2.ack_port,
               '--port', a.port, '--ack', '300ms', '--check-interval', '200ms',
               '--check', 'exec:test -e %s' % flag)
    h.check(ag.wait_log(r'check exec:.* fails \(exit status 1\): not registering')
            is not None, 'the agent reports the failing first check')
    time.sleep(0.5)
    for hd in (hd1, hd2):
        h.check(hd.wait_log(r'ack: target', 0.1) is None,
                '%s got no registration while the check fails' % hd.label)
        h.expect_unavailable(hd.port, b'none\n')

    open(flag, 'w').close()
    for hd in (hd1, hd2):
        h.check(ag.wait_log(r'127\.0\.0\.1:%d: registered' % hd.ack_port) is not None,
                'registered with ack port %d once the check passes' % hd.ack_port)
        h.check(serves(hd, b'A\n'), '%s sends clients to A' % hd.label)

    for rnd in range(2):
        mark = ag.mark()
        os.unlink(flag)
        t0 = time.monotonic()
        h.check(ag.wait_log(r'fails \(exit status 1\): heartbeats stop', 5, mark)
                is not None, 'the agent reports the failing check')
        for hd in (hd1, hd2):
            out = h.wait_until(lambda: served_by(hd) == b'none\n', timeout=6,
                               interval=0.1)
            h.check(out, 'round %d: %s takes A out of rotation after the check fails'
                    % (rnd, hd.label))
        # Check interval (0.2 s) + host timeout (1 s) + the deadline timer's
        # granularity; generous for sanitizer builds.
        took = time.monotonic() - t0
        h.log('round %d: out of rotation on both after %.2f s' % (rnd, took))
        h.check(took < 4.5, 'out of rotation within about a host timeout: %.2f s' % took)
        h.check(ag.alive(), 'the agent keeps running while the check fails')

        open(flag, 'w').close()
        t0 = time.monotonic()
        h.check(ag.wait_log(r'passes again: heartbeating', 5, mark) is not None,
                'the agent reports the check passing again')
        for hd in (hd1, hd2):
            out = h.wait_until(lambda: served_by(hd) == b'A\n', timeout=5, interval=0.1)
            h.check(out, 'round %d: %s sends clients to A again' % (rnd, hd.label))
        took = time.monotonic() - t0
        h.log('round %d: back on both after %.2f s' % (rnd, took))
        h.check(took < 3, 'back within about a check interval: %.2f s' % took)

    # A failing check is no deregistration: the balancers still know the
    # key (no new registration when the check passed again).
    for hd in (hd1, hd2):
        h.check(len(hd.err.lines) and 'registered from' in hd.log_text()
                and hd.log_text().count('registered from') == 1,
                '%s saw exactly one registration' % hd.label)
    ag.stop()
    hd1.stop()
    hd2.stop()


def tcp_check():
    b = h.Backend('name', name='B')
    port = b.port
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--host-timeout', '1s',
                    '--no-persistent', '--requeue', '0', '--unavailable', 'none\\n',
                    label='harmonyd#3')
    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', port,
               '--ack', '300ms', '--check', 'tcp', '--check-interval', '200ms',
               label='harmony-agent (tcp)')
    h.check(ag.wait_log(r'check tcp passes: registering') is not None,
            'the tcp check passes against the running backend')
    h.check(ag.wait_log(r'registered port %d' % port) is not None, 'registered')
    h.check(serves(hd, b'B\n'), 'B serves')

    mark = ag.mark()
    b.stop()
    h.check(ag.wait_log(r'check tcp fails \(connect: Connection refused\): heartbeats stop',
                        5, mark) is not None, 'the tcp check fails once B is gone')
    time.sleep(1.5)             # the target is down now: only an ack revives it
    b2 = h.Backend('name', name='B2', listen='127.0.0.1:%d' % port)
    h.check(ag.wait_log(r'check tcp passes again', 5, mark) is not None,
            'the tcp check passes once a backend listens again')
    h.check(h.wait_until(lambda: served_by(hd) == b'B2\n', timeout=5, interval=0.1),
            'the restarted backend gets clients again')
    ag.stop()
    b2.stop()
    hd.stop()


def main():
    exec_check()
    tcp_check()


h.run(main)
