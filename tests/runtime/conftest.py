"""Fixtures and helpers for the tenant runtime acceptance tests (docker and process runtimes).

A ``Hive`` is one ``redhive serve`` (``tests/python/redhive_server.py``) configured for one
runtime, with its own cgroup parent ``rh-test-<hex>`` and memory budget, plus the CLI calls of the
contract (``tenant add/start/stop/restart/remove/status/limits/logs``, ``doctor``).

* The work directory lives in /tmp with mode 0755 (like /var/lib/redhive), NOT under pytest's
  0700 base temp dir: the process runtime runs tenants under their own uids, which must reach
  their userDir, and the isolation test must only pass because redhive protects its data.
* Teardown removes every tenant, stops the server, removes containers carrying the server's
  instance label (or its cgroup parent), kills what is left in the cgroup parent and removes it.
  The server log is copied into pytest's temp dir; ``REDHIVE_KEEP_TMP=1`` keeps the work dir.
* The docker runtime needs ``DOCKER_HOST`` (set by ``eval "$(tests/docker.sh start)"``); without
  it the docker variants are skipped. The image is ``REDHIVE_IMAGE`` (default
  ``redhive/node-red:5.0.7-local``, built by ``custom-node-red/image/build-local.sh``).
* The process runtime installs Node + Node-RED into ``REDHIVE_NODE_HOME``
  (default /var/cache/redhive/node-home) on its first start: that start gets long timeouts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))

from redhive_server import RedhiveServer, _die_with_parent, redhive_bin  # noqa: E402

import nodered as nr  # noqa: E402

MIB = 1024 * 1024
RUNTIMES = ["docker", "process"]
PASSWORD = "Rt-test-pass-2468"
DEFAULT_IMAGE = "redhive/node-red:5.0.7-local"
DEFAULT_NODE_HOME = "/var/cache/redhive/node-home"
STATES = {"stopped", "starting", "running", "crashed", "safe-mode", "stopping"}

# The process runtime's first start installs Node + Node-RED with npm (minutes).
_PROCESS_READY = {"done": False}


def log(msg: str) -> None:
    """Measured numbers and progress: visible with -s, and in the report of a failing test."""
    print(f"[runtime] {msg}", flush=True)


def wait_for(pred: Callable[[], object], timeout: float, what: str, interval: float = 0.3, detail: Callable[[], str] = lambda: ""):
    """Poll `pred` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail()}")
        time.sleep(interval)


# ===================================================================================== cgroups
CG = Path("/sys/fs/cgroup")


def cgroup_v2() -> bool:
    return (CG / "cgroup.controllers").exists()


def _rel(path: str) -> str:
    return path.strip().strip("/")


def cg_dir(controller: str, path: str) -> Path:
    """Directory of cgroup `path` (relative to the hierarchy root) for `controller`."""
    return CG / _rel(path) if cgroup_v2() else CG / controller / _rel(path)


def _read(p: Path) -> str:
    return p.read_text().strip()


def cg_exists(path: str) -> bool:
    if cgroup_v2():
        return cg_dir("", path).is_dir()
    return any(cg_dir(c, path).is_dir() for c in ("memory", "cpu", "cpuacct", "pids"))


def cpu_usage_seconds(path: str) -> float:
    """CPU time used by everything in the cgroup so far."""
    if cgroup_v2():
        for line in _read(cg_dir("cpu", path) / "cpu.stat").splitlines():
            k, _, v = line.partition(" ")
            if k == "usage_usec":
                return int(v) / 1e6
        raise AssertionError(f"no usage_usec in cpu.stat of {path}")
    return int(_read(cg_dir("cpuacct", path) / "cpuacct.usage")) / 1e9


def cpu_quota(path: str) -> Optional[float]:
    """CFS quota in CPUs, None when unlimited."""
    if cgroup_v2():
        quota, _, period = _read(cg_dir("cpu", path) / "cpu.max").partition(" ")
        return None if quota == "max" else int(quota) / int(period)
    quota = int(_read(cg_dir("cpu", path) / "cpu.cfs_quota_us"))
    period = int(_read(cg_dir("cpu", path) / "cpu.cfs_period_us"))
    return None if quota < 0 else quota / period


def memory_limit(path: str) -> Optional[int]:
    if cgroup_v2():
        v = _read(cg_dir("memory", path) / "memory.max")
        return None if v == "max" else int(v)
    v = int(_read(cg_dir("memory", path) / "memory.limit_in_bytes"))
    return None if v >= 1 << 62 else v


def memory_usage(path: str) -> int:
    name = "memory.current" if cgroup_v2() else "memory.usage_in_bytes"
    return int(_read(cg_dir("memory", path) / name))


def memory_peak(path: str) -> Optional[int]:
    name = "memory.peak" if cgroup_v2() else "memory.max_usage_in_bytes"
    with contextlib.suppress(OSError, ValueError):
        return int(_read(cg_dir("memory", path) / name))
    return None


def pids_current(path: str) -> int:
    return int(_read(cg_dir("pids", path) / "pids.current"))


def pids_max(path: str) -> Optional[int]:
    v = _read(cg_dir("pids", path) / "pids.max")
    return None if v == "max" else int(v)


def pids_refused(path: str) -> Optional[int]:
    """How many forks the pids limit refused (``max N`` of pids.events, v1 and v2)."""
    with contextlib.suppress(OSError):
        for line in _read(cg_dir("pids", path) / "pids.events").splitlines():
            k, _, v = line.partition(" ")
            if k == "max":
                return int(v)
    return None


def cg_procs(path: str) -> list[int]:
    """Processes in the cgroup itself (pids controller on v1); [] when it does not exist."""
    try:
        return [int(x) for x in _read(cg_dir("pids", path) / "cgroup.procs").split()]
    except FileNotFoundError:
        return []


def pids_in_cgroup_tree(path: str) -> list[int]:
    """Every process whose cgroup (in any hierarchy) is `path` or below it, from /proc."""
    want = "/" + _rel(path)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            p = line.split(":", 2)[-1]
            if p == want or p.startswith(want + "/"):
                found.append(int(entry))
                break
    return found


def process_cgroup(pid: int, controller: str = "pids") -> Optional[str]:
    """The cgroup path of `pid` for `controller` (v2: the unified path)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, ctrls, p = line.split(":", 2)
        if cgroup_v2() and ctrls == "":
            return p
        if controller in ctrls.split(","):
            return p
    return None


def pid_alive(pid: Optional[int]) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def remove_cgroup_tree(parent: str) -> None:
    """Kill whatever is left under our own cgroup parent and remove its directories."""
    if not parent.startswith("rh-test-"):
        return
    # v1: also below a nested group (a relative docker --cgroup-parent lands under the engine's
    # own cgroup, e.g. memory:/process_api/<id>/<parent> on some build hosts)
    patterns = [parent, f"*/{parent}", f"*/*/{parent}"] if cgroup_v2() else [f"*/{parent}", f"*/*/{parent}", f"*/*/*/{parent}"]
    roots = sorted({p for pat in patterns for p in CG.glob(pat) if p.is_dir()})
    for _ in range(20):
        left = pids_in_cgroup_tree(parent)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.25)
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, _dirs, _files in os.walk(root, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


# ====================================================================================== docker
def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def containers(*, instance: Optional[str] = None, tenant: Optional[str] = None, running_only: bool = False) -> list[str]:
    """Full ids of the containers carrying these redhive labels."""
    args = ["ps", "-q", "--no-trunc"]
    if not running_only:
        args.append("-a")
    if instance is not None:
        args += ["--filter", f"label=io.redhive.instance={instance}"]
    if tenant is not None:
        args += ["--filter", f"label=io.redhive.tenant={tenant}"]
    cp = docker(*args)
    assert cp.returncode == 0, f"docker {' '.join(args)}: {cp.stderr}"
    return cp.stdout.split()


def inspect(container: str) -> Optional[dict]:
    cp = docker("inspect", container)
    if cp.returncode != 0:
        return None
    return json.loads(cp.stdout)[0]


# ===================================================================================== servers
class RuntimeServer(RedhiveServer):
    """A redhive server whose environment selects a tenant runtime."""

    def __init__(self, workdir: Path, runtime: str, cgroup_parent: str, budget: str) -> None:
        super().__init__(workdir=workdir, tenants=())
        self.runtime = runtime
        self.cgroup_parent = cgroup_parent
        self.budget = budget

    def env(self) -> dict:
        env = super().env()
        env["REDHIVE_RUNTIME"] = self.runtime
        env["REDHIVE_CGROUP_PARENT"] = self.cgroup_parent
        env["REDHIVE_MEMORY_BUDGET"] = self.budget
        env["REDHIVE_IMAGE"] = os.environ.get("REDHIVE_IMAGE", DEFAULT_IMAGE)
        env["REDHIVE_NODE_HOME"] = os.environ.get("REDHIVE_NODE_HOME", DEFAULT_NODE_HOME)
        if os.environ.get("DOCKER_HOST"):
            env["REDHIVE_DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        return env


class CliError(AssertionError):
    pass


class Hive:
    """One server for one runtime, and the tenant commands of the contract."""

    def __init__(self, runtime: str, budget: str = "2G", label: str = "") -> None:
        self.runtime = runtime
        self.cgroup_parent = f"rh-test-{secrets.token_hex(4)}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"redhive-rt-{label or runtime}-"))
        os.chmod(self.workdir, 0o755)
        self.srv = RuntimeServer(self.workdir, runtime, self.cgroup_parent, budget)
        self.instance: Optional[str] = None
        self.names: set[str] = set()

    # ---------------------------------------------------------------- facts
    @property
    def data_dir(self) -> Path:
        return self.srv.data_dir

    def start_server(self) -> None:
        self.srv.start()

    def stop_server(self) -> Optional[int]:
        return self.srv.stop(timeout=60)

    # ------------------------------------------------------------------ CLI
    def cli(self, *args: str, stdin: Optional[str] = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.srv.binary, "--data-dir", str(self.data_dir), *args],
            env=self.srv.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )

    def ok(self, *args: str, stdin: Optional[str] = None, timeout: float = 300) -> subprocess.CompletedProcess:
        cp = self.cli(*args, stdin=stdin, timeout=timeout)
        if cp.returncode != 0:
            raise CliError(
                f"`redhive {' '.join(args)}` exited {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}\n"
                f"{self.diagnostics(args[2] if len(args) > 2 and args[0] == 'tenant' else None)}"
            )
        return cp

    def add(self, name: str) -> None:
        self.ok("tenant", "add", name, "--user", "admin", "--password-file", "-", stdin=PASSWORD + "\n")
        self.names.add(name)

    def limits(self, name: str, memory: Optional[str] = None, cpus: Optional[float] = None, pids: Optional[int] = None) -> str:
        args = ["tenant", "limits", name]
        if memory is not None:
            args += ["--memory", memory]
        if cpus is not None:
            args += ["--cpus", str(cpus)]
        if pids is not None:
            args += ["--pids", str(pids)]
        return self.ok(*args).stdout

    def start(self, name: str, check: bool = True) -> subprocess.CompletedProcess:
        first = self.runtime == "process" and not _PROCESS_READY["done"]
        t0 = time.monotonic()
        cp = self.cli("tenant", "start", name, timeout=1500 if first else 300)
        if check and cp.returncode != 0 and first:
            # The very first start installs Node + Node-RED; the CLI may stop waiting before.
            log(f"first process start of {name}: CLI exited {cp.returncode} ({cp.stderr.strip()[:300]}); waiting for it")
            self.wait_state(name, {"running"}, timeout=1200, fail_states={"stopped", "safe-mode"})
        elif check and cp.returncode != 0:
            raise CliError(
                f"`redhive tenant start {name}` exited {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}\n{self.diagnostics(name)}"
            )
        if check and self.runtime == "process":
            _PROCESS_READY["done"] = True
        if check:
            log(f"{self.runtime}: {name} started in {time.monotonic() - t0:.1f}s")
        return cp

    def stop(self, name: str) -> subprocess.CompletedProcess:
        return self.ok("tenant", "stop", name)

    def restart(self, name: str) -> subprocess.CompletedProcess:
        return self.ok("tenant", "restart", name)

    def remove(self, name: str) -> subprocess.CompletedProcess:
        cp = self.ok("tenant", "remove", name)
        self.names.discard(name)
        return cp

    def try_status(self, name: Optional[str] = None) -> tuple[Optional[object], subprocess.CompletedProcess]:
        args = ["tenant", "status"] + ([name] if name else []) + ["--json"]
        cp = self.cli(*args, timeout=60)
        if cp.returncode != 0:
            return None, cp
        try:
            value = json.loads(cp.stdout)
        except ValueError as e:
            raise AssertionError(f"`redhive {' '.join(args)}` printed no JSON ({e}):\n{cp.stdout}\n{cp.stderr}") from None
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict) and item.get("instance") and self.instance is None:
                self.instance = item["instance"]
        return value, cp

    def status(self, name: str) -> dict:
        value, cp = self.try_status(name)
        if value is None:
            raise CliError(f"`redhive tenant status {name} --json` exited {cp.returncode}: {cp.stderr.strip()}")
        assert isinstance(value, dict), f"status of one tenant is not an object: {value!r}"
        return value

    def statuses(self) -> list:
        value, cp = self.try_status(None)
        if value is None:
            raise CliError(f"`redhive tenant status --json` exited {cp.returncode}: {cp.stderr.strip()}")
        assert isinstance(value, list), f"status of all tenants is not an array: {value!r}"
        return value

    def wait_state(self, name: str, states: Iterable[str], timeout: float, fail_states: Iterable[str] = ()) -> dict:
        """Poll the status until its state is one of `states`; fail early on `fail_states`."""
        states, fail_states = set(states), set(fail_states)
        history: list[str] = []
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        last = None
        while True:
            st = self.status(name)
            key = f"{st.get('state')} reason={st.get('reason')!r} last_exit={st.get('last_exit')} restarts={st.get('restarts')}"
            if not history or not history[-1].endswith(key):
                history.append(f"+{time.monotonic() - t0:5.1f}s {key}")
            last = st
            if st.get("state") in states:
                return st
            if st.get("state") in fail_states or time.monotonic() > deadline:
                raise AssertionError(
                    f"{name}: wanted state {sorted(states)}, got {last.get('state')!r} after {time.monotonic() - t0:.0f}s\n"
                    + "\n".join(history)
                    + "\n"
                    + self.diagnostics(name)
                )
            time.sleep(0.5)

    def url(self, name: str) -> str:
        st = self.status(name)
        assert st.get("url"), f"{name} has no url: {st}"
        return st["url"]

    def node_red(self, name: str) -> nr.NodeRed:
        return nr.NodeRed(self.url(name), "admin", PASSWORD)

    def wait_http_200(self, url: str, timeout: float = 60) -> None:
        last: list = [None]

        def ok():
            last[0] = nr.try_get(url, timeout=10)
            return last[0][0] == 200

        wait_for(ok, timeout, f"HTTP 200 from {url}", interval=0.5, detail=lambda: f"last: {last[0]}")

    # ----------------------------------------------------------- diagnostics
    def logs(self, name: str, tail: int = 40) -> str:
        with contextlib.suppress(Exception):
            cp = self.cli("tenant", "logs", name, "--tail", str(tail), timeout=30)
            return cp.stdout + (f"\n(stderr: {cp.stderr.strip()})" if cp.stderr.strip() else "")
        return "(no logs)"

    def diagnostics(self, name: Optional[str]) -> str:
        parts = [f"--- server log tail ({self.srv.log_path}):\n{self.srv.log_tail(30)}"]
        if name:
            parts.append(f"--- tenant {name} logs:\n{self.logs(name)}")
        return "\n".join(parts)

    # --------------------------------------------------------------- cleanup
    def ensure_removed(self, name: str) -> None:
        """Best-effort `tenant remove` (finalizers)."""
        with contextlib.suppress(Exception):
            if self.srv.is_running():
                self.cli("tenant", "remove", name, timeout=180)
        self.names.discard(name)

    def close(self, keep_log_in: Optional[Path] = None) -> None:
        names = set(self.names)
        with contextlib.suppress(Exception):
            if self.srv.is_running():
                for st in self.statuses():
                    names.add(st.get("name"))
        for name in sorted(n for n in names if n):
            self.ensure_removed(name)
        with contextlib.suppress(Exception):
            self.srv.stop(timeout=60)
        if self.runtime == "docker" and os.environ.get("DOCKER_HOST"):
            with contextlib.suppress(Exception):
                leftover = set(containers(instance=self.instance)) if self.instance else set()
                for cid in containers(tenant=None):
                    info = inspect(cid) or {}
                    labels = (info.get("Config") or {}).get("Labels") or {}
                    parent = ((info.get("HostConfig") or {}).get("CgroupParent") or "").strip("/")
                    if "io.redhive.tenant" in labels and parent == self.cgroup_parent:
                        leftover.add(cid)
                if leftover:
                    log(f"removing leftover containers {sorted(c[:12] for c in leftover)}")
                    docker("rm", "-f", *sorted(leftover), timeout=120)
        with contextlib.suppress(Exception):
            remove_cgroup_tree(self.cgroup_parent)
        if keep_log_in is not None:
            with contextlib.suppress(Exception):
                keep_log_in.mkdir(parents=True, exist_ok=True)
                shutil.copy(self.srv.log_path, keep_log_in / "serve.log")
                sys.stderr.write(f"\n[redhive] {self.runtime} server log kept at {keep_log_in / 'serve.log'}\n")
        if os.environ.get("REDHIVE_KEEP_TMP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            sys.stderr.write(f"\n[redhive] work dir kept: {self.workdir}\n")


def _require(runtime: str) -> None:
    binary = redhive_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"redhive binary missing: {binary} (build it or set REDHIVE_BIN)")
    if runtime == "docker" and not os.environ.get("DOCKER_HOST"):
        pytest.skip('docker runtime: DOCKER_HOST is not set (run: eval "$(tests/docker.sh start)")')


@contextlib.contextmanager
def running_hive(runtime: str, keep_log_in: Optional[Path], budget: str = "2G", label: str = ""):
    _require(runtime)
    h = Hive(runtime, budget=budget, label=label)
    try:
        h.start_server()
        yield h
    finally:
        h.close(keep_log_in)


@pytest.fixture(scope="module", params=RUNTIMES)
def hive(request, tmp_path_factory):
    """A server for one runtime (docker, then process), shared by the tests of the module."""
    keep = tmp_path_factory.mktemp(f"runtime-{request.param}")
    with running_hive(request.param, keep) as h:
        yield h


@pytest.fixture
def make_hive(tmp_path_factory):
    """Dedicated servers (e.g. with a small memory budget), closed after the test."""
    stack = contextlib.ExitStack()

    def make(runtime: str, budget: str = "2G", label: str = "") -> Hive:
        keep = tmp_path_factory.mktemp(f"runtime-{runtime}-{label or 'dedicated'}")
        return stack.enter_context(running_hive(runtime, keep, budget=budget, label=label))

    with stack:
        yield make


@pytest.fixture(scope="module")
def peer(hive):
    """A second running tenant ('peer', default limits) with /hello and /warn endpoints: the
    neighbour that must keep answering while another tenant misbehaves."""
    name = "peer"
    hive.add(name)
    hive.start(name)
    red = hive.node_red(name)
    red.deploy(nr.warn_flow())
    red.wait_ready()
    return name


class Watch:
    """Polls a URL in a thread (every `interval` s) and records what answered."""

    def __init__(self, url: str, interval: float = 0.5, timeout: float = 10.0) -> None:
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.results: list[tuple[float, Optional[int], str]] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            status, detail = nr.try_get(self.url, timeout=self.timeout)
            self.results.append((time.monotonic() - self._t0, status, detail))
            self._stop.wait(self.interval)

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    @property
    def failures(self) -> list:
        return [r for r in self.results if r[1] != 200]

    def summary(self) -> str:
        return f"{len(self.results)} requests to {self.url}, {len(self.failures)} not 200: {self.failures[:5]}"


URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)/$")
