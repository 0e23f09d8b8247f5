"""Issue 18: the unit files (contrib/*.service.in, paths filled in as `make`
does) pass `systemd-analyze verify`, harmonyd.service is a Type=notify
service with a watchdog, a reload by SIGHUP, CAP_NET_BIND_SERVICE and its
state under StateDirectory=harmony, and `systemd-analyze security` rates
each unit 1.7 ("OK") or better (harmonyd's was 1.7 before, the agent's
1.8). Skips where systemd-analyze is missing or cannot run."""

import os
import re
import shutil
import subprocess

import harness as h

UNITS = {'harmonyd.service': 'harmonyd.service',
         # A template verifies as one of its instances.
         'harmony-agent@.service': 'harmony-agent@8080.service'}
MAX_EXPOSURE = {'harmonyd.service': 1.7, 'harmony-agent@8080.service': 1.7}


def fill(text):
    """Makefile.am's UNIT_SED, with the build tree's programs."""
    return (text.replace('@sbindir@', os.path.dirname(h.HARMONYD))
            .replace('@bindir@', os.path.dirname(h.AGENT))
            .replace('@sysconfdir@', '/etc').replace('@pkgdatadir@', '/usr/share/harmony')
            .replace('@docdir@', '/usr/share/doc/harmony'))


def directives(text):
    out = {}
    for line in text.splitlines():
        k, eq, v = line.partition('=')
        if eq and not line.startswith('#'):
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def main():
    analyze = shutil.which('systemd-analyze')
    if analyze is None:
        h.skip('systemd-analyze not found (apt-get install systemd)')
    paths = {}
    for src, name in UNITS.items():
        with open(os.path.join(h.SRCDIR, 'contrib', src + '.in')) as f:
            text = fill(f.read())
        h.check(not re.search(r'@[a-z]+@', text), '%s: a @...@ left unfilled' % src)
        paths[name] = h.write_file(name, text)

    d = directives(open(paths['harmonyd.service']).read())
    for key, want in (('Type', 'notify'), ('NotifyAccess', 'all'),
                      ('ExecReload', '/bin/kill -HUP $MAINPID'),
                      ('StateDirectory', 'harmony'),
                      ('AmbientCapabilities', 'CAP_NET_BIND_SERVICE'),
                      ('CapabilityBoundingSet', 'CAP_NET_BIND_SERVICE')):
        h.check(d.get(key) == [want], 'harmonyd.service: %s=%s, not %s' % (key, d.get(key), want))
    h.check(re.fullmatch(r'\d+s', (d.get('WatchdogSec') or [''])[0]),
            'harmonyd.service: WatchdogSec=%s' % d.get('WatchdogSec'))
    h.check(' --state-file %S/harmony/' in d['ExecStart'][0],
            'harmonyd.service: the state file is not in StateDirectory: %s' % d['ExecStart'])

    # Offline: no running systemd (PID 1) needed, but it must start at all.
    probe = subprocess.run([analyze, '--version'], capture_output=True, text=True)
    if probe.returncode != 0:
        h.skip('systemd-analyze does not run here: %s' % probe.stderr.strip())
    for name, path in paths.items():
        r = subprocess.run([analyze, 'verify', '--man=no', path], capture_output=True,
                           text=True, cwd=h.tmpdir(), timeout=120)
        h.log('verify %s: %d %s' % (name, r.returncode, r.stderr.strip()))
        mine = [l for l in r.stderr.splitlines() if name in l or 'harmony' in l]
        h.check(r.returncode == 0 and not mine, 'systemd-analyze verify %s: %d\n%s'
                % (name, r.returncode, r.stderr))
        r = subprocess.run([analyze, 'security', '--offline=yes', path],
                           capture_output=True, text=True, cwd=h.tmpdir(), timeout=120)
        m = re.search(r'Overall exposure level for \S+: (\d+\.\d+) (\S+)', r.stdout)
        if m is None and '--offline' in r.stderr:
            h.log('systemd-analyze security --offline is not supported here: %s'
                  % r.stderr.strip())
            continue
        h.check(m is not None, 'systemd-analyze security %s: %d\n%s%s'
                % (name, r.returncode, r.stdout[-2000:], r.stderr))
        h.log('security %s: %s %s' % (name, m.group(1), m.group(2)))
        h.check(float(m.group(1)) <= MAX_EXPOSURE[name], '%s is rated %s %s (at most %.1f)'
                % (name, m.group(1), m.group(2), MAX_EXPOSURE[name]))


h.run(main)
