"""t_docs_paths: the documentation names the files `make install` and the
systemd units really use (issue 13: the README and harmonyd(8) said
/etc/harmony/harmonyd.json where the default prefix installs
/usr/local/etc/..., and harmony-agent(1) named an env file its unit never
reads).

The man pages are docs/*.in with @sysconfdir@ filled in at make time, so
each names the one path of its install; they are read here as they come
out for each of the two sysconfdirs. From the sources: the config file make install puts in
$(sysconfdir)/harmony is the one harmonyd.service reads; harmony-agent@'s
environment files are the ones harmony-agent(1) and the README name; and
both are stated for the default prefix (/usr/local/etc) and for
--sysconfdir=/etc. Every such path the docs mention is one of those."""

import os
import re

import harness as h

SRCDIR = os.environ.get('HARMONY_SRCDIR', '')
SYSCONFDIRS = ('/usr/local/etc', '/etc')
DOCS = ('README.md', 'docs/harmonyd.8', 'docs/harmony-agent.1', 'contrib/harmonyd.json')
TEMPLATES = ('docs/harmonyd.8', 'docs/harmony-agent.1')


def read(path):
    with open(os.path.join(SRCDIR, path), encoding='utf-8') as f:
        return f.read()


def main():
    h.check(SRCDIR, 'HARMONY_SRCDIR is set (run through make check)')
    mk = read('Makefile.am')
    h.check(re.search(r'^pkgsysconfdir = \$\(sysconfdir\)/harmony$', mk, re.M),
            'make install puts the configuration in $(sysconfdir)/harmony')
    h.check(re.search(r"\$\(INSTALL_DATA\) \$\(srcdir\)/contrib/harmonyd\.json \\\s*"
                      r"'\$\(DESTDIR\)\$\(pkgsysconfdir\)/harmonyd\.json'", mk),
            'make install installs contrib/harmonyd.json as harmonyd.json there')

    unit = read('contrib/harmonyd.service.in')
    m = re.search(r'^ExecStart=\S+ -c (\S+)', unit, re.M)
    h.check(m and m.group(1) == '@sysconfdir@/harmony/harmonyd.json',
            'harmonyd.service reads the installed config: %r' % (m and m.group(0)))

    agent_unit = read('contrib/harmony-agent@.service.in')
    envfiles = re.findall(r'^EnvironmentFile=-?(\S+)', agent_unit, re.M)
    h.check(envfiles == ['@sysconfdir@/harmony/agent.env',
                         '@sysconfdir@/harmony/agent-%i.env'],
            'the agent unit reads agent.env and agent-PORT.env: %r' % envfiles)

    for t in TEMPLATES:
        for m in re.finditer(r'(\S*)/harmony/(agent[\w%-]*\.env|harmonyd\.json|token)\b',
                             read(t + '.in')):
            h.check(m.group(1).endswith('@sysconfdir@'),
                    '%s.in: %s is not under @sysconfdir@' % (t, m.group(0)))
    for sysconfdir in SYSCONFDIRS:
        docs = {d: read(d + '.in').replace('@sysconfdir@', sysconfdir)
                if d in TEMPLATES else read(d) for d in DOCS}
        conf = sysconfdir + '/harmony/harmonyd.json'
        for d in ('README.md', 'docs/harmonyd.8', 'contrib/harmonyd.json'):
            h.check(conf in docs[d], '%s names %s' % (d, conf))
        for f in envfiles:
            path = f.replace('@sysconfdir@', sysconfdir).replace('%i', '1080')
            for d in ('README.md', 'docs/harmony-agent.1'):
                h.check(path in docs[d], '%s names %s (what the unit reads)' % (d, path))

        # No other place for them: every mention is one of the real paths.
        for d, text in docs.items():
            for m in re.finditer(r'(/[\w./-]*?)/harmony/(agent[\w%-]*\.env|harmonyd\.json)\b',
                                 text):
                prefix, name = m.groups()
                h.check(prefix in SYSCONFDIRS, '%s: %s is not under %s'
                        % (d, m.group(0), ' or '.join(SYSCONFDIRS)))
                h.check(re.fullmatch(r'agent\.env|agent-\d+\.env|harmonyd\.json', name),
                        '%s: %s is no file a unit reads' % (d, m.group(0)))


h.run(main)
