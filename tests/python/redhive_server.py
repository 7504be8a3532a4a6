"""Start and stop an isolated redhive server for end-to-end tests.

Used by ``conftest.py`` (as a library) and by ``tests/conformance/run.sh`` (as a small command-line
launcher).  Everything here talks to 127.0.0.1 only.

The contract of the binary under test:

* ``redhive tenant add NAME --data-dir DIR`` (server stopped) creates database NAME with a SCRAM
  user NAME and prints, as its last stdout line,
  ``mongodb://NAME:SECRET@HOST:PORT/NAME?authSource=NAME`` where HOST:PORT comes from the env
  variable ``REDHIVE_MONGO_LISTEN``.
* ``redhive serve --data-dir DIR --listen 127.0.0.1:HTTP --mongo-listen 127.0.0.1:MONGO`` runs in
  the foreground, logs on stderr, answers ``GET /api/health`` with 200 once both listeners are up
  and stops on SIGTERM.
* The first ``tenant add`` or ``serve`` writes the root connection string to
  ``DIR/secrets/mongo-root.uri``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

DEFAULT_BIN = "/var/cache/redhive/target/debug/redhive"
HEALTH_TIMEOUT_S = 30.0
URI_RE = re.compile(r"^mongodb://([^:@/]+):([^@/]+)@([^/]+)/([^?]*)\?(.*)$")

_PR_SET_PDEATHSIG = 1


def redhive_bin() -> str:
    return os.environ.get("REDHIVE_BIN", DEFAULT_BIN)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_free_ports() -> tuple[int, int]:
    while True:
        a, b = free_port(), free_port()
        if a != b:
            return a, b


def parse_uri(uri: str) -> dict:
    """Split ``mongodb://user:pass@host:port/db?opts`` into its parts (password unquoted)."""
    m = URI_RE.match(uri.strip())
    if not m:
        raise ValueError(f"not a mongodb:// URI with credentials: {uri!r}")
    user, pwd, hostport, db, query = m.groups()
    host, _, port = hostport.rpartition(":")
    return {
        "user": urllib.parse.unquote(user),
        "password": urllib.parse.unquote(pwd),
        "host": host,
        "port": int(port),
        "db": db,
        "options": dict(urllib.parse.parse_qsl(query)),
    }


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child if the process that started it goes away (no orphans)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


class ServerError(RuntimeError):
    pass


class RedhiveServer:
    """One redhive process on a private data directory and two private loopback ports."""

    def __init__(
        self,
        workdir: Optional[Path] = None,
        tenants: Sequence[str] = ("r1", "r2"),
        binary: Optional[str] = None,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="redhive-e2e-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "serve.log"
        self.binary = binary or redhive_bin()
        self.http_port, self.mongo_port = two_free_ports()
        self.tenants = list(tenants)
        self._tenant_uris: dict[str, str] = {}
        self.proc: Optional[subprocess.Popen] = None
        self._log_file = None
        self.wrapper: list[str] = []
        self.root_uri: Optional[str] = None
        self.start_count = 0

    # ------------------------------------------------------------------ setup
    @property
    def mongo_listen(self) -> str:
        return f"127.0.0.1:{self.mongo_port}"

    @property
    def http_listen(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def env(self) -> dict:
        env = dict(os.environ)
        env["REDHIVE_MONGO_LISTEN"] = self.mongo_listen
        env.setdefault("NO_COLOR", "1")
        return env

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )

    def tenant_add(self, name: str) -> str:
        cp = self.run_cli("tenant", "add", name, "--data-dir", str(self.data_dir))
        if cp.returncode != 0:
            raise ServerError(
                f"`redhive tenant add {name}` exited {cp.returncode}\n"
                f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
            )
        lines = [ln for ln in cp.stdout.splitlines() if ln.strip()]
        if not lines:
            raise ServerError(f"`redhive tenant add {name}` printed nothing on stdout")
        uri = lines[-1].strip()
        self._tenant_uris[name] = uri
        return uri

    def tenant_uri(self, name: str) -> str:
        return self._tenant_uris[name]

    def setup(self) -> "RedhiveServer":
        """Create the tenants (server stopped) and start the server."""
        if not os.access(self.binary, os.X_OK):
            raise ServerError(f"redhive binary not found or not executable: {self.binary}")
        for t in self.tenants:
            self.tenant_add(t)
        self.start()
        return self

    # -------------------------------------------------------------- lifecycle
    def start(self, wrapper: Sequence[str] = ()) -> None:
        """Spawn ``redhive serve`` (optionally under a wrapper such as strace); wait for health."""
        if self.proc is not None and self.proc.poll() is None:
            raise ServerError("server already running")
        self.wrapper = list(wrapper)
        self.start_count += 1
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n===== redhive-e2e: start #{self.start_count} =====\n".encode())
        self._log_file.flush()
        cmd = [
            *self.wrapper,
            self.binary,
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            self.http_listen,
            "--mongo-listen",
            self.mongo_listen,
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            start_new_session=True,  # own process group: killpg reaches wrapper + server
            preexec_fn=_die_with_parent,
        )
        self._wait_healthy()
        self.root_uri = self._read_root_uri()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        url = f"http://{self.http_listen}/api/health"
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"redhive serve exited with {self.proc.returncode} before it was healthy; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
                    last = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.1)
        self._kill_group(signal.SIGKILL)
        raise ServerError(
            f"{url} not 200 within {HEALTH_TIMEOUT_S}s (last: {last}); log tail:\n{self.log_tail()}"
        )

    def _read_root_uri(self) -> str:
        path = self.data_dir / "secrets" / "mongo-root.uri"
        deadline = time.monotonic() + 5
        while True:
            try:
                txt = path.read_text().strip()
                if txt:
                    return txt.splitlines()[-1].strip()
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"{path} missing or empty after start")
            time.sleep(0.1)

    @property
    def server_pid(self) -> Optional[int]:
        """pid of the redhive process itself (the wrapper's child when a wrapper is used)."""
        if self.proc is None:
            return None
        if not self.wrapper:
            return self.proc.pid
        # The wrapper (strace) forks the server: find the descendant running our binary,
        # else the wrapper's first child.
        first = _children(self.proc.pid)
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            for c in _children(pid):
                try:
                    exe = os.readlink(f"/proc/{c}/exe")
                except OSError:
                    exe = ""
                if os.path.realpath(exe) == os.path.realpath(self.binary):
                    return c
                todo.append(c)
        return first[0] if first else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM the server, wait, then SIGKILL the whole group. Returns the exit status."""
        if self.proc is None:
            return None
        rc = None
        if self.proc.poll() is None:
            target = self.server_pid
            if target is not None and self.wrapper:
                # Let the wrapper see its child exit (strace then flushes its output and exits).
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, signal.SIGTERM)
            else:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(signal.SIGKILL)
                rc = self.proc.wait(10)
        else:
            rc = self.proc.returncode
        self._kill_group(signal.SIGKILL)  # anything left in the group (no orphans)
        self._close_log()
        self.proc = None
        return rc

    def kill9(self) -> None:
        """SIGKILL the server process (and its wrapper) without any chance to clean up."""
        if self.proc is None:
            return
        target = self.server_pid
        if target is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        self._kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._close_log()
        self.proc = None

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def close(self) -> None:
        self.stop()
        if self._own_workdir and os.environ.get("REDHIVE_KEEP_TMP") != "1":
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---------------------------------------------------------------- helpers
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def root_credentials(self) -> dict:
        assert self.root_uri, "server not started"
        return parse_uri(self.root_uri)

    def info(self) -> dict:
        root = self.root_credentials()
        return {
            "pid": self.server_pid,
            "mongo_port": self.mongo_port,
            "http_port": self.http_port,
            "data_dir": str(self.data_dir),
            "log_path": str(self.log_path),
            "root_uri": self.root_uri,
            "root_user": root["user"],
            "root_password": root["password"],
            "root_auth_source": root["options"].get("authSource", root["db"] or "admin"),
            "tenant_uris": dict(self._tenant_uris),
        }

    def __enter__(self) -> "RedhiveServer":
        return self.setup()

    def __exit__(self, *exc) -> None:
        self.close()


def _main(argv: Optional[Sequence[str]] = None) -> int:
    """``python redhive_server.py --info-file F [--workdir D]``: start a server, write its
    connection facts as JSON to F, then run until SIGTERM/SIGINT (or until stdin closes when
    ``--until-stdin-eof`` is given), and stop the server."""
    ap = argparse.ArgumentParser(description=_main.__doc__)
    ap.add_argument("--info-file", required=True)
    ap.add_argument("--workdir")
    ap.add_argument("--tenants", default="r1,r2")
    args = ap.parse_args(argv)

    stop = {"now": False}

    def on_signal(signum, frame):  # noqa: ARG001
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv = RedhiveServer(
        workdir=Path(args.workdir) if args.workdir else None,
        tenants=[t for t in args.tenants.split(",") if t],
    )
    try:
        srv.setup()
        tmp = args.info_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(srv.info(), f, indent=2)
        os.replace(tmp, args.info_file)
        parent = os.getppid()
        while not stop["now"]:
            if os.getppid() != parent:  # whoever started us is gone: don't linger
                return 1
            if not srv.is_running():
                print(f"redhive serve exited unexpectedly; log tail:\n{srv.log_tail()}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    except ServerError as e:
        print(f"redhive_server: {e}", file=sys.stderr)
        return 1
    finally:
        srv.close()


if __name__ == "__main__":
    sys.exit(_main())
