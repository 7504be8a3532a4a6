"""Shared fixtures for the redhive end-to-end suites (pymongo against the MongoDB shim).

Each test module gets its own server: a fresh data directory, two free loopback ports,
tenants ``r1`` and ``r2`` created with ``redhive tenant add`` while the server is stopped, then
``redhive serve`` with stderr in a log file.  The server process is always killed at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redhive_server import RedhiveServer, parse_uri, redhive_bin  # noqa: E402

# Client defaults: fail fast instead of hanging on a broken server.
CLIENT_OPTS = dict(
    serverSelectionTimeoutMS=10_000,
    connectTimeoutMS=10_000,
    socketTimeoutMS=60_000,
    retryWrites=False,
    retryReads=False,
)


class ServerHandle:
    """What tests see: URIs, paths, port, and kill9/start/stop."""

    def __init__(self, srv: RedhiveServer) -> None:
        self._srv = srv
        self._clients: list[MongoClient] = []

    # facts
    @property
    def root_uri(self) -> str:
        return self._srv.root_uri

    def tenant_uri(self, name: str) -> str:
        return self._srv.tenant_uri(name)

    @property
    def data_dir(self) -> Path:
        return self._srv.data_dir

    @property
    def log_path(self) -> Path:
        return self._srv.log_path

    @property
    def mongo_port(self) -> int:
        return self._srv.mongo_port

    @property
    def http_port(self) -> int:
        return self._srv.http_port

    @property
    def server(self) -> RedhiveServer:
        return self._srv

    # lifecycle
    def kill9(self) -> None:
        self._srv.kill9()

    def start(self, wrapper=()) -> None:
        self._srv.start(wrapper=wrapper)

    def stop(self):
        return self._srv.stop()

    def is_running(self) -> bool:
        return self._srv.is_running()

    def log_text(self) -> str:
        return self._srv.log_text()

    # clients
    def client(self, uri: str, **kw) -> MongoClient:
        opts = dict(CLIENT_OPTS)
        opts.update(kw)
        c = MongoClient(uri, **opts)
        self._clients.append(c)
        return c

    def tenant_client(self, name: str, **kw) -> MongoClient:
        return self.client(self.tenant_uri(name), **kw)

    def root_client(self, **kw) -> MongoClient:
        return self.client(self.root_uri, **kw)

    def noauth_client(self, **kw) -> MongoClient:
        return self.client(f"mongodb://127.0.0.1:{self.mongo_port}/", **kw)

    def close_clients(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients.clear()


@pytest.fixture(scope="module")
def redhive(tmp_path_factory, request):
    """An isolated redhive server for one test module."""
    binary = redhive_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"redhive binary missing: {binary} (build it or set REDHIVE_BIN)")
    name = request.module.__name__.rsplit(".", 1)[-1]
    srv = RedhiveServer(workdir=tmp_path_factory.mktemp(f"redhive-{name}"))
    handle = ServerHandle(srv)
    try:
        srv.setup()
        yield handle
    finally:
        handle.close_clients()
        srv.stop()
        # Keep the log next to the data dir (pytest keeps the last few tmp dirs) and say where.
        sys.stderr.write(f"\n[redhive] {name}: log at {srv.log_path}\n")


@pytest.fixture(scope="module")
def r1(redhive):
    """pymongo Database 'r1' as tenant r1."""
    c = redhive.tenant_client("r1")
    return c["r1"]


@pytest.fixture(scope="module")
def r2(redhive):
    """pymongo Database 'r2' as tenant r2."""
    c = redhive.tenant_client("r2")
    return c["r2"]


__all__ = ["ServerHandle", "CLIENT_OPTS", "parse_uri"]
