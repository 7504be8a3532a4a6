"""The reverse proxy: routing by Host, no way to the manager from a tenant host, websockets both
ways, big and streamed bodies, slow clients, forwarded and hop-by-hop headers, wake on request.

One server for the module: setup, tenant r1 (editor user) with proxy_flow() deployed through the
proxy itself; tenants sleepy (on demand) and cold (stopped, not on demand) for the wake tests.
Tenant requests go to 127.0.0.1:<port> with an explicit Host header.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time

import pytest
import websocket

from frontlib import (
    EDITOR_MARKER,
    MIB,
    early_refusal_probe,
    json_dumps_compact,
    log,
    proxy_flow,
    raw_request,
    show,
    wait_for,
)


@pytest.fixture(scope="module")
def front(module_front):
    module_front.ensure_setup()
    return module_front


@pytest.fixture(scope="module")
def appliance_name(front) -> str:
    name = front.ok("GET", "/api/settings").json().get("name")
    assert isinstance(name, str) and name, "GET /api/settings has no name"
    return name


@pytest.fixture(scope="module")
def r1(front):
    """r1 running with proxy_flow() deployed (through the proxy, as the editor user)."""
    front.create_tenant("r1")
    red = front.node_red("r1")
    red.deploy(proxy_flow())
    red.wait_ready()
    r = front.tenant_request("r1", "GET", "/hello")
    assert r.status_code == 200 and r.text == "hello", f"GET /hello on r1 through the proxy: {show(r)}"
    return "r1"


def _is_editor(resp) -> bool:
    return resp.status_code == 200 and EDITOR_MARKER in resp.text


def _page_id(html: str) -> str:
    """What identifies a page: its <title> (the body may carry per-request nonces)."""
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    return m.group(1).strip() if m else html


HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


# ================================================================================== routing
def test_host_routing(front, r1, appliance_name):
    port = front.port
    r = front.tenant_request("r1", "GET", "/", headers=HTML)
    assert _is_editor(r), f"GET / on r1.localhost is not Node-RED's editor: {show(r)}"
    assert "X-Redhive" not in r.headers, f"a proxied answer carries X-Redhive: {dict(r.headers)}"

    for host in ("R1.LOCALHOST", "r1.localhost.", "r1.localhost:1234", f"r1.localhost:{port}", f"r1-{appliance_name}.local", f"R1-{appliance_name.upper()}.LOCAL.", f"r1-{appliance_name}.local:{port}"):
        r = front.request_as(host, "GET", "/", headers=HTML)
        assert _is_editor(r), f"Host {host!r} should reach r1's editor: {show(r, 200)}"

    manager = front.request_as(f"127.0.0.1:{port}", "GET", "/", headers=HTML)
    assert manager.status_code == 200 and "text/html" in manager.headers.get("Content-Type", ""), f"the manager UI at / : {show(manager)}"
    assert EDITOR_MARKER not in manager.text, "the manager's / looks like Node-RED's editor"
    for host in (f"localhost:{port}", "localhost", "LOCALHOST.", f"{appliance_name}.local", f"{appliance_name}.local:{port}", "127.0.0.1"):
        r = front.request_as(host, "GET", "/", headers=HTML)
        assert r.status_code == 200 and _page_id(r.text) == _page_id(manager.text), f"Host {host!r} should get the manager's UI (index.html): {show(r, 200)}"

    for name in ("zz", "nobody"):
        r = front.request_as(f"{name}.localhost:{port}", "GET", "/", headers=HTML)
        assert r.status_code == 404, f"Host {name}.localhost (no such tenant): wanted 404, got {show(r, 200)}"
        assert "text/html" in r.headers.get("Content-Type", ""), f"the no-tenant page is not HTML: {dict(r.headers)}"
        assert r.headers.get("X-Redhive"), f"the no-tenant page has no X-Redhive header: {dict(r.headers)}"
        assert name in r.text and EDITOR_MARKER not in r.text and r.text != manager.text, f"the 404 page should name {name!r}: {r.text[:300]!r}"
        assert "href" in r.text, f"the no-tenant page should link to the manager: {r.text[:300]!r}"


def test_spoofed_hosts_never_list_tenants(front, r1):
    port = front.port
    for host in ("localhost", "127.0.0.1", "evil.com", "LOCALHOST.", f"localhost:{port}", "localhost:80", "[::1]"):
        r = front.request_as(host, "GET", "/api/tenants")
        assert r.status_code == 401, f"GET /api/tenants with Host {host!r} and no session: wanted 401, got {show(r, 200)}"
        assert '"tenants"' not in r.text, f"Host {host!r}: tenant list without a session: {r.text[:300]!r}"

    cookie = front.session_cookie
    assert cookie, "the module's client has no session"
    for host in (f"r1.localhost:{port}", "r1.localhost", "R1.localhost.", "zz.localhost"):
        for headers in ({}, {"Cookie": f"redhive_session={cookie}"}):
            r = front.request_as(host, "GET", "/api/tenants", headers=headers)
            assert '"tenants"' not in r.text, f"Host {host!r} {headers}: a tenant host answered the manager's tenant list: {show(r, 300)}"
            assert r.status_code != 200, f"Host {host!r} {headers}: GET /api/tenants answered 200: {show(r, 300)}"
        r = front.request_as(host, "GET", "/api/health")
        assert '"version"' not in r.text, f"Host {host!r}: /api/health reached the manager: {show(r, 200)}"
    # r1's answers to /api/... come from Node-RED, not from redhive
    r = front.tenant_request("r1", "GET", "/api/tenants")
    assert "X-Redhive" not in r.headers and r.status_code in (401, 404), f"r1's own answer to /api/tenants: {show(r, 200)}"


# ================================================================================ websockets
def _ws(front, name: str, path: str, timeout: float = 20):
    return websocket.create_connection(f"ws://127.0.0.1:{front.port}{path}", host=front.tenant_host(name), timeout=timeout, suppress_origin=True)


def test_websocket_echo_through_the_proxy(front, r1):
    a = _ws(front, "r1", "/ws/echo")
    b = _ws(front, "r1", "/ws/echo")
    try:
        for i in range(20):
            for ws, who in ((a, "a"), (b, "b")):
                msg = f"{who}-{i}-{secrets.token_hex(8)}"
                ws.send(msg)
                got = ws.recv()
                assert got == msg, f"echo #{i} on connection {who}: sent {msg!r}, got {got!r}"
        big = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(100_000))
        a.send(big)
        got = a.recv()
        assert got == big, f"100 kB text echo: got {len(got)} chars, first diff at {next((i for i, (x, y) in enumerate(zip(got, big)) if x != y), None)}"
        blob = os.urandom(100_000)
        a.send_binary(blob)
        got = a.recv()
        assert isinstance(got, bytes) and hashlib.sha256(got).digest() == hashlib.sha256(blob).digest(), f"100 kB binary echo: got {type(got).__name__} of {len(got)}"
        # frames from the server side arrive unasked: b's connection still works after a's traffic
        b.send("still-there")
        assert b.recv() == "still-there"
    finally:
        a.close()
        b.close()


def test_node_red_comms_websocket(front, r1):
    token = front.node_red("r1").token()
    ws = _ws(front, "r1", "/comms")
    try:
        ws.send(json.dumps({"auth": "not-a-token"}))
        got = json.loads(ws.recv())
        assert got == {"auth": "fail"}, f"/comms with a bad token: {got!r}"
    finally:
        ws.close()
    ws = _ws(front, "r1", "/comms")
    try:
        ws.send(json.dumps({"auth": token}))
        got = json.loads(ws.recv())
        assert got == {"auth": "ok"}, f"/comms auth exchange through the proxy: {got!r}"
    finally:
        ws.close()


# ==================================================================================== bodies
def _upload(front, body, headers) -> dict:
    r = front.tenant_request("r1", "POST", "/upload", data=body, headers=headers, timeout=180)
    assert r.status_code == 200, f"POST /upload through the proxy: {show(r)}"
    return r.json()


def test_10mib_upload_plain_and_chunked(front, r1):
    size = 10 * MIB
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    t0 = time.monotonic()
    got = _upload(front, data, {"Content-Type": "application/octet-stream"})
    log(f"10 MiB upload with Content-Length: {time.monotonic() - t0:.1f}s → {got}")
    assert got["buffer"] is True and got["got"] == size and got["sha256"] == digest, f"10 MiB upload arrived as {got}"
    assert got["len"] in (None, str(size)), f"Content-Length reached Node-RED as {got['len']!r}"

    def chunks():
        for i in range(0, size, 64 * 1024):
            yield data[i : i + 64 * 1024]

    t0 = time.monotonic()
    got = _upload(front, chunks(), {"Content-Type": "application/octet-stream"})
    log(f"10 MiB chunked upload: {time.monotonic() - t0:.1f}s → {got}")
    assert got["buffer"] is True and got["got"] == size and got["sha256"] == digest, f"10 MiB chunked upload arrived as {got}"


def test_10mb_json_upload_within_api_max_length(front, r1):
    """redhive raises Node-RED's apiMaxLength to 20mb (Node-RED's default, 5mb, refuses this)."""
    body = {"blob": "a" * (10 * MIB)}
    got = _upload(front, json_dumps_compact(body).encode(), {"Content-Type": "application/json"})
    assert got["buffer"] is False and got["got"] == len(json_dumps_compact(body)), f"10 MiB JSON upload arrived as {got}"


def test_8mib_download(front, r1):
    size = 8 * MIB
    r = front.tenant_request("r1", "GET", f"/big?size={size}", timeout=120)
    assert r.status_code == 200 and len(r.content) == size and r.content == b"a" * size, f"GET /big: {r.status_code}, {len(r.content)} bytes"


# =============================================================================== slow clients
class SlowClients:
    """Misbehaving clients, each in its own thread until stop(): half request headers that
    never finish (slowloris), a body sent at 1 byte/s, and a response read at 1 kB/s."""

    def __init__(self, front) -> None:
        self.front = front
        self.port = front.port
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.read_bytes = 0
        self.sent_body_bytes = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def _conn(self, rcvbuf: int | None = None) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(5)
        s.connect(("127.0.0.1", self.port))
        return s

    def _run(self, fn) -> None:
        t = threading.Thread(target=self._guard, args=(fn,), daemon=True)
        t.start()
        self.threads.append(t)

    def _guard(self, fn) -> None:
        try:
            fn()
        except OSError as e:  # the server may drop a slow client: allowed, noted
            self.errors.append(f"{fn.__name__}: {e!r}")

    def slowloris(self, host: str) -> None:
        def slowloris():
            s = self._conn()
            try:
                s.sendall(f"GET /hello HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
                while not self.stop_event.wait(1):
                    s.sendall(b"a")
            finally:
                s.close()

        self._run(slowloris)

    def slow_body(self) -> None:
        def slow_body():
            s = self._conn()
            try:
                s.sendall(
                    f"POST /upload HTTP/1.1\r\nHost: {self.front.tenant_host('r1')}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n".encode()
                )
                while not self.stop_event.wait(1):
                    s.sendall(b"x")
                    with self.lock:
                        self.sent_body_bytes += 1
            finally:
                s.close()

        self._run(slow_body)

    def slow_reader(self) -> None:
        def slow_reader():
            s = self._conn(rcvbuf=4096)
            try:
                s.sendall(f"GET /big?size={8 * MIB} HTTP/1.1\r\nHost: {self.front.tenant_host('r1')}\r\n\r\n".encode())
                while not self.stop_event.wait(1):
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    with self.lock:
                        self.read_bytes += len(chunk)
            finally:
                s.close()

        self._run(slow_reader)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(10)


def test_slow_clients_do_not_stall_others(front, r1):
    slow = SlowClients(front)
    try:
        for _ in range(40):
            slow.slowloris(front.tenant_host("r1"))
        for _ in range(20):
            slow.slowloris(f"127.0.0.1:{front.port}")
        bodies, readers = 10, 4  # each holds an upstream connection to r1's Node-RED
        for _ in range(bodies):
            slow.slow_body()
        for _ in range(readers):
            slow.slow_reader()
        # all of them in flight: bodies half sent, big responses half read
        wait_for(lambda: slow.sent_body_bytes >= 2 * bodies and slow.read_bytes >= 2 * 1024 * readers, 20, "the slow clients to be under way", detail=lambda: f"sent {slow.sent_body_bytes} B, read {slow.read_bytes} B, dropped {slow.errors}")

        def one(i: int) -> tuple[str, float, object]:
            t0 = time.monotonic()
            try:
                if i % 2:
                    r = front.tenant_request("r1", "GET", "/hello", timeout=10)
                    ok = r.status_code == 200 and r.text == "hello"
                    what = "r1 /hello"
                else:
                    r = front.client().api("GET", "/api/health", timeout=10)
                    ok = r.status_code == 200 and r.json().get("status") == "ok"
                    what = "manager /api/health"
                return what, time.monotonic() - t0, True if ok else show(r, 100)
            except Exception as e:  # noqa: BLE001 - timeouts are what we look for
                return f"request {i}", time.monotonic() - t0, repr(e)

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(one, range(100)))
        total = time.monotonic() - t0
        bad = [r for r in results if r[2] is not True]
        worst = max(r[1] for r in results)
        log(f"100 requests (50 r1, 50 manager) beside slow clients: {total:.1f}s, worst {worst:.2f}s, slow reader got {slow.read_bytes} B, slow body sent {slow.sent_body_bytes} B, dropped: {slow.errors}")
        assert not bad, f"{len(bad)} of 100 requests failed beside slow clients: {bad[:5]}"
        assert total < 20, f"50 + 50 requests took {total:.1f}s beside slow clients (worst {worst:.1f}s)"
        assert slow.read_bytes < 8 * MIB, "the slow reader was not slow (got everything)"
        assert not slow.errors, f"slow clients were dropped while the others ran (fine for a server to do after a timeout, but not within seconds): {slow.errors}"
    finally:
        slow.stop()
    # and afterwards, r1 and the manager still answer
    assert front.tenant_request("r1", "GET", "/hello", timeout=10).status_code == 200
    front.client().ok("GET", "/api/health")


# ================================================================================== headers
def test_forwarded_headers_set_and_hop_by_hop_stripped(front, r1):
    host = front.tenant_host("r1")
    status, headers, body = raw_request(
        front.port,
        "GET",
        "/headers",
        [
            ("Host", host),
            ("Connection", "close, X-Secret"),
            ("X-Secret", "1"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("TE", "trailers"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Normal", "kept"),
            ("Accept", "application/json"),
        ],
    )
    assert status == 200, f"GET /headers on r1: {status} {headers} {body[:300]!r}"
    seen = json.loads(body)
    assert seen.get("x-normal") == "kept", f"an ordinary header was lost: {seen}"
    for h in ("x-secret", "proxy-authorization", "te", "keep-alive", "proxy-connection"):
        assert h not in seen, f"hop-by-hop header {h!r} reached the tenant: {seen}"
    assert "x-secret" not in seen.get("connection", "").lower(), f"Connection header forwarded as is: {seen}"
    xff = [p.strip() for p in seen.get("x-forwarded-for", "").split(",")]
    assert xff[-1] == "127.0.0.1", f"X-Forwarded-For should end with the client's address: {seen}"
    assert seen.get("x-forwarded-proto") == "http", f"X-Forwarded-Proto: {seen}"
    assert seen.get("x-forwarded-host") in (host, "r1.localhost"), f"X-Forwarded-Host: {seen}"

    # a client's own X-Forwarded-For does not replace the real last hop
    status, _, body = raw_request(front.port, "GET", "/headers", [("Host", host), ("X-Forwarded-For", "6.6.6.6"), ("Connection", "close")])
    seen = json.loads(body)
    assert [p.strip() for p in seen.get("x-forwarded-for", "").split(",")][-1] == "127.0.0.1", f"spoofed X-Forwarded-For: {seen}"


# ====================================================================================== wake
META_REFRESH = re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?refresh", re.I)


def test_on_demand_tenant_wakes_on_request(front):
    front.create_tenant("sleepy", on_demand=True)
    t = front.ok("PATCH", "/api/tenants/sleepy", json={"idle_minutes": 1}).json()
    assert t.get("idle_minutes") == 1 and t.get("on_demand") is True, f"PATCH idle_minutes 1 answered {t}"
    # (idle stop itself takes minutes: not waited for here; back to 15 so it cannot hit this test)
    t = front.ok("PATCH", "/api/tenants/sleepy", json={"idle_minutes": 15}).json()
    assert t.get("idle_minutes") == 15, f"PATCH idle_minutes 15 answered {t}"
    t = front.ok("POST", "/api/tenants/sleepy/stop", json={}).json()
    assert t.get("state") == "stopped", f"POST /stop answered {t}"

    # a browser gets the "starting" page at once, and the tenant starts
    r = front.tenant_request("sleepy", "GET", "/", headers=HTML, timeout=15)
    assert r.status_code == 503, f"HTML request to a stopped on-demand tenant: wanted 503, got {show(r, 200)}"
    assert META_REFRESH.search(r.text), f"the starting page does not refresh itself: {r.text[:400]!r}"
    assert r.headers.get("Retry-After"), f"the starting page has no Retry-After: {dict(r.headers)}"
    assert r.headers.get("X-Redhive"), f"the starting page has no X-Redhive header: {dict(r.headers)}"
    front.wait_state("sleepy", {"running"}, 180, fail_states={"crashed", "safe-mode"})
    r = front.tenant_request("sleepy", "GET", "/", headers=HTML)
    assert _is_editor(r), f"after the wake, sleepy's editor: {show(r, 200)}"

    # an API client waits and is answered by Node-RED itself
    t = front.ok("POST", "/api/tenants/sleepy/stop", json={}).json()
    assert t.get("state") == "stopped", f"POST /stop answered {t}"
    t0 = time.monotonic()
    r = front.tenant_request("sleepy", "GET", "/settings", headers={"Accept": "application/json"}, timeout=150)
    log(f"JSON request to stopped on-demand tenant answered {r.status_code} after {time.monotonic() - t0:.1f}s")
    assert r.status_code in (200, 401), f"JSON request to a stopped on-demand tenant should wait for Node-RED: {show(r, 300)}"
    assert "X-Redhive" not in r.headers, f"answered by redhive, not by Node-RED: {show(r, 300)}"
    assert front.tenant("sleepy").get("state") == "running"


@pytest.fixture(scope="module")
def cold(front):
    """Tenant cold: created with start false, not on demand."""
    t = front.create_tenant("cold", start=False)
    assert t.get("state") == "stopped" and t.get("on_demand") is False, f"created cold: {t}"
    return "cold"


def test_stopped_tenant_is_not_woken(front, cold):
    r = front.tenant_request("cold", "GET", "/", headers=HTML, timeout=15)
    assert r.status_code == 503, f"stopped tenant: wanted 503, got {show(r, 200)}"
    assert r.headers.get("X-Redhive"), f"the stopped page has no X-Redhive header: {dict(r.headers)}"
    assert "cold" in r.text and "stopped" in r.text.lower(), f"the page should say cold is stopped: {r.text[:400]!r}"
    t0 = time.monotonic()
    r = front.tenant_request("cold", "GET", "/settings", headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 503 and r.headers.get("X-Redhive"), f"JSON request to a stopped tenant: {show(r, 200)}"
    assert time.monotonic() - t0 < 10, "a request to a stopped (not on-demand) tenant waited instead of answering"
    # it stays stopped (observed over a few seconds: a wake would show as starting/running)
    states = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        states.append(front.tenant("cold").get("state"))
        time.sleep(0.5)
    assert set(states) == {"stopped"}, f"a request started the stopped tenant: {states}"


def test_proxy_pages_keep_the_connection_usable(front, cold):
    """The proxy's own answers to a request with a body (503 stopped, 404 no such tenant) must not
    silently close the keep-alive connection: drain the body or say `Connection: close`."""
    body = b"x" * 20_000
    problems = []
    for host, want in ((front.tenant_host("cold"), 503), (f"zz.localhost:{front.port}", 404)):
        head = f"POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        first, connection, second = early_refusal_probe(front.port, head, body, f"GET / HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n".encode())
        if first == "no early answer":
            continue
        assert first == want, f"POST with a body to {host}: wanted {want}, got {first}"
        if "close" not in connection.lower() and second != want:
            problems.append(f"{host}: answered {first} without `Connection: close`, then the next request on the connection got {second or 'no answer (connection closed)'}")
    assert not problems, "the proxy's pages drop keep-alive connections:\n" + "\n".join(problems)


def test_idle_on_demand_tenant_stops_by_itself(front, r1):
    """An on-demand tenant nobody uses for its idle minutes (1 here) is stopped by redhive; an
    always-on tenant beside it is not."""
    front.create_tenant("dozy", on_demand=True)
    t = front.ok("PATCH", "/api/tenants/dozy", json={"idle_minutes": 1}).json()
    assert t.get("idle_minutes") == 1, f"PATCH idle_minutes answered {t}"
    t0 = time.monotonic()
    # The idle check runs every 30 s: stopped between 60 and ~100 s after the last request.
    front.wait_state("dozy", {"stopped"}, 180, fail_states={"crashed", "safe-mode"})
    log(f"dozy stopped after {time.monotonic() - t0:.0f}s idle")
    assert "stopping idle on-demand tenant" in front.server.log_tail(400), "no log line for the idle stop"
    assert front.tenant("r1")["state"] == "running", "an always-on tenant was stopped too"
