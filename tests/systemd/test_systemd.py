"""redhive as a systemd service: the unit passes `systemd-analyze verify`, and the binary speaks
systemd's notify protocol — READY=1 only once the API and the MongoDB shim answer, watchdog pings
at half of WatchdogSec, STOPPING=1 on SIGTERM and a clean exit.

The notify side is the real interface systemd uses: a datagram socket named by NOTIFY_SOCKET (and
WATCHDOG_USEC), here created by the test instead of PID 1 (this machine's containers do not run
systemd as PID 1).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from redhive_server import _die_with_parent, redhive_bin, two_free_ports  # noqa: E402

UNIT = ROOT / "systemd" / "redhive.service"
WATCHDOG_USEC = 2_000_000


def test_the_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (apt-get install systemd)")
    # The unit names /usr/bin/redhive; verify it against the binary under test.
    unit = tmp_path / "redhive.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/redhive", redhive_bin()))
    cp = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert cp.returncode == 0 and not cp.stderr.strip(), f"systemd-analyze verify:\n{cp.stdout}{cp.stderr}"
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "StateDirectory=redhive", "After=network-online.target docker.service"):
        assert line in text, f"{line} missing from the unit"


def _messages(sock: socket.socket, until: float) -> list[tuple[float, str]]:
    out = []
    while time.monotonic() < until:
        sock.settimeout(max(0.01, until - time.monotonic()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        out.append((time.monotonic(), data.decode()))
    return out


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_notify_ready_watchdog_and_stopping():
    work = Path(tempfile.mkdtemp(prefix="redhive-systemd-"))
    os.chmod(work, 0o755)
    notify_path = str(work / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    http_port, mongo_port = two_free_ports()
    env = {
        **os.environ,
        "NOTIFY_SOCKET": notify_path,
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
        "REDHIVE_RUNTIME": "process",
        "REDHIVE_MDNS": "off",
    }
    proc = subprocess.Popen(
        [redhive_bin(), "serve", "--data-dir", str(work / "data"), "--listen", f"127.0.0.1:{http_port}",
         "--mongo-listen", f"127.0.0.1:{mongo_port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "w"), preexec_fn=_die_with_parent)
    try:
        # READY=1, and at that moment the API and the shim answer.
        ready = None
        deadline = time.monotonic() + 60
        while ready is None and time.monotonic() < deadline:
            for _, message in _messages(sock, time.monotonic() + 1):
                if "READY=1" in message.split("\n"):
                    ready = message
                    break
            assert proc.poll() is None, (work / "serve.log").read_text()
        assert ready is not None, f"no READY=1 within 60 s\n{(work / 'serve.log').read_text()}"
        assert _answers(f"http://127.0.0.1:{http_port}/api/health"), "READY=1 before the API answers"
        assert _accepts(mongo_port), "READY=1 before the shim listens"
        assert "STATUS=serving http://" in ready, ready

        # Watchdog pings at about half of WatchdogSec (2 s here): several in 5 s.
        pings = [t for t, m in _messages(sock, time.monotonic() + 5) if "WATCHDOG=1" in m.split("\n")]
        assert len(pings) >= 3, f"{len(pings)} watchdog pings in 5 s"
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < WATCHDOG_USEC / 1e6, f"a gap of {max(gaps):.2f} s would let systemd's watchdog fire"

        # SIGTERM: STOPPING=1, then a clean exit.
        proc.send_signal(signal.SIGTERM)
        stopping = [m for _, m in _messages(sock, time.monotonic() + 10) if "STOPPING=1" in m.split("\n")]
        assert stopping, "no STOPPING=1 after SIGTERM"
        assert proc.wait(30) == 0, (work / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
        shutil.rmtree(work, ignore_errors=True)
