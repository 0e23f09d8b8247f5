"""t_rel_fdlimit: harmonyd short of file descriptors.

Reliability scenario 5 (docs/RELIABILITY.md), four parts:

- raise: started with a soft RLIMIT_NOFILE of 64 under a higher hard limit,
  the daemon raises its soft limit to the hard one (as redis does) and says
  what it got.
- clients: hard limit 64, 500 clients at once. It must not spin (its CPU
  time over the episode stays under half the wall time), not crash, keep
  the admin port answering, serve what it can, and recover fully: once the
  clients are gone its descriptors return to their count before, the
  session counts agree, and new clients are all served.
- bulk: hard limit 64, 40 sessions moving bulk data both ways (each may
  want a target socket and two splice pipes on top of its client socket),
  while the ack and admin ports are knocked on. Target sockets and pipes
  come out of the same budget as clients, so the admin port answers
  throughout, and once the traffic stops (the sessions still open) the
  daemon is idle: no listener spins on EMFILE.
- ack: hard limit 64, 80 idle ack-port connections (16 per source
  address). The ack port keeps to its share of the descriptors: no spin,
  no flood of log lines, the admin port and the proxy keep working.
"""

import os
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
LOG_LINES_MAX = 200  # a listener spinning on EMFILE logs millions


def start_limited(*args, soft=NOFILE, hard=NOFILE, **kw):
    """harmonyd under prlimit: the limits apply from its first instruction."""
    old = h.HARMONYD_WRAPPER
    h.HARMONYD_WRAPPER = ['prlimit', '--nofile=%d:%d' % (soft, hard), '--'] + old
    try:
        return h.Harmonyd(*args, **kw)
    finally:
        h.HARMONYD_WRAPPER = old


def limit_of(pid):
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max open files'):
                return int(line.split()[3])
    return None


def admin_ok(hd, timeout=5):
    return rc.request(hd.http_port, 'GET', '/api/v1/status', timeout=timeout)[0] == 200


def log_lines(hd):
    return hd.log_text().count('\n')


def recovered(hd, fd0, name, what):
    """After the load: admin answers, fds back, new clients served."""
    t1 = time.monotonic()
    back = h.wait_until(lambda: admin_ok(hd, 3), 30, 0.5)
    h.check(back, '%s: the admin port does not answer 30 s after the load is gone '
            '(fds %d)' % (what, hd.fd_count()))
    h.log('%s: admin answered %.1f s after the load was gone'
          % (what, time.monotonic() - t1))
    rc.settle(hd, fd0, timeout=30)
    for i in range(10):
        h.check(h.name_of(hd.port, timeout=15) == name,
                '%s: recovery: session %d not served' % (what, i))
    rc.settle(hd, fd0)


def part_raise(hard):
    a = h.Backend('name', name='A')
    hd = start_limited('--target', a.target(), soft=NOFILE, hard=hard,
                       label='harmonyd (soft 64)')
    got = limit_of(hd.pid)
    h.check(got == hard, 'started with a soft limit of %d under a hard limit of %d, '
            'the daemon runs with %r: it should raise it to the hard limit'
            % (NOFILE, hard, got))
    m = hd.wait_log(r'file descriptors: limit (\d+)', 5)
    h.check(m is not None and int(m.group(1)) == hard,
            'no "file descriptors: limit %d" line at start' % hard)
    h.check(h.name_of(hd.port) == 'A', 'not served')
    hd.stop()
    a.stop()


def part_bulk():
    e = h.Backend('echo')
    hd = start_limited('--http', '127.0.0.1:0', '--ack-port', '127.0.0.1:0', '--target', e.target(),
                       '--no-persistent', '--queue-timeout', '60s',
                       label='harmonyd (64 fds, bulk)')
    h.check(limit_of(hd.pid) == NOFILE, 'the daemon runs with %r fds, not %d'
            % (limit_of(hd.pid), NOFILE))
    rc.settle(hd, hd.fd_count())
    fd0, lines0 = hd.fd_count(), log_lines(hd)
    chunk = b'b' * 65536
    socks = {}
    for _ in range(40):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', hd.port))
        socks[s.fileno()] = s
    knocks, admin_tries, admin_good = [], 0, 0
    moved = [0, 0]                      # bytes sent, bytes echoed
    t0 = time.monotonic()
    next_knock = t0
    while time.monotonic() < t0 + 8 and socks:
        poller = select.poll()
        for fd in socks:
            poller.register(fd, select.POLLIN | select.POLLOUT)
        for fd, ev in poller.poll(100):
            s = socks.get(fd)
            if s is None:
                continue
            try:
                if ev & select.POLLIN:
                    b = s.recv(262144)
                    if not b:
                        raise ConnectionResetError
                    moved[1] += len(b)
                if ev & select.POLLOUT:
                    moved[0] += s.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                del socks[fd]
                s.close()
        if time.monotonic() >= next_knock:
            # The ack and admin listeners get connections while fds are short.
            k = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            k.setblocking(False)
            k.connect_ex(('127.0.0.1', hd.ack_port))
            knocks.append(k)
            admin_tries += 1
            admin_good += admin_ok(hd)
            next_knock = time.monotonic() + 0.5
    h.log('bulk: %d of 40 sessions still moving data after 8 s: %d MiB sent, %d MiB '
          'echoed; admin answered %d of %d' % (len(socks), moved[0] >> 20,
                                               moved[1] >> 20, admin_good, admin_tries))
    h.check(hd.alive(), 'the daemon died')
    h.check(moved[1] > 0, 'no session moved any data')
    h.check(admin_good > 0, 'bulk: the admin port never answered during the load')
    # The traffic stops, the sessions stay open: the daemon must be idle.
    time.sleep(1.0)
    cpu0, t1 = rc.cpu_seconds(hd.pid), time.monotonic()
    quiet_tries = quiet_good = 0
    while time.monotonic() < t1 + 4:
        quiet_tries += 1
        quiet_good += admin_ok(hd)
        time.sleep(0.5)
    wall = time.monotonic() - t1
    cpu = rc.cpu_seconds(hd.pid) - cpu0
    lines = log_lines(hd) - lines0
    h.log('bulk: traffic stopped, %d sessions and %d ack knocks open: daemon CPU %.2f s '
          'in %.1f s, admin answered %d of %d, %d log lines' % (
              len(socks), len(knocks), cpu, wall, quiet_good, quiet_tries, lines))
    h.check(cpu < 0.5 * wall, 'bulk: the daemon used %.2f s of CPU in %.1f s with no '
            'traffic: spinning?' % (cpu, wall))
    h.check(quiet_good == quiet_tries, 'bulk: the admin port answered only %d of %d '
            'requests while the sessions were open' % (quiet_good, quiet_tries))
    h.check(lines < LOG_LINES_MAX, 'bulk: %d log lines: a flood' % lines)
    for s in list(socks.values()) + knocks:
        s.close()
    rc.settle(hd, fd0, timeout=30)
    h.check(admin_ok(hd), 'bulk: the admin port does not answer after the load')
    hd.stop()
    e.stop()


def part_ack():
    a = h.Backend('name', name='A')
    hd = start_limited('--http', '127.0.0.1:0', '--ack-port', '127.0.0.1:0',
                       '--target', a.target(), '--no-persistent',
                       label='harmonyd (64 fds, ack)')
    h.check(h.name_of(hd.port) == 'A', 'warm-up')
    rc.settle(hd, hd.fd_count())
    fd0, lines0 = hd.fd_count(), log_lines(hd)
    conns = []
    cpu0, t0 = rc.cpu_seconds(hd.pid), time.monotonic()
    for i in range(80):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(('127.0.0.%d' % (1 + i // 16), 0))
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', hd.ack_port))
        conns.append(s)
    tries = good = served = 0
    while time.monotonic() < t0 + 6:   # under the ack port's 10 s idle timeout
        tries += 1
        good += admin_ok(hd)
        try:
            served += h.name_of(hd.port, timeout=5) == 'A'
        except h.Failure:
            pass
        time.sleep(0.3)
    wall = time.monotonic() - t0
    cpu = rc.cpu_seconds(hd.pid) - cpu0
    lines = log_lines(hd) - lines0
    h.log('ack: 80 idle ack connections against %d fds: daemon CPU %.2f s in %.1f s, '
          'admin answered %d of %d, proxy served %d of %d, %d log lines'
          % (NOFILE, cpu, wall, good, tries, served, tries, lines))
    h.check(hd.alive(), 'the daemon died')
    h.check(cpu < 0.5 * wall, 'ack: the daemon used %.2f s of CPU in %.1f s: spinning?'
            % (cpu, wall))
    h.check(lines < LOG_LINES_MAX, 'ack: %d log lines in %.1f s: a flood' % (lines, wall))
    h.check(good == tries, 'ack: the admin port answered only %d of %d requests'
            % (good, tries))
    h.check(served == tries, 'ack: the proxy served only %d of %d clients' % (served, tries))
    for s in conns:
        s.close()
    recovered(hd, fd0, 'A', 'ack')
    hd.stop()
    a.stop()


def part_clients():
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
    h.log('the target after the episode: state %s, failures %d' % (t['state'], t['failures']))
    h.check(t['failures'] == 0, 'our own fd shortage was counted as %d connect failures '
            'of the target' % t['failures'])
    # Recovery.
    rc.settle(hd, fd0, timeout=30)
    for i in range(20):
        h.check(h.name_of(hd.port, timeout=15) == 'A', 'recovery: session %d not served' % i)
    rc.settle(hd, fd0)
    hd.stop()
    a.stop()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < NCLIENTS + 200:
        h.skip('RLIMIT_NOFILE hard limit %d is too low for %d clients' % (hard, NCLIENTS))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parts = os.environ.get('FDLIMIT_PARTS', 'raise clients bulk ack').split()
    if 'raise' in parts:
        part_raise(hard)
    if 'clients' in parts:
        part_clients()
    if 'bulk' in parts:
        part_bulk()
    if 'ack' in parts:
        part_ack()


h.run(main)
