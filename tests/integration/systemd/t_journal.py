"""Issue 18: under systemd, when stderr is the journal (JOURNAL_STREAM names
its device and inode, as systemd.exec(5) documents), every log line starts
with its syslog priority ("<6>info: ...", "<4>warn: ...") and carries no
time or pid of our own; anywhere else (no JOURNAL_STREAM, or one naming
another stream) the lines are today's "TIME harmonyd[PID] LEVEL: ..."."""

import os
import re

import harness as h

# JOURNAL_STREAM as systemd would set it: fd 2's dev:inode (here a pipe).
JOURNAL_WRAPPER = ('JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2)'
                   ' && export JOURNAL_STREAM && exec "$@"')
TODAY = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z harmonyd\[\d+\] '
                   r'(debug|info|warn|error|fatal): ')
JOURNAL = re.compile(r'^<([0-7])>(debug|info|warn|error|fatal): ')
PRIORITY = {'debug': '7', 'info': '6', 'warn': '4', 'error': '3', 'fatal': '2'}


def bad_state():
    # Not JSON: "state: ignoring ..." is a warning, and start-up goes on.
    return h.write_file('state-%d.json' % len(os.listdir(h.tmpdir())), 'garbage\n')


def args():
    return ['--listen', '127.0.0.1:0', '--ack-port', '0', '--http', '0',
            '--state-file', bad_state()]


def started(p):
    m = p.err.wait_for(r'listening: clients (\S+)', h.START_TIMEOUT)
    h.check(m is not None, '%s did not start:\n%s' % (p.label, p.err.text()))
    h.check(p.err.wait_for(r'warn: state: ignoring', 5) is not None,
            'no warning about the bad state file:\n%s' % p.err.text())


def main():
    env = dict(os.environ)
    env.pop('JOURNAL_STREAM', None)
    # stderr is the journal: priorities, no time, no pid.
    p = h.Proc('harmonyd-journal', ['sh', '-c', JOURNAL_WRAPPER, 'sh'] +
               h.HARMONYD_WRAPPER + [h.HARMONYD] + args(), env=env)
    started(p)
    p.popen.send_signal(15)
    h.check(p.popen.wait(h.STOP_TIMEOUT) == 0, 'exit status %s' % p.popen.poll())
    p.err.join(5)
    lines = [l for l in p.err.lines if not l.startswith('==')]  # valgrind's own
    h.check(len(lines) >= 4, 'too few lines:\n%s' % '\n'.join(lines))
    for line in lines:
        m = JOURNAL.match(line)
        h.check(m is not None, 'not a journal line: %r' % line)
        h.check(m.group(1) == PRIORITY[m.group(2)], 'wrong priority: %r' % line)
        h.check(not TODAY.search(line) and not re.search(r'\d\d:\d\d:\d\d', line[:40]),
                'a time of our own in %r' % line)
        h.check('harmonyd[' not in line, 'a pid of our own in %r' % line)
    h.check(any(l.startswith('<6>info: listening: clients ') for l in lines),
            'no <6>info line for the listener')
    h.check(any(l.startswith('<4>warn: state: ignoring ') for l in lines),
            'no <4>warn line for the bad state file')

    # Elsewhere: today's lines, with JOURNAL_STREAM unset or another stream's.
    for label, extra in (('no JOURNAL_STREAM', {}),
                         ('another stream', {'JOURNAL_STREAM': '1:1'})):
        hd = h.Harmonyd(*args(), base=False, env=dict(env, **extra))
        started(hd)
        hd.stop()
        lines = [l for l in hd.err.lines if not l.startswith('==')]
        for line in lines:
            h.check(TODAY.match(line), '%s: not today\'s format: %r' % (label, line))


h.run(main)
