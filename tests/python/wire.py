"""Raw MongoDB wire-protocol helpers for tests that must send what no driver sends.

Frames: a 16-byte header (int32 messageLength, requestID, responseTo, opCode, little-endian),
then the body.  OP_MSG = 2013, OP_QUERY = 2004, OP_REPLY = 1, OP_COMPRESSED = 2012.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import socket
import struct
import time
from typing import Iterable, Optional

import bson

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

_ids = itertools.count(1000)


def next_request_id() -> int:
    return next(_ids)


def header(length: int, request_id: int, response_to: int, opcode: int) -> bytes:
    return struct.pack("<iiii", length, request_id, response_to, opcode)


def frame(opcode: int, body: bytes, request_id: Optional[int] = None) -> bytes:
    rid = next_request_id() if request_id is None else request_id
    return header(16 + len(body), rid, 0, opcode) + body


def raw_doc(pairs: Iterable[tuple[str, object]]) -> bytes:
    """BSON document from (key, value) pairs, allowing duplicate keys."""
    elems = b""
    for k, v in pairs:
        one = bson.encode({k: v})
        elems += one[4:-1]
    return struct.pack("<i", len(elems) + 5) + elems + b"\x00"


def op_msg(doc, flags: int = 0, request_id: Optional[int] = None, sequences=()) -> bytes:
    body_doc = doc if isinstance(doc, (bytes, bytearray)) else bson.encode(doc)
    body = struct.pack("<I", flags) + b"\x00" + bytes(body_doc)
    for ident, docs in sequences:
        payload = ident.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        body += b"\x01" + struct.pack("<i", 4 + len(payload)) + payload
    return frame(OP_MSG, body, request_id)


def op_query(ns: str, query: dict, n_return: int = -1, request_id: Optional[int] = None) -> bytes:
    body = struct.pack("<i", 0) + ns.encode() + b"\x00" + struct.pack("<ii", 0, n_return) + bson.encode(query)
    return frame(OP_QUERY, body, request_id)


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(repr(e)) from e
        if not chunk:
            raise Closed(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_reply(sock: socket.socket) -> tuple[int, int, int, dict]:
    """Read one OP_MSG or OP_REPLY. Returns (request_id, response_to, opcode, document)."""
    hdr = recv_exact(sock, 16)
    length, rid, rto, opcode = struct.unpack("<iiii", hdr)
    if length < 16 or length > 64 * 1024 * 1024:
        raise ValueError(f"bad reply length {length}")
    body = recv_exact(sock, length - 16)
    if opcode == OP_MSG:
        flags = struct.unpack_from("<I", body, 0)[0]
        if flags & ~0x2:
            raise ValueError(f"reply has unexpected OP_MSG flags {flags:#x}")
        if body[4] != 0:
            raise ValueError(f"reply's first section kind {body[4]} != 0")
        doc = bson.decode(body[5:])
        return rid, rto, opcode, doc
    if opcode == OP_REPLY:
        _flags, _cursor, _start, nret = struct.unpack_from("<iqii", body, 0)
        docs = bson.decode_all(body[20:])
        return rid, rto, opcode, docs[0] if docs else {}
    raise ValueError(f"reply opcode {opcode}")


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def command(sock: socket.socket, doc, db: Optional[str] = None) -> dict:
    """Send one OP_MSG command and return the reply document (checks responseTo)."""
    if isinstance(doc, dict) and db is not None and "$db" not in doc:
        doc = {**doc, "$db": db}
    rid = next_request_id()
    sock.sendall(op_msg(doc, request_id=rid))
    _, rto, _, reply = read_reply(sock)
    if rto != rid:
        raise ValueError(f"responseTo {rto} != requestID {rid}")
    return reply


def wait_closed(sock: socket.socket, timeout: float = 5.0) -> Optional[str]:
    """Wait until the server closes the connection; returns None if it did, else what it sent."""
    deadline = time.monotonic() + timeout
    got = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        got += chunk
    return f"still open after {timeout}s; received {len(got)} bytes: {got[:200]!r}"


# ------------------------------------------------------------------------------- SCRAM


def _saslprep(s: str) -> str:
    try:
        from pymongo.saslprep import saslprep

        return saslprep(s)
    except Exception:  # pragma: no cover
        return s


def scram_keys(password: str, salt: bytes, iterations: int, mechanism: str = "SCRAM-SHA-256", user: str = ""):
    """(salted_password, client_key, stored_key, server_key) as MongoDB derives them."""
    if mechanism == "SCRAM-SHA-256":
        digest = "sha256"
        pwd = _saslprep(password).encode()
    else:
        digest = "sha1"
        pwd = hashlib.md5(f"{user}:mongo:{password}".encode()).hexdigest().encode()
    salted = hashlib.pbkdf2_hmac(digest, pwd, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = hashlib.new(digest, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    return salted, client_key, stored_key, server_key


def _parse_scram(payload: bytes) -> dict:
    out = {}
    for part in payload.decode().split(","):
        k, _, v = part.partition("=")
        out[k] = v
    return out


def sasl_start(sock: socket.socket, user: str, db: str, mechanism: str = "SCRAM-SHA-256"):
    """First SCRAM step. Returns (reply, client_first_bare, server_first_fields)."""
    nonce = base64.b64encode(os.urandom(24)).decode()
    first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
    reply = command(
        sock,
        {
            "saslStart": 1,
            "mechanism": mechanism,
            "payload": bson.Binary(("n,," + first_bare).encode()),
            "autoAuthorize": 1,
            "options": {"skipEmptyExchange": True},
            "$db": db,
        },
    )
    fields = _parse_scram(bytes(reply["payload"])) if reply.get("ok") == 1 else {}
    return reply, first_bare, fields, nonce


def scram_auth(sock: socket.socket, user: str, password: str, db: str, mechanism: str = "SCRAM-SHA-256") -> dict:
    """Authenticate a raw connection. Returns the final reply (ok:1 and done on success)."""
    reply, first_bare, f, nonce = sasl_start(sock, user, db, mechanism)
    if reply.get("ok") != 1:
        return reply
    if not f["r"].startswith(nonce):
        raise ValueError("server nonce does not extend the client nonce")
    salt = base64.b64decode(f["s"])
    iters = int(f["i"])
    salted, client_key, stored_key, server_key = scram_keys(password, salt, iters, mechanism, user)
    digest = "sha256" if mechanism == "SCRAM-SHA-256" else "sha1"
    server_first = bytes(reply["payload"]).decode()
    without_proof = f"c=biws,r={f['r']}"
    auth_msg = f"{first_bare},{server_first},{without_proof}".encode()
    client_sig = hmac.new(stored_key, auth_msg, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
    final = f"{without_proof},p={base64.b64encode(proof).decode()}"
    reply2 = command(
        sock,
        {"saslContinue": 1, "conversationId": reply["conversationId"], "payload": bson.Binary(final.encode()), "$db": db},
    )
    if reply2.get("ok") != 1:
        return reply2
    v = _parse_scram(bytes(reply2["payload"])).get("v")
    expect = base64.b64encode(hmac.new(server_key, auth_msg, digest).digest()).decode()
    if v != expect:
        raise ValueError("server signature mismatch")
    while not reply2.get("done"):
        reply2 = command(
            sock,
            {"saslContinue": 1, "conversationId": reply["conversationId"], "payload": bson.Binary(b""), "$db": db},
        )
        if reply2.get("ok") != 1:
            return reply2
    return reply2
