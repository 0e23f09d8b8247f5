"""t_rel_fdlimit: harmonyd with RLIMIT_NOFILE 64 meets 500 clients at once.

Reliability scenario 5 (docs/RELIABILITY.md). The daemon runs out of
descriptors. It must not spin (its CPU time over the episode stays under
half the wall time), not crash, keep the admin port answering at least
between bursts, serve what it can, and recover fully: once the clients are
gone its descriptors return to their count before, the session counts
agree, and new clients are all served.
"""

import resource
import select
import socket
import time

import harness as h
import relcheck as rc

NCLIENTS = 500
NOFILE = 64
EPISODE_MAX = 90
HOLD = 5            # served clients hold their sessions this long


def start_limited(*args, **kw):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))
    try:
        return h.Harmonyd(*args, **kw)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def limit_of(pid):
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max open files'):
                return int(line.split()[3])
    return None


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < NCLIENTS + 200:
        h.skip('RLIMIT_NOFILE hard limit %d is too low for %d clients' % (hard, NCLIENTS))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    a = h.Backend('name', name='A')
    hd = start_limited('--http', '127.0.0.1:0', '--target', a.target(),
                       '--no-persistent', '--queue-timeout', '60s',
                       label='harmonyd (64 fds)')
    h.check(limit_of(hd.pid) == NOFILE, 'the daemon runs with %r fds, not %d'
            % (limit_of(hd.pid), NOFILE))
    h.check(h.name_of(hd.port) == 'A', 'warm-up')
    rc.settle(hd, hd.fd_count() + 0)
    fd0 = hd.fd_count()
    h.log('descriptors at the start: %d of %d' % (fd0, NOFILE))

    cpu0, t0 = rc.cpu_seconds(hd.pid), time.monotonic()
    socks = {}
    for _ in range(NCLIENTS):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', hd.port))
        socks[s.fileno()] = [s, b'']
    served = failed = 0
    held = []
    admin_ok = admin_tries = 0
    next_admin = time.monotonic()
    deadline = t0 + EPISODE_MAX
    while socks and time.monotonic() < deadline:
        poller = select.poll()
        for fd in socks:
            poller.register(fd, select.POLLIN)
        r = [fd for fd, _ in poller.poll(200)]
        for fd in r:
            s, buf = socks[fd]
            try:
                b = s.recv(64)
            except (ConnectionResetError, ConnectionRefusedError, BlockingIOError, OSError):
                b = None
            if b:
                buf += b
                socks[fd][1] = buf
                if not buf.endswith(b'\n'):
                    continue
            if buf == b'A\n':
                served += 1
                held.append(s)          # keeps the daemon's fds in use
                del socks[fd]
                continue
            else:
                failed += 1
            del socks[fd]
            s.close()
        if time.monotonic() >= next_admin:
            admin_tries += 1
            st, _ = rc.request(hd.http_port, 'GET', '/api/v1/status', timeout=5)
            admin_ok += st == 200
            next_admin = time.monotonic() + 1.0
    while time.monotonic() < t0 + HOLD:
        time.sleep(0.5)
        admin_tries += 1
        st, _ = rc.request(hd.http_port, 'GET', '/api/v1/status', timeout=5)
        admin_ok += st == 200
    wall = time.monotonic() - t0
    for s in held:
        s.close()
    cpu = rc.cpu_seconds(hd.pid) - cpu0
    pending = len(socks)
    for s, _ in socks.values():
        s.close()
    h.log('%d clients at once against %d fds: %d served, %d closed unserved, %d '
          'pending after %.1f s; daemon CPU %.2f s (%.0f%% of wall); admin answered '
          '%d of %d polls' % (NCLIENTS, NOFILE, served, failed, pending, wall, cpu,
                              100 * cpu / wall, admin_ok, admin_tries))
    h.check(hd.alive(), 'the daemon died')
    h.check(cpu < 0.5 * wall, 'the daemon used %.2f s of CPU in %.1f s: spinning?' % (cpu, wall))
    h.check(served > 0, 'no client was served')
    h.check(pending == 0, '%d clients got neither service nor an end within %d s'
            % (pending, EPISODE_MAX))
    h.check(admin_ok > 0, 'the admin port never answered during the episode')
    t1 = time.monotonic()
    back = h.wait_until(lambda: rc.request(hd.http_port, 'GET', '/api/v1/status',
                                           timeout=3)[0] == 200, 30, 0.5)
    h.check(back, 'the admin port does not answer 30 s after the load is gone (fds %d)'
            % hd.fd_count())
    h.log('admin answered again %.1f s after the load was gone' % (time.monotonic() - t1))
    st = rc.get_json(hd.http_port, '/api/v1/status')
    h.log('totals after the episode: %r' % st['totals'])
    t = rc.get_json(hd.http_port, '/api/v1/targets')['targets'][0]
    h.log('the target after the episode: state %s, failures %d (local fd exhaustion '
          'counted as connect failures of the target)' % (t['state'], t['failures']))
    # Recovery.
    rc.settle(hd, fd0, timeout=30)
    for i in range(20):
        h.check(h.name_of(hd.port, timeout=15) == 'A', 'recovery: session %d not served' % i)
    rc.settle(hd, fd0)
    hd.stop()
    a.stop()


h.run(main)
