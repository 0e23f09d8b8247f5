"""t_options: bad options exit 2 with a one-line reason; --help and
--version exit 0; a JSON config file (with comments) configures the daemon,
and flags override it."""

import os

import harness as h

# Listeners on ephemeral ports: if a bad option were accepted, the daemon
# would not take a fixed port (it is killed when run_harmonyd times out).
BASE = ['--listen', '127.0.0.1:0', '--ack-port', '0', '--http', '0']


def expect_usage_error(args, what):
    rc, out, err = h.run_harmonyd(*(BASE + args), timeout=15)
    lines = [line for line in err.splitlines() if line.strip()]
    # getopt's customary hint may follow the reason.
    if len(lines) == 2 and lines[1].startswith('Try ') and '--help' in lines[1]:
        lines.pop()
    h.check(rc == 2, '%s (%s): expected exit status 2, got %s; stderr: %r'
            % (what, ' '.join(args), rc, err))
    h.check(len(lines) == 1, '%s (%s): expected a one-line reason on stderr, got %r'
            % (what, ' '.join(args), err))
    h.log('%s: %s' % (what, lines[0]))


def main():
    be = h.Backend('name', name='A')
    other = h.Backend('name', name='B')

    # --- exit 0 ---------------------------------------------------------
    for flag in ('--help', '-h'):
        rc, out, err = h.run_harmonyd(flag)
        h.check(rc == 0 and '--listen' in out + err and '--target' in out + err,
                '%s: expected exit 0 and the option list, got %s: %r' % (flag, rc, out + err))
        # The dashboard's default says both places harmonyd looks.
        text = ' '.join((out + err).split())
        h.check('--web-root DIR dashboard files (default: ' in text
                and 'from its build tree' in text,
                '%s: --web-root names the installed and the build-tree default: %r'
                % (flag, text))
    for flag in ('--version', '-V'):
        rc, out, err = h.run_harmonyd(flag)
        h.check(rc == 0 and any(c.isdigit() for c in out + err),
                '%s: expected exit 0 and a version, got %s: %r' % (flag, rc, out + err))

    # --- exit 2 ---------------------------------------------------------
    bad_key = h.write_file('bad-key.json', '{ "listen": "127.0.0.1:0", "no-such-key": 1 }\n')
    bad_json = h.write_file('bad-json.json', '{ "listen": "127.0.0.1:0", \n')
    bad_type = h.write_file('bad-type.json', '{ "concurrency": "many" }\n')
    missing = os.path.join(h.tmpdir(), 'does-not-exist.json')
    for args, what in (
            (['--no-such-option'], 'unknown flag'),
            (['--listen'], 'missing argument'),
            (['stray-argument'], 'stray argument'),
            (['--connect-timeout', 'soon'], 'bad duration'),
            (['--idle-timeout', '5parsecs'], 'bad duration unit'),
            (['--queue-timeout', '-1s'], 'negative duration'),
            (['--target', '127.0.0.1'], 'target without port'),
            (['--target', '127.0.0.1:70000'], 'target port out of range'),
            (['--target', '127.0.0.1:80@heavy'], 'target weight not a number'),
            (['--target', '127.0.0.1:80@0'], 'target weight 0'),
            (['--balance', 'random'], 'unknown balance algorithm'),
            (['--concurrency', 'many'], 'concurrency not a number'),
            (['--requeue', '-3'], 'negative requeue'),
            (['--log-level', 'chatty'], 'unknown log level'),
            (['-c', bad_key], 'unknown config key'),
            (['-c', bad_json], 'config file not JSON'),
            (['-c', bad_type], 'config value of the wrong type'),
            (['-c', missing], 'missing config file'),
            (['--unavailable-file', missing], 'missing unavailable file'),
    ):
        expect_usage_error(args, what)

    # --- a config file ----------------------------------------------------
    conf = h.write_file('harmony.json', '''/* harmonyd test configuration */
{
    // where clients connect, on an ephemeral port
    "listen": "127.0.0.1:0",
    "ack-port": 0,              // disabled
    "http": "0",
    "target": ["%s"],
    "persistent": false,
    "connect-timeout": "2s",
    "idle-timeout": 60,
    "unavailable": "FROM-FILE\\r\\n"
}
''' % be.target(10))
    hd = h.Harmonyd('-c', conf, base=False, label='harmonyd (-c)')
    for _ in range(3):
        name = h.name_of(hd.port)
        h.check(name == 'A', 'with the config file\'s target: got %r, expected A' % name)
    hd.stop()

    # --target on the command line replaces the file's list.
    hd = h.Harmonyd('-c', conf, '--target', other.target(), base=False,
                    label='harmonyd (-c, --target)')
    for _ in range(3):
        name = h.name_of(hd.port)
        h.check(name == 'B', '--target should replace the file\'s targets: got %r' % name)
    hd.stop()

    # A flag overrides a file key; the file's key applies when not overridden.
    notarget = h.write_file('notarget.json', '''{
    "listen": "127.0.0.1:0", "ack-port": "0", "http": "0",  /* no target */
    "unavailable": "FROM-FILE\\r\\n"
}
''')
    hd = h.Harmonyd('-c', notarget, base=False, label='harmonyd (file text)')
    h.expect_unavailable(hd.port, b'FROM-FILE\r\n')
    hd.stop()
    hd = h.Harmonyd('-c', notarget, '--unavailable', 'FROM-FLAG', base=False,
                    label='harmonyd (flag text)')
    h.expect_unavailable(hd.port, b'FROM-FLAG')
    hd.stop()
    # Flags override the file whatever their order relative to -c.
    hd = h.Harmonyd('--unavailable', 'FLAG-FIRST', '-c', notarget, base=False,
                    label='harmonyd (flag before -c)')
    h.expect_unavailable(hd.port, b'FLAG-FIRST')
    hd.stop()

    # --access-log - writes the lines to stdout.
    hd = h.Harmonyd('--access-log', '-', label='harmonyd (access log on stdout)')
    h.expect_unavailable(hd.port, b'')
    h.check(hd.out.wait_for(r'client=127\.0\.0\.1:\d+ .*end=unavailable', 10),
            '--access-log -: no access-log line on stdout; stdout: %r' % hd.out.text())
    hd.stop()

    h.check(be.total == 3 and other.total == 3,
            'backends accepted %d and %d connections, expected 3 each'
            % (be.total, other.total))
    be.stop()
    other.stop()


h.run(main)
