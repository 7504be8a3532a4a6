"""The private npm registry sidecar (Verdaccio 6.8.0) and the node catalogue (issue 6), on one
server shared by the module's tests, which run in order and build on each other:

1. the sidecar runs and answers; 2. npm publishes a real Node-RED node package and it appears
in the catalogue; 3. publishing needs the account; 4. a tenant installs the node from its
palette and a flow uses it; 5. offline, the tenant keeps it and reinstalls it from the sidecar
when its files are gone; 6. a forged notify changes nothing; 7. a broken package is left out
and reported; 8. POST /api/registry/rebuild; 9. a killed Verdaccio is restarted; 10. the
catalogue survives a redhive restart; 11. API errors. A last test checks a server with the
registry off.

The contract is /tmp/front/REGISTRY.md (issue 6). Servers run with
the process runtime, ``REDHIVE_REGISTRY=on`` and ``REDHIVE_REGISTRY_LISTEN=127.0.0.1:<free
port>``. npm runs under the node home's Node 22 with a throw-away HOME and userconfig.

Run::

    cd /work/main
    REDHIVE_BIN=/var/cache/redhive/target/debug/redhive \\
        /var/cache/redhive/venv/bin/python -m pytest -q -p no:cacheprovider tests/registry
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import requests

from registrylib import (
    Front,
    FrontServer,
    Npm,
    brief,
    catalogue,
    describe,
    error_message,
    finish_stop,
    free_port,
    log,
    module_entry,
    module_ids,
    node_sets,
    package_copy,
    packument_url,
    palette_catalogues,
    pid_alive,
    plain_package,
    raw_publish,
    red_api,
    registry_view,
    request_token,
    show,
    start_redhive,
    stop_redhive,
    tenant_env,
    token_of,
    upper_flow,
    wait_for,
    wait_registry,
)

SCOPE = "private"
UPPER = f"@{SCOPE}/node-red-contrib-redhive-upper"
BROKEN = f"@{SCOPE}/node-red-contrib-broken"
ANON = f"@{SCOPE}/node-red-contrib-redhive-anon"
PLAIN = f"@{SCOPE}/redhive-plain-lib"
UPPER_DESCRIPTION = "redhive registry test node: upper-cases msg.payload (or msg.payload.s)"
ACCOUNT = "publisher"
PASSWORD_1 = "Registry-pub-pass-2468"
PASSWORD_2 = "Registry-pub-pass-1357"
NODERED_CATALOGUE = "https://catalogue.nodered.org/catalogue.json"
TENANT_CATALOGUE = "/.redhive/catalogue.json"
FIRST_START_TIMEOUT = float(os.environ.get("REDHIVE_REGISTRY_START_TIMEOUT", "600"))  # npm installs Verdaccio
CATALOGUE_DELAY = 10  # publish → catalogue (the contract: within ~1 s)


@dataclass
class Hive:
    """The module's server and what the tests learn along the way."""

    front: Front
    port: int  # Verdaccio's
    tmp: Path
    password: str = PASSWORD_1
    seen: dict = field(default_factory=dict)

    @property
    def registry(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def data(self) -> Path:
        return self.front.server.data_dir

    def ping(self) -> requests.Response:
        return requests.get(self.registry + "-/ping", timeout=10)

    def npm(self, label: str, token: Optional[str] = None) -> Npm:
        return Npm(self.tmp / f"npm-{label}-{time.monotonic_ns()}", self.registry, token, SCOPE)

    def token(self) -> str:
        r = request_token(self.registry, ACCOUNT, self.password)
        tok = token_of(r)
        assert r.status_code in (200, 201) and tok, f"no token for {ACCOUNT} from Verdaccio: {show(r)}"
        return tok

    def module_dir(self, tenant: str) -> Path:
        return self.data / "tenants" / tenant / "data" / "node_modules" / Path(*UPPER.split("/"))


@pytest.fixture(scope="module")
def hive(tmp_path_factory) -> Hive:
    """A set-up server with the registry on and the publishing account set, its sidecar
    running."""
    keep = tmp_path_factory.mktemp("registry-server")
    env: dict = {"REDHIVE_REGISTRY": "on"}
    server = FrontServer("registry", env)
    port = free_port()
    while port in (server.srv.http_port, server.srv.mongo_port):
        port = free_port()
    env["REDHIVE_REGISTRY_LISTEN"] = f"127.0.0.1:{port}"  # the server's env() reads this dict
    try:
        server.start()
        front = Front(server)
        front.ensure_setup()
        h = Hive(front, port, tmp_path_factory.mktemp("registry-work"))
        r = front.ok("PUT", "/api/registry/account", 200, json={"username": ACCOUNT, "password": PASSWORD_1})
        assert r.json().get("account") == ACCOUNT, f"PUT /api/registry/account answered {r.text[:300]!r}"
        t0 = time.monotonic()
        wait_registry(front, FIRST_START_TIMEOUT, "the registry sidecar running (the first start installs Verdaccio)")
        log(f"sidecar running {time.monotonic() - t0:.1f}s after the account was set, Verdaccio on {h.registry}")
        yield h
    finally:
        server.close(keep)


# ================================================================================ 1. running
def test_the_sidecar_runs_and_answers(hive: Hive):
    front = hive.front
    view = registry_view(front)
    assert view.get("enabled") is True, f"GET /api/registry: {view!r}"
    assert view.get("state") == "running", brief(view)
    pid = view.get("pid")
    assert isinstance(pid, int) and pid > 1 and pid_alive(pid), f"pid {pid!r} is not a live process: {brief(view)}"
    assert isinstance(view.get("restarts"), int) and view["restarts"] >= 0, brief(view)
    hive.seen["restarts"] = view["restarts"]
    assert view.get("online") is True and view.get("scope") == SCOPE, f"defaults: online={view.get('online')!r} scope={view.get('scope')!r}"
    assert view.get("url") == hive.registry, f"url {view.get('url')!r}: the admin reached redhive as 127.0.0.1, Verdaccio listens on {hive.registry}"
    assert view.get("account") == ACCOUNT, f"account {view.get('account')!r}"
    assert view.get("problems") == [], f"problems on an empty registry: {view.get('problems')!r}"
    cat = view.get("catalogue")
    assert isinstance(cat, dict) and cat.get("modules") == [], f"catalogue of an empty registry: {cat!r}"

    commands = view.get("publish")
    assert isinstance(commands, list) and all(isinstance(c, str) for c in commands), f"publish: {commands!r}"
    assert any("npm login" in c and hive.registry in c and f"--scope=@{SCOPE}" in c for c in commands), f"no `npm login --registry {hive.registry} --scope=@{SCOPE}` in {commands!r}"
    assert any("npm publish" in c and hive.registry in c for c in commands), f"no `npm publish --registry {hive.registry}` in {commands!r}"

    ping = hive.ping()
    assert ping.status_code == 200, f"Verdaccio GET /-/ping: {show(ping)}"

    config = hive.data / "registry" / "config.yaml"
    assert config.is_file(), f"no generated {config}"
    assert "proxy:" in config.read_text(), f"online, but {config} proxies nothing to the public registry:\n{config.read_text()}"

    r, doc = catalogue(front)
    assert r.headers.get("Access-Control-Allow-Origin") == "*", f"GET /catalogue.json CORS: {dict(r.headers)}"
    assert doc.get("name") == "redhive private nodes", f"catalogue name {doc.get('name')!r} (appliance name + ' private nodes')"
    assert doc["modules"] == [] and isinstance(doc.get("updated_at"), str) and doc["updated_at"], f"empty catalogue: {doc!r}"

    anonymous = front.client().api("GET", "/api/registry")
    assert anonymous.status_code == 401, f"GET /api/registry without a session: {show(anonymous)}"


# ================================================================================ 2. publish
def test_npm_publish_reaches_the_catalogue(hive: Hive):
    token = hive.token()
    npm = hive.npm("upper", token)
    who = npm.run("whoami", cwd=hive.tmp)
    assert who.returncode == 0 and who.stdout.strip() == ACCOUNT, f"npm whoami with the account's token: {describe(who)}"

    pkg = package_copy("node-red-contrib-redhive-upper", hive.tmp / "upper", name=UPPER, version="1.0.0")
    cp = npm.run("publish", cwd=pkg)
    assert cp.returncode == 0, f"npm publish {UPPER}: {describe(cp)}"
    t0 = time.monotonic()

    def listed():
        r, doc = catalogue(hive.front)
        return (r, doc) if module_entry(doc, UPPER) else None

    r, doc = wait_for(listed, CATALOGUE_DELAY, f"{UPPER} in GET /catalogue.json after npm publish", interval=0.2,
                      detail=lambda: f"catalogue: {catalogue(hive.front)[1]!r}\n{hive.front.diagnostics()}")
    log(f"{UPPER} in the catalogue {time.monotonic() - t0:.2f}s after npm publish returned")
    assert r.headers.get("Access-Control-Allow-Origin") == "*", f"GET /catalogue.json CORS: {dict(r.headers)}"
    m = module_entry(doc, UPPER)
    assert m.get("version") == "1.0.0", m
    assert m.get("description") == UPPER_DESCRIPTION, m
    assert m.get("keywords") == ["node-red", "redhive-test"], m
    assert m.get("types") == ["redhive-upper"], m
    assert isinstance(m.get("updated_at"), str) and m["updated_at"][:4].isdigit(), m
    assert str(m.get("url", "")).startswith("http") and m["url"].endswith(f"-/web/detail/{UPPER}"), m
    assert module_ids(doc) == [UPPER], f"catalogue modules: {module_ids(doc)}"

    view = registry_view(hive.front)
    assert module_ids(view.get("catalogue") or {}) == [UPPER], f"GET /api/registry catalogue: {view.get('catalogue')!r}"
    saved = hive.data / "registry" / "catalogue.json"
    assert saved.is_file() and UPPER in saved.read_text(), f"{saved} (the last built catalogue) does not hold {UPPER}"

    packument = requests.get(packument_url(hive.registry, UPPER), timeout=30)
    assert packument.status_code == 200, f"anonymous GET of {UPPER} from Verdaccio (access $all): {show(packument)}"
    assert packument.json().get("dist-tags", {}).get("latest") == "1.0.0", packument.text[:300]


# ============================================================================ 3. credentials
def test_publishing_needs_the_account(hive: Hive):
    wrong = request_token(hive.registry, ACCOUNT, "Not-the-password-000")
    assert wrong.status_code >= 400 and token_of(wrong) is None, f"login with a wrong password: {show(wrong)}"
    register = request_token(hive.registry, "mallory", "Mallory-pass-1234", basic=False)
    assert register.status_code >= 400 and token_of(register) is None, f"self-registration of 'mallory' (max_users -1): {show(register)}"

    for label, token in (("no token", None), ("garbage token", "not-a-token")):
        pkg = package_copy("node-red-contrib-redhive-upper", hive.tmp / f"anon-{label.replace(' ', '-')}", name=ANON, version="1.0.0")
        cp = hive.npm("anon", token).run("publish", cwd=pkg)
        assert cp.returncode != 0, f"npm publish with {label} was accepted: {describe(cp)}"
    # npm does not even send a publish without a token: ask Verdaccio itself.
    for label, headers in (("no Authorization", {}), ("a garbage bearer", {"Authorization": "Bearer not-a-token"}),
                           ("a wrong password", {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT}:Not-the-password-000".encode()).decode()})):
        r = raw_publish(hive.registry, ANON, headers)
        assert r.status_code in (401, 403), f"Verdaccio: PUT of {ANON} with {label}: {show(r)}"
    missing = requests.get(packument_url(hive.registry, ANON), timeout=30)
    assert missing.status_code == 404, f"{ANON} exists in Verdaccio after refused publishes: {show(missing)}"
    assert ANON not in module_ids(catalogue(hive.front)[1])

    # The account is replaced: the old password stops working, the new one works.
    r = hive.front.ok("PUT", "/api/registry/account", 200, json={"username": ACCOUNT, "password": PASSWORD_2})
    assert r.json().get("account") == ACCOUNT, r.text[:300]
    hive.password = PASSWORD_2

    def old_refused():
        r = request_token(hive.registry, ACCOUNT, PASSWORD_1)
        return r.status_code >= 400 and token_of(r) is None

    wait_for(old_refused, 10, "Verdaccio to refuse the replaced password", interval=0.5,
             detail=lambda: f"last: {show(request_token(hive.registry, ACCOUNT, PASSWORD_1))}")
    assert hive.token(), "no token with the new password"


# ==================================================================== 4. palette install
def test_a_tenant_installs_the_node_from_its_palette(hive: Hive):
    front = hive.front
    front.create_tenant("r1")

    _, manager_doc = catalogue(front)
    r = front.tenant_request("r1", "GET", TENANT_CATALOGUE)
    assert r.status_code == 200, f"GET {TENANT_CATALOGUE} on r1's host: {show(r)}"
    assert r.json() == manager_doc, f"r1's {TENANT_CATALOGUE} differs from /catalogue.json:\n{r.text[:600]}\n{manager_doc!r}"

    env = tenant_env(front, "r1")
    npm_env = {k: v for k, v in env.items() if k.startswith(("REDHIVE_NPM", "REDHIVE_CATALOGUES"))}
    assert env.get("REDHIVE_NPM_SCOPE_REGISTRY", "").startswith(f"@{SCOPE}=http") and env["REDHIVE_NPM_SCOPE_REGISTRY"].endswith(f":{hive.port}/"), f"r1's environment (online): {npm_env}"
    assert "REDHIVE_NPM_REGISTRY" not in env, f"online, r1's npm must use the public registry for everything but @{SCOPE}: {npm_env}"
    red = front.node_red("r1")
    cats = palette_catalogues(red)
    assert any(str(c).endswith(TENANT_CATALOGUE) for c in cats) and NODERED_CATALOGUE in cats, f"r1's palette catalogues (online): {cats!r}"

    t0 = time.monotonic()
    r = red_api(red, "POST", "nodes", {"module": UPPER}, timeout=240)
    assert r.status == 200, f"POST /nodes {{module: {UPPER}}} in r1: {r!r}\n{front.diagnostics('r1')}"
    log(f"r1 installed {UPPER} in {time.monotonic() - t0:.1f}s")
    info = r.json()
    assert info.get("name") == UPPER and info.get("version") == "1.0.0", info
    assert [t for n in info.get("nodes", []) for t in n.get("types", [])] == ["redhive-upper"], info

    sets = node_sets(red, UPPER)
    assert [t for s in sets for t in s.get("types", [])] == ["redhive-upper"], f"GET /nodes for {UPPER}: {sets!r}"
    assert all(s.get("enabled") and not s.get("err") and s.get("version") == "1.0.0" for s in sets), sets
    pj = hive.module_dir("r1") / "package.json"
    assert pj.is_file() and json.loads(pj.read_text()).get("version") == "1.0.0", f"{pj} missing (the contract's userDir is <data>/tenants/r1/data)"

    red.deploy(upper_flow())
    red.wait_ready()
    r = front.tenant_request("r1", "GET", "/upper?s=hello-registry")
    assert r.status_code == 200 and r.text == "HELLO-REGISTRY", f"GET /upper?s=hello-registry through the proxy: {show(r)}"
    hive.seen["installed"] = True


# ============================================================================== 5. offline
def test_offline_the_tenant_keeps_and_reinstalls_the_node(hive: Hive):
    if not hive.seen.get("installed"):
        pytest.skip("needs the palette install of test_a_tenant_installs_the_node_from_its_palette")
    front = hive.front
    old_pid = wait_registry(front, 30, "the sidecar running before going offline")["pid"]
    r = front.ok("PUT", "/api/registry", 200, json={"online": False})
    assert r.json().get("online") is False, f"PUT /api/registry {{online: false}} answered {r.text[:400]!r}"
    log(f"PUT /api/registry {{online: false}} answered {brief(r.json())}")
    # "Verdaccio restarts to apply": a new process, running, offline.
    view = wait_registry(front, 60, "a restarted sidecar running offline", lambda v: v.get("online") is False and v.get("pid") != old_pid)
    config = hive.data / "registry" / "config.yaml"
    wait_for(lambda: "proxy:" not in config.read_text(), 10, f"no uplink proxy in {config} offline",
             detail=lambda: config.read_text())
    assert hive.ping().status_code == 200, "Verdaccio /-/ping offline"
    log(f"offline: {brief(view)}")

    # A restart applies it; the node is still there.
    front.ok("POST", "/api/tenants/r1/restart", 200, json={})
    front.wait_state("r1", {"running"}, 120, fail_states={"stopped", "crashed", "safe-mode"})
    env = tenant_env(front, "r1")
    npm_env = {k: v for k, v in env.items() if k.startswith(("REDHIVE_NPM", "REDHIVE_CATALOGUES"))}
    assert env.get("REDHIVE_NPM_REGISTRY", "").startswith("http") and env["REDHIVE_NPM_REGISTRY"].endswith(f":{hive.port}/"), f"r1's environment (offline): {npm_env}"
    red = front.node_red("r1")
    cats = palette_catalogues(red)
    assert any(str(c).endswith(TENANT_CATALOGUE) for c in cats) and not any("catalogue.nodered.org" in str(c) for c in cats), f"r1's palette catalogues (offline): {cats!r}"
    sets = node_sets(red, UPPER)
    assert [t for s in sets for t in s.get("types", [])] == ["redhive-upper"] and not any(s.get("err") for s in sets), f"after the restart: {sets!r}"
    red.wait_ready()
    r = front.tenant_request("r1", "GET", "/upper?s=after-restart")
    assert r.status_code == 200 and r.text == "AFTER-RESTART", f"/upper after the restart: {show(r)}"

    # Files gone: Node-RED's autoInstall gets the module back from the sidecar (no uplink).
    front.ok("POST", "/api/tenants/r1/stop", 200, json={})
    front.wait_state("r1", {"stopped"}, 60)
    mod = hive.module_dir("r1")
    assert mod.is_dir(), f"{mod} missing before the test removes it"
    shutil.rmtree(mod)
    assert not mod.exists()
    t0 = time.monotonic()
    front.ok("POST", "/api/tenants/r1/start", 200, json={})
    front.wait_state("r1", {"running"}, 120, fail_states={"stopped", "crashed", "safe-mode"})

    def upper_answers():
        r = front.tenant_request("r1", "GET", "/upper?s=reinstalled", timeout=10)
        return r if r.status_code == 200 and r.text == "REINSTALLED" else None

    wait_for(upper_answers, 90, "r1's /upper after autoInstall reinstalled the removed module", interval=1,
             detail=lambda: f"last: {show(front.tenant_request('r1', 'GET', '/upper?s=reinstalled', timeout=10))}\n"
                            f"module dir exists: {mod.exists()}\n{front.diagnostics('r1')}")
    log(f"offline autoInstall: /upper answers {time.monotonic() - t0:.1f}s after the start")
    sets = node_sets(red, UPPER)
    assert [t for s in sets for t in s.get("types", [])] == ["redhive-upper"] and not any(s.get("err") for s in sets), sets
    html = red_api(red, "GET", "nodes", accept="text/html")
    assert html.status == 200 and "registerType('redhive-upper'" in html.text, "the editor definition of redhive-upper is not served after the reinstall"
    assert (mod / "package.json").is_file(), f"{mod} not reinstalled"
    lock = hive.data / "tenants" / "r1" / "data" / "package-lock.json"
    if lock.is_file():
        entry = (json.loads(lock.read_text()).get("packages") or {}).get(f"node_modules/{UPPER}") or {}
        resolved = entry.get("resolved", "")
        assert f":{hive.port}/" in resolved, f"{UPPER} was resolved from {resolved!r}, not from the sidecar on port {hive.port}"
        log(f"reinstalled from {resolved}")


# ======================================================================= 6. forged notify
def test_a_forged_notify_changes_nothing(hive: Hive):
    front = hive.front
    wait_registry(front, 30, "the sidecar running")
    time.sleep(1.5)  # a rebuild that follows a (re)start of Verdaccio is done
    _, before = catalogue(front)
    url = front.url("/api/registry/notify")
    body = {"event": "publish", "name": f"@{SCOPE}/node-red-contrib-forged"}
    answers = {
        "no Authorization": requests.post(url, json=body, timeout=30),
        "a wrong bearer": requests.post(url, json=body, headers={"Authorization": "Bearer not-the-secret"}, timeout=30),
        "an admin session and CSRF token, no bearer": front.api("POST", "/api/registry/notify", json=body),
    }
    for what, r in answers.items():
        assert r.status_code == 401, f"POST /api/registry/notify with {what}: {show(r)}"
    time.sleep(2)
    _, after = catalogue(front)
    assert after == before, f"the catalogue changed after forged notifies:\nbefore {before!r}\nafter  {after!r}"

    # Control: the real secret is accepted and rebuilds (so the check above could fail).
    secret_file = hive.data / "secrets" / "registry-notify"
    assert secret_file.is_file(), f"no {secret_file}"
    secret = secret_file.read_text().strip()
    r = requests.post(url, json={"event": "publish", "name": UPPER}, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert r.status_code == 202, f"POST /api/registry/notify with the secret: {show(r)}"

    def rebuilt_doc():
        doc = catalogue(front)[1]
        return doc if doc.get("updated_at") != before.get("updated_at") else None

    rebuilt = wait_for(rebuilt_doc, 5, "the catalogue's updated_at to change after an authenticated notify (a rebuild)", interval=0.2,
                       detail=lambda: f"before {before!r}\nnow    {catalogue(front)[1]!r}")
    assert module_ids(rebuilt) == module_ids(before), f"modules changed after a rebuild: {module_ids(before)} → {module_ids(rebuilt)}"


# ====================================================================== 7. broken package
def test_a_broken_package_is_left_out_and_reported(hive: Hive):
    front = hive.front
    _, before = catalogue(front)
    token = hive.token()
    broken = package_copy("node-red-contrib-broken", hive.tmp / "broken", name=BROKEN, version="1.0.0")
    cp = hive.npm("broken", token).run("publish", cwd=broken)
    assert cp.returncode == 0, f"npm publish {BROKEN}: {describe(cp)}"
    plain = plain_package(hive.tmp / "plain", PLAIN)
    cp = hive.npm("plain", token).run("publish", cwd=plain)
    assert cp.returncode == 0, f"npm publish {PLAIN}: {describe(cp)}"

    def reported():
        v = registry_view(front)
        return v if any(p.get("package") == BROKEN for p in v.get("problems") or []) else None

    view = wait_for(reported, CATALOGUE_DELAY, f"a problem naming {BROKEN} in GET /api/registry", interval=0.3,
                    detail=lambda: brief(registry_view(front)))
    problems = view["problems"]
    p = next(p for p in problems if p.get("package") == BROKEN)
    assert isinstance(p.get("problem"), str) and p["problem"].strip(), f"problem without a reason: {p!r}"
    assert not any(q.get("package") == PLAIN for q in problems), f"a library without the node-red keyword is not a problem: {problems!r}"
    log(f"{BROKEN}: {p['problem']}")

    _, doc = catalogue(front)
    assert module_ids(doc) == [UPPER], f"catalogue modules with a broken package and a plain library published: {module_ids(doc)}"
    assert module_entry(doc, UPPER) == module_entry(before, UPPER), f"{UPPER} changed: {module_entry(before, UPPER)} → {module_entry(doc, UPPER)}"
    assert module_ids(view.get("catalogue") or {}) == [UPPER], f"GET /api/registry catalogue: {view.get('catalogue')!r}"


# ============================================================================== 8. rebuild
def test_rebuild_through_the_api(hive: Hive):
    front = hive.front
    _, before = catalogue(front)
    time.sleep(1.1)  # updated_at may have a resolution of one second
    r = front.ok("POST", "/api/registry/rebuild", 200, json={})
    view = r.json()
    assert module_ids(view.get("catalogue") or {}) == [UPPER], f"POST /api/registry/rebuild view: {r.text[:600]!r}"
    assert any(p.get("package") == BROKEN for p in view.get("problems") or []), f"problems after the rebuild: {view.get('problems')!r}"
    _, after = catalogue(front)
    assert after.get("updated_at") != before.get("updated_at"), f"updated_at unchanged by the rebuild: {after.get('updated_at')!r}"
    csrf_less = front.api("POST", "/api/registry/rebuild", json={}, csrf=False)
    assert csrf_less.status_code == 403, f"POST /api/registry/rebuild without X-CSRF-Token: {show(csrf_less)}"


# ========================================================================== 9. crash
def test_a_killed_verdaccio_is_restarted(hive: Hive):
    front = hive.front
    view = wait_registry(front, 30, "the sidecar running before the kill")
    pid, restarts = view["pid"], view["restarts"]
    assert pid_alive(pid), f"pid {pid} of GET /api/registry is not alive"
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    after = wait_registry(front, 30, f"Verdaccio restarted after SIGKILL of pid {pid}",
                          lambda v: v.get("pid") != pid and isinstance(v.get("restarts"), int) and v["restarts"] >= max(1, restarts + 1))
    log(f"Verdaccio pid {pid} → {after['pid']} in {time.monotonic() - t0:.1f}s, restarts {restarts} → {after['restarts']}")
    assert not pid_alive(pid), f"the killed Verdaccio {pid} is still there (a zombie nobody reaped?)"
    assert pid_alive(after["pid"]), f"new pid {after['pid']} not alive"
    wait_for(lambda: hive.ping().status_code == 200, 10, "Verdaccio /-/ping after the restart", interval=0.3)
    assert module_ids(catalogue(front)[1]) == [UPPER]
    r = requests.get(packument_url(hive.registry, UPPER), timeout=30)
    assert r.status_code == 200, f"{UPPER} from the restarted Verdaccio: {show(r)}"


# ======================================================================== 10. redhive restart
def test_the_catalogue_survives_a_redhive_restart(hive: Hive):
    front = hive.front
    view = wait_registry(front, 30, "the sidecar running before the restart")
    vpid = view["pid"]
    _, before = catalogue(front)
    assert module_entry(before, UPPER), before

    rc = stop_redhive(front)
    gone = True
    try:
        wait_for(lambda: not pid_alive(vpid), 10, f"Verdaccio (pid {vpid}) to end with redhive")
    except AssertionError:
        gone = False
    finish_stop(front)  # the harness kills whatever is left
    log(f"redhive exited with {rc}; Verdaccio {vpid} {'ended with it' if gone else 'OUTLIVED it'}")

    start_redhive(front)
    r, doc = catalogue(front)  # at once: the saved catalogue
    assert module_entry(doc, UPPER) == module_entry(before, UPPER), f"GET /catalogue.json right after the restart: {doc!r}"
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert gone, f"Verdaccio (pid {vpid}) outlived redhive serve (SIGTERM, exit {rc}); the test harness killed it"

    front.login()  # the session may not survive a restart
    view = wait_registry(front, 60, "the sidecar running after the redhive restart")
    assert view.get("online") is False and view.get("scope") == SCOPE and view.get("account") == ACCOUNT, f"settings after the restart: {view!r}"
    assert hive.ping().status_code == 200
    assert module_ids(view.get("catalogue") or {}) == [UPPER], view.get("catalogue")


# ============================================================================ 11. API errors
def test_api_errors(hive: Hive):
    front = hive.front
    front.login()
    r = front.api("PUT", "/api/registry/account", json={"username": ACCOUNT, "password": "short"})
    assert r.status_code == 400, f"PUT /api/registry/account with a 5-character password: {show(r)}"
    log(f"short password: {error_message(r)}")
    r = front.api("PUT", "/api/registry", json={"scope": "Bad Scope"})
    assert r.status_code == 400, f"PUT /api/registry {{scope: 'Bad Scope'}}: {show(r)}"
    log(f"bad scope: {error_message(r)}")
    view = registry_view(front)
    assert view.get("scope") == SCOPE and view.get("account") == ACCOUNT, f"after refused changes: {view!r}"
    assert token_of(request_token(hive.registry, ACCOUNT, hive.password)), "the account's password changed after a refused PUT"

    r = front.api("PUT", "/api/registry", json={"online": True}, csrf=False)
    assert r.status_code == 403, f"PUT /api/registry without X-CSRF-Token: {show(r)}"
    r = front.client().api("PUT", "/api/registry/account", json={"username": "mallory", "password": "Mallory-pass-1234"})
    assert r.status_code == 401, f"PUT /api/registry/account without a session: {show(r)}"
    assert registry_view(front).get("online") is False, "a refused PUT changed online"


# ============================================================================= registry off
def test_a_server_with_the_registry_off(make_front):
    front = make_front("registry-off", {"REDHIVE_REGISTRY": "off"})
    front.ensure_setup()
    view = registry_view(front)
    assert view.get("enabled") is False and isinstance(view.get("hint"), str) and view["hint"].strip(), f"GET /api/registry with REDHIVE_REGISTRY=off: {view!r}"
