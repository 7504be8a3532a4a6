"""Two network namespaces joined by a veth pair, for mDNS tests that must not touch real interfaces.

Namespace A plays the appliance (run the redhive server there with :meth:`NetnsPair.popen_a`),
namespace B plays a client on the same link and resolves ``.local`` names:

* :meth:`NetnsPair.resolve` -- python-zeroconf, run as ``ip netns exec B <python> -c ...`` so its
  sockets live in B.  One-shot: a fresh process with an empty cache sends an A question and
  collects the answers; returns the IPv4 addresses (``[]`` when nobody answered in time).
* :meth:`NetnsPair.resolve_nss` / :meth:`NetnsPair.avahi_resolve` -- only with ``avahi=True``:
  Debian's stack, avahi-daemon + nss-mdns, running in B with a private system D-Bus, a private
  ``/run`` and an ``/etc`` overlay (``nsswitch.conf``, optional ``mdns.allow``).  Nothing is
  written to the host's ``/etc`` or ``/run``.

Usage::

    with NetnsPair(avahi=True) as net:
        srv = net.popen_a([redhive, "serve", ...], stdout=log, stderr=subprocess.STDOUT)
        assert net.wait_until_resolves("r1-redhive.local", 20) == [net.a_ip]
        assert net.resolve_nss("r1-redhive.local") == [net.a_ip]   # getent through nss-mdns

Everything is torn down in ``__exit__`` (also when the body or the set-up raises): processes
started here are terminated (then killed), whatever else still runs inside the two namespaces is
killed by pid, and both namespaces are deleted (which deletes the veth pair).

Needs root, iproute2, util-linux (nsenter) and, in the python that runs the resolver, the
``zeroconf`` package; ``avahi=True`` also needs the Debian packages avahi-daemon, avahi-utils,
libnss-mdns and dbus.  :func:`unavailable_reason` says what is missing, for ``pytest.skip``.

Notes from measuring this set-up (Debian 12, avahi 0.8, nss-mdns 0.15.1, zeroconf 0.154,
mdns-sd 0.21.7):

* The default ``hosts: files mdns4_minimal [NOTFOUND=return] dns`` line resolves one-label names
  (``redhive.local``, ``r1-redhive.local``) but refuses ``r1.redhive.local`` at once (exit 2),
  with or without ``/etc/mdns.allow`` (the minimal module never reads it).  avahi-resolve and
  python-zeroconf resolve every form.
* mdns-sd multicasts every answer (it ignores the QU bit) and multicasts a record at most once a
  second, so a one-shot querier that asks again within 1 s of an earlier answer gets nothing
  until its next question.  zeroconf re-asks after ~0.3 s and ~1.4 s: keep ``timeout >= 2``.
* After a goodbye (unregister / shutdown) avahi keeps the name for ~1 s (RFC 6762 section 10.1);
  after a crash (no goodbye) it keeps it for the record's TTL, 120 s for host records.
  The one-shot zeroconf resolver has no cache, so it stops resolving at once in both cases.
* ``avahi-resolve`` exits 0 even when resolution fails; parse its output.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

DEFAULT_HOSTS_LINE = "files mdns4_minimal [NOTFOUND=return] dns"

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from redhive_server import _die_with_parent  # noqa: E402  (children die with the test process)


def _run(argv: Sequence[str], check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
    cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and cp.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stderr.strip()}")
    return cp


def unavailable_reason(python: Optional[str] = None, avahi: bool = False) -> Optional[str]:
    """None when :class:`NetnsPair` can run here, else why not (for ``pytest.skip``)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    py = python or sys.executable
    cp = subprocess.run([py, "-c", "import zeroconf"], capture_output=True, text=True)
    if cp.returncode != 0:
        return f"{py} cannot import zeroconf"
    if avahi:
        for tool in ("avahi-daemon", "avahi-resolve", "dbus-daemon", "getent"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed (apt-get install avahi-daemon avahi-utils libnss-mdns)"
        if not any(Path(d, "libnss_mdns4_minimal.so.2").exists()
                   for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib",
                             "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu")):
            return "libnss-mdns is not installed"
    return None


# python-zeroconf one-shot A query, run inside namespace B.  argv: NAME TIMEOUT_S IFACE_IP
_RESOLVE_SNIPPET = r"""
import json, sys
from zeroconf import AddressResolverIPv4, IPVersion, Zeroconf
name, timeout, iface = sys.argv[1], float(sys.argv[2]), sys.argv[3]
if not name.endswith("."):
    name += "."
zc = Zeroconf(interfaces=[iface], ip_version=IPVersion.V4Only)
try:
    r = AddressResolverIPv4(name)
    r.request(zc, int(timeout * 1000))
    print(json.dumps(sorted(set(r.parsed_addresses()))))
finally:
    zc.close()
"""

# python-zeroconf responder (one _http._tcp instance per host name), run inside namespace A.
# argv: IFACE_IP HOST... ; stdin lines: "reg HOST [IP]", "unreg HOST", "quit".
# stdout lines: "registered HOST", "unregistered HOST", "error HOST <exception>", "closed".
_RESPONDER_SNIPPET = r"""
import socket, sys
from zeroconf import IPVersion, ServiceInfo, Zeroconf
iface = sys.argv[1]
zc = Zeroconf(interfaces=[iface], ip_version=IPVersion.V4Only)
infos = {}
def host_of(n):
    return n.rstrip(".") + "."
def reg(host, ip):
    host = host_of(host)
    info = ServiceInfo("_http._tcp.local.", "zc " + host[:-len(".local.")] + "._http._tcp.local.",
                       port=80, addresses=[socket.inet_aton(ip)], server=host)
    try:
        zc.register_service(info, allow_name_change=False)
        infos[host] = info
        print("registered", host, flush=True)
    except Exception as e:
        print("error", host, type(e).__name__, e, flush=True)
for h in sys.argv[2:]:
    reg(h, iface)
print("ready", flush=True)
for line in sys.stdin:
    p = line.split()
    if not p:
        continue
    if p[0] == "reg":
        reg(p[1], p[2] if len(p) > 2 else iface)
    elif p[0] == "unreg":
        info = infos.pop(host_of(p[1]), None)
        if info is not None:
            zc.unregister_service(info)
        print("unregistered", host_of(p[1]), flush=True)
    elif p[0] == "quit":
        break
zc.close()
print("closed", flush=True)
"""

# Runs inside `ip netns exec B` (a mount namespace of its own): /etc overlay, private /run,
# private system bus, then avahi-daemon in the foreground.  argv: WORKDIR
_AVAHI_SH = r"""
set -e
w="$1"
if ! mount -t overlay rhm-etc -o "lowerdir=$w/etc:/etc" /etc 2>"$w/overlay.err"; then
  # no overlayfs: bind the files that exist on the host (mdns.allow cannot be added this way)
  for f in "$w"/etc/*; do b=$(basename "$f"); [ -e "/etc/$b" ] && mount --bind "$f" "/etc/$b"; done
  if [ -e "$w/etc/mdns.allow" ] && [ ! -e /etc/mdns.allow ]; then echo "cannot place /etc/mdns.allow" >&2; exit 3; fi
fi
mount -t tmpfs -o mode=0755 rhm-run /run
mkdir -p /run/dbus /run/avahi-daemon
dbus-daemon --system --nofork --nopidfile --nosyslog &
i=0; while [ ! -S /run/dbus/system_bus_socket ]; do i=$((i+1)); [ $i -gt 100 ] && exit 4; sleep 0.05; done
exec avahi-daemon -f "$w/avahi-daemon.conf" --no-rlimits
"""


class Responder:
    """A python-zeroconf responder running in namespace A (see :meth:`NetnsPair.zeroconf_responder`)."""

    def __init__(self, proc: subprocess.Popen, timeout: float = 30.0) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._expect("ready", timeout)

    def _expect(self, word: str, timeout: float, host: Optional[str] = None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"responder exited: {self.lines[-5:]}")
            line = line.strip()
            self.lines.append(line)
            parts = line.split()
            if parts and parts[0] == "error" and (host is None or parts[1] == host):
                raise RuntimeError(f"responder: {line}")
            if parts and parts[0] == word and (host is None or parts[1] == host):
                return line
        raise TimeoutError(f"responder did not say {word!r} within {timeout}s")

    def register(self, host: str, ip: Optional[str] = None, timeout: float = 30.0) -> None:
        """Register HOST (probing takes ~1.7 s); raises if the name is taken."""
        h = host.rstrip(".") + "."
        self.proc.stdin.write(f"reg {h} {ip}\n" if ip else f"reg {h}\n")
        self.proc.stdin.flush()
        self._expect("registered", timeout, h)

    def unregister(self, host: str, timeout: float = 30.0) -> None:
        """Unregister HOST; python-zeroconf sends goodbye packets (TTL 0)."""
        h = host.rstrip(".") + "."
        self.proc.stdin.write(f"unreg {h}\n")
        self.proc.stdin.flush()
        self._expect("unregistered", timeout, h)

    def close(self, timeout: float = 10.0) -> None:
        """Graceful stop: goodbyes for every registered name, then exit."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """Crash: no goodbye packets."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class NetnsPair:
    """Namespaces A and B, veth ``if_a`` (``a_ip``) <-> ``if_b`` (``b_ip``), unique names per run.

    avahi:          also run avahi-daemon (+ private D-Bus) in B, for resolve_nss/avahi_resolve.
    hosts_line:     the ``hosts:`` line of B's nsswitch.conf (avahi mode).
    mdns_allow:     lines of B's /etc/mdns.allow, or None for no file (avahi mode).
    python:         interpreter with zeroconf for the resolver/responder (default sys.executable).
    """

    def __init__(self, *, a_ip: str = "10.213.0.1", b_ip: str = "10.213.0.2", prefix_len: int = 24,
                 avahi: bool = False, hosts_line: str = DEFAULT_HOSTS_LINE,
                 mdns_allow: Optional[Sequence[str]] = None, python: Optional[str] = None,
                 tag: str = "rhm") -> None:
        tok = f"{os.getpid() % 10000:04d}{secrets.token_hex(2)}"
        self.ns_a, self.ns_b = f"{tag}-{tok}-a", f"{tag}-{tok}-b"
        self.if_a, self.if_b = f"{tag[:3]}{tok}a", f"{tag[:3]}{tok}b"  # <= 15 chars
        self.a_ip, self.b_ip, self.prefix_len = a_ip, b_ip, prefix_len
        self.python = python or os.environ.get("REDHIVE_MDNS_PYTHON") or sys.executable
        self.avahi, self.hosts_line, self.mdns_allow = avahi, hosts_line, mdns_allow
        self.workdir: Optional[Path] = None
        self._procs: list[subprocess.Popen] = []
        self._avahi: Optional[subprocess.Popen] = None
        self._created: list[str] = []

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "NetnsPair":
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _setup(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="rhm-netns-"))
        for ns in (self.ns_a, self.ns_b):
            _run(["ip", "netns", "add", ns])
            self._created.append(ns)
        _run(["ip", "link", "add", self.if_a, "netns", self.ns_a, "type", "veth",
              "peer", "name", self.if_b, "netns", self.ns_b])
        for ns, ifc, ip in ((self.ns_a, self.if_a, self.a_ip), (self.ns_b, self.if_b, self.b_ip)):
            _run(["ip", "-n", ns, "addr", "add", f"{ip}/{self.prefix_len}", "dev", ifc])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "link", "set", ifc, "up"])
            # no default route in a namespace: give multicast an explicit way out
            _run(["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", ifc])
        if self.avahi:
            self._start_avahi()

    def _start_avahi(self, timeout: float = 20.0) -> None:
        w = self.workdir
        etc = w / "etc"
        etc.mkdir()
        (etc / "nsswitch.conf").write_text(_nsswitch(self.hosts_line))
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")  # no unicast DNS in B
        if self.mdns_allow is not None:
            (etc / "mdns.allow").write_text("".join(f"{l}\n" for l in self.mdns_allow))
        (w / "avahi-daemon.conf").write_text(
            "[server]\n"
            f"host-name=rhm-client-{self.ns_b.split('-')[1]}\n"
            "use-ipv4=yes\nuse-ipv6=no\n"
            f"allow-interfaces={self.if_b}\n"
            "ratelimit-interval-usec=1000000\nratelimit-burst=1000\n"
            "[wide-area]\nenable-wide-area=no\n"
            "[publish]\npublish-hinfo=no\npublish-workstation=no\n")
        (w / "avahi.sh").write_text(_AVAHI_SH)
        log = open(w / "avahi.log", "w")
        self._avahi = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_b, "sh", str(w / "avahi.sh"), str(w)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Server startup complete" in self.avahi_log():
                return
            if self._avahi.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"avahi-daemon did not start in {self.ns_b}:\n{self.avahi_log()}")

    def avahi_log(self) -> str:
        try:
            return (self.workdir / "avahi.log").read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    def close(self) -> None:
        """Stop everything and delete both namespaces.  Safe to call twice."""
        procs = list(self._procs)
        if self._avahi is not None:
            procs.append(self._avahi)
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait()
        # whatever still runs inside our namespaces (e.g. the private dbus-daemon) was started by us
        for ns in self._created:
            for _ in range(3):
                cp = _run(["ip", "netns", "pids", ns], check=False)
                pids = [int(x) for x in cp.stdout.split() if x.isdigit()]
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
        for ns in reversed(self._created):
            _run(["ip", "netns", "del", ns], check=False)
        self._created.clear()
        self._procs.clear()
        self._avahi = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # ---- running things ---------------------------------------------------------------------
    def exec_prefix(self, side: str) -> list[str]:
        """argv prefix that runs a command in namespace 'a' (network only) or 'b' (for B in avahi mode: in the
        mount namespace of its avahi-daemon, so getent/avahi-* talk to that daemon)."""
        if side == "a":
            # Only the network namespace: `ip netns exec` would also remount /sys, hiding the
            # cgroup tree a redhive running in A needs for its tenants.
            return ["nsenter", f"--net=/run/netns/{self.ns_a}"]
        if side == "b":
            if self._avahi is not None:
                return ["nsenter", "-t", str(self._avahi.pid), "-m", "-n"]
            return ["ip", "netns", "exec", self.ns_b]
        raise ValueError(side)

    def popen(self, side: str, argv: Sequence[str], **kw) -> subprocess.Popen:
        """Popen in namespace 'a' or 'b'; stopped (TERM, then KILL) on close()."""
        kw.setdefault("preexec_fn", _die_with_parent)
        p = subprocess.Popen(self.exec_prefix(side) + list(argv), **kw)
        self._procs.append(p)
        return p

    def popen_a(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        return self.popen("a", argv, **kw)

    def popen_b(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        return self.popen("b", argv, **kw)

    def run(self, side: str, argv: Sequence[str], timeout: float = 60.0, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.exec_prefix(side) + list(argv), timeout=timeout, **kw)

    def run_a(self, argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
        return self.run("a", argv, **kw)

    def run_b(self, argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
        return self.run("b", argv, **kw)

    def zeroconf_responder(self, hosts: Sequence[str] = (), ip: Optional[str] = None) -> Responder:
        """A python-zeroconf responder in A answering A queries for HOSTS (address ip or a_ip)."""
        p = self.popen_a([self.python, "-c", _RESPONDER_SNIPPET, ip or self.a_ip, *hosts],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, bufsize=1)
        return Responder(p)

    # ---- resolving from B -------------------------------------------------------------------
    def resolve(self, name: str, timeout: float = 3.0) -> list[str]:
        """IPv4 addresses of NAME by a one-shot python-zeroconf query from B ([] = no answer).

        Keep timeout >= 2: an mDNS responder multicasts a record at most once a second, and
        mdns-sd answers nothing else, so only a later question is answered right after an
        earlier one."""
        cp = subprocess.run(
            ["ip", "netns", "exec", self.ns_b, self.python, "-c", _RESOLVE_SNIPPET, name, str(timeout), self.b_ip],
            capture_output=True, text=True, timeout=timeout + 30)
        if cp.returncode != 0:
            raise RuntimeError(f"zeroconf resolver failed ({cp.returncode}): {cp.stderr.strip()[-2000:]}")
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def _need_avahi(self) -> None:
        if self._avahi is None:
            raise RuntimeError("NetnsPair(avahi=True) is needed for nss-mdns / avahi resolution")

    def resolve_nss(self, name: str) -> list[str]:
        """IPv4 addresses of NAME through glibc NSS in B (``getent ahostsv4``): nss-mdns with B's
        nsswitch.conf, backed by B's avahi-daemon.  A miss takes nss-mdns's 5 s timeout, unless
        the name is refused outright (e.g. 3 labels under mdns4_minimal)."""
        self._need_avahi()
        cp = self.run_b(["getent", "ahostsv4", name], timeout=30)
        if cp.returncode == 2:
            return []
        if cp.returncode != 0:
            raise RuntimeError(f"getent failed ({cp.returncode}): {cp.stderr.strip()}")
        return sorted({line.split()[0] for line in cp.stdout.splitlines() if line.strip()})

    def avahi_resolve(self, name: str) -> list[str]:
        """IPv4 addresses of NAME via ``avahi-resolve -4 -n`` in B (any number of labels)."""
        self._need_avahi()
        cp = self.run_b(["avahi-resolve", "-4", "-n", name], timeout=30)
        # exits 0 even on "Failed to resolve host name ...": go by the output
        out = []
        for line in cp.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].rstrip(".").lower() == name.rstrip(".").lower():
                out.append(parts[1])
        return sorted(set(out))

    def resolver(self, kind: str) -> Callable[[str], list[str]]:
        """'zeroconf', 'nss' or 'avahi' -> a function NAME -> list of IPv4 addresses."""
        return {"zeroconf": self.resolve, "nss": self.resolve_nss, "avahi": self.avahi_resolve}[kind]

    def wait_until_resolves(self, name: str, timeout: float, kind: str = "zeroconf",
                            expect: Optional[Sequence[str]] = None) -> list[str]:
        """Poll until NAME resolves (to exactly EXPECT, if given); returns the addresses."""
        fn = self.resolver(kind)
        deadline = time.monotonic() + timeout
        last: list[str] = []
        while True:
            last = fn(name)
            if last and (expect is None or sorted(last) == sorted(expect)):
                return last
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{name} did not resolve ({kind}) within {timeout}s; last={last}")
            time.sleep(0.3)

    def wait_until_gone(self, name: str, timeout: float, kind: str = "zeroconf") -> float:
        """Poll until NAME no longer resolves; returns the seconds that took (the time of the
        first query that came back empty, from the call)."""
        fn = self.resolver(kind)
        t0 = time.monotonic()
        while True:
            started = time.monotonic()
            if not fn(name):
                return started - t0
            if time.monotonic() - t0 >= timeout:
                raise TimeoutError(f"{name} still resolves ({kind}) after {timeout}s")
            time.sleep(0.2)


def _nsswitch(hosts_line: str) -> str:
    """The host's nsswitch.conf with its hosts: line replaced."""
    try:
        lines = Path("/etc/nsswitch.conf").read_text().splitlines()
    except OSError:
        lines = ["passwd: files", "group: files", "shadow: files"]
    lines = [l for l in lines if not l.lstrip().startswith("hosts:")]
    lines.append(f"hosts:          {hosts_line}")
    return "\n".join(lines) + "\n"
