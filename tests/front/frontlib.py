"""Helpers of the front tests that are not fixtures: constants, the OpenAPI walk, the flows the
tests deploy, raw HTTP, and the runtime tests' shared code (``tests/runtime/conftest.py`` and
``nodered.py``), reused by import rather than copied.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent


def load_as(name: str, path: Path):
    """The Python file `path` as module `name`, loaded once. How one suite uses another's
    conftest.py (which pytest would otherwise only apply to its own directory)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# tests/runtime/conftest.py puts tests/python and tests/runtime on sys.path, so
# ``redhive_server`` and ``nodered`` import afterwards.
RT = load_as("redhive_runtime_conftest", TESTS / "runtime" / "conftest.py")
wait_for = RT.wait_for
nr = RT.nr  # tests/runtime/nodered.py

ADMIN_USER = "admin"
ADMIN_PASSWORD = "Front-admin-pass-1357"
EDITOR_USER = "editor"
EDITOR_PASSWORD = "Front-editor-pass-2468"
APPLIANCE_NAME = "redhive"  # the contract's default appliance name
SESSION_COOKIE = "redhive_session"
MIB = 1024 * 1024
EDITOR_MARKER = "vendor/vendor.js"  # in every Node-RED editor page (editor-client templates/index.mst)


def log(msg: str) -> None:
    """Progress and measured numbers: visible with -s and in the report of a failing test."""
    print(f"[front] {msg}", flush=True)


def error_message(resp) -> str:
    """The ``error`` of a JSON error body; AssertionError when the body is not such a JSON."""
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(
            f"{resp.request.method} {resp.request.path_url} → {resp.status_code}: body is not JSON "
            f"(Content-Type {resp.headers.get('Content-Type')!r}): {resp.text[:300]!r}"
        ) from None
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip(), (
        f"{resp.request.method} {resp.request.path_url} → {resp.status_code}: "
        f'error body is not {{"error": "<message>"}}: {body!r}'
    )
    return body["error"]


def show(resp, limit: int = 400) -> str:
    return f"HTTP {resp.status_code} {dict(resp.headers)} {resp.text[:limit]!r}"


# ================================================================================== OpenAPI
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/setup"),
    ("POST", "/api/setup"),
    ("POST", "/api/session"),
    ("POST", "/api/registry/notify"),  # authenticated by Verdaccio's bearer secret, not a session
    ("GET", "/catalogue.json"),  # the palette catalogue: fetched by tenants' editors from anywhere
}
# Every route of the contract, path parameters written as {}. start|stop|restart may also be
# documented as one templated route (POST /api/tenants/{}/{}).
CONTRACT_ROUTES = [
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/setup"),
    ("POST", "/api/setup"),
    ("POST", "/api/session"),
    ("GET", "/api/session"),
    ("DELETE", "/api/session"),
    ("GET", "/api/tenants"),
    ("POST", "/api/tenants"),
    ("GET", "/api/tenants/{}"),
    ("PATCH", "/api/tenants/{}"),
    ("DELETE", "/api/tenants/{}"),
    ("POST", "/api/tenants/{}/start"),
    ("POST", "/api/tenants/{}/stop"),
    ("POST", "/api/tenants/{}/restart"),
    ("PUT", "/api/tenants/{}/limits"),
    ("GET", "/api/tenants/{}/users"),
    ("POST", "/api/tenants/{}/users"),
    ("PATCH", "/api/tenants/{}/users/{}"),
    ("DELETE", "/api/tenants/{}/users/{}"),
    ("GET", "/api/tenants/{}/logs"),
    ("GET", "/api/settings"),
    ("PUT", "/api/settings"),
    ("GET", "/api/doctor"),
]
_PARAM = re.compile(r"\{([^}/]+)\}")


def param_value(name: str) -> str:
    """What the tests put in for a path parameter: tenant r1, user alice, action stop."""
    n = name.lower()
    if "user" in n:
        return "alice"
    if n in ("action", "op", "operation", "verb", "command"):
        return "stop"
    return "r1"


@dataclass(frozen=True)
class Op:
    method: str  # upper case
    template: str  # full path as documented (with the servers' prefix), e.g. /api/tenants/{name}

    @property
    def norm(self) -> str:
        return _PARAM.sub("{}", self.template)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.norm)

    def path(self) -> str:
        return _PARAM.sub(lambda m: param_value(m.group(1)), self.template)

    @property
    def public(self) -> bool:
        return self.key in PUBLIC

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def operations(doc: dict) -> list[Op]:
    """Every (method, path) of an OpenAPI document, paths made absolute with servers[0].url."""
    assert isinstance(doc, dict), f"openapi.json is not an object: {doc!r}"[:300]
    assert str(doc.get("openapi", "")).startswith("3."), f"not an OpenAPI 3 document: openapi={doc.get('openapi')!r}"
    paths = doc.get("paths")
    assert isinstance(paths, dict) and paths, f"openapi.json has no paths: {str(doc)[:300]}"
    prefix = ""
    servers = doc.get("servers") or []
    if servers and isinstance(servers[0], dict):
        prefix = urlparse(servers[0].get("url") or "").path.rstrip("/")
    ops = []
    for path, item in paths.items():
        full = path if path.startswith("/api/") or path == "/api" or not prefix else prefix + path
        for m in HTTP_METHODS:
            if isinstance(item, dict) and m in item:
                ops.append(Op(m.upper(), full))
    return ops


def missing_contract_routes(ops: Iterable[Op]) -> list[str]:
    have = {op.key for op in ops}
    missing = []
    for method, norm in CONTRACT_ROUTES:
        if (method, norm) in have:
            continue
        if norm.endswith(("/start", "/stop", "/restart")) and (method, "/api/tenants/{}/{}") in have:
            continue
        missing.append(f"{method} {norm}")
    return missing


# Bodies for the state-changing operations: valid requests, so the only reason to refuse them is
# the missing/wrong CSRF token. Keyed by Op.key; anything else gets {}.
VALID_BODIES = {
    ("POST", "/api/tenants"): {"name": "csrf1", "start": False},
    ("PATCH", "/api/tenants/{}"): {"on_demand": True, "idle_minutes": 7},
    ("PUT", "/api/tenants/{}/limits"): {"pids": 99},
    ("POST", "/api/tenants/{}/users"): {"username": "mallory", "password": "Mallory-pass-1234", "permissions": "*"},
    ("PATCH", "/api/tenants/{}/users/{}"): {"permissions": "read", "password": "Changed-pass-1234"},
    ("PUT", "/api/settings"): {"name": "evil", "domain": "evil.example", "idle_minutes": 7, "theme": {"title": "pwned"}},
}


# ===================================================================================== flows
CRYPTO_LIB = {"var": "crypto", "module": "crypto"}

UPLOAD_FUNC = r"""
const b = msg.payload;
const isBuf = Buffer.isBuffer(b);
msg.payload = {
    len: msg.req.headers['content-length'] === undefined ? null : msg.req.headers['content-length'],
    te: msg.req.headers['transfer-encoding'] || null,
    buffer: isBuf,
    got: isBuf ? b.length : JSON.stringify(b).length,
    sha256: isBuf ? crypto.createHash('sha256').update(b).digest('hex') : null,
};
return msg;
"""

BIG_FUNC = r"""
const n = Math.min(Number((msg.req.query && msg.req.query.size) || 1048576), 16 * 1048576);
msg.payload = Buffer.alloc(n, 0x61);
msg.headers = { 'content-type': 'application/octet-stream' };
return msg;
"""

HEADERS_FUNC = "msg.payload = msg.req.headers; return msg;"

STARTED_FUNC = "msg.payload = { uptime: proc.uptime(), pid: proc.pid }; return msg;"


def _set_libs(nodes: list, func_name: str, libs: list) -> None:
    for n in nodes:
        if n.get("type") == "function" and n.get("name") == func_name:
            n["libs"] = libs
            return
    raise AssertionError(f"no function node {func_name!r} in the flow")


def proxy_flow() -> list:
    """r1's flow in test_proxy: GET /ready /hello /headers /big, POST /upload, and a websocket
    echo on /ws/echo (websocket in → websocket out on the same listener)."""
    f = nr._Flow("frontpx", "front proxy")
    f.http_endpoint("hello", "get", "msg.payload = 'hello'; return msg;")
    f.http_endpoint("headers", "get", HEADERS_FUNC)
    f.http_endpoint("big", "get", BIG_FUNC)
    f.http_endpoint("upload", "post", UPLOAD_FUNC)
    _set_libs(f.nodes, "upload", [CRYPTO_LIB])
    listener = "frontpx-wsl"
    f.nodes += [
        {"id": listener, "type": "websocket-listener", "path": "/ws/echo", "wholemsg": "false"},
        {"id": "frontpx-wsin", "type": "websocket in", "z": f.tab, "name": "", "server": listener, "client": "", "x": 120, "y": 600, "wires": [["frontpx-wsout"]]},
        {"id": "frontpx-wsout", "type": "websocket out", "z": f.tab, "name": "", "server": listener, "client": "", "x": 360, "y": 600, "wires": []},
    ]
    return f.nodes


def browser_flow() -> tuple[str, list]:
    """The flow test_browser imports in the editor: GET /ready, /started (uptime and pid of the
    Node-RED process) and /warn?mark=X (logs X). Returns (tab id, nodes)."""
    f = nr._Flow("frontbr", "browser-test")
    f.http_endpoint("started", "get", STARTED_FUNC, libs=("proc",))
    f.http_endpoint("warn", "get", nr.WARN_FUNC)
    return f.tab, f.nodes


# ================================================================================== raw HTTP
def raw_request(port: int, method: str, path: str, headers: list[tuple[str, str]], body: Optional[bytes] = None, timeout: float = 30):
    """One request with exactly these headers (no Host, Accept-Encoding or others added).
    Returns (status, headers dict lower-cased, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def read_response(sock: socket.socket) -> Optional[tuple[int, dict, bytes]]:
    """One HTTP/1.1 response (Content-Length bodies only) from a raw socket: (status, headers
    lower-cased, body), or None when the server closed the connection first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:n]


def early_refusal_probe(port: int, head: bytes, body: bytes, next_request: bytes) -> tuple[object, str, object]:
    """Send a request's head only; read the answer the server gives without the body; then send
    the body and `next_request` on the same connection. Returns (first status or "no early
    answer", the first answer's Connection header, status of the answer to `next_request` or
    None when the connection was closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(head)
        s.settimeout(2)
        try:
            first = read_response(s)
        except socket.timeout:
            return "no early answer", "", "not tried"
        s.settimeout(5)
        if first is None:
            return None, "", "not tried"
        status, headers, _ = first
        try:
            s.sendall(body + next_request)
            second = read_response(s)
        except OSError:
            second = None
        return status, headers.get("connection", ""), (second[0] if second else None)
    finally:
        s.close()


@contextlib.contextmanager
def localhost_resolves_to_loopback():
    """Make ``*.localhost`` (and ``localhost``) resolve to 127.0.0.1 in this process, as
    browsers do (RFC 6761) but glibc here does not. Used so the runtime tests' NodeRed client
    (urllib, URL-based) can reach ``http://r1.localhost:PORT/``. Never resolves anything to
    another address."""
    orig = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str):
            h = host.rstrip(".").lower()
            if h == "localhost" or h.endswith(".localhost"):
                host = "127.0.0.1"
        return orig(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = orig


def set_cookie_headers(resp) -> list[str]:
    """Every Set-Cookie header of a requests response, unmerged."""
    raw = getattr(resp.raw, "headers", None)
    if raw is not None and hasattr(raw, "getlist"):
        return list(raw.getlist("Set-Cookie"))
    v = resp.headers.get("Set-Cookie")
    return [v] if v else []


def cookie_attributes(header: str) -> tuple[str, str, dict]:
    """``name=value; HttpOnly; SameSite=Strict; Path=/`` → (name, value, {attr lower: value})."""
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name.strip(), value.strip(), attrs


def json_dumps_compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))
