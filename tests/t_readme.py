"""Issue 6: every command in the README's sh blocks is run here (but the
build steps, which CI runs): harmonyd with each example's options (ports
made ephemeral), harmony-agent against a real harmonyd, and each curl
example against a live admin interface. A new kind of command in the
README fails this test until it is covered."""

import json
import os
import re
import shlex
import signal
import subprocess
import time

import harness as h
import adminhttp as ah

SRCDIR = os.environ.get('srcdir', os.path.join(os.path.dirname(__file__), '..'))
BUILD_STEPS = ('sudo apt-get', 'autoreconf', './configure', 'make ')


def commands():
    text = open(os.path.join(SRCDIR, 'README.md'), encoding='utf-8').read()
    out = []
    for block in re.findall(r'^```sh\n(.*?)^```', text, re.M | re.S):
        block = block.replace('\\\n', ' ')
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith('#'):
                out.append(line)
    return out


def strip_comment(cmd):
    return re.sub(r'\s+#.*$', '', cmd)


def run_harmonyd_example(cmd):
    args = shlex.split(strip_comment(cmd))[1:]
    args += ['--listen', '127.0.0.1:0', '--ack-port', '0', '--http', '0']
    p = subprocess.Popen([h.HARMONYD] + args, cwd=SRCDIR, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = h._LineReader(p.stderr)
    try:
        h.check(err.wait_for(r'listening: clients', 15) is not None,
                'README example %r starts:\n%s' % (cmd, err.text()))
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(20)
    h.check(rc == 0, 'README example %r exits 0 on SIGTERM (%s)' % (cmd, rc))


def main():
    ah.need_curl()
    agent = os.path.join(os.path.dirname(os.path.dirname(h.HARMONYD)), 'src', 'harmony-agent')
    be = h.Backend('name', name='A')
    hd = ah.harmonyd('--ack-port', '127.0.0.1:0')
    api = ah.Api(hd.http_port)
    env = dict(os.environ)
    ran = 0
    for cmd in commands():
        if cmd.startswith(BUILD_STEPS):
            continue
        ran += 1
        if cmd.startswith('harmonyd'):
            run_harmonyd_example(cmd)
        elif cmd.startswith('harmony-agent'):
            c = strip_comment(cmd).replace('127.0.0.1:1666', '127.0.0.1:%d' % hd.ack_port)
            c = c.replace('--port 1080', '--port %d' % be.port)
            args = shlex.split(c)[1:] + ['--ack', '300ms']
            p = subprocess.Popen([agent] + args, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                h.check(h.wait_until(lambda: any(t['port'] == be.port and t['state'] == 'up'
                                                 for t in api.targets()), 15),
                        'README agent example registers: %r' % api.targets())
            finally:
                p.send_signal(signal.SIGTERM)
                rc = p.wait(20)
            h.check(rc == 0, 'the agent exits 0 on SIGTERM')
        elif cmd.startswith('curl'):
            c = cmd.replace('127.0.0.1:1667', '127.0.0.1:%d' % hd.http_port)
            r = subprocess.run(['bash', '-c', 'set -o pipefail; ' + c], env=env,
                               capture_output=True, timeout=30)
            out = r.stdout.decode()
            h.check(r.returncode == 0, 'README example %r: %s %s' % (cmd, out, r.stderr))
            if '"key"' in out:
                reg = json.loads(out)
                env['KEY'], env['ID'] = reg['key'], str(reg['id'])
        else:
            h.fail('README command not covered by this test: %r' % cmd)
    h.check(ran >= 8, 'ran %d README commands' % ran)
    st = api.status()
    h.check(st['concurrency'] == 0, "the README's PATCH paused the proxy: %r" % st)
    hd.stop()


h.run(main)
