"""HTTPS (appliance CA with per-name certificates, uploaded certificates) and tenant ports (each
tenant on its own port, for clients without mDNS), on one dedicated server."""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from frontlib import ADMIN_PASSWORD, ADMIN_USER, EDITOR_MARKER, cookie_attributes, log, set_cookie_headers, wait_for  # noqa: E402
from redhive_server import free_port  # noqa: E402


def fetch_tls(port: int, server_name: str | None, cafile: Path, path: str = "/", host: str | None = None):
    """GET over TLS to 127.0.0.1:port with this SNI, verified against `cafile`:
    (status line, body, SHA-256 of the server's certificate, its subject CN)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = server_name is not None
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
            cn = dict(x[0] for x in tls.getpeercert()["subject"]).get("commonName")
            request = f"GET {path} HTTP/1.1\r\nHost: {host or server_name or '127.0.0.1'}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body, hashlib.sha256(der).hexdigest(), cn


def test_https_and_tenant_ports(make_front, tmp_path):
    https_port = free_port()
    ports_base = free_port() + 200  # tenant N answers on base + N
    front = make_front("https", {
        "REDHIVE_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "REDHIVE_TENANT_PORTS": str(ports_base),
    })
    front.ensure_setup()
    tls = front.ok("GET", "/api/tls").json()
    assert tls["enabled"] is True and tls["source"] == "appliance_ca", tls

    ca = tmp_path / "ca.pem"
    r = front.ok("GET", "/api/tls/ca.pem")
    assert "BEGIN CERTIFICATE" in r.text
    ca.write_text(r.text)
    anonymous = requests.get(front.url("/api/tls/ca.pem"), timeout=10)
    assert anonymous.status_code == 401, "the CA download needs a session"

    # The manager by IP (no SNI: a certificate naming 127.0.0.1) and by name.
    status, body, _, _ = fetch_tls(https_port, None, ca, "/api/health")
    assert " 200 " in status and b'"ok"' in body, (status, body[:200])
    status, _, _, cn = fetch_tls(https_port, "localhost", ca, "/api/health")
    assert " 200 " in status and cn == "localhost", (status, cn)

    front.create_tenant("r1")
    front.create_tenant("r2")
    # Each tenant name gets its own certificate from the CA, and the proxy serves it over TLS.
    status, body, r1_cert, cn = fetch_tls(https_port, "r1.localhost", ca)
    assert " 200 " in status and EDITOR_MARKER.encode() in body, (status, body[:300])
    assert cn == "r1.localhost"
    _, _, r2_cert, cn = fetch_tls(https_port, "r2-redhive.local", ca)
    assert cn == "r2-redhive.local" and r2_cert != r1_cert

    # A login over HTTPS sets a Secure cookie.
    login = requests.post(
        f"https://127.0.0.1:{https_port}/api/session",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        verify=str(ca), timeout=30,
    )
    assert login.status_code == 200, login.text
    _, _, attributes = cookie_attributes(set_cookie_headers(login)[0])
    assert "secure" in attributes, attributes

    # An uploaded certificate is served for every name; a broken one is refused and changes nothing.
    key, cert = tmp_path / "up.key", tmp_path / "up.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=uploaded.test",
         "-addext", "subjectAltName=DNS:r1.localhost,DNS:localhost"],
        check=True, capture_output=True,
    )
    bad = front.api("PUT", "/api/tls", json={"certificate": cert.read_text(), "key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})
    assert bad.status_code == 400 and bad.json()["error"], bad.text
    assert fetch_tls(https_port, "r1.localhost", ca)[2] == r1_cert, "a refused upload changed the certificate"
    up = front.ok("PUT", "/api/tls", json={"certificate": cert.read_text(), "key": key.read_text()}).json()
    assert up["source"] == "uploaded", up
    status, _, _, cn = fetch_tls(https_port, "r1.localhost", cert)
    assert " 200 " in status and cn == "uploaded.test"
    front.ok("DELETE", "/api/tls", 204)
    assert fetch_tls(https_port, "r1.localhost", ca)[3] == "r1.localhost"

    # Tenant ports: whatever the Host header, tenant N answers on base + N.
    tenants = {name: front.tenant(name) for name in ("r1", "r2")}
    ports = {}
    for name in ("r1", "r2"):
        for attempt in range(1, 4):
            try:
                r = requests.get(f"http://127.0.0.1:{ports_base + attempt}/", headers={"Host": "192.0.2.7"}, timeout=20)
            except requests.ConnectionError:
                continue
            if f"<title>{name}</title>" in r.text:
                ports[name] = ports_base + attempt
    assert set(ports) == {"r1", "r2"} and ports["r1"] != ports["r2"], (ports, tenants)
    log(f"tenant ports: {ports}; API shows {tenants['r1']['urls'].get('ip')}")
    for name, port in ports.items():
        assert all(url.endswith(f":{port}/") for url in tenants[name]["urls"]["ip"]), tenants[name]["urls"]

    # A deleted tenant's port closes.
    front.ok("DELETE", "/api/tenants/r2", 204)

    def closed():
        try:
            requests.get(f"http://127.0.0.1:{ports['r2']}/", timeout=5)
        except requests.ConnectionError:
            return True
        return False

    wait_for(closed, 40, "the deleted tenant's port to close")

