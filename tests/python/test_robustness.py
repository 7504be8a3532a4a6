"""Malformed wire traffic must cost the attacker its own connection and nothing else.

A pymongo client keeps inserting and reading in a background thread for the whole module.
Meanwhile raw sockets send broken frames. For each one we check that
  * the server closes that connection (for a malformed frame body MongoDB may instead answer with
    an error document; that is accepted only where noted, and then the reply must be ok:0),
  * the server log has a WARN or ERROR line naming the peer address (127.0.0.1:<our port>),
  * the good client was served meanwhile (its operation count kept going, no error),
  * the server process is still alive.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional

import bson
import pytest

import wire

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# tracing's text format puts the level in capitals ("  WARN redhive::mongo: ..."); JSON has "level":"WARN"
LEVEL = re.compile(r"\b(WARN|ERROR)\b|\"level\"\s*:\s*\"(WARN|ERROR)\"")


class GoodClient(threading.Thread):
    def __init__(self, redhive) -> None:
        super().__init__(daemon=True)
        self.client = redhive.tenant_client("r1", socketTimeoutMS=20_000)
        self.coll = self.client["r1"]["robust_good"]
        self.ops = 0
        self.errors: list[str] = []
        self.max_latency = 0.0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            t0 = time.monotonic()
            try:
                doc = {"_id": f"g{n}", "n": n, "pad": "p" * 100}
                self.coll.insert_one(doc)
                got = self.coll.find_one({"_id": f"g{n}"})
                if got != doc:
                    self.errors.append(f"read back {got!r} for {doc['_id']}")
                self.ops += 1
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.errors.append(f"op {n}: {e!r}")
                time.sleep(0.1)
            self.max_latency = max(self.max_latency, time.monotonic() - t0)


@pytest.fixture(scope="module")
def good(redhive):
    g = GoodClient(redhive)
    g.start()
    deadline = time.monotonic() + 20
    while g.ops < 5 and time.monotonic() < deadline and not g.errors:
        time.sleep(0.05)
    assert g.ops >= 5, f"the good client does not get going: {g.errors[:3]}"
    yield g
    g.stop_flag.set()
    g.join(30)
    assert not g.errors, f"the good client saw errors: {g.errors[:5]}"
    assert g.max_latency < 5.0, f"a good operation took {g.max_latency:.1f}s"
    assert g.coll.count_documents({}) == g.ops


# ------------------------------------------------------------------------------ cases

OP_MSG = wire.OP_MSG


def hdr(length: int, opcode: int = OP_MSG, rid: int = 4242) -> bytes:
    return struct.pack("<iiii", length, rid, 0, opcode)


def msg_with_body(body: bytes, opcode: int = OP_MSG, rid: int = 4242) -> bytes:
    return hdr(16 + len(body), opcode, rid) + body


def bad_bson_body(doc: bytes, flags: int = 0) -> bytes:
    return msg_with_body(struct.pack("<I", flags) + b"\x00" + doc)


def nested_doc(depth: int) -> bytes:
    """{"a": {"a": {... depth levels ...}}} built without recursion (a parser that recurses per
    level overflows its stack long before this depth). A level adds 8 bytes: int32 length,
    type 0x03, key "a\\0", and the closing 0."""
    heads = b"".join(struct.pack("<i", 5 + 8 * (depth - k)) + b"\x03a\x00" for k in range(depth))
    return heads + b"\x05\x00\x00\x00\x00" + b"\x00" * depth


def ping_with(field_value: bytes) -> bytes:
    """OP_MSG {ping: 1, x: <document given as raw BSON>, $db: "admin"}."""
    elems = b"\x10ping\x00" + struct.pack("<i", 1) + b"\x03x\x00" + field_value + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    doc = struct.pack("<i", 4 + len(elems) + 1) + elems + b"\x00"
    return bad_bson_body(doc)


def random_bytes(seed: int, n: int = 4096) -> bytes:
    return random.Random(seed).randbytes(n)


@dataclass
class Case:
    id: str
    payload: bytes
    half_close: bool = True  # shutdown(SHUT_WR) after sending, so a waiting server sees EOF
    full_close: bool = False  # close at once: only the log can tell what the server thought
    error_reply_ok: bool = False  # MongoDB answers some malformed bodies with ok:0 instead
    expect_close_before_eof: bool = False  # must close without us half-closing first


HELLO = wire.op_msg({"hello": 1, "$db": "admin"}, request_id=77)
VALID_DOC = bson.encode({"ping": 1, "$db": "admin"})

CASES = [
    Case("truncated-frame-half-close", hdr(200) + b"\x00" * 30),
    Case("truncated-header-half-close", hdr(200)[:9]),
    Case("truncated-frame-then-close", hdr(200) + b"\x00" * 30, half_close=False, full_close=True),
    Case("length-too-large-100MB", hdr(100_000_000) + b"\x00" * 64, half_close=False, expect_close_before_eof=True),
    Case("length-48MB-plus-1", hdr(48_000_001) + b"\x00" * 64, half_close=False, expect_close_before_eof=True),
    Case("length-negative", hdr(-5) + b"\x00" * 64, half_close=False, expect_close_before_eof=True),
    Case("length-zero", hdr(0) + b"\x00" * 64, half_close=False, expect_close_before_eof=True),
    Case("length-too-small-8", hdr(8) + b"\x00" * 64, half_close=False, expect_close_before_eof=True),
    Case("length-15", hdr(15) + b"\x00" * 64, half_close=False, expect_close_before_eof=True),
    Case("op-msg-empty-body", hdr(16), half_close=False, expect_close_before_eof=True, error_reply_ok=True),
    Case("bad-bson-garbage-element-type", bad_bson_body(b"\x10\x00\x00\x00\xee\x61\x00" + b"\x01" * 8 + b"\x00"), error_reply_ok=True, expect_close_before_eof=True),
    Case("bad-bson-length-beyond-section", bad_bson_body(struct.pack("<i", 5000) + b"\x10ping\x00\x01\x00\x00\x00\x00"), error_reply_ok=True, expect_close_before_eof=True),
    Case("bad-bson-length-too-small", bad_bson_body(struct.pack("<i", 3) + b"\x00"), error_reply_ok=True, expect_close_before_eof=True),
    Case("bad-bson-no-terminator", bad_bson_body(VALID_DOC[:-1] + b"\x01"), error_reply_ok=True, expect_close_before_eof=True),
    Case("op-msg-no-sections", msg_with_body(struct.pack("<I", 0)), error_reply_ok=True, expect_close_before_eof=True),
    Case("op-msg-unknown-required-flag", bad_bson_body(VALID_DOC, flags=0x4), error_reply_ok=True, expect_close_before_eof=True),
    Case("op-msg-checksum-flag-bad-crc", msg_with_body(struct.pack("<I", 0x1) + b"\x00" + VALID_DOC + b"\xde\xad\xbe\xef"), error_reply_ok=True, expect_close_before_eof=True),
    Case("op-msg-section-kind-7", msg_with_body(struct.pack("<I", 0) + b"\x07" + VALID_DOC), error_reply_ok=True, expect_close_before_eof=True),
    Case("op-msg-two-body-sections", msg_with_body(struct.pack("<I", 0) + b"\x00" + VALID_DOC + b"\x00" + VALID_DOC), error_reply_ok=True, expect_close_before_eof=True),
    Case("opcode-2012-compressed-garbage", msg_with_body(struct.pack("<iiB", OP_MSG, 100, 1) + b"\x13" * 40, opcode=2012), error_reply_ok=True, expect_close_before_eof=True),
    Case("opcode-9999", msg_with_body(b"\x00" * 40, opcode=9999), expect_close_before_eof=True),
    Case("opcode-1-reply-from-client", msg_with_body(b"\x00" * 40, opcode=1), expect_close_before_eof=True),
    Case("opcode-0", msg_with_body(b"\x00" * 40, opcode=0), expect_close_before_eof=True),
    Case("bson-nested-100000-deep", ping_with(nested_doc(100_000)), error_reply_ok=True, expect_close_before_eof=True),
    Case("kind1-section-size-lies", msg_with_body(struct.pack("<I", 0) + b"\x00" + bson.encode({"insert": "c", "$db": "r1"}) + b"\x01" + struct.pack("<i", 100_000) + b"documents\x00" + VALID_DOC), error_reply_ok=True, expect_close_before_eof=True),
    Case("kind1-section-size-negative", msg_with_body(struct.pack("<I", 0) + b"\x00" + bson.encode({"insert": "c", "$db": "r1"}) + b"\x01" + struct.pack("<i", -20) + b"documents\x00" + VALID_DOC), error_reply_ok=True, expect_close_before_eof=True),
    Case("valid-hello-then-garbage", HELLO + hdr(-1) + b"\xff" * 32, half_close=False, expect_close_before_eof=True),
    Case("random-bytes-seed-1", random_bytes(1)),
    Case("random-bytes-seed-2", random_bytes(2)),
    Case("random-bytes-seed-3", random_bytes(3, 64)),
    Case("random-bytes-with-plausible-length", struct.pack("<i", 200) + random_bytes(4, 196)),
]


def _log_offset(redhive) -> int:
    try:
        return redhive.log_path.stat().st_size
    except FileNotFoundError:
        return 0


def _log_since(redhive, offset: int) -> str:
    with open(redhive.log_path, "rb") as f:
        f.seek(offset)
        return ANSI.sub("", f.read().decode(errors="replace"))


def _wait_log_line(redhive, offset: int, peer: str, timeout: float = 5.0) -> Optional[str]:
    pat = re.compile(re.escape(peer) + r"(?!\d)")
    deadline = time.monotonic() + timeout
    while True:
        for line in _log_since(redhive, offset).splitlines():
            if pat.search(line) and LEVEL.search(line):
                return line
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def _observe(sock: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """(closed_by_server, bytes received) within timeout."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, got
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, got
        except (ConnectionResetError, BrokenPipeError):
            return True, got
        if not chunk:
            return True, got
        got += chunk


def _parse_replies(data: bytes) -> list[dict]:
    out = []
    while len(data) >= 16:
        length, _rid, rto, opcode = struct.unpack_from("<iiii", data, 0)
        if length < 16 or length > len(data):
            raise AssertionError(f"server sent a malformed frame: {data[:64]!r}")
        body = data[16:length]
        if opcode == wire.OP_MSG:
            out.append({"responseTo": rto, "doc": bson.decode(body[5:])})
        elif opcode == wire.OP_REPLY:
            out.append({"responseTo": rto, "doc": bson.decode_all(body[20:])[0]})
        else:
            raise AssertionError(f"server sent opcode {opcode}")
        data = data[length:]
    if data:
        raise AssertionError(f"server sent a partial frame: {data!r}")
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_connection_is_dropped_and_others_are_served(redhive, good, case):
    offset = _log_offset(redhive)
    ops_before = good.ops
    s = wire.connect(redhive.mongo_port)
    peer = "127.0.0.1:%d" % s.getsockname()[1]
    try:
        try:
            s.sendall(case.payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may already have hung up: fine
        if case.full_close:
            s.close()
        else:
            closed, data = (False, b"")
            if case.expect_close_before_eof:
                closed, data = _observe(s, 5.0)
            if not closed and case.half_close:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                closed2, data2 = _observe(s, 5.0)
                closed, data = closed2, data + data2
            replies = _parse_replies(data)
            if case.id == "valid-hello-then-garbage":
                assert replies and replies[0]["responseTo"] == 77 and replies[0]["doc"].get("ok") == 1.0
                replies = replies[1:]
                if not closed:
                    closed, _ = _observe(s, 5.0)
            if replies:
                assert case.error_reply_ok, f"server answered garbage with {replies}"
                for r in replies:
                    assert r["doc"].get("ok") == 0, f"malformed request got a success reply: {r}"
            if case.error_reply_ok and replies:
                pass  # MongoDB-style: error reply; the connection may stay open
            else:
                assert closed, f"{case.id}: server kept the connection open for 5 s (received {data[:100]!r})"
    finally:
        s.close()

    line = _wait_log_line(redhive, offset, peer)
    assert line is not None, (
        f"{case.id}: no WARN/ERROR log line naming {peer}; new log lines:\n" + _log_since(redhive, offset)[-3000:]
    )
    deadline = time.monotonic() + 10
    while good.ops < ops_before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert good.ops >= ops_before + 3, f"good client stalled: {good.ops - ops_before} ops; errors {good.errors[:3]}"
    assert not good.errors, good.errors[:3]
    assert redhive.is_running(), "the server died"


def test_burst_of_garbage_connections(redhive, good):
    """100 connections at once, each with garbage, while the good client works."""
    ops_before = good.ops
    socks = []
    for i in range(100):
        s = wire.connect(redhive.mongo_port)
        s.sendall(random_bytes(1000 + i, 512))
        socks.append(s)
    for s in socks:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t_end = time.monotonic() + 15
    still_open = []
    for s in socks:
        closed, _ = _observe(s, max(0.1, t_end - time.monotonic()))
        if not closed:
            still_open.append(s.getsockname()[1])
        s.close()
    assert not still_open, f"{len(still_open)} garbage connections still open"
    deadline = time.monotonic() + 10
    while good.ops < ops_before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert good.ops >= ops_before + 3
    assert not good.errors, good.errors[:3]


def test_idle_half_frame_does_not_block_others(redhive, good):
    """A client that sends half a frame and then stalls ties up only its own connection."""
    s = wire.connect(redhive.mongo_port)
    try:
        frame = wire.op_msg({"ping": 1, "$db": "admin"})
        s.sendall(frame[:10])
        ops_before = good.ops
        time.sleep(2)
        assert good.ops >= ops_before + 3, "the good client stalled behind a half-sent frame"
        s.sendall(frame[10:])  # completing the frame yields a normal reply
        _, _, _, doc = wire.read_reply(s)
        assert doc.get("ok") == 1.0
    finally:
        s.close()


def test_server_healthy_after_abuse(redhive, good):
    with urllib.request.urlopen(f"http://127.0.0.1:{redhive.http_port}/api/health", timeout=5) as r:
        assert r.status == 200
    c = redhive.tenant_client("r1")
    assert c["r1"].command("ping")["ok"] == 1.0
    assert redhive.is_running()
