'use strict';
// Many clients hammering one counter at once: no lost updates, exactly one upsert.

const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { MongoClient } = require('mongodb7');
const { useRedhive } = require('./lib/redhive');

const N = 8; // separate MongoClient instances (separate connections)
const M = 250; // operations per client
const T = { timeout: 180_000 };

describe(`concurrency: ${N} mongodb7 clients x ${M} ops against redhive`, () => {
  const rh = useRedhive({ tenants: ['r1'] });
  const clients = [];

  rh.defer(() => Promise.all(clients.map((c) => c.close().catch(() => {}))));

  async function openClients(options) {
    const mine = [];
    for (let i = 0; i < N; i++) {
      const c = new MongoClient(rh.tenants.r1, { serverSelectionTimeoutMS: 10_000, ...options });
      clients.push(c);
      mine.push(c);
    }
    await Promise.all(mine.map((c) => c.connect()));
    return mine;
  }

  /** Like Promise.all, but waits for every promise, then fails with how many rejected and the first error. */
  async function settleAll(promises) {
    const settled = await Promise.allSettled(promises);
    const failed = settled.filter((r) => r.status === 'rejected');
    if (failed.length) {
      const first = failed[0].reason;
      first.message = `${failed.length} of ${settled.length} failed; first: ${first.message}`;
      throw first;
    }
    return settled.map((r) => r.value);
  }

  function tally(results) {
    const t = { matched: 0, upserted: 0, modified: 0 };
    for (const r of results) {
      t.matched += r.matchedCount;
      t.modified += r.modifiedCount;
      t.upserted += r.upsertedCount;
    }
    return t;
  }

  it(`${N} connections, each ${M} sequential $inc upserts, all clients at once -> n = ${N * M}`, T, async () => {
    const cs = await openClients({ maxPoolSize: 1 });
    const perClient = await settleAll(
      cs.map(async (c) => {
        const coll = c.db('r1').collection('counters');
        const results = [];
        for (let j = 0; j < M; j++) {
          results.push(await coll.updateOne({ _id: 'ctr' }, { $inc: { n: 1 } }, { upsert: true }));
        }
        return results;
      }),
    );
    const all = perClient.flat();
    const t = tally(all);
    assert.equal(all.length, N * M);
    assert.equal(t.upserted, 1, 'exactly one of the concurrent upserts must insert');
    assert.equal(t.matched, N * M - 1);
    assert.equal(t.modified, N * M - 1);
    const doc = await cs[0].db('r1').collection('counters').findOne({ _id: 'ctr' });
    assert.deepEqual(doc, { _id: 'ctr', n: N * M });
    assert.equal(await cs[0].db('r1').collection('counters').countDocuments({}), 1);
  });

  it(`${N} clients firing all ${M} upserts in parallel (pooled connections) -> n = ${N * M}`, T, async () => {
    const cs = await openClients({ maxPoolSize: 10 });
    const all = await settleAll(
      cs.flatMap((c) => {
        const coll = c.db('r1').collection('counters');
        return Array.from({ length: M }, () => coll.updateOne({ _id: 'burst' }, { $inc: { n: 1 } }, { upsert: true }));
      }),
    );
    assert.equal(all.length, N * M);
    const t = tally(all);
    assert.equal(t.upserted, 1, 'exactly one of the concurrent upserts must insert');
    assert.equal(t.matched, N * M - 1);
    const doc = await cs[0].db('r1').collection('counters').findOne({ _id: 'burst' });
    assert.deepEqual(doc, { _id: 'burst', n: N * M });
  });

  it(`${N} clients inserting ${M} distinct docs each in parallel -> ${N * M} docs, none lost`, T, async () => {
    const cs = await openClients({ maxPoolSize: 4 });
    await settleAll(
      cs.flatMap((c, i) => {
        const coll = c.db('r1').collection('parallel_inserts');
        return Array.from({ length: M }, (_, j) => coll.insertOne({ _id: `${i}-${j}`, client: i, j }));
      }),
    );
    const coll = cs[0].db('r1').collection('parallel_inserts');
    assert.equal(await coll.countDocuments({}), N * M);
    for (let i = 0; i < N; i++) assert.equal(await coll.countDocuments({ client: i }), M);
  });

  it('what was written survives a graceful restart (SIGTERM, serve again)', T, async () => {
    // compares with the state just before the restart, so it does not depend on the tests above
    const snapshot = async (c) => ({
      counters: await c.db('r1').collection('counters').find().sort({ _id: 1 }).toArray(),
      inserts: await c.db('r1').collection('parallel_inserts').countDocuments({}),
      sample: await c.db('r1').collection('parallel_inserts').findOne({ _id: '7-249' }),
    });
    const pre = new MongoClient(rh.tenants.r1, { serverSelectionTimeoutMS: 10_000 });
    await pre.connect();
    await pre.db('r1').collection('restart_marker').insertOne({ _id: 'm', at: 'before-restart' });
    const before = await snapshot(pre);
    await pre.close();
    await Promise.all(clients.splice(0).map((c) => c.close()));

    await rh.restart();

    const c = new MongoClient(rh.tenants.r1, { serverSelectionTimeoutMS: 10_000 });
    clients.push(c);
    await c.connect();
    assert.deepEqual(await c.db('r1').collection('restart_marker').findOne({ _id: 'm' }), { _id: 'm', at: 'before-restart' });
    assert.deepEqual(await snapshot(c), before);
  });
});
