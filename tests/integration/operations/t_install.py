"""t_install: `make install DESTDIR=...` from the build tree installs what a
package needs, and the installed programs work from there:

- harmonyd (sbin), harmony-agent (bin), libharmony (shared; only harmony_*
  exported) with harmony.h and harmony.pc, the dashboard under
  $(pkgdatadir)/web, the man pages (naming this install's paths), the examples and a first config file,
  and the systemd units (when configure found a unit directory) with their
  paths filled in;
- the installed harmonyd names the installed web root as its default and
  serves the dashboard from it (GET / is the installed index.html);
- the installed harmony-agent, and a program built against the installed
  header and pkg-config file, register a backend with it;
- `make uninstall` removes every file again.

The build tree is the one HARMONYD lives in (.../src/harmonyd). Skipped
without make or outside a configured build tree. `make check` leaves that
tree up to date, so the install rebuilds nothing under the other tests'
feet; a source edited while the tests run would be rebuilt (and a program
relinked) by this install, as by any make."""

import http.client
import os
import re
import shutil
import stat
import subprocess

import harness as h
from agenthelp import AGENT, served_by

CC = os.environ.get('HARMONY_CC', '')
SAN_CFLAGS = os.environ.get('HARMONY_SAN_CFLAGS', '')

PROGRAM = r'''
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <harmony.h>

/* Registers argv[2] with the ack port argv[1], says so, waits for a line
 * on stdin, deregisters. */
int
main(int argc, char *argv[])
{
	struct harmony_client *c;
	char line[16];

	if (argc != 3 || (c = harmony_client_new("127.0.0.1",
	    (uint16_t)atoi(argv[1]), (uint16_t)atoi(argv[2]))) == NULL)
		return 2;
	harmony_client_set_weight(c, 321);
	harmony_client_register(c);
	if (harmony_client_wait(c, 10000) == -1) {
		fprintf(stderr, "register: %s: %s\n", strerror(errno),
		    harmony_client_error(c));
		return 1;
	}
	printf("registered with libharmony %s, key of %zu bytes\n",
	    harmony_version(), strlen(harmony_client_key(c)));
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	harmony_client_close(c);
	if (harmony_client_wait(c, 10000) == -1)
		return 1;
	printf("closed\n");
	harmony_client_free(c);
	return 0;
}
'''


def clean_env():
    env = dict(os.environ)
    # The outer `make check` must not leak its jobserver or flags in.
    for var in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'DESTDIR'):
        env.pop(var, None)
    env['LC_ALL'] = 'C'
    return env


def make(build, *args, timeout=600):
    cmd = ['make', '-s', '-C', build] + list(args)
    p = subprocess.run(cmd, capture_output=True, env=clean_env(), timeout=timeout)
    out = (p.stdout + p.stderr).decode('utf-8', 'replace')
    h.check(p.returncode == 0, '%s failed (%d):\n%s' % (' '.join(cmd), p.returncode, out))
    return out


def make_vars(build, names):
    """Install directories as make expands them (prefix, pkgdatadir, ...)."""
    rules = ''.join('print-%s:\n\t@echo "%s=$(%s)"\n' % (n, n, n) for n in names)
    p = subprocess.run(['make', '-s', '--no-print-directory', '-C', build, '-f', 'Makefile',
                        '-f', '-'] + ['print-' + n for n in names],
                       input=rules.encode(), capture_output=True, env=clean_env(), timeout=60)
    h.check(p.returncode == 0, 'make could not print its variables: %s' % p.stderr.decode())
    out = {}
    for line in p.stdout.decode().splitlines():
        k, _, v = line.partition('=')
        out[k] = v
    return out


def files_under(root):
    found = []
    for d, _, names in os.walk(root):
        found += [os.path.join(d, n) for n in names]
    return sorted(found)


def check_files(dest, v):
    def there(path, executable=False):
        full = dest + path
        h.check(os.path.exists(full), 'installed: %s' % path)
        if executable:
            h.check(os.stat(full).st_mode & stat.S_IXUSR, 'executable: %s' % path)
        return full

    there(v['sbindir'] + '/harmonyd', True)
    there(v['bindir'] + '/harmony-agent', True)
    lib = there(v['libdir'] + '/libharmony.so')
    there(v['libdir'] + '/libharmony.so.0')
    there(v['includedir'] + '/harmony.h')
    pc = there(v['libdir'] + '/pkgconfig/harmony.pc')
    # The man pages name this install's paths (docs/*.in filled in).
    for page, path in (('/man8/harmonyd.8', v['sysconfdir'] + '/harmony/harmonyd.json'),
                       ('/man8/harmonyd.8', v['pkgdatadir'] + '/web'),
                       ('/man1/harmony-agent.1', v['sysconfdir'] + '/harmony/agent.env')):
        with open(there(v['mandir'] + page)) as f:
            text = f.read()
        left = re.findall(r'@[a-z_]+@', text)
        h.check(not left, '%s has @placeholders@ left: %r' % (page, left))
        h.check(path in text, '%s names %s' % (page, path))
        other = [m.group(0) for m in
                 re.finditer(r'(/[\w./-]*?)/harmony/(agent[\w-]*\.env|harmonyd\.json)\b', text)
                 if m.group(1) != v['sysconfdir']]
        h.check(not other, '%s names paths of another install: %r' % (page, other))
    for f in ('index.html', 'app.js', 'style.css'):
        there(v['pkgdatadir'] + '/web/' + f)
    for f in ('harmonyd.json', 'keepalived.conf', 'node-harmony-example.js'):
        there(v['docdir'] + '/examples/' + f)
    there(v['docdir'] + '/examples/register.sh', True)
    there(v['sysconfdir'] + '/harmony/harmonyd.json')

    with open(pc) as f:
        text = f.read()
    h.check(re.search(r'^Libs: .*-lharmony', text, re.M), 'harmony.pc links -lharmony')

    units = v.get('systemdsystemunitdir', '')
    if units:
        for unit, binary in (('harmonyd.service', v['sbindir'] + '/harmonyd'),
                             ('harmony-agent@.service', v['bindir'] + '/harmony-agent')):
            with open(there(units + '/' + unit)) as f:
                text = f.read()
            left = re.findall(r'@[a-z_]+@', text)
            h.check(not left, '%s has @placeholders@ left: %r' % (unit, left))
            h.check(re.search(r'^ExecStart=%s ' % re.escape(binary), text, re.M),
                    '%s starts %s' % (unit, binary))
    else:
        h.log('no systemd unit directory configured: units not checked')

    nm = shutil.which('nm')
    if nm:
        p = subprocess.run([nm, '-D', '--defined-only', lib], capture_output=True)
        syms = [l.split()[-1] for l in p.stdout.decode().splitlines() if l.strip()]
        h.check(syms and all(s.startswith('harmony_') for s in syms),
                'libharmony exports only harmony_*: %r'
                % [s for s in syms if not s.startswith('harmony_')])
        h.check('harmony_client_new' in syms, 'libharmony exports its API')
    return lib


def installed_programs(dest, v):
    harmonyd = dest + v['sbindir'] + '/harmonyd'
    agent = dest + v['bindir'] + '/harmony-agent'
    web = v['pkgdatadir'] + '/web'
    env = dict(os.environ, LD_LIBRARY_PATH=dest + v['libdir'])

    p = subprocess.run([harmonyd, '--help'], capture_output=True, timeout=20)
    # --help wraps a long path anywhere: compare without the white space.
    helptext = re.sub(r'\s+', '', p.stdout.decode())
    # (the build tree's own default follows after a ';').
    h.check('(default:%s;' % re.sub(r'\s+', '', web) in helptext,
            'the installed harmonyd defaults to the installed web root %s' % web)

    a = h.Backend('name', name='A')
    h.HARMONYD = harmonyd
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--http', '127.0.0.1:0',
                    '--web-root', dest + web, '--no-persistent',
                    '--unavailable', 'none\\n', label='installed harmonyd')
    if hd.http_port:
        conn = http.client.HTTPConnection('127.0.0.1', hd.http_port, timeout=10)
        conn.request('GET', '/')
        r = conn.getresponse()
        body = r.read()
        conn.close()
        with open(dest + web + '/index.html', 'rb') as f:
            index = f.read()
        h.check(r.status == 200 and body == index,
                'GET / serves the installed index.html: %d, %d bytes' % (r.status, len(body)))
    else:
        h.log('NOTE: the installed harmonyd has no admin HTTP listener: dashboard not checked')

    ag = h.Proc('installed harmony-agent', [agent, '--balancer', '127.0.0.1:%d' % hd.ack_port,
                                            '--port', str(a.port)], env=env)
    h.check(ag.err.wait_for(r'registered port %d' % a.port, 10) is not None,
            'the installed agent registered: %s' % ag.err.text())
    h.check(served_by(hd) == b'A\n', 'the installed harmonyd sends clients to A')
    h.check(ag.terminate() == 0, 'the installed agent exits 0 on SIGTERM')
    h.expect_unavailable(hd.port, b'none\n')

    built_program(dest, v, env, hd)
    hd.stop()


def built_program(dest, v, env, hd):
    """A program built against the installed header and pkg-config file."""
    pkgconf = shutil.which('pkg-config') or shutil.which('pkgconf')
    cc = CC.split() if CC else []
    if not cc or shutil.which(cc[0]) is None or pkgconf is None:
        h.log('NOTE: no compiler or pkg-config: libharmony not built against')
        return
    penv = dict(os.environ, PKG_CONFIG_PATH=dest + v['libdir'] + '/pkgconfig',
                PKG_CONFIG_SYSROOT_DIR=dest)
    p = subprocess.run([pkgconf, '--cflags', '--libs', 'harmony'], capture_output=True,
                       env=penv)
    h.check(p.returncode == 0, 'pkg-config finds harmony: %s' % p.stderr.decode())
    flags = p.stdout.decode().split()
    h.check('-lharmony' in flags, 'pkg-config --libs harmony: %r' % flags)
    srcfile = h.write_file('uses-libharmony.c', PROGRAM)
    exe = os.path.join(h.tmpdir(), 'uses-libharmony')
    # A sanitizer build's libharmony needs the sanitizer runtime linked first.
    cmd = cc + ['-std=c11', '-Wall', '-Werror'] + SAN_CFLAGS.split() + \
        ['-o', exe, srcfile] + flags
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    h.check(p.returncode == 0, '%s:\n%s' % (' '.join(cmd), p.stderr.decode()))

    b = h.Backend('name', name='B')
    prog = subprocess.Popen([exe, str(hd.ack_port), str(b.port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        line = prog.stdout.readline().decode()
        if not line:
            prog.wait(10)
            h.fail('the program failed (%s): %s' % (prog.returncode, prog.stderr.read().decode()))
        h.check(line.startswith('registered with libharmony') and 'key of 32 bytes' in line,
                'the program registered: %r' % line)
        h.check(hd.wait_log(r'ack: target \d+ is 127\.0\.0\.1:%d, weight 321' % b.port, 5)
                is not None, 'harmonyd has the program\'s target')
        h.check(served_by(hd) == b'B\n', 'harmonyd sends clients to B')
        out, err = prog.communicate(b'\n', timeout=20)
    finally:
        if prog.poll() is None:
            prog.kill()
            prog.wait()
    h.check(prog.returncode == 0 and out.decode() == 'closed\n',
            'the program deregistered: %d %r %r' % (prog.returncode, out, err))
    h.check(h._sanitizer_report(err.decode()) is None, 'no sanitizer report: %s' % err)


def main():
    build = os.path.dirname(os.path.dirname(os.path.abspath(h.HARMONYD)))
    if not os.path.exists(os.path.join(build, 'Makefile')):
        h.skip('no Makefile in %s: not a configured build tree' % build)
    if shutil.which('make') is None:
        h.skip('make is not installed')
    dest = os.path.join(h.tmpdir(), 'dest')
    v = make_vars(build, ['prefix', 'bindir', 'sbindir', 'libdir', 'includedir',
                          'pkgdatadir', 'docdir', 'sysconfdir', 'mandir',
                          'systemdsystemunitdir'])
    h.log('installing into %s (prefix %s)' % (dest, v['prefix']))
    make(build, 'install', 'DESTDIR=' + dest)
    check_files(dest, v)
    installed_programs(dest, v)

    make(build, 'uninstall', 'DESTDIR=' + dest)
    left = files_under(dest)
    h.check(not left, '`make uninstall` left files behind: %r' % left)


h.run(main)
