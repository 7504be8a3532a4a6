'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { MongoClient } = require('mongodb');
const { useRedhive } = require('../../tests/clients/lib/redhive');
const storageModule = require('../storage');

const rh = useRedhive({ tenants: ['ta', 'tb'] });

const clientOpts = { serverSelectionTimeoutMS: 3000 };

async function newStorage(uri, appName, userDir) {
  userDir = userDir || (await fsp.mkdtemp(path.join(os.tmpdir(), 'nr-userdir-')));
  const s = storageModule.createStorage();
  await s.init({ mongoUrl: uri, appName, userDir, mongoClientOptions: clientOpts }, null);
  rh.defer(() => s.close());
  rh.defer(() => fsp.rm(userDir, { recursive: true, force: true }));
  return { s, userDir };
}

async function tenantDb(name) {
  const c = new MongoClient(rh.tenants[name], clientOpts);
  await c.connect();
  rh.defer(() => c.close());
  return c.db();
}

describe('storage plugin', () => {
  it('exposes the Node-RED Storage API as own properties', () => {
    for (const k of ['init', 'getFlows', 'saveFlows', 'getCredentials', 'saveCredentials', 'getSettings', 'saveSettings',
      'getSessions', 'saveSessions', 'getLibraryEntry', 'saveLibraryEntry']) {
      assert.ok(Object.prototype.hasOwnProperty.call(storageModule, k), k);
      assert.equal(typeof storageModule[k], 'function', k);
    }
  });

  it('init creates userDir/package.json and node_modules/, keeps an existing package.json', async () => {
    const { userDir } = await newStorage(rh.tenants.ta, 'ta');
    const pkg = JSON.parse(fs.readFileSync(path.join(userDir, 'package.json'), 'utf8'));
    assert.deepEqual(pkg, { name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true });
    assert.ok(fs.statSync(path.join(userDir, 'node_modules')).isDirectory());

    const other = await fsp.mkdtemp(path.join(os.tmpdir(), 'nr-userdir-'));
    fs.writeFileSync(path.join(other, 'package.json'), '{"name":"mine","dependencies":{"x":"1"}}');
    await newStorage(rh.tenants.ta, 'ta', other);
    assert.equal(fs.readFileSync(path.join(other, 'package.json'), 'utf8'), '{"name":"mine","dependencies":{"x":"1"}}');
  });

  it('creates the unique indexes', async () => {
    await newStorage(rh.tenants.ta, 'ta');
    const db = await tenantDb('ta');
    const want = {
      flows: { appname: 1 }, credentials: { appname: 1 }, settings: { appname: 1 }, sessions: { appname: 1 },
      libraries: { appname: 1, type: 1, name: 1 }, users: { appname: 1, username: 1 },
    };
    for (const [coll, key] of Object.entries(want)) {
      const idx = await db.collection(coll).listIndexes().toArray();
      const hit = idx.find((i) => JSON.stringify(i.key) === JSON.stringify(key));
      assert.ok(hit, `${coll}: index ${JSON.stringify(key)} in ${JSON.stringify(idx)}`);
      assert.equal(hit.unique, true, `${coll} index unique`);
    }
  });

  it('defaults before anything is saved', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'fresh-app');
    assert.deepEqual(await s.getFlows(), []);
    assert.deepEqual(await s.getCredentials(), {});
    assert.deepEqual(await s.getSettings(), {});
    assert.deepEqual(await s.getSessions(), {});
    assert.deepEqual(await s.getLibraryEntry('flows', ''), []);
  });

  it('flows round-trip, one document per appname, awkward keys survive', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'app1');
    const flows1 = [{ id: 'f1', type: 'tab', label: 'Flow 1' }, { id: 'n1', type: 'inject', z: 'f1', wires: [['n2']] }];
    await s.saveFlows(flows1, { username: 'alice' });
    assert.deepEqual(await s.getFlows(), flows1);
    const flows2 = [{ id: 'f1', type: 'tab', label: 'Flow 1b', $weird: 1, 'a.b': { $x: 'y' } }];
    await s.saveFlows(flows2, null);
    assert.deepEqual(await s.getFlows(), flows2);
    const db = await tenantDb('ta');
    assert.equal(await db.collection('flows').countDocuments({ appname: 'app1' }), 1);
    await s.saveFlows(flows1);
    const doc = await db.collection('flows').findOne({ appname: 'app1' });
    assert.deepEqual(doc.flow, flows1, 'plain flows are stored as a plain array (reference data model)');
  });

  it('credentials: stored as a JSON string, keys starting with $ survive', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'app1');
    const creds = { $: 'encrypted-blob', n1: { $user: 'u', password: 'p', 'x.y': 1 } };
    await s.saveCredentials(creds);
    assert.deepEqual(await s.getCredentials(), creds);
    const db = await tenantDb('ta');
    const doc = await db.collection('credentials').findOne({ appname: 'app1' });
    assert.equal(typeof doc.credentials, 'string');
    assert.deepEqual(JSON.parse(doc.credentials), creds);
    // a record holding an object (not a string) is still read
    await db.collection('credentials').updateOne({ appname: 'legacy' }, { $set: { credentials: { a: 1 } } }, { upsert: true });
    const { s: s2 } = await newStorage(rh.tenants.ta, 'legacy');
    assert.deepEqual(await s2.getCredentials(), { a: 1 });
  });

  it('settings and sessions round-trip (including $/dotted keys)', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'app1');
    const settings = { _credentialSecret: 'x', users: { alice: { editor: { view: { 'view-grid-size': 20 } } } } };
    await s.saveSettings(settings);
    assert.deepEqual(await s.getSettings(), settings);
    const odd = { users: { 'bob.smith@example.com': { $v: 1 } } };
    await s.saveSettings(odd);
    assert.deepEqual(await s.getSettings(), odd);
    const sessions = { 'tok+/=': { user: 'alice', client: 'node-red-editor', scope: ['*'], accessToken: 'tok+/=', expires: 1 } };
    await s.saveSessions(sessions);
    assert.deepEqual(await s.getSessions(), sessions);
    const db = await tenantDb('ta');
    assert.equal(await db.collection('settings').countDocuments({ appname: 'app1' }), 1);
    assert.equal(await db.collection('sessions').countDocuments({ appname: 'app1' }), 1);
  });

  it('library: same path under flows and functions does not collide', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'lib1');
    await s.saveLibraryEntry('flows', 'shared/name', {}, '[{"id":"x"}]');
    await s.saveLibraryEntry('functions', 'shared/name', { outputs: 1 }, 'return msg;');
    assert.equal(await s.getLibraryEntry('flows', 'shared/name'), '[{"id":"x"}]');
    assert.equal(await s.getLibraryEntry('functions', 'shared/name'), 'return msg;');
    assert.deepEqual(await s.getLibraryEntry('functions', 'shared'), [{ outputs: 1, fn: 'name' }]);
    assert.deepEqual(await s.getLibraryEntry('flows', 'shared/'), [{ fn: 'name' }]);
    // overwrite one, the other is untouched
    await s.saveLibraryEntry('functions', 'shared/name', { outputs: 2 }, 'return [msg,msg];');
    assert.equal(await s.getLibraryEntry('flows', 'shared/name'), '[{"id":"x"}]');
    assert.equal(await s.getLibraryEntry('functions', 'shared/name'), 'return [msg,msg];');
    const db = await tenantDb('ta');
    assert.equal(await db.collection('libraries').countDocuments({ appname: 'lib1' }), 2);
  });

  it('library: regex metacharacters in paths are literal (no crash, no over-match)', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'lib2');
    for (const p of ['(x', '(x/inner', 'a.c/one', 'abc/two', '[z/three', 'st*r/four', 'q?/five', 'b\\s/six', '^$/seven', 'a+|b/eight']) {
      await s.saveLibraryEntry('functions', p, {}, `body of ${p}`);
    }
    assert.equal(await s.getLibraryEntry('functions', '(x'), 'body of (x');
    assert.deepEqual(await s.getLibraryEntry('functions', '(x/'), [{ fn: 'inner' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', 'a.c'), [{ fn: 'one' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', '[z'), [{ fn: 'three' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', 'st*r'), [{ fn: 'four' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', 'q?'), [{ fn: 'five' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', 'b\\s'), [{ fn: 'six' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', '^$'), [{ fn: 'seven' }]);
    assert.deepEqual(await s.getLibraryEntry('functions', 'a+|b'), [{ fn: 'eight' }]);
    await assert.rejects(s.getLibraryEntry('functions', '(y'), (e) => e.code === 'not_found');
    await assert.rejects(s.getLibraryEntry('functions', '.*'), (e) => e.code === 'not_found');
    assert.deepEqual(await s.getLibraryEntry('functions', '.*/'), []);
  });

  it('library: directory listings with or without trailing slash, deduplicated, no empty names', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'lib3');
    await s.saveLibraryEntry('flows', 'top', {}, '[]');
    await s.saveLibraryEntry('flows', 'd1/a', {}, '[]');
    await s.saveLibraryEntry('flows', 'd1/b', {}, '[]');
    await s.saveLibraryEntry('flows', 'd1/sub/x', {}, '[]');
    await s.saveLibraryEntry('flows', 'd1/sub/y', {}, '[]');
    await s.saveLibraryEntry('flows', 'd1/sub/deeper/z', {}, '[]');
    await s.saveLibraryEntry('flows', 'd1/sub2/w', {}, '[]');
    await s.saveLibraryEntry('functions', 'd1/other-type', {}, 'x');
    const want = ['sub', 'sub2', { fn: 'a' }, { fn: 'b' }];
    assert.deepEqual(await s.getLibraryEntry('flows', 'd1'), want);
    assert.deepEqual(await s.getLibraryEntry('flows', 'd1/'), want);
    assert.deepEqual(await s.getLibraryEntry('flows', ''), ['d1', { fn: 'top' }]);
    assert.deepEqual(await s.getLibraryEntry('flows', 'd1/sub'), ['deeper', { fn: 'x' }, { fn: 'y' }]);
    assert.deepEqual(await s.getLibraryEntry('flows', 'nope/'), []);
    await assert.rejects(s.getLibraryEntry('flows', 'nope'), (e) => e.code === 'not_found');
    // flows saved by the filesystem store carry .json: both spellings load
    await s.saveLibraryEntry('flows', 'fs/old.json', {}, '[1]');
    assert.equal(await s.getLibraryEntry('flows', 'fs/old'), '[1]');
    assert.equal(await s.getLibraryEntry('flows', 'd1/a.json'), '[]');
    await assert.rejects(s.saveLibraryEntry('flows', 'dir/', {}, '[]'));
  });

  it('library meta with $ keys survives', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'lib4');
    await s.saveLibraryEntry('functions', 'm', { $odd: 1, name: 'm', 'a.b': 2 }, 'b');
    assert.deepEqual(await s.getLibraryEntry('functions', ''), [{ $odd: 1, name: 'm', 'a.b': 2, fn: 'm' }]);
  });

  it('two appnames in one database are separate', async () => {
    const { s: a } = await newStorage(rh.tenants.ta, 'appA');
    const { s: b } = await newStorage(rh.tenants.ta, 'appB');
    await a.saveFlows([{ id: 'A' }]);
    await b.saveFlows([{ id: 'B' }]);
    await a.saveLibraryEntry('flows', 'x', {}, 'A');
    assert.deepEqual(await a.getFlows(), [{ id: 'A' }]);
    assert.deepEqual(await b.getFlows(), [{ id: 'B' }]);
    assert.deepEqual(await b.getLibraryEntry('flows', ''), []);
  });

  it("tenant isolation: tenant A's MONGO_URL cannot read tenant B's database (code 13)", async () => {
    const { s: sb } = await newStorage(rh.tenants.tb, 'tb');
    await sb.saveFlows([{ id: 'secret-of-b' }]);
    const c = new MongoClient(rh.tenants.ta, clientOpts);
    rh.defer(() => c.close());
    await assert.rejects(c.db('tb').collection('flows').findOne({}), (e) => e.code === 13);
    await assert.rejects(c.db('tb').collection('flows').insertOne({ x: 1 }), (e) => e.code === 13);
    // and the storage plugin, given A's URL, only ever touches A's database
    const { s: sa } = await newStorage(rh.tenants.ta, 'tb');
    assert.deepEqual(await sa.getFlows(), []);
  });

  it('a save that fails after the driver gave up rejects (store stopped mid-test), then recovers', async () => {
    const { s } = await newStorage(rh.tenants.ta, 'crash');
    await s.saveFlows([{ id: 'before' }]);
    await s.saveSessions({ keep: { user: 'alice' } });
    await rh.pause();
    try {
      const t0 = Date.now();
      await assert.rejects(s.saveFlows([{ id: 'during' }]));
      await assert.rejects(s.saveCredentials({ n: { password: 'x' } }));
      await assert.rejects(s.saveLibraryEntry('flows', 'x', {}, '[]'));
      await assert.rejects(s.getFlows());
      await assert.rejects(s.saveSettings({ a: 1 }));
      // sessions: logged, not rejected (Node-RED 5.0.7 has no rejection handler there)
      await s.saveSessions({ t: { user: 'x' } });
      assert.deepEqual(await s.getSessions(), {});
      assert.ok(Date.now() - t0 < 30_000);
    } finally {
      await rh.resume();
    }
    assert.deepEqual(await s.getFlows(), [{ id: 'before' }], 'nothing half-written');
    assert.deepEqual(await s.getSessions(), { keep: { user: 'alice' } });
    await s.saveFlows([{ id: 'after' }]);
    assert.deepEqual(await s.getFlows(), [{ id: 'after' }]);
  });

  it('init without URL or app name rejects', async () => {
    const s = storageModule.createStorage();
    const saved = { u: process.env.MONGO_URL, a: process.env.APP_NAME };
    delete process.env.MONGO_URL;
    delete process.env.APP_NAME;
    try {
      await assert.rejects(s.init({ appName: 'x', userDir: os.tmpdir() }), /MongoDB URL/);
      await assert.rejects(s.init({ mongoUrl: rh.tenants.ta, userDir: os.tmpdir() }), /application name/);
    } finally {
      if (saved.u !== undefined) process.env.MONGO_URL = saved.u;
      if (saved.a !== undefined) process.env.APP_NAME = saved.a;
    }
  });

  it('escapeRegExp makes every metacharacter literal', () => {
    const { escapeRegExp } = storageModule._internals;
    for (const p of ['(x', 'a.b', '[', '*', '+?', '^$', '{1}', 'a|b', '\\', ')']) {
      assert.ok(new RegExp('^' + escapeRegExp(p) + '$').test(p), p);
    }
  });
});
