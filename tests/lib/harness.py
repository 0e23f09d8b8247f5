"""harness: the shared library of Harmony's integration tests (tests/t_*.py).

Python 3, standard library only. A test is a function run by harness.run():

    import harness as h

    def main():
        be = h.Backend('name', name='A')
        hd = h.Harmonyd('--target', be.target(), '--no-persistent')
        with h.connect(hd.port) as s:
            h.check(h.recv_line(s) == b'A\\n', 'served by A')
        hd.stop()

    h.run(main)

run() turns a Failure (check/fail) or any other exception into exit status
1, Skip into 77 (automake's SKIP), and success into 0. Whatever happens,
every process started here is ended (by PID) and the temporary directory
removed; on failure the logs of the daemons and backends are printed.

Environment: HARMONYD and BACKEND (absolute paths, set by `make check`),
HARNESS_TIMEOUT (seconds for a whole test, default 300), HARMONYD_WRAPPER (a
command line put before the daemon's, e.g. valgrind: `make check-valgrind`).
"""

import array
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib

HARMONYD = os.environ.get('HARMONYD', '')
# The source tree (make check says; else the one this file is in: tests/lib/).
SRCDIR = os.environ.get('HARMONY_SRCDIR') or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
# The build tree's harmony-agent (make check says; else beside harmonyd's build).
AGENT = os.environ.get('HARMONY_AGENT') or (os.path.join(
    os.path.dirname(os.path.dirname(HARMONYD)), 'agent', 'harmony-agent') if HARMONYD else '')
BACKEND = os.environ.get('BACKEND', '')
TEST_TIMEOUT = int(os.environ.get('HARNESS_TIMEOUT', '300'))
# The daemon runs under it (valgrind is some 20 times slower): more time.
HARMONYD_WRAPPER = shlex.split(os.environ.get('HARMONYD_WRAPPER', ''))
_SLOW = 4 if HARMONYD_WRAPPER else 1
START_TIMEOUT = 15 * _SLOW  # harmonyd/backend must say where they listen by then
STOP_TIMEOUT = 15 * _SLOW   # SIGTERM to exit: the daemon's grace is 10 s

_procs = []                 # every Proc started, for cleanup
_tmpdir = None


# --- outcome -----------------------------------------------------------

class Failure(Exception):
    """The behaviour under test is wrong."""


class Skip(Exception):
    """A prerequisite is missing: exit 77."""


def fail(msg):
    raise Failure(msg)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def skip(msg):
    raise Skip(msg)


def log(msg):
    """A progress note in the test's .log file."""
    print('# ' + msg, flush=True)


def _on_alarm(signum, frame):
    raise Failure('test did not finish within %d s' % TEST_TIMEOUT)


def _on_signal(signum, frame):
    raise Failure('killed by signal %d' % signum)


def run(main):
    """Runs main() and exits 0 (pass), 1 (fail) or 77 (skip)."""
    code = 0
    signal.signal(signal.SIGALRM, _on_alarm)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    signal.alarm(TEST_TIMEOUT)
    try:
        for var, path in (('HARMONYD', HARMONYD), ('BACKEND', BACKEND)):
            if not path:
                skip('%s is not set: run through `make check`' % var)
            check(os.access(path, os.X_OK), '%s=%s is not an executable' % (var, path))
        main()
        print('PASS')
    except Skip as e:
        print('SKIP: %s' % e)
        code = 77
    except Failure as e:
        print('FAIL: %s' % e)
        code = 1
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        print('FAIL: unexpected exception')
        code = 1
    finally:
        signal.alarm(0)
        if code == 1:
            for p in _procs:
                p.dump()
        _cleanup()
    sys.stdout.flush()
    os._exit(code)


def _cleanup():
    for p in _procs:
        p.kill()
    if _tmpdir is not None:
        shutil.rmtree(_tmpdir, ignore_errors=True)


def tmpdir():
    """The test's own temporary directory (removed at the end)."""
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix='harmony-test-')
    return _tmpdir


def write_file(name, data):
    """Writes data (str or bytes) to a file in tmpdir(); returns its path."""
    path = os.path.join(tmpdir(), name)
    with open(path, 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


# --- waiting -----------------------------------------------------------

def wait_until(pred, timeout=10.0, interval=0.05):
    """Polls pred() until it is true or timeout s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Task:
    """fn(*args) in a thread; join() returns its result or re-raises."""

    def __init__(self, fn, *args):
        self.result = None
        self.error = None
        self._t = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._t.start()

    def _run(self, fn, args):
        try:
            self.result = fn(*args)
        except BaseException as e:       # handed to join()
            self.error = e

    def join(self, timeout=60.0):
        self._t.join(timeout)
        if self._t.is_alive():
            fail('a client thread did not finish within %.0f s' % timeout)
        if self.error is not None:
            raise self.error
        return self.result


# --- processes ---------------------------------------------------------

class _LineReader(threading.Thread):
    """Drains a pipe into a list of lines so the writer never blocks."""

    def __init__(self, pipe, on_line=None):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.on_line = on_line
        self.start()

    def run(self):
        for raw in iter(self.pipe.readline, b''):
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            with self.cond:
                self.lines.append(line)
                if self.on_line is not None:
                    self.on_line(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def text(self):
        with self.cond:
            return '\n'.join(self.lines)

    def wait_for(self, regex, timeout, start=0):
        """The first match of regex in a line (from index start on), or None."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))


class Proc:
    """A child process with stdout and stderr drained by threads."""

    def __init__(self, label, cmd, env=None, on_stdout=None):
        self.label = label
        self.cmd = cmd
        self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env)
        _procs.append(self)
        self.pid = self.popen.pid
        self.out = _LineReader(self.popen.stdout, on_stdout)
        self.err = _LineReader(self.popen.stderr)

    def alive(self):
        return self.popen.poll() is None

    def fd_count(self):
        return fd_count(self.pid)

    def rss_kb(self):
        return rss_kb(self.pid)

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then the exit status (None if still running after timeout)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.out.join(5)
        self.err.join(5)
        return rc

    def stop(self):
        """SIGTERM; fails unless it exits with status 0 within STOP_TIMEOUT."""
        rc = self.terminate()
        check(rc is not None, '%s did not exit within %d s of SIGTERM'
              % (self.label, STOP_TIMEOUT))
        check(rc == 0, '%s exited with status %s after SIGTERM' % (self.label, rc))

    def kill(self):
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
            except OSError:
                pass

    def dump(self, tail=80):
        print('----- %s (pid %d, status %s): %s' % (
            self.label, self.pid, self.popen.poll(), ' '.join(self.cmd)))
        for what, r in (('stderr', self.err), ('stdout', self.out)):
            lines = r.lines[-tail:]
            if lines:
                print('  [%s, last %d lines]' % (what, len(lines)))
                for line in lines:
                    print('  ' + line)


def _sanitizer_report(text):
    for marker in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                   'runtime error:', 'WARNING: AddressSanitizer'):
        if marker in text:
            return marker
    return None


def _hostport(text):
    host, _, port = text.rpartition(':')
    return host.strip('[]'), int(port)


class Harmonyd(Proc):
    """The daemon under test.

    With base=True (the default) it gets `--listen 127.0.0.1:0 --ack-port 0
    --http 0` before args. access_log=True adds --access-log to a file read
    back by access_lines(). It is running and listening once this returns.
    """

    _count = 0

    def __init__(self, *args, base=True, access_log=False, env=None,
                 label=None):
        Harmonyd._count += 1
        cmd = HARMONYD_WRAPPER + [HARMONYD]
        if base:
            cmd += ['--listen', '127.0.0.1:0', '--ack-port', '0', '--http', '0']
        self.access_log = None
        self._settle_ok = True
        if access_log:
            self.access_log = os.path.join(tmpdir(), 'access-%d.log' % Harmonyd._count)
            cmd += ['--access-log', self.access_log]
        cmd += [str(a) for a in args]
        super().__init__(label or 'harmonyd#%d' % Harmonyd._count, cmd, env=env)
        m = self.err.wait_for(r'listening: clients (\S+)', START_TIMEOUT)
        if m is None:
            self.kill()
            fail('%s did not log "listening: clients ADDR:PORT" within %d s '
                 '(status %s); stderr:\n%s' % (self.label, START_TIMEOUT,
                                               self.popen.poll(), self.err.text()))
        self.host, self.port = _hostport(m.group(1))
        self.ack_port = self._other_port('ack')
        self.http_port = self._other_port('http')

    def _other_port(self, what):
        # Logged before or right after the clients line; no need to wait long.
        m = self.err.wait_for(r'listening: %s (\S+)' % what, 0.2)
        return _hostport(m.group(1))[1] if m else None

    def log_text(self):
        return self.err.text()

    def wait_log(self, regex, timeout=10.0):
        return self.err.wait_for(regex, timeout)

    def stop(self):
        super().stop()
        marker = _sanitizer_report(self.err.text())
        check(marker is None, '%s printed a sanitizer report (%s)' % (self.label, marker))

    def access_lines(self):
        """The access log so far, as a list of dicts (logfmt fields)."""
        if self.access_log is None or not os.path.exists(self.access_log):
            return []
        with open(self.access_log, encoding='utf-8', errors='replace') as f:
            return [parse_logfmt(line) for line in f if line.strip()]

    def wait_access(self, n, timeout=10.0):
        """Waits for at least n access-log lines; returns them."""
        wait_until(lambda: len(self.access_lines()) >= n, timeout)
        return self.access_lines()

    def _access_count(self):
        try:
            with open(self.access_log, 'rb') as f:
                return f.read().count(b'\n')
        except FileNotFoundError:
            return 0

    def settle(self, n, timeout=5.0):
        """Waits until n sessions have ended (n access-log lines), so that the
        next connection finds no session still open. Best effort: without an
        access log, or once a line failed to come, it just pauses briefly."""
        if self.access_log is not None and self._settle_ok:
            if wait_until(lambda: self._access_count() >= n, timeout, 0.002):
                return
            log('%s: no access-log line for session %d within %.0f s; '
                'pacing with short sleeps instead' % (self.label, n, timeout))
            self._settle_ok = False
        time.sleep(0.02)


class Backend(Proc):
    """tests/lib/backend in one mode; see tests/lib/backend.c.

    Tracks from its stdout: port, cur (open connections), max (most at
    once), total (accepted), and done: one (bytes read, crc32) per closed
    connection.
    """

    def __init__(self, mode, name=None, nbytes=None, delay_ms=None, seed=None,
                 listen='127.0.0.1:0', status_file=None):
        self.mode = mode
        self.name = name
        self.cur = self.max = self.total = 0
        self.done = []
        cmd = [BACKEND, '--listen', listen, '--mode', mode]
        for flag, v in (('--name', name), ('--bytes', nbytes),
                        ('--delay', delay_ms), ('--seed', seed),
                        ('--status-file', status_file)):
            if v is not None:
                cmd += [flag, str(v)]
        super().__init__('backend %s%s' % (mode, ' ' + name if name else ''),
                         cmd, on_stdout=self._on_line)
        m = self.out.wait_for(r'^port (\d+)$', START_TIMEOUT)
        if m is None:
            self.kill()
            fail('%s did not print its port; stderr:\n%s' % (self.label, self.err.text()))
        self.port = int(m.group(1))

    def _on_line(self, line):
        m = re.match(r'conn (\d+) max (\d+) total (\d+)$', line)
        if m:
            self.cur, self.max, self.total = (int(x) for x in m.groups())
            return
        m = re.match(r'done in=(\d+) crc=([0-9a-f]+)$', line)
        if m:
            self.done.append((int(m.group(1)), int(m.group(2), 16)))

    def target(self, weight=None):
        """The --target value for this backend."""
        t = '127.0.0.1:%d' % self.port
        return t if weight is None else '%s@%d' % (t, weight)

    def dump(self, tail=20):
        super().dump(tail)


def run_harmonyd(*args, timeout=20):
    """Runs harmonyd with exactly args to its end: (status, stdout, stderr)."""
    cmd = HARMONYD_WRAPPER + [HARMONYD] + [str(a) for a in args]
    timeout *= _SLOW
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail('%s did not exit within %d s' % (' '.join(cmd), timeout))
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def children(pid):
    """PIDs whose parent is pid, from /proc."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                # pid (comm) state ppid ...: comm may hold spaces and ')'.
                fields = f.read().rpartition(')')[2].split()
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(name))
    return out


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    fail('no VmRSS for pid %d' % pid)


def parse_logfmt(line):
    """'a=1 b="x y" c=' -> {'a': '1', 'b': 'x y', 'c': ''}"""
    return {m.group(1): m.group(2).strip('"')
            for m in re.finditer(r'(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)', line)}


# --- sockets -----------------------------------------------------------

def connect(port, host='127.0.0.1', source=None, timeout=30.0):
    """A connected TCP socket (from source, an address of 127.0.0.0/8)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


class DeadPort:
    """A loopback port where connections are refused: bound, never listening.

    Holding the socket keeps the port from being reused meanwhile."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]

    def target(self, weight=None):
        t = '127.0.0.1:%d' % self.port
        return t if weight is None else '%s@%d' % (t, weight)

    def close(self):
        self.sock.close()


class BlackHole:
    """A loopback port where connects hang: a listener with a full accept
    queue, which never accepts.

    Linux drops a SYN when the accept queue is full (listen(0) holds one
    connection), so the connecting side just retransmits. The queue is filled
    with connections of our own until a probe connect really hangs; skips the
    test if that never happens.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fill = []
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            self.fill.append(s)
            if s.connect_ex(('127.0.0.1', self.port)) == 0:
                continue
            if select.select([], [s], [], 0.5)[1]:
                continue                # connected (or failed): not full yet
            return                      # this connect hangs: the queue is full
        self.close()
        skip('cannot make a loopback connect hang (full accept queue) here')

    def target(self, weight=None):
        t = '127.0.0.1:%d' % self.port
        return t if weight is None else '%s@%d' % (t, weight)

    def close(self):
        for s in self.fill:
            s.close()
        self.sock.close()


def recv_all(sock, timeout=30.0, limit=256 * 1024 * 1024):
    """Everything until EOF. A reset raises ConnectionResetError."""
    sock.settimeout(timeout)
    chunks, n = [], 0
    while n <= limit:
        b = sock.recv(1024 * 1024)
        if not b:
            return b''.join(chunks)
        chunks.append(b)
        n += len(b)
    fail('more than %d bytes without EOF' % limit)


def recv_line(sock, timeout=30.0, limit=65536):
    """Bytes up to and including the first newline (or what came before
    EOF, a reset or the timeout)."""
    deadline = time.monotonic() + timeout
    buf = b''
    while b'\n' not in buf and len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            b = sock.recv(1)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        buf += b
    return buf


def recv_to_end(sock, timeout=30.0, limit=256 * 1024 * 1024):
    """Reads until the peer closes: (data, 'eof', 'reset' or 'timeout').

    timeout is for the whole read."""
    deadline = time.monotonic() + timeout
    chunks, n = [], 0
    while n <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return b''.join(chunks), 'timeout'
        sock.settimeout(left)
        try:
            b = sock.recv(1024 * 1024)
        except ConnectionResetError:
            return b''.join(chunks), 'reset'
        except socket.timeout:
            return b''.join(chunks), 'timeout'
        if not b:
            return b''.join(chunks), 'eof'
        chunks.append(b)
        n += len(b)
    fail('more than %d bytes without EOF' % limit)


# --- payloads ----------------------------------------------------------

def crc32(data, crc=0):
    return zlib.crc32(data, crc)


def pattern(off, n, seed=0):
    """Bytes [off, off+n) of the backend's pattern (see tests/lib/backend.c)."""
    w0, w1 = off // 4, (off + n + 3) // 4
    a = array.array('I', range(seed + w0, seed + w1))
    assert a.itemsize == 4 and seed + w1 < 2 ** 32
    if sys.byteorder == 'big':
        a.byteswap()
    k = off % 4
    return a.tobytes()[k:k + n]


def pattern_crc(n, seed=0, chunk=1024 * 1024):
    crc = 0
    for off in range(0, n, chunk):
        crc = crc32(pattern(off, min(chunk, n - off), seed), crc)
    return crc


def send_pattern(sock, n, seed=0, chunk=256 * 1024, timeout=60.0):
    """Sends n pattern bytes; returns their crc32."""
    sock.settimeout(timeout)
    crc = 0
    for off in range(0, n, chunk):
        b = pattern(off, min(chunk, n - off), seed)
        crc = crc32(b, crc)
        sock.sendall(b)
    return crc


def recv_counted(sock, limit, timeout=60.0, on_chunk=None):
    """Reads until EOF: (byte count, crc32). Fails beyond limit bytes."""
    sock.settimeout(timeout)
    buf = bytearray(1024 * 1024)
    view = memoryview(buf)
    n, crc = 0, 0
    while True:
        k = sock.recv_into(buf)
        if k == 0:
            return n, crc
        crc = crc32(view[:k], crc)
        n += k
        check(n <= limit, 'received more than the %d bytes expected' % limit)
        if on_chunk is not None:
            on_chunk(n)


# --- common client actions ---------------------------------------------

def read_name(s, timeout=30.0):
    """Reads a name backend's line from s: (name, None), or (None, how the
    read ended: EOF, an error or the timeout, after how long, with what)."""
    t0 = time.monotonic()
    buf, how = b'', 'timeout'
    while b'\n' not in buf:
        left = t0 + timeout - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            b = s.recv(64)
        except socket.timeout:
            break
        except OSError as e:
            how = 'error %r' % e
            break
        if not b:
            how = 'EOF'
            break
        buf += b
    if buf.endswith(b'\n'):
        return buf.decode().strip(), None
    return None, '%s after %.2f s with %r' % (how, time.monotonic() - t0, buf)


def name_of(port, source=None, timeout=30.0):
    """Connects (from source), reads the name backend's line, closes."""
    with connect(port, source=source, timeout=timeout) as s:
        name, seen = read_name(s, timeout)
    check(name is not None, 'expected a name line from a backend: %s' % seen)
    return name


def expect_unavailable(port, text, timeout=30.0, source=None):
    """Connects; the daemon must send exactly text, then close (EOF).

    Returns the seconds it took."""
    t0 = time.monotonic()
    with connect(port, source=source, timeout=timeout) as s:
        data, how = recv_to_end(s, timeout, limit=1024 * 1024)
    elapsed = time.monotonic() - t0
    check(data == text and how == 'eof',
          'expected the unavailable text %r then EOF, got %r then %s'
          % (text, data, how))
    return elapsed
