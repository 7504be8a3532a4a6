"""Tenant runtimes end to end: lifecycle, cgroup limits (memory, CPU, pids), isolation of a
function node from the host, crash loops and safe mode, server restarts (docker adoption),
admission control against the memory budget, logs and doctor.

Every test runs against both runtimes (``docker`` and ``process``) unless it says otherwise.
Measured numbers are printed (``-s`` shows them live; a failing test shows them in its report).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest
from pymongo import MongoClient

import nodered as nr
from conftest import (
    DEFAULT_IMAGE,
    MIB,
    RUNTIMES,
    STATES,
    URL_RE,
    Watch,
    cg_exists,
    cg_procs,
    containers,
    cpu_quota,
    cpu_usage_seconds,
    docker,
    inspect,
    log,
    memory_limit,
    memory_peak,
    pid_alive,
    pids_current,
    pids_in_cgroup_tree,
    pids_max,
    pids_refused,
    process_cgroup,
    wait_for,
)


# ==================================================================================== helpers
def check_status_shape(st: dict, hive, name: str) -> None:
    for key in ("name", "state", "reason", "runtime", "instance", "url", "limits", "usage", "restarts", "last_exit", "container", "pid", "cgroup"):
        assert key in st, f"status lacks {key!r}: {st}"
    assert st["name"] == name
    assert st["state"] in STATES, st
    assert st["runtime"] == hive.runtime, st
    assert isinstance(st["instance"], str) and st["instance"], st
    assert isinstance(st["restarts"], int), st
    lim = st["limits"]
    assert isinstance(lim["memory_bytes"], int) and lim["memory_bytes"] > 0, lim
    assert isinstance(lim["cpus"], (int, float)) and lim["cpus"] > 0, lim
    assert isinstance(lim["pids"], int) and lim["pids"] > 0, lim


def identity(hive, st: dict) -> tuple:
    """What changes when the runtime really replaces the tenant's Node-RED."""
    if hive.runtime == "docker":
        info = inspect(st["container"]) or {}
        return (st["container"], (info.get("State") or {}).get("StartedAt"))
    return (st["pid"],)


def assert_cgroup_holds_tenant(hive, st: dict) -> None:
    """The tenant's cgroup exists and really contains its Node-RED."""
    cg = st["cgroup"]
    assert cg, f"running tenant without cgroup: {st}"
    assert cg_exists(cg), f"cgroup {cg} of {st['name']} does not exist under /sys/fs/cgroup"
    if hive.runtime == "process":
        pid = st["pid"]
    else:
        assert st["container"] and re.fullmatch(r"[0-9a-f]{64}", st["container"]), f"container id: {st['container']!r}"
        assert cg.strip("/").endswith(st["container"]), f"docker cgroup {cg!r} is not the container's"
        pid = (inspect(st["container"]) or {}).get("State", {}).get("Pid")
    assert pid_alive(pid), f"main pid {pid} of {st['name']} is not alive"
    assert cg.strip("/").startswith(hive.cgroup_parent + "/"), f"cgroup {cg!r} is not below the parent {hive.cgroup_parent}"
    # every controller the limits use: the tenant must be in exactly this group (on v1 a relative
    # docker --cgroup-parent can put the memory group below the engine's own memory cgroup)
    for ctrl in ("memory", "pids", "cpu", "cpuacct"):
        got = process_cgroup(pid, ctrl)
        assert got is not None and got.strip("/") == cg.strip("/"), f"pid {pid} is in {ctrl} cgroup {got!r}, status says {cg!r}"
    assert pid in cg_procs(cg), f"main pid {pid} not in {cg}/cgroup.procs ({cg_procs(cg)})"


def assert_nothing_left(hive, name: str, st: dict, removed: bool) -> None:
    """After stop (removed=False) or remove (removed=True): no process of the tenant anywhere."""
    cg = st.get("cgroup")
    if hive.runtime == "docker":
        running = containers(instance=st["instance"], tenant=name, running_only=True)
        assert running == [], f"{name}: containers still running after stop/remove: {running}"
        if removed:
            left = containers(instance=st["instance"], tenant=name)
            assert left == [], f"{name}: containers left after remove: {left}"
    else:
        pid = st.get("pid")
        wait_for(lambda: not pid_alive(pid), 20, f"pid {pid} of {name} to exit")
    if cg:
        wait_for(
            lambda: not cg_procs(cg) and not pids_in_cgroup_tree(cg),
            30,
            f"cgroup {cg} of {name} to be empty",
            detail=lambda: f"procs: {cg_procs(cg)} tree: {pids_in_cgroup_tree(cg)}",
        )
        if removed and hive.runtime == "process":
            wait_for(lambda: not cg_exists(cg), 20, f"cgroup dir {cg} to be removed")


# ================================================================================= 1 lifecycle
def test_lifecycle_add_start_stop_restart_remove(hive, peer):
    name = "life"
    hive.add(name)
    try:
        st = hive.status(name)
        check_status_shape(st, hive, name)
        assert st["state"] == "stopped", st

        cp = hive.start(name)
        m = re.search(rf"^{name}: running at (http://127\.0\.0\.1:\d+/)\s*$", cp.stdout, re.M)
        assert m, f"start printed: {cp.stdout!r}"
        st = hive.status(name)
        check_status_shape(st, hive, name)
        assert st["state"] == "running", st
        assert st["url"] == m.group(1), (st["url"], cp.stdout)
        assert URL_RE.match(st["url"]), st["url"]
        hive.wait_http_200(st["url"], timeout=30)
        assert_cgroup_holds_tenant(hive, st)
        if hive.runtime == "docker":
            info = inspect(st["container"])
            assert info and info["State"]["Running"], info and info["State"]
            labels = info["Config"]["Labels"]
            assert labels.get("io.redhive.instance") == st["instance"], labels
            assert labels.get("io.redhive.tenant") == name, labels
            assert containers(instance=st["instance"], tenant=name) == [st["container"]]
        else:
            assert (hive.data_dir / "tenants" / name).is_dir(), "process runtime: no userDir <data>/tenants/<name>"
        # limits are applied to the cgroup
        lim = st["limits"]
        assert memory_limit(st["cgroup"]) == lim["memory_bytes"], (memory_limit(st["cgroup"]), lim)
        assert pids_max(st["cgroup"]) == lim["pids"], (pids_max(st["cgroup"]), lim)
        assert abs((cpu_quota(st["cgroup"]) or 0) - lim["cpus"]) < 0.01, (cpu_quota(st["cgroup"]), lim)
        usage = wait_for(lambda: (hive.status(name).get("usage") or {}).get("memory_bytes"), 15, "usage.memory_bytes")
        log(f"{hive.runtime}: running {name}: url {st['url']} cgroup {st['cgroup']} limits {lim} memory used {usage / MIB:.0f} MiB")
        all_names = [t.get("name") for t in hive.statuses()]
        assert name in all_names, all_names

        # stop
        url = st["url"]
        hive.stop(name)
        stopped = hive.status(name)
        assert stopped["state"] == "stopped", stopped
        wait_for(lambda: nr.try_get(url, timeout=3)[0] is None, 20, f"{url} to stop answering", detail=lambda: str(nr.try_get(url, 3)))
        assert_nothing_left(hive, name, st, removed=False)

        # start again, then restart
        hive.start(name)
        st2 = hive.wait_state(name, {"running"}, 30)
        hive.wait_http_200(st2["url"], timeout=30)
        before = identity(hive, st2)
        hive.restart(name)
        st3 = hive.wait_state(name, {"running"}, 30)
        hive.wait_http_200(st3["url"], timeout=30)
        after = identity(hive, st3)
        assert after != before, f"restart did not replace the runtime: {before} -> {after}"
        assert_cgroup_holds_tenant(hive, st3)

        # remove: everything goes
        with MongoClient(hive.srv.root_uri, serverSelectionTimeoutMS=10_000) as mc:
            assert name in mc.list_database_names(), "tenant database missing before remove"
        hive.remove(name)
        _, cp = hive.try_status(name)
        assert cp.returncode != 0, f"status of a removed tenant exited 0: {cp.stdout}"
        assert_nothing_left(hive, name, st3, removed=True)
        if hive.runtime == "process":
            assert not (hive.data_dir / "tenants" / name).exists(), "userDir left after remove"
        with MongoClient(hive.srv.root_uri, serverSelectionTimeoutMS=10_000) as mc:
            dbs = mc.list_database_names()
        assert name not in dbs, f"database {name} left after remove: {dbs}"
        assert name not in [t.get("name") for t in hive.statuses()]
    finally:
        hive.ensure_removed(name)


# ============================================================================== 2 memory limit
def test_memory_limit_oom_kills_only_that_tenant(hive, peer):
    name = "mem"
    hive.add(name)
    try:
        out = hive.limits(name, memory="128M")
        log(f"limits: {out.strip()}")
        hive.start(name)
        st = hive.status(name)
        assert st["limits"]["memory_bytes"] == 128 * MIB, st["limits"]
        assert memory_limit(st["cgroup"]) == 128 * MIB, f"cgroup memory limit {memory_limit(st['cgroup'])}"
        red = hive.node_red(name)
        red.deploy(nr.oom_flow())
        red.wait_ready()
        restarts0 = st["restarts"]
        cg0 = st["cgroup"]

        peer_url = nr.join(hive.url(peer), "hello")
        with Watch(peer_url) as watch:
            t0 = time.monotonic()
            trig = nr.try_get(red.endpoint("boom"), timeout=10)
            log(f"/boom answered {trig}")
            peak = [0]

            def oomed():
                p = memory_peak(cg0)
                if p:
                    peak[0] = max(peak[0], p)
                s = hive.status(name)
                return s if (s.get("last_exit") or {}).get("oom") is True else None

            st_oom = wait_for(oomed, 60, f"{name}: last_exit.oom == true", interval=0.5, detail=lambda: f"{hive.status(name)}\n{hive.diagnostics(name)}")
            t_oom = time.monotonic() - t0
            log(f"{hive.runtime}: OOM seen after {t_oom:.1f}s, peak memory {peak[0] / MIB:.0f} MiB, state {st_oom['state']}, last_exit {st_oom['last_exit']}")
            back = hive.wait_state(name, {"running"}, 120, fail_states={"stopped"})
            hive.wait_http_200(back["url"], timeout=60)
            log(f"{hive.runtime}: {name} running again after {time.monotonic() - t0:.1f}s, restarts {back['restarts']}")
        log(f"peer during the OOM: {watch.summary()}")
        assert peak[0] == 0 or peak[0] <= 128 * MIB + 4 * MIB, f"cgroup peak {peak[0]} above the 128 MiB limit"
        assert back["restarts"] > restarts0, f"restarts {restarts0} -> {back['restarts']}"
        assert "memory limit (128 MiB)" in back["last_exit"]["reason"], back["last_exit"]
        assert len(watch.results) >= 5, watch.summary()
        assert not watch.failures, f"the other tenant stopped answering: {watch.summary()}"
        assert nr.get(nr.join(back["url"], "ready")).status == 200, "flows of the restarted tenant are not running"
    finally:
        hive.ensure_removed(name)


# ================================================================================ 3 CPU quota
def test_cpu_quota_half_a_core(hive):
    name = "cpu"
    hive.add(name)
    try:
        hive.limits(name, cpus=0.5)
        hive.start(name)
        st = hive.status(name)
        assert abs(st["limits"]["cpus"] - 0.5) < 1e-9, st["limits"]
        q = cpu_quota(st["cgroup"])
        assert q is not None and abs(q - 0.5) < 0.01, f"cgroup CPU quota {q}"
        red = hive.node_red(name)
        red.deploy(nr.burn_flow())
        red.wait_ready()
        r = nr.get(red.endpoint("burn?threads=2&seconds=20"), timeout=30)
        assert r.status == 200, r
        time.sleep(2)
        cg = hive.status(name)["cgroup"]
        u0, t0 = cpu_usage_seconds(cg), time.monotonic()
        time.sleep(5)
        u1, t1 = cpu_usage_seconds(cg), time.monotonic()
        cpus = (u1 - u0) / (t1 - t0)
        log(f"{hive.runtime}: 2 busy threads under --cpus 0.5 used {cpus:.3f} CPUs over {t1 - t0:.1f}s (quota 0.5, accepted 0.30..0.65)")
        assert 0.30 <= cpus <= 0.65, f"measured {cpus:.3f} CPUs with a 0.5 quota (2 busy threads)"
    finally:
        hive.ensure_removed(name)


# ================================================================================= 4 fork bomb
def test_fork_bomb_is_contained_by_the_pids_limit(hive, peer):
    name = "bomb"
    limit = 64
    hive.add(name)
    try:
        hive.limits(name, pids=limit)
        hive.start(name)
        st = hive.status(name)
        assert st["limits"]["pids"] == limit, st["limits"]
        cg = st["cgroup"]
        # Guard: never set off a fork bomb that is not inside a pids-limited cgroup.
        assert_cgroup_holds_tenant(hive, st)
        got_max = pids_max(cg)
        assert got_max == limit, f"pids.max of {cg} is {got_max}, not {limit}: not starting the bomb"
        assert pids_current(cg) >= 1, f"{cg} accounts no process: not starting the bomb"
        red = hive.node_red(name)
        red.deploy(nr.bomb_flow())
        red.wait_ready()

        peer_url = nr.join(hive.url(peer), "hello")
        samples = []
        with Watch(peer_url, interval=0.5) as watch:
            r = nr.get(red.endpoint("bomb"), timeout=30)
            assert r.status == 200, r
            t0 = time.monotonic()
            while time.monotonic() - t0 < 8:
                try:
                    samples.append(pids_current(cg))
                except OSError:
                    samples.append(-1)
                time.sleep(0.1)
        refused = pids_refused(cg)
        peak = max(samples)
        log(f"{hive.runtime}: fork bomb: pids.current peak {peak} (limit {limit}), last {samples[-5:]}, forks refused {refused}")
        log(f"peer during the fork bomb: {watch.summary()}")
        assert -1 not in samples, f"cgroup {cg} vanished while the bomb ran: {samples}"
        assert peak <= limit, f"pids.current reached {peak} > {limit}"
        assert peak >= limit * 3 // 4, f"the bomb never got near the limit (peak {peak}): it did not run?"
        assert refused is None or refused > 0, f"pids.events reports no refused fork ({refused})"
        assert not watch.failures, f"the other tenant stopped answering: {watch.summary()}"

        st_now = hive.status(name)
        t0 = time.monotonic()
        hive.stop(name)
        log(f"{hive.runtime}: stop with the bomb running took {time.monotonic() - t0:.1f}s")
        assert hive.status(name)["state"] == "stopped"
        assert_nothing_left(hive, name, st_now, removed=False)
    finally:
        hive.ensure_removed(name)


# ================================================================================= 5 isolation
def test_function_node_cannot_reach_the_host(hive, peer):
    name = "iso"
    hive.add(name)
    try:
        hive.start(name)
        red = hive.node_red(name)
        red.deploy(nr.probe_flow())
        red.wait_ready()
        data = hive.data_dir
        root_uri_file = data / "secrets" / "mongo-root.uri"
        assert root_uri_file.is_file() and (data / "store").exists(), "data dir layout: secrets/mongo-root.uri and store/ expected"
        secret = root_uri_file.read_text().strip()

        reads = ["/etc/shadow", str(root_uri_file)]
        reads += [str(p) for p in sorted((data / "secrets").iterdir()) if p.is_file()][:6]
        reads += [str(p) for p in sorted((data / "store").rglob("*")) if p.is_file()][:4]
        reads.append(f"/proc/{hive.srv.server_pid}/environ")
        lists = [str(data), str(data / "store"), str(data / "secrets"), str(data / "tenants")]
        other = data / "tenants" / peer
        if hive.runtime == "process":
            assert other.is_dir(), f"process runtime: the other tenant's userDir {other} does not exist"
            lists.append(str(other))
            reads += [str(p) for p in sorted(other.iterdir()) if p.is_file()][:6]
        elif other.exists():
            lists.append(str(other))
        sockets = ["/run/redhive-docker/docker.sock", "/var/run/docker.sock"]
        dh = os.environ.get("DOCKER_HOST", "")
        if dh.startswith("unix://") and dh[7:] not in sockets:
            sockets.append(dh[7:])
        sockets += [str(p) for p in sorted(data.rglob("*.sock"))]
        if str(data / "run" / "control.sock") not in sockets:
            sockets.append(str(data / "run" / "control.sock"))

        r = red.post_json("probe", {"read": reads, "list": lists, "connect": sockets}, timeout=60)
        assert r.status == 200, r
        out = r.json()
        log(f"{hive.runtime}: probe ran as uid {out.get('uid')} gid {out.get('gid')}")

        # the probe itself works
        ctl = out["control"]
        assert ctl["listRoot"].get("ok") is True and ctl["readSelf"].get("ok") is True, f"broken probe: {ctl}"
        assert ctl["connectOwn"].get("ok") is True, f"net.connect does not work at all in the probe: {ctl}"

        seen = []
        for kind in ("files", "dirs", "sockets"):
            for path, res in out[kind].items():
                line = f"{kind[:-1]:6} {path}: " + ("OK " + json.dumps(res)[:200] if res.get("ok") is not False else f"refused {res.get('code')}")
                log(line)
                if res.get("ok") is not False:
                    seen.append(line)
        for path in reads:
            assert path in out["files"], f"no answer for {path}"
        assert not seen, "a function node reached the host:\n" + "\n".join(seen)
        assert secret not in r.text, "the root connection string leaked into the probe's answer"
    finally:
        hive.ensure_removed(name)


# ========================================================================== 6 crash → safe mode
def test_crash_loop_ends_in_safe_mode(hive):
    name = "crashy"
    hive.add(name)
    try:
        hive.start(name)
        red = hive.node_red(name)
        red.deploy(nr.crash_flow(delay=0.5))
        t0 = time.monotonic()
        st = hive.wait_state(name, {"safe-mode"}, 120)
        log(f"{hive.runtime}: safe-mode after {time.monotonic() - t0:.1f}s: reason {st['reason']!r}, restarts {st['restarts']}, last_exit {st['last_exit']}")
        assert st["reason"] and "crash" in st["reason"].lower(), f"reason does not mention the crash loop: {st['reason']!r}"
        assert st["last_exit"] and st["last_exit"]["code"] == 3, f"last_exit {st['last_exit']}"
        assert st["last_exit"]["oom"] is False, st["last_exit"]
        assert st["restarts"] >= 2, st
        # safe mode: the editor answers and the flows do not run (so it stops crashing)
        hive.wait_http_200(hive.url(name), timeout=60)
        time.sleep(5)
        still = hive.status(name)
        assert still["state"] == "safe-mode", still
        assert still["restarts"] == st["restarts"], f"still crashing in safe mode: {st['restarts']} -> {still['restarts']}"
        red = hive.node_red(name)
        assert nr.try_get(red.endpoint("ready"), 5)[0] == 404, "flows are running in safe mode"

        # fix the flows from the editor, then a restart leaves safe mode
        red.deploy(nr.ready_flow())
        red.wait_ready()
        hive.restart(name)
        st = hive.wait_state(name, {"running"}, 60, fail_states={"safe-mode"})
        time.sleep(5)
        st = hive.status(name)
        assert st["state"] == "running", st
        hive.wait_http_200(st["url"], timeout=30)
        assert nr.get(nr.join(st["url"], "ready")).status == 200, "flows not running after the restart"
        assert nr.get(nr.join(st["url"], "hello")).text == "hello"
    finally:
        hive.ensure_removed(name)


# ===================================================================== 7 server restart/adoption
def test_server_restart_keeps_tenants(hive, peer):
    """docker: SIGTERM leaves the containers running and the next server adopts them (same id,
    no duplicate). process: SIGTERM stops the tenants and the next server starts them again."""
    st = hive.wait_state(peer, {"running"}, 30)
    url = st["url"]
    # SIGTERM only the server and wait for it, before the harness SIGKILLs its process group
    # (which could otherwise hide tenants the server left behind).
    server_pid = hive.srv.server_pid
    os.kill(server_pid, signal.SIGTERM)
    rc = hive.srv.proc.wait(90)
    log(f"{hive.runtime}: server stopped with SIGTERM, exit {rc}")
    if hive.runtime == "docker":
        cid = st["container"]
        info = inspect(cid)
        assert info and info["State"]["Running"], f"container {cid[:12]} not running after the server stopped"
        assert containers(instance=st["instance"], tenant=peer) == [cid]
    else:
        wait_for(lambda: not pid_alive(st["pid"]), 30, f"tenant pid {st['pid']} to stop with the server")
        wait_for(lambda: not pids_in_cgroup_tree(st["cgroup"]), 30, f"cgroup {st['cgroup']} to be empty")
        assert nr.try_get(url, timeout=3)[0] is None, f"{url} still answers with the server stopped"
    hive.stop_server()  # the harness's bookkeeping: log closed, process group gone

    hive.start_server()
    t0 = time.monotonic()
    st2 = hive.wait_state(peer, {"running"}, 300 if hive.runtime == "process" else 90)
    log(f"{hive.runtime}: peer running {time.monotonic() - t0:.1f}s after the server came back")
    hive.wait_http_200(nr.join(st2["url"], "hello"), timeout=60)
    assert st2["instance"] == st["instance"], (st["instance"], st2["instance"])
    if hive.runtime == "docker":
        assert st2["container"] == st["container"], f"not adopted: {st['container'][:12]} -> {st2['container']}"
        assert containers(instance=st["instance"], tenant=peer) == [st["container"]], "duplicate container"
        assert st2["url"] == url
    else:
        assert st2["pid"] != st["pid"] and pid_alive(st2["pid"]), (st["pid"], st2["pid"])
        assert_cgroup_holds_tenant(hive, st2)


# ============================================================================= 9 CLI: logs, doctor
def test_logs_tail_and_follow(hive, peer):
    cp = hive.ok("tenant", "logs", peer, "--tail", "200")
    assert "Node-RED" in cp.stdout, f"no Node-RED startup line in the logs:\n{cp.stdout[-2000:]}"
    cp3 = hive.ok("tenant", "logs", peer, "--tail", "3")
    lines = [ln for ln in cp3.stdout.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 3, cp3.stdout

    mark = f"follow-mark-{uuid.uuid4().hex[:12]}"
    proc = subprocess.Popen(
        [hive.srv.binary, "--data-dir", str(hive.data_dir), "tenant", "logs", peer, "--follow"],
        env=hive.srv.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    got: list[str] = []
    seen = threading.Event()

    def reader():
        for line in proc.stdout:
            got.append(line)
            if mark in line:
                seen.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        time.sleep(1.5)
        assert proc.poll() is None, f"logs --follow exited {proc.returncode}: {''.join(got)}"
        r = nr.get(nr.join(hive.url(peer), f"warn?mark={mark}"))
        assert r.status == 200, r
        assert seen.wait(20), f"{mark} not streamed by logs --follow within 20 s; got:\n{''.join(got[-20:])}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _doctor_json(cp) -> dict:
    try:
        doc = json.loads(cp.stdout)
    except ValueError:
        raise AssertionError(f"doctor --json printed no JSON (exit {cp.returncode}):\n{cp.stdout}\n{cp.stderr}") from None
    assert isinstance(doc, dict), doc
    assert "runtime" in doc and "checks" in doc, doc
    assert isinstance(doc["checks"], list) and doc["checks"], doc
    for c in doc["checks"]:
        assert isinstance(c.get("name"), str) and c["name"], c
        assert isinstance(c.get("ok"), bool), c
        assert "detail" in c, c
    return doc


def test_doctor(hive, tmp_path):
    cp = hive.cli("doctor", "--json", timeout=120)
    doc = _doctor_json(cp)
    log(f"{hive.runtime}: doctor exit {cp.returncode}, runtime {doc['runtime']!r}")
    for c in doc["checks"]:
        log(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
    assert hive.runtime in json.dumps(doc["runtime"]), f"doctor names runtime {doc['runtime']!r}, server runs {hive.runtime}"
    text = hive.cli("doctor", timeout=120)
    assert text.stdout.strip(), f"doctor printed nothing (exit {text.returncode}): {text.stderr}"
    # without a server, on an empty data dir
    empty = tmp_path / "no-server"
    alone = subprocess.run(
        [hive.srv.binary, "--data-dir", str(empty), "doctor", "--json"],
        env=hive.srv.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc2 = _doctor_json(alone)
    assert hive.runtime in json.dumps(doc2["runtime"]), doc2["runtime"]


# ========================================================================= 8 admission control
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_admission_refuses_a_start_over_the_memory_budget(make_hive, runtime):
    h = make_hive(runtime, budget="300M", label="budget")
    for t in ("adma", "admb"):
        h.add(t)
        h.limits(t, memory="256M")
    h.start("adma")
    st_a = h.status("adma")
    parent_limit = memory_limit(h.cgroup_parent)
    log(f"{runtime}: parent cgroup {h.cgroup_parent} memory limit {parent_limit}")
    assert parent_limit == 300 * MIB, f"parent cgroup memory limit {parent_limit}, budget is 300 MiB"

    cp = h.cli("tenant", "start", "admb", timeout=300)
    msg = (cp.stderr + cp.stdout).strip()
    log(f"{runtime}: second start exit {cp.returncode}: {msg}")
    assert cp.returncode != 0, f"a second 256 MiB tenant was admitted under a 300 MiB budget: {cp.stdout}"
    assert "256" in cp.stderr and "300" in cp.stderr, f"refusal does not name the numbers (MiB): {cp.stderr!r}"
    st_b = h.status("admb")
    assert st_b["state"] == "stopped", st_b
    if runtime == "docker":
        assert containers(instance=st_b["instance"], tenant="admb", running_only=True) == []
    assert h.status("adma")["state"] == "running"
    assert nr.try_get(st_a["url"])[0] == 200

    # the budget is about running tenants: once a is stopped, b fits
    h.stop("adma")
    h.start("admb")
    assert h.status("admb")["state"] == "running"


# ============================================================ 10 a hung Node-RED is restarted
def test_a_blocked_event_loop_is_killed_and_restarted(make_hive):
    """A flow that never yields keeps the process alive but the editor silent: the supervisor's
    liveness probe (every 10 s, 60 s of silence) kills and restarts it. Shared supervisor code,
    so one runtime is enough; it takes ~80 s."""
    h = make_hive("process", label="hang")
    name = "hung"
    h.add(name)
    h.start(name)
    first = h.status(name)
    red = h.node_red(name)
    red.deploy(nr.hang_flow(delay=1.0))
    t0 = time.monotonic()
    wait_for(lambda: nr.try_get(first["url"], 3)[0] is None, 30, "the editor to stop answering")
    st = wait_for(
        lambda: (s := h.status(name))["restarts"] >= 1 and s,
        150,
        "the supervisor to kill the hung Node-RED",
        interval=2,
    )
    log(f"hang detected and killed after {time.monotonic() - t0:.0f}s: last_exit {st['last_exit']}")
    assert "stopped answering" in st["last_exit"]["reason"], st
    assert st["last_exit"]["signal"] == 9, st
    assert not pid_alive(first["pid"]), f"the hung process {first['pid']} still runs"
    # It comes back (and will hang again: the flow is stored) — the editor answers meanwhile.
    st = h.wait_state(name, {"running", "safe-mode"}, 60)
    assert st["pid"] != first["pid"], st


# ====================================================== 11b the tenant image shipped as an archive
def tenant_image_check(h) -> tuple[dict, dict]:
    """The doctor report the setup wizard shows (no session needed before setup), and its
    "tenant image" check."""
    report = json.loads(urllib.request.urlopen(f"http://{h.srv.http_listen}/api/setup", timeout=30).read())["doctor"]
    return report, {c["name"]: c for c in report["checks"]}["tenant image"]


def test_a_shipped_image_archive_is_loaded_on_first_start(make_hive, monkeypatch, tmp_path):
    """The appliance's first boot: the engine lacks the image, runtime.image_archive has it
    (`docker save`, under another tag). `auto` picks Docker, the load runs in the background
    with its progress in the doctor report (the wizard's first page), the archive's image is
    tagged as runtime.image, and a tenant started meanwhile waits for it and runs."""
    source = os.environ.get("REDHIVE_IMAGE", DEFAULT_IMAGE)
    archive = tmp_path / "tenant-image.tar"
    docker("save", "-o", str(archive), source, timeout=300)
    wanted = f"redhive/node-red:archive-{secrets.token_hex(3)}"
    monkeypatch.setenv("REDHIVE_IMAGE", wanted)
    monkeypatch.setenv("REDHIVE_IMAGE_ARCHIVE", str(archive))
    try:
        h = make_hive("auto", label="archive")
        report, check = tenant_image_check(h)
        log(f"first look at the doctor report: {check}")
        assert report["runtime"] == "docker", report
        assert check["ok"], check
        assert check["detail"].startswith(f"loading {archive} into Docker (first start): ") \
            or check["detail"] == f"loaded from {archive}", check
        h.add("r1")
        h.start("r1")
        assert h.status("r1")["state"] == "running"
        _, check = tenant_image_check(h)
        assert check == {"name": "tenant image", "ok": True, "detail": f"loaded from {archive}"}, check
        assert docker("image", "inspect", "-f", "{{.Id}}", wanted).stdout == docker("image", "inspect", "-f", "{{.Id}}", source).stdout
        h.remove("r1")
    finally:
        docker("rmi", wanted)


def test_a_broken_image_archive_says_why(make_hive, monkeypatch, tmp_path):
    archive = tmp_path / "tenant-image.tar"
    archive.write_bytes(b"this is not a tar archive" * 100)
    monkeypatch.setenv("REDHIVE_IMAGE", "redhive/node-red:no-such-tag")
    monkeypatch.setenv("REDHIVE_IMAGE_ARCHIVE", str(archive))
    h = make_hive("docker", label="badarchive")
    h.add("r1")
    cp = h.cli("tenant", "start", "r1", timeout=120)
    log(f"start with a broken archive: exit {cp.returncode}: {cp.stderr.strip()}")
    assert cp.returncode != 0
    assert "cannot load the tenant image from runtime.image_archive" in cp.stderr, cp.stderr
    _, check = tenant_image_check(h)
    assert not check["ok"] and check["detail"].startswith(f"loading {archive} failed: "), check


# ==================================================================== 11 missing tenant image
def test_a_missing_image_says_how_to_get_it(make_hive, monkeypatch):
    monkeypatch.setenv("REDHIVE_IMAGE", "redhive/node-red:no-such-tag")
    h = make_hive("docker", label="noimage")
    h.add("r1")
    cp = h.cli("tenant", "start", "r1", timeout=120)
    log(f"docker without the image: exit {cp.returncode}: {cp.stderr.strip()}")
    assert cp.returncode != 0, cp.stdout
    assert "redhive/node-red:no-such-tag" in cp.stderr and "build-local.sh" in cp.stderr, cp.stderr
    assert containers(instance=h.status("r1")["instance"], tenant="r1") == []
