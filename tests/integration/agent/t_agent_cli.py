"""t_agent_cli: harmony-agent's command line and its other options at work.

- Usage errors exit 2 with one line (and the customary "Try" hint);
  --help and --version exit 0.
- --token-file: registration and heartbeats carry AUTH:; a wrong token is
  reported (ERR:auth) and registers nothing; --host registers another
  address (which needs the token).
- --check http://...: any 2xx passes; a 503 stops the heartbeats, and 200
  again brings the target back."""

import http.server
import os
import subprocess
import threading
import time

import harness as h
from agenthelp import AGENT, Agent, served_by


def run_agent(*args, timeout=15):
    cmd = [AGENT] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        h.fail('%s did not exit within %d s' % (' '.join(cmd), timeout))
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def usage(dead):
    bal = ['--balancer', '127.0.0.1:%d' % dead]
    ok = bal + ['--port', '1080']
    cases = [
        ([], 'no --balancer'),
        (bal, 'no --port'),
        (bal + ['--port', '0'], "--port: bad port '0'"),
        (bal + ['--port', '65536'], "--port: bad port"),
        (bal + ['--port', '80x'], "--port: bad port"),
        (['--balancer', '127.0.0.1:x', '--port', '1'], '--balancer: bad HOST[:PORT]'),
        (['--balancer', '[::1', '--port', '1'], '--balancer: bad HOST[:PORT]'),
        (['--balancer', '', '--port', '1'], '--balancer: bad HOST[:PORT]'),
        (ok + ['--weight', '0'], '--weight: bad weight'),
        (ok + ['--weight', '1000001'], '--weight: bad weight'),
        (ok + ['--weight', '-5'], '--weight: bad weight'),
        (ok + ['--ack', '0'], '--ack: bad duration'),
        (ok + ['--ack', '5x'], '--ack: bad duration'),
        # harmonyd's rule (common/duration.c): finer than 1 ms is refused.
        (ok + ['--ack', '1.0001s'], '--ack: bad duration'),
        (ok + ['--timeout', '10.5ms'], '--timeout: bad duration'),
        (ok + ['--ttl', '2d'], '--ttl: bad duration'),
        (ok + ['--service', 'Web'], "--service: bad name 'Web'"),
        (ok + ['--service', ''], "--service: bad name ''"),
        (ok + ['--service', '-web'], "--service: bad name"),
        (ok + ['--service', 'a' * 64], "--service: bad name"),
        (ok + ['--service', 'web.1'], "--service: bad name"),
        (ok + ['--ttl', '25h'], '--ttl: bad duration'),
        (ok + ['--check', 'ping'], '--check ping: expected'),
        (ok + ['--check', 'https://127.0.0.1/'], 'https is not supported'),
        (ok + ['--check', 'exec:'], '--check exec:: expected'),
        (ok + ['--check', 'http://:80/'], 'bad host or port'),
        (ok + ['--check', 'tcp:127.0.0.1'], 'expected tcp:HOST:PORT'),
        (ok + ['--host', '10.0.0.1'], '--host needs --token-file'),
        (ok + ['--token', 't', '--host', '::1'], 'is not an IPv4 address'),
        (ok + ['--token', 'a:b'], "no ':'"),
        (ok + ['--token', ''], "no ':'"),
        (ok + ['--token', 'a\tb'], 'no control character'),
        # harmonyd's rule (common/token.c): no space, nothing beyond ASCII.
        (ok + ['--token', 'a b'], 'no space'),
        (ok + ['--token', 'caf\u00e9'], 'printable ASCII'),
        (ok + ['--token-file', '/nonexistent/token'], 'No such file'),
        # harmonyd's rule (common/token.c): the file holds one line, the token.
        (ok + ['--token-file', h.write_file('two-lines', 'tok\nen\n')],
         'no control character'),
        (ok + ['--token-file', h.write_file('empty-token', '\n')], "no ':'"),
        (ok + ['--log-level', 'loud'], "unknown level 'loud'"),
        (ok + ['--bogus'], "unknown option '--bogus'"),
        (ok + ['-x'], "unknown option '-x'"),
        (ok + ['--help=1'], '--help takes no argument'),
        (bal + ['--port'], '--port needs an argument'),
        (ok + ['extra'], "unexpected argument 'extra'"),
    ]
    for args, want in cases:
        rc, out, err = run_agent(*args)
        lines = [l for l in err.splitlines() if l.strip()]
        h.check(rc == 2, '%r: expected exit status 2, got %s: %r' % (args, rc, err))
        h.check(len(lines) == 2 and lines[0].startswith('harmony-agent: ')
                and lines[1].startswith('Try ') and out == '',
                '%r: expected one line and the hint, got %r' % (args, err))
        h.check(want in lines[0], '%r: expected %r in %r' % (args, want, lines[0]))

    for flag in ('--help', '-h'):
        rc, out, err = run_agent(flag)
        h.check(rc == 0 and err == '' and '--balancer HOST[:PORT]' in out
                and '--check SPEC' in out, '%s: exit 0 and the usage: %r' % (flag, out))
    for flag in ('--version', '-V'):
        rc, out, err = run_agent(flag)
        h.check(rc == 0 and out.startswith('harmony-agent ') and 'libharmony' in out,
                '%s: exit 0 and the versions: %r' % (flag, out))


def token():
    a = h.Backend('name', name='A', listen='127.0.0.2:0')
    tok = h.write_file('token', 's3cret-token\n')
    bad = h.write_file('bad-token', 'wrong\n')
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--token-file', tok, '--host-timeout', '1s',
                    '--no-persistent', '--unavailable', 'none\\n')

    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', a.port,
               '--token-file', bad, '--ack', '300ms', label='harmony-agent (wrong token)')
    h.check(ag.wait_log(r'ERR:auth \(wrong token\?\)') is not None,
            'a wrong token is reported')
    time.sleep(0.5)
    h.check(ag.alive(), 'the agent retries rather than exiting')
    h.check(hd.wait_log(r'ack: target', 0.1) is None, 'nothing registered')
    ag.stop()

    # The backend listens on 127.0.0.2 only: --host registers that address.
    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', a.port,
               '--token-file', tok, '--host', '127.0.0.2', '--ttl', '1s', '--ack', '300ms',
               label='harmony-agent (token)')
    h.check(ag.wait_log(r'registered port %d' % a.port) is not None, 'registered with AUTH')
    h.check(hd.wait_log(r'ack: target \d+ is 127\.0\.0\.2:%d' % a.port) is not None,
            'the target is the --host address')
    # Past the host timeout: the heartbeats (with AUTH) keep it up.
    time.sleep(2)
    for _ in range(3):
        h.check(served_by(hd) == b'A\n', 'A serves through 127.0.0.2')
    h.check('s3cret' not in ag.err.text(), 'the token never appears in the log')
    ag.stop()
    h.check(hd.wait_log(r'deregistered') is not None, 'CLOSE with AUTH')
    hd.stop()


class Health(http.server.BaseHTTPRequestHandler):
    status = 200
    hits = 0

    def do_GET(self):
        Health.hits += 1
        if self.path != '/health?deep=1':
            self.send_error(404)
            return
        body = b'ok\n' if Health.status == 200 else b'sick\n'
        self.send_response(Health.status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def http_check():
    a = h.Backend('name', name='A')
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d/health?deep=1' % srv.server_address[1]
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--host-timeout', '1s', '--no-persistent',
                    '--unavailable', 'none\\n')
    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', a.port,
               '--ack', '300ms', '--check', url, '--check-interval', '200ms',
               label='harmony-agent (http)')
    h.check(ag.wait_log(r'check http://.* passes: registering') is not None,
            'a 200 passes')
    h.check(h.wait_until(lambda: served_by(hd) == b'A\n', 5), 'A serves')

    Health.status = 503
    h.check(ag.wait_log(r'fails \(HTTP/1\.0 503 Service Unavailable\): heartbeats stop', 5)
            is not None, 'a 503 fails, with the status line in the log')
    h.check(h.wait_until(lambda: served_by(hd) == b'none\n', 5, 0.1),
            'A leaves the rotation while the check fails')
    Health.status = 204
    h.check(ag.wait_log(r'passes again', 5) is not None, 'a 204 passes as well')
    h.check(h.wait_until(lambda: served_by(hd) == b'A\n', 5, 0.1), 'A serves again')
    ag.stop()
    srv.shutdown()
    srv.server_close()

    # Nothing listening: the check fails at connect.
    dead = h.DeadPort()
    ag = Agent('--balancer', '127.0.0.1:%d' % hd.ack_port, '--port', a.port,
               '--check', 'http://localhost:%d/' % dead.port, label='harmony-agent (no http)')
    h.check(ag.wait_log(r'fails \(connect: Connection refused\): not registering', 5)
            is not None, 'a refused connect fails the check')
    ag.stop()
    dead.close()
    hd.stop()


def main():
    if not AGENT or not os.access(AGENT, os.X_OK):
        h.skip('HARMONY_AGENT is not set to an executable (%r): run through '
               '`make check`' % AGENT)
    dead = h.DeadPort()
    usage(dead.port)
    dead.close()
    token()
    http_check()


h.run(main)
