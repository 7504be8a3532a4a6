'use strict';
// One scenario for the official MongoDB Node.js driver, run once per driver major
// (driver-v6.test.js, driver-v7.test.js). Every `it` uses its own collection so that a failure in
// one operation does not cascade into the others.

const assert = require('node:assert/strict');
const { describe, it, before } = require('node:test');
const { useRedhive, withPassword, withParams } = require('../lib/redhive');

const T = { timeout: 60_000 };

function clientOptions(extra = {}) {
  // Fail fast instead of the driver's 30 s defaults; nothing else is tuned.
  return { serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 10_000, ...extra };
}

/** Runs `fn`, expects it to reject, returns the error. */
async function rejection(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected the operation to fail, it succeeded');
}

function sortedNames(docs) {
  return docs.map((d) => d.name).sort();
}

function runDriverScenario(pkgName) {
  const mongodb = require(pkgName);
  const { MongoClient, MongoServerError, MongoBulkWriteError, ObjectId } = mongodb;
  const driverVersion = require(`${pkgName}/package.json`).version;

  describe(`${pkgName} (mongodb@${driverVersion}) against redhive`, () => {
    const rh = useRedhive({ tenants: ['r1', 'r2'] });
    /** @type {import('mongodb').MongoClient} */
    let client;
    let db;
    const extraClients = [];

    async function connect(uri, extra) {
      const c = new MongoClient(uri, clientOptions(extra));
      extraClients.push(c);
      await c.connect();
      return c;
    }

    before(async () => {
      client = await connect(rh.tenants.r1);
      db = client.db('r1');
    });

    rh.defer(async () => {
      for (const c of extraClients) await c.close().catch(() => {});
    });

    describe('authentication and authorization', () => {
      it('tenant URI from `tenant add` names its own database and authSource', T, () => {
        const u = new URL(rh.tenants.r1);
        assert.equal(u.username, 'r1');
        assert.equal(u.pathname, '/r1');
        assert.equal(u.searchParams.get('authSource'), 'r1');
        assert.equal(u.host, `127.0.0.1:${rh.mongoPort}`);
        const root = new URL(rh.rootUri);
        assert.equal(root.username, 'root');
        assert.equal(root.searchParams.get('authSource'), 'admin');
        assert.equal(root.host, `127.0.0.1:${rh.mongoPort}`);
      });

      it('SCRAM-SHA-256 (explicit) authenticates and can write/read', T, async () => {
        const c = await connect(withParams(rh.tenants.r1, { authMechanism: 'SCRAM-SHA-256' }));
        const coll = c.db('r1').collection('auth256');
        await coll.insertOne({ _id: 'a', via: 'sha256' });
        assert.deepEqual(await coll.findOne({ _id: 'a' }), { _id: 'a', via: 'sha256' });
      });

      it('SCRAM-SHA-1 authenticates and can write/read', T, async () => {
        const c = await connect(withParams(rh.tenants.r1, { authMechanism: 'SCRAM-SHA-1' }));
        const coll = c.db('r1').collection('auth1');
        await coll.insertOne({ _id: 'b', via: 'sha1' });
        assert.deepEqual(await coll.findOne({ _id: 'b' }), { _id: 'b', via: 'sha1' });
      });

      it('a wrong password fails with AuthenticationFailed (code 18)', T, async () => {
        for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-1']) {
          const uri = withParams(withPassword(rh.tenants.r1, 'definitely-not-the-password'), { authMechanism: mech });
          const c = new MongoClient(uri, clientOptions());
          extraClients.push(c);
          const err = await rejection(() => c.connect());
          assert.ok(err instanceof MongoServerError, `${mech}: expected MongoServerError, got ${err && err.name}: ${err && err.message}`);
          assert.equal(err.code, 18, `${mech}: ${err.message}`);
          assert.equal(err.codeName, 'AuthenticationFailed');
        }
      });

      it("tenant r1 cannot read or write r2's database (Unauthorized, code 13)", T, async () => {
        // r2 has data, so a silent empty answer would be wrong as well.
        const r2 = await connect(rh.tenants.r2);
        await r2.db('r2').collection('secret').insertOne({ _id: 1, owner: 'r2' });

        const other = client.db('r2').collection('secret');
        const readErr = await rejection(() => other.findOne({}));
        assert.ok(readErr instanceof MongoServerError, String(readErr));
        assert.equal(readErr.code, 13, readErr.message);
        assert.equal(readErr.codeName, 'Unauthorized');

        const writeErr = await rejection(() => other.insertOne({ _id: 2, owner: 'r1' }));
        assert.equal(writeErr.code, 13, writeErr.message);

        const countErr = await rejection(() => other.countDocuments({}));
        assert.equal(countErr.code, 13, countErr.message);

        // and the data is untouched
        assert.deepEqual(await r2.db('r2').collection('secret').find().toArray(), [{ _id: 1, owner: 'r2' }]);
      });

      it('same collection name in two tenants holds separate data', T, async () => {
        const r2 = await connect(rh.tenants.r2);
        await r2.db('r2').collection('iso').insertMany([{ who: 'r2' }, { who: 'r2' }]);
        await db.collection('iso').insertOne({ who: 'r1' });
        assert.equal(await db.collection('iso').countDocuments({}), 1);
        assert.equal(await r2.db('r2').collection('iso').countDocuments({}), 2);
      });

      it('root: listDatabases, reads tenant data, createUser/dropUser, dropDatabase', T, async () => {
        const root = await connect(rh.rootUri);
        await db.collection('visible_to_root').insertOne({ _id: 'x', v: 42 });
        assert.deepEqual(await root.db('r1').collection('visible_to_root').findOne({ _id: 'x' }), { _id: 'x', v: 42 });

        await root.db('scratch').collection('s').insertOne({ _id: 1 });
        let names = (await root.db('admin').admin().listDatabases()).databases.map((d) => d.name);
        assert.ok(names.includes('r1'), `listDatabases: ${names}`);
        assert.ok(names.includes('scratch'), `listDatabases: ${names}`);

        // createUser on a new database, then use it
        const pwd = 'u3-Secret-pw';
        const created = await root.db('r3').command({ createUser: 'u3', pwd, roles: [{ role: 'readWrite', db: 'r3' }] });
        assert.equal(created.ok, 1);
        const u3uri = `mongodb://u3:${pwd}@127.0.0.1:${rh.mongoPort}/r3?authSource=r3`;
        const u3 = await connect(u3uri);
        await u3.db('r3').collection('c').insertOne({ _id: 'by-u3' });
        assert.equal(await u3.db('r3').collection('c').countDocuments({}), 1);
        const denied = await rejection(() => u3.db('r1').collection('visible_to_root').findOne({}));
        assert.equal(denied.code, 13, denied.message);
        await u3.close();

        const dropped = await root.db('r3').command({ dropUser: 'u3' });
        assert.equal(dropped.ok, 1);
        const gone = new MongoClient(u3uri, clientOptions());
        extraClients.push(gone);
        const authErr = await rejection(() => gone.connect());
        assert.equal(authErr.code, 18, authErr.message);

        assert.equal(await root.db('scratch').dropDatabase(), true);
        names = (await root.db('admin').admin().listDatabases()).databases.map((d) => d.name);
        assert.ok(!names.includes('scratch'), `dropped database still listed: ${names}`);
      });
    });

    describe('inserts', () => {
      it('insertOne returns the insertedId (generated ObjectId or given _id)', T, async () => {
        const coll = db.collection('ins_one');
        const r1 = await coll.insertOne({ name: 'gen' });
        assert.equal(r1.acknowledged, true);
        assert.ok(r1.insertedId instanceof ObjectId, `insertedId ${r1.insertedId}`);
        const r2 = await coll.insertOne({ _id: 'given', name: 'given' });
        assert.equal(r2.insertedId, 'given');
        const got = await coll.findOne({ _id: r1.insertedId });
        assert.equal(got.name, 'gen');
        assert.ok(got._id.equals(r1.insertedId));
        assert.equal(await coll.countDocuments({}), 2);
      });

      it('insertMany round-trips BSON types', T, async () => {
        const coll = db.collection('ins_types');
        const when = new Date('2024-03-01T12:34:56.789Z');
        const oid = new ObjectId();
        const doc = {
          _id: 'types',
          s: 'héllo ✓',
          i: 42,
          f: 1.5,
          neg: -7,
          big: mongodb.Long.fromString('9007199254740993'),
          b: true,
          nul: null,
          d: when,
          oid,
          arr: [1, 'two', { three: 3 }],
          nested: { deep: { deeper: 'yes' } },
          bin: new mongodb.Binary(Buffer.from([0, 1, 2, 255])),
        };
        const res = await coll.insertMany([doc, { _id: 'second' }]);
        assert.equal(res.insertedCount, 2);
        assert.deepEqual(res.insertedIds, { 0: 'types', 1: 'second' });
        const got = await coll.findOne({ _id: 'types' }, { promoteLongs: false });
        assert.equal(got.s, doc.s);
        assert.equal(got.i, 42);
        assert.equal(got.f, 1.5);
        assert.equal(got.neg, -7);
        assert.equal(got.big.toString(), '9007199254740993');
        assert.equal(got.b, true);
        assert.equal(got.nul, null);
        assert.ok(got.d instanceof Date);
        assert.equal(got.d.toISOString(), when.toISOString());
        assert.ok(got.oid.equals(oid));
        assert.deepEqual(got.arr, [1, 'two', { three: 3 }]);
        assert.deepEqual(got.nested, { deep: { deeper: 'yes' } });
        assert.deepEqual([...got.bin.buffer], [0, 1, 2, 255]);
      });

      it('ordered insertMany with a duplicate _id stops at it: BulkWriteError 11000, insertedCount 2', T, async () => {
        const coll = db.collection('ins_ordered');
        const err = await rejection(() => coll.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 2 }, { _id: 3 }], { ordered: true }));
        assert.ok(err instanceof MongoBulkWriteError, `got ${err.name}: ${err.message}`);
        assert.equal(err.code, 11000);
        assert.equal(err.insertedCount, 2);
        assert.equal(err.writeErrors.length, 1);
        assert.equal(err.writeErrors[0].index, 2);
        assert.equal(err.writeErrors[0].code, 11000);
        assert.match(err.writeErrors[0].errmsg, /^E11000 duplicate key error/);
        assert.deepEqual(await coll.find().sort({ _id: 1 }).toArray(), [{ _id: 1 }, { _id: 2 }]);
      });

      it('unordered insertMany with a duplicate _id inserts the rest: BulkWriteError 11000, insertedCount 3', T, async () => {
        const coll = db.collection('ins_unordered');
        const err = await rejection(() => coll.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 2 }, { _id: 3 }], { ordered: false }));
        assert.ok(err instanceof MongoBulkWriteError, `got ${err.name}: ${err.message}`);
        assert.equal(err.code, 11000);
        assert.equal(err.insertedCount, 3);
        assert.equal(err.writeErrors.length, 1);
        assert.equal(err.writeErrors[0].index, 2);
        assert.deepEqual(await coll.find().sort({ _id: 1 }).toArray(), [{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
      });
    });

    describe('queries', () => {
      let coll;
      before(async () => {
        coll = db.collection('q');
        const docs = [];
        for (let n = 0; n < 10; n++) {
          docs.push({ _id: n, n, g: n % 3, name: `d${n}`, tags: n % 2 ? ['odd', `t${n % 4}`] : ['even'], nested: { a: n * 10, b: 'x' } });
        }
        await coll.insertMany(docs);
      });

      it('find with filter, sort, skip and limit', T, async () => {
        const got = await coll.find({ n: { $gte: 2 } }).sort({ n: -1 }).skip(1).limit(3).toArray();
        assert.deepEqual(got.map((d) => d.n), [8, 7, 6]);
        const byGroup = await coll.find({ g: 1 }).sort({ n: 1 }).toArray();
        assert.deepEqual(byGroup.map((d) => d._id), [1, 4, 7]);
        const compound = await coll.find({}).sort({ g: 1, n: -1 }).limit(4).toArray();
        assert.deepEqual(compound.map((d) => d.n), [9, 6, 3, 0]);
      });

      it('find with query operators ($in, $ne, $lt/$gt, $or, dotted path, array element)', T, async () => {
        const ids = async (filter) => (await coll.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id);
        assert.deepEqual(await ids({ n: { $in: [1, 3, 11] } }), [1, 3]);
        assert.deepEqual(await ids({ g: { $ne: 0 }, n: { $lt: 5 } }), [1, 2, 4]);
        assert.deepEqual(await ids({ $or: [{ n: 0 }, { n: { $gt: 8 } }] }), [0, 9]);
        assert.deepEqual(await ids({ 'nested.a': 50 }), [5]);
        assert.deepEqual(await ids({ tags: 't3' }), [3, 7]);
        assert.deepEqual(await ids({ name: /^d[12]$/ }), [1, 2]);
        assert.deepEqual(await ids({ missing: { $exists: true } }), []);
      });

      it('find with inclusion and exclusion projections', T, async () => {
        const inc = await coll.find({ _id: 3 }, { projection: { name: 1, 'nested.a': 1 } }).toArray();
        assert.deepEqual(inc, [{ _id: 3, name: 'd3', nested: { a: 30 } }]);
        const noId = await coll.findOne({ _id: 3 }, { projection: { _id: 0, n: 1 } });
        assert.deepEqual(noId, { n: 3 });
        const exc = await coll.findOne({ _id: 4 }, { projection: { tags: 0, nested: 0 } });
        assert.deepEqual(exc, { _id: 4, n: 4, g: 1, name: 'd4' });
        const excDotted = await coll.findOne({ _id: 4 }, { projection: { 'nested.b': 0, tags: 0 } });
        assert.deepEqual(excDotted, { _id: 4, n: 4, g: 1, name: 'd4', nested: { a: 40 } });
      });

      it('countDocuments (with filter, skip, limit) and estimatedDocumentCount', T, async () => {
        assert.equal(await coll.countDocuments({}), 10);
        assert.equal(await coll.countDocuments({ g: 1 }), 3);
        assert.equal(await coll.countDocuments({}, { skip: 2, limit: 5 }), 5);
        assert.equal(await coll.countDocuments({ g: 2 }, { skip: 2 }), 1);
        assert.equal(await coll.countDocuments({ n: 99 }), 0);
        assert.equal(await coll.estimatedDocumentCount(), 10);
        assert.equal(await db.collection('never_created').estimatedDocumentCount(), 0);
      });

      it('distinct (plain, filtered, array field, dotted path)', T, async () => {
        assert.deepEqual((await coll.distinct('g')).sort(), [0, 1, 2]);
        assert.deepEqual((await coll.distinct('g', { n: { $lt: 2 } })).sort(), [0, 1]);
        // MongoDB unwinds array values for distinct
        assert.deepEqual((await coll.distinct('tags')).sort(), ['even', 'odd', 't1', 't3']);
        assert.deepEqual((await coll.distinct('nested.a', { g: 0 })).sort((a, b) => a - b), [0, 30, 60, 90]);
      });

      it('aggregate $match + $group + $sort', T, async () => {
        const got = await coll
          .aggregate([
            { $match: { n: { $gte: 1 } } },
            { $group: { _id: '$g', total: { $sum: '$n' }, count: { $sum: 1 } } },
            { $sort: { total: -1 } },
          ])
          .toArray();
        assert.deepEqual(got, [
          { _id: 0, total: 18, count: 3 },
          { _id: 2, total: 15, count: 3 },
          { _id: 1, total: 12, count: 3 },
        ]);
      });

      it('aggregate $sort/$skip/$limit/$project and $count', T, async () => {
        const page = await coll
          .aggregate([{ $sort: { n: -1 } }, { $skip: 2 }, { $limit: 3 }, { $project: { _id: 0, n: 1, name: 1 } }])
          .toArray();
        assert.deepEqual(page, [
          { n: 7, name: 'd7' },
          { n: 6, name: 'd6' },
          { n: 5, name: 'd5' },
        ]);
        assert.deepEqual(await coll.aggregate([{ $match: { g: 1 } }, { $count: 'k' }]).toArray(), [{ k: 3 }]);
        const all = await coll.aggregate([{ $group: { _id: null, total: { $sum: '$n' } } }]).toArray();
        assert.deepEqual(all, [{ _id: null, total: 45 }]);
      });

      it('aggregate $group accumulators $avg/$min/$max/$push and computed $project', T, async () => {
        const got = await coll
          .aggregate([
            { $match: { g: 0 } },
            { $group: { _id: '$g', avg: { $avg: '$n' }, min: { $min: '$n' }, max: { $max: '$n' }, all: { $push: '$n' } } },
          ])
          .toArray();
        assert.equal(got.length, 1);
        assert.equal(got[0].avg, 4.5);
        assert.equal(got[0].min, 0);
        assert.equal(got[0].max, 9);
        assert.deepEqual([...got[0].all].sort((a, b) => a - b), [0, 3, 6, 9]);
        const renamed = await coll.aggregate([{ $match: { _id: 2 } }, { $project: { _id: 0, label: '$name', inner: '$nested.a' } }]).toArray();
        assert.deepEqual(renamed, [{ label: 'd2', inner: 20 }]);
      });
    });

    describe('cursors', () => {
      let coll;
      before(async () => {
        coll = db.collection('cur');
        const docs = Array.from({ length: 250 }, (_, i) => ({ _id: i, pad: 'x'.repeat(100) }));
        await coll.insertMany(docs);
      });

      it('250 docs with batchSize 20 come back complete and in order via getMore', T, async () => {
        const c = await connect(rh.tenants.r1, { monitorCommands: true });
        const started = [];
        c.on('commandStarted', (ev) => started.push(ev.commandName));
        const all = [];
        const cursor = c.db('r1').collection('cur').find({}).sort({ _id: 1 }).batchSize(20);
        for await (const d of cursor) all.push(d._id);
        assert.equal(all.length, 250);
        assert.deepEqual(all, Array.from({ length: 250 }, (_, i) => i));
        const getMores = started.filter((n) => n === 'getMore').length;
        assert.equal(started.filter((n) => n === 'find').length, 1);
        assert.ok(getMores >= 12, `expected >= 12 getMore commands, saw ${getMores} (${started.join(',')})`);
      });

      it('limit larger than batchSize returns exactly limit docs', T, async () => {
        const got = await coll.find({}).sort({ _id: -1 }).limit(45).batchSize(20).toArray();
        assert.equal(got.length, 45);
        assert.equal(got[0]._id, 249);
        assert.equal(got[44]._id, 205);
      });

      it('aggregate cursor with batchSize 10 returns all 250 docs', T, async () => {
        const got = await coll.aggregate([{ $match: { _id: { $gte: 0 } } }, { $sort: { _id: 1 } }], { batchSize: 10 }).toArray();
        assert.equal(got.length, 250);
        assert.equal(got[249]._id, 249);
      });
    });

    describe('updates', () => {
      it('updateOne with upsert reports upsertedId, then updates the same doc', T, async () => {
        const coll = db.collection('upd_upsert');
        const first = await coll.updateOne({ _id: 'u1' }, { $set: { v: 1 } }, { upsert: true });
        assert.equal(first.matchedCount, 0);
        assert.equal(first.modifiedCount, 0);
        assert.equal(first.upsertedCount, 1);
        assert.equal(first.upsertedId, 'u1');
        const second = await coll.updateOne({ _id: 'u1' }, { $set: { v: 2 } }, { upsert: true });
        assert.equal(second.matchedCount, 1);
        assert.equal(second.modifiedCount, 1);
        assert.equal(second.upsertedCount, 0);
        assert.equal(second.upsertedId, null);
        assert.deepEqual(await coll.find().toArray(), [{ _id: 'u1', v: 2 }]);

        // upsert without _id in the filter: server generates an ObjectId and copies equality fields
        const third = await coll.updateOne({ name: 'ups', k: 7 }, { $set: { v: 3 } }, { upsert: true });
        assert.equal(third.upsertedCount, 1);
        assert.ok(third.upsertedId instanceof ObjectId, `upsertedId ${third.upsertedId}`);
        const doc = await coll.findOne({ _id: third.upsertedId });
        assert.deepEqual({ ...doc, _id: 'ignored' }, { _id: 'ignored', name: 'ups', k: 7, v: 3 });
      });

      it('update operators $set $unset $inc $push $pull $addToSet $rename $min $max', T, async () => {
        const coll = db.collection('upd_ops');
        await coll.insertOne({ _id: 'op', a: 1, b: 'x', arr: [1, 2, 3], set: ['a'], lo: 5, hi: 5, old: 'v' });
        const step = async (update, expectModified = 1) => {
          const r = await coll.updateOne({ _id: 'op' }, update);
          assert.equal(r.matchedCount, 1, JSON.stringify(update));
          assert.equal(r.modifiedCount, expectModified, JSON.stringify(update));
        };
        await step({ $set: { b: 'y', 'nested.k': 1 }, $unset: { a: '' }, $inc: { cnt: 2 } });
        await step({ $inc: { cnt: 3 } });
        await step({ $push: { arr: 4 } });
        await step({ $push: { arr: { $each: [5, 6] } } });
        await step({ $pull: { arr: 1 } });
        await step({ $addToSet: { set: 'a' } }, 0);
        await step({ $addToSet: { set: 'b' } });
        await step({ $rename: { old: 'renamed' } });
        await step({ $min: { lo: 3 }, $max: { hi: 9 } });
        await step({ $min: { lo: 4 }, $max: { hi: 8 } }, 0);
        await step({ $set: { b: 'y' } }, 0);
        assert.deepEqual(await coll.findOne({ _id: 'op' }), {
          _id: 'op',
          b: 'y',
          arr: [2, 3, 4, 5, 6],
          set: ['a', 'b'],
          lo: 3,
          hi: 9,
          nested: { k: 1 },
          cnt: 5,
          renamed: 'v',
        });
      });

      it('$setOnInsert applies only when the upsert inserts', T, async () => {
        const coll = db.collection('upd_soi');
        await coll.updateOne({ _id: 's' }, { $set: { x: 1 }, $setOnInsert: { created: 'first' } }, { upsert: true });
        await coll.updateOne({ _id: 's' }, { $set: { x: 2 }, $setOnInsert: { created: 'second' } }, { upsert: true });
        assert.deepEqual(await coll.findOne({ _id: 's' }), { _id: 's', x: 2, created: 'first' });
      });

      it('updateMany updates every match', T, async () => {
        const coll = db.collection('upd_many');
        await coll.insertMany(Array.from({ length: 9 }, (_, i) => ({ _id: i, g: i % 3, flag: false })));
        const r = await coll.updateMany({ g: 1 }, { $set: { flag: true }, $inc: { bumped: 1 } });
        assert.equal(r.matchedCount, 3);
        assert.equal(r.modifiedCount, 3);
        assert.equal(await coll.countDocuments({ flag: true }), 3);
        assert.deepEqual((await coll.find({ flag: true }).sort({ _id: 1 }).toArray()).map((d) => d._id), [1, 4, 7]);
        const none = await coll.updateMany({ g: 42 }, { $set: { flag: true } });
        assert.equal(none.matchedCount, 0);
        assert.equal(none.modifiedCount, 0);
      });

      it('replaceOne replaces the whole document but keeps _id', T, async () => {
        const coll = db.collection('upd_replace');
        await coll.insertOne({ _id: 'r', a: 1, b: 2 });
        const r = await coll.replaceOne({ _id: 'r' }, { c: 3 });
        assert.equal(r.matchedCount, 1);
        assert.equal(r.modifiedCount, 1);
        assert.deepEqual(await coll.findOne({ _id: 'r' }), { _id: 'r', c: 3 });
        const up = await coll.replaceOne({ _id: 'r2' }, { d: 4 }, { upsert: true });
        assert.equal(up.upsertedId, 'r2');
        assert.deepEqual(await coll.findOne({ _id: 'r2' }), { _id: 'r2', d: 4 });
      });

      it('findOneAndUpdate returnDocument before/after, sort, upsert and result metadata', T, async () => {
        const coll = db.collection('fam');
        await coll.insertMany([
          { _id: 'f1', v: 1, g: 'a' },
          { _id: 'f9', v: 9, g: 'a' },
        ]);
        const before = await coll.findOneAndUpdate({ _id: 'f1' }, { $inc: { v: 1 } }, { returnDocument: 'before' });
        assert.deepEqual(before, { _id: 'f1', v: 1, g: 'a' });
        const afterDoc = await coll.findOneAndUpdate({ _id: 'f1' }, { $inc: { v: 1 } }, { returnDocument: 'after' });
        assert.deepEqual(afterDoc, { _id: 'f1', v: 3, g: 'a' });
        const sorted = await coll.findOneAndUpdate({ g: 'a' }, { $set: { top: true } }, { sort: { v: -1 }, returnDocument: 'after', projection: { v: 1, top: 1 } });
        assert.deepEqual(sorted, { _id: 'f9', v: 9, top: true });
        const upserted = await coll.findOneAndUpdate({ _id: 'f2' }, { $set: { v: 10 } }, { upsert: true, returnDocument: 'after' });
        assert.deepEqual(upserted, { _id: 'f2', v: 10 });
        const meta = await coll.findOneAndUpdate({ _id: 'f3' }, { $set: { v: 30 } }, { upsert: true, returnDocument: 'before', includeResultMetadata: true });
        assert.equal(meta.ok, 1);
        assert.equal(meta.value, null);
        assert.equal(meta.lastErrorObject.n, 1);
        assert.equal(meta.lastErrorObject.updatedExisting, false);
        assert.equal(meta.lastErrorObject.upserted, 'f3');
        const miss = await coll.findOneAndUpdate({ _id: 'nope' }, { $set: { v: 0 } });
        assert.equal(miss, null);
        assert.equal(await coll.countDocuments({}), 4);
      });

      it('findOneAndReplace and findOneAndDelete', T, async () => {
        const coll = db.collection('fad');
        await coll.insertMany([{ _id: 1, v: 'a' }, { _id: 2, v: 'b' }, { _id: 3, v: 'c' }]);
        const replaced = await coll.findOneAndReplace({ _id: 1 }, { w: 'z' }, { returnDocument: 'after' });
        assert.deepEqual(replaced, { _id: 1, w: 'z' });
        const deleted = await coll.findOneAndDelete({ _id: 2 });
        assert.deepEqual(deleted, { _id: 2, v: 'b' });
        assert.equal(await coll.findOne({ _id: 2 }), null);
        const sortedDelete = await coll.findOneAndDelete({}, { sort: { _id: -1 } });
        assert.deepEqual(sortedDelete, { _id: 3, v: 'c' });
        assert.equal(await coll.findOneAndDelete({ _id: 99 }), null);
        assert.deepEqual(await coll.find().toArray(), [{ _id: 1, w: 'z' }]);
      });
    });

    describe('deletes', () => {
      it('deleteOne / deleteMany report deletedCount', T, async () => {
        const coll = db.collection('del');
        await coll.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, g: i % 3 })));
        assert.equal((await coll.deleteOne({ g: 0 })).deletedCount, 1);
        assert.equal(await coll.countDocuments({ g: 0 }), 3);
        assert.equal((await coll.deleteMany({ g: 1 })).deletedCount, 3);
        assert.equal((await coll.deleteOne({ g: 42 })).deletedCount, 0);
        assert.equal(await coll.countDocuments({}), 6);
        assert.equal((await coll.deleteMany({})).deletedCount, 6);
        assert.equal(await coll.countDocuments({}), 0);
      });
    });

    describe('indexes', () => {
      it('unique index: createIndex name, duplicate insert/update -> E11000 (code 11000)', T, async () => {
        const coll = db.collection('idx_unique');
        assert.equal(await coll.createIndex({ email: 1 }, { unique: true }), 'email_1');
        await coll.insertOne({ _id: 1, email: 'a@example.com' });
        await coll.insertOne({ _id: 2, email: 'b@example.com' });
        const err = await rejection(() => coll.insertOne({ _id: 3, email: 'a@example.com' }));
        assert.ok(err instanceof MongoServerError, `got ${err.name}: ${err.message}`);
        assert.equal(err.code, 11000);
        assert.match(err.message, /^E11000 duplicate key error collection: r1\.idx_unique index: email_1 dup key: \{ email: "a@example\.com" \}/);
        assert.deepEqual(err.keyPattern, { email: 1 });
        assert.deepEqual(err.keyValue, { email: 'a@example.com' });

        const updErr = await rejection(() => coll.updateOne({ _id: 2 }, { $set: { email: 'a@example.com' } }));
        assert.equal(updErr.code, 11000, updErr.message);
        assert.equal((await coll.findOne({ _id: 2 })).email, 'b@example.com');
        assert.equal(await coll.countDocuments({}), 2);
      });

      it('compound unique index rejects only the same combination', T, async () => {
        const coll = db.collection('idx_compound');
        assert.equal(await coll.createIndex({ a: 1, b: -1 }, { unique: true }), 'a_1_b_-1');
        await coll.insertMany([{ a: 1, b: 1 }, { a: 1, b: 2 }, { a: 2, b: 1 }]);
        const err = await rejection(() => coll.insertOne({ a: 1, b: 2 }));
        assert.equal(err.code, 11000, err.message);
        assert.match(err.message, /^E11000 duplicate key error/);
        assert.equal(await coll.countDocuments({}), 3);
      });

      it('listIndexes shows _id_, unique and compound indexes; dropIndex removes one', T, async () => {
        const coll = db.collection('idx_list');
        await coll.insertOne({ _id: 1, email: 'x', a: 1, b: 1, score: 5 });
        await coll.createIndex({ email: 1 }, { unique: true });
        await coll.createIndex({ a: 1, b: -1 }, { unique: true });
        assert.equal(await coll.createIndex({ score: -1 }, { name: 'by_score' }), 'by_score');
        const idx = await coll.listIndexes().toArray();
        const byName = Object.fromEntries(idx.map((i) => [i.name, i]));
        assert.deepEqual(Object.keys(byName).sort(), ['_id_', 'a_1_b_-1', 'by_score', 'email_1']);
        assert.deepEqual(byName._id_.key, { _id: 1 });
        assert.deepEqual(byName.email_1.key, { email: 1 });
        assert.equal(byName.email_1.unique, true);
        assert.deepEqual(Object.entries(byName['a_1_b_-1'].key), [['a', 1], ['b', -1]]);
        assert.equal(byName['a_1_b_-1'].unique, true);
        assert.deepEqual(byName.by_score.key, { score: -1 });
        assert.ok(!byName.by_score.unique, 'by_score must not be unique');

        await coll.dropIndex('email_1');
        const names = (await coll.listIndexes().toArray()).map((i) => i.name).sort();
        assert.deepEqual(names, ['_id_', 'a_1_b_-1', 'by_score']);
        await coll.insertOne({ _id: 2, email: 'x', a: 9, b: 9 }); // no longer unique
        assert.equal(await coll.countDocuments({ email: 'x' }), 2);
      });

      it('creating a unique index over existing duplicates fails with 11000', T, async () => {
        const coll = db.collection('idx_existing_dups');
        await coll.insertMany([{ k: 1 }, { k: 1 }]);
        const err = await rejection(() => coll.createIndex({ k: 1 }, { unique: true }));
        assert.equal(err.code, 11000, err.message);
        const names = (await coll.listIndexes().toArray()).map((i) => i.name);
        assert.deepEqual(names, ['_id_']);
      });
    });

    describe('collections', () => {
      it('listCollections, createCollection, drop', T, async () => {
        await db.createCollection('lc_a');
        await db.collection('lc_b').insertOne({ _id: 1 });
        const all = await db.listCollections().toArray();
        const names = all.map((c) => c.name);
        assert.ok(names.includes('lc_a'), `listCollections: ${names}`);
        assert.ok(names.includes('lc_b'), `listCollections: ${names}`);
        assert.equal(all.find((c) => c.name === 'lc_a').type, 'collection');
        const filtered = await db.listCollections({ name: 'lc_a' }).toArray();
        assert.deepEqual(sortedNames(filtered), ['lc_a']);
        const nameOnly = await db.listCollections({}, { nameOnly: true }).toArray();
        assert.ok(nameOnly.some((c) => c.name === 'lc_b'));

        const dupErr = await rejection(() => db.createCollection('lc_a'));
        assert.equal(dupErr.code, 48, dupErr.message); // NamespaceExists

        assert.equal(await db.collection('lc_b').drop(), true);
        const after = (await db.listCollections().toArray()).map((c) => c.name);
        assert.ok(!after.includes('lc_b'), `dropped collection still listed: ${after}`);
        assert.ok(after.includes('lc_a'));
        assert.equal(await db.collection('lc_b').countDocuments({}), 0);
      });
    });

    describe('bulkWrite', () => {
      it('unordered bulkWrite with every op type reports exact counts', T, async () => {
        const coll = db.collection('bulk');
        await coll.insertMany(Array.from({ length: 7 }, (_, i) => ({ _id: i + 1, v: i + 1 })));
        const r = await coll.bulkWrite(
          [
            { insertOne: { document: { _id: 10, v: 10 } } },
            // (the upsert is the first update: the driver maps an unordered batch's upsert index
            // relative to the batch's first op, so only this position has an unambiguous answer)
            { updateOne: { filter: { _id: 20 }, update: { $set: { v: 20 } }, upsert: true } },
            { updateOne: { filter: { _id: 1 }, update: { $set: { v: 100 } } } },
            { updateMany: { filter: { _id: { $in: [2, 3] } }, update: { $inc: { v: 1000 } } } },
            { replaceOne: { filter: { _id: 4 }, replacement: { replaced: true } } },
            { deleteOne: { filter: { _id: 5 } } },
            { deleteMany: { filter: { _id: { $in: [6, 7] } } } },
          ],
          { ordered: false },
        );
        assert.equal(r.insertedCount, 1);
        assert.equal(r.matchedCount, 4);
        assert.equal(r.modifiedCount, 4);
        assert.equal(r.deletedCount, 3);
        assert.equal(r.upsertedCount, 1);
        assert.deepEqual(r.upsertedIds, { 1: 20 });
        assert.deepEqual(await coll.find().sort({ _id: 1 }).toArray(), [
          { _id: 1, v: 100 },
          { _id: 2, v: 1002 },
          { _id: 3, v: 1003 },
          { _id: 4, replaced: true },
          { _id: 10, v: 10 },
          { _id: 20, v: 20 },
        ]);
      });

      it('ordered bulkWrite reports each upsert at its own index', T, async () => {
        const coll = db.collection('bulk_ordered');
        await coll.insertOne({ _id: 1, v: 1 });
        const r = await coll.bulkWrite([
          { updateOne: { filter: { _id: 1 }, update: { $set: { v: 2 } } } },
          { updateOne: { filter: { _id: 30 }, update: { $set: { v: 30 } }, upsert: true } },
          { updateOne: { filter: { _id: 31 }, update: { $set: { v: 31 } }, upsert: true } },
          { deleteOne: { filter: { _id: 1 } } },
        ]);
        assert.equal(r.matchedCount, 1);
        assert.equal(r.upsertedCount, 2);
        assert.equal(r.deletedCount, 1);
        assert.deepEqual(r.upsertedIds, { 1: 30, 2: 31 });
        assert.deepEqual(await coll.find().sort({ _id: 1 }).toArray(), [
          { _id: 30, v: 30 },
          { _id: 31, v: 31 },
        ]);
      });

      it('unordered bulkWrite with a duplicate insert still applies the other ops', T, async () => {
        const coll = db.collection('bulk_dup');
        await coll.insertOne({ _id: 1, v: 1 });
        const err = await rejection(() =>
          coll.bulkWrite(
            [
              { insertOne: { document: { _id: 1, v: 'dup' } } },
              { insertOne: { document: { _id: 2, v: 2 } } },
              { updateOne: { filter: { _id: 1 }, update: { $set: { v: 'updated' } } } },
            ],
            { ordered: false },
          ),
        );
        assert.ok(err instanceof MongoBulkWriteError, `got ${err.name}: ${err.message}`);
        assert.equal(err.code, 11000);
        assert.equal(err.insertedCount, 1);
        assert.equal(err.writeErrors.length, 1);
        assert.equal(err.writeErrors[0].index, 0);
        assert.deepEqual(await coll.find().sort({ _id: 1 }).toArray(), [
          { _id: 1, v: 'updated' },
          { _id: 2, v: 2 },
        ]);
      });
    });
  });
}

module.exports = { runDriverScenario };
