"""t_agent_contrib: the documentation and contrib/ files match the programs.

- docs/harmonyd.8(.in) lists every option of `harmonyd --help`, and
  docs/harmony-agent.1(.in) every option of `harmony-agent --help`;
- contrib/harmonyd.json configures a working harmonyd (listeners moved to
  ephemeral loopback ports on the command line), and every key it mentions,
  commented out or not, is an option;
- contrib/register.sh registers over the HTTP API with curl, heartbeats
  past the TTL, and deregisters on SIGTERM (skipped without curl);
- contrib/node-harmony-example.js registers, heartbeats and deregisters
  over the ack port (skipped without node)."""

import os
import re
import shutil
import subprocess
import time

import harness as h
from agenthelp import AGENT, served_by

SRCDIR = os.environ.get('HARMONY_SRCDIR', '')


def src(path):
    return os.path.join(SRCDIR, path)


def help_options(cmd):
    p = subprocess.run([cmd, '--help'], capture_output=True, timeout=20)
    h.check(p.returncode == 0, '%s --help exits 0' % cmd)
    text = p.stdout.decode()
    # "  -v, --verbose ..." or "      --listen ...", not continuation lines
    longs = set(re.findall(r'^  (?:-\w, |    )--([a-z][a-z-]*)', text, re.M))
    shorts = set(re.findall(r'^  -(\w), --', text, re.M))
    h.check(len(longs) > 10, 'found the options of %s --help: %r' % (cmd, longs))
    return longs, shorts


def check_manual(cmd, page):
    with open(src(page), encoding='utf-8') as f:
        man = f.read()
    longs, shorts = help_options(cmd)
    documented = set()
    for item in re.findall(r'^\.It (.*)$', man, re.M):
        documented |= set(re.findall(r'Fl -([a-z][a-z-]*)', item))
    missing = sorted(longs - documented)
    h.check(not missing, '%s does not document %s' % (page, ', '.join('--' + m for m in missing)))
    for s in shorts:
        h.check(re.search(r'^\.It Fl %s\b' % s, man, re.M),
                '%s does not document -%s' % (page, s))
    return longs


def example_config(hd_options):
    path = src('contrib/harmonyd.json')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    keys = set(re.findall(r'"([a-z][a-z-]*)"\s*:', text))
    unknown = sorted(keys - hd_options)
    h.check(not unknown, 'harmonyd.json mentions unknown keys: %r' % unknown)
    h.check(len(keys) >= 25, 'harmonyd.json shows (nearly) every key: %r' % sorted(keys))

    a = h.Backend('name', name='A')
    hd = h.Harmonyd('-c', path, '--ack-port', '127.0.0.1:0', '--http', '0',
                    label='harmonyd -c contrib/harmonyd.json')
    h.check(hd.ack_port, 'the example config keeps the ack port on')
    ag = h.Proc('harmony-agent', [AGENT, '--balancer', '127.0.0.1:%d' % hd.ack_port,
                                  '--port', str(a.port)])
    h.check(ag.err.wait_for(r'registered port', 10) is not None, 'the agent registered')
    h.check(served_by(hd) == b'A\n', 'the example-configured harmonyd serves A')
    ag.terminate()
    hd.stop()


def register_sh():
    if shutil.which('curl') is None:
        h.log('SKIP register.sh: no curl')
        return
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--http', '127.0.0.1:0', '--host-timeout', '1s', '--no-persistent',
                    '--unavailable', 'none\\n', label='harmonyd (http)')
    if not hd.http_port:
        h.log('SKIP register.sh: harmonyd did not log "listening: http"')
        hd.stop()
        return
    sh = h.Proc('register.sh', ['/bin/sh', src('contrib/register.sh'),
                                '-u', 'http://127.0.0.1:%d/' % hd.http_port,
                                '-w', '700', '-t', '3', str(a.port)])
    m = sh.out.wait_for(r'registered port %d \(weight 700\) with .* as target (\d+)'
                        % a.port, 10)
    h.check(m is not None, 'register.sh registered: %s' % sh.err.text())
    h.check(served_by(hd) == b'A\n', 'A serves')
    time.sleep(4.5)             # past the 3 s TTL: the heartbeats keep it up
    h.check(served_by(hd) == b'A\n', 'A still serves after the TTL')
    h.check(sh.err.text() == '', 'register.sh complained: %s' % sh.err.text())
    rc = sh.terminate()
    h.check(rc == 0, 'register.sh exits 0 on SIGTERM: %s' % rc)
    h.check(sh.out.wait_for(r'deregistered target %s' % m.group(1), 1) is not None,
            'register.sh deregistered on SIGTERM')
    h.expect_unavailable(hd.port, b'none\n')
    hd.stop()


def node_example():
    node = shutil.which('node') or shutil.which('nodejs')
    if node is None:
        h.log('SKIP node-harmony-example.js: no node')
        return
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--host-timeout', '1s', '--no-persistent',
                    '--unavailable', 'none\\n', label='harmonyd (node)')
    env = dict(os.environ, HARMONY_ACK_MS='300')
    js = h.Proc('node example', [node, src('contrib/node-harmony-example.js'),
                                 '127.0.0.1:%d' % hd.ack_port], env=env)
    m = js.out.wait_for(r'listening on 127\.0\.0\.1:(\d+)', 15)
    h.check(m is not None, 'the node backend listens: %s' % js.err.text())
    port = int(m.group(1))
    h.check(js.out.wait_for(r'registered port %d' % port, 10) is not None, 'registered')
    want = b'hello from node on port %d\n' % port
    h.check(served_by(hd) == want, 'harmonyd sends clients to the node backend')
    time.sleep(2)               # past the 1 s host timeout
    h.check(served_by(hd) == want, 'node-style heartbeats keep it up')
    rc = js.terminate()
    h.check(rc == 0, 'the node example exits 0 on SIGTERM: %s' % rc)
    h.check(js.out.wait_for(r'^deregistered$', 1) is not None, 'it deregistered')
    h.check(hd.wait_log(r'ack: target \d+ \(127\.0\.0\.1:%d\) deregistered' % port, 5)
            is not None, 'harmonyd drained it')
    h.expect_unavailable(hd.port, b'none\n')
    hd.stop()


def main():
    if not AGENT or not os.access(AGENT, os.X_OK) or not SRCDIR:
        h.skip('HARMONY_AGENT and HARMONY_SRCDIR are set by `make check`')
    hd_options = check_manual(h.HARMONYD, 'docs/harmonyd.8.in')
    check_manual(AGENT, 'docs/harmony-agent.1.in')
    example_config(hd_options)
    register_sh()
    node_example()


h.run(main)
