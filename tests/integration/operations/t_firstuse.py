"""t_firstuse: what a new user sees first (issue 13, "Docs and first use").

- The start line counts static targets in good English: "0 static targets",
  "1 static target", "2 static targets".
- A write-capable listener reachable beyond loopback without a token is
  warned about in the words of the security model: loopback and --allow
  networks "may write" (register, heartbeat, and every HTTP write), not
  only "register".
- Run from its build tree before `make install`, harmonyd serves the
  dashboard (the source tree's web/) on its default --web-root, unless the
  install path has one; a copy of the same binary anywhere else never
  looks at the source tree."""

import http.client
import os
import re
import shutil
import subprocess

import harness as h

SRCDIR = os.environ.get('HARMONY_SRCDIR', '')


def start_line(hd):
    m = hd.wait_log(r'harmonyd \S+: balance .*')
    h.check(m is not None, 'the start line:\n' + hd.log_text())
    return m.group(0)


def get_root(port):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    conn.request('GET', '/')
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def installed_web_root():
    p = subprocess.run([h.HARMONYD, '--help'], capture_output=True, timeout=20)
    m = re.search(r'--web-root DIR\s+dashboard files \(default:\s*(.*?)\)',
                  p.stdout.decode(), re.S)
    h.check(m is not None, 'harmonyd --help names the default web root')
    return re.sub(r'\s+', '', m.group(1))


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    for targets, words in (([], '0 static targets'), ([a], '1 static target,'),
                           ([a, b], '2 static targets')):
        args = []
        for be in targets:
            args += ['--target', be.target()]
        hd = h.Harmonyd(*args)
        line = start_line(hd)
        h.check(words in line, 'the start line says %r: %r' % (words, line))
        hd.stop()

    # The ack port on every address, no token: writes are what is limited.
    hd = h.Harmonyd('--listen', '127.0.0.1:0', '--ack-port', '0.0.0.0:0',
                    '--http', '0', base=False)
    m = hd.wait_log(r'the ack port listens beyond loopback without --token: (.*)')
    h.check(m is not None, 'the open ack port is warned about:\n' + hd.log_text())
    h.check('may write' in m.group(1) and 'may register' not in m.group(1),
            'the warning says who may write: %r' % m.group(0))
    hd.stop()

    # The dashboard from the build tree, on the default --web-root.
    h.check(SRCDIR, 'HARMONY_SRCDIR is set (run through make check)')
    installed = installed_web_root()
    if os.path.exists(os.path.join(installed, 'index.html')):
        want = open(os.path.join(installed, 'index.html'), 'rb').read()
        where = 'the installed dashboard (%s)' % installed
    else:
        want = open(os.path.join(SRCDIR, 'web', 'index.html'), 'rb').read()
        where = "the source tree's web/"
    hd = h.Harmonyd('--http', '127.0.0.1:0')
    status, body = get_root(hd.http_port)
    h.check(status == 200 and body == want,
            'harmonyd from its build tree serves %s at /: %d %r'
            % (where, status, body[:200]))
    h.check('has no index.html' not in hd.log_text(),
            'no "no index.html" warning:\n' + hd.log_text())
    hd.stop()

    # The same binary elsewhere is an installed one: never the source tree.
    if not os.path.exists(os.path.join(installed, 'index.html')):
        copy = os.path.join(h.tmpdir(), 'harmonyd')
        shutil.copy2(h.HARMONYD, copy)
        real = h.HARMONYD
        h.HARMONYD = copy
        try:
            hd = h.Harmonyd('--http', '127.0.0.1:0', label='harmonyd elsewhere')
        finally:
            h.HARMONYD = real
        status, _ = get_root(hd.http_port)
        h.check(status == 404, 'a harmonyd outside its build tree serves no'
                ' dashboard without one installed: %d' % status)
        hd.stop()


h.run(main)
