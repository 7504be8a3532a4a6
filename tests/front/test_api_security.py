"""The manager API's security: the wizard, sessions, CSRF, the Origin check, every documented route
behind the session, the log websocket, the login rate limit, JSON errors and factory-reset.

The module's server starts fresh; the tests run in file order: before setup, setup, after setup.
Each later test makes sure the setup is done (``ensure_setup``), so it also runs alone (-k).
The rate limit and factory-reset get dedicated servers.
"""

from __future__ import annotations

import json
import re
import secrets
import time

import pytest
import websocket

from frontlib import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    APPLIANCE_NAME,
    SESSION_COOKIE,
    PUBLIC,
    STATE_CHANGING,
    VALID_BODIES,
    cookie_attributes,
    early_refusal_probe,
    error_message,
    log,
    missing_contract_routes,
    nr,
    set_cookie_headers,
    show,
    wait_for,
)

MIN_OPERATIONS = 20  # the contract lists 24 routes; an empty or partial document must not pass


@pytest.fixture(scope="module")
def front(module_front):
    return module_front


@pytest.fixture(scope="module")
def admin(front):
    """A logged-in client (running the wizard if no earlier test did)."""
    return front.client().ensure_setup()


@pytest.fixture(scope="module")
def r1(admin):
    """Tenant r1 (running, editor user) with an extra Node-RED user alice."""
    if "r1" not in admin.tenant_names():
        admin.create_tenant("r1")
    r = admin.api("GET", "/api/tenants/r1/users")
    if "alice" not in [u.get("username") for u in r.json().get("users", [])]:
        admin.ok("POST", "/api/tenants/r1/users", 201, json={"username": "alice", "password": "Alice-pass-12345", "permissions": "read"})
    return "r1"


def _refused_401(resp, what: str) -> None:
    assert resp.status_code == 401, f"{what}: wanted 401, got {show(resp)}"
    error_message(resp)


def _check_all_need_session(front, cookie: str | None, label: str) -> int:
    """Every non-public operation of the OpenAPI document answers 401 for a client without a
    (valid) session. Returns how many operations were checked."""
    ops = front.openapi()
    assert len(ops) >= MIN_OPERATIONS, f"openapi.json lists only {len(ops)} operations: {[str(o) for o in ops]}"
    missing = missing_contract_routes(ops)
    assert not missing, f"openapi.json lacks routes of the contract: {missing}\ndocumented: {[str(o) for o in ops]}"
    checked, failures = 0, []
    for op in ops:
        if op.public:
            continue
        c = front.client()
        if cookie is not None:
            c.http.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
        kw = {"json": {}} if op.method in STATE_CHANGING - {"DELETE"} else {}
        r = c.api(op.method, op.path(), timeout=30, **kw)
        checked += 1
        if r.status_code != 401:
            failures.append(f"{op} ({op.path()}): {show(r, 200)}")
            continue
        try:
            error_message(r)
        except AssertionError as e:
            failures.append(f"{op}: {e}")
    assert not failures, f"{label}: {len(failures)} of {checked} operations did not answer a JSON 401:\n" + "\n".join(failures)
    log(f"{label}: {checked} operations answered 401")
    return checked


# ============================================================================ before setup
def test_before_setup_wizard_is_armed_and_api_closed(front):
    c = front.client()
    r = c.ok("GET", "/api/health")
    assert r.json().get("status") == "ok", show(r)

    r = c.ok("GET", "/api/setup")
    body = r.json()
    assert body.get("needed") is True, f"fresh data dir: GET /api/setup should say needed: {body!r}"
    assert isinstance(body.get("doctor"), dict) and body["doctor"], f"GET /api/setup before setup has no doctor report: {body!r}"
    defaults = body.get("defaults")
    assert isinstance(defaults, dict) and isinstance(defaults.get("name"), str) and defaults["name"], f"no defaults.name: {body!r}"
    assert isinstance(defaults.get("limits"), dict) and defaults["limits"].get("memory"), f"no defaults.limits.memory: {body!r}"

    for path in ("/api/tenants", "/api/settings", "/api/session", "/api/doctor"):
        _refused_401(c.api("GET", path), f"GET {path} before setup")

    r = c.api("POST", "/api/session", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 409, f"login before setup: wanted 409, got {show(r)}"
    msg = error_message(r)
    assert re.search(r"setup|wizard|set up", msg, re.I), f"the 409 should point to the wizard: {msg!r}"
    assert not c.session_cookie, "a refused login set a session cookie"

    _check_all_need_session(front, None, "before setup, no cookie")


# =================================================================================== setup
def test_setup_validation_then_session_cookie(front):
    c = front.client()
    if not c.setup_needed():
        pytest.skip("setup was already done on this server (run the module in order)")
    good = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "name": APPLIANCE_NAME, "limits": {"memory": "256M", "cpus": 1, "pids": 256}}

    # The classic cross-site form post: a JSON body without the JSON content type.
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        r = c.api("POST", "/api/setup", data=json.dumps(good), headers={"Content-Type": ctype})
        assert r.status_code == 415, f"setup with Content-Type {ctype}: wanted 415, got {show(r)}"
        error_message(r)
    r = c.api("POST", "/api/setup", data=json.dumps(good))  # no Content-Type at all
    assert r.status_code == 415, f"setup without Content-Type: wanted 415, got {show(r)}"

    r = c.api("POST", "/api/setup", json=good, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403, f"setup from a cross Origin: wanted 403, got {show(r)}"
    error_message(r)

    r = c.api("POST", "/api/setup", json={**good, "password": "short1"})
    assert r.status_code == 400, f"setup with a 6-character password: wanted 400, got {show(r)}"
    assert "password" in error_message(r).lower(), f"the weak-password error should talk about the password: {r.text!r}"

    r = c.api("POST", "/api/setup", json={**good, "name": "Not A Label"})
    assert r.status_code == 400, f"setup with appliance name 'Not A Label': wanted 400, got {show(r)}"
    error_message(r)

    assert c.setup_needed(), "a refused setup disarmed the wizard"
    assert not c.session_cookie, f"a refused setup set a cookie: {c.http.cookies}"

    # Same-origin browsers send Origin: it must be accepted when it matches Host.
    r = c.api("POST", "/api/setup", json=good, headers={"Origin": front.base})
    assert r.status_code == 201, f"valid setup: wanted 201, got {show(r)}\n{front.diagnostics()}"
    body = r.json()
    assert body.get("username") == ADMIN_USER and isinstance(body.get("csrf"), str) and len(body["csrf"]) >= 16, f"setup answer: {body!r}"

    cookies = [h for h in set_cookie_headers(r) if h.strip().startswith(SESSION_COOKIE + "=")]
    assert len(cookies) == 1, f"wanted one Set-Cookie {SESSION_COOKIE}=..., got {set_cookie_headers(r)}"
    name, value, attrs = cookie_attributes(cookies[0])
    assert len(value) >= 16, f"session cookie value too short to be a secret: {cookies[0]!r}"
    assert "httponly" in attrs, f"session cookie not HttpOnly: {cookies[0]!r}"
    assert attrs.get("samesite", "").lower() == "strict", f"session cookie not SameSite=Strict: {cookies[0]!r}"
    assert attrs.get("path") == "/", f"session cookie Path is not /: {cookies[0]!r}"
    assert "domain" not in attrs, f"session cookie must be host-only (no Domain): {cookies[0]!r}"
    assert "secure" not in attrs, f"Secure cookie over plain HTTP would never be sent back: {cookies[0]!r}"

    c.csrf = body["csrf"]
    r = c.ok("GET", "/api/session")
    assert r.json().get("username") == ADMIN_USER and r.json().get("csrf") == c.csrf, f"GET /api/session: {r.text!r}"


def test_after_setup_wizard_is_closed(admin):
    r = admin.api("POST", "/api/setup", json={"username": "other", "password": "Other-pass-12345", "name": "other"})
    assert r.status_code == 409, f"setup again with session+CSRF: wanted 409, got {show(r)}"
    assert "already" in error_message(r).lower(), f"409 should say setup is already done: {r.text!r}"
    r = admin.client().api("POST", "/api/setup", json={"username": "other", "password": "Other-pass-12345", "name": "other"})
    assert r.status_code == 409, f"setup again without a session: wanted 409, got {show(r)}"

    body = admin.client().ok("GET", "/api/setup").json()
    assert body.get("needed") is False, f"GET /api/setup after setup: {body!r}"
    assert "doctor" not in body, f"GET /api/setup after setup must not show the doctor report to anyone: {body!r}"

    # the first admin still works, the would-be second one does not exist
    admin.client().login()
    r = admin.client().api("POST", "/api/session", json={"username": "other", "password": "Other-pass-12345"})
    assert r.status_code == 401, f"login as a user a refused setup named: {show(r)}"


# ========================================================================== session needed
def test_every_documented_route_needs_a_session(front, admin):
    n = _check_all_need_session(front, None, "after setup, no cookie")
    _check_all_need_session(front, "forged-" + secrets.token_hex(16), "after setup, forged cookie")
    assert n >= MIN_OPERATIONS - len(PUBLIC), f"only {n} non-public operations checked"


# ============================================================================== keep-alive
def test_early_refusals_keep_the_connection_usable(front, admin):
    """A refusal sent before the request body is read (415 wrong Content-Type, 403 Origin, 403
    CSRF) must not silently close the client's keep-alive connection: the client would send its
    next request into a closed connection and get no answer (browsers and requests do not resend
    a POST). Either read (drain) the body and keep the connection, or answer with
    `Connection: close`. Probed deterministically: the request head goes first, the body only
    after the early answer."""
    body = json.dumps({"username": ADMIN_USER, "password": "wrong-password-x", "name": "ka1", "start": False, "pad": "x" * 20_000}).encode()
    host = front.host
    cookie = f"Cookie: {SESSION_COOKIE}={admin.session_cookie}\r\n"
    cases = [
        ("POST /api/session as text/plain", 415, "/api/session", "Content-Type: text/plain\r\n"),
        ("POST /api/session from Origin http://evil.example", 403, "/api/session", "Content-Type: application/json\r\nOrigin: http://evil.example\r\n"),
        ("POST /api/tenants without X-CSRF-Token", 403, "/api/tenants", "Content-Type: application/json\r\n" + cookie),
    ]
    problems = []
    for label, want, path, extra in cases:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode()
        first, connection, second = early_refusal_probe(front.port, head, body, f"GET /api/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        if first == "no early answer":
            continue  # the server reads the body before refusing: nothing to drop
        assert first == want, f"{label}: wanted {want}, got {first}"
        if "close" in connection.lower():
            continue  # announced: the client opens a new connection
        if second != 200:
            problems.append(f"{label}: answered {first} without `Connection: close`, then the next request on the connection got {second or 'no answer (connection closed)'}")
    assert not problems, "early refusals drop keep-alive connections:\n" + "\n".join(problems)
    assert "ka1" not in admin.tenant_names()


# ==================================================================================== CSRF
def _snapshot(admin) -> dict:
    t = admin.tenant("r1")
    settings = admin.ok("GET", "/api/settings").json()
    return {
        "tenants": admin.tenant_names(),
        "r1": {k: t.get(k) for k in ("state", "on_demand", "idle_minutes", "limits", "theme", "restarts")},
        "settings": {k: settings.get(k) for k in ("name", "domain", "theme", "limits", "idle_minutes")},
        "users": sorted((u["username"], u.get("permissions")) for u in admin.ok("GET", "/api/tenants/r1/users").json()["users"]),
    }


def test_state_changing_requests_need_the_csrf_token(front, admin, r1):
    before = _snapshot(admin)
    assert before["r1"]["state"] == "running", before
    ops = [op for op in front.openapi() if op.method in STATE_CHANGING and not op.public]
    assert len(ops) >= 12, f"only {len(ops)} state-changing operations documented: {[str(o) for o in ops]}"
    failures, checked = [], 0
    for op in ops:
        body = VALID_BODIES.get(op.key, None if op.method == "DELETE" else {})
        for label, token in (("no token", False), ("wrong token", "wrong-" + secrets.token_hex(16))):
            r = admin.api(op.method, op.path(), json=body, csrf=token, timeout=60)
            checked += 1
            if r.status_code != 403:
                failures.append(f"{op} ({op.path()}) with {label}: {show(r, 200)}")
                continue
            try:
                msg = error_message(r)
                if "csrf" not in msg.lower():
                    failures.append(f"{op} with {label}: 403 does not say what is missing: {msg!r}")
            except AssertionError as e:
                failures.append(f"{op} with {label}: {e}")
    # the right token from a cross-site Origin is refused too
    for method, path, body in (("POST", "/api/tenants", {"name": "csrf2", "start": False}), ("PUT", "/api/settings", {"name": "evil"})):
        r = admin.api(method, path, json=body, headers={"Origin": "http://evil.example"})
        checked += 1
        if r.status_code != 403:
            failures.append(f"{method} {path} with the right token but Origin http://evil.example: {show(r, 200)}")
    assert not failures, f"{len(failures)} of {checked} requests were not refused with 403:\n" + "\n".join(failures)
    log(f"CSRF: {checked} requests ({len(ops)} state-changing operations × no/wrong token, + 2 cross-origin) refused with 403")

    after = _snapshot(admin)
    assert after == before, f"refused requests changed something:\nbefore {before}\nafter  {after}"
    r = admin.ok("GET", "/api/session")  # DELETE /api/session without the token did not log out
    assert r.json().get("csrf") == admin.csrf


# =============================================================================== websocket
def _ws(front, path: str, cookie: str | None, origin: str | None, timeout: float = 15):
    url = f"ws://127.0.0.1:{front.port}{path}"
    kw = {"timeout": timeout}
    if cookie is not None:
        kw["cookie"] = f"{SESSION_COOKIE}={cookie}"
    if origin is None:
        kw["suppress_origin"] = True
    else:
        kw["origin"] = origin
    return websocket.create_connection(url, **kw)


def _handshake_status(front, path, cookie, origin) -> int | str:
    try:
        ws = _ws(front, path, cookie, origin)
    except websocket.WebSocketBadStatusException as e:
        return e.status_code
    except (OSError, websocket.WebSocketException) as e:
        return f"failed: {e!r}"
    ws.close()
    return "accepted"


def test_log_websocket_is_same_origin_and_session_only(front, admin, r1):
    path = "/api/tenants/r1/logs?tail=200"
    cookie = admin.session_cookie
    same = front.base  # Origin http://127.0.0.1:<port> = Host

    st = _handshake_status(front, path, cookie, "http://evil.example")
    assert st == 403, f"log websocket with the session cookie but Origin http://evil.example: wanted 403, got {st}"
    st = _handshake_status(front, path, None, same)
    assert st in (401, 403), f"log websocket without a cookie: wanted a refused handshake (401), got {st}"
    st = _handshake_status(front, path, "forged-" + secrets.token_hex(16), same)
    assert st in (401, 403), f"log websocket with a forged cookie: wanted a refused handshake (401), got {st}"

    ws = _ws(front, path, cookie, same)
    lines: list[str] = []
    try:
        ws.settimeout(15)
        first = ws.recv()
        assert isinstance(first, str) and first, f"first log frame is not a text line: {first!r}"
        lines.append(first)
        ws.settimeout(1.5)
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end:  # the tail: up to 200 lines, quickly
            try:
                lines.append(ws.recv())
            except websocket.WebSocketTimeoutException:
                break
        # one text frame per line, as `redhive tenant logs` prints them (the runtime's lines carry
        # no [out]/[err] prefix, whatever the contract's example shows)
        assert all(isinstance(ln, str) and "\n" not in ln.rstrip("\n") for ln in lines), f"log frames are not single text lines: {lines[:5]}"
        assert any("Node-RED" in ln for ln in lines), f"r1's tail has no Node-RED start-up line: {lines[:20]}"

        # live lines: make r1 log a mark now (warn flow through the proxy)
        red = front.node_red("r1")
        red.deploy(nr.warn_flow())
        red.wait_ready()
        mark = "front-mark-" + secrets.token_hex(6)
        r = front.tenant_request("r1", "GET", f"/warn?mark={mark}")
        assert r.status_code == 200, f"GET /warn on r1: {show(r)}"
        ws.settimeout(2)
        seen: list[str] = []

        def got_mark():
            try:
                ln = ws.recv()
            except websocket.WebSocketTimeoutException:
                return False
            seen.append(ln)
            return mark in ln

        wait_for(got_mark, 30, f"live log line with {mark} on the websocket", interval=0, detail=lambda: f"live lines: {seen[-10:]}")
    finally:
        ws.close()


# ============================================================================ rate limit
def test_login_rate_limit_and_logout(make_front):
    f = make_front("ratelimit")
    admin = f.client()
    admin.setup()
    c = f.client()
    statuses = []
    for i in range(7):
        r = c.api("POST", "/api/session", json={"username": ADMIN_USER, "password": f"wrong-password-{i}"})
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
        assert r.status_code == 401, f"wrong password #{i + 1}: wanted 401 (or 429 after 5), got {show(r)}"
        assert "wrong" in error_message(r).lower()
    assert statuses[:5] == [401] * 5, f"the first five wrong passwords: {statuses}"
    assert statuses[-1] == 429 and len(statuses) in (6, 7), f"no 429 after 5 wrong passwords in a row: {statuses}"
    retry = r.headers.get("Retry-After")
    assert retry and retry.strip().isdigit() and 0 < int(retry) <= 120, f"429 without a sensible Retry-After: {show(r)}"
    error_message(r)

    r = c.api("POST", "/api/session", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 429, f"the right password during the lockout: wanted 429, got {show(r)}"
    assert not c.session_cookie, "a login refused by the rate limit set a session cookie"

    # logout: the cookie of the setup session stops working
    old = admin.session_cookie
    admin.ok("GET", "/api/session")
    r = admin.api("DELETE", "/api/session")
    assert r.status_code == 204, f"DELETE /api/session: wanted 204, got {show(r)}"
    replay = f.client()
    replay.http.cookies.set(SESSION_COOKIE, old, domain="127.0.0.1", path="/")
    for method, path in (("GET", "/api/session"), ("GET", "/api/tenants")):
        _refused_401(replay.api(method, path), f"{method} {path} with the cookie of a logged-out session")
    r = replay.api("POST", "/api/tenants", json={"name": "after-logout", "start": False}, csrf=admin.csrf)
    _refused_401(r, "POST /api/tenants with the cookie and CSRF token of a logged-out session")


# ================================================================================== errors
def test_errors_are_json_with_a_reason(admin, r1):
    for name, hint in (
        ("Bad_Name", r"lower|letter|character|a-z|_|underscore|invalid|allowed"),
        ("admin", r"reserved|admin|taken|used|allowed"),
        ("-lead", r"letter|hyphen|-|start|begin|invalid|allowed"),
        ("x" * 64, r"long|length|63|characters|invalid"),
        ("has space", r"space|character|letter|invalid|allowed"),
    ):
        r = admin.api("POST", "/api/tenants", json={"name": name, "start": False})
        assert r.status_code == 400, f"tenant name {name!r}: wanted 400, got {show(r)}"
        msg = error_message(r)
        assert re.search(hint, msg, re.I), f"the 400 for tenant name {name!r} does not say why: {msg!r}"
    names = admin.tenant_names()
    assert not {"Bad_Name", "bad_name", "admin", "-lead", "has space", "x" * 64} & set(names), f"a refused name was created: {names}"

    admin.ok("POST", "/api/tenants", 201, json={"name": "dup", "start": False})
    try:
        r = admin.api("POST", "/api/tenants", json={"name": "dup", "start": False})
        assert r.status_code == 409, f"duplicate tenant: wanted 409, got {show(r)}"
        assert "dup" in error_message(r), f"409 should name the tenant: {r.text!r}"
    finally:
        admin.ok("DELETE", "/api/tenants/dup", 204)
    r = admin.api("GET", "/api/tenants/dup")
    assert r.status_code == 404, f"GET a deleted tenant: {show(r)}"

    for method, path, body in (
        ("GET", "/api/tenants/nope", None),
        ("POST", "/api/tenants/nope/start", {}),
        ("DELETE", "/api/tenants/nope", None),
        ("GET", "/api/tenants/nope/users", None),
        ("PATCH", "/api/tenants/nope", {"on_demand": False}),
        ("PUT", "/api/tenants/nope/limits", {"pids": 64}),
    ):
        r = admin.api(method, path, json=body)
        assert r.status_code == 404, f"{method} {path}: wanted 404, got {show(r)}"
        assert "nope" in error_message(r), f"404 should name the tenant: {r.text!r}"
    r = admin.api("DELETE", "/api/tenants/r1/users/nobody")
    assert r.status_code == 404, f"DELETE an unknown user: wanted 404, got {show(r)}"
    error_message(r)

    r = admin.api("POST", "/api/tenants", json={"name": "lim1", "start": False, "limits": {"memory": "lots"}})
    assert r.status_code == 400, f"limits.memory 'lots': wanted 400, got {show(r)}"
    assert re.search(r"memory|lots", error_message(r), re.I), f"the 400 should name the bad value: {r.text!r}"
    assert "lim1" not in admin.tenant_names(), "a tenant with invalid limits was created"
    before = admin.tenant("r1")["limits"]
    for bad in ({"memory": "lots"}, {"cpus": 0}, {"cpus": -1}, {"pids": 1}, {"memory": -5}):
        r = admin.api("PUT", "/api/tenants/r1/limits", json=bad)
        assert r.status_code == 400, f"PUT limits {bad}: wanted 400, got {show(r)}"
        error_message(r)
    assert admin.tenant("r1")["limits"] == before, "refused limits changed r1's limits"
    for bad in ({"idle_minutes": 0}, {"idle_minutes": 1441}, {"on_demand": "yes"}):
        r = admin.api("PATCH", "/api/tenants/r1", json=bad)
        assert r.status_code == 400, f"PATCH r1 {bad}: wanted 400, got {show(r)}"
        error_message(r)
    r = admin.api("POST", "/api/tenants/r1/users", json={"username": "alice", "password": "Alice-pass-12345", "permissions": "*"})
    assert r.status_code == 409, f"user alice exists: wanted 409, got {show(r)}"
    error_message(r)
    r = admin.api("POST", "/api/tenants/r1/users", json={"username": "bob", "password": "Bob-pass-12345", "permissions": "root"})
    assert r.status_code == 400, f"permissions 'root': wanted 400, got {show(r)}"
    error_message(r)

    # malformed JSON and unknown API paths are JSON errors too
    r = admin.api("POST", "/api/tenants", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), f"malformed JSON body: wanted 400, got {show(r)}"
    error_message(r)
    r = admin.api("GET", "/api/no-such-route")
    assert r.status_code == 404, f"unknown API path: wanted 404, got {show(r)}"
    error_message(r)


# =========================================================================== factory reset
def test_factory_reset_rearms_the_wizard_and_keeps_tenants(make_front):
    f = make_front("reset")
    admin = f.client()
    admin.setup()
    admin.ok("POST", "/api/tenants", 201, json={"name": "keep", "start": False})
    old_cookie = admin.session_cookie

    cp = f.server.cli("factory-reset", stdin="")
    assert cp.returncode == 0, f"redhive factory-reset exited {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}\n{f.diagnostics()}"

    c = f.client()
    assert c.setup_needed(), "after factory-reset GET /api/setup should say needed"
    r = c.api("GET", "/api/setup")
    assert isinstance(r.json().get("doctor"), dict), f"re-armed wizard without doctor report: {r.text[:300]!r}"
    for method, path in (("GET", "/api/session"), ("GET", "/api/tenants")):
        _refused_401(admin.api(method, path), f"{method} {path} with a cookie from before factory-reset")
    r = c.api("POST", "/api/session", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 409, f"login with the old admin after factory-reset: wanted 409 (setup needed), got {show(r)}"

    new = f.client()
    new.setup(username="owner", password="Owner-pass-24680")
    assert "keep" in new.tenant_names(), f"factory-reset lost the tenants: {new.tenant_names()}"
    r = f.client().api("POST", "/api/session", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 401, f"the admin account from before factory-reset still logs in: {show(r)}"
    assert old_cookie != new.session_cookie
