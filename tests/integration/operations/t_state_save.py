"""Issue 13 items 7 and 11: how the state file is written.

7. Traffic alone (sessions, counters, persistence hits) changes nothing the
   state file holds, so the file is not rewritten (same inode and mtime);
   a registry change is saved within seconds. A large state (100 000
   persistence entries) is saved by a child process while the loop goes on:
   with that child stopped (a save that takes forever), clients are still
   proxied and the admin port answers, and no second child is started.
11. The file is written through a unique temporary file: a symlink at
   STATE.tmp is not followed (its victim keeps its bytes), a stale 0644
   STATE.tmp does not make the state file 0644 (it is 0600), and a state
   file that is itself a symlink is not followed on load (harmonyd refuses
   to start, saying why, and leaves both alone)."""

import json
import os
import signal
import stat
import time

import harness as h
import adminhttp as ah

KEY = '0123456789abcdef0123456789abcdef'
ENTRIES = 100000


def write_state(path, port, entries):
    pers = [{'client': '127.0.0.1', 'target': 1, 'idle_ms': 0}]
    pers += [{'client': '10.%d.%d.%d' % (i >> 16, (i >> 8) & 255, i & 255),
              'target': 1, 'idle_ms': 0} for i in range(1, entries)]
    doc = {'harmony_state': 1,
           'targets': [{'id': 1, 'key': KEY, 'host': '127.0.0.1', 'port': port,
                        'weight': 500, 'source': 'http', 'timeout_ms': 3600000,
                        'state': 'up'}],
           'persistence': pers, 'runtime': None}
    with open(path, 'w') as f:
        json.dump(doc, f)


def ident(path):
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns)


def weight_patch(api, w):
    api.expect(200, 'PATCH', '/api/v1/targets/1', {'weight': w}, token=KEY)


def saved_weight(path):
    try:
        with open(path) as f:
            return json.load(f)['targets'][0]['weight']
    except (OSError, ValueError, KeyError, IndexError):
        return None


def main():
    a = h.Backend('name', name='A')
    sf = os.path.join(h.tmpdir(), 'state.json')
    write_state(sf, a.port, ENTRIES)
    hd = ah.harmonyd('--state-file', sf)
    api = ah.Api(hd.http_port)
    h.check(hd.wait_log(r'restored 1 targets and %d persistence' % ENTRIES, 30),
            'the large state is restored')

    # 7: traffic (127.0.0.1 has its persistence entry already) changes nothing.
    before = ident(sf)
    deadline = time.monotonic() + 4
    n = 0
    while time.monotonic() < deadline:
        with h.connect(hd.port) as s:
            h.check(h.recv_line(s) == b'A\n', 'served by A')
        n += 1
    time.sleep(1.5)
    h.log('%d sessions' % n)
    h.check(ident(sf) == before, 'traffic alone does not rewrite the state file')

    # 7: a change is saved, by a child process; stop that child mid-save.
    child = None
    for attempt in range(20):
        weight_patch(api, 600 + attempt)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and child is None:
            kids = h.children(hd.pid)
            if kids:
                child = kids[0]
                try:
                    os.kill(child, signal.SIGSTOP)
                except ProcessLookupError:
                    child = None
        if child is not None:
            # It may have finished just before the stop: then try again.
            try:
                with open('/proc/%d/stat' % child) as f:
                    zombie = f.read().rpartition(')')[2].split()[0] == 'Z'
            except OSError:
                zombie = True
            if not zombie:
                break
            child = None
    h.check(child is not None, 'the state is saved by a child process')
    try:
        weight_patch(api, 900)
        t0 = time.monotonic()
        worst = 0.0
        for _ in range(30):
            c0 = time.monotonic()
            with h.connect(hd.port, timeout=10) as s:
                h.check(h.recv_line(s, timeout=10) == b'A\n',
                        'served while the save is stuck')
            worst = max(worst, time.monotonic() - c0)
        api.status()
        time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))
        h.log('worst session while the save child is stopped: %.0f ms' % (worst * 1000))
        h.check(worst < 5, 'no session waits for the save (%.1f s)' % worst)
        kids = h.children(hd.pid)
        h.check(kids == [child], 'one save at a time: %r' % kids)
    finally:
        os.kill(child, signal.SIGCONT)
    h.check(h.wait_until(lambda: saved_weight(sf) == 900, 30),
            'the change made during the stuck save is saved after it')
    h.check(stat.S_IMODE(os.stat(sf).st_mode) == 0o600, 'the state file is 0600')

    # 11: a symlink at STATE.tmp is never followed; a stale 0644 one is left.
    victim = h.write_file('victim', 'victim\n')
    os.symlink(victim, sf + '.tmp')
    weight_patch(api, 901)
    h.check(h.wait_until(lambda: saved_weight(sf) == 901, 20), 'saved again')
    with open(victim) as f:
        h.check(f.read() == 'victim\n', 'the symlink at STATE.tmp was not followed')
    h.check(not os.path.islink(sf), 'the state file is not a symlink')
    os.unlink(sf + '.tmp')
    with open(sf + '.tmp', 'w') as f:
        f.write('stale')
    os.chmod(sf + '.tmp', 0o644)
    weight_patch(api, 902)
    h.check(h.wait_until(lambda: saved_weight(sf) == 902, 20), 'saved again')
    h.check(stat.S_IMODE(os.stat(sf).st_mode) == 0o600,
            'a stale 0644 STATE.tmp does not make the state file 0644: %o'
            % stat.S_IMODE(os.stat(sf).st_mode))
    hd.stop()
    h.check(saved_weight(sf) == 902, 'the final save at exit')
    left = [n for n in os.listdir(h.tmpdir()) if n.startswith('state.json.tmp.')]
    h.check(not left, 'no temporary file is left behind: %r' % left)

    # One left by a save that died is removed at the next start.
    stale = h.write_file('state.json.tmp.Ab12Yz', 'half a save')
    hd = ah.harmonyd('--state-file', sf)
    h.check(not os.path.exists(stale), 'a dead save\'s temporary file is removed')
    h.check(os.path.exists(sf + '.tmp'), 'other files are left alone')
    hd.stop()

    # 11: a state file that is a symlink is not followed on load.
    real = os.path.join(h.tmpdir(), 'real.json')
    os.rename(sf, real)
    os.symlink(real, sf)
    with open(real, 'rb') as f:
        real_bytes = f.read()
    rc, _, err = h.run_harmonyd('--listen', '127.0.0.1:0', '--ack-port', '0',
                                '--http', '0', '--state-file', sf)
    h.check(rc != 0 and 'symbolic link' in err,
            'refuses a state file that is a symlink (%d): %s' % (rc, err))
    h.check(os.path.islink(sf), 'the symlink is left alone')
    with open(real, 'rb') as f:
        h.check(f.read() == real_bytes, 'the symlink target is left alone')


h.run(main)
