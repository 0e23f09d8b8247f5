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
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "conf")
PACKAGES = ["haproxy", "nginx", "libnginx-mod-stream", "pen", "wrk"]
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PROXIES = ["harmonyd", "haproxy", "nginx", "pen"]
# "base" is a second harmonyd build (--base PATH), to measure a change A/B.
ROWS = ["direct", "harmonyd", "base", "haproxy", "nginx", "pen"]
WORKLOADS = ["ka", "close", "bulk", "idle"]
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

def have_tools():
    return all(shutil.which(t) for t in ("haproxy", "nginx", "pen", "wrk")) and \
        os.path.exists(STREAM_MODULE)


def ensure_packages(allow_install):
    if have_tools():
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
    if not have_tools():
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
        try:
            for rnd in range(1, self.args.rounds + 1):
                # rotate the order each round so nobody always goes first
                k = (rnd - 1) % len(rows)
                order = rows[k:] + rows[:k]
                for wl in self.args.workloads:
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
            if median_of(samples, wl, proxy, "rps") is None:
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


def write_results(path, text):
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = "# Benchmark results\n\n" + MARK_BEGIN + "\n" + MARK_END + "\n"
    if MARK_BEGIN in old and MARK_END in old:
        head, rest = old.split(MARK_BEGIN, 1)
        _, tail = rest.split(MARK_END, 1)
        new = head + MARK_BEGIN + "\n" + text + "\n" + MARK_END + tail
    else:
        new = old.rstrip("\n") + "\n\n" + MARK_BEGIN + "\n" + text + "\n" + MARK_END + "\n"
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
    if "haproxy" not in args.proxies:
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

    ensure_packages(not args.no_install)
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
    try:
        b.run()
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        b.cleanup()
        return 130
    finally:
        b.cleanup()
    finished = datetime.datetime.now(datetime.timezone.utc)
    text = report(b, started, finished, mach, versions, hv)
    print(text)
    if args.results != "-":
        write_results(args.results, text)
        log(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
