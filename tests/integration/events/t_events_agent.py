#!/usr/bin/env python3
"""Who changed it, by client (issue 16): harmony-agent names itself on the
ack port (AGENT:harmony-agent/<version>:), so its registration, weight, up
and, on SIGTERM, its deregistration are by agent, with its name as the
reason, in the history, the SSE stream, the log and /metrics; a raw
node-harmony client on the same port stays by ack (no reason); a
registration over HTTP is by http. A raw client naming a bad agent gets
ERR:agent: and registers nothing."""

import re
import subprocess
import time

import harness as h
from ackclient import RefClient
from adminhttp import Api, Events, harmonyd
from agenthelp import AGENT, Agent


def agent_version():
    if not AGENT:
        h.skip('HARMONY_AGENT is not set: run through `make check`')
    out = subprocess.run([AGENT, '--version'], capture_output=True, timeout=10)
    m = re.match(rb'harmony-agent (\S+) ', out.stdout)
    h.check(m is not None, 'harmony-agent --version: %r' % out.stdout)
    return m.group(1).decode()


def brief(events):
    return [(e['event'], e['by'], e['reason']) for e in events]


def of_target(hist, port):
    """Events of the target at 127.0.0.1:port, oldest first (port-less: by id)."""
    ids = {e['target'] for e in hist if e['name'] == '127.0.0.1:%d' % port}
    return [e for e in reversed(hist) if e['target'] in ids]


def main():
    name = 'harmony-agent/' + agent_version()
    ag_be, raw_be, http_be = (h.Backend('name', name=n) for n in ('AG', 'RAW', 'HT'))
    hd = harmonyd('--ack-port', '127.0.0.1:0')
    api = Api(hd.http_port)
    ev = Events(api)
    h.check(ev.wait(lambda s: True, 10) is not None, 'no snapshot')

    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', ag_be.port,
               '--weight', 700, '--ack', '300ms')
    h.check(hd.wait_log(r'target default/\d+ 127\.0\.0\.1:%d is UP \(by agent: %s\)'
                        % (ag_be.port, re.escape(name)), 10),
            'the agent\'s registration is not by agent:\n' + hd.log_text())
    raw = RefClient(hd.ack_port, raw_be.port, weight=600)
    raw.register()
    h.check(hd.wait_log(r'target default/\d+ 127\.0\.0\.1:%d is UP \(by ack\)'
                        % raw_be.port, 5), 'raw registration:\n' + hd.log_text())
    api.register(http_be.port, weight=300)
    h.check(hd.wait_log(r'target default/\d+ 127\.0\.0\.1:%d registered, weight 300 '
                        r'\(by http\)' % http_be.port, 5), 'http registration line')
    # Heartbeats say nothing: a few of them, then the agent leaves.
    h.check(ag.wait_log(r'registered port %d' % ag_be.port) is not None, 'agent log')
    before = len(api.history())
    time.sleep(1)
    h.check(len(api.history()) == before, 'heartbeats made events')
    ag.stop()
    h.check(hd.wait_log(r'target default/\d+ 127\.0\.0\.1:%d is REMOVED \(by agent: %s\)'
                        % (ag_be.port, re.escape(name)), 5),
            'the agent\'s deregistration:\n' + hd.log_text())

    hist = api.history()
    got = brief(of_target(hist, ag_be.port))
    h.check(got == [('registered', 'agent', name), ('weight', 'agent', name),
                    ('up', 'agent', name), ('draining', 'agent', name),
                    ('removed', 'agent', name)], 'agent history %r' % got)
    weight = [e for e in of_target(hist, ag_be.port) if e['event'] == 'weight']
    h.check([e['weight'] for e in weight] == [700], 'weights %r' % weight)
    got = brief(of_target(hist, raw_be.port))
    h.check(got == [('registered', 'ack', None), ('weight', 'ack', None),
                    ('up', 'ack', None)], 'raw history %r' % got)
    got = brief(of_target(hist, http_be.port))
    h.check(got == [('registered', 'http', None)], 'http history %r' % got)
    h.check(h.wait_until(lambda: len(ev.targets()) >= len(hist), 5), 'SSE short')
    h.check(brief(ev.targets()) == brief(reversed(hist)),
            'SSE %r' % brief(ev.targets()))

    metrics = api.expect(200, 'GET', '/metrics').text
    for line in ('event="registered",by="agent"} 1', 'event="removed",by="agent"} 1',
                 'event="registered",by="ack"} 1', 'event="registered",by="http"} 1'):
        h.check(re.search(r'^harmony_target_events_total\{[^}]*%s$' % re.escape(line),
                          metrics, re.M), 'metrics lack %s:\n%s' % (line, metrics))

    # A bad name: refused, the connection ends, the NID behind it does nothing.
    with h.connect(hd.ack_port, timeout=10) as s:
        s.sendall(b'AGENT:no version:NID::BAL:5:SPORT:%d:' % raw_be.port)
        got = h.recv_all(s, timeout=10)
    h.check(got == b'ERR:agent:', 'a bad AGENT: %r' % got)
    h.check(len(api.history()) == len(hist), 'a refused AGENT changed something')
    ev.close()
    raw.shutdown()
    hd.stop()


h.run(main)
