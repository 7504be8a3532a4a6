"""A small Node-RED admin client (urllib only) and the flows the runtime tests deploy.

Every flow is one tab with an ``http in`` GET ``/ready`` answering ``ready`` (so a test can wait
for the deployed flows to be started without triggering anything) plus the test's own nodes.
HTTP-in endpoints are served at ``<tenant url><path>`` without authentication; the admin API
needs a bearer token from ``POST /auth/token`` (adminAuth is on in tenant runtimes).

Function nodes reach Node's built-in modules through their ``libs`` property
(``functionExternalModules`` is on in the tenant settings).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional


class HttpResult:
    def __init__(self, status: int, body: bytes, headers=None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.text[:300]!r}"


def http(method: str, url: str, *, body: Optional[bytes] = None, headers: Optional[dict] = None, timeout: float = 10.0) -> HttpResult:
    """One request. HTTP error statuses are returned, not raised; connection problems raise OSError."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return HttpResult(r.status, r.read(), dict(r.headers))
    except urllib.error.HTTPError as e:
        try:
            data = e.read()
        except Exception:  # noqa: BLE001
            data = b""
        return HttpResult(e.code, data, dict(e.headers or {}))


def get(url: str, timeout: float = 10.0) -> HttpResult:
    return http("GET", url, timeout=timeout)


def try_get(url: str, timeout: float = 10.0) -> tuple[Optional[int], str]:
    """(status, detail): status None when nothing answered (refused, reset, timeout)."""
    try:
        r = get(url, timeout=timeout)
        return r.status, r.text[:200]
    except Exception as e:  # noqa: BLE001 - refused, reset, timeout, garbled answer: nothing answered
        return None, repr(e)


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


class NodeRed:
    """The admin API of one tenant runtime."""

    def __init__(self, url: str, username: Optional[str] = "admin", password: Optional[str] = None) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.username = username
        self.password = password
        self._token: Optional[str] = None

    def endpoint(self, path: str) -> str:
        return join(self.url, path)

    def token(self, refresh: bool = False) -> Optional[str]:
        if self.password is None:
            return None  # a runtime without adminAuth (local flow checks)
        if self._token and not refresh:
            return self._token
        form = urllib.parse.urlencode(
            {
                "client_id": "node-red-admin",
                "grant_type": "password",
                "scope": "*",
                "username": self.username,
                "password": self.password,
            }
        ).encode()
        r = http(
            "POST",
            self.endpoint("auth/token"),
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
        if r.status != 200:
            raise AssertionError(f"login as {self.username} at {self.url}: {r!r}")
        self._token = r.json()["access_token"]
        return self._token

    def _auth(self) -> dict:
        tok = self.token()
        return {"Authorization": f"Bearer {tok}"} if tok else {}

    def deploy(self, flows: list, timeout: float = 60.0) -> HttpResult:
        """Full deploy (admin API v1: the body is the array of nodes)."""
        headers = {
            "Content-Type": "application/json",
            "Node-RED-Deployment-Type": "full",
            **self._auth(),
        }
        r = http("POST", self.endpoint("flows"), body=json.dumps(flows).encode(), headers=headers, timeout=timeout)
        if r.status == 401 and self.password is not None:
            headers.update({"Authorization": f"Bearer {self.token(refresh=True)}"})
            r = http("POST", self.endpoint("flows"), body=json.dumps(flows).encode(), headers=headers, timeout=timeout)
        if r.status not in (200, 204):
            raise AssertionError(f"deploy to {self.url}: {r!r}")
        return r

    def get_flows(self) -> list:
        r = http("GET", self.endpoint("flows"), headers=self._auth(), timeout=30)
        if r.status != 200:
            raise AssertionError(f"GET /flows at {self.url}: {r!r}")
        return r.json()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the deployed flows answer ``GET /ready`` (the deploy answers before the new
        flows have started)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            status, detail = try_get(self.endpoint("ready"), timeout=5)
            if status == 200:
                return
            last = (status, detail)
            time.sleep(0.3)
        raise AssertionError(f"{self.endpoint('ready')} not 200 within {timeout}s (last: {last})")

    def post_json(self, path: str, obj, timeout: float = 30.0) -> HttpResult:
        return http(
            "POST",
            self.endpoint(path),
            body=json.dumps(obj).encode(),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )


# ------------------------------------------------------------------------------------ flows

LIBS = {
    "fs": {"var": "fs", "module": "fs"},
    "cp": {"var": "cp", "module": "child_process"},
    "net": {"var": "net", "module": "net"},
    "proc": {"var": "proc", "module": "process"},
    "os": {"var": "os", "module": "os"},
    "pth": {"var": "pth", "module": "path"},
    "wt": {"var": "wt", "module": "worker_threads"},
}


class _Flow:
    def __init__(self, tab: str, label: str) -> None:
        self.tab = tab
        self.nodes: list[dict] = [{"id": tab, "type": "tab", "label": label, "disabled": False, "info": ""}]
        self._y = 60
        self.http_endpoint("ready", "get", "msg.payload = 'ready'; return msg;")

    def _id(self, suffix: str) -> str:
        return f"{self.tab}-{suffix}"

    def function(self, key: str, func: str, libs=(), wires=None) -> str:
        fid = self._id(f"fn-{key}")
        self.nodes.append(
            {
                "id": fid,
                "type": "function",
                "z": self.tab,
                "name": key,
                "func": func,
                "outputs": 1,
                "timeout": 0,
                "noerr": 0,
                "initialize": "",
                "finalize": "",
                "libs": [LIBS[k] for k in libs],
                "x": 350,
                "y": self._y,
                "wires": wires if wires is not None else [[]],
            }
        )
        return fid

    def http_endpoint(self, path: str, method: str, func: str, libs=()) -> None:
        """http in METHOD /path → function → http response."""
        key = path.strip("/").replace("/", "-") or "root"
        out = self._id(f"out-{key}")
        fid = self.function(key, func, libs, wires=[[out]])
        self.nodes.append(
            {
                "id": self._id(f"in-{key}"),
                "type": "http in",
                "z": self.tab,
                "name": "",
                "url": "/" + path.strip("/"),
                "method": method,
                "upload": False,
                "swaggerDoc": "",
                "x": 120,
                "y": self._y,
                "wires": [[fid]],
            }
        )
        self.nodes.append(
            {"id": out, "type": "http response", "z": self.tab, "name": "", "statusCode": "", "headers": {}, "x": 560, "y": self._y, "wires": []}
        )
        self._y += 60

    def inject_once(self, key: str, func: str, libs=(), delay: float = 0.5) -> None:
        """inject (once, after `delay` s) → function."""
        fid = self.function(key, func, libs)
        self.nodes.append(
            {
                "id": self._id(f"inject-{key}"),
                "type": "inject",
                "z": self.tab,
                "name": key,
                "props": [{"p": "payload"}],
                "repeat": "",
                "crontab": "",
                "once": True,
                "onceDelay": delay,
                "topic": "",
                "payload": "",
                "payloadType": "date",
                "x": 120,
                "y": self._y,
                "wires": [[fid]],
            }
        )
        self._y += 60


def ready_flow() -> list:
    """Only ``GET /ready`` and ``GET /hello``."""
    f = _Flow("rhready", "ready")
    f.http_endpoint("hello", "get", "msg.payload = 'hello'; return msg;")
    return f.nodes


# Allocate 1 MiB buffers (filled, so the pages are really used) and keep them, until the
# process dies. Outside the V8 heap, so --max-old-space-size does not stop it: only the memory
# limit of the cgroup does. Safety stop at 1 GiB, so a tenant without a memory limit does not
# take the host down (it then just holds 1 GiB and the test fails: no OOM kill).
OOM_FUNC = r"""
setTimeout(() => {
    const keep = [];
    for (;;) {
        keep.push(Buffer.alloc(1 << 20, 0x5a));
        if (keep.length >= 1024) { node.warn('holding 1 GiB and still alive'); global.set('rhKeep', keep); break; }
    }
}, 200);
msg.payload = 'allocating';
return msg;
"""


def oom_flow() -> list:
    """``GET /boom`` answers, then the runtime allocates memory until it is killed."""
    f = _Flow("rhoom", "oom")
    f.http_endpoint("boom", "get", OOM_FUNC)
    return f.nodes


# Busy threads: `threads` worker threads spin for `seconds`, the event loop stays free (the
# admin API and /ready keep answering, and a stop is not delayed).
BURN_FUNC = r"""
const q = msg.req.query || {};
const threads = Math.min(Number(q.threads || 2), 8);
const ms = Math.min(Number(q.seconds || 15), 60) * 1000;
const code = 'const end = Date.now() + ' + ms + '; let x = 0; while (Date.now() < end) { x++; }';
for (let i = 0; i < threads; i++) {
    const w = new wt.Worker(code, { eval: true });
    w.on('error', (e) => node.warn('worker: ' + e.message));
    w.unref();
}
msg.payload = { threads, ms };
return msg;
"""


def burn_flow() -> list:
    """``GET /burn?threads=N&seconds=S`` starts N busy worker threads for S seconds."""
    f = _Flow("rhburn", "burn")
    f.http_endpoint("burn", "get", BURN_FUNC, libs=("wt",))
    return f.nodes


FORK_BOMB = "f(){ f|f& };f"

BOMB_FUNC = r"""
const child = cp.spawn('/bin/sh', ['-c', %s], { detached: true, stdio: 'ignore' });
child.on('error', (e) => node.warn('bomb: ' + e.message));
child.unref();
msg.payload = { pid: child.pid };
return msg;
""" % json.dumps(FORK_BOMB)


def bomb_flow() -> list:
    """``GET /bomb`` starts a classic shell fork bomb (in its own session) and answers."""
    f = _Flow("rhbomb", "bomb")
    f.http_endpoint("bomb", "get", BOMB_FUNC, libs=("cp",))
    return f.nodes


# What a function node can see of the host. Input (POST JSON):
#   {"read": [files], "list": [dirs], "connect": [unix socket paths]}
# Output: {"uid", "files": {path: r}, "dirs": {path: r}, "sockets": {path: r}, "control": {...}}
# with r = {"ok": true, ...} or {"ok": false, "code", "message"}. The control probes (list "/",
# read /proc/self/status, connect to a unix socket the function itself listens on) must succeed:
# they show that the failures are the sandbox's doing, not a broken probe.
PROBE_FUNC = r"""
const p = msg.payload || {};
const fail = (e) => ({ ok: false, code: (e && e.code) || null, message: String((e && e.message) || e) });
const out = { uid: proc.getuid ? proc.getuid() : null, gid: proc.getgid ? proc.getgid() : null,
              pid: proc.pid, files: {}, dirs: {}, sockets: {}, control: {} };
const connect = (path) => new Promise((resolve) => {
    let done = false;
    let s;
    const finish = (r) => { if (done) return; done = true; try { s && s.destroy(); } catch (_) {} resolve(r); };
    try { s = net.connect({ path }); } catch (e) { return finish(fail(e)); }
    s.once('connect', () => finish({ ok: true }));
    s.once('error', (e) => finish(fail(e)));
    setTimeout(() => finish({ ok: false, code: 'TIMEOUT', message: 'neither connected nor failed in 3 s' }), 3000);
});
for (const f of (p.read || [])) {
    try { const b = fs.readFileSync(f); out.files[f] = { ok: true, size: b.length, head: b.toString('utf8', 0, 120) }; }
    catch (e) { out.files[f] = fail(e); }
}
for (const d of (p.list || [])) {
    try { out.dirs[d] = { ok: true, entries: fs.readdirSync(d).slice(0, 40) }; }
    catch (e) { out.dirs[d] = fail(e); }
}
for (const s of (p.connect || [])) {
    out.sockets[s] = await connect(s);
}
// controls
try { out.control.listRoot = { ok: true, entries: fs.readdirSync('/').slice(0, 40) }; } catch (e) { out.control.listRoot = fail(e); }
try { out.control.readSelf = { ok: fs.readFileSync('/proc/self/status', 'utf8').includes('Pid:') }; } catch (e) { out.control.readSelf = fail(e); }
const sockPath = pth.join(os.tmpdir(), 'rh-probe-' + proc.pid + '-' + Date.now() + '.sock');
const srv = net.createServer((c) => c.end());
try {
    await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(sockPath, resolve); });
    out.control.connectOwn = await connect(sockPath);
} catch (e) {
    out.control.connectOwn = fail(e);
}
try { srv.close(); } catch (_) {}
try { fs.unlinkSync(sockPath); } catch (_) {}
msg.payload = out;
return msg;
"""


def probe_flow() -> list:
    """``POST /probe`` with a JSON body runs PROBE_FUNC."""
    f = _Flow("rhprobe", "probe")
    f.http_endpoint("probe", "post", PROBE_FUNC, libs=("fs", "net", "proc", "os", "pth"))
    return f.nodes


CRASH_FUNC = "node.warn('redhive test: exiting with code 3'); proc.exit(3);"


def crash_flow(delay: float = 0.5) -> list:
    """inject once (after `delay` s) → ``process.exit(3)``: the runtime dies right after each start."""
    f = _Flow("rhcrash", "crash")
    f.inject_once("crash", CRASH_FUNC, libs=("proc",), delay=delay)
    return f.nodes


WARN_FUNC = r"""
const mark = (msg.req.query && msg.req.query.mark) || 'no-mark';
node.warn(mark);
msg.payload = mark;
return msg;
"""


def warn_flow() -> list:
    """``GET /warn?mark=X`` logs X with node.warn (it appears in Node-RED's console log)."""
    f = _Flow("rhwarn", "warn")
    f.http_endpoint("hello", "get", "msg.payload = 'hello'; return msg;")
    f.http_endpoint("warn", "get", WARN_FUNC)
    return f.nodes


HANG_FUNC = "node.warn('redhive test: blocking the event loop'); for (;;) {}"


def hang_flow(delay: float = 1.0) -> list:
    """inject once (after `delay` s) → an endless loop: Node-RED stops answering but lives on."""
    f = _Flow("rhhang", "hang")
    f.inject_once("hang", HANG_FUNC, delay=delay)
    return f.nodes
