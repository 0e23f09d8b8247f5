"""Issue 13 item 19 (access log): a failed reopen on SIGHUP keeps the log.

The access log is rotated (renamed) and a directory put at its path, so
that the reopen on SIGHUP fails: harmonyd logs an error saying it keeps
writing to the old file, and the next session's line does land there. Once
the path is usable again, the next SIGHUP reopens it and lines go to the
new file."""

import os
import signal

import harness as h


def lines_of(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return [h.parse_logfmt(x) for x in f if x.strip()]
    except (FileNotFoundError, IsADirectoryError):
        return []


def session(hd):
    h.check(h.name_of(hd.port) == 'A', 'served by A')


def reloads(hd):
    return hd.log_text().count('SIGHUP: configuration reloaded')


def sighup(hd):
    n = reloads(hd)
    os.kill(hd.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: reloads(hd) > n, 15), 'the reload applied')


def main():
    a = h.Backend('name', name='A')
    hd = h.Harmonyd('--target', a.target(), access_log=True)
    log = hd.access_log
    old = log + '.1'
    session(hd)
    h.check(h.wait_until(lambda: len(lines_of(log)) == 1, 10), 'the first line is logged')

    # Rotated, and the path is now a directory: the reopen fails.
    os.rename(log, old)
    os.mkdir(log)
    sighup(hd)
    h.check(hd.wait_log(r'error: SIGHUP: --access-log .*: Is a directory.*'
                        r'still writing to the old file', 5) is not None,
            'the failed reopen is logged as an error that says what happens')
    session(hd)
    h.check(h.wait_until(lambda: len(lines_of(old)) == 2, 10),
            'after the failed reopen, the line goes to the old file: %r'
            % lines_of(old))

    # Usable again: the next SIGHUP reopens the path.
    os.rmdir(log)
    sighup(hd)
    session(hd)
    h.check(h.wait_until(lambda: len(lines_of(log)) == 1, 10),
            'after the next SIGHUP the line goes to the new file: %r' % lines_of(log))
    h.check(len(lines_of(old)) == 2, 'the old file got nothing more')
    hd.stop()


h.run(main)
