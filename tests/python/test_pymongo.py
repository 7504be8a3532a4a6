"""CRUD through the real pymongo 4 driver, as tenant r1.

Every expectation here is what a real MongoDB 7.0 server answers to the same calls.
"""

from __future__ import annotations

import datetime
import random
import re
import threading

import pytest
from bson import Binary, Int64, MaxKey, MinKey, ObjectId, Regex
from pymongo import ASCENDING, DESCENDING, ReturnDocument, monitoring
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError, OperationFailure

from redhive_server import parse_uri


class CommandLog(monitoring.CommandListener):
    """Records the commands pymongo sends and the replies it gets."""

    def __init__(self) -> None:
        self.started_events: list[monitoring.CommandStartedEvent] = []
        self.succeeded_events: list[monitoring.CommandSucceededEvent] = []
        self._lock = threading.Lock()

    def started(self, event) -> None:
        with self._lock:
            self.started_events.append(event)

    def succeeded(self, event) -> None:
        with self._lock:
            self.succeeded_events.append(event)

    def failed(self, event) -> None:
        pass

    def names(self) -> list[str]:
        return [e.command_name for e in self.started_events]

    def clear(self) -> None:
        with self._lock:
            self.started_events.clear()
            self.succeeded_events.clear()


@pytest.fixture
def coll(r1, request):
    """A fresh collection in r1, named after the test."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    r1.drop_collection(name)
    c = r1[name]
    yield c
    r1.drop_collection(name)


# --------------------------------------------------------------------------------- basics


def test_tenant_uri_shape(redhive):
    """`tenant add` printed a usable URI for its own database and auth source."""
    for t in ("r1", "r2"):
        p = parse_uri(redhive.tenant_uri(t))
        assert p["user"] == t
        assert p["db"] == t
        assert p["options"].get("authSource") == t
        assert p["host"] == "127.0.0.1" and p["port"] == redhive.mongo_port
        assert len(p["password"]) >= 16, "tenant secret looks too short to be random"
    assert parse_uri(redhive.tenant_uri("r1"))["password"] != parse_uri(redhive.tenant_uri("r2"))["password"]


def test_root_uri_shape(redhive):
    p = parse_uri(redhive.root_uri)
    assert p["user"] == "root"
    assert p["options"].get("authSource", p["db"]) == "admin"
    assert p["port"] == redhive.mongo_port
    c = redhive.root_client()
    status = c.admin.command("connectionStatus")
    users = status["authInfo"]["authenticatedUsers"]
    assert {"user": "root", "db": "admin"} in users


def test_wrong_password_is_authentication_failed(redhive):
    bad = f"mongodb://r1:not-the-secret@127.0.0.1:{redhive.mongo_port}/r1?authSource=r1"
    c = redhive.client(bad)
    with pytest.raises(OperationFailure) as ei:
        c["r1"].command("ping")
    assert ei.value.code == 18


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_both_scram_mechanisms(redhive, mech):
    c = redhive.client(redhive.tenant_uri("r1") + f"&authMechanism={mech}")
    assert c["r1"].command("ping")["ok"] == 1.0
    c["r1"]["mech_probe"].insert_one({"m": mech})
    assert c["r1"]["mech_probe"].count_documents({"m": mech}) >= 1


def test_crud_roundtrip(coll):
    res = coll.insert_one({"name": "alice", "age": 30, "tags": ["a", "b"]})
    assert isinstance(res.inserted_id, ObjectId)
    doc = coll.find_one({"_id": res.inserted_id})
    assert doc == {"_id": res.inserted_id, "name": "alice", "age": 30, "tags": ["a", "b"]}

    many = coll.insert_many([{"_id": i, "name": f"n{i}", "age": 20 + i} for i in range(1, 6)])
    assert many.inserted_ids == [1, 2, 3, 4, 5]
    assert coll.count_documents({}) == 6

    up = coll.update_one({"name": "alice"}, {"$set": {"age": 31}, "$push": {"tags": "c"}})
    assert (up.matched_count, up.modified_count) == (1, 1)
    assert coll.find_one({"name": "alice"}, {"_id": 0}) == {"name": "alice", "age": 31, "tags": ["a", "b", "c"]}

    noop = coll.update_one({"name": "alice"}, {"$set": {"age": 31}})
    assert (noop.matched_count, noop.modified_count) == (1, 0)

    um = coll.update_many({"age": {"$gte": 23}}, {"$inc": {"age": 100}})
    assert um.matched_count == 4  # 23, 24, 25 and alice's 31
    assert sorted(d["age"] for d in coll.find({"age": {"$gt": 100}})) == [123, 124, 125, 131]

    rep = coll.replace_one({"_id": 1}, {"name": "replaced"})
    assert (rep.matched_count, rep.modified_count) == (1, 1)
    assert coll.find_one({"_id": 1}) == {"_id": 1, "name": "replaced"}

    ups = coll.update_one({"_id": 99}, {"$set": {"x": 1}}, upsert=True)
    assert ups.upserted_id == 99 and ups.matched_count == 0
    assert coll.find_one({"_id": 99}) == {"_id": 99, "x": 1}

    d1 = coll.delete_one({"age": {"$gt": 100}})
    assert d1.deleted_count == 1
    dm = coll.delete_many({"age": {"$gt": 100}})
    assert dm.deleted_count == 3
    assert sorted(d["_id"] for d in coll.find({}, {"_id": 1})) == [1, 2, 99]
    assert coll.count_documents({}) == 3
    assert coll.estimated_document_count() == 3

    # _id is immutable (MongoDB: code 66 ImmutableField)
    with pytest.raises(OperationFailure) as ei:
        coll.update_one({"_id": 2}, {"$set": {"_id": 3}})
    assert ei.value.code == 66
    assert coll.find_one({"_id": 2})["name"] == "n2"


def test_update_operators(coll):
    coll.insert_one({"_id": 1, "a": 1, "b": {"c": 1}, "arr": [1, 2, 3, 2], "gone": True})
    coll.update_one(
        {"_id": 1},
        {
            "$inc": {"a": 2, "b.c": 5},
            "$unset": {"gone": ""},
            "$set": {"b.d": "x", "new": [1, 2]},
            "$addToSet": {"arr": 4},
        },
    )
    assert coll.find_one({"_id": 1}) == {"_id": 1, "a": 3, "b": {"c": 6, "d": "x"}, "arr": [1, 2, 3, 2, 4], "new": [1, 2]}
    coll.update_one({"_id": 1}, {"$pull": {"arr": 2, "new": 1}, "$mul": {"a": 2}, "$rename": {"b": "bb"}})
    assert coll.find_one({"_id": 1}) == {"_id": 1, "a": 6, "bb": {"c": 6, "d": "x"}, "arr": [1, 3, 4], "new": [2]}
    # two operators on one path conflict (MongoDB: code 40 ConflictingUpdateOperators)
    with pytest.raises(OperationFailure) as ei:
        coll.update_one({"_id": 1}, {"$set": {"a": 1}, "$inc": {"a": 1}})
    assert ei.value.code == 40
    assert coll.find_one({"_id": 1})["a"] == 6


def test_concurrent_increments_are_not_lost(redhive, coll):
    """Four clients each $inc the same document 100 times: 400 in the end (no lost update)."""
    coll.insert_one({"_id": "counter", "n": 0})
    errors: list[BaseException] = []

    def worker():
        try:
            c = redhive.tenant_client("r1")[coll.database.name][coll.name]
            for _ in range(100):
                coll_res = c.update_one({"_id": "counter"}, {"$inc": {"n": 1}})
                assert coll_res.modified_count == 1
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert coll.find_one({"_id": "counter"})["n"] == 400


def test_bson_types_roundtrip(coll):
    """Every value comes back exactly as stored (type and value)."""
    import uuid as uuidlib

    from bson import Code, Decimal128, Timestamp
    from bson.binary import UuidRepresentation
    from bson.codec_options import CodecOptions

    c = coll.with_options(codec_options=CodecOptions(uuid_representation=UuidRepresentation.STANDARD))
    doc = {
        "_id": "types",
        "int32": 7,
        "int64": Int64(2**40 + 3),
        "int64_small": Int64(5),
        "double": 3.25,
        "neg_zero": -0.0,
        "big": 1.7976931348623157e308,
        "dec": Decimal128("12345.6789000"),
        "str": "héllo wörld ✓ 🐝",
        "empty": "",
        "bool": False,
        "null": None,
        "date": datetime.datetime(2021, 5, 6, 7, 8, 9, 123000),
        "oid": ObjectId("64b7f3a2e4b0c1d2e3f4a5b6"),
        "bin": b"\x00\x01\xff" * 10,  # subtype 0 decodes to bytes
        "bin_custom": Binary(b"abc", 0x80),
        "uuid": uuidlib.UUID("12345678-1234-5678-1234-567812345678"),
        "regex": Regex("^a.*z$", "im"),
        "ts": Timestamp(1700000000, 7),
        "code": Code("function () { return 1; }"),
        "minkey": MinKey(),
        "maxkey": MaxKey(),
        "arr": [1, "two", [3, [4]], {"five": 5}, None],
        "nested": {"a": {"b": {"c": [{"d": 1}]}}},
        "ünïcode kéy": 1,
    }
    c.insert_one(doc)
    back = c.find_one({"_id": "types"})
    assert back == doc
    for k, v in doc.items():
        assert type(back[k]) is type(v), f"{k}: stored {type(v).__name__}, got {type(back[k]).__name__}"
    assert str(back["neg_zero"]) == "-0.0"
    assert list(back.keys()) == list(doc.keys()), "field order changed"


def test_large_document_roundtrip(coll):
    """A 10 MB document (Node-RED flows can be large) is stored and read back intact; one over
    the 16 MB BSON limit is refused."""
    from pymongo.errors import DocumentTooLarge

    big = "x" * (10 * 1024 * 1024)
    coll.insert_one({"_id": "big", "blob": big, "tail": 1})
    back = coll.find_one({"_id": "big"})
    assert back["tail"] == 1 and back["blob"] == big
    with pytest.raises((DocumentTooLarge, OperationFailure)):
        coll.insert_one({"_id": "too-big", "blob": "y" * (17 * 1024 * 1024)})
    assert coll.find_one({"_id": "too-big"}) is None


# ------------------------------------------------------------------------------- cursors


def test_cursor_250_docs_uses_getmore_in_sort_order(redhive, r1):
    log = CommandLog()
    client = redhive.tenant_client("r1", event_listeners=[log])
    coll = client["r1"]["cursor250"]
    coll.drop()
    values = list(range(250))
    random.Random(7).shuffle(values)
    coll.insert_many([{"_id": f"id{v:03d}", "n": v, "pad": "x" * 50} for v in values])
    log.clear()

    seen = [d["n"] for d in coll.find({}, {"n": 1}).sort("n", ASCENDING)]
    assert seen == list(range(250))

    find_ev = [e for e in log.succeeded_events if e.command_name == "find"]
    getmore_ev = [e for e in log.succeeded_events if e.command_name == "getMore"]
    assert len(find_ev) == 1
    assert len(find_ev[0].reply["cursor"]["firstBatch"]) == 101  # server default first batch
    assert find_ev[0].reply["cursor"]["id"] != 0
    assert getmore_ev, "the driver never sent getMore: the server returned everything at once"
    assert getmore_ev[-1].reply["cursor"]["id"] == 0
    total = len(find_ev[0].reply["cursor"]["firstBatch"]) + sum(len(e.reply["cursor"]["nextBatch"]) for e in getmore_ev)
    assert total == 250

    # descending, with an explicit small batch size: several getMores, still every document
    log.clear()
    seen = [d["n"] for d in coll.find().sort("n", DESCENDING).batch_size(40)]
    assert seen == list(range(249, -1, -1))
    assert sum(1 for e in log.succeeded_events if e.command_name == "getMore") >= 6
    coll.drop()


def test_limit_skip_and_early_close(coll):
    coll.insert_many([{"_id": i} for i in range(30)])
    assert [d["_id"] for d in coll.find().sort("_id", 1).skip(5).limit(7)] == list(range(5, 12))
    assert [d["_id"] for d in coll.find().sort("_id", -1).limit(3)] == [29, 28, 27]
    cur = coll.find().batch_size(5)
    first = next(cur)
    assert "_id" in first
    cur.close()  # killCursors
    assert coll.count_documents({}) == 30


def test_get_more_on_killed_cursor_fails(redhive, coll):
    coll.insert_many([{"_id": i} for i in range(20)])
    db = coll.database
    reply = db.command({"find": coll.name, "batchSize": 2})
    cid = reply["cursor"]["id"]
    assert cid != 0 and len(reply["cursor"]["firstBatch"]) == 2
    killed = db.command({"killCursors": coll.name, "cursors": [cid]})
    assert list(killed["cursorsKilled"]) == [cid]
    with pytest.raises(OperationFailure) as ei:
        db.command({"getMore": cid, "collection": coll.name})
    assert ei.value.code == 43  # CursorNotFound


# ------------------------------------------------------------------------ findAndModify


def test_find_one_and_update_upsert_return_after(coll):
    doc = coll.find_one_and_update(
        {"appname": "r1", "name": "flows"},
        {"$set": {"flow": [{"id": "n1", "type": "inject"}]}, "$setOnInsert": {"__v": 0}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None
    assert isinstance(doc["_id"], ObjectId)
    assert {k: v for k, v in doc.items() if k != "_id"} == {
        "appname": "r1",
        "name": "flows",
        "flow": [{"id": "n1", "type": "inject"}],
        "__v": 0,
    }
    again = coll.find_one_and_update(
        {"appname": "r1", "name": "flows"},
        {"$set": {"flow": []}, "$setOnInsert": {"__v": 5}, "$inc": {"rev": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert again["_id"] == doc["_id"]
    assert again["flow"] == [] and again["__v"] == 0 and again["rev"] == 1
    assert coll.count_documents({}) == 1

    # BEFORE on an upsert returns None (MongoDB: value null)
    before = coll.find_one_and_update({"name": "other"}, {"$set": {"x": 1}}, upsert=True)
    assert before is None
    assert coll.count_documents({"name": "other", "x": 1}) == 1


def test_find_one_and_update_sort_projection_and_delete(coll):
    coll.insert_many([{"_id": i, "x": i % 3, "y": i} for i in range(9)])
    doc = coll.find_one_and_update(
        {"x": 1}, {"$inc": {"y": 100}}, sort=[("y", -1)], projection={"y": 1, "_id": 0}
    )
    assert doc == {"y": 7}  # the pre-image of the highest y with x == 1
    assert coll.find_one({"_id": 7})["y"] == 107
    gone = coll.find_one_and_delete({"x": 2}, sort=[("y", 1)])
    assert gone["_id"] == 2
    assert coll.find_one({"_id": 2}) is None
    assert coll.find_one_and_replace({"_id": 3}, {"z": 1}, return_document=ReturnDocument.AFTER) == {"_id": 3, "z": 1}
    assert coll.find_one_and_update({"_id": 12345}, {"$set": {"a": 1}}) is None


# ------------------------------------------------------------------- count and distinct


def test_count_documents_filter_skip_limit(coll):
    coll.insert_many([{"_id": i, "even": i % 2 == 0, "n": i} for i in range(50)])
    assert coll.count_documents({}) == 50
    assert coll.count_documents({"even": True}) == 25
    assert coll.count_documents({"even": True}, skip=20) == 5
    assert coll.count_documents({"even": True}, limit=7) == 7
    assert coll.count_documents({"even": True}, skip=20, limit=3) == 3
    assert coll.count_documents({"even": True}, skip=30) == 0
    assert coll.count_documents({"n": {"$gte": 10, "$lt": 20}}) == 10
    assert coll.count_documents({"nope": {"$exists": True}}) == 0
    assert coll.database["does_not_exist_at_all"].count_documents({}) == 0


def test_distinct_with_filter(coll):
    coll.insert_many(
        [
            {"city": "Paris", "country": "FR", "tags": ["a", "b"]},
            {"city": "Lyon", "country": "FR", "tags": ["b", "c"]},
            {"city": "Paris", "country": "FR", "tags": "d"},
            {"city": "Berlin", "country": "DE", "tags": ["a"]},
            {"city": "Bonn", "country": "DE"},
            {"city": {"name": "nested"}, "country": "XX"},
        ]
    )
    assert sorted(coll.distinct("city", {"country": "FR"}), key=repr) == ["Lyon", "Paris"]
    assert sorted(coll.distinct("country"), key=repr) == ["DE", "FR", "XX"]
    assert coll.distinct("city", {"country": "none"}) == []
    # arrays are unwound, one level (MongoDB semantics)
    assert sorted(coll.distinct("tags", {"country": "FR"}), key=repr) == ["a", "b", "c", "d"]
    assert coll.distinct("city.name") == ["nested"]


# ------------------------------------------------------------------------------ indexes


def test_unique_index_duplicate_key_error(coll):
    name = coll.create_index([("email", ASCENDING)], unique=True)
    assert name == "email_1"
    info = coll.index_information()
    assert info["email_1"]["key"] == [("email", 1)]
    assert info["email_1"].get("unique") is True
    assert "_id_" in info

    coll.insert_one({"email": "a@x", "n": 1})
    with pytest.raises(DuplicateKeyError) as ei:
        coll.insert_one({"email": "a@x", "n": 2})
    err = ei.value
    assert err.code == 11000
    assert err.details["keyValue"] == {"email": "a@x"}
    assert err.details.get("keyPattern") == {"email": 1}
    assert "E11000" in str(err)
    assert coll.count_documents({"email": "a@x"}) == 1

    # an update that would create a duplicate is refused as well
    coll.insert_one({"email": "b@x"})
    with pytest.raises(DuplicateKeyError):
        coll.update_one({"email": "b@x"}, {"$set": {"email": "a@x"}})
    assert coll.count_documents({"email": "b@x"}) == 1

    # freeing the key makes it insertable again
    coll.delete_one({"email": "a@x"})
    coll.insert_one({"email": "a@x", "n": 3})

    coll.drop_index("email_1")
    coll.insert_one({"email": "a@x", "n": 4})
    assert coll.count_documents({"email": "a@x"}) == 2


def test_compound_unique_index(coll):
    coll.create_index([("appname", 1), ("username", 1)], unique=True)
    coll.insert_one({"appname": "r1", "username": "admin"})
    coll.insert_one({"appname": "r2", "username": "admin"})
    with pytest.raises(DuplicateKeyError) as ei:
        coll.insert_one({"appname": "r1", "username": "admin"})
    assert ei.value.details["keyValue"] == {"appname": "r1", "username": "admin"}


def test_duplicate_id_is_11000(coll):
    coll.insert_one({"_id": "x"})
    with pytest.raises(DuplicateKeyError) as ei:
        coll.insert_one({"_id": "x"})
    assert ei.value.code == 11000
    assert ei.value.details["keyValue"] == {"_id": "x"}


def test_insert_many_unordered_with_duplicate(coll):
    coll.create_index("k", unique=True)
    docs = [{"_id": i, "k": f"k{i}"} for i in range(10)]
    docs[3]["k"] = "k1"  # duplicate of docs[1]
    docs[7]["_id"] = 0  # duplicate _id of docs[0]
    with pytest.raises(BulkWriteError) as ei:
        coll.insert_many(docs, ordered=False)
    details = ei.value.details
    assert details["nInserted"] == 8
    errs = details["writeErrors"]
    assert sorted(e["index"] for e in errs) == [3, 7]
    assert all(e["code"] == 11000 for e in errs)
    assert sorted(d["_id"] for d in coll.find()) == [0, 1, 2, 4, 5, 6, 8, 9]


def test_insert_many_ordered_stops_at_duplicate(coll):
    docs = [{"_id": i} for i in range(6)]
    docs[2]["_id"] = 0
    with pytest.raises(BulkWriteError) as ei:
        coll.insert_many(docs, ordered=True)
    assert ei.value.details["nInserted"] == 2
    assert [e["index"] for e in ei.value.details["writeErrors"]] == [2]
    assert sorted(d["_id"] for d in coll.find()) == [0, 1]


# --------------------------------------------------------------------------- projections


def test_projections(coll):
    coll.insert_one({"_id": 1, "a": 1, "b": 2, "c": {"d": 3, "e": 4}, "hash": "h", "salt": "s"})
    assert coll.find_one({}, {"a": 1}) == {"_id": 1, "a": 1}
    assert coll.find_one({}, {"a": 1, "_id": 0}) == {"a": 1}
    assert coll.find_one({}, {"hash": 0, "salt": 0}) == {"_id": 1, "a": 1, "b": 2, "c": {"d": 3, "e": 4}}
    assert coll.find_one({}, {"c.d": 1}) == {"_id": 1, "c": {"d": 3}}
    assert coll.find_one({}, {"c.e": 0, "_id": 0, "hash": 0, "salt": 0}) == {"a": 1, "b": 2, "c": {"d": 3}}
    assert coll.find_one({}, {"missing": 1}) == {"_id": 1}
    assert coll.find_one({}, {"_id": 0, "a": True, "b": True}) == {"a": 1, "b": 2}
    with pytest.raises(OperationFailure):
        coll.find_one({}, {"a": 1, "b": 0})  # mixing inclusion and exclusion (MongoDB code 31254)


# ---------------------------------------------------------------------------------- sort


def test_sort_mixed_types_in_mongodb_order(coll):
    """BSON comparison order: MinKey < null/missing < numbers < strings < objects < BinData <
    ObjectId < bool < Date < Regex < MaxKey (numbers compare by value across int/long/double)."""
    oid = ObjectId("5f0000000000000000000001")
    values = [
        ("maxkey", MaxKey()),
        ("true", True),
        ("str_b", "b"),
        ("dbl_2_5", 2.5),
        ("null", None),
        ("obj", {"a": 1}),
        ("oid", oid),
        ("date", datetime.datetime(2020, 1, 1)),
        ("int_1", 1),
        ("long_3", Int64(3)),
        ("str_a", "a"),
        ("minkey", MinKey()),
        ("false", False),
        ("bin", Binary(b"\x01\x02", 0)),
        ("regex", Regex("^x", "")),
        ("int_neg", -7),
        ("dbl_1_5", 1.5),
    ]
    docs = [{"_id": k, "v": v} for k, v in values] + [{"_id": "missing"}]
    coll.insert_many(docs)
    expected = [
        "minkey",
        "missing",  # missing and null compare equal; _id breaks the tie ("missing" < "null")
        "null",
        "int_neg",
        "int_1",
        "dbl_1_5",
        "dbl_2_5",
        "long_3",
        "str_a",
        "str_b",
        "obj",
        "bin",
        "oid",
        "false",
        "true",
        "date",
        "regex",
        "maxkey",
    ]
    got = [d["_id"] for d in coll.find({}, {"_id": 1}).sort([("v", 1), ("_id", 1)])]
    assert got == expected
    got_desc = [d["_id"] for d in coll.find({}, {"_id": 1}).sort([("v", -1), ("_id", 1)])]
    tie = ["missing", "null"]
    exp_desc = [k for k in reversed(expected) if k not in tie]
    i = exp_desc.index("int_neg") + 1
    exp_desc[i:i] = tie
    assert got_desc == exp_desc


def test_sort_multi_key_and_nested(coll):
    coll.insert_many(
        [
            {"_id": 1, "g": "b", "n": 2, "s": {"k": 3}},
            {"_id": 2, "g": "a", "n": 2, "s": {"k": 1}},
            {"_id": 3, "g": "b", "n": 1, "s": {"k": 2}},
            {"_id": 4, "g": "a", "n": 1, "s": {"k": 4}},
        ]
    )
    for _ in range(5):  # deterministic, not a hash-order accident
        assert [d["_id"] for d in coll.find().sort([("g", 1), ("n", -1)])] == [2, 4, 1, 3]
        assert [d["_id"] for d in coll.find().sort([("n", 1), ("g", 1)])] == [4, 3, 2, 1]
    assert [d["_id"] for d in coll.find().sort("s.k", 1)] == [2, 3, 1, 4]


# ---------------------------------------------------------------------- query semantics


def test_nested_and_dotted_queries(coll):
    coll.insert_many(
        [
            {"_id": 1, "profile": {"name": "ann", "age": 30, "addr": {"city": "Oslo"}}, "items": [{"k": "x", "q": 1}, {"k": "y", "q": 5}], "tags": ["red", "blue"]},
            {"_id": 2, "profile": {"name": "bob", "age": 40, "addr": {"city": "Rome"}}, "items": [{"k": "y", "q": 2}], "tags": ["green"]},
            {"_id": 3, "profile": {"name": "cid"}, "items": [], "tags": []},
        ]
    )
    ids = lambda f: sorted(d["_id"] for d in coll.find(f))  # noqa: E731
    assert ids({"profile.name": "bob"}) == [2]
    assert ids({"profile.addr.city": "Oslo"}) == [1]
    assert ids({"profile.age": {"$gt": 35}}) == [2]
    assert ids({"profile.age": {"$exists": False}}) == [3]
    assert ids({"profile": {"name": "cid"}}) == [3]  # whole sub-document equality
    assert ids({"profile": {"name": "cid", "x": 1}}) == []
    assert ids({"items.k": "y"}) == [1, 2]  # dotted path through an array of documents
    assert ids({"items.0.k": "x"}) == [1]  # numeric index
    assert ids({"items": {"$elemMatch": {"k": "y", "q": {"$gt": 3}}}}) == [1]
    assert ids({"items.q": {"$gt": 4}}) == [1]
    assert ids({"tags": "red"}) == [1]  # element match
    assert ids({"tags": ["green"]}) == [2]  # whole-array equality
    assert ids({"tags": {"$size": 0}}) == [3]
    assert ids({"tags": {"$all": ["blue", "red"]}}) == [1]
    assert ids({"tags": {"$in": ["green", "nope"]}}) == [2]
    assert ids({"profile.name": {"$ne": "ann"}}) == [2, 3]
    assert ids({"profile.name": {"$nin": ["ann", "bob"]}}) == [3]
    assert ids({"$or": [{"profile.age": 30}, {"tags": "green"}]}) == [1, 2]
    assert ids({"$nor": [{"profile.age": 30}, {"tags": "green"}]}) == [3]
    assert ids({"_id": 1, "profile.age": {"$gt": 10}}) == [1]
    assert ids({"profile.age": {"$not": {"$gt": 35}}}) == [1, 3]
    assert ids({"missing": None}) == [1, 2, 3]  # null matches missing


def test_type_bracketing(coll):
    coll.insert_many([{"_id": 1, "v": 5}, {"_id": 2, "v": "old"}, {"_id": 3, "v": 50.5}, {"_id": 4, "v": None}])
    assert sorted(d["_id"] for d in coll.find({"v": {"$lt": 100}})) == [1, 3]
    assert sorted(d["_id"] for d in coll.find({"v": {"$gte": "a"}})) == [2]
    assert sorted(d["_id"] for d in coll.find({"v": 5.0})) == [1]


def test_regex_queries(coll):
    coll.insert_many(
        [
            {"_id": 1, "name": "alice", "path": "/foo/bar"},
            {"_id": 2, "name": "Alfred", "path": "/foobar"},
            {"_id": 3, "name": "bob", "path": "/x/foo"},
            {"_id": 4, "name": ["zed", "alma"], "path": "multi\nline"},
            {"_id": 5, "name": 12345},
        ]
    )
    ids = lambda f: sorted(d["_id"] for d in coll.find(f))  # noqa: E731
    assert ids({"name": {"$regex": "^al"}}) == [1, 4]
    assert ids({"name": {"$regex": "^al", "$options": "i"}}) == [1, 2, 4]
    assert ids({"name": re.compile("^AL", re.IGNORECASE)}) == [1, 2, 4]  # BSON regex literal
    assert ids({"name": Regex("ce$")}) == [1]
    assert ids({"path": {"$regex": "^/foo"}}) == [1, 2]
    assert ids({"path": {"$regex": r"^\/foo\/"}}) == [1]
    assert ids({"path": {"$regex": "^line", "$options": "m"}}) == [4]
    assert ids({"path": {"$regex": "^line"}}) == []
    assert ids({"name": {"$regex": "123"}}) == []  # regex never matches numbers
    assert ids({"name": {"$in": [re.compile("^b"), "zed"]}}) == [3, 4]
    assert ids({"name": {"$not": re.compile("^a")}}) == [2, 3, 5]


# --------------------------------------------------------------------------- collections


def test_collections_and_indexes_listing(r1):
    r1.drop_collection("lc_a")
    r1.drop_collection("lc_b")
    r1.create_collection("lc_a")
    with pytest.raises(CollectionInvalid):  # pymongo checks with listCollections first
        r1.create_collection("lc_a")
    try:  # the raw command: MongoDB answers NamespaceExists (48) or ok when options match
        r1.command("create", "lc_a")
    except OperationFailure as e:
        assert e.code == 48
    r1["lc_b"].insert_one({"x": 1})  # implicit creation
    names = r1.list_collection_names()
    assert "lc_a" in names and "lc_b" in names
    only = list(r1.list_collections(filter={"name": "lc_b"}))
    assert [c["name"] for c in only] == ["lc_b"]
    r1["lc_b"].create_index([("x", -1)], name="x_desc")
    idx = {i["name"]: i for i in r1["lc_b"].list_indexes()}
    assert set(idx) == {"_id_", "x_desc"}
    assert dict(idx["x_desc"]["key"]) == {"x": -1}
    with pytest.raises(OperationFailure) as ei:
        r1.command("listIndexes", "nope_never_created")
    assert ei.value.code == 26  # NamespaceNotFound
    assert list(r1["nope_never_created"].list_indexes()) == []  # pymongo hides the 26
    r1.drop_collection("lc_a")
    r1.drop_collection("lc_b")
    names = r1.list_collection_names()
    assert "lc_a" not in names and "lc_b" not in names


def test_aggregate_basic(coll):
    coll.insert_many([{"g": i % 3, "v": i} for i in range(12)])
    out = list(
        coll.aggregate(
            [
                {"$match": {"v": {"$gte": 3}}},
                {"$group": {"_id": "$g", "total": {"$sum": "$v"}, "n": {"$sum": 1}, "mx": {"$max": "$v"}}},
                {"$sort": {"_id": 1}},
            ]
        )
    )
    assert out == [
        {"_id": 0, "total": 3 + 6 + 9, "n": 3, "mx": 9},
        {"_id": 1, "total": 4 + 7 + 10, "n": 3, "mx": 10},
        {"_id": 2, "total": 5 + 8 + 11, "n": 3, "mx": 11},
    ]
    assert list(coll.aggregate([{"$match": {"g": 1}}, {"$count": "c"}])) == [{"c": 4}]
    proj = list(coll.aggregate([{"$sort": {"v": -1}}, {"$limit": 2}, {"$project": {"_id": 0, "v": 1}}]))
    assert proj == [{"v": 11}, {"v": 10}]


def test_unknown_command_is_59(r1):
    with pytest.raises(OperationFailure) as ei:
        r1.command("thisCommandDoesNotExist")
    assert ei.value.code == 59


def test_speculative_authentication_uses_the_requested_db(redhive):
    """Drivers put the first SCRAM step into hello (always sent to admin) as
    speculativeAuthenticate {..., db: <authSource>}; the conversation belongs to that db."""
    import base64
    import hmac
    import os

    import bson

    import wire

    p = parse_uri(redhive.tenant_uri("r1"))
    s = wire.connect(redhive.mongo_port)
    try:
        nonce = base64.b64encode(os.urandom(24)).decode()
        first_bare = f"n=r1,r={nonce}"
        hello = wire.command(
            s,
            {
                "hello": 1,
                "saslSupportedMechs": "r1.r1",
                "speculativeAuthenticate": {
                    "saslStart": 1,
                    "mechanism": "SCRAM-SHA-256",
                    "payload": bson.Binary(("n,," + first_bare).encode()),
                    "autoAuthorize": 1,
                    "options": {"skipEmptyExchange": True},
                    "db": "r1",
                },
                "$db": "admin",
            },
        )
        spec = hello["speculativeAuthenticate"]
        server_first = bytes(spec["payload"]).decode()
        f = dict(x.split("=", 1) for x in server_first.split(","))
        _, client_key, stored_key, _ = wire.scram_keys(p["password"], base64.b64decode(f["s"]), int(f["i"]))
        without_proof = f"c=biws,r={f['r']}"
        auth_msg = f"{first_bare},{server_first},{without_proof}".encode()
        proof = bytes(a ^ b for a, b in zip(client_key, hmac.new(stored_key, auth_msg, "sha256").digest()))
        final = wire.command(
            s,
            {
                "saslContinue": 1,
                "conversationId": spec["conversationId"],
                "payload": bson.Binary(f"{without_proof},p={base64.b64encode(proof).decode()}".encode()),
                "$db": "r1",
            },
        )
        assert final.get("ok") == 1.0, final
        assert wire.command(s, {"find": "spec_auth", "filter": {}, "$db": "r1"}).get("ok") == 1.0
    finally:
        s.close()


def test_numeric_ids_are_one_value_across_types(r1):
    """MongoDB treats 7, 7.0 and NumberLong(7) as the same _id: lookups by any of them find the
    document, and inserting another type of the same number is a duplicate."""
    c = r1.numeric_ids
    c.drop()
    c.insert_one({"_id": Int64(7), "v": "seven"})
    for probe in (7, 7.0, Int64(7)):
        assert c.find_one({"_id": probe}) == {"_id": 7, "v": "seven"}, probe
        assert c.count_documents({"_id": probe}) == 1
    with pytest.raises(DuplicateKeyError):
        c.insert_one({"_id": 7.0})
    assert c.find_one({"_id": 7.5}) is None
    assert c.update_one({"_id": 7.0}, {"$set": {"v": "sept"}}).modified_count == 1
    assert c.find_one({"_id": 7})["v"] == "sept"
