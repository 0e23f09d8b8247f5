"""t_agent_nodeharmony: harmony-agent against the original node-harmony server
(tests/lib/oldserver.py, a behavioural model of tony-o/harmony lib/server.js),
as in a migration where some balancers are still the old one.

The old server answers none of harmonyd's extensions (AUTH, HOST, TTL) and
dies on the first socket error (a reset, a write after the peer closed).
With --ttl and --token the agent must notice, say so once, go on with the
plain protocol (no extensions), and keep the target registered and
heartbeating, without ever killing the server or reconnecting in a storm:
- registration: one NID, the backend's port and weight; clients of the old
  server's listen port reach the backend;
- heartbeats at the expected pace, on one short connection each, in the
  reference client's form (ACK then ID), the token never sent again;
- the old server restarted (it loses every key): the agent's next heartbeat
  gets BID and it registers anew, still with one warning in all;
- SIGTERM: CLOSE for its key, exit status 0, the server still alive.
Without extensions the agent works with it as it is, with no warning."""

import time

import harness as h
from agenthelp import Agent
from oldserver import OldServer


def warnings(ag):
    return [l for l in ag.err.lines if ' warn: ' in l or ' error: ' in l]


def alive(srv, what):
    h.check(srv.crashed is None and srv.alive(),
            'the node-harmony server is still alive %s (it died: %s)'
            % (what, srv.crashed))


def registered_key(srv, port, timeout=10):
    def found():
        for k, t in srv.snapshot().items():
            if t['port'] == str(port):
                return k
        return None
    h.wait_until(lambda: found() is not None or srv.crashed is not None, timeout)
    alive(srv, 'after the registration')
    key = found()
    h.check(key is not None, 'the target registered with port %d: %r'
            % (port, srv.snapshot()))
    return key


def plain_agent(be):
    """No extension asked for: the agent works with the old server as is."""
    srv = OldServer()
    ag = Agent('--balancer', '127.0.0.1:%d' % srv.ack_port, '--port', be.port,
               '--weight', 1000, '--ack', '300ms', label='agent (plain)')
    key = registered_key(srv, be.port)
    h.check(srv.snapshot()[key]['balance'] == 1000, 'weight 1000 there')
    h.check(h.wait_until(lambda: srv.count('ACK') >= 3, 10), 'heartbeats arrive')
    ag.stop()
    h.check(h.wait_until(lambda: srv.snapshot()[key]['lastack'] == 0, 5),
            'the agent deregistered (CLOSE) on SIGTERM')
    time.sleep(0.5)
    alive(srv, 'after a plain agent came and went')
    h.check(warnings(ag) == [], 'no warning without extensions: %r' % warnings(ag))
    srv.stop()


def main():
    be = h.Backend('name', name='A')
    plain_agent(be)

    srv = OldServer()
    ack_port, listen_port = srv.ack_port, srv.listen_port
    # --ttl 2s: heartbeats every second (half of it), here as there.
    ag = Agent('--balancer', '127.0.0.1:%d' % ack_port, '--port', be.port,
               '--weight', 1000, '--ttl', '2s', '--token', 's3cret', '-v')
    key = registered_key(srv, be.port)
    h.check(srv.snapshot()[key]['balance'] == 1000, 'weight 1000 there')
    h.check(ag.wait_log(r'registered port %d, weight 1000' % be.port) is not None,
            'the agent says it registered')
    h.check(h.wait_until(lambda: warnings(ag) != [], 5), 'the agent warns')
    with h.connect(listen_port, timeout=10) as s:
        h.check(h.recv_line(s, timeout=10) == b'A\n',
                'a client of the old server reaches the backend')

    # Heartbeats, at their pace, for a while: no storm, no death.
    t0 = time.monotonic()
    acks0, conns0 = srv.count('ACK'), srv.accepted
    time.sleep(5)
    acks, conns = srv.count('ACK') - acks0, srv.accepted - conns0
    elapsed = time.monotonic() - t0
    alive(srv, 'after %.1f s of heartbeats' % elapsed)
    h.check(acks >= 2, 'heartbeats reach the old server: %d in %.1f s' % (acks, elapsed))
    h.check(conns <= elapsed / 1.0 + 3,
            'one connection a heartbeat, no reconnect storm: %d connections in'
            ' %.1f s' % (conns, elapsed))
    h.check(srv.count('NID') == 1, 'registered once: %d NID' % srv.count('NID'))
    h.check(srv.snapshot()[key]['port'] == str(be.port), 'its port is still right')
    for n in range(2, srv.accepted + 1):
        got = srv.bytes_of(n)
        h.check(b's3cret' not in got and b'TTL' not in got,
                'connection %d: no extension once the server is known: %r' % (n, got))
    h.check(srv.bytes_of(srv.accepted - 1).startswith(b'ACK:%s:ID:%s:'
                                                       % (key.encode(), key.encode())),
            'heartbeats as the reference client sends them: %r'
            % srv.bytes_of(srv.accepted - 1))

    # The old server restarts, and forgets every key.
    srv.stop()
    srv = OldServer(ack_port=ack_port, listen_port=listen_port)
    key2 = registered_key(srv, be.port, timeout=15)
    h.check(key2 is not None, 'the agent registered anew after the restart')
    h.check(ag.wait_log(r'does not know this target') is not None,
            'the agent says it registers anew')
    time.sleep(2)
    alive(srv, 'after the re-registration')
    h.check(srv.count('NID') == 1, 'registered once with the new server: %d'
            % srv.count('NID'))

    ag.stop()
    h.check(h.wait_until(lambda: srv.snapshot()[key2]['lastack'] == 0, 5),
            'the agent deregistered (CLOSE) on SIGTERM')
    h.check(ag.wait_log(r'127\.0\.0\.1:%d: deregistered' % ack_port, 2) is not None,
            'the agent logged its CLOSE')
    time.sleep(1)
    alive(srv, 'after the agent left')
    w = warnings(ag)
    plain = [l for l in w if "does not answer harmonyd's extensions (AUTH TTL)" in l]
    h.check(len(plain) == 1, 'exactly one warning about the plain protocol: %r' % w)
    # The restart may cut a heartbeat in flight: one failure, retried.
    h.check(all(l in plain or 'does not know this target' in l or
                'retrying in' in l for l in w) and
            len([l for l in w if 'retrying in' in l]) <= 1,
            'no other warning but the restart: %r' % w)
    srv.stop()


h.run(main)
