"""redhive's mDNS names, seen by independent resolvers.

redhive runs in namespace A of a `NetnsPair` (its only network is a veth to B, so nothing is sent
anywhere else), listening on A's address; B resolves with python-zeroconf and, when installed,
with the stock Linux path (glibc NSS → nss-mdns → avahi-daemon, i.e. what browsers and curl use).

- the manager (`redhive.local`) and a tenant (`r1-redhive.local`) resolve to A's address, and
  an HTTP request by that name reaches the tenant's editor;
- each name has an `_http._tcp` service;
- a removed tenant's name stops resolving (goodbye packets), the manager's stays;
- a name already taken on the network (avahi in B claims `redhive.local` first) is renamed by
  redhive, shown in the API, and routed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python"))

import netns  # noqa: E402
from netns import NetnsPair  # noqa: E402
from redhive_server import redhive_bin  # noqa: E402

AVAHI = netns.unavailable_reason(avahi=True) is None
_why = netns.unavailable_reason()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

HTTP_PORT = 8080
RESOLVE_S = 20
GONE_S = 10
EDITOR_MARKER = "vendor/vendor.js"  # in every Node-RED editor page
NODE_HOME = os.environ.get("REDHIVE_NODE_HOME", "/var/cache/redhive/node-home")
RESOLVERS = ["zeroconf", "nss"] if AVAHI else ["zeroconf"]


class Appliance:
    """`redhive serve` inside namespace A, on A's address."""

    def __init__(self, net: NetnsPair) -> None:
        self.net = net
        self.work = Path(tempfile.mkdtemp(prefix="redhive-mdns-"))
        os.chmod(self.work, 0o755)
        self.data = self.work / "data"
        self.cgroup_parent = f"rh-test-{secrets.token_hex(4)}"
        self.log_path = self.work / "serve.log"
        self.env = {
            **os.environ,
            "REDHIVE_RUNTIME": "process",
            "REDHIVE_NODE_HOME": NODE_HOME,
            "REDHIVE_CGROUP_PARENT": self.cgroup_parent,
            "REDHIVE_MEMORY_BUDGET": "1G",
            "REDHIVE_LOG": "info,redhive::mdns=debug",
        }
        self.proc: subprocess.Popen | None = None
        self.base = f"http://{net.a_ip}:{HTTP_PORT}"

    def start(self) -> None:
        self.proc = self.net.popen_a(
            [redhive_bin(), "serve", "--data-dir", str(self.data), "--listen", f"{self.net.a_ip}:{HTTP_PORT}",
             "--mongo-listen", "127.0.0.1:27017"],
            env=self.env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.curl("GET", "/api/health")[0] != 200:
            assert self.proc.poll() is None, f"redhive exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"redhive did not answer:\n{self.log()}"
            time.sleep(0.3)

    def cli(self, *args: str) -> str:
        cp = subprocess.run([redhive_bin(), *args, "--data-dir", str(self.data)], env=self.env,
                            capture_output=True, text=True, timeout=240)
        assert cp.returncode == 0, f"redhive {' '.join(args)}: {cp.stderr}\n{self.log()}"
        return cp.stdout

    def curl(self, method: str, path: str, host: str | None = None, body: dict | None = None,
             side: str = "a", headers: tuple[str, ...] = ()) -> tuple[int, str]:
        """An HTTP request from namespace `side` (A, or B for a LAN client) with a cookie jar."""
        argv = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-m", "30",
                "-b", str(self.work / "cookies"), "-c", str(self.work / "cookies")]
        if host:
            argv += ["-H", f"Host: {host}"]
        for header in headers:
            argv += ["-H", header]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        cp = self.net.run(side, argv + [self.base + path], timeout=60)
        text, _, code = cp.stdout.rpartition("\n")
        return int(code or 0), text

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        sys.path.insert(0, str(HERE.parent / "runtime"))
        from conftest import remove_cgroup_tree  # the runtime tests' cleanup

        remove_cgroup_tree(self.cgroup_parent)
        if not os.environ.get("REDHIVE_KEEP_TMP"):
            subprocess.run(["rm", "-rf", str(self.work)], check=False)


@pytest.fixture
def net():
    with NetnsPair(avahi=AVAHI) as n:
        yield n


@pytest.fixture
def appliance(net):
    a = Appliance(net)
    try:
        yield a
    finally:
        a.stop()


def test_names_follow_tenants(net, appliance):
    appliance.start()
    for kind in RESOLVERS:
        assert net.wait_until_resolves("redhive.local", RESOLVE_S, kind) == [net.a_ip], kind

    appliance.cli("tenant", "add", "r1")
    for kind in RESOLVERS:
        assert net.wait_until_resolves("r1-redhive.local", RESOLVE_S, kind) == [net.a_ip], kind
    appliance.cli("tenant", "start", "r1")

    # A LAN client in B uses the name: the proxy routes it to r1's editor.
    address = net.resolve("r1-redhive.local")[0]
    cp = net.run_b(["curl", "-s", "-m", "30", "--resolve", f"r1-redhive.local:{HTTP_PORT}:{address}",
                    f"http://r1-redhive.local:{HTTP_PORT}/"], timeout=60)
    assert EDITOR_MARKER in cp.stdout, cp.stdout[:500]

    if AVAHI:
        browse = net.run_b(["avahi-browse", "-ptr", "_http._tcp"], timeout=30).stdout
        # Resolved entries: =;iface;proto;instance;type;domain;host;address;port;txt
        resolved = {tuple(line.split(";")[6:9]) for line in browse.splitlines() if line.startswith("=")}
        for host in ("redhive.local", "r1-redhive.local"):
            assert (host, net.a_ip, str(HTTP_PORT)) in resolved, browse

    appliance.cli("tenant", "remove", "r1")
    for kind in RESOLVERS:
        took = net.wait_until_gone("r1-redhive.local", GONE_S, kind)
        print(f"[mdns] r1-redhive.local gone for {kind} after {took:.1f}s")
    for kind in RESOLVERS:
        assert net.resolve("redhive.local") == [net.a_ip], "the manager's name went too"


@pytest.mark.skipif(not AVAHI, reason="needs avahi-daemon, avahi-utils and libnss-mdns")
def test_a_taken_name_is_renamed_and_shown(net, appliance):
    # Another device (avahi in B) owns redhive.local before the appliance starts.
    squatter = net.popen_b(["avahi-publish", "-a", "-R", "redhive.local", net.b_ip],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    net.wait_until_resolves("redhive.local", RESOLVE_S, "zeroconf", expect=[net.b_ip])
    appliance.start()
    assert net.wait_until_resolves("redhive-2.local", RESOLVE_S, "nss") == [net.a_ip], appliance.log()
    assert net.resolve_nss("redhive.local") == [net.b_ip], "the other device keeps its name"
    assert "taken by another device" in appliance.log()

    # The renamed name reaches the manager, and the API shows it.
    status, page = appliance.curl("GET", "/", host=f"redhive-2.local:{HTTP_PORT}", side="b")
    assert status == 200 and "<html" in page.lower(), (status, page[:300])
    status, body = appliance.curl("POST", "/api/setup", body={
        "username": "admin", "password": "Mdns-admin-pass-1", "name": "redhive"})
    assert status == 201, body
    csrf = json.loads(body)["csrf"]
    status, body = appliance.curl("GET", "/api/settings")
    assert status == 200 and json.loads(body)["mdns_name"] == "redhive-2.local", body
    status, body = appliance.curl("POST", "/api/tenants", body={"name": "r2", "start": False},
                                  headers=(f"X-CSRF-Token: {csrf}",))
    assert status == 201, body
    assert json.loads(body)["urls"]["mdns"] == f"http://r2-redhive.local:{HTTP_PORT}/", body
    assert net.wait_until_resolves("r2-redhive.local", RESOLVE_S, "nss") == [net.a_ip]
    squatter.terminate()
