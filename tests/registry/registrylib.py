"""Helpers of the registry tests that are not tests: the front tests' code (loaded once, see
conftest.py), npm with a throw-away configuration, Verdaccio tokens, the tenant's Node-RED admin
API, the registry view of redhive's API, and stopping/starting redhive on the same data dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import requests

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
FIXTURES = HERE / "fixtures"


sys.path.insert(0, str(TESTS / "front"))
from frontlib import load_as  # noqa: E402

front_conftest = load_as("redhive_front_conftest", TESTS / "front" / "conftest.py")

from frontlib import RT, error_message, nr, show, wait_for  # noqa: E402  (on sys.path now)
from redhive_server import _die_with_parent, free_port  # noqa: E402

Front = front_conftest.Front
FrontServer = front_conftest.FrontServer
pid_alive = RT.pid_alive

NODE_HOME = Path(os.environ.get("REDHIVE_NODE_HOME", "/var/cache/redhive/node-home"))


def log(msg: str) -> None:
    print(f"[registry] {msg}", flush=True)


# ======================================================================================= npm
def npm_command() -> list[str]:
    """How to run npm 11 under Node 22: ``$REDHIVE_TEST_NPM`` (a command), else the node home's
    Node with the npm that ships next to Node-RED, else ``npm`` on PATH."""
    if os.environ.get("REDHIVE_TEST_NPM"):
        return os.environ["REDHIVE_TEST_NPM"].split()
    node = NODE_HOME / "node" / "bin" / "node"
    if (NODE_HOME / "node" / "bin" / "npm").exists():
        return [str(NODE_HOME / "node" / "bin" / "npm")]
    for cli in (NODE_HOME / "node" / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js",
                NODE_HOME / "node-red" / "node_modules" / "npm" / "bin" / "npm-cli.js"):
        if node.exists() and cli.exists():
            return [str(node), str(cli)]
    found = shutil.which("npm")
    assert found, f"no npm: neither under {NODE_HOME} nor on PATH (set REDHIVE_TEST_NPM)"
    return [found]


class Npm:
    """npm with its own HOME, user and global config and cache under `home`: nothing touches
    the machine's ~/.npmrc. The user config points everything (and the scope) at `registry`,
    with `token` as the registry's ``_authToken`` when given."""

    def __init__(self, home: Path, registry: str, token: Optional[str] = None, scope: str = "private") -> None:
        self.home = home
        self.registry = registry
        home.mkdir(parents=True, exist_ok=True)
        (home / "global-npmrc").write_text("")
        lines = [f"registry={registry}", f"@{scope}:registry={registry}"]
        if token is not None:
            lines.append(f"//{registry.split('://', 1)[1]}:_authToken={token}")
        (home / ".npmrc").write_text("\n".join(lines) + "\n")

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_")}
        node_bin = str(NODE_HOME / "node" / "bin")
        env.update(
            HOME=str(self.home),
            PATH=f"{node_bin}:{env.get('PATH', '/usr/bin:/bin')}",
            npm_config_userconfig=str(self.home / ".npmrc"),
            npm_config_globalconfig=str(self.home / "global-npmrc"),
            npm_config_cache=str(self.home / "cache"),
            npm_config_update_notifier="false",
            npm_config_fund="false",
            npm_config_audit="false",
        )
        return env

    def run(self, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [*npm_command(), *args, "--registry", self.registry]
        cp = subprocess.run(cmd, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout, preexec_fn=_die_with_parent)
        log(f"npm {' '.join(args)} (in {cwd.name}) → exit {cp.returncode}")
        return cp


def describe(cp: subprocess.CompletedProcess) -> str:
    return f"exit {cp.returncode}\nstdout:\n{cp.stdout[-2000:]}\nstderr:\n{cp.stderr[-3000:]}"


def package_copy(fixture: str, dest: Path, **fields) -> Path:
    """A copy of fixtures/<fixture> in `dest`, package.json fields replaced by `fields`."""
    shutil.copytree(FIXTURES / fixture, dest)
    pj = dest / "package.json"
    doc = json.loads(pj.read_text())
    doc.update(fields)
    pj.write_text(json.dumps(doc, indent=2) + "\n")
    return dest


def plain_package(dest: Path, name: str) -> Path:
    """A package without the ``node-red`` keyword (a library, not a Node-RED module)."""
    dest.mkdir(parents=True)
    (dest / "package.json").write_text(json.dumps({
        "name": name, "version": "1.0.0", "description": "redhive test: a plain library",
        "keywords": ["redhive-test"], "license": "Apache-2.0", "main": "index.js",
    }, indent=2) + "\n")
    (dest / "index.js").write_text("module.exports = 42;\n")
    return dest


# ================================================================================= Verdaccio
def request_token(registry: str, user: str, password: str, basic: bool = True) -> requests.Response:
    """Verdaccio's login (what ``npm login`` does): PUT /-/user/org.couchdb.user:USER, with HTTP
    Basic for an existing user (without it, Verdaccio treats the call as a registration)."""
    return requests.put(
        f"{registry}-/user/org.couchdb.user:{user}",
        json={"name": user, "password": password},
        auth=(user, password) if basic else None,
        timeout=30,
    )


def token_of(resp: requests.Response) -> Optional[str]:
    with contextlib.suppress(ValueError, AttributeError):
        tok = resp.json().get("token")
        return tok if isinstance(tok, str) and tok else None
    return None


def packument_url(registry: str, name: str) -> str:
    return registry + name.replace("/", "%2f")


def raw_publish(registry: str, name: str, headers: Optional[dict] = None) -> requests.Response:
    """What ``npm publish`` sends (PUT of the packument with the tarball attached), straight to
    Verdaccio: npm itself refuses to send it without a token, so this shows the server's answer."""
    import base64
    import hashlib

    data = b"redhive test: not a real tarball"
    tarball = f"{name.split('/')[-1]}-1.0.0.tgz"
    body = {
        "_id": name, "name": name, "description": "redhive test: published without credentials",
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {
            "name": name, "version": "1.0.0", "keywords": ["node-red"],
            "node-red": {"nodes": {"redhive-anon": "anon.js"}},
            "dist": {"shasum": hashlib.sha1(data).hexdigest(), "tarball": f"{packument_url(registry, name)}/-/{tarball}"},
        }},
        "_attachments": {tarball: {"content_type": "application/octet-stream", "data": base64.b64encode(data).decode(), "length": len(data)}},
    }
    return requests.put(packument_url(registry, name), json=body, headers=headers or {}, timeout=30)


# ============================================================================ Node-RED admin
def red_api(red: "nr.NodeRed", method: str, path: str, body=None, accept: str = "application/json", timeout: float = 60) -> "nr.HttpResult":
    """One admin API call with the editor user's bearer token (refreshed once on 401)."""
    def once():
        headers = {**red._auth(), "Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        return nr.http(method, red.endpoint(path), body=data, headers=headers, timeout=timeout)

    r = once()
    if r.status == 401:
        red.token(refresh=True)
        r = once()
    return r


def node_sets(red: "nr.NodeRed", module: str) -> list[dict]:
    """The node sets of `module` in ``GET /nodes``."""
    r = red_api(red, "GET", "nodes")
    assert r.status == 200, f"GET /nodes at {red.url}: {r!r}"
    return [n for n in r.json() if n.get("module") == module]


def palette_catalogues(red: "nr.NodeRed") -> list:
    """``editorTheme.palette.catalogues`` of the runtime settings (``GET /settings``)."""
    r = red_api(red, "GET", "settings")
    assert r.status == 200, f"GET /settings at {red.url}: {r!r}"
    return ((r.json().get("editorTheme") or {}).get("palette") or {}).get("catalogues") or []


def tenant_env(front: "Front", tenant: str) -> dict:
    """The environment redhive gave the tenant's Node-RED: that of the process of this server's
    cgroup tree whose environment says ``APP_NAME=<tenant>`` and ``REDHIVE_CATALOGUES=...``
    (read from /proc; the tests run as root)."""
    found = []
    for pid in RT.pids_in_cgroup_tree(front.server.cgroup_parent):
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        if env.get("APP_NAME") == tenant and "REDHIVE_CATALOGUES" in env:
            found.append(env)
    assert found, f"no process of {tenant} with APP_NAME={tenant} and REDHIVE_CATALOGUES in cgroup {front.server.cgroup_parent}"
    return found[0]


def upper_flow() -> list:
    """``GET /ready`` (nodered.py's readiness endpoint) and ``GET /upper?s=...`` →
    redhive-upper → http response."""
    f = nr._Flow("rhreg", "registry")
    tab = f.tab
    f.nodes += [
        {"id": "rhreg-in-upper", "type": "http in", "z": tab, "name": "", "url": "/upper", "method": "get",
         "upload": False, "swaggerDoc": "", "x": 120, "y": 300, "wires": [["rhreg-upper"]]},
        {"id": "rhreg-upper", "type": "redhive-upper", "z": tab, "name": "", "x": 330, "y": 300, "wires": [["rhreg-out-upper"]]},
        {"id": "rhreg-out-upper", "type": "http response", "z": tab, "name": "", "statusCode": "", "headers": {},
         "x": 540, "y": 300, "wires": []},
    ]
    return f.nodes


# ============================================================================ redhive's view
def registry_view(front: "Front") -> dict:
    r = front.api("GET", "/api/registry", timeout=30)
    assert r.status_code == 200, f"GET /api/registry: {show(r)}\n{front.diagnostics()}"
    return r.json()


def brief(view: dict) -> str:
    return (f"state={view.get('state')} pid={view.get('pid')} restarts={view.get('restarts')} "
            f"online={view.get('online')} problems={view.get('problems')}")


def wait_registry(front: "Front", timeout: float, what: str, pred: Callable[[dict], bool] = lambda v: True) -> dict:
    """Poll ``GET /api/registry`` until state is running and `pred(view)` holds."""
    history: list[str] = []
    t0 = time.monotonic()

    def check():
        r = front.api("GET", "/api/registry", timeout=30)
        if r.status_code != 200:
            key = show(r, 200)
            v = None
        else:
            v = r.json()
            key = brief(v)
        if not history or not history[-1].endswith(key):
            history.append(f"+{time.monotonic() - t0:5.1f}s {key}")
        return v if v is not None and v.get("state") == "running" and pred(v) else None

    return wait_for(check, timeout, what, interval=0.5, detail=lambda: "\n".join(history) + "\n" + front.diagnostics())


def catalogue(front: "Front") -> tuple[requests.Response, dict]:
    """``GET /catalogue.json`` on the manager host, without a session."""
    r = requests.get(front.url("/catalogue.json"), timeout=30)
    assert r.status_code == 200, f"GET /catalogue.json: {show(r)}"
    try:
        doc = r.json()
    except ValueError:
        raise AssertionError(f"GET /catalogue.json is not JSON: {show(r)}") from None
    assert isinstance(doc, dict) and isinstance(doc.get("modules"), list), f"GET /catalogue.json: not a catalogue: {doc!r}"
    return r, doc


def module_ids(doc: dict) -> list[str]:
    return sorted(m.get("id") for m in doc.get("modules", []))


def module_entry(doc: dict, module: str) -> Optional[dict]:
    return next((m for m in doc.get("modules", []) if m.get("id") == module), None)


# ======================================================================= redhive stop/start
def stop_redhive(front: "Front", timeout: float = 90) -> Optional[int]:
    """SIGTERM ``redhive serve`` and wait for it to exit; returns its exit status. Nothing else
    is killed yet (``finish_stop`` does the harness's clean-up), so the caller can look at what
    redhive left running."""
    proc = front.server.srv.proc
    assert proc is not None and proc.poll() is None, "redhive serve is not running"
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def finish_stop(front: "Front") -> None:
    front.server.srv.stop(timeout=30)  # process group SIGKILL, log closed


def start_redhive(front: "Front") -> None:
    """``redhive serve`` again on the same data dir, ports and environment; returns once
    /api/health answers."""
    front.server.srv.start()
    port = front.server._endpoint_port()
    assert port == front.port, f"redhive came back on port {port}, not {front.port}"


__all__ = [
    "FIXTURES", "Front", "FrontServer", "Npm", "RT", "brief", "catalogue", "describe", "error_message",
    "finish_stop", "free_port", "front_conftest", "log", "module_entry", "module_ids", "node_sets", "nr",
    "package_copy", "packument_url", "raw_publish", "palette_catalogues", "pid_alive", "plain_package", "red_api",
    "registry_view", "request_token", "show", "start_redhive", "stop_redhive", "tenant_env", "token_of", "upper_flow",
    "wait_for", "wait_registry",
]
