'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const bcrypt = require('bcrypt');
const { MongoClient } = require('mongodb');
const { useRedhive } = require('../../tests/clients/lib/redhive');
const authModule = require('../auth');

const rh = useRedhive({ tenants: ['ua', 'ub'] });
const clientOpts = { serverSelectionTimeoutMS: 3000 };
// A cheap cost keeps tests fast; cost-12 records are tested once explicitly.
const FAST = { freeFailures: 3, baseDelayMs: 200, maxDelayMs: 800, windowMs: 60_000 };

function newAuth(tenant, appName, throttle = FAST) {
  const a = authModule.create({ mongoUrl: rh.tenants[tenant], appName, mongoClientOptions: clientOpts, throttle, warn: () => {} });
  rh.defer(() => a.close());
  return a;
}

async function users(tenant) {
  const c = new MongoClient(rh.tenants[tenant], clientOpts);
  await c.connect();
  rh.defer(() => c.close());
  return c.db().collection('users');
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return { r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

describe('auth plugin', () => {
  it('has the adminAuth shape Node-RED expects; no anonymous access', async () => {
    const a = newAuth('ua', 'ua');
    assert.equal(a.type, 'credentials');
    assert.equal(typeof a.users, 'function');
    assert.equal(typeof a.authenticate, 'function');
    assert.equal(await a.default(), null);
    // Node-RED merges settings.adminAuth with Object.assign: only these are enumerable
    assert.deepEqual(Object.keys(a).sort(), ['authenticate', 'default', 'type', 'users']);
  });

  it('legacy PBKDF2 test vectors (passport-local-mongoose)', async () => {
    const v = authModule.verifyRecord;
    assert.equal(await v({ salt: 'c7ZagkONRCBb53br', hash: 'GE+wS9Yhom/dGyJZwJmGKLY8eVFPHVfO' }, 'secret'), true);
    assert.equal(await v({ salt: 'Ykwe+8G9NkutpTO8', hash: 'WSfbvTn/U/IAutWIxB2oN3owx0UkN3DO' }, 'secret'), true);
    assert.equal(await v({ salt: 'c7ZagkONRCBb53br', hash: 'GE+wS9Yhom/dGyJZwJmGKLY8eVFPHVfO' }, 'Secret'), false);
    assert.equal(await v({ salt: 'Ykwe+8G9NkutpTO8', hash: 'GE+wS9Yhom/dGyJZwJmGKLY8eVFPHVfO' }, 'secret'), false);
    assert.equal(await v({ salt: 'c7ZagkONRCBb53br', hash: 'GE+wS9Yhom' }, 'secret'), false, 'short hash');
    assert.equal(await v(null, 'secret'), false);
    assert.equal(await v({}, 'secret'), false);
  });

  it('legacy PBKDF2 user records log in through authenticate()', async () => {
    const coll = await users('ua');
    await coll.insertOne({ appname: 'ua', username: 'legacy', email: 'l@example.com', permissions: '*',
      salt: 'c7ZagkONRCBb53br', hash: 'GE+wS9Yhom/dGyJZwJmGKLY8eVFPHVfO' });
    const a = newAuth('ua', 'ua');
    assert.deepEqual(await a.authenticate('legacy', 'secret'), { username: 'legacy', permissions: '*' });
    assert.equal(await a.authenticate('legacy', 'wrong'), null);
  });

  it('bcrypt records: $2b$ (cost 12), $2a$ and $2y$ all verify', async () => {
    const coll = await users('ua');
    const h12 = await authModule.hashPassword('pw-b');
    assert.match(h12, /^\$2b\$12\$/);
    const h4 = await bcrypt.hash('pw-a', 4);
    await coll.insertMany([
      { appname: 'ua', username: 'bob', permissions: '*', password: h12 },
      { appname: 'ua', username: 'amy', permissions: 'read', password: h4.replace(/^\$2b\$/, '$2a$') },
      { appname: 'ua', username: 'yan', permissions: ['read'], password: h4.replace(/^\$2b\$/, '$2y$') },
    ]);
    const a = newAuth('ua', 'ua');
    assert.deepEqual(await a.authenticate('bob', 'pw-b'), { username: 'bob', permissions: '*' });
    assert.deepEqual(await a.authenticate('amy', 'pw-a'), { username: 'amy', permissions: 'read' });
    assert.deepEqual(await a.authenticate('yan', 'pw-a'), { username: 'yan', permissions: 'read' });
    assert.equal(await a.authenticate('bob', 'pw-a'), null);
    assert.equal(await a.authenticate('bob', ''), null);
    assert.equal(await a.authenticate('bob', undefined), null);
    assert.deepEqual(await a.users('bob'), { username: 'bob', permissions: '*' });
    const u = await a.users('amy');
    assert.equal(u.password, undefined, 'no secret leaves users()');
    assert.equal(await a.users('nobody'), null);
  });

  it('usernames are matched lower-cased and trimmed', async () => {
    const coll = await users('ua');
    await coll.insertOne({ appname: 'ua', username: 'carol', permissions: '*', password: await bcrypt.hash('pw-c', 4) });
    const a = newAuth('ua', 'ua');
    assert.deepEqual(await a.authenticate('CaRoL', 'pw-c'), { username: 'carol', permissions: '*' });
    assert.deepEqual(await a.authenticate('  carol ', 'pw-c'), { username: 'carol', permissions: '*' });
    assert.deepEqual(await a.users('CAROL'), { username: 'carol', permissions: '*' });
    assert.equal(authModule.normalizeUsername(' Émile '), 'émile');
  });

  it('records with missing/unknown permissions or no password are refused', async () => {
    const coll = await users('ua');
    const pw = await bcrypt.hash('pw', 4);
    await coll.insertMany([
      { appname: 'ua', username: 'noperm', password: pw },
      { appname: 'ua', username: 'badperm', permissions: 'admin', password: pw },
      { appname: 'ua', username: 'nopass', permissions: '*' },
    ]);
    const a = newAuth('ua', 'ua');
    assert.equal(await a.authenticate('noperm', 'pw'), null);
    assert.equal(await a.authenticate('badperm', 'pw'), null);
    assert.equal(await a.authenticate('nopass', ''), null);
    assert.equal(await a.users('noperm'), null);
  });

  it('users of another appname or another tenant are not visible', async () => {
    const coll = await users('ua');
    await coll.insertOne({ appname: 'other-app', username: 'dave', permissions: '*', password: await bcrypt.hash('pw', 4) });
    const collB = await users('ub');
    await collB.insertOne({ appname: 'ub', username: 'erin', permissions: '*', password: await bcrypt.hash('pw', 4) });
    const a = newAuth('ua', 'ua');
    assert.equal(await a.authenticate('dave', 'pw'), null);
    assert.equal(await a.users('erin'), null);
    assert.ok(await newAuth('ub', 'ub').authenticate('erin', 'pw'));
  });

  it('the unique {appname, username} index exists', async () => {
    const a = newAuth('ua', 'ua');
    await a.users('x');
    const idx = await (await users('ua')).listIndexes().toArray();
    const hit = idx.find((i) => JSON.stringify(i.key) === JSON.stringify({ appname: 1, username: 1 }));
    assert.ok(hit && hit.unique, JSON.stringify(idx));
  });

  it('repeated failures are slowed down per username, and success resets', async () => {
    const coll = await users('ua');
    await coll.insertOne({ appname: 'ua', username: 'frank', permissions: '*', password: await bcrypt.hash('pw-f', 4) });
    await coll.insertOne({ appname: 'ua', username: 'gina', permissions: '*', password: await bcrypt.hash('pw-g', 4) });
    const a = newAuth('ua', 'ua');
    const fails = [];
    for (let i = 0; i < 5; i++) fails.push((await timed(() => a.authenticate('frank', 'bad'))).ms);
    // 3 free failures, then 200 ms, 400 ms
    assert.ok(fails[3] >= 190, `4th attempt delayed: ${fails}`);
    assert.ok(fails[4] >= 390, `5th attempt delayed more: ${fails}`);
    // even the right password waits (800 ms cap reached next), but succeeds
    const ok = await timed(() => a.authenticate('FRANK', 'pw-f'));
    assert.ok(ok.r, 'correct password still accepted');
    assert.ok(ok.ms >= 790, `capped delay applied: ${ok.ms}`);
    // success reset the counter
    const after = await timed(() => a.authenticate('frank', 'bad'));
    assert.ok(after.ms < 190, `no delay after success: ${after.ms}`);
    // another user is unaffected
    const other = await timed(() => a.authenticate('gina', 'pw-g'));
    assert.ok(other.r && other.ms < 190, `other user not delayed: ${other.ms}`);
    // parallel attempts for one name are serialised, so they cannot dodge the delay
    const b = newAuth('ua', 'ua');
    for (let i = 0; i < 3; i++) await b.authenticate('frank', 'bad');
    const par = await timed(() => Promise.all([b.authenticate('frank', 'bad'), b.authenticate('frank', 'bad')]));
    assert.ok(par.ms >= 590, `parallel attempts serialised (200+400): ${par.ms}`);
  });

  it('throttle delays follow the documented defaults', () => {
    const t = authModule.createThrottle();
    const now = 1_000_000;
    for (let i = 0; i < 3; i++) t.fail('x', now);
    assert.equal(t.delayFor('x', now), 1000);
    t.fail('x', now);
    assert.equal(t.delayFor('x', now), 2000);
    for (let i = 0; i < 10; i++) t.fail('x', now);
    assert.equal(t.delayFor('x', now), 30_000);
    assert.equal(t.delayFor('x', now + 15 * 60_000), 0, 'window expired');
  });

  it('unknown users cost the same time as known ones (dummy bcrypt compare)', async () => {
    const coll = await users('ua');
    await coll.insertOne({ appname: 'ua', username: 'hank', permissions: '*', password: await authModule.hashPassword('pw-h') });
    const a = newAuth('ua', 'ua', { freeFailures: 1000 });
    await a.authenticate('warmup', 'x');
    const known = [];
    const unknown = [];
    for (let i = 0; i < 3; i++) {
      known.push((await timed(() => a.authenticate('hank', 'wrong'))).ms);
      unknown.push((await timed(() => a.authenticate(`ghost${i}`, 'wrong'))).ms);
    }
    const med = (xs) => xs.sort((x, y) => x - y)[1];
    const k = med(known);
    const u = med(unknown);
    assert.ok(k > 50, `cost-12 bcrypt takes time: ${k}`);
    assert.ok(u > k * 0.6 && u < k * 1.6, `unknown ${unknown} vs known ${known}`);
  });

  it('store unreachable: authenticate() and users() resolve (never reject), users() keeps the last known answer', async () => {
    const warnings = [];
    const a = authModule.create({ mongoUrl: 'mongodb://127.0.0.1:1/x', appName: 'x',
      mongoClientOptions: { serverSelectionTimeoutMS: 300 }, throttle: FAST, warn: (m) => warnings.push(m) });
    rh.defer(() => a.close());
    assert.equal(await a.authenticate('someone', 'pw'), null);
    assert.equal(await a.users('someone'), null);
    assert.equal(a.throttle.delayFor('someone'), 0, 'an outage is not a failed login');
    assert.equal(warnings.length, 2);

    const coll = await users('ua');
    await coll.insertOne({ appname: 'ua', username: 'ivy', permissions: 'read', password: await bcrypt.hash('pw-i', 4) });
    const b = newAuth('ua', 'ua');
    assert.deepEqual(await b.users('ivy'), { username: 'ivy', permissions: 'read' });
    await rh.pause();
    try {
      assert.deepEqual(await b.users('IVY'), { username: 'ivy', permissions: 'read' }, 'last known answer');
      assert.equal(await b.users('nobody-known'), null);
      assert.equal(await b.authenticate('ivy', 'pw-i'), null);
    } finally {
      await rh.resume();
    }
    assert.ok(await b.authenticate('ivy', 'pw-i'), 'works again after the store is back');
  });
});
