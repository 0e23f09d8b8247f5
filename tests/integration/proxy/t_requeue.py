"""t_requeue: a target that refuses connections is skipped for the next one
(--requeue N more targets, never the same twice), and without requeue the
client gets the unavailable text.

A target's `total` counts the sessions that connected to it, not the
attempts: a refusing target's stays 0 however often it was tried.

A refusing target is a loopback port bound by this test and not listening.
Weights make the first pick deterministic: the dead target has weight 1000
against 1, so a fresh daemon tries it first (leastconn and round robin
alike)."""

import harness as h
import relcheck as rc


def main():
    good = h.Backend('name', name='GOOD')
    dead = h.DeadPort()
    dead2 = h.DeadPort()

    # --requeue 1: every session is served by the working target.
    hd = h.Harmonyd('--target', dead.target(1000), '--target', good.target(1),
                    '--requeue', '1', '--no-persistent', access_log=True,
                    label='harmonyd (requeue 1)')
    for i in range(10):
        name = h.name_of(hd.port)
        h.check(name == 'GOOD', 'requeue 1: client %d got %r, expected GOOD' % (i, name))
        hd.settle(i + 1)
    lines = hd.wait_access(10)
    first = lines[0] if lines else {}
    h.check(first.get('target') == good.target() and first.get('tries') == '2'
            and first.get('end') == 'done',
            'requeue 1: first session should be logged target=%s tries=2 end=done, got %r'
            % (good.target(), first))
    hd.stop()

    # --requeue 2 with two dead targets: the third try serves.
    hd = h.Harmonyd('--target', dead.target(1000), '--target', dead2.target(1000),
                    '--target', good.target(1), '--requeue', '2', '--no-persistent',
                    access_log=True, label='harmonyd (requeue 2)')
    name = h.name_of(hd.port)
    h.check(name == 'GOOD', 'requeue 2: got %r, expected GOOD' % name)
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('tries') == '3',
            'requeue 2: expected tries=3 (dead, dead, good), got %r' % lines)
    hd.stop()

    # --requeue 0: the first client is sent to the dead target and gets the
    # unavailable text; the dead target is then failing, so the next one is
    # served by the working target.
    hd = h.Harmonyd('--target', dead.target(1000), '--target', good.target(1),
                    '--requeue', '0', '--no-persistent', '--unavailable', 'NOPE\\r\\n',
                    access_log=True, label='harmonyd (requeue 0)')
    h.expect_unavailable(hd.port, b'NOPE\r\n')
    lines = hd.wait_access(1)
    h.check(lines and lines[0].get('end') in ('connect-failed', 'unavailable')
            and lines[0].get('tries') == '1',
            'requeue 0: expected the first session logged tries=1 '
            'end=connect-failed (or unavailable), got %r' % lines)
    name = h.name_of(hd.port)
    h.check(name == 'GOOD', 'requeue 0: after a failed connect the dead target is '
            '"failing" and the next client should go to GOOD; got %r' % name)
    hd.stop()

    # Only the dead target, --requeue 0: unavailable every time, and its
    # total (sessions that reached it) stays 0.
    hd = h.Harmonyd('--target', dead.target(), '--requeue', '0', '--http', '127.0.0.1:0',
                    '--unavailable', 'DOWN', label='harmonyd (dead only)')
    for _ in range(3):
        h.expect_unavailable(hd.port, b'DOWN')
    t = rc.get_json(hd.http_port, '/api/v1/targets')['targets'][0]
    h.check(t['failures'] >= 1, 'the dead target shows no failure: %r' % t)
    h.check(t['total'] == 0, 'the dead target never accepted a connection, but its '
            'total is %d (failures %d): total must count connected sessions only'
            % (t['total'], t['failures']))
    hd.stop()

    h.check(good.total == 10 + 1 + 1, 'GOOD accepted %d connections, expected 12' % good.total)
    good.stop()
    dead.close()
    dead2.close()


h.run(main)
