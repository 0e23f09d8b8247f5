"""Issue 9: zero-downtime restart with contrib/harmonyd-restart.sh. A client
loop connecting continuously (~8 s) across the restart sees no refused or
reset connection, and every connection is served."""

import os
import subprocess
import threading
import time

import harness as h

SCRIPT = os.path.join(h.SRCDIR, 'contrib', 'harmonyd-restart.sh')


def main():
    if not os.path.exists(SCRIPT):
        h.skip('contrib/harmonyd-restart.sh not found at %s' % SCRIPT)
    a = h.Backend('name', name='A')
    sf = os.path.join(h.tmpdir(), 'state.json')
    hd = h.Harmonyd('--target', a.target(), '--state-file', sf)
    port = hd.port
    results = {'ok': 0, 'bad': []}
    stop = threading.Event()

    def clients():
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                with h.connect(port, timeout=10) as s:
                    got = h.recv_line(s, timeout=10)
                if got == b'A\n':
                    results['ok'] += 1
                else:
                    results['bad'].append('answer %r' % got)
            except OSError as e:
                results['bad'].append(repr(e))

    t = threading.Thread(target=clients, daemon=True)
    t.start()
    time.sleep(2)

    log = os.path.join(h.tmpdir(), 'new.log')
    env = dict(os.environ, HARMONYD=h.HARMONYD, HARMONYD_LOG=log)
    args = ['--listen', '127.0.0.1:%d' % port, '--ack-port', '0', '--http', '0',
            '--target', a.target(), '--state-file', sf]
    p = subprocess.run(['sh', SCRIPT, str(hd.pid)] + args, env=env,
                       capture_output=True, timeout=60)
    h.check(p.returncode == 0, 'restart script: %s' % p.stderr.decode())
    new_pid = int(p.stdout.split()[-1])
    try:
        hd.popen.wait(timeout=20)
        h.check(hd.popen.returncode == 0, 'the old harmonyd exited 0: %s'
                % hd.popen.returncode)
        ok_at_switch = results['ok']
        time.sleep(3)
        stop.set()
        t.join(15)
        h.log('connections: %d ok (%d after the switch), failures: %r'
              % (results['ok'], results['ok'] - ok_at_switch, results['bad'][:5]))
        h.check(not results['bad'], 'no refused or reset connection: %r'
                % results['bad'][:5])
        h.check(results['ok'] - ok_at_switch > 10, 'the new harmonyd serves')
    finally:
        os.kill(new_pid, 15)
        for _ in range(150):
            try:
                os.kill(new_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    with open(log) as f:
        text = f.read()
    h.check('listening: clients 127.0.0.1:%d' % port in text, 'new one took the port')


h.run(main)
