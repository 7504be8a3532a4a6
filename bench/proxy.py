#!/usr/bin/env python3
"""Benchmark (not a test): redhive's reverse proxy against Node-RED reached directly and against
nginx as a reverse proxy. Run it through bench/proxy.sh (root, installs nginx and wrk).

One `redhive serve` (release binary, process runtime) on a temp data dir, set up through the
manager API, with one tenant b1 (memory 1G, 2 CPUs). Its Node-RED's loopback port comes from
`redhive tenant status b1 --json` (the `url`). nginx (1 worker, access log off) proxies to that
port the way a fair deployment does: an upstream with `keepalive 32`, HTTP/1.1, no Connection
header to the upstream (the websocket map sends "" for plain requests), Host and X-Forwarded-*.

wrk sends the same request (GET <path>, `Host: b1.localhost`) to
  direct   127.0.0.1:<Node-RED port>
  redhive  127.0.0.1:<redhive port>   (routed by the Host header)
  nginx    127.0.0.1:<nginx port>
for each connection count: a warm-up run per target, then --rounds rounds alternating
direct, redhive, nginx, direct, ... so that machine noise spreads over all three; the table has
the median of the rounds (req/s, p99) and the ratios to direct.

Environment: REDHIVE_BIN, REDHIVE_NODE_HOME, REDHIVE_BENCH_KEEP=1 (keep the temp dir).
Only 127.0.0.1 is ever contacted (mDNS is off).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import runtime as rt  # noqa: E402  bench/runtime.py: its pure helpers (ports, pids, cgroups)

CACHE = "/var/cache/redhive"
BIN = os.environ.get("REDHIVE_BIN") or f"{CACHE}/target/release/redhive"
NODE_HOME = os.environ.get("REDHIVE_NODE_HOME") or f"{CACHE}/node-home"
TENANT = "b1"
HOST = f"{TENANT}.localhost"
ADMIN = {"username": "admin", "password": "Bench-admin-pass-1357", "name": "redhive"}
EDITOR = {"username": "editor", "password": "Bench-editor-pass-2468"}
# Static editor files of Node-RED, served without login; the first that answers 200 is the target
# when --path is not given.
CANDIDATES = ["/red/keymap.json", "/vendor/vendor.js", "/favicon.ico"]
TARGETS = ["direct", "redhive", "nginx"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
log = rt.log


BenchError = rt.BenchError


class Interrupted(BaseException):
    pass


def _on_signal(signum, _frame):
    rt.quiet_signals()
    raise Interrupted(signal.Signals(signum).name)


# ========================================================================================= HTTP
def request(port: int, method: str, path: str, body=None, headers=None, timeout: float = 30):
    """One request to 127.0.0.1:port; (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


class Api:
    """The manager API with a session cookie and the CSRF token."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.csrf = ""

    def call(self, method: str, path: str, body=None, want=(200,), timeout: float = 180):
        h = {}
        if self.cookie:
            h["Cookie"] = self.cookie
        if self.csrf and method in ("POST", "PUT", "PATCH", "DELETE"):
            h["X-CSRF-Token"] = self.csrf
        status, headers, data = request(self.port, method, path, body, h, timeout)
        if status not in want:
            raise BenchError(f"{method} {path} → {status} (wanted {want}): {data[:400]!r}")
        for c in headers.get_all("Set-Cookie") or []:
            if c.startswith("redhive_session="):
                self.cookie = c.split(";", 1)[0]
        return json.loads(data) if data else None

    def setup(self) -> None:
        body = self.call("POST", "/api/setup", ADMIN, want=(201,))
        self.csrf = body.get("csrf") or ""
        if not self.cookie or not self.csrf:
            raise BenchError(f"POST /api/setup gave no session cookie or csrf: {body!r}")


# ==================================================================================== processes
def rss_kib(pid: int, key: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def children(pid: int) -> list[int]:
    out = []
    for p in rt.all_pids():
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(p)
        except (OSError, ValueError, IndexError):
            pass
    return out


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="redhive-bench-proxy.", dir="/tmp"))
        self.work.chmod(0o755)  # the process runtime runs tenants under their own uids
        self.parent = f"rh-bench-{secrets.token_hex(4)}"
        self.data = self.work / "data"
        self.serve_log = self.work / "serve.log"
        self.ngx_dir = self.work / "nginx"
        self.http_port, self.mongo_port, self.nginx_port = rt.free_ports(3)
        self.redhive: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.tenant_port = 0
        self.tenant_cgroup = ""
        self.env = dict(os.environ)
        self.env.update(
            REDHIVE_LOG="warn",
            NO_COLOR="1",
            REDHIVE_RUNTIME="process",
            REDHIVE_NODE_HOME=NODE_HOME,
            REDHIVE_CGROUP_PARENT=self.parent,
            REDHIVE_TENANT_PORTS="off",
            REDHIVE_MDNS="off",  # nothing leaves loopback
        )
        self.env.pop("REDHIVE_CONFIG", None)

    # ------------------------------------------------------------------------------- redhive
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([BIN, "--data-dir", str(self.data), *args], env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, start_new_session=True)

    def start_redhive(self) -> None:
        self.redhive = rt.spawn_serve(self.data, self.http_port, self.mongo_port, self.env, self.serve_log)
        rt.wait_healthy(self.redhive, self.http_port, self.serve_log, "redhive serve")
        log(f"redhive serve pid {self.redhive.pid} on 127.0.0.1:{self.http_port}")

    def create_tenant(self) -> None:
        api = Api(self.http_port)
        api.setup()
        cpus = min(2, os.cpu_count() or 1)
        t0 = time.monotonic()
        api.call("POST", "/api/tenants", {"name": TENANT, "editor": EDITOR, "limits": {"memory": "1G", "cpus": cpus}},
                 want=(201,))
        deadline = time.monotonic() + 180
        while True:
            t = api.call("GET", f"/api/tenants/{TENANT}")
            if t.get("state") == "running":
                break
            if t.get("state") in ("crashed", "stopped", "safe-mode") or time.monotonic() > deadline:
                logs = self.cli("tenant", "logs", TENANT, "--tail", "30").stdout
                raise BenchError(f"tenant {TENANT} did not reach running: {t}\nlogs:\n{logs}\nserver:\n{rt.tail(self.serve_log)}")
            time.sleep(0.2)
        log(f"tenant {TENANT} running after {time.monotonic() - t0:.1f} s, limits {t.get('limits')}")
        cp = self.cli("tenant", "status", TENANT, "--json", timeout=60)
        if cp.returncode != 0:
            raise BenchError(f"`redhive tenant status {TENANT} --json` exited {cp.returncode}: {cp.stderr.strip()}")
        st = json.loads(cp.stdout)
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", str(st.get("url")))
        if not m:
            raise BenchError(f"`redhive tenant status {TENANT} --json` has no url http://127.0.0.1:<port>/: {st}")
        self.tenant_port = int(m.group(1))
        self.tenant_cgroup = st.get("cgroup") or ""
        log(f"tenant {TENANT}: Node-RED on 127.0.0.1:{self.tenant_port}, cgroup {self.tenant_cgroup or '?'}")

    def tenant_pids(self) -> list[int]:
        return rt.cgroup_procs(self.tenant_cgroup) if self.tenant_cgroup else []

    # --------------------------------------------------------------------------------- nginx
    def start_nginx(self) -> None:
        d = self.ngx_dir
        for sub in ("logs", "tmp"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        conf = d / "nginx.conf"
        conf.write_text(f"""\
# bench/proxy.py: nginx as a reverse proxy to tenant {TENANT}'s Node-RED, as a deployment would.
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    # Websockets (the editor's /comms) get "Connection: upgrade"; every other request an empty
    # Connection header, i.e. none, so the upstream connection stays alive (= Connection "").
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}

    upstream {TENANT} {{
        server 127.0.0.1:{self.tenant_port};
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{self.nginx_port};
        server_name {HOST};

        location / {{
            proxy_pass http://{TENANT};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
        }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        base = [nginx, "-p", f"{d}/", "-c", str(conf), "-e", f"{d}/logs/error.log"]
        cp = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if cp.returncode != 0:
            raise BenchError(f"nginx -t: {cp.stderr.strip()}")
        out = open(d / "logs" / "stderr.log", "wb")
        self.nginx = subprocess.Popen(base, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        out.close()
        deadline = time.monotonic() + 20
        while not self.nginx_workers():
            if self.nginx.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"nginx did not start (exit {self.nginx.poll()}):\n{rt.tail(d / 'logs' / 'error.log')}")
            time.sleep(0.05)
        while True:
            try:
                request(self.nginx_port, "GET", "/", headers={"Host": HOST}, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"nginx does not answer on 127.0.0.1:{self.nginx_port}") from None
                time.sleep(0.05)
        log(f"nginx master pid {self.nginx.pid}, workers {self.nginx_workers()}, on 127.0.0.1:{self.nginx_port}")

    def nginx_workers(self) -> list[int]:
        return children(self.nginx.pid) if self.nginx else []

    def nginx_pids(self) -> list[int]:
        return [self.nginx.pid, *self.nginx_workers()] if self.nginx else []

    # ------------------------------------------------------------------------------- targets
    def port_of(self, target: str) -> int:
        return {"direct": self.tenant_port, "redhive": self.http_port, "nginx": self.nginx_port}[target]

    def check_path(self, path: str) -> tuple[int, str]:
        """(status, why) of GET path on all three targets: 200 everywhere with the same body."""
        bodies = {}
        for target in TARGETS:
            status, headers, body = request(self.port_of(target), "GET", path, headers={"Host": HOST})
            if status != 200:
                return status, f"{target} answered {status} {headers.get('X-Redhive') or ''} {body[:200]!r}"
            bodies[target] = body
        if len(set(bodies.values())) != 1:
            return 0, "the bodies differ: " + ", ".join(f"{t} {len(b)} bytes" for t, b in bodies.items())
        return 200, f"{len(bodies['direct'])} bytes"

    def pick_path(self) -> str:
        tried = []
        for path in [self.args.path] if self.args.path else CANDIDATES:
            status, why = self.check_path(path)
            if status == 200:
                log(f"target path {path}: 200 without login from direct, redhive and nginx ({why})")
                return path
            tried.append(f"{path}: {why}")
            log(f"target path {path} not usable: {why}")
        raise BenchError("no target path answers 200 on all three:\n  " + "\n  ".join(tried))

    # ----------------------------------------------------------------------------------- wrk
    def wrk(self, target: str, path: str, conns: int, threads: int, duration: float) -> dict:
        url = f"http://127.0.0.1:{self.port_of(target)}{path}"
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--latency", "-H", f"Host: {HOST}", url]
        watched = {"redhive": [self.redhive.pid], "nginx": self.nginx_pids()}.get(target, [])
        node = self.tenant_pids()
        c0, n0, t0 = cpu_ticks(watched), cpu_ticks(node), time.monotonic()
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
        wall = time.monotonic() - t0
        c1, n1 = cpu_ticks(watched), cpu_ticks(node)
        if cp.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} exited {cp.returncode}: {cp.stderr.strip()}\n{cp.stdout}")
        r = parse_wrk(cp.stdout)
        r["proxy_cpu"] = (c1 - c0) / CLK_TCK / wall * 100 if watched else None
        r["proxy_us_per_req"] = (c1 - c0) / CLK_TCK * 1e6 / r["requests"] if watched and r["requests"] else None
        r["node_cpu"] = (n1 - n0) / CLK_TCK / wall * 100 if node else None
        r["cmd"] = " ".join(cmd)
        return r

    # ------------------------------------------------------------------------------- cleanup
    def close(self) -> list[str]:
        rt.quiet_signals()
        problems = []
        if self.nginx is not None:
            workers = self.nginx_workers()
            if self.nginx.poll() is None:
                self.nginx.send_signal(signal.SIGQUIT)  # graceful: master and worker leave
            try:
                self.nginx.wait(15)
            except subprocess.TimeoutExpired:
                problems.append("nginx still alive 15 s after SIGQUIT: SIGKILL")
                self.nginx.kill()
                self.nginx.wait(10)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(rt.pid_alive(w) and rt.comm(w).startswith("nginx") for w in workers):
                time.sleep(0.05)
            for w in workers:  # our worker pids, recorded while the master lived
                if rt.pid_alive(w) and rt.comm(w).startswith("nginx"):
                    problems.append(f"nginx worker {w} outlived its master: SIGKILL")
                    os.kill(w, signal.SIGKILL)
        if self.redhive is not None:
            if self.redhive.poll() is None and self.tenant_port:
                cp = self.cli("tenant", "remove", TENANT, timeout=120)
                if cp.returncode != 0:
                    problems.append(f"`redhive tenant remove {TENANT}` exited {cp.returncode}: {cp.stderr.strip()[:300]}")
            rt.terminate(self.redhive, 60)
            if self.redhive.returncode not in (0, -signal.SIGTERM):
                problems.append(f"redhive serve exited {self.redhive.returncode} after SIGTERM:\n{rt.tail(self.serve_log, 15)}")
        left = rt.kill_cgroup_leftovers(self.parent)
        if left:
            problems.append(f"left under cgroup parent {self.parent} (killed): {left}")
        rt.remove_cgroup_dirs(self.parent)
        dirs = [str(p) for pat in (self.parent, f"*/{self.parent}", f"*/*/{self.parent}") for p in rt.CG.glob(pat)]
        if dirs:
            problems.append(f"cgroup directories left: {dirs}")
        if os.environ.get("REDHIVE_BENCH_KEEP") == "1":
            log(f"kept {self.work} (REDHIVE_BENCH_KEEP=1)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        return problems


# ======================================================================================= parsing
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise BenchError(f"wrk: cannot read the time {text!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_wrk(out: str) -> dict:
    def find(pattern: str, what: str):
        m = re.search(pattern, out, re.M)
        if not m:
            raise BenchError(f"wrk output has no {what}:\n{out}")
        return m

    pct = {f"p{m.group(1)}": to_ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M)}
    if "p99" not in pct:
        raise BenchError(f"wrk output has no 99% latency (--latency):\n{out}")
    n = find(r"^\s*(\d+) requests in ([\d.]+\w+),", "request count")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(find(r"^Requests/sec:\s+([\d.]+)", "Requests/sec").group(1)),
        **pct,
        "requests": int(n.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()))) if sock else {},
    }


# ========================================================================================= main
def parse_connections(text: str) -> list[tuple[int, int]]:
    """"10,50" or "10 50" or "10:1,50:2" → [(connections, threads)]; threads default 1 up to 25
    connections, else 2 (the brief: -t1 -c10 and -t2 -c50)."""
    out = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        c, _, t = item.partition(":")
        conns = int(c)
        threads = int(t) if t else (1 if conns <= 25 else 2)
        if conns < 1 or threads < 1 or threads > conns:
            raise SystemExit(f"proxy.py: bad --connections item {item!r}")
        out.append((conns, threads))
    if not out:
        raise SystemExit("proxy.py: --connections is empty")
    return out


def versions(nginx_bin: str) -> dict:
    v = {}
    cp = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True)
    v["nginx"] = (cp.stderr or cp.stdout).strip().removeprefix("nginx version: ")
    cp = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    v["wrk"] = ((cp.stdout or cp.stderr).strip().splitlines() or ["?"])[0].split(" Copyright")[0]
    cp = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    v["redhive"] = cp.stdout.strip().removeprefix("redhive ")
    try:
        v["redhive_mtime"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(os.stat(BIN).st_mtime))
    except OSError:
        pass
    return v


def fmt_ratio(x, base) -> str:
    return f"{x / base:.2f}" if base else "-"


def fmt_cpu(x) -> str:
    return "-" if x is None else f"{x:.0f}%"


def fmt_us(x) -> str:
    return "-" if x is None else f"{x:.0f}"


def report(res: dict) -> None:
    m = res["machine"]
    print(f"machine: {m['cpus']} CPUs, load average {m['load'][0]:.2f} {m['load'][1]:.2f} {m['load'][2]:.2f} at start "
          f"({m['load_end'][0]:.2f} at the end), kernel {m['kernel']}")
    v = res["versions"]
    print(f"redhive {v.get('redhive', '?')} (binary of {v.get('redhive_mtime', '?')}), nginx {v['nginx']}, {v['wrk']}")
    print(f"target: GET {res['path']} ({res['body_bytes']} bytes), Host: {HOST}; {res['rounds']} rounds of "
          f"{res['duration']:g} s per target (after {res['warmup']:g} s warm-up), median of the rounds")
    head = (f"{'target':<8} {'conns':>5} {'thr':>3}  {'req/s':>9}  {'p99 ms':>8}  {'p50 ms':>7}  "
            f"{'req/s ×direct':>13}  {'p99 ×direct':>11}  {'proxy CPU':>9}  {'µs/req':>6}  {'Node-RED CPU':>12}")
    print()
    print(head)
    print("-" * len(head))
    for level in res["levels"]:
        med = level["median"]
        d = med["direct"]
        for target in TARGETS:
            x = med[target]
            print(f"{target:<8} {level['connections']:>5} {level['threads']:>3}  {x['rps']:>9.0f}  {x['p99']:>8.2f}  "
                  f"{x['p50']:>7.2f}  {fmt_ratio(x['rps'], d['rps']):>13}  {fmt_ratio(x['p99'], d['p99']):>11}  "
                  f"{fmt_cpu(x['proxy_cpu']):>9}  {fmt_us(x['proxy_us_per_req']):>6}  {fmt_cpu(x['node_cpu']):>12}")
        print("rounds: " + "; ".join(
            f"{t} " + " ".join(f"{r['rps']:.0f}/{r['p99']:.2f}ms" for r in level["rounds"][t]) for t in TARGETS))
        print()
    r = res["rss"]
    print(f"RSS after the run (peak): redhive serve {r['redhive'] / 1024:.1f} MiB ({r['redhive_peak'] / 1024:.1f}), "
          f"nginx master+worker {r['nginx'] / 1024:.1f} MiB ({r['nginx_peak'] / 1024:.1f}), "
          f"Node-RED {r['node'] / 1024:.1f} MiB")
    print("notes: req/s and p99 are medians over the rounds (rounds: req/s/p99 of each); ×direct = target / direct;")
    print("       CPU = CPU time of the proxy process(es) / of the tenant's cgroup during the run, % of one core;")
    print("       µs/req = the proxy's CPU time per request (less sensitive to machine noise than req/s);")
    print("       wrk, Node-RED and the proxy share the machine's CPUs.")
    if res["errors"]:
        print("\nERRORS (non-2xx responses or socket errors; the numbers of those runs are suspect):")
        for e in res["errors"]:
            print(f"  {e}")


def run(bench: Bench, args) -> dict:
    load0 = os.getloadavg()
    if load0[0] > 0.5 * (os.cpu_count() or 1):
        log(f"warning: load average {load0[0]:.2f} on {os.cpu_count()} CPUs at start; the numbers will be noisy")
    bench.start_redhive()
    bench.create_tenant()
    bench.start_nginx()
    path = bench.pick_path()
    body_bytes = len(request(bench.tenant_port, "GET", path, headers={"Host": HOST})[2])
    levels, errors = [], []
    for conns, threads in parse_connections(args.connections):
        if args.warmup > 0:
            for target in TARGETS:
                log(f"warm-up {target} -c{conns} -t{threads} {args.warmup:g} s")
                bench.wrk(target, path, conns, threads, args.warmup)
        rounds = {t: [] for t in TARGETS}
        for i in range(args.rounds):
            for target in TARGETS:
                r = bench.wrk(target, path, conns, threads, args.duration)
                rounds[target].append(r)
                bad = {k: v for k, v in r["socket_errors"].items() if v}
                log(f"round {i + 1}/{args.rounds} {target:<7} -c{conns}: {r['rps']:.0f} req/s, p99 {r['p99']:.2f} ms, "
                    f"proxy CPU {fmt_cpu(r['proxy_cpu'])}, Node-RED CPU {fmt_cpu(r['node_cpu'])}"
                    + (f", NON-2XX {r['non2xx']}" if r["non2xx"] else "") + (f", SOCKET ERRORS {bad}" if bad else ""))
                if r["non2xx"] or bad:
                    errors.append(f"{target} -c{conns} round {i + 1}: {r['non2xx']} non-2xx of {r['requests']}, "
                                  f"socket errors {r['socket_errors']}")
        median = {}
        for target in TARGETS:
            rs = rounds[target]
            median[target] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99")}
            for k in ("proxy_cpu", "proxy_us_per_req", "node_cpu"):
                vals = [r[k] for r in rs if r[k] is not None]
                median[target][k] = statistics.median(vals) if vals else None
        levels.append({"connections": conns, "threads": threads, "median": median, "rounds": rounds})
    node = bench.tenant_pids()
    rss = {
        "redhive": rss_kib(bench.redhive.pid), "redhive_peak": rss_kib(bench.redhive.pid, "VmHWM"),
        "nginx": sum(rss_kib(p) for p in bench.nginx_pids()),
        "nginx_peak": sum(rss_kib(p, "VmHWM") for p in bench.nginx_pids()),
        "node": sum(rss_kib(p) for p in node),
    }
    status, why = bench.check_path(path)  # still 200 everywhere after all that
    if status != 200:
        errors.append(f"after the run: {why}")
    return {
        "machine": {"cpus": os.cpu_count(), "load": load0, "load_end": os.getloadavg(), "kernel": os.uname().release},
        "versions": versions(shutil.which("nginx") or "/usr/sbin/nginx"),
        "path": path, "body_bytes": body_bytes, "host": HOST,
        "duration": args.duration, "warmup": args.warmup, "rounds": args.rounds,
        "ports": {t: bench.port_of(t) for t in TARGETS},
        "levels": levels, "rss": rss, "errors": errors,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="redhive's reverse proxy vs direct Node-RED vs nginx (wrk, loopback).")
    ap.add_argument("--duration", type=float, default=10, help="seconds per measured wrk run (default 10)")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured wrk per target and level (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per level (default 3)")
    ap.add_argument("--path", help="path to GET (default: the first of %s answering 200)" % ", ".join(CANDIDATES))
    ap.add_argument("--connections", default="10,50",
                    help='wrk connection counts, e.g. "10,50" or "10:1,50:2" (C:threads; default threads 1 up to 25 '
                         "connections, else 2)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = ap.parse_args()
    parse_connections(args.connections)
    if args.rounds < 1 or args.duration <= 0:
        ap.error("--rounds ≥ 1 and --duration > 0")
    if os.geteuid() != 0:
        print("proxy.py: must run as root (the process runtime's cgroups); use bench/proxy.sh", file=sys.stderr)
        return 1
    for tool in ("wrk",):
        if not shutil.which(tool):
            print(f"proxy.py: {tool} is missing; bench/proxy.sh installs it", file=sys.stderr)
            return 1
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        print("proxy.py: nginx is missing; bench/proxy.sh installs it", file=sys.stderr)
        return 1
    if not os.access(BIN, os.X_OK):
        print(f"proxy.py: no executable redhive at {BIN} (REDHIVE_BIN)", file=sys.stderr)
        return 1
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    res = None
    rc = 0
    bench = Bench(args)
    try:
        log(f"work dir {bench.work}, cgroup parent {bench.parent}, binary {BIN}")
        res = run(bench, args)
    except Interrupted as e:
        log(f"interrupted ({e}); cleaning up")
        rc = 130
    except (BenchError, subprocess.TimeoutExpired, OSError, json.JSONDecodeError) as e:
        print(f"proxy.py: {e}", file=sys.stderr)
        if bench.redhive is not None and rt.tail(bench.serve_log).strip():
            print(f"redhive serve log tail:\n{rt.tail(bench.serve_log)}", file=sys.stderr)
        rc = 1
    finally:
        problems = bench.close()
    if res is not None:
        report(res)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
            log(f"results written to {args.json}")
        if res["errors"]:
            rc = 1
    if problems:
        print("\nPROBLEMS during cleanup:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
