#!/usr/bin/env python3
"""Harmony benchmark: harmonyd against HAProxy, nginx stream and pen.

Starts two nginx backends on 127.0.0.1 (one worker each, serving a 100-byte
and a 1 MiB body), then, interleaved round-robin over several rounds, each
proxy in TCP mode balancing least-connections over both backends, plus a
"direct" row with no proxy. wrk drives four workloads:

  ka     keep-alive, 100 B bodies, 50 connections
  close  a new TCP connection per request (Connection: close), 50 connections
  bulk   1 MiB bodies, keep-alive, 10 connections
  idle   8000 idle client connections held open through the proxy while
         `ka` runs beside them
  scale  harmonyd alone: 20 services, 10 000 targets heartbeating over the
         ack port, 100 000 persistence entries, 5 SSE watchers, while `ka`
         runs through one service, against `ka` through a harmonyd with one
         service and two targets (class Scale; its own section of RESULTS.md)

For each (workload, proxy): requests/s, MiB/s, p50/p99 latency, the proxy's
CPU time per request (utime+stime of its processes, /proc/PID/stat), its
resident memory (VmRSS of the process holding the sessions) and, for idle,
memory per idle session. Medians over rounds, each also as a ratio to HAProxy
(the median of the per-round ratios: each round runs every proxy under the
same machine conditions). Prints a Markdown table and rewrites the results
section of bench/RESULTS.md.

Everything runs as our own processes with config files in a temp dir, on
ports chosen free at run time; every process started is ended by PID on exit,
failure, Ctrl-C or SIGTERM. Not part of `make check`: run `make bench`, or
  HARMONYD=build/src/harmonyd python3 bench/bench.py [--rounds 3] ...
"""

import argparse
import atexit
import datetime
import errno
import os
import platform
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "conf")
PACKAGES = ["haproxy", "nginx", "libnginx-mod-stream", "pen", "wrk"]
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PROXIES = ["harmonyd", "haproxy", "nginx", "pen"]
# "base" is a second harmonyd build (--base PATH), to measure a change A/B.
ROWS = ["direct", "harmonyd", "base", "haproxy", "nginx", "pen"]
WORKLOADS = ["ka", "close", "bulk", "idle", "scale"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MARK_BEGIN = "<!-- bench:results:begin -->"
MARK_END = "<!-- bench:results:end -->"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- processes ------------------------------------------------------------

class Procs:
    """Every process we start, ended by PID (never by name) on the way out."""

    def __init__(self):
        self.live = []          # (Popen, name)
        self.extra = {}         # pid -> name: children (nginx workers)

    def start(self, name, argv, log_path, **kw):
        out = open(log_path, "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 **kw)
        finally:
            out.close()
        self.live.append((p, name))
        return p

    def adopt_children(self, pid, name):
        kids = children_of(pid)
        for k in kids:
            self.extra[k] = name
        return kids

    def stop(self, p, grace=3.0):
        """SIGTERM, then SIGKILL after grace; also its recorded children."""
        kids = [k for k in children_of(p.pid)] if p.poll() is None else []
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        for k in kids:
            self._kill_pid(k)
            self.extra.pop(k, None)
        self.live = [(q, n) for (q, n) in self.live if q is not p]

    def _kill_pid(self, pid):
        # A child of ours that outlived its parent (say, an nginx worker):
        # only while /proc still shows it as the same program we recorded.
        deadline = time.monotonic() + 2
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop_all(self):
        for p, _ in reversed(list(self.live)):
            try:
                self.stop(p, grace=2.0)
            except Exception as e:  # keep cleaning up
                log(f"cleanup of pid {p.pid}: {e}")
        for pid in list(self.extra):
            self._kill_pid(pid)
        self.extra.clear()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2] != "Z"


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])      # utime, stime
    return total


def cpu_split(pid):
    """(utime, stime) ticks of pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return 0, 0
    fields = st[st.rfind(")") + 2:].split()
    return int(fields[11]), int(fields[12])


def cpu_ns(pid):
    """CPU time of every thread of pid in ns (/proc/PID/task/*/schedstat):
    finer than the ticks of /proc/PID/stat, for small per-event costs."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def nfds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def free_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"process {proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listening on port {port} after {timeout}s")


def render(template, out, **subst):
    with open(os.path.join(CONF, template)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace(f"@{k}@", str(v))
    with open(out, "w") as f:
        f.write(text)
    return out


# --- packages -------------------------------------------------------------

def have_tools(scale_only=False):
    if scale_only:
        return all(shutil.which(t) for t in ("nginx", "wrk"))
    return all(shutil.which(t) for t in ("haproxy", "nginx", "pen", "wrk")) and \
        os.path.exists(STREAM_MODULE)


def ensure_packages(allow_install, scale_only=False):
    if have_tools(scale_only):
        return
    if not allow_install or os.geteuid() != 0:
        raise BenchError("missing tools; as root run: apt-get install -y " + " ".join(PACKAGES))
    log("installing " + " ".join(PACKAGES))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # No packaged service may start (and hold ports) during the install.
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
        made_policy = True
    try:
        cmd = ["apt-get", "install", "-y", "-q"] + PACKAGES
        if subprocess.run(cmd, env=env, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, timeout=300)
            if subprocess.run(cmd, env=env, timeout=600).returncode != 0:
                raise BenchError("apt-get install failed")
    finally:
        if made_policy:
            os.unlink(policy)
    stop_system_services()
    if not have_tools(scale_only):
        raise BenchError("tools still missing after apt-get install")


def stop_system_services():
    """A packaged nginx/haproxy service that the install started: stop it."""
    for name, pidfile in (("nginx", "/run/nginx.pid"), ("haproxy", "/run/haproxy.pid")):
        try:
            with open(pidfile) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid_alive(pid):
            log(f"stopping the system {name} service (pid {pid})")
            subprocess.run(["service", name, "stop"], timeout=30,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pkg_versions():
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"] + PACKAGES,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


# --- wrk ------------------------------------------------------------------

UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
UNIT_B = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_time(text):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    return float(m.group(1)) * UNIT_S[m.group(2)] if m else None


def parse_bytes(text):
    m = re.match(r"([\d.]+)(B|KB|MB|GB|TB)$", text)
    return float(m.group(1)) * UNIT_B[m.group(2)] if m else None


def parse_wrk(out):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if not m:
        raise BenchError("cannot parse wrk output:\n" + out)
    r["requests"] = int(m.group(1))
    r["secs"] = parse_time(m.group(2))
    r["bytes"] = parse_bytes(m.group(3))
    r["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    r["mibs"] = r["bytes"] / r["secs"] / 2 ** 20
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        r[key] = parse_time(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    return r


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = Procs()
        self.tmp = tempfile.mkdtemp(prefix="harmony-bench-")
        os.chmod(self.tmp, 0o755)       # nginx workers drop root
        self.deadline = time.monotonic() + args.budget
        self.samples = []       # dicts: round, workload, proxy, metrics
        self.notes = []

    # -- setup --

    def start_backends(self):
        root = os.path.join(self.tmp, "www")
        os.makedirs(root)
        with open(os.path.join(root, "100b"), "wb") as f:
            f.write(b"x" * 99 + b"\n")
        with open(os.path.join(root, "1m"), "wb") as f:
            f.write(os.urandom(1 << 20))
        self.backend_ports = free_ports(2)
        self.backends = []
        for i, port in enumerate(self.backend_ports):
            d = os.path.join(self.tmp, f"backend{i}")
            os.makedirs(os.path.join(d, "tmp"))
            conf = render("backend-nginx.conf", os.path.join(d, "nginx.conf"),
                          DIR=d, ROOT=root, PORT=port)
            p = self.procs.start(f"backend{i}", ["nginx", "-p", d, "-c", conf,
                                 "-e", os.path.join(d, "error.log")],
                                 os.path.join(d, "stdout.log"))
            wait_port(port, p)
            self.procs.adopt_children(p.pid, "nginx backend worker")
            self.backends.append(p)
        for port in self.backend_ports:
            for path, size in (("100b", 100), ("1m", 1 << 20)):
                got = http_get_len(port, "/" + path)
                if got != size:
                    raise BenchError(f"backend {port}/{path}: {got} bytes, not {size}")
        log(f"backends on ports {self.backend_ports}")

    def start_proxy(self, name):
        """Starts one proxy; returns (Popen, port, serving pid, all pids)."""
        port = free_ports(1)[0]
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        b1, b2 = self.backend_ports
        lp = os.path.join(d, "stdout.log")
        if name in ("harmonyd", "base"):
            binary = self.args.harmonyd if name == "harmonyd" else self.args.base
            argv = [binary, "--listen", f"127.0.0.1:{port}",
                    "--target", f"127.0.0.1:{b1}", "--target", f"127.0.0.1:{b2}",
                    "--no-persistent", "--balance", "leastconn",
                    "--ack-port", "0", "--http", "0", "-q"]
        elif name == "haproxy":
            servers = "\n".join(f"    server s{i} 127.0.0.1:{p}"
                                for i, p in enumerate(self.backend_ports))
            conf = render("haproxy.cfg", os.path.join(d, "haproxy.cfg"),
                          DIR=d, PORT=port, SERVERS=servers)
            argv = ["haproxy", "-db", "-f", conf]
        elif name == "nginx":
            servers = "\n".join(f"        server 127.0.0.1:{p};" for p in self.backend_ports)
            os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
            conf = render("nginx-stream.conf", os.path.join(d, "nginx.conf"),
                          DIR=d, PORT=port, SERVERS=servers)
            argv = ["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")]
        elif name == "pen":
            # -r: round robin (its least-connections start piles a burst onto
            # the first server); tcp_nodelay, or delayed ACKs cut bandwidth;
            # -x/-c: room for the idle workload's sessions.
            argv = ["pen", "-f", "-r", "-O", "tcp_nodelay", "-x", "9000", "-c", "9000",
                    f"127.0.0.1:{port}", f"127.0.0.1:{b1}", f"127.0.0.1:{b2}"]
        else:
            raise ValueError(name)
        p = self.procs.start(name, argv, lp)
        wait_port(port, p)
        pids = [p.pid]
        serving = p.pid
        if name == "nginx":
            kids = []
            for _ in range(50):
                kids = self.procs.adopt_children(p.pid, "nginx stream worker")
                if kids:
                    break
                time.sleep(0.05)
            if len(kids) != 1:
                raise BenchError(f"nginx stream: {len(kids)} workers, expected 1")
            serving = kids[0]
            pids += kids
        return p, port, serving, pids

    # -- load --

    def wrk(self, port, path, conns, secs, close=False):
        argv = [self.args.wrk, "-t1", f"-c{conns}", f"-d{secs}s", "--latency",
                "--timeout", "5s"]
        if close:
            argv += ["-H", "Connection: close"]
        argv.append(f"http://127.0.0.1:{port}{path}")
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30)
        except subprocess.TimeoutExpired:
            raise BenchError("wrk did not finish in time")
        if cp.returncode != 0:
            raise BenchError(f"wrk failed ({cp.returncode}): {cp.stderr.strip()}")
        return parse_wrk(cp.stdout)

    def measure(self, port, path, conns, close, pids, serving):
        """Warm-up, then the measured run with the proxy's CPU time around it."""
        self.wrk(port, path, conns, self.args.warmup, close)
        t0 = cpu_ticks(pids)
        r = self.wrk(port, path, conns, self.args.duration, close)
        t1 = cpu_ticks(pids)
        if pids:
            r["cpu_us"] = (t1 - t0) / CLK_TCK / max(r["requests"], 1) * 1e6
            r["cpu_pct"] = (t1 - t0) / CLK_TCK / r["secs"] * 100
            r["rss_kib"] = status_kib(serving, "VmRSS")
        return r

    def open_idle(self, n, ports):
        """n connected client sockets, spread over ports, in small batches."""
        socks = []
        batch = 250
        try:
            while len(socks) < n:
                pending = {}
                for _ in range(min(batch, n - len(socks) - len(pending))):
                    s = socket.socket()
                    s.setblocking(False)
                    port = ports[(len(socks) + len(pending)) % len(ports)]
                    e = s.connect_ex(("127.0.0.1", port))
                    if e not in (0, errno.EINPROGRESS):
                        s.close()
                        raise BenchError(f"idle connect: {os.strerror(e)}")
                    pending[s.fileno()] = s
                poller = select.poll()
                for fd in pending:
                    poller.register(fd, select.POLLOUT)
                deadline = time.monotonic() + 10
                while pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        for s in pending.values():
                            s.close()
                        raise BenchError("idle connections did not complete")
                    for fd, _ in poller.poll(left * 1000):
                        s = pending.pop(fd)
                        poller.unregister(fd)
                        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if e:
                            s.close()
                            raise BenchError(f"idle connect: {os.strerror(e)}")
                        socks.append(s)
        except BaseException:
            for s in socks:
                s.close()
            raise
        return socks

    @staticmethod
    def count_dropped(socks):
        """Idle sockets the far end has closed (readable: EOF or reset)."""
        dropped = 0
        poller = select.poll()
        for s in socks:
            poller.register(s.fileno(), select.POLLIN)
        for _fd, ev in poller.poll(0):
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                dropped += 1
        return dropped

    def run_idle(self, name, port, pids, serving):
        n = self.args.idle
        ports = [port] if name != "direct" else self.backend_ports
        self.wrk(port if name != "direct" else self.backend_ports[0],
                 "/100b", 50, self.args.warmup)
        time.sleep(0.3)
        rss0 = status_kib(serving, "VmRSS") if pids else None
        fds0 = nfds(serving) if pids else 0
        socks = self.open_idle(n, ports)
        try:
            if pids:
                # wait for the proxy to open its n target connections too
                deadline = time.monotonic() + 20
                while nfds(serving) < fds0 + 2 * n and time.monotonic() < deadline:
                    time.sleep(0.1)
                got = nfds(serving) - fds0
                if got < 2 * n:
                    self.notes.append(f"{name}: only {got} of {2 * n} fds opened for idle sessions")
            time.sleep(0.5)
            rss1 = status_kib(serving, "VmRSS") if pids else None
            kaport = port if name != "direct" else self.backend_ports[0]
            r = self.measure(kaport, "/100b", 50, False, pids, serving)
            dropped = self.count_dropped(socks)
            if dropped:
                self.notes.append(f"{name}: {dropped} of {n} idle connections were closed during the run")
            r["idle_dropped"] = dropped
            if pids:
                r["idle_b"] = (rss1 - rss0) * 1024 / n
                r["rss_idle_kib"] = rss1
        finally:
            for s in socks:
                s.close()
        return r

    def run_one(self, rnd, wl, name):
        if time.monotonic() > self.deadline:
            raise TimeoutError
        proc = None
        try:
            if name == "direct":
                port, pids, serving = self.backend_ports[0], [], None
            else:
                proc, port, serving, pids = self.start_proxy(name)
                if name != "direct":
                    # quick sanity check: the proxy serves both bodies
                    if http_get_len(port, "/100b") != 100:
                        raise BenchError(f"{name} does not relay")
            if wl == "ka":
                r = self.measure(port, "/100b", 50, False, pids, serving)
            elif wl == "close":
                r = self.measure(port, "/100b", 50, True, pids, serving)
            elif wl == "bulk":
                r = self.measure(port, "/1m", 10, False, pids, serving)
            else:
                r = self.run_idle(name, port, pids, serving)
        finally:
            if proc is not None:
                self.procs.stop(proc)
        r.update(round=rnd, workload=wl, proxy=name)
        if r["errors"] or r["non2xx"]:
            self.notes.append(f"round {rnd} {wl} {name}: {r['errors']} socket errors, "
                              f"{r['non2xx']} non-2xx responses")
        self.samples.append(r)
        extra = ""
        if "cpu_us" in r:
            extra = f" cpu {r['cpu_us']:.1f}us/req ({r['cpu_pct']:.0f}%) rss {r['rss_kib']}KiB"
        if "idle_b" in r:
            extra += f" idle {r['idle_b']:.0f}B/session"
        log(f"r{rnd} {wl:5} {name:8} {r['rps']:10.0f} req/s {r['mibs']:8.1f} MiB/s "
            f"p50 {fmt_lat(r['p50'])} p99 {fmt_lat(r['p99'])}{extra}")

    def run(self):
        self.start_backends()
        rows = [p for p in ROWS if p in self.args.proxies]
        workloads = [w for w in self.args.workloads if w != "scale"]
        try:
            for rnd in range(1, self.args.rounds + 1 if workloads else 1):
                # rotate the order each round so nobody always goes first
                k = (rnd - 1) % len(rows)
                order = rows[k:] + rows[:k]
                for wl in workloads:
                    for name in order:
                        self.run_one(rnd, wl, name)
        except TimeoutError:
            self.notes.append(f"time budget of {self.args.budget}s reached: "
                              "later rounds were not run")
            log("time budget reached, stopping")

    def cleanup(self):
        self.procs.stop_all()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --- the scale workload -----------------------------------------------------
#
# harmonyd alone (no other proxy): one daemon holding 20 services, 10 000
# targets registered over the ack port and heartbeating, 100 000 persistence
# entries and 5 SSE watchers, while ka runs through one service; against a
# daemon with one service and two targets. See RESULTS.md "Scale".

SCALE_SERVICES = 20
SCALE_MARK_BEGIN = "<!-- bench:scale:begin -->"
SCALE_MARK_END = "<!-- bench:scale:end -->"
NID_PER_CONN = 10               # ackproto.h allows 16 NIDs per connection
HB_CONNS = 32                   # heartbeat connections, one per source address
MAX_INFLIGHT = 256              # connections opened at once by a phase
SCALE_OPTIONS = [
    ("--scale-targets", int, 10000, "targets registered over the ack port"),
    ("--scale-entries", int, 100000,
     "persistence entries (clients from as many loopback addresses)"),
    ("--scale-beat-s", float, 10.0, "seconds between two heartbeats of a target"),
    ("--scale-timeout", int, 60, "the daemon's --host-timeout, seconds"),
    ("--scale-watchers", int, 5, "clients watching /api/v1/events"),
    ("--scale-cpu-s", int, 10, "seconds of heartbeats alone, for CPU per heartbeat"),
    ("--scale-phase-s", int, 180, "at most this long to register, and to fill persistence"),
]


def loopback(block, i):
    """The i-th address of a loopback block (127.block.y.z, z in 1..254):
    a source address of its own for each simulated client or backend host."""
    b, y, z = block + i // (256 * 254), (i // 254) % 256, i % 254 + 1
    if b > 254:
        raise BenchError("loopback block exhausted")
    return f"127.{b}.{y}.{z}"


def bound_socket(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    # The port comes at connect: 100 000 sources need no port each.
    s.setsockopt(socket.SOL_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
    s.bind((src, 0))
    return s


class Conn:
    """A non-blocking client connection of a phase, with what it has read."""

    def __init__(self, sock, job):
        self.sock, self.job = sock, job
        self.out = b""
        self.buf = b""
        self.connected = False
        self.started = time.monotonic()


def run_conns(jobs, make, on_data, deadline, inflight=MAX_INFLIGHT):
    """Runs jobs, at most inflight at once: make(job) -> (socket, first
    bytes, port); on_data(conn, eof) -> True when the job is finished (the
    socket is then closed). Returns the jobs not finished by deadline."""
    sel = selectors.DefaultSelector()
    todo = list(jobs)
    todo.reverse()
    live = 0
    unfinished = []
    try:
        while (todo or live) and time.monotonic() < deadline:
            while todo and live < inflight:
                job = todo.pop()
                try:
                    s, first, port = make(job)
                except OSError as e:
                    raise BenchError(f"socket for {job}: {e}")
                e = s.connect_ex(("127.0.0.1", port))
                if e not in (0, errno.EINPROGRESS):
                    s.close()
                    unfinished.append(job)
                    continue
                c = Conn(s, job)
                c.out = first
                sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, c)
                live += 1
            for key, ev in sel.select(0.5):
                c = key.data
                done = False
                if ev & selectors.EVENT_WRITE and c.out:
                    try:
                        n = c.sock.send(c.out)
                        c.out = c.out[n:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        done = True
                        unfinished.append(c.job)
                    if not c.out and not done:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if not done and ev & selectors.EVENT_READ:
                    try:
                        data = c.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = None
                    if data:
                        c.buf += data
                        done = on_data(c, False)
                    else:
                        done = on_data(c, True)
                        if not done:
                            unfinished.append(c.job)
                            done = True
                if done:
                    sel.unregister(c.sock)
                    c.sock.close()
                    live -= 1
            # a connection stuck for 10 s: given up (retried by the caller)
            now = time.monotonic()
            for key in list(sel.get_map().values()):
                c = key.data
                if now - c.started > 10:
                    sel.unregister(c.sock)
                    c.sock.close()
                    live -= 1
                    unfinished.append(c.job)
    finally:
        for key in list(sel.get_map().values()):
            key.data.sock.close()
            unfinished.append(key.data.job)
        sel.close()
    todo.reverse()
    return unfinished + todo


def http_json(port, method, path, body=None, timeout=30):
    import http.client
    import json
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, json.dumps(body) if body is not None else None, hdrs)
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        c.close()


class Background(threading.Thread):
    """Heartbeats for every key at the given rate, over HB_CONNS ack
    connections, and SSE watchers reading /api/v1/events; until stopped."""

    def __init__(self, ack_port, http_port, keys, beat_s, watchers):
        super().__init__(daemon=True)
        self.ack_port, self.http_port = ack_port, http_port
        self.keys, self.rate = keys, len(keys) / beat_s
        self.nwatch = watchers
        self.watching = False       # watchers opened once this is set
        self.lock = threading.Lock()
        self.beating = True
        self.stopping = False
        self.sent = self.acked = self.bids = 0
        self.sse_bytes = self.sse_events = 0
        self.sse_conns = 0
        self.error = None

    def counters(self):
        with self.lock:
            return dict(sent=self.sent, acked=self.acked, bids=self.bids,
                        sse_bytes=self.sse_bytes, sse_events=self.sse_events,
                        sse_conns=self.sse_conns)

    def watch(self):
        with self.lock:
            self.watching = True

    def pause(self, paused):
        with self.lock:
            self.beating = not paused

    def stop(self):
        self.stopping = True
        self.join(10)

    def _hb_conn(self, i):
        s = socket.socket()
        s.bind((loopback(2, i), 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", self.ack_port))
        s.setblocking(False)
        return s

    def _sse_conn(self):
        s = socket.create_connection(("127.0.0.1", self.http_port), timeout=5)
        s.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{self.http_port}\r\n"
                  "Accept: text/event-stream\r\n\r\n".encode())
        s.setblocking(False)
        return s

    def run(self):
        try:
            self._run()
        except Exception as e:      # reported by the caller
            self.error = repr(e)

    def _run(self):
        sel = selectors.DefaultSelector()
        hb = [None] * HB_CONNS
        pend = [b""] * HB_CONNS
        tail = {}
        sse = []
        cursor = 0
        owed = 0.0
        last = time.monotonic()
        while not self.stopping:
            now = time.monotonic()
            with self.lock:
                beating, watching = self.beating, self.watching
            while watching and len(sse) < self.nwatch:
                s = self._sse_conn()
                sse.append(s)
                sel.register(s, selectors.EVENT_READ, ("sse", s))
                with self.lock:
                    self.sse_conns = len(sse)
            if beating:
                owed = min(owed + (now - last) * self.rate, self.rate)   # at most 1 s behind
            last = now
            n = int(owed)
            if n > 0:
                owed -= n
                per = [[] for _ in range(HB_CONNS)]
                for j in range(n):
                    per[(cursor + j) % HB_CONNS].append(self.keys[(cursor + j) % len(self.keys)])
                cursor = (cursor + n) % (len(self.keys) * HB_CONNS)
                for i, ks in enumerate(per):
                    if not ks:
                        continue
                    if hb[i] is None:
                        hb[i] = self._hb_conn(i)
                        tail[hb[i]] = b""
                        sel.register(hb[i], selectors.EVENT_READ, ("hb", i))
                    pend[i] += b"".join(b"ACK:" + k + b":" for k in ks)
                    try:
                        m = hb[i].send(pend[i])
                        pend[i] = pend[i][m:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._drop(sel, hb, tail, i)
                        pend[i] = b""
                    with self.lock:
                        self.sent += len(ks)
            for key, _ in sel.select(0.02):
                kind, x = key.data
                if kind == "sse":
                    try:
                        data = x.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise BenchError("an SSE watcher's stream ended")
                    with self.lock:
                        self.sse_bytes += len(data)
                        self.sse_events += data.count(b"event: snapshot")
                    continue
                s = hb[x]
                try:
                    data = s.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:        # idle close (ackport.h): reopened when needed
                    self._drop(sel, hb, tail, x)
                    continue
                # answers come in pairs VERB:ARG:; a pair cut by the read waits
                toks = (tail[s] + data).split(b":")
                partial = toks.pop()
                if len(toks) % 2:
                    partial = toks.pop() + b":" + partial
                tail[s] = partial
                acks = sum(1 for t in toks[0::2] if t == b"ACK")
                bids = sum(1 for t in toks[0::2] if t == b"BID")
                with self.lock:
                    self.acked += acks
                    self.bids += bids
            for i in range(HB_CONNS):
                if hb[i] is not None and pend[i]:
                    try:
                        m = hb[i].send(pend[i])
                        pend[i] = pend[i][m:]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self._drop(sel, hb, tail, i)
                        pend[i] = b""
        for s in sse + [h for h in hb if h is not None]:
            s.close()
        sel.close()

    @staticmethod
    def _drop(sel, hb, tail, i):
        s = hb[i]
        if s is None:
            return
        sel.unregister(s)
        tail.pop(s, None)
        s.close()
        hb[i] = None


class Scale:
    def __init__(self, bench):
        self.b = bench
        self.a = bench.args
        self.notes = []
        self.res = {}
        self.samples = []       # dicts: round, row, wrk result

    # -- daemons --

    def write_conf(self, name, conf):
        import json
        path = os.path.join(self.b.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(conf, f, indent=1)
        return path

    def start_daemon(self, name, conf):
        d = os.path.join(self.b.tmp, name)
        os.makedirs(d, exist_ok=True)
        path = self.write_conf(name, conf)
        p = self.b.procs.start(name, [self.a.harmonyd, "-c", path, "--log-level", "warn"],
                               os.path.join(d, "stdout.log"))
        return p, os.path.join(d, "stdout.log")

    def stop(self, p):
        if p is not None:
            self.b.procs.stop(p, grace=5)

    def daemon_conf(self, services):
        """Listen ports, ack port, http port and the config object."""
        b1, b2 = self.b.backend_ports
        statics = [f"127.0.0.1:{b1}", f"127.0.0.1:{b2}"]
        ports = free_ports(SCALE_SERVICES + 2)
        ack, http = ports[0], ports[1]
        top = {"ack-port": f"127.0.0.1:{ack}", "http": f"127.0.0.1:{http}",
               "host-timeout": f"{self.a.scale_timeout}s"}
        listens = {}
        if services:
            svc = {}
            for i in range(SCALE_SERVICES):
                name = f"s{i + 1:02d}"
                listens[name] = ports[2 + i]
                svc[name] = {"listen": f"127.0.0.1:{ports[2 + i]}"}
            # s01: ka's, as the baseline; s02: the persistence entries' clients.
            svc["s01"].update({"target": statics, "persistent": False,
                               "balance": "leastconn"})
            svc["s02"].update({"target": statics, "persistent": True,
                               "persist-max": self.a.scale_entries + 1000})
            top.update({"services": svc, "default": "s01"})
        else:
            listens["default"] = ports[2]
            top.update({"listen": f"127.0.0.1:{ports[2]}", "target": statics,
                        "persistent": True, "persist-max": self.a.scale_entries + 1000})
        return ack, http, listens, top

    def wait_up(self, p, port, logf):
        try:
            wait_port(port, p, timeout=15)
        except BenchError:
            with open(logf, errors="replace") as f:
                raise BenchError(f"harmonyd did not start: {f.read()[-500:]}")

    # -- phases --

    def register(self, ack, services):
        """self.a.scale_targets targets from 1000 source addresses over the
        ack port (NID, SPORT), spread over the services; returns the keys."""
        n = self.a.scale_targets
        jobs = []
        for peer in range((n + NID_PER_CONN - 1) // NID_PER_CONN):
            ports = [20000 + k for k in range(min(NID_PER_CONN, n - peer * NID_PER_CONN))]
            jobs.append((peer, services[peer % len(services)], ports))
        keys = {}

        def make(job):
            peer, svc, ports = job
            s = bound_socket(loopback(1, peer))
            msg = f"SVC:{svc}:" + "".join(f"NID::SPORT:{p}:" for p in ports)
            return s, msg.encode(), ack

        def on_data(c, eof):
            peer, svc, ports = c.job
            toks = c.buf.split(b":")
            got = [toks[i + 1] for i in range(0, len(toks) - 1, 2) if toks[i] == b"NID"
                   and toks[i + 1]]
            err = any(toks[i] == b"ERR" for i in range(0, len(toks) - 1, 2))
            if len(got) >= len(ports) or eof or err:
                for k, port in zip(got, ports):
                    keys[(peer, port)] = k
                rest = ports[len(got):]
                if rest:
                    retry.append((peer, svc, rest))
                    if err:
                        reasons[c.buf.split(b"ERR:")[-1].split(b":")[0].decode()] = 1
                return True
            return False

        t0 = time.monotonic()
        deadline = t0 + self.a.scale_phase_s
        reasons = {}
        attempt = 0
        while jobs and time.monotonic() < deadline:
            retry = []
            # few at once: each answering ack connection holds a 64 KiB
            # buffer (ackport.h), which would count in RSS per target
            left = run_conns(jobs, make, on_data, deadline, inflight=16)
            jobs = retry + left
            attempt += 1
            if jobs:
                # the ack port's NID rate (ackport.h): 1 a second per peer after a burst
                log(f"scale: {len(keys)} registered, {sum(len(j[2]) for j in jobs)} to retry"
                    f" ({', '.join(reasons) or 'connect'})")
                time.sleep(2)
        self.res["register_s"] = time.monotonic() - t0
        self.res["registered"] = len(keys)
        if len(keys) < n:
            self.notes.append(f"only {len(keys)} of {n} targets registered in "
                              f"{self.a.scale_phase_s} s")
        return list(keys.values())

    def drain_all(self, http_port, first_id, n):
        """One service only: the registered targets would take ka's traffic
        (their ports have no backend): drained, they stay listed and
        heartbeating but are never chosen. They are ids first_id.. (the
        shared id space hands them out in order), so no GET of all of them
        (a 3 MB answer, whose memory would count in RSS per entry)."""
        import http.client
        import json
        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
        done = 0
        try:
            for i in range(first_id, first_id + n):
                for _ in range(2):
                    try:
                        c.request("PATCH", f"/api/v1/targets/{i}",
                                  json.dumps({"state": "draining"}),
                                  {"Content-Type": "application/json"})
                        r = c.getresponse()
                        r.read()
                        done += r.status == 200
                        break
                    except (OSError, http.client.HTTPException):
                        c.close()
                        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
        finally:
            c.close()
        self.res["drained"] = done
        if done < n:
            self.notes.append(f"only {done} of {n} registered targets drained")

    def fill_persistence(self, port):
        """self.a.scale_entries clients, each from its own loopback address,
        one HTTP/1.0 request each through the persistence service: one entry
        each."""
        n = self.a.scale_entries
        req = b"GET /100b HTTP/1.0\r\nHost: x\r\n\r\n"
        ok = [0]

        def make(i):
            return bound_socket(loopback(3, i)), req, port

        def on_data(c, eof):
            if eof:
                if c.buf.startswith(b"HTTP/1.1 200") and c.buf.endswith(b"x" * 99 + b"\n"):
                    ok[0] += 1
                    return True
                return False
            return False

        t0 = time.monotonic()
        left = run_conns(range(n), make, on_data, t0 + self.a.scale_phase_s)
        if left:
            left = run_conns(left, make, on_data, t0 + 2 * self.a.scale_phase_s)
        self.res["fill_s"] = time.monotonic() - t0
        self.res["filled"] = ok[0]
        if left:
            self.notes.append(f"{len(left)} of {n} persistence clients failed")

    # -- the run --

    def run(self):
        a = self.a
        base_p = scale_p = bg = None
        try:
            # the scale daemon: 20 services if this harmonyd has them
            ack, http, listens, conf = self.daemon_conf(True)
            scale_p, logf = self.start_daemon("scale", conf)
            time.sleep(0.5)
            services = True
            if scale_p.poll() is not None:
                with open(logf, errors="replace") as f:
                    why = f.read().strip().splitlines()[-1:]
                services = False
                self.notes.append("this harmonyd has no \"services\" config yet "
                                  f"({why[0] if why else '?'}): one service only")
                ack, http, listens, conf = self.daemon_conf(False)
                scale_p, logf = self.start_daemon("scale", conf)
            self.wait_up(scale_p, list(listens.values())[0], logf)
            self.res["mode"] = f"{SCALE_SERVICES} services" if services else "one service"
            ka_svc = "s01" if services else "default"
            pers_svc = "s02" if services else None
            hb_svcs = [f"s{i + 1:02d}" for i in range(2, SCALE_SERVICES)] if services \
                else ["default"]
            http_get_len(listens[ka_svc], "/100b")
            st, body = http_json(http, "GET", "/api/v1/targets")
            first_id = max(t["id"] for t in body["targets"]) + 1
            time.sleep(0.5)
            rss0 = status_kib(scale_p.pid, "VmRSS")
            keys = self.register(ack, hb_svcs)
            time.sleep(1)
            rss1 = status_kib(scale_p.pid, "VmRSS")
            self.res["rss_per_target"] = (rss1 - rss0) * 1024 / max(len(keys), 1)
            log(f"scale: {len(keys)} targets in {self.res['register_s']:.1f} s, "
                f"RSS {rss0} -> {rss1} KiB")
            if not services:
                self.drain_all(http, first_id, len(keys))
                time.sleep(1)
                rss1 = status_kib(scale_p.pid, "VmRSS")
            # heartbeats from now on: none of them may time out meanwhile
            bg = Background(ack, http, keys, a.scale_beat_s, a.scale_watchers)
            bg.pause(True)
            bg.start()
            bg.pause(False)
            self.fill_persistence(listens[pers_svc or ka_svc])
            time.sleep(1)
            rss2 = status_kib(scale_p.pid, "VmRSS")
            bg.watch()
            entries = self.res["filled"]
            self.res["entries"] = entries
            self.res["rss_per_entry"] = (rss2 - rss1) * 1024 / max(entries, 1)
            self.res["rss_kib"] = rss2
            log(f"scale: {entries} persistence entries in {self.res['fill_s']:.1f} s, "
                f"RSS {rss1} -> {rss2} KiB")

            # CPU per heartbeat: heartbeats and watchers only, no ka
            time.sleep(3)
            c0, t0, n0 = bg.counters(), cpu_ticks([scale_p.pid]), cpu_ns(scale_p.pid)
            u0 = cpu_split(scale_p.pid)
            time.sleep(a.scale_cpu_s)
            c1, t1, n1 = bg.counters(), cpu_ticks([scale_p.pid]), cpu_ns(scale_p.pid)
            u1 = cpu_split(scale_p.pid)
            self.res["user_share"] = (u1[0] - u0[0]) / max(t1 - t0, 1)
            self.res["cpu_window_sse"] = c1["sse_events"] - c0["sse_events"]
            beats = c1["acked"] - c0["acked"]
            self.res["beats_per_s"] = beats / a.scale_cpu_s
            self.res["cpu_per_beat_us"] = (t1 - t0) / CLK_TCK / max(beats, 1) * 1e6
            self.res["cpu_per_beat_ns_us"] = (n1 - n0) / 1e3 / max(beats, 1)
            self.res["cpu_pct_beats"] = (t1 - t0) / CLK_TCK / a.scale_cpu_s * 100
            if c1["bids"]:
                self.notes.append(f"{c1['bids']} heartbeats answered BID (target lost)")
            log(f"scale: {beats} heartbeats in {a.scale_cpu_s} s, "
                f"{self.res['cpu_per_beat_us']:.1f} µs CPU each")

            # the baseline: one service, two targets, nothing else
            bconf = {"listen": "127.0.0.1:0", "ack-port": "0", "http": "0"}
            bport = free_ports(1)[0]
            b1, b2 = self.b.backend_ports
            bconf = {"listen": f"127.0.0.1:{bport}", "ack-port": "0", "http": "0",
                     "target": [f"127.0.0.1:{b1}", f"127.0.0.1:{b2}"],
                     "persistent": not services}
            base_p, blog = self.start_daemon("baseline", bconf)
            self.wait_up(base_p, bport, blog)

            for rnd in range(1, a.rounds + 1):
                order = ["baseline", "scale"] if rnd % 2 else ["scale", "baseline"]
                for row in order:
                    p = base_p if row == "baseline" else scale_p
                    port = bport if row == "baseline" else listens[ka_svc]
                    # the baseline's machine is quiet: no heartbeats meanwhile
                    bg.pause(row == "baseline")
                    s0 = bg.counters()
                    r = self.b.measure(port, "/100b", 50, False, [p.pid], p.pid)
                    s1 = bg.counters()
                    r.update(round=rnd, row=row,
                             beats=s1["acked"] - s0["acked"],
                             sse_events=s1["sse_events"] - s0["sse_events"],
                             sse_bytes=s1["sse_bytes"] - s0["sse_bytes"])
                    self.samples.append(r)
                    log(f"scale r{rnd} {row:8} {r['rps']:10.0f} req/s p99 {fmt_lat(r['p99'])}"
                        f" cpu {r['cpu_us']:.1f}us/req, {r['beats']} heartbeats,"
                        f" {r['sse_events']} SSE snapshots ({r['sse_bytes'] >> 10} KiB)")
                    if r["errors"] or r["non2xx"]:
                        self.notes.append(f"round {rnd} {row}: {r['errors']} socket errors, "
                                          f"{r['non2xx']} non-2xx")
            bg.pause(False)
            if bg.error:
                raise BenchError("heartbeats/watchers: " + bg.error)
            st, body = http_json(http, "GET", "/api/v1/status", timeout=60)
            self.res["status_targets"] = (body or {}).get("targets")
        finally:
            if bg is not None:
                bg.stop()
            self.stop(base_p)
            self.stop(scale_p)

    # -- report --

    def report(self, mach, hv):
        res, a = self.res, self.a

        def med(row, key):
            v = [s[key] for s in self.samples if s["row"] == row and s.get(key) is not None]
            return statistics.median(v) if v else None

        def ratio(key):
            rs = []
            for s in self.samples:
                if s["row"] != "scale":
                    continue
                for t in self.samples:
                    if t["row"] == "baseline" and t["round"] == s["round"] and t.get(key):
                        rs.append(s[key] / t[key])
            return statistics.median(rs) if rs else None

        md = [f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{hv}, {res.get('mode', '?')}; machine: {mach['nproc']} CPUs "
              f"({mach['cpu']}), Linux {mach['kernel']}, load average at start "
              f"{mach['load']}, shared with other work.", ""]
        md.append(f"Load: {res.get('registered', 0):,} targets registered over the ack port "
                  f"in {res.get('register_s', 0):.0f} s, heartbeating every {a.scale_beat_s} s "
                  f"({res.get('beats_per_s', 0):,.0f} heartbeats/s measured); "
                  f"{res.get('entries', 0):,} persistence entries, made by as many clients "
                  f"from their own loopback addresses in {res.get('fill_s', 0):.0f} s; "
                  f"{a.scale_watchers} watchers on /api/v1/events.")
        md.append("")
        md.append("| row | ka req/s | p50 | p99 | CPU µs/req | heartbeats during ka | "
                  "SSE snapshots received (KiB) |")
        md.append("|---|---:|---:|---:|---:|---:|---:|")
        for row in ("baseline", "scale"):
            rps, p50, p99, cpu = (med(row, k) for k in ("rps", "p50", "p99", "cpu_us"))
            if rps is None:
                continue
            rr = f" ({ratio('rps'):.2f}×)" if row == "scale" and ratio("rps") else ""
            pr = f" ({ratio('p99'):.2f}×)" if row == "scale" and ratio("p99") else ""
            md.append(f"| {row} | {rps:,.0f}{rr} | {fmt_lat(p50)} | {fmt_lat(p99)}{pr} | "
                      f"{cpu:.1f} | {med(row, 'beats'):,.0f} | "
                      f"{med(row, 'sse_events'):,.0f} ({med(row, 'sse_bytes') / 1024:,.0f}) |")
        md.append("")
        v = ratio("rps")
        md.append("| figure | measured |")
        md.append("|---|---:|")
        md.append(f"| ka req/s, scale ÷ baseline (goal ≥ 0.9×) | "
                  f"{'-' if v is None else f'{v:.2f}× ' + ('PASS' if v >= 0.9 else 'FAIL')} |")
        v = ratio("p99")
        md.append(f"| ka p99, scale ÷ baseline | {'-' if v is None else f'{v:.2f}×'} |")
        md.append(f"| harmonyd CPU per heartbeat (heartbeats and watchers only, "
                  f"{a.scale_cpu_s} s; /proc/PID/stat) | {res.get('cpu_per_beat_us', 0):.1f} µs "
                  f"({res.get('cpu_pct_beats', 0):.0f}% of a CPU) |")
        md.append(f"| the same from /proc/PID/task/*/schedstat (ns) | "
                  f"{res.get('cpu_per_beat_ns_us', 0):.2f} µs |")
        md.append(f"| of which user space (utime share; the rest is the kernel's: "
                  f"a read and a write per heartbeat) | "
                  f"{res.get('user_share', 0) * 100:.0f} % |")
        md.append(f"| SSE snapshots received during that window | "
                  f"{res.get('cpu_window_sse', 0)} |")
        md.append(f"| RSS per registered target | {res.get('rss_per_target', 0):,.0f} B |")
        md.append(f"| RSS per persistence entry | {res.get('rss_per_entry', 0):,.0f} B |")
        md.append(f"| RSS at the end | {res.get('rss_kib', 0) / 1024:,.1f} MiB |")
        if self.notes:
            md += ["", "Notes from the run:", ""] + [f"- {n}" for n in self.notes]
        md += ["", "<details><summary>Every ka measurement</summary>", "",
               "| round | row | req/s | p50 | p99 | CPU µs/req | heartbeats | SSE snapshots |",
               "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for s in self.samples:
            md.append(f"| {s['round']} | {s['row']} | {s['rps']:.0f} | {fmt_lat(s['p50'])} | "
                      f"{fmt_lat(s['p99'])} | {s.get('cpu_us', 0):.1f} | {s['beats']} | "
                      f"{s['sse_events']} |")
        md += ["", "</details>"]
        return "\n".join(md)


def http_get_len(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return -1
    return len(body)


# --- report ---------------------------------------------------------------

def fmt_lat(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f}µs"
    if s < 1:
        return f"{s * 1e3:.2f}ms"
    return f"{s:.2f}s"


def fmt_num(v, kind):
    if v is None:
        return "-"
    if kind == "rps":
        return f"{v:,.0f}"
    if kind == "mibs":
        return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"
    if kind == "lat":
        return fmt_lat(v)
    if kind == "cpu":
        return f"{v:.1f}"
    if kind == "rss":
        return f"{v / 1024:.1f}"
    if kind == "idle_b":
        return f"{v:,.0f}"
    if kind == "pct":
        return f"{v:.2f}"
    return str(v)


COLS = [("rps", "req/s", "rps"), ("mibs", "MiB/s", "mibs"), ("p50", "p50", "lat"),
        ("p99", "p99", "lat"), ("cpu_us", "CPU µs/req", "cpu"),
        ("rss_kib", "RSS MiB", "rss")]


def median_of(samples, wl, proxy, key):
    vals = [s[key] for s in samples if s["workload"] == wl and s["proxy"] == proxy
            and s.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio_to(samples, wl, proxy, key, ref="haproxy"):
    """Median over rounds of value/reference in the same round."""
    rs = []
    for s in samples:
        if s["workload"] != wl or s["proxy"] != proxy or s.get(key) is None:
            continue
        for t in samples:
            if (t["workload"] == wl and t["proxy"] == ref and t["round"] == s["round"]
                    and t.get(key)):
                rs.append(s[key] / t[key])
    return statistics.median(rs) if rs else None


def idle_vs_ka(samples, proxy):
    """Median over rounds of (ka req/s with idle) / (ka req/s), same round."""
    rs = []
    for s in samples:
        if s["workload"] != "idle" or s["proxy"] != proxy:
            continue
        for t in samples:
            if t["workload"] == "ka" and t["proxy"] == proxy and t["round"] == s["round"]:
                rs.append(s["rps"] / t["rps"])
    return statistics.median(rs) if rs else None


def cell(samples, wl, proxy, key, kind):
    v = median_of(samples, wl, proxy, key)
    if v is None:
        return "-"
    text = fmt_num(v, kind)
    if proxy != "haproxy":
        r = ratio_to(samples, wl, proxy, key)
        if r is not None:
            text += f" ({r:.2f}×)"
    return text


def table(samples, workloads, rows):
    head = ["workload", "proxy"] + [c[1] for c in COLS] + ["idle B/session", "ka w/ idle ÷ ka"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for wl in workloads:
        for proxy in rows:
            if wl == "scale" or median_of(samples, wl, proxy, "rps") is None:
                continue
            cells = [wl, proxy]
            for key, _, kind in COLS:
                cells.append(cell(samples, wl, proxy, key, kind))
            if wl == "idle":
                cells.append(cell(samples, wl, proxy, "idle_b", "idle_b"))
                r = idle_vs_ka(samples, proxy)
                cells.append(f"{r:.2f}" if r is not None else "-")
            else:
                cells += ["", ""]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(samples):
    """The issue's goals for harmonyd, each with its measured value."""
    out = []

    def chk(label, ok, value):
        mark = "PASS" if ok else ("FAIL" if ok is not None else "n/a")
        out.append(f"| {label} | {value} | {mark} |")

    def r(wl, key):
        return ratio_to(samples, wl, "harmonyd", key)

    for wl in ("ka", "close"):
        v = r(wl, "rps")
        chk(f"{wl} req/s ≥ 1.10× HAProxy", None if v is None else v >= 1.10,
            "-" if v is None else f"{v:.2f}×")
        v = r(wl, "cpu_us")
        chk(f"{wl} CPU/request ≤ 0.90× HAProxy", None if v is None else v <= 0.90,
            "-" if v is None else f"{v:.2f}×")
    v = r("bulk", "mibs")
    chk("bulk MiB/s ≥ 1.25× HAProxy", None if v is None else v >= 1.25,
        "-" if v is None else f"{v:.2f}×")
    v = median_of(samples, "idle", "harmonyd", "idle_b")
    chk("memory per idle session ≤ 1 KiB", None if v is None else v <= 1024,
        "-" if v is None else f"{v:,.0f} B")
    v = idle_vs_ka(samples, "harmonyd")
    chk("ka req/s with 8000 idle ≥ 0.8× ka", None if v is None else v >= 0.8,
        "-" if v is None else f"{v:.2f}×")
    # ahead of nginx stream and pen in every row (throughput; CPU for ka/close)
    for wl in ("ka", "close", "bulk", "idle"):
        key = "mibs" if wl == "bulk" else "rps"
        h = median_of(samples, wl, "harmonyd", key)
        others = {p: median_of(samples, wl, p, key) for p in ("nginx", "pen")}
        if h is None or any(v is None for v in others.values()):
            continue
        ok = all(h > v for v in others.values())
        chk(f"{wl} {'MiB/s' if key == 'mibs' else 'req/s'} ahead of nginx and pen", ok,
            f"{fmt_num(h, key)} vs " + ", ".join(f"{p} {fmt_num(v, key)}"
                                                 for p, v in others.items()))
    return "| goal | measured | |\n|---|---:|---|\n" + "\n".join(out)


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "load": load}


def raw_table(samples):
    lines = ["| round | workload | proxy | req/s | MiB/s | p50 | p99 | CPU µs/req | "
             "CPU % | RSS KiB | idle B/session | errors |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in sorted(samples, key=lambda s: (WORKLOADS.index(s["workload"]),
                                            ROWS.index(s["proxy"]), s["round"])):
        lines.append("| " + " | ".join([
            str(s["round"]), s["workload"], s["proxy"], f"{s['rps']:.0f}",
            f"{s['mibs']:.1f}", fmt_lat(s["p50"]), fmt_lat(s["p99"]),
            f"{s['cpu_us']:.2f}" if "cpu_us" in s else "-",
            f"{s['cpu_pct']:.0f}" if "cpu_pct" in s else "-",
            str(s.get("rss_kib") or "-"),
            f"{s['idle_b']:.0f}" if "idle_b" in s else "-",
            str(s["errors"] + s["non2xx"])]) + " |")
    return "\n".join(lines)


def report(b, started, finished, mach, versions, harmonyd_version):
    a = b.args
    rows = [p for p in ROWS if p in a.proxies]
    md = []
    md.append(f"Run {started:%Y-%m-%d %H:%M} UTC, {(finished - started).seconds // 60} min "
              f"{(finished - started).seconds % 60} s; {a.rounds} rounds, proxies interleaved "
              f"round-robin; wrk -t1, {a.warmup} s warm-up + {a.duration} s per measurement; "
              f"idle = {a.idle} connections.")
    md.append("")
    md.append(f"Machine: {mach['nproc']} CPUs ({mach['cpu']}), Linux {mach['kernel']}, "
              f"load average at start {mach['load']}; shared with other work, so single "
              "figures are noisy: trust the medians and the same-round ratios.")
    md.append("")
    md.append("Versions: " + ", ".join(versions) + f", {harmonyd_version}.")
    md.append("")
    md.append("Medians; in brackets the median over rounds of the ratio to HAProxy "
              "(nbthread 1) in the same round. Higher is better for req/s and MiB/s, "
              "lower for latency, CPU and memory. CPU µs/req is the proxy's "
              "utime+stime over the measured run divided by the requests wrk completed. "
              "RSS is VmRSS of the process that holds the sessions (the nginx worker), "
              "after the run; for idle, with the idle sessions open. idle B/session = "
              "(RSS with the idle sessions − RSS before) / idle sessions; "
              "\"ka w/ idle ÷ ka\" = ka req/s beside the idle sessions over ka req/s "
              "without them, same proxy and round.")
    md.append("")
    md.append(table(b.samples, a.workloads, rows))
    md.append("")
    md.append("Goals (harmonyd, ratios to HAProxy):")
    md.append("")
    md.append(goals(b.samples))
    if b.notes:
        md.append("")
        md.append("Notes from the run:")
        md.append("")
        md.extend(f"- {n}" for n in b.notes)
    md.append("")
    md.append("<details><summary>Every measurement</summary>")
    md.append("")
    md.append(raw_table(b.samples))
    md.append("")
    md.append("</details>")
    return "\n".join(md)


def write_results(path, text, begin=MARK_BEGIN, end=MARK_END):
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = "# Benchmark results\n\n" + begin + "\n" + end + "\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        _, tail = rest.split(end, 1)
        new = head + begin + "\n" + text + "\n" + end + tail
    else:
        new = old.rstrip("\n") + "\n\n" + begin + "\n" + text + "\n" + end + "\n"
    with open(path, "w") as f:
        f.write(new)


# --- main -----------------------------------------------------------------

def find_harmonyd(arg):
    cands = [arg, os.environ.get("HARMONYD")]
    cands += [os.path.join(HERE, "..", "src", "harmonyd"),
              os.path.join(HERE, "..", "build", "src", "harmonyd")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise BenchError("harmonyd not found: set HARMONYD or pass --harmonyd "
                     "(build it without sanitizers, e.g. CFLAGS='-O2 -g')")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--harmonyd", help="the daemon (default: $HARMONYD)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of warm-up")
    ap.add_argument("--idle", type=int, default=8000, help="idle connections")
    ap.add_argument("--proxies", default=",".join(["direct"] + PROXIES),
                    help="comma-separated subset of " + ",".join(ROWS))
    ap.add_argument("--base", metavar="PATH",
                    help="another harmonyd build, measured as the row 'base' "
                         "beside the others (an A/B of a change)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma-separated subset of " + ",".join(WORKLOADS))
    ap.add_argument("--budget", type=int, default=840,
                    help="stop starting measurements after this many seconds")
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"),
                    help="file whose results section is rewritten; '-' for none")
    for flag, kind, default, what in SCALE_OPTIONS:
        ap.add_argument(flag, type=kind, default=default, help="scale: " + what)
    ap.add_argument("--no-install", action="store_true",
                    help="fail instead of installing missing packages")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    args = ap.parse_args()
    args.proxies = [p for p in args.proxies.split(",") if p]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for p in args.proxies:
        if p not in ROWS:
            ap.error(f"unknown proxy {p}")
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}")
    scale_only = args.workloads == ["scale"]
    if "haproxy" not in args.proxies and not scale_only:
        ap.error("haproxy is the reference row: keep it in --proxies")
    if args.base:
        args.base = os.path.abspath(args.base)
        if not os.access(args.base, os.X_OK):
            ap.error(f"--base {args.base}: not an executable")
        if "base" not in args.proxies:
            args.proxies.append("base")
    elif "base" in args.proxies:
        ap.error("the row 'base' needs --base PATH")

    def on_term(signo, _frame):
        raise KeyboardInterrupt(f"signal {signo}")
    # SIGINT too: a shell may start us with it ignored (background jobs).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    # Room for the idle sessions: the holder here, and every child (proxies,
    # backends) inherits the raised soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 2 * args.idle + 1000:
        raise BenchError(f"descriptor limit {want} too small for {args.idle} idle sessions")

    ensure_packages(not args.no_install, scale_only)
    args.harmonyd = find_harmonyd(args.harmonyd)
    args.wrk = shutil.which("wrk")
    hv = subprocess.run([args.harmonyd, "--version"], capture_output=True,
                        text=True).stdout.strip().splitlines()
    hv = hv[0] if hv else "?"
    mach = machine()
    versions = pkg_versions()
    started = datetime.datetime.now(datetime.timezone.utc)
    log(f"harmonyd: {args.harmonyd} ({hv}); {mach['nproc']} CPUs, load {mach['load']}")

    b = Bench(args)
    atexit.register(b.cleanup)
    scale = Scale(b) if "scale" in args.workloads else None
    try:
        b.run()
        if scale is not None:
            scale.run()
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        b.cleanup()
        return 130
    finally:
        b.cleanup()
    finished = datetime.datetime.now(datetime.timezone.utc)
    if not scale_only:
        text = report(b, started, finished, mach, versions, hv)
        print(text)
        if args.results != "-":
            write_results(args.results, text)
            log(f"wrote {args.results}")
    if scale is not None:
        text = scale.report(mach, hv)
        print(text)
        if args.results != "-":
            write_results(args.results, text, SCALE_MARK_BEGIN, SCALE_MARK_END)
            log(f"wrote {args.results} (scale)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
