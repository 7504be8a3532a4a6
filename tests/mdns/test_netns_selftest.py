"""Self-test of netns.py: a python-zeroconf responder in namespace A, the resolvers in B.

Run as root with a python that has zeroconf (and pytest):
    python -m pytest tests/mdns
The avahi/nss-mdns part also needs: apt-get install avahi-daemon avahi-utils libnss-mdns
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netns  # noqa: E402
from netns import NetnsPair  # noqa: E402

_why = netns.unavailable_reason()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

# After a goodbye, caches drop a record 1 s later (RFC 6762 section 10.1); measured 1.0-1.3 s.
GOODBYE_BOUND_S = 5.0


def _ns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def net():
    with NetnsPair() as n:
        yield n


@pytest.fixture(scope="module")
def responder(net):
    r = net.zeroconf_responder(["selftest.local", "r1-selftest.local", "r1.selftest.local"])
    yield r
    r.close()


def test_registered_names_resolve(net, responder):
    for name in ("selftest.local", "r1-selftest.local", "r1.selftest.local"):
        assert net.resolve(name) == [net.a_ip], name


def test_unregistered_name_does_not_resolve(net, responder):
    t0 = time.monotonic()
    assert net.resolve("nobody-here.local", timeout=2.0) == []
    assert time.monotonic() - t0 >= 2.0  # it really waited


def test_unregister_stops_resolution(net, responder):
    responder.register("gone-soon.local")
    assert net.wait_until_resolves("gone-soon.local", 10) == [net.a_ip]
    responder.unregister("gone-soon.local")
    assert net.wait_until_gone("gone-soon.local", GOODBYE_BOUND_S) < GOODBYE_BOUND_S


def test_second_address_is_seen(net, responder):
    # a name registered with another address (e.g. a tenant bound to its own IP)
    responder.register("other-ip.local", ip="10.213.0.77")
    assert net.resolve("other-ip.local") == ["10.213.0.77"]


def test_namespaces_removed_even_on_failure():
    pair = NetnsPair()
    with pytest.raises(ZeroDivisionError):
        with pair:
            assert pair.ns_a in _ns_list()
            pair.popen_a(["sleep", "300"])
            1 / 0
    listing = _ns_list()
    assert pair.ns_a not in listing and pair.ns_b not in listing


# ---- Debian's resolver stack: avahi-daemon + nss-mdns in namespace B ---------------------------

_why_avahi = netns.unavailable_reason(avahi=True)
avahi_only = pytest.mark.skipif(_why_avahi is not None, reason=_why_avahi or "")


@pytest.fixture(scope="module")
def anet():
    with NetnsPair(avahi=True) as n:
        yield n


@pytest.fixture(scope="module")
def aresponder(anet):
    r = anet.zeroconf_responder(["selftest.local", "r1-selftest.local", "r1.selftest.local"])
    yield r
    r.close()


@avahi_only
def test_nss_resolves_one_label_names(anet, aresponder):
    assert anet.resolve_nss("selftest.local") == [anet.a_ip]
    assert anet.resolve_nss("r1-selftest.local") == [anet.a_ip]


@avahi_only
def test_nss_minimal_refuses_two_label_names(anet, aresponder):
    # the default "mdns4_minimal [NOTFOUND=return]" refuses r1.selftest.local without asking avahi
    t0 = time.monotonic()
    assert anet.resolve_nss("r1.selftest.local") == []
    assert time.monotonic() - t0 < 2.0
    # ... while avahi itself (and zeroconf) resolve it
    assert anet.avahi_resolve("r1.selftest.local") == [anet.a_ip]
    assert anet.resolve("r1.selftest.local") == [anet.a_ip]


@avahi_only
def test_nss_drops_name_after_goodbye(anet, aresponder):
    aresponder.register("bye.local")
    assert anet.wait_until_resolves("bye.local", 10, kind="nss") == [anet.a_ip]
    aresponder.unregister("bye.local")
    assert anet.wait_until_gone("bye.local", GOODBYE_BOUND_S, kind="nss") < GOODBYE_BOUND_S
    assert anet.avahi_resolve("bye.local") == []


@avahi_only
def test_mdns_allow_with_full_module():
    # documented opt-in for multi-label names: mdns4 (not _minimal) + /etc/mdns.allow
    with NetnsPair(avahi=True, hosts_line="files mdns4_minimal [NOTFOUND=return] dns mdns4",
                   mdns_allow=[".local.", ".local"]) as n:
        r = n.zeroconf_responder(["r1.allowtest.local"])
        try:
            assert n.resolve_nss("r1.allowtest.local") == [n.a_ip]
        finally:
            r.close()
