"""Durability: an acknowledged write survives kill -9, and is fsync'ed before it is acknowledged.

(a) A separate writer process inserts in a loop (w:1) and appends each acknowledged _id to a file.
    After ~3 s the server gets SIGKILL; after a restart every acknowledged _id must be there.
    Three rounds on the same data directory.
(b) The server runs under strace; N single inserts carry distinct markers. From the trace we check,
    for every one of them, that the document reached a store file and that file was
    fsync'ed/fdatasync'ed after the request was read and before the reply was sent.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import bson
import pytest

WRITER = r"""
import os, sys
from pymongo import MongoClient
uri, prefix, path = sys.argv[1:4]
c = MongoClient(uri, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, socketTimeoutMS=10000,
                retryWrites=False, w=1)
coll = c["r1"]["durable"]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
i = 0
while True:
    _id = "%s-%07d" % (prefix, i)
    try:
        coll.insert_one({"_id": _id, "i": i, "pad": "x" * 200})
    except Exception as e:
        os.write(fd, ("# stopped at %s: %s\n" % (_id, type(e).__name__)).encode())
        break
    os.write(fd, (_id + "\n").encode())   # only after the server acknowledged it
    i += 1
"""


def _acked(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def test_acknowledged_writes_survive_kill9(redhive, tmp_path):
    all_acked: list[str] = []
    for rnd in range(3):
        prefix = f"round{rnd}"
        ack_file = tmp_path / f"acked-{rnd}.txt"
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, redhive.tenant_uri("r1") + "&w=1", prefix, str(ack_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while not _acked(ack_file) and time.monotonic() < deadline:
                assert writer.poll() is None, f"writer died: {writer.stderr.read().decode()[-2000:]}"
                time.sleep(0.05)
            assert _acked(ack_file), "the writer got no acknowledgement within 30 s"
            time.sleep(3)
            redhive.kill9()
            writer.wait(30)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        acked = _acked(ack_file)
        assert len(acked) >= 20, f"round {rnd}: only {len(acked)} writes acknowledged in ~3 s"
        print(f"round {rnd}: {len(acked)} writes acknowledged before kill -9")
        all_acked.extend(acked)

        redhive.start()
        c = redhive.tenant_client("r1")
        present = {d["_id"] for d in c["r1"]["durable"].find({}, {"_id": 1})}
        missing = [x for x in all_acked if x not in present]
        assert not missing, (
            f"round {rnd}: {len(missing)} acknowledged writes lost after kill -9 "
            f"(e.g. {missing[:5]}; acknowledged {len(all_acked)}, present {len(present)})"
        )
        # At most the one insert that was in flight when the server died may exist unacknowledged.
        this_round = {x for x in present if x.startswith(prefix + "-")}
        extra = this_round - set(acked)
        assert len(extra) <= 1, f"round {rnd}: {len(extra)} unacknowledged documents present: {sorted(extra)[:5]}"
        c.close()


# ----------------------------------------------------------------------------- strace

# How the trace is read (the reason this check cannot be fooled by timing or thread interleaving):
#
# * `strace -f` stops every traced thread at each syscall entry and exit until strace has
#   processed (and, with -o, written) that event. A thread therefore cannot act on the result of
#   a syscall before strace has logged its exit, so the order of lines in the trace file is a
#   causal order: if fdatasync returned before the reply was handed to the kernel, its
#   completion line comes before the send's line. We order by line number; the -ttt timestamps
#   are only shown in messages.
# * `-yy` prints, next to every fd, what it is: a path for files (so we know a sync hit the
#   store's files) and `TCP:[local->peer]` (or `socket:[inode]`) for sockets. That string
#   identifies one client connection for as long as it is open, even if fd numbers are reused.
# * `-xx -s 65536` prints the complete bytes of every read and write buffer in hex, so per
#   connection we rebuild the exact byte stream the server read and the stream it wrote, and cut
#   both into wire-protocol frames (16-byte header: length, requestID, responseTo, opCode).
# * The request of insert k is the inbound frame whose bytes contain marker k; it is "received"
#   at the read syscall that delivered its last byte. Its reply is the outbound frame on the same
#   connection whose responseTo equals that request's requestID (and which must be ok:1, n:1);
#   it is "sent" at the write/sendto/writev/sendmsg syscall that carries its first byte.
# * The document reaches the store as a write to a file under DATA_DIR/store whose bytes contain
#   marker k (RocksDB's WAL append). We then require an fsync or fdatasync of that same file that
#   returned 0, that started after that write completed and that completed before the reply was
#   sent. (Group commit may cover several inserts with one sync; that is fine.)

TRACE_SET = "fdatasync,fsync,sendto,sendmsg,write,writev,pwrite64,pwritev,pwritev2,recvfrom,recvmsg,read,readv"
READS = {"read", "readv", "recvfrom", "recvmsg"}
WRITES = {"write", "writev", "sendto", "sendmsg", "pwrite64", "pwritev", "pwritev2"}
SYNCS = {"fsync", "fdatasync"}

LINE_RE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL_RE = re.compile(r"^(\w+)\((.*)$", re.S)
RESUMED_RE = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
RESULT_RE = re.compile(r"\)\s+=\s+(-?\d+|\?)(?:\s.*)?$", re.S)
FD_RE = re.compile(r"^(\d+)<((?:TCP|TCPv6|UDP|UNIX|NETLINK)[^\]]*\]|[^>]*)>")
HEXESC_RE = re.compile(r"\\x([0-9a-f]{2})")
HEXSTR_RE = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


@dataclass
class Call:
    name: str
    tid: int
    start_line: int
    end_line: int
    t_start: float
    t_end: float
    fd_desc: str
    result: Optional[int]
    data: bytes = b""


def parse_strace(path: Path) -> list[Call]:
    calls: list[Call] = []
    pending: dict[int, tuple[str, int, float, str]] = {}
    with open(path, errors="replace") as f:
        for lineno, raw in enumerate(f):
            m = LINE_RE.match(raw.rstrip("\n"))
            if not m:
                continue
            tid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            rm = RESUMED_RE.match(rest)
            if rm:
                if tid not in pending:
                    continue
                name, sline, sts, args = pending.pop(tid)
                text, eline, ets = args + rm.group(2), lineno, ts
            elif rest.endswith("<unfinished ...>"):
                cm = CALL_RE.match(rest)
                if cm:
                    pending[tid] = (cm.group(1), lineno, ts, cm.group(2)[: -len("<unfinished ...>")])
                continue
            else:
                cm = CALL_RE.match(rest)
                if not cm:
                    continue
                name, sline, sts, text, eline, ets = cm.group(1), lineno, ts, cm.group(2), lineno, ts
            res_m = RESULT_RE.search(text)
            result = int(res_m.group(1)) if res_m and res_m.group(1) != "?" else None
            fd_m = FD_RE.match(text.lstrip())
            # with -xx strace prints paths hex-escaped as well: decode them
            desc = HEXESC_RE.sub(lambda h: chr(int(h.group(1), 16)), fd_m.group(2)) if fd_m else ""
            data = b""
            if name in READS or name in WRITES:
                data = b"".join(bytes.fromhex(s.replace("\\x", "")) for s in HEXSTR_RE.findall(text))
                if result is not None and result >= 0:
                    data = data[:result]
            calls.append(Call(name, tid, sline, eline, sts, ets, desc, result, data))
    return calls


@dataclass
class Frame:
    request_id: int
    response_to: int
    opcode: int
    raw: bytes
    first_call: Call
    last_call: Call


def split_frames(calls: list[Call]) -> list[Frame]:
    """Concatenate the bytes of calls (one direction of one connection, in order) into frames."""
    buf = b""
    owners: list[tuple[int, Call]] = []  # (end offset in buf, call)
    for c in calls:
        if c.data:
            buf += c.data
            owners.append((len(buf), c))

    def owner(off: int) -> Call:
        for end, c in owners:
            if off < end:
                return c
        raise IndexError(off)

    frames = []
    off = 0
    while off + 16 <= len(buf):
        length, rid, rto, op = struct.unpack_from("<iiii", buf, off)
        if length < 16 or off + length > len(buf):
            break
        frames.append(Frame(rid, rto, op, buf[off : off + length], owner(off), owner(off + length - 1)))
        off += length
    return frames


def op_msg_doc(frame: Frame) -> dict:
    return bson.decode(frame.raw[21:]) if frame.opcode == 2013 else {}



def sync_before_ack_problems(calls: list[Call], store: str, markers: list[bytes], check_reply: bool = True) -> list[str]:
    """For each marker: request read -> document written to a store file -> that file synced ->
    reply sent, in this order (see the comment above). Returns the violations."""
    # group the socket I/O by connection and direction
    conns: dict[str, dict[str, list[Call]]] = {}
    for c in calls:
        if c.fd_desc.startswith(("TCP", "socket:", "UNIX")) and c.result is not None and c.result > 0:
            d = "in" if c.name in READS else "out" if c.name in WRITES else None
            if d:
                conns.setdefault(c.fd_desc, {"in": [], "out": []})[d].append(c)

    store_writes = [c for c in calls if c.name in WRITES and c.fd_desc.startswith(store) and c.result and c.result > 0]
    syncs = [c for c in calls if c.name in SYNCS and c.fd_desc.startswith(store) and c.result == 0]
    if not syncs:
        return [f"no successful fsync/fdatasync on files under {store} at all"]

    problems = []
    for mk in markers:
        req = None
        for desc, io in conns.items():
            for fr in split_frames(io["in"]):
                if mk in fr.raw:
                    req = (desc, fr)
                    break
            if req:
                break
        if req is None:
            problems.append(f"{mk.decode()}: request not found in the trace")
            continue
        desc, rq = req
        replies = [fr for fr in split_frames(conns[desc]["out"]) if fr.response_to == rq.request_id]
        if len(replies) != 1:
            problems.append(f"{mk.decode()}: {len(replies)} replies with responseTo={rq.request_id} on {desc}")
            continue
        rp = replies[0]
        if check_reply:
            doc = op_msg_doc(rp)
            if doc.get("ok") != 1 or doc.get("n") != 1:
                problems.append(f"{mk.decode()}: reply is not a successful insert: {doc}")
                continue
        received = rq.last_call.end_line
        sent = rp.first_call.start_line
        wal = [w for w in store_writes if mk in w.data and received < w.end_line < sent]
        if not wal:
            problems.append(
                f"{mk.decode()}: no write of the document to a file under {store} between the request "
                f"(t={rq.last_call.t_end:.6f}) and the reply (t={rp.first_call.t_start:.6f})"
            )
            continue
        w = wal[0]
        ok = [s for s in syncs if s.fd_desc == w.fd_desc and s.start_line > w.end_line and s.end_line < sent]
        if not ok:
            near = [f"{s.name}({s.fd_desc}) t={s.t_start:.6f}..{s.t_end:.6f}" for s in syncs if received < s.end_line][:3]
            problems.append(
                f"{mk.decode()}: reply sent at t={rp.first_call.t_start:.6f} with no fsync/fdatasync of "
                f"{w.fd_desc} between its write (t={w.t_end:.6f}) and the reply; next syncs: {near}"
            )
    return problems


def _ensure_strace() -> str:
    path = shutil.which("strace")
    if path is None:
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "strace"], capture_output=True, timeout=300)
        path = shutil.which("strace")
    if path is None:
        pytest.fail("strace is not installed and `apt-get install strace` failed")
    probe = subprocess.run([path, "-f", "-o", "/dev/null", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"strace cannot trace here: {probe.stderr.strip()}")
    return path


def test_every_acknowledged_insert_is_fsynced_before_its_reply(redhive, tmp_path):
    strace = _ensure_strace()
    trace = tmp_path / "trace.txt"
    redhive.stop()
    redhive.start(
        wrapper=[strace, "-f", "-ttt", "-yy", "-xx", "-s", "65536", "-e", f"trace={TRACE_SET}", "-o", str(trace)]
    )
    n = 20
    tag = uuid.uuid4().hex[:12]
    markers = [f"DURMARK-{tag}-{k:03d}".encode() for k in range(n)]
    try:
        c = redhive.tenant_client("r1")
        coll = c["r1"]["fsynced"]
        coll.insert_one({"_id": "warmup"})
        for k, mk in enumerate(markers):
            res = coll.insert_one({"_id": f"{tag}-{k}", "marker": mk.decode()})
            assert res.acknowledged
        c.close()
    finally:
        redhive.stop()  # SIGTERM to the server; strace writes its last lines and exits
    redhive.start()  # leave a normal server for anything after us

    calls = parse_strace(trace)
    assert calls, f"empty or unreadable trace {trace}"
    store = os.path.realpath(redhive.data_dir / "store") + "/"
    problems = sync_before_ack_problems(calls, store, markers)
    syncs = [c for c in calls if c.name in SYNCS and c.fd_desc.startswith(store) and c.result == 0]
    print(f"trace: {len(calls)} syscalls, {len(syncs)} successful syncs of store files, {n} inserts checked")
    assert not problems, f"{len(problems)} of {n} inserts violate sync-before-ack:\n" + "\n".join(problems[:10])
