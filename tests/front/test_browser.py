"""The web UI in a real browser (Selenium 4, Debian's chromium + chromium-driver, headless):
wizard → logout/login → new tenant → its Node-RED editor → deploy → restart from the dashboard →
the flow is still there; then the tenant page (live logs, users), a phone-size dashboard and
deleting the tenant. Screenshots of each step go to $REDHIVE_ARTIFACTS (default
tests/front/artifacts/): 01-wizard.png … 13-tenant-deleted.png, fail-*.png when a wait times out.

The module's server starts fresh; the browser does the setup. The two tests run in file order
(the second uses the tenant the first made).
"""

from __future__ import annotations

import os
import re
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Optional

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from frontlib import ADMIN_PASSWORD, ADMIN_USER, EDITOR_PASSWORD, EDITOR_USER, browser_flow, log, nr, show, wait_for

CHROMIUM = os.environ.get("REDHIVE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REDHIVE_CHROMEDRIVER", "/usr/bin/chromedriver")
START_TIMEOUT = float(os.environ.get("REDHIVE_FRONT_START_TIMEOUT", "300"))
TENANT = "r1"
ROW = f'[data-tenant="{TENANT}"]'
STATE = f'{ROW} [data-field="state"]'
WIZARD_IDS = ("setup-username", "setup-password", "setup-password2", "setup-doctor", "setup-name", "setup-memory", "setup-cpus", "setup-pids")
VIEWER_PASSWORD = "Viewer-pass-13579"

EDITOR_READY_JS = """
try {
  if (!(window.RED && RED.nodes && RED.workspaces && RED.view)) return false;
  if (window.$ && $('#node-dialog-login').is(':visible')) return false;
  if (!RED.nodes.getType || !RED.nodes.getType('http in')) return false;
  return !!RED.workspaces.active();
} catch (e) { return false; }
"""

LOGIN_VISIBLE_JS = "return !!(window.$ && $('#node-dialog-login-username').is(':visible'));"

IMPORT_JS = """
const nodes = arguments[0], tab = arguments[1];
try {
  RED.view.importNodes(nodes, {generateIds: false, addFlow: false, touchImport: true, notify: false});
  RED.workspaces.show(tab);
  return RED.nodes.filterNodes({z: tab}).length;
} catch (e) { return 'import failed: ' + e; }
"""

FLOW_IN_EDITOR_JS = """
const tab = arguments[0];
const ws = RED.nodes.workspace(tab);
return {label: ws ? ws.label : null, nodes: RED.nodes.filterNodes({z: tab}).length, dirty: RED.nodes.dirty()};
"""


class Browser:
    """A Chromium session with waits that fail with the page's state, and numbered screenshots."""

    def __init__(self, driver: webdriver.Chrome, artifacts: Path) -> None:
        self.d = driver
        self.artifacts = artifacts

    # ------------------------------------------------------------------- artifacts
    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        assert self.d.save_screenshot(str(path)), f"could not save screenshot {path}"
        log(f"screenshot {path}")
        return path

    def console(self, n: int = 15) -> str:
        try:
            entries = self.d.get_log("browser")
        except WebDriverException:
            return "(no browser log)"
        return "\n".join(f"  {e.get('level')} {e.get('message')}" for e in entries[-n:]) or "(empty browser log)"

    def state(self) -> str:
        try:
            body = self.d.find_element(By.TAG_NAME, "body").text
        except WebDriverException:
            body = "(no body)"
        return (
            f"url: {self.d.current_url}\ntoasts: {self.toasts()}\npage text:\n{body[:1200]}\n"
            f"browser console:\n{self.console()}"
        )

    # -------------------------------------------------------------------- elements
    def elements(self, css: str) -> list:
        try:
            return self.d.find_elements(By.CSS_SELECTOR, css)
        except WebDriverException:
            return []

    def visible(self, css: str):
        """The first displayed element matching css, else None."""
        for e in self.elements(css):
            try:
                if e.is_displayed():
                    return e
            except StaleElementReferenceException:
                continue
        return None

    def text(self, css: str) -> str:
        e = self.visible(css)
        try:
            return e.text if e is not None else ""
        except StaleElementReferenceException:
            return ""

    def toasts(self) -> list[str]:
        out = []
        for e in self.elements(".toast"):
            try:
                out.append(("ERROR " if "error" in (e.get_attribute("class") or "") else "") + e.text)
            except StaleElementReferenceException:
                pass
        return out

    def error_toasts(self) -> list[str]:
        return [t for t in self.toasts() if t.startswith("ERROR ")]

    def alerts(self) -> list[str]:
        """Error toasts and visible, non-empty role=alert messages (form errors)."""
        out = self.error_toasts()
        for e in self.elements('[role="alert"]'):
            try:
                if e.is_displayed() and e.text.strip() and "toast" not in (e.get_attribute("class") or ""):
                    out.append("ALERT " + e.text.strip())
            except StaleElementReferenceException:
                pass
        return out

    def wait(self, cond: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
        def probe(_driver):
            try:
                return cond()
            except (StaleElementReferenceException, NoSuchElementException):
                return False

        try:
            return WebDriverWait(self.d, timeout, poll_frequency=interval).until(probe)
        except TimeoutException:
            slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:60]
            with_shot = ""
            try:
                with_shot = f" (screenshot {self.shot('fail-' + slug)})"
            except Exception:  # noqa: BLE001
                pass
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{with_shot}\n{self.state()}") from None

    def wait_visible(self, css: str, timeout: float = 30, what: str = ""):
        return self.wait(lambda: self.visible(css), timeout, what or f"{css} to be visible")

    def click(self, css: str, timeout: float = 30) -> None:
        def clicked():
            e = self.visible(css)
            if e is None or not e.is_enabled():
                return False
            try:
                e.click()
            except WebDriverException:  # covered by an animation, re-rendered: try again
                return False
            return True

        self.wait(clicked, timeout, f"{css} to be clickable")

    def fill(self, css: str, value: str, timeout: float = 30) -> None:
        e = self.wait_visible(css, timeout)
        e.clear()
        e.send_keys(value)
        assert e.get_attribute("value") == value, f"{css}: typed {value!r}, field holds {e.get_attribute('value')!r}"

    def choose(self, css: str, value: str) -> None:
        e = self.wait_visible(css)
        if e.tag_name.lower() == "select":
            Select(e).select_by_value(value)
        else:
            e.clear()
            e.send_keys(value)

    def js(self, script: str, *args):
        return self.d.execute_script(script, *args)


@pytest.fixture(scope="module")
def front(module_front):
    return module_front


@pytest.fixture(scope="module")
def browser(artifacts):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} missing: install Debian's chromium and chromium-driver (bash tests/setup.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--host-resolver-rules=MAP *.localhost 127.0.0.1", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver, artifacts)
    finally:
        driver.quit()


def _started(front) -> Optional[dict]:
    """r1's GET /started (uptime and pid of its Node-RED), None while it does not answer."""
    try:
        r = front.tenant_request(TENANT, "GET", "/started", timeout=10)
    except OSError:
        return None
    return r.json() if r.status_code == 200 else None


def _node_red_token(front, username: str, password: str, scope: str) -> int:
    """Status of Node-RED's POST /auth/token (through the proxy) for this user and scope."""
    form = urllib.parse.urlencode({"client_id": "node-red-admin", "grant_type": "password", "scope": scope, "username": username, "password": password})
    r = nr.http("POST", nr.join(front.tenant_url(TENANT), "auth/token"), body=form.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    return r.status


def _editor_login_if_asked(b: Browser, what: str, shot: Optional[str] = None) -> None:
    """Wait for the Node-RED editor; log in as the editor user when it shows its login dialog."""
    seen = b.wait(lambda: ("login" if b.js(LOGIN_VISIBLE_JS) else None) or ("ready" if b.js(EDITOR_READY_JS) else None), 90, f"Node-RED's login dialog or editor ({what})")
    if seen == "login":
        if shot:
            b.shot(shot)
        b.fill("#node-dialog-login-username", EDITOR_USER)
        b.fill("#node-dialog-login-password", EDITOR_PASSWORD)
        b.click("#node-dialog-login-submit")
        b.wait(lambda: b.js(EDITOR_READY_JS), 90, f"Node-RED's editor after logging in ({what})")


def _run_wizard(b: Browser, front) -> None:
    defaults = front.client().ok("GET", "/api/setup").json().get("defaults") or {}
    b.wait_visible("#setup-next", 30, "the setup wizard on a fresh appliance")
    b.shot("01-wizard")
    steps = {"setup-doctor": "02-doctor", "setup-name": "03-name", "setup-memory": "04-limits"}
    seen: set[str] = set()
    filled = False
    for _ in range(12):
        if b.visible("#new-tenant"):
            break
        vis = {i for i in WIZARD_IDS if b.visible("#" + i)}
        if "setup-username" in vis and not filled:
            b.fill("#setup-username", ADMIN_USER)
            b.fill("#setup-password", ADMIN_PASSWORD)
            b.fill("#setup-password2", ADMIN_PASSWORD)
            filled = True
        if "setup-doctor" in vis and "setup-doctor" not in seen:
            assert b.text("#setup-doctor").strip(), "the doctor step shows an empty report"
        if "setup-name" in vis and "setup-name" not in seen:
            value = b.visible("#setup-name").get_attribute("value")
            assert value == defaults.get("name", value) and value, f"#setup-name holds {value!r}, the default is {defaults.get('name')!r}"
        if "setup-memory" in vis and "setup-memory" not in seen:
            for f in ("#setup-memory", "#setup-cpus", "#setup-pids"):
                e = b.visible(f)
                assert e is not None and e.get_attribute("value"), f"limits step: {f} missing or empty"
        for i, name in steps.items():
            if i in vis and i not in seen:
                b.shot(name)
                seen.add(i)
        before = (frozenset(vis), b.d.current_url)
        b.click("#setup-next")
        b.wait(
            lambda: b.visible("#new-tenant") or (frozenset(i for i in WIZARD_IDS if b.visible("#" + i)), b.d.current_url) != before or b.alerts(),
            60,
            f"the wizard to go on from the step showing {sorted(vis)}",
        )
        assert not b.alerts(), f"the wizard showed an error: {b.alerts()}\n{b.state()}"
    b.wait_visible("#new-tenant", 60, "the dashboard after the wizard")
    missing = set(steps) - seen
    assert not missing, f"the wizard never showed {sorted(missing)}"


# ==================================================================================== tests
def test_wizard_login_tenant_editor_restart(front, browser):
    b = browser
    base = f"http://localhost:{front.port}/"
    tab, nodes = browser_flow()

    # ---------------------------------------------------------------- wizard
    b.d.get(base)
    _run_wizard(b, front)
    assert b.visible("#page-title") and b.text("#page-title").strip(), "the dashboard has no #page-title"
    b.shot("05-dashboard")
    assert front.client().ok("GET", "/api/setup").json().get("needed") is False, "the wizard finished but the API still wants a setup"

    # ----------------------------------------------------- logout and login
    b.click("#nav-logout")
    b.wait_visible("#login-username", 30, "the login page after logging out")
    b.shot("06-login")
    b.fill("#login-username", ADMIN_USER)
    b.fill("#login-password", "not-the-password")
    b.click("#login-submit")
    b.wait(lambda: b.alerts(), 20, "an error (toast or alert) for a wrong password")
    assert b.visible("#login-username") and not b.visible("#new-tenant"), "a wrong password got past the login page"
    b.fill("#login-password", ADMIN_PASSWORD)
    b.click("#login-submit")
    b.wait_visible("#new-tenant", 30, "the dashboard after logging in")

    # ------------------------------------------------------------ new tenant
    b.click("#new-tenant")
    b.fill("#tenant-name", TENANT)
    b.fill("#tenant-editor-username", EDITOR_USER)
    b.fill("#tenant-editor-password", EDITOR_PASSWORD)
    t0 = time.monotonic()
    b.click("#tenant-create")
    b.wait(lambda: b.text(STATE).strip().lower() == "running" or b.alerts(), START_TIMEOUT, f"{TENANT}'s state to show running on the dashboard")
    assert not b.alerts(), f"creating {TENANT} showed an error: {b.alerts()}"
    log(f"{TENANT} running on the dashboard after {time.monotonic() - t0:.1f}s")
    b.shot("07-tenant-running")
    link = b.wait_visible(f'{ROW} a[data-field="url-local"]', 10)
    href = link.get_attribute("href")
    assert href == f"http://{TENANT}.localhost:{front.port}/", f"the tenant's local URL on the dashboard is {href!r}"

    # ------------------------------------------------------ editor, deploy
    b.d.get(href)
    seen = b.wait(lambda: b.js(LOGIN_VISIBLE_JS) or b.js(EDITOR_READY_JS), 90, "Node-RED's login dialog")
    assert b.js(LOGIN_VISIBLE_JS), f"Node-RED's editor opened without asking for a login (seen {seen!r})"
    _editor_login_if_asked(b, "first visit", shot="08-node-red-login")
    count = b.js(IMPORT_JS, nodes, tab)
    assert count == len(nodes) - 1, f"importing the flow in the editor: {count!r} (wanted {len(nodes) - 1} nodes)"
    b.wait(lambda: (lambda e: e is not None and "disabled" not in (e.get_attribute("class") or ""))(b.visible("#red-ui-header-button-deploy")), 20, "the deploy button to be enabled")
    b.click("#red-ui-header-button-deploy")
    b.wait(lambda: not b.js("return RED.nodes.dirty();"), 60, "the deploy to finish (editor not dirty)")
    started = wait_for(lambda: _started(front), 60, f"GET /started on {TENANT} (the deployed flow)")
    b.shot("09-flow-deployed")
    flows = front.node_red(TENANT).get_flows()
    assert any(n.get("id") == tab and n.get("label") == "browser-test" for n in flows), f"the deployed tab is not in {TENANT}'s flows: {[n.get('label') for n in flows if n.get('type') == 'tab']}"

    # -------------------------------------------------------------- restart
    boot0 = time.time() - started["uptime"]
    b.d.get(base)
    b.wait(lambda: b.text(STATE).strip().lower() == "running", 60, f"{TENANT} running on the dashboard")
    b.click(f'{ROW} [data-action="restart"]')

    def restarted():
        if b.visible("#confirm-ok"):  # a confirmation, if the UI asks for one
            if b.visible("#confirm-input"):
                b.fill("#confirm-input", TENANT)
            b.click("#confirm-ok")
            return False
        s = _started(front)
        return s is not None and time.time() - s["uptime"] > boot0 + 1

    b.wait(restarted, 180, f"{TENANT}'s Node-RED to be restarted (a newer process answering /started)")
    b.wait(lambda: b.text(STATE).strip().lower() == "running", 120, f"{TENANT} running on the dashboard after the restart")
    assert not b.alerts(), f"the restart showed an error: {b.alerts()}"

    # ------------------------------------------------- flow still there
    b.d.get(href)
    _editor_login_if_asked(b, "after the restart")
    b.js("RED.workspaces.show(arguments[0]);", tab)
    got = b.wait(lambda: (lambda s: s if s.get("label") else None)(b.js(FLOW_IN_EDITOR_JS, tab)), 30, "the deployed tab in the editor after the restart")
    assert got == {"label": "browser-test", "nodes": len(nodes) - 1, "dirty": False}, f"the flow after the restart: {got}"
    b.shot("10-flow-after-restart")


def test_tenant_page_logs_users_phone_and_delete(front, browser):
    b = browser
    base = f"http://localhost:{front.port}/"
    api = front.client()
    api.login()
    assert TENANT in api.tenant_names(), f"{TENANT} missing: the first browser test did not get far"

    # ----------------------------------------------------------- live logs
    b.d.get(base)
    b.click(f'{ROW} [data-field="open"]')
    b.wait_visible("#log-pane", 30, f"{TENANT}'s page with its log pane")
    b.wait(lambda: b.text("#log-pane").strip(), 30, "the first log lines in #log-pane (tail over the websocket)")
    mark = "browser-mark-" + secrets.token_hex(6)
    r = front.tenant_request(TENANT, "GET", f"/warn?mark={mark}")
    assert r.status_code == 200, f"GET /warn on {TENANT}: {show(r)}"
    b.wait(lambda: mark in b.text("#log-pane"), 30, f"the live log line {mark} in #log-pane")
    b.shot("11-tenant-logs")

    # ---------------------------------------------------------------- users
    b.wait_visible("#users-table", 20, f"{TENANT}'s users table")
    b.wait(lambda: EDITOR_USER in b.text("#users-table"), 20, f"the editor user {EDITOR_USER} in #users-table")
    b.fill("#user-username", "viewer")
    b.fill("#user-password", VIEWER_PASSWORD)
    b.choose("#user-permissions", "read")
    b.click("#user-add")
    b.wait(lambda: "viewer" in b.text("#users-table") or b.alerts(), 30, "the new user viewer in #users-table")
    assert not b.alerts(), f"adding a user showed an error: {b.alerts()}"
    users = {u["username"]: u.get("permissions") for u in api.ok("GET", f"/api/tenants/{TENANT}/users").json()["users"]}
    assert users.get("viewer") == "read", f"users of {TENANT} after adding viewer (read): {users}"
    assert _node_red_token(front, "viewer", VIEWER_PASSWORD, "read") == 200, "viewer cannot log in to Node-RED with read scope"
    assert _node_red_token(front, "viewer", VIEWER_PASSWORD, "*") != 200, "a read-only user got a full-permission Node-RED token"

    # ---------------------------------------------------------- phone size
    b.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        b.d.get(base)
        b.wait_visible(ROW, 30, f"{TENANT} on the dashboard at phone size")
        b.shot("12-dashboard-phone")
        widths = b.js("return [document.documentElement.scrollWidth, window.innerWidth];")
        assert widths[0] <= widths[1] + 1, f"the dashboard scrolls sideways on a 390 px phone: scrollWidth {widths[0]} > {widths[1]}"
    finally:
        b.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # --------------------------------------------------------------- delete
    b.d.get(base)
    b.click(f'{ROW} [data-action="delete"]')
    b.fill("#confirm-input", TENANT)
    b.click("#confirm-ok")
    b.wait(lambda: not b.elements(ROW) or b.alerts(), 120, f"{TENANT} to disappear from the dashboard")
    assert not b.alerts(), f"deleting {TENANT} showed an error: {b.alerts()}"
    b.shot("13-tenant-deleted")
    r = api.api("GET", f"/api/tenants/{TENANT}")
    assert r.status_code == 404, f"GET /api/tenants/{TENANT} after deleting it in the UI: {show(r)}"
    r = front.tenant_request(TENANT, "GET", "/", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers.get("X-Redhive"), f"{TENANT}.localhost after deleting it: {show(r, 200)}"
