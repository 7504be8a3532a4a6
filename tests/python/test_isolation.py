"""Tenant isolation: r1's credentials must give no access to r2, to the platform, or to admin.

What MongoDB 7.0 does, and so what is asserted (sources: mongodb/mongo src/mongo/db/commands,
`requiresAuth()` / `doCheckAuthorization()` of each command; listDatabases docs):

* Without authentication only these run: hello / isMaster / ismaster, ping, connectionStatus
  (reports no users), saslStart / saslContinue, and buildInfo (7.0 allows it pre-auth; 8.x made
  it configurable, so either a reply or Unauthorized is accepted). Everything else, including
  whatsmyuri and endSessions ("any authenticated user"), fails with Unauthorized (13).
* A readWrite@r1 user may run the no-privilege commands anywhere (ping, hello, isMaster, buildInfo,
  connectionStatus, whatsmyuri, endSessions). Every other command against r2, admin, config,
  local or a platform database fails with 13, including getMore/killCursors on r2's cursors,
  user management (even on r1: readWrite has no createUser/updateUser/dropUser/viewUser),
  getParameter/getCmdLineOpts/serverStatus/killAllSessions (cluster actions).
* listDatabases without the listDatabases action lists only the databases the user has privileges
  on (so never r2); with authorizedDatabases:false it fails with 13.

Beyond single commands: a third tenant "r10" (a name with r1 as prefix), collection and database
names that look like other namespaces or like the store's own tables, raw-wire tricks (duplicate
$db fields, OP_QUERY, document sequences, half-finished second logins), and a scan of everything
r1 and root can read for stored credentials (SCRAM StoredKey/ServerKey derived via saslStart).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

import bson
from bson.raw_bson import RawBSONDocument
import pytest
from pymongo.errors import InvalidName, OperationFailure

import wire
from redhive_server import parse_uri

R2_MARK = "r2-private-" + uuid.uuid4().hex
R1_MARK = "r1-own-" + uuid.uuid4().hex
EVIL = "evil-" + uuid.uuid4().hex[:8]

# Databases a tenant must never reach. The platform keeps its own data (instances, admins, audit,
# users/credentials) inside the same store; these are the names such data could be exposed under.
PLATFORM_DBS = [
    "admin",
    "config",
    "local",
    "redhive",
    "_redhive",
    "__redhive",
    "platform",
    "_platform",
    "__platform",
    "system",
    "__system",
    "__meta",
    "_internal",
    "__internal",
    # names of the platform's own polodb collections and names the appliance reserves
    "sys_catalog",
    "sys_meta",
    "sys_users",
    "sys_tenants",
    "registry",
    "manager",
    "api",
    "root",
]

# polodb collection names of the store (platform tables, and the opaque per-collection tables
# tenant data lives in): as *collection* names inside r1 they must be just empty r1 collections.
STORE_TABLE_NAMES = ["sys_catalog", "sys_meta", "sys_users", "sys_tenants"] + [f"c{i}" for i in range(8)] + [f"x{i}" for i in range(8)]

# --------------------------------------------------------------------------------- setup


def _canonical_r2_docs():
    return {
        "secrets": [{"_id": i, "mark": R2_MARK, "v": i, "token": f"tok-{i}"} for i in range(30)],
        "other": [{"_id": "o", "mark": R2_MARK}],
    }


@dataclass
class World:
    redhive: object
    r1c: object  # MongoClient as r1
    r2c: object  # MongoClient as r2
    rootc: object  # MongoClient as root
    noauth: object  # MongoClient without credentials


@pytest.fixture(scope="module")
def world(redhive):
    # a third tenant whose name starts with "r1": access checks must compare names, not prefixes
    redhive.stop()
    redhive.server.tenant_add("r10")
    redhive.start()
    w = World(
        redhive=redhive,
        r1c=redhive.tenant_client("r1"),
        r2c=redhive.tenant_client("r2"),
        rootc=redhive.root_client(),
        noauth=redhive.noauth_client(),
    )
    _seed(w)
    w.r1c["r1"]["mine"].insert_many([{"_id": i, "mark": R1_MARK} for i in range(5)])
    redhive.tenant_client("r10")["r10"]["data"].insert_one({"_id": 1, "mark": R2_MARK})
    return w


def _seed(w: World) -> None:
    db = w.r2c["r2"]
    for name in db.list_collection_names():
        db.drop_collection(name)
    for name, docs in _canonical_r2_docs().items():
        db[name].insert_many(docs)
    db["secrets"].create_index("v", unique=True, name="v_unique")


def _r2_snapshot(w: World) -> dict:
    """r2's state as r2 itself sees it, through a brand-new connection (so r2's credentials are
    re-checked every time)."""
    c = w.redhive.tenant_client("r2")
    try:
        db = c["r2"]
        cols = sorted(db.list_collection_names())
        data = {n: sorted(db[n].find(), key=lambda d: str(d["_id"])) for n in cols}
        idx = {n: sorted((i["name"], tuple(dict(i["key"]).items()), bool(i.get("unique"))) for i in db[n].list_indexes()) for n in cols}
        return {"collections": cols, "data": data, "indexes": idx}
    finally:
        c.close()


def _expected_snapshot() -> dict:
    docs = _canonical_r2_docs()
    cols = sorted(docs)
    return {
        "collections": cols,
        "data": {n: sorted(docs[n], key=lambda d: str(d["_id"])) for n in cols},
        "indexes": {
            "other": [("_id_", (("_id", 1),), False)],
            "secrets": sorted([("_id_", (("_id", 1),), False), ("v_unique", (("v", 1),), True)]),
        },
    }


@pytest.fixture
def r2_intact(world):
    """Before: r2 is in its canonical state (re-seeded if an earlier test broke it).
    After: r2 is still exactly that and can still log in."""
    expected = _expected_snapshot()
    if _r2_snapshot(world) != expected:
        _seed(world)
        assert _r2_snapshot(world) == expected, "could not restore r2's canonical state"
    yield
    after = _r2_snapshot(world)
    assert after == expected, "r2's data, collections or indexes changed"


def _open_r2_cursor(w: World) -> int:
    reply = w.r2c["r2"].command({"find": "secrets", "filter": {}, "sort": {"_id": 1}, "batchSize": 2})
    cid = reply["cursor"]["id"]
    assert cid != 0
    return cid


def _r2_cursor_still_works(w: World, cid: int) -> None:
    reply = w.r2c["r2"].command({"getMore": bson.Int64(cid), "collection": "secrets", "batchSize": 3})
    batch = reply["cursor"]["nextBatch"]
    assert [d["_id"] for d in batch] == [2, 3, 4], "r2's own cursor lost its position or data"
    w.r2c["r2"].command({"killCursors": "secrets", "cursors": [bson.Int64(cid)]})


def _no_leak(obj) -> None:
    text = repr(obj)
    assert R2_MARK not in text, f"r2's data leaked: {text[:500]}"
    assert "tok-1" not in text, f"r2's data leaked: {text[:500]}"


# ------------------------------------------------------------------ the attack catalogue


@dataclass
class Attack:
    id: str
    db: str
    cmd: Callable[[dict], dict]
    needs_cursor: bool = False


def _attacks() -> list[Attack]:
    c = lambda d: (lambda ctx: d)  # noqa: E731
    return [
        # CRUD and cursors on r2
        Attack("find", "r2", c({"find": "secrets", "filter": {}})),
        Attack("find-one-by-id", "r2", c({"find": "secrets", "filter": {"_id": 1}, "limit": 1, "singleBatch": True})),
        Attack("insert", "r2", c({"insert": "secrets", "documents": [{"_id": EVIL, "mark": "evil"}]})),
        Attack("insert-new-collection", "r2", c({"insert": EVIL, "documents": [{"x": 1}]})),
        Attack("update", "r2", c({"update": "secrets", "updates": [{"q": {}, "u": {"$set": {"pwned": True}}, "multi": True}]})),
        Attack("update-upsert", "r2", c({"update": "secrets", "updates": [{"q": {"_id": EVIL}, "u": {"$set": {"x": 1}}, "upsert": True}]})),
        Attack("delete", "r2", c({"delete": "secrets", "deletes": [{"q": {}, "limit": 0}]})),
        Attack("findAndModify-update", "r2", c({"findAndModify": "secrets", "query": {"_id": 1}, "update": {"$set": {"pwned": True}}, "new": True})),
        Attack("findAndModify-remove", "r2", c({"findAndModify": "secrets", "query": {"_id": 1}, "remove": True})),
        Attack("findAndModify-upsert", "r2", c({"findAndModify": "secrets", "query": {"_id": EVIL}, "update": {"$set": {"x": 1}}, "upsert": True})),
        Attack("count", "r2", c({"count": "secrets", "query": {}})),
        Attack("distinct", "r2", c({"distinct": "secrets", "key": "token"})),
        Attack("aggregate", "r2", c({"aggregate": "secrets", "pipeline": [{"$match": {}}], "cursor": {}})),
        Attack("aggregate-count", "r2", c({"aggregate": "secrets", "pipeline": [{"$group": {"_id": 1, "n": {"$sum": 1}}}], "cursor": {}})),
        Attack("getMore-r2-cursor", "r2", lambda ctx: {"getMore": bson.Int64(ctx["cursor"]), "collection": "secrets"}, needs_cursor=True),
        Attack("getMore-r2-cursor-via-r1-namespace", "r1", lambda ctx: {"getMore": bson.Int64(ctx["cursor"]), "collection": "secrets"}, needs_cursor=True),
        Attack("killCursors-r2-cursor", "r2", lambda ctx: {"killCursors": "secrets", "cursors": [bson.Int64(ctx["cursor"])]}, needs_cursor=True),
        # namespaces and indexes on r2
        Attack("listCollections", "r2", c({"listCollections": 1, "filter": {}, "cursor": {}})),
        Attack("listCollections-nameOnly", "r2", c({"listCollections": 1, "nameOnly": True, "authorizedCollections": True, "cursor": {}})),
        Attack("create", "r2", c({"create": EVIL})),
        Attack("drop", "r2", c({"drop": "secrets"})),
        Attack("dropDatabase", "r2", c({"dropDatabase": 1})),
        Attack("createIndexes", "r2", c({"createIndexes": "secrets", "indexes": [{"key": {"token": 1}, "name": "evil_idx"}]})),
        Attack("createIndexes-unique-dos", "r2", c({"createIndexes": "other", "indexes": [{"key": {"mark": 1}, "name": "evil_uq", "unique": True}]})),
        Attack("listIndexes", "r2", c({"listIndexes": "secrets", "cursor": {}})),
        Attack("dropIndexes", "r2", c({"dropIndexes": "secrets", "index": "*"})),
        Attack("dropIndexes-by-name", "r2", c({"dropIndexes": "secrets", "index": "v_unique"})),
        # user management (readWrite has none of these actions, not even on r1)
        Attack("createUser-in-r2", "r2", c({"createUser": EVIL, "pwd": "evil-pass", "roles": ["readWrite"]})),
        Attack("dropUser-r2", "r2", c({"dropUser": "r2"})),
        Attack("updateUser-r2-password", "r2", c({"updateUser": "r2", "pwd": "hijacked-pass"})),
        Attack("usersInfo-r2", "r2", c({"usersInfo": 1})),
        Attack("usersInfo-r2-user-from-r1", "r1", c({"usersInfo": {"user": "r2", "db": "r2"}})),
        Attack("usersInfo-forAllDBs", "admin", c({"usersInfo": {"forAllDBs": True}})),
        Attack("createUser-in-r1-with-r2-role", "r1", c({"createUser": EVIL, "pwd": "evil-pass", "roles": [{"role": "readWrite", "db": "r2"}]})),
        Attack("createUser-in-r1", "r1", c({"createUser": EVIL, "pwd": "evil-pass", "roles": ["readWrite"]})),
        Attack("updateUser-self-grant-r2", "r1", c({"updateUser": "r1", "roles": [{"role": "readWrite", "db": "r2"}]})),
        Attack("createUser-admin-root", "admin", c({"createUser": EVIL, "pwd": "evil-pass", "roles": ["root"]})),
        Attack("dropUser-root", "admin", c({"dropUser": "root"})),
        Attack("updateUser-root", "admin", c({"updateUser": "root", "pwd": "hijacked-pass"})),
        # cluster-level commands
        Attack("listDatabases-authorizedDatabases-false", "admin", c({"listDatabases": 1, "authorizedDatabases": False})),
        Attack("getParameter", "admin", c({"getParameter": "*"})),
        Attack("getCmdLineOpts", "admin", c({"getCmdLineOpts": 1})),
        Attack("serverStatus", "admin", c({"serverStatus": 1})),
        Attack("killAllSessions", "admin", c({"killAllSessions": []})),
        Attack("dropDatabase-admin", "admin", c({"dropDatabase": 1})),
        # r2 under a different spelling must not be r1's either
        Attack("find-R2-uppercase", "R2", c({"find": "secrets", "filter": {}})),
    ]


ATTACKS = _attacks()

# Commands MongoDB lets any authenticated user run whatever the database.
NO_PRIVILEGE = [
    ("ping", {"ping": 1}),
    ("hello", {"hello": 1}),
    ("isMaster", {"isMaster": 1}),
    ("ismaster", {"ismaster": 1}),
    ("buildInfo", {"buildInfo": 1}),
    ("connectionStatus", {"connectionStatus": 1}),
    ("whatsmyuri", {"whatsmyuri": 1}),
    ("endSessions", {"endSessions": []}),
]


def _run(client, db: str, cmd: dict):
    return client[db].command(cmd)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
def test_r1_is_unauthorized_on_r2_and_admin(world, r2_intact, attack):
    ctx = {}
    if attack.needs_cursor:
        ctx["cursor"] = _open_r2_cursor(world)
    cmd = attack.cmd(ctx)
    try:
        reply = _run(world.r1c, attack.db, cmd)
    except OperationFailure as e:
        _no_leak(e.details)
        assert e.code == 13, f"{cmd} on {attack.db!r} as r1: expected Unauthorized (13), got {e.code}: {e.details}"
    else:
        _no_leak(reply)
        pytest.fail(f"{cmd} on {attack.db!r} as r1 succeeded: {reply}")
    if attack.needs_cursor:
        _r2_cursor_still_works(world, ctx["cursor"])
    # a user that an attack tried to create must not be able to log in anywhere
    if "createUser" in cmd:
        for db in ("r1", "r2", "admin"):
            _assert_login_fails(world.redhive, EVIL, "evil-pass", db)


def _assert_login_fails(redhive, user: str, pwd: str, auth_db: str) -> None:
    uri = f"mongodb://{user}:{pwd}@127.0.0.1:{redhive.mongo_port}/{auth_db}?authSource={auth_db}"
    c = redhive.client(uri)
    try:
        with pytest.raises(OperationFailure) as ei:
            c[auth_db].command("ping")
        assert ei.value.code == 18, f"login {user}@{auth_db}: expected AuthenticationFailed (18), got {ei.value}"
    finally:
        c.close()


@pytest.mark.parametrize(
    "cmd",
    [
        {"find": "data", "filter": {}},
        {"insert": "data", "documents": [{"_id": EVIL}]},
        {"listCollections": 1, "cursor": {}},
        {"drop": "data"},
        {"count": "data"},
    ],
    ids=["find", "insert", "listCollections", "drop", "count"],
)
def test_r1_cannot_reach_tenant_with_prefixed_name(world, cmd):
    with pytest.raises(OperationFailure) as ei:
        world.r1c["r10"].command(cmd)
    _no_leak(ei.value.details)
    assert ei.value.code == 13, ei.value.details
    r10 = world.redhive.tenant_client("r10")["r10"]
    assert list(r10["data"].find()) == [{"_id": 1, "mark": R2_MARK}]


def test_r1_credentials_unchanged_and_r2_login_still_works(world, r2_intact):
    """After all the user-management attacks, r1 still has exactly readWrite@r1 and r2/root still log in."""
    st = world.redhive.tenant_client("r1")["r1"].command("connectionStatus", showPrivileges=True)
    info = st["authInfo"]
    assert info["authenticatedUsers"] == [{"user": "r1", "db": "r1"}]
    roles = [(r["role"], r["db"]) for r in info.get("authenticatedUserRoles", [])]
    assert all(db == "r1" for _, db in roles), f"r1 gained roles outside r1: {roles}"
    assert world.redhive.tenant_client("r2")["r2"].command("ping")["ok"] == 1
    assert world.redhive.root_client().admin.command("ping")["ok"] == 1
    with pytest.raises(OperationFailure) as ei:
        world.redhive.tenant_client("r1")["r2"]["secrets"].find_one()
    assert ei.value.code == 13


@pytest.mark.parametrize("name,cmd", NO_PRIVILEGE, ids=[n for n, _ in NO_PRIVILEGE])
def test_r1_no_privilege_commands_on_r2_reveal_nothing(world, r2_intact, name, cmd):
    reply = _run(world.r1c, "r2", cmd)
    assert reply["ok"] == 1.0
    _no_leak(reply)
    if name == "connectionStatus":
        assert reply["authInfo"]["authenticatedUsers"] == [{"user": "r1", "db": "r1"}]


def test_r1_list_databases_shows_only_r1(world, r2_intact):
    for cmd in ({"listDatabases": 1}, {"listDatabases": 1, "nameOnly": True}, {"listDatabases": 1, "filter": {"name": "r2"}}):
        try:
            reply = world.r1c.admin.command(cmd)
        except OperationFailure as e:
            assert e.code == 13, f"{cmd}: {e}"
            continue
        names = {d["name"] for d in reply["databases"]}
        assert names <= {"r1"}, f"{cmd} as r1 listed {names}"
        _no_leak(reply)
    try:
        assert world.r1c.list_database_names() in (["r1"], [])
    except OperationFailure as e:
        assert e.code == 13


def test_r1_collection_names_cannot_reach_r2(world, r2_intact):
    """Collection names that look like other namespaces stay inside r1."""
    db = world.r1c["r1"]
    for name in ("r2.secrets", "r2/secrets", "../r2/secrets", "r2:secrets", "r2\\secrets", "r2_secrets", "secrets"):
        try:
            docs = list(db[name].find())
        except InvalidName:
            continue  # pymongo refuses the name client-side
        except OperationFailure as e:
            _no_leak(e.details)
            continue
        _no_leak(docs)
        assert docs == [], f"r1.{name} returned {docs[:3]}"
    db["r2.secrets"].insert_one({"_id": EVIL, "mark": "evil"})
    assert db["r2.secrets"].find_one({"_id": EVIL}) is not None
    db.drop_collection("r2.secrets")


@pytest.mark.parametrize("who", ["r1", "root"])
def test_store_table_names_are_plain_empty_collections(world, who):
    """A collection named like one of the store's own tables shows nothing of the platform or
    of another tenant."""
    client = world.r1c if who == "r1" else world.rootc
    db = client["r1"]
    existing = set(db.list_collection_names())
    for name in STORE_TABLE_NAMES:
        if name in existing:
            continue
        docs = list(db[name].find())
        assert docs == [], f"{who}: r1.{name} (never created) returned {docs[:3]}"


def _raw_root_socket(world):
    p = parse_uri(world.redhive.root_uri)
    s = wire.connect(world.redhive.mongo_port)
    reply = wire.scram_auth(s, p["user"], p["password"], p["options"].get("authSource", "admin"))
    assert reply.get("ok") == 1 and reply.get("done"), reply
    return s


@pytest.mark.parametrize("who", ["r1", "root"])
def test_database_names_with_dots_cannot_alias_namespaces(world, r2_intact, who):
    """Namespaces are "db.collection": a database called "r1.x" (illegal in MongoDB, code 73)
    must not create, or read, collection "x.c" of r1 (nor "r2.x" reach r2's "x.c")."""
    s = _r1_raw_socket(world) if who == "r1" else _raw_root_socket(world)
    try:
        for db in ("r1.x", "r2.x"):
            reply = wire.command(s, {"insert": "c", "documents": [{"_id": EVIL, "mark": "dotted"}], "$db": db})
            assert reply.get("ok") == 0, f"{who}: insert into database {db!r} succeeded: {reply}"
            reply = wire.command(s, {"find": "c", "filter": {}, "$db": db})
            _no_leak(reply)
            assert reply.get("ok") == 0, f"{who}: find in database {db!r} succeeded: {reply}"
    finally:
        s.close()
    assert "x.c" not in world.r1c["r1"].list_collection_names()
    assert "x.c" not in world.r2c["r2"].list_collection_names()


def test_r1_cannot_authenticate_elsewhere(world):
    """r1's secret only works for user r1 in r1."""
    r = world.redhive
    secret = parse_uri(r.tenant_uri("r1"))["password"]
    for user, db in (("r1", "r2"), ("r2", "r2"), ("r1", "admin"), ("root", "admin"), ("r2", "r1")):
        _assert_login_fails(r, user, secret, db)


# ------------------------------------------------------------ raw wire tricks as r1


def _r1_raw_socket(world):
    p = parse_uri(world.redhive.tenant_uri("r1"))
    s = wire.connect(world.redhive.mongo_port)
    reply = wire.scram_auth(s, "r1", p["password"], "r1")
    assert reply.get("ok") == 1 and reply.get("done"), reply
    return s


@pytest.fixture
def r1_sock(world):
    s = _r1_raw_socket(world)
    yield s
    s.close()


def _raw_reply_or_closed(sock, frame: bytes):
    sock.sendall(frame)
    try:
        return wire.read_reply(sock)[3]
    except wire.Closed:
        return None


@pytest.mark.parametrize(
    "pairs",
    [
        [("find", "secrets"), ("filter", {}), ("$db", "r1"), ("$db", "r2")],
        [("find", "secrets"), ("filter", {}), ("$db", "r2"), ("$db", "r1")],
        [("insert", "secrets"), ("documents", [{"_id": EVIL}]), ("$db", "r1"), ("$db", "r2")],
        [("delete", "secrets"), ("deletes", [{"q": {}, "limit": 0}]), ("$db", "r1"), ("$db", "r2")],
        [("find", "secrets"), ("find", "secrets"), ("$db", "r2")],
    ],
    ids=["find-dup-db-r1-r2", "find-dup-db-r2-r1", "insert-dup-db", "delete-dup-db", "dup-cmd-db-r2"],
)
def test_duplicate_db_fields_do_not_reach_r2(world, r2_intact, r1_sock, pairs):
    reply = _raw_reply_or_closed(r1_sock, wire.op_msg(wire.raw_doc(pairs)))
    _no_leak(reply)
    if reply is not None and reply.get("ok") == 1 and "cursor" in reply:
        assert reply["cursor"]["firstBatch"] == [] or all(R2_MARK not in repr(d) for d in reply["cursor"]["firstBatch"])
    world.r1c["r1"].drop_collection("secrets")


@pytest.mark.parametrize("step", ["saslStart-only", "saslContinue-bad-proof"])
def test_half_finished_second_login_grants_nothing(world, r2_intact, r1_sock, step):
    """An r1 connection that starts (and does not finish) a SCRAM conversation as r2 must not
    gain r2's rights."""
    reply, _, fields, _ = wire.sasl_start(r1_sock, "r2", "r2")
    if step == "saslContinue-bad-proof" and reply.get("ok") == 1:
        bad = wire.command(
            r1_sock,
            {"saslContinue": 1, "conversationId": reply["conversationId"], "payload": bson.Binary(b"c=biws,r=" + fields["r"].encode() + b",p=AAAA"), "$db": "r2"},
        )
        assert bad.get("ok") == 0, bad
    for cmd in ({"find": "secrets", "filter": {}, "$db": "r2"}, {"insert": "secrets", "documents": [{"_id": EVIL}], "$db": "r2"}):
        got = wire.command(r1_sock, cmd)
        _no_leak(got)
        assert got.get("ok") == 0 and got.get("code") == 13, f"{cmd} after a half-done r2 login: {got}"


def test_unauthenticated_sasl_start_alone_grants_nothing(world, r2_intact):
    s = wire.connect(world.redhive.mongo_port)
    try:
        reply, _, _, _ = wire.sasl_start(s, "r2", "r2")
        assert reply.get("ok") == 1, reply
        got = wire.command(s, {"find": "secrets", "filter": {}, "$db": "r2"})
        _no_leak(got)
        assert got.get("ok") == 0 and got.get("code") == 13, got
    finally:
        s.close()


def test_op_query_cannot_reach_r2(world, r2_intact):
    """Legacy OP_QUERY (only hello/isMaster/sasl are meaningful) must not run r2 commands."""
    for frame in (
        wire.op_query("r2.$cmd", {"find": "secrets", "filter": {}}),
        wire.op_query("r2.secrets", {}, n_return=100),
        wire.op_query("r2.$cmd", {"insert": "secrets", "documents": [{"_id": EVIL}]}),
        wire.op_query("r2.$cmd", {"dropDatabase": 1}),
    ):
        s = _r1_raw_socket(world)
        try:
            reply = _raw_reply_or_closed(s, frame)
        finally:
            s.close()
        _no_leak(reply)
        if reply is not None:
            assert reply.get("ok") != 1 or "$err" in reply, f"OP_QUERY was executed: {reply}"


def test_op_msg_document_sequence_has_no_db_escape(world, r2_intact, r1_sock):
    """A kind-1 'documents' sequence on an insert to r1 lands in r1, never in r2."""
    frame = wire.op_msg({"insert": "seqprobe", "$db": "r1"}, sequences=[("documents", [{"_id": 1, "$db": "r2"}])])
    reply = _raw_reply_or_closed(r1_sock, frame)
    _no_leak(reply)
    world.r1c["r1"].drop_collection("seqprobe")


# ----------------------------------------------------------------- unauthenticated


UNAUTH_ALLOWED = [
    ("hello", "admin", {"hello": 1}),
    ("isMaster", "admin", {"isMaster": 1}),
    ("ismaster", "r2", {"ismaster": 1}),
    ("ping", "admin", {"ping": 1}),
    ("ping-r2", "r2", {"ping": 1}),
]

UNAUTH_DENIED = [
    ("whatsmyuri", "admin", {"whatsmyuri": 1}),
    ("endSessions", "admin", {"endSessions": []}),
    ("getParameter", "admin", {"getParameter": "*"}),
    ("getCmdLineOpts", "admin", {"getCmdLineOpts": 1}),
    ("serverStatus", "admin", {"serverStatus": 1}),
    ("killAllSessions", "admin", {"killAllSessions": []}),
    ("listDatabases", "admin", {"listDatabases": 1}),
    ("listDatabases-nameOnly", "admin", {"listDatabases": 1, "nameOnly": True}),
    ("listCollections", "r2", {"listCollections": 1, "cursor": {}}),
    ("create", "r2", {"create": EVIL}),
    ("drop", "r2", {"drop": "secrets"}),
    ("dropDatabase", "r2", {"dropDatabase": 1}),
    ("createIndexes", "r2", {"createIndexes": "secrets", "indexes": [{"key": {"token": 1}, "name": "evil_idx"}]}),
    ("listIndexes", "r2", {"listIndexes": "secrets", "cursor": {}}),
    ("dropIndexes", "r2", {"dropIndexes": "secrets", "index": "*"}),
    ("find", "r2", {"find": "secrets", "filter": {}}),
    ("insert", "r2", {"insert": "secrets", "documents": [{"_id": EVIL}]}),
    ("update", "r2", {"update": "secrets", "updates": [{"q": {}, "u": {"$set": {"pwned": True}}, "multi": True}]}),
    ("delete", "r2", {"delete": "secrets", "deletes": [{"q": {}, "limit": 0}]}),
    ("findAndModify", "r2", {"findAndModify": "secrets", "query": {}, "remove": True}),
    ("count", "r2", {"count": "secrets"}),
    ("distinct", "r2", {"distinct": "secrets", "key": "token"}),
    ("aggregate", "r2", {"aggregate": "secrets", "pipeline": [], "cursor": {}}),
    ("getMore", "r2", "CURSOR-getMore"),
    ("killCursors", "r2", "CURSOR-killCursors"),
    ("createUser", "admin", {"createUser": EVIL, "pwd": "evil-pass", "roles": ["root"]}),
    ("dropUser", "r2", {"dropUser": "r2"}),
    ("updateUser", "r2", {"updateUser": "r2", "pwd": "hijacked-pass"}),
    ("usersInfo", "r2", {"usersInfo": 1}),
    ("usersInfo-admin", "admin", {"usersInfo": 1}),
    ("find-admin", "admin", {"find": "system.users", "filter": {}}),
]


@pytest.mark.parametrize("name,db,cmd", UNAUTH_ALLOWED, ids=[x[0] for x in UNAUTH_ALLOWED])
def test_unauthenticated_allowed(world, name, db, cmd):
    reply = world.noauth[db].command(cmd)
    assert reply["ok"] == 1.0
    _no_leak(reply)


def test_unauthenticated_connection_status_and_build_info(world):
    st = world.noauth.admin.command("connectionStatus")
    assert st["authInfo"]["authenticatedUsers"] == []
    try:
        bi = world.noauth.admin.command("buildInfo")
    except OperationFailure as e:  # MongoDB >= 8 may require auth for buildInfo
        assert e.code == 13
    else:
        assert isinstance(bi.get("version"), str)
        _no_leak(bi)


def test_unauthenticated_sasl_is_allowed(world):
    s = wire.connect(world.redhive.mongo_port)
    try:
        reply, _, fields, nonce = wire.sasl_start(s, "r1", "r1")
        assert reply.get("ok") == 1, reply
        assert reply.get("done") is False
        assert fields["r"].startswith(nonce) and "s" in fields and int(fields["i"]) >= 4096
        bad = wire.command(
            s,
            {"saslContinue": 1, "conversationId": reply["conversationId"], "payload": bson.Binary(b"c=biws,r=" + fields["r"].encode() + b",p=AAAA"), "$db": "r1"},
        )
        assert bad.get("ok") == 0 and bad.get("code") == 18, bad
        # and still unauthenticated afterwards
        denied = wire.command(s, {"find": "mine", "$db": "r1"})
        assert denied.get("ok") == 0 and denied.get("code") == 13, denied
    finally:
        s.close()


@pytest.mark.parametrize("name,db,cmd", UNAUTH_DENIED, ids=[x[0] for x in UNAUTH_DENIED])
def test_unauthenticated_denied(world, r2_intact, name, db, cmd):
    cid = None
    if isinstance(cmd, str):
        cid = _open_r2_cursor(world)
        if cmd.endswith("getMore"):
            cmd = {"getMore": bson.Int64(cid), "collection": "secrets"}
        else:
            cmd = {"killCursors": "secrets", "cursors": [bson.Int64(cid)]}
    try:
        reply = world.noauth[db].command(cmd)
    except OperationFailure as e:
        _no_leak(e.details)
        assert e.code == 13, f"unauthenticated {cmd} on {db!r}: expected 13, got {e.code}: {e.details}"
    else:
        _no_leak(reply)
        pytest.fail(f"unauthenticated {cmd} on {db!r} succeeded: {reply}")
    if cid is not None:
        _r2_cursor_still_works(world, cid)


def test_unauthenticated_op_query_runs_nothing(world, r2_intact):
    s = wire.connect(world.redhive.mongo_port)
    try:
        reply = _raw_reply_or_closed(s, wire.op_query("r2.$cmd", {"find": "secrets", "filter": {}}))
        _no_leak(reply)
        if reply is not None:
            assert reply.get("ok") != 1 or "$err" in reply, reply
    finally:
        s.close()


# ------------------------------------------------------------------ platform internals


@pytest.mark.parametrize("db", PLATFORM_DBS)
def test_r1_cannot_read_platform_databases(world, db):
    for cmd in ({"listCollections": 1, "cursor": {}}, {"find": "system.users", "filter": {}}, {"find": "instances", "filter": {}}):
        with pytest.raises(OperationFailure) as ei:
            world.r1c[db].command(cmd)
        assert ei.value.code == 13, f"{cmd} on {db} as r1: {ei.value.details}"


def _credential_needles(world) -> dict[str, bytes]:
    """Secrets of r1, r2 and root, and their SCRAM StoredKey/ServerKey (as a MongoDB server would
    store them), in raw and base64 form. None may ever appear in data a client can read."""
    out: dict[str, bytes] = {}
    who = {
        "r1": (world.redhive.tenant_uri("r1"), "r1"),
        "r2": (world.redhive.tenant_uri("r2"), "r2"),
        "root": (world.redhive.root_uri, "admin"),
    }
    for name, (uri, db) in who.items():
        p = parse_uri(uri)
        out[f"{name}-secret"] = p["password"].encode()
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
            s = wire.connect(world.redhive.mongo_port)
            try:
                reply, _, f, _ = wire.sasl_start(s, p["user"], db, mech)
            finally:
                s.close()
            if reply.get("ok") != 1:
                continue
            salt = base64.b64decode(f["s"])
            _, _, stored, server = wire.scram_keys(p["password"], salt, int(f["i"]), mech, p["user"])
            for kname, k in (("stored", stored), ("server", server)):
                out[f"{name}-{mech}-{kname}"] = k
                out[f"{name}-{mech}-{kname}-b64"] = base64.b64encode(k)
    return out


def _readable_dump(client, dbs: list[str]) -> list[tuple[str, str, bytes]]:
    """Everything `client` can read: (db, collection, raw BSON) for each document."""
    out = []
    for db in dbs:
        try:
            names = client[db].list_collection_names()
        except OperationFailure:
            continue
        for coll in names:
            try:
                raw = client[db].get_collection(coll, codec_options=bson.CodecOptions(document_class=RawBSONDocument))
                for d in raw.find():
                    out.append((db, coll, bytes(d.raw)))
            except OperationFailure:
                continue
    return out


def test_root_sees_no_platform_databases(world):
    names = set(world.rootc.list_database_names())
    allowed = {"r1", "r2", "r10", "admin", "config", "local"}
    assert {"r1", "r2", "r10"} <= names, f"root does not see the tenant databases: {names}"
    assert names <= allowed, f"root sees databases that are not tenants: {names - allowed}"


def test_root_cannot_read_credentials_or_platform_data(world):
    needles = _credential_needles(world)
    assert any(k.endswith("-stored") for k in needles), "could not derive any SCRAM key via saslStart"
    dbs = sorted(set(world.rootc.list_database_names()) | set(PLATFORM_DBS))
    dump = _readable_dump(world.rootc, dbs)
    assert any(db == "r2" for db, _, _ in dump), "root could not read tenant data at all"
    for db, coll, raw in dump:
        for label, needle in needles.items():
            assert needle not in raw, f"root can read {label} in {db}.{coll}"
    # root manages tenant users through usersInfo, which never shows credentials by default
    info = world.rootc["r2"].command("usersInfo")
    assert [u["user"] for u in info["users"]] == ["r2"]
    assert all("credentials" not in u for u in info["users"])
    blob = bson.encode(info)
    for label, needle in needles.items():
        assert needle not in blob, f"usersInfo reveals {label}"


def test_r1_readable_data_is_only_r1(world):
    needles = _credential_needles(world)
    dump = _readable_dump(world.r1c, sorted({"r1", "r2", "r10"} | set(PLATFORM_DBS)))
    assert dump, "r1 cannot read its own data"
    assert {db for db, _, _ in dump} == {"r1"}
    for db, coll, raw in dump:
        assert R2_MARK.encode() not in raw
        for label, needle in needles.items():
            assert needle not in raw, f"r1 can read {label} in {db}.{coll}"
