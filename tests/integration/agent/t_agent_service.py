"""t_agent_service: harmony-agent --service (issue 15) against a real
harmonyd, whose one service today is `default`:
- --service default registers (SVC:default: before the NID), serves and
  heartbeats past the host timeout, and deregisters on SIGTERM, as without
  the option;
- --service nosuch is refused (ERR:service:): the agent logs that in one
  clear line naming the service, keeps retrying, registers nothing, and
  harmonyd logs the name it does not know;
- against the original node-harmony server (tests/lib/oldserver.py), which
  has no services: --service default registers there with no warning, any
  other service is refused in one clear line, the target it found out with
  is not kept, and the server survives."""

import time

import harness as h
from agenthelp import Agent, served_by
from oldserver import OldServer


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--host-timeout', '1s',
                    '--no-persistent', '--unavailable', 'none\\n')

    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', a.port,
               '--weight', 1000, '--ack', '300ms', '--service', 'default')
    h.check(ag.wait_log(r'service default, 1 balancer') is not None,
            'the agent says which service at start-up')
    h.check(ag.wait_log(r'registered port %d, weight 1000' % a.port) is not None,
            'the agent registered in the default service')
    h.check(served_by(hd) == b'A\n', 'harmonyd sends clients to A')
    time.sleep(2)
    h.check(served_by(hd) == b'A\n', 'still A past two host timeouts: heartbeats')
    ag.stop()
    h.check(hd.wait_log(r'ack: target \d+ \(127\.0\.0\.1:%d\) deregistered' % a.port)
            is not None, 'the agent deregistered on SIGTERM')
    text = ag.err.text()
    h.check('warn' not in text and 'error' not in text,
            'no warning with --service default:\n%s' % text)

    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', a.port,
               '--service', 'nosuch', label='agent (nosuch)')
    line = ag.wait_log(r'.*ERR:service.*')
    h.check(line is not None, 'the agent logs the refusal')
    h.check('no service nosuch' in line.group(0), 'naming the service: %r' % line.group(0))
    h.check(hd.wait_log(r'names no service "nosuch"') is not None,
            'harmonyd logs the name it does not know')
    time.sleep(1.5)
    h.expect_unavailable(hd.port, b'none\n', timeout=10)
    h.check(ag.alive(), 'the agent keeps retrying')
    ag.stop()
    hd.stop()

    srv = OldServer()
    ag = Agent('--balancer', '127.0.0.1:%d' % srv.ack_port, '--port', a.port,
               '--ack', '300ms', '--service', 'default', label='agent (old, default)')
    h.check(ag.wait_log(r'registered port %d' % a.port) is not None,
            'the old server takes the default service')
    h.check(h.wait_until(lambda: srv.count('ACK') >= 2, 10), 'heartbeats arrive')
    ag.stop()
    text = ag.err.text()
    h.check('warn' not in text and 'error' not in text,
            'SVC:default: skipped is no loss, and no warning:\n%s' % text)

    ag = Agent('--balancer', '127.0.0.1:%d' % srv.ack_port, '--port', a.port,
               '--ack', '300ms', '--service', 'web', label='agent (old, web)')
    h.check(ag.wait_log(r'has no services: service web refused') is not None,
            'the agent says the old server cannot take service web')
    nids = srv.count('NID')
    time.sleep(2.5)
    h.check(srv.count('NID') == nids, 'no registration after that (%d, then %d)'
            % (nids, srv.count('NID')))
    h.check(ag.wait_log(r'registered port', 0.1) is None, 'never registered')
    h.check(srv.crashed is None and srv.alive(), 'the old server is alive: %s'
            % srv.crashed)
    ag.stop()
    srv.stop()


h.run(main)
