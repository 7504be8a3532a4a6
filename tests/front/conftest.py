"""Acceptance tests of redhive's front: the manager API and its security, the reverse proxy to
the tenants' Node-RED, and the web UI in a real browser.

What they need
--------------
* ``REDHIVE_BIN`` (default /var/cache/redhive/target/debug/redhive): the binary under test.
* ``REDHIVE_NODE_HOME`` (default /var/cache/redhive/node-home): Node 22 + Node-RED 5.0.7 for the
  process runtime (``tests/setup.sh`` installs it). Tenants run with the PROCESS runtime
  (``REDHIVE_RUNTIME=process``), never Docker.
* Python packages from tests/python/requirements.txt (requests, websocket-client, selenium);
  Debian's ``chromium`` and ``chromium-driver`` for test_browser.py (``tests/setup.sh``).

Run::

    cd /work/main
    VENV=$(bash tests/python/venv.sh)
    REDHIVE_BIN=/var/cache/redhive/target/debug/redhive \\
        $VENV/bin/python -m pytest -q -p no:cacheprovider tests/front

Servers
-------
Each server is ``redhive serve`` on a fresh data directory in a fresh 0755 work dir under /tmp
(the process runtime runs tenants under their own uids), on a private loopback port, with its
own cgroup parent ``rh-test-<hex>`` (the runtime tests' ``RuntimeServer``). ``module_front``
gives a module its own server (shared by the module's tests, started once; it is NOT set up:
the module decides when to run the wizard); ``make_front`` gives a test a dedicated server
(e.g. the login rate limit, which would lock every later login out for a minute). Teardown stops
the server (which stops its tenants), kills whatever is left in the cgroup parent, copies the
server log to pytest's temp dir and removes the work dir (``REDHIVE_KEEP_TMP=1`` keeps it).

Host names
----------
Only 127.0.0.1 is ever contacted. Requests for a tenant go to 127.0.0.1:<port> with an explicit
``Host: <tenant>.localhost:<port>`` header (``Front.tenant_request``). For the runtime tests'
``nodered.NodeRed`` client (URL based), ``*.localhost`` is made to resolve to 127.0.0.1 inside
this process for the whole session (as browsers do); Chromium gets
``--host-resolver-rules=MAP *.localhost 127.0.0.1``.

Artifacts
---------
test_browser.py saves screenshots to ``$REDHIVE_ARTIFACTS`` (default tests/front/artifacts/).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional

import pytest
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from frontlib import (  # noqa: E402
    ADMIN_PASSWORD,
    ADMIN_USER,
    APPLIANCE_NAME,
    EDITOR_PASSWORD,
    EDITOR_USER,
    RT,
    SESSION_COOKIE,
    error_message,
    localhost_resolves_to_loopback,
    log,
    nr,
    operations,
    show,
    wait_for,
)

_UNSET = object()
START_TIMEOUT = float(os.environ.get("REDHIVE_FRONT_START_TIMEOUT", "300"))


# ================================================================================== servers
class FrontServer:
    """One ``redhive serve`` with the process runtime on a fresh data directory."""

    def __init__(self, label: str, extra_env: Optional[dict] = None) -> None:
        self.label = label
        self.cgroup_parent = f"rh-test-{secrets.token_hex(4)}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"redhive-front-{label}-"))
        os.chmod(self.workdir, 0o755)
        self.srv = RT.RuntimeServer(self.workdir, "process", self.cgroup_parent, "2G")
        if extra_env:
            base_env = self.srv.env
            self.srv.env = lambda: {**base_env(), **extra_env}
        self.port: Optional[int] = None

    @property
    def data_dir(self) -> Path:
        return self.srv.data_dir

    def start(self) -> None:
        binary = self.srv.binary
        if not os.access(binary, os.X_OK):
            pytest.fail(f"redhive binary missing: {binary} (build it or set REDHIVE_BIN)")
        self.srv.start()
        self.port = self._endpoint_port()
        log(f"{self.label}: redhive serve on 127.0.0.1:{self.port}, data {self.data_dir}")

    def _endpoint_port(self) -> int:
        """The HTTP port from <data>/run/endpoints.json (the contract's way), else the one we
        asked for."""
        path = self.data_dir / "run" / "endpoints.json"
        with contextlib.suppress(OSError, ValueError, KeyError, AttributeError):
            http = json.loads(path.read_text())["http"]
            return int(str(http).rsplit(":", 1)[1])
        return self.srv.http_port

    def cli(self, *args: str, stdin: Optional[str] = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """``redhive ARGS --data-dir DATA`` with the server's environment."""
        return subprocess.run(
            [self.srv.binary, *args, "--data-dir", str(self.data_dir)],
            env=self.srv.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=RT._die_with_parent,
        )

    def log_tail(self, n: int = 40) -> str:
        return self.srv.log_tail(n)

    def close(self, keep_log_in: Optional[Path] = None) -> None:
        with contextlib.suppress(Exception):
            self.srv.stop(timeout=60)
        with contextlib.suppress(Exception):
            RT.remove_cgroup_tree(self.cgroup_parent)
        if keep_log_in is not None:
            with contextlib.suppress(Exception):
                keep_log_in.mkdir(parents=True, exist_ok=True)
                shutil.copy(self.srv.log_path, keep_log_in / "serve.log")
                sys.stderr.write(f"\n[front] {self.label}: server log kept at {keep_log_in / 'serve.log'}\n")
        if os.environ.get("REDHIVE_KEEP_TMP") == "1":
            sys.stderr.write(f"\n[front] work dir kept: {self.workdir}\n")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


# ==================================================================================== client
class Front:
    """A client of one server: a requests.Session for the manager API (cookie + CSRF token),
    plus helpers for the tenants behind the proxy.

    ``api(method, path, json=..., csrf=True)`` sends the session's CSRF token on state-changing
    methods unless ``csrf=False`` (or ``csrf="<some token>"`` to send that one)."""

    def __init__(self, server: FrontServer) -> None:
        self.server = server
        self.port = server.port
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}"
        self.http = requests.Session()
        self.csrf: Optional[str] = None
        self.username: Optional[str] = None

    # ------------------------------------------------------------------ manager API
    def client(self) -> "Front":
        """Another client of the same server, without cookie or token."""
        return Front(self.server)

    def url(self, path: str) -> str:
        return self.base + path

    def api(self, method: str, path: str, json=_UNSET, csrf=True, headers: Optional[dict] = None, timeout: float = 180, **kw) -> requests.Response:
        method = method.upper()
        h = dict(headers or {})
        if method in ("POST", "PUT", "PATCH", "DELETE") and csrf:
            token = csrf if isinstance(csrf, str) else self.csrf
            if token:
                h.setdefault("X-CSRF-Token", token)
        if json is not _UNSET:
            kw["json"] = json
        try:
            return self.http.request(method, self.url(path), headers=h, timeout=timeout, **kw)
        except requests.ConnectionError as e:
            # The server closed a pooled keep-alive connection without answering (it does so
            # after some early refusals: test_early_refusals_keep_the_connection_usable
            # checks that on its own). Nothing reached the server: send once more.
            if "RemoteDisconnected" not in repr(e):
                raise
            return self.http.request(method, self.url(path), headers=h, timeout=timeout, **kw)

    def ok(self, method: str, path: str, status: int | Iterable[int] = 200, **kw) -> requests.Response:
        """``api`` that must answer `status`."""
        want = {status} if isinstance(status, int) else set(status)
        r = self.api(method, path, **kw)
        assert r.status_code in want, f"{method} {path}: wanted {sorted(want)}, got {show(r)}\n{self.diagnostics()}"
        return r

    @property
    def session_cookie(self) -> Optional[str]:
        return self.http.cookies.get(SESSION_COOKIE)

    def setup_needed(self) -> bool:
        r = self.ok("GET", "/api/setup")
        return r.json().get("needed") is True

    def setup(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD, name: str = APPLIANCE_NAME, limits: Optional[dict] = None) -> requests.Response:
        body = {"username": username, "password": password, "name": name}
        if limits is not None:
            body["limits"] = limits
        r = self.ok("POST", "/api/setup", 201, json=body)
        self.csrf = r.json().get("csrf")
        self.username = username
        assert self.csrf, f"POST /api/setup: no csrf in {r.text[:300]!r}"
        assert self.session_cookie, f"POST /api/setup set no {SESSION_COOKIE} cookie: {dict(r.headers)}"
        return r

    def ensure_setup(self) -> "Front":
        """Run the wizard once (if nobody did yet), else log in; the client then has a session."""
        if self.setup_needed():
            self.setup()
        else:
            self.login()
        return self

    def login(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> requests.Response:
        r = self.ok("POST", "/api/session", 200, json={"username": username, "password": password})
        self.csrf = r.json().get("csrf")
        self.username = username
        assert self.csrf, f"POST /api/session: no csrf in {r.text[:300]!r}"
        return r

    def openapi(self) -> list:
        r = self.client().ok("GET", "/api/openapi.json")
        return operations(r.json())

    # --------------------------------------------------------------------- tenants
    def tenant(self, name: str) -> dict:
        return self.ok("GET", f"/api/tenants/{name}").json()

    def tenant_names(self) -> list[str]:
        body = self.ok("GET", "/api/tenants").json()
        assert isinstance(body.get("tenants"), list), f"GET /api/tenants: {body!r}"
        return sorted(t["name"] for t in body["tenants"])

    def create_tenant(self, name: str, editor: bool = True, on_demand: bool = False, start: bool = True, wait: bool = True, **extra) -> dict:
        body: dict = {"name": name, "on_demand": on_demand, "start": start, **extra}
        if editor:
            body["editor"] = {"username": EDITOR_USER, "password": EDITOR_PASSWORD}
        t0 = time.monotonic()
        r = self.ok("POST", "/api/tenants", 201, json=body, timeout=START_TIMEOUT)
        t = r.json()
        assert t.get("name") == name, f"POST /api/tenants answered {t!r}"
        if start and wait:
            t = self.wait_state(name, {"running"}, START_TIMEOUT, fail_states={"stopped", "crashed", "safe-mode"})
            log(f"tenant {name} running after {time.monotonic() - t0:.1f}s")
        return t

    def wait_state(self, name: str, states: Iterable[str], timeout: float, fail_states: Iterable[str] = ()) -> dict:
        states, fail_states = set(states), set(fail_states)
        history: list[str] = []
        last: dict = {}
        t0 = time.monotonic()

        def check():
            nonlocal last
            r = self.api("GET", f"/api/tenants/{name}", timeout=30)
            if r.status_code != 200:
                history.append(f"+{time.monotonic() - t0:5.1f}s {show(r, 200)}")
                return None
            last = r.json()
            key = f"{last.get('state')} reason={last.get('reason')!r}"
            if not history or not history[-1].endswith(key):
                history.append(f"+{time.monotonic() - t0:5.1f}s {key}")
            if last.get("state") in fail_states and time.monotonic() - t0 > 5:
                # a state we do not expect to leave: fail now (after a short grace for races)
                raise AssertionError(f"{name}: state {last.get('state')!r} while waiting for {sorted(states)}\n" + "\n".join(history) + "\n" + self.diagnostics(name))
            return last if last.get("state") in states else None

        return wait_for(check, timeout, f"tenant {name} in state {sorted(states)}", interval=0.3, detail=lambda: "\n".join(history) + "\n" + self.diagnostics(name))

    # ----------------------------------------------------------------------- proxy
    def tenant_host(self, name: str) -> str:
        return f"{name}.localhost:{self.port}"

    def tenant_url(self, name: str) -> str:
        return f"http://{name}.localhost:{self.port}/"

    def host_headers(self, host: str, **more: str) -> dict:
        return {"Host": host, **more}

    def request_as(self, host: str, method: str, path: str, headers: Optional[dict] = None, timeout: float = 60, **kw) -> requests.Response:
        """A request to 127.0.0.1:<port> with this Host header, without the session's cookies."""
        h = {"Host": host, **(headers or {})}
        return requests.request(method, self.url(path), headers=h, timeout=timeout, allow_redirects=False, **kw)

    def tenant_request(self, name: str, method: str, path: str, **kw) -> requests.Response:
        return self.request_as(self.tenant_host(name), method, path, **kw)

    def node_red(self, name: str) -> "nr.NodeRed":
        """The runtime tests' Node-RED admin client, through the proxy, as the editor user."""
        return nr.NodeRed(self.tenant_url(name), EDITOR_USER, EDITOR_PASSWORD)

    # ----------------------------------------------------------------- diagnostics
    def diagnostics(self, name: Optional[str] = None) -> str:
        parts = [f"--- server log tail ({self.server.srv.log_path}):\n{self.server.log_tail(30)}"]
        if name:
            with contextlib.suppress(Exception):
                cp = self.server.cli("tenant", "logs", name, "--tail", "30", timeout=30)
                parts.append(f"--- tenant {name} logs:\n{cp.stdout}{cp.stderr}")
        return "\n".join(parts)


# ================================================================================== fixtures
@pytest.fixture(scope="session", autouse=True)
def _localhost_names():
    with localhost_resolves_to_loopback():
        yield


@contextlib.contextmanager
def _running(label: str, keep: Path, extra_env: Optional[dict] = None):
    s = FrontServer(label, extra_env)
    try:
        s.start()
        yield Front(s)
    finally:
        s.close(keep)


@pytest.fixture(scope="module")
def module_front(request, tmp_path_factory):
    """A fresh server for the module (not set up yet), shared by its tests."""
    label = Path(str(request.node.path)).stem.replace("test_", "")
    with _running(label, tmp_path_factory.mktemp(f"front-{label}")) as f:
        yield f


@pytest.fixture
def make_front(request, tmp_path_factory):
    """Dedicated fresh servers for one test: ``make_front("label", env)`` → Front (not set up);
    ``env`` adds environment variables (e.g. ``REDHIVE_HTTPS_LISTEN``)."""
    stack = contextlib.ExitStack()

    def make(label: str, env: Optional[dict] = None) -> Front:
        return stack.enter_context(_running(label, tmp_path_factory.mktemp(f"front-{label}"), env))

    with stack:
        yield make


@pytest.fixture(scope="session")
def artifacts() -> Path:
    d = Path(os.environ.get("REDHIVE_ARTIFACTS") or HERE / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


__all__ = ["Front", "FrontServer", "error_message", "wait_for"]
