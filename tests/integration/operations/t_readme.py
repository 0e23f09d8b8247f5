"""Issue 6: every command in the README's sh blocks is run here (but the
build steps, which CI runs): harmonyd with each example's options (ports
made ephemeral), harmony-agent against a real harmonyd, and each curl
example against a live admin interface. A new kind of command in the
README fails this test until it is covered.

Issue 13: the Quick start's install command works both as root on a box
without sudo (a fresh Debian) and as a user with sudo: its first step is
run by sh and bash with stand-ins for apt-get and sudo on PATH, once
without sudo and once with it, and must reach apt-get with the packages
either way. No command starts with a bare `sudo`."""

import json
import os
import re
import shlex
import signal
import subprocess
import time

import harness as h
import adminhttp as ah

SRCDIR = h.SRCDIR
INSTALL = '$(command -v sudo) apt-get '
BUILD_STEPS = (INSTALL, 'autoreconf', './configure', 'make ')


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


def file_services(args):
    """The service names a -c file of args defines (its "services" object:
    each `"name": {` line in it, as contrib's examples write them)."""
    if '-c' not in args:
        return []
    text = open(os.path.join(SRCDIR, args[args.index('-c') + 1]), encoding='utf-8').read()
    if '"services"' not in text:
        return []
    body = text[text.index('"services"'):]
    return re.findall(r'^\s*"([a-z0-9][a-z0-9_-]*)": \{', body, re.M)


def run_harmonyd_example(cmd):
    args = shlex.split(strip_comment(cmd))[1:]
    names = file_services(args)
    if names or '--service' in args:
        # Services: each one's listen on a free port (a section's flags
        # override the file's keys).
        args = ['127.0.0.1:0' if i > 0 and args[i - 1] == '--listen' else a
                for i, a in enumerate(args)]
        for n in names:
            args += ['--service', n, '--listen', '127.0.0.1:0']
        args += ['--ack-port', '0', '--http', '0']
    else:
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


def stand_in(path, text):
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + text)
    os.chmod(path, 0o755)


def check_install_command(cmds):
    """The install step, as root without sudo and as a user with it."""
    for cmd in cmds:
        h.check(not re.match(r'sudo\s', cmd),
                'no README command starts with a bare sudo (no sudo as root on'
                ' a fresh box): %r' % cmd)
    installs = [c for c in cmds if c.startswith(INSTALL)]
    h.check(len(installs) == 1, 'the Quick start has one install command'
            ' starting with %r: %r' % (INSTALL, cmds[:2]))
    first = installs[0].split(' && ')[0]
    h.check('apt-get install -y' in first and 'libmicrohttpd-dev' in first,
            'the first step installs the packages: %r' % first)
    for shell in ('/bin/sh', '/bin/bash'):
        if not os.access(shell, os.X_OK):
            continue
        for with_sudo in (False, True):
            d = os.path.join(h.tmpdir(), 'path-%s-%s' % (os.path.basename(shell), with_sudo))
            os.mkdir(d)
            log = os.path.join(d, 'calls')
            stand_in(os.path.join(d, 'apt-get'), 'echo "apt-get $*" >> %s\n' % log)
            if with_sudo:
                stand_in(os.path.join(d, 'sudo'), 'echo "sudo $*" >> %s\nexec "$@"\n' % log)
            r = subprocess.run([shell, '-c', first], env={'PATH': d}, capture_output=True,
                               timeout=30)
            calls = open(log).read().splitlines() if os.path.exists(log) else []
            who = '%s as %s' % (shell, 'a user with sudo' if with_sudo else 'root without sudo')
            h.check(r.returncode == 0, '%s: the install step fails (%d): %s'
                    % (who, r.returncode, r.stderr.decode()))
            want = (['sudo apt-get install -y'] if with_sudo else []) + ['apt-get install -y']
            h.check(len(calls) == len(want) and
                    all(c.startswith(w) for c, w in zip(calls, want)),
                    '%s: runs %r, not %r' % (who, want, calls))
            h.check('libmicrohttpd-dev' in calls[-1], '%s: apt-get gets the packages: %r'
                    % (who, calls))


def main():
    check_install_command(commands())
    ah.need_curl()
    agent = h.AGENT
    be = h.Backend('name', name='A')
    # The default service and "api", which the Services examples name.
    hd = ah.harmonyd('--ack-port', '127.0.0.1:0', '--service', 'default', '--listen',
                     '127.0.0.1:0', '--service', 'api', '--listen', '127.0.0.1:0',
                     base=False)
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
            c = re.sub(r'--port \d+', '--port %d' % be.port, c)
            args = shlex.split(c)[1:] + ['--ack', '300ms']
            svc = args[args.index('--service') + 1] if '--service' in args else 'default'
            route = '/api/v1/services/%s/targets' % svc
            p = subprocess.Popen([agent] + args, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                h.check(h.wait_until(lambda: any(t['port'] == be.port and t['state'] == 'up'
                                                 for t in api.get(route).json()['targets']),
                                     15),
                        'README agent example registers in %s: %r'
                        % (svc, api.get(route).json()))
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
