'use strict';
// The "seed contract": mongoose 5.13 (npm alias mongoose5, with its own mongodb 3.7 driver) replaying
// the exact operations of the reference Node-RED storage and auth plugins, which keep every
// Node-RED instance's flows, credentials, settings, sessions, library and users in MongoDB, keyed
// by `appname`. Everything here must behave exactly as it does against MongoDB.

const assert = require('node:assert/strict');
const { describe, it, before } = require('node:test');
const mongoose = require('mongoose5');
const { useRedhive } = require('./lib/redhive');

const T = { timeout: 60_000 };
const { Schema } = mongoose;

// The plugins' schemas and connect options, as they are.
const Flows = mongoose.model('Flows', new Schema({ appname: String, flow: Schema.Types.Mixed }));
const Credentials = mongoose.model('Credentials', new Schema({ appname: String, credentials: String }));
const Settings = mongoose.model('Settings', new Schema({ appname: String, settings: Schema.Types.Mixed }));
const Sessions = mongoose.model('Sessions', new Schema({ appname: String, sessions: Schema.Types.Mixed }));
const Library = mongoose.model(
  'Library',
  new Schema({ appname: String, type: String, name: String, meta: Schema.Types.Mixed, body: Schema.Types.Mixed }),
);
const Users = mongoose.model(
  'Users',
  new Schema({
    appname: { type: String, unique: true },
    username: { type: String, unique: true },
    email: String,
    permissions: { type: String, default: '*' },
    hash: { type: String, select: false },
    salt: { type: String, select: false },
  }),
);
const PLUGIN_OPTIONS = { useNewUrlParser: true, useUnifiedTopology: true, useFindAndModify: false, useCreateIndex: true };

// How the plugin escapes a library path before it becomes a prefix regex.
function escapeRegExp(s) {
  return s.replace(/[-[\]/{}()*+?.\\^$|]/g, '\\$&');
}

const APP = 'nr-tenant-one';
const OTHER_APP = 'nr-tenant-two';

// The plugin's storage operations, replayed with the same queries and options.
const storage = {
  async getFlows(appname) {
    const doc = await Flows.findOne({ appname }).exec();
    return doc ? doc.flow : [];
  },
  saveFlows: (appname, flow) => Flows.findOneAndUpdate({ appname }, { flow }, { upsert: true }).exec(),
  async getCredentials(appname) {
    const doc = await Credentials.findOne({ appname }).exec();
    return doc ? JSON.parse(doc.credentials) : {};
  },
  saveCredentials: (appname, credentials) =>
    Credentials.findOneAndUpdate({ appname }, { credentials: JSON.stringify(credentials) }, { upsert: true }).exec(),
  async getSettings(appname) {
    const doc = await Settings.findOne({ appname }).exec();
    return doc ? doc.settings : {};
  },
  saveSettings: (appname, settings) =>
    Settings.findOneAndUpdate({ appname }, { settings }, { upsert: true, useFindAndModify: false }).exec(),
  async getSessions(appname) {
    const doc = await Sessions.findOne({ appname }).exec();
    return doc ? doc.sessions : {};
  },
  saveSessions: (appname, sessions) =>
    Sessions.findOneAndUpdate({ appname }, { sessions }, { upsert: true, useFindAndModify: false }).exec(),
  saveLibraryEntry(appname, type, name, meta, body) {
    name = name.split('/').filter(Boolean).join('/');
    if (name !== '' && name[0] !== '/') name = '/' + name;
    return Library.findOneAndUpdate({ appname, name }, { name, meta, body, type }, { upsert: true, useFindAndModify: false }).exec();
  },
  async getLibraryEntry(appname, type, name) {
    if (name === '') name = '/';
    else if (name[0] !== '/') name = '/' + name;
    const file = await Library.findOne({ appname, type, name }).exec();
    if (file) return file.body;
    const reg = new RegExp('^' + escapeRegExp(name), '');
    const list = await Library.find({ appname, type, name: reg }).exec();
    const dirs = [];
    const files = [];
    for (const entry of list) {
      const rest = entry.name.replace(name, '');
      if (rest.indexOf('/') === -1) files.push({ ...entry.meta, fn: rest });
      else dirs.push(rest.slice(0, rest.indexOf('/')));
    }
    return dirs.concat(files);
  },
};

describe(`seed contract: mongoose@${mongoose.version} (Node-RED storage/auth plugins) against redhive`, () => {
  const rh = useRedhive({ tenants: ['r1'] });
  const commands = [];
  let raw; // the plugin connection's native Db, to look at what is really stored

  before(async () => {
    await mongoose.connect(rh.tenants.r1, { ...PLUGIN_OPTIONS, monitorCommands: true, serverSelectionTimeoutMS: 10_000 });
    mongoose.connection.getClient().on('commandStarted', (ev) => commands.push(ev));
    raw = mongoose.connection.db;
    await Promise.all([Flows, Credentials, Settings, Sessions, Library, Users].map((m) => m.init()));
  });

  rh.defer(() => mongoose.disconnect());

  it('getFlows for an unknown app returns [] (findOne finds nothing)', T, async () => {
    assert.deepEqual(await storage.getFlows('no-such-app'), []);
  });

  it('saveFlows twice upserts one document: second value wins, server _id kept, __v 0', T, async () => {
    const flowV1 = [
      { id: 'f1', type: 'tab', label: 'Flow 1', disabled: false, info: '' },
      { id: 'n1', type: 'inject', z: 'f1', name: '', props: [{ p: 'payload' }], repeat: '', once: false, x: 120, y: 80, wires: [['n2']] },
      { id: 'n2', type: 'debug', z: 'f1', active: true, complete: 'false', x: 320, y: 80, wires: [] },
    ];
    const flowV2 = [...flowV1, { id: 'n3', type: 'function', z: 'f1', func: 'return msg;', outputs: 1, x: 220, y: 160, wires: [[]], meta: {} }];
    await storage.saveFlows(APP, flowV1);
    const first = await raw.collection('flows').find({ appname: APP }).toArray();
    assert.equal(first.length, 1);
    assert.ok(['ObjectID', 'ObjectId'].includes(first[0]._id._bsontype), `_id is not an ObjectId: ${first[0]._id}`);
    assert.equal(first[0]._id.toHexString().length, 24, 'server must generate an ObjectId _id');
    assert.equal(first[0].__v, 0);

    await storage.saveFlows(APP, flowV2);
    const docs = await raw.collection('flows').find({ appname: APP }).toArray();
    assert.equal(docs.length, 1, 'second save must update, not insert');
    assert.equal(docs[0]._id.toHexString(), first[0]._id.toHexString());
    assert.equal(docs[0].__v, 0);
    assert.deepEqual(Object.keys(docs[0]).sort(), ['__v', '_id', 'appname', 'flow']);
    assert.deepEqual(docs[0].flow, flowV2);
    assert.deepEqual(await storage.getFlows(APP), flowV2);
  });

  it('credentials: a JSON string holding {"$": ...} round-trips; one doc per app', T, async () => {
    const creds1 = { $: 'c0ffee'.repeat(20) + '==' };
    const creds2 = { $: 'f00d'.repeat(30) + 'a1b2c3+/=' };
    await storage.saveCredentials(APP, creds1);
    await storage.saveCredentials(APP, creds2);
    const docs = await raw.collection('credentials').find({ appname: APP }).toArray();
    assert.equal(docs.length, 1);
    assert.equal(docs[0].credentials, JSON.stringify(creds2));
    assert.equal(docs[0].__v, 0);
    assert.deepEqual(await storage.getCredentials(APP), creds2);
    assert.deepEqual(await storage.getCredentials('no-such-app'), {});
  });

  it('settings with nested keys containing dots, @ and / round-trip', T, async () => {
    const settings = {
      _credentialSecret: 'abc123',
      users: {
        'admin@example.com': { editor: { view: { 'view-show-grid': true, 'view-grid-size': 20 } } },
        'ops.team/lead@example.org': { editor: { theme: 'dark' } },
      },
      nodes: {
        'node-red/inject': { version: '3.1.0', enabled: true },
        '@flowfuse/node-red-dashboard': { version: '1.2.3', types: ['ui-base', 'ui-page'] },
        'node-red-contrib-x.y': { 'a.b.c': 1 },
      },
      'editor.theme.page': 'light',
    };
    await storage.saveSettings(APP, { _credentialSecret: 'old' });
    await storage.saveSettings(APP, settings);
    const docs = await raw.collection('settings').find({ appname: APP }).toArray();
    assert.equal(docs.length, 1);
    assert.deepEqual(docs[0].settings, settings);
    assert.deepEqual(await storage.getSettings(APP), settings);
  });

  it('sessions keyed by base64 tokens (+ / =) round-trip', T, async () => {
    const tok1 = 'Ab+cD/eF==';
    const tok2 = 'tok+/=' + 'Zm9vYmFy+/x='.repeat(4);
    const sessions = {
      [tok1]: { user: 'admin', client: 'node-red-editor', scope: ['*'], accessToken: tok1, expires: 1893456000000 },
      [tok2]: { user: 'viewer', client: 'node-red-admin', scope: ['read'], accessToken: tok2, expires: 1893456000001 },
    };
    await storage.saveSessions(APP, {});
    await storage.saveSessions(APP, sessions);
    const docs = await raw.collection('sessions').find({ appname: APP }).toArray();
    assert.equal(docs.length, 1);
    assert.deepEqual(docs[0].sessions, sessions);
    assert.deepEqual(await storage.getSessions(APP), sessions);
  });

  it('library: save by name (upsert), exact get, and escaped prefix-regex listing per type', T, async () => {
    const flowsBody = JSON.stringify([{ id: 'x', type: 'tab' }]);
    await storage.saveLibraryEntry(APP, 'flows', '/demo/a.json', {}, flowsBody);
    await storage.saveLibraryEntry(APP, 'functions', '/demo/b.js', { name: 'b', outputs: 1 }, 'return msg;');
    await storage.saveLibraryEntry(APP, 'flows', '//demo//sub//c.json', {}, '[]'); // stored as /demo/sub/c.json
    await storage.saveLibraryEntry(APP, 'flows', '/demoX/lookalike.json', {}, '[]');
    await storage.saveLibraryEntry(APP, 'flows', '/a.b/dot.json', {}, '[]');
    await storage.saveLibraryEntry(APP, 'flows', '/aXb/nodot.json', {}, '[]');
    await storage.saveLibraryEntry(OTHER_APP, 'flows', '/demo/other-app.json', {}, '[]');
    // saving the same name again updates in place
    await storage.saveLibraryEntry(APP, 'flows', '/demo/a.json', { updated: true }, flowsBody);
    assert.equal(await raw.collection('libraries').countDocuments({ appname: APP, name: '/demo/a.json' }), 1);
    assert.deepEqual((await raw.collection('libraries').findOne({ appname: APP, name: '/demo/sub/c.json' })).type, 'flows');

    assert.equal(await storage.getLibraryEntry(APP, 'flows', '/demo/a.json'), flowsBody);
    assert.equal(await storage.getLibraryEntry(APP, 'functions', 'demo/b.js'), 'return msg;');

    commands.length = 0;
    const listing = await storage.getLibraryEntry(APP, 'flows', '/demo/');
    assert.deepEqual(listing, ['sub', { updated: true, fn: 'a.json' }]);
    // the prefix regex really went over the wire as ^\/demo\/ (not as a string)
    const finds = commands.filter((c) => c.commandName === 'find' && c.command.find === 'libraries');
    const regexFind = finds.find((c) => c.command.filter.name instanceof RegExp || (c.command.filter.name && c.command.filter.name._bsontype === 'BSONRegExp'));
    assert.ok(regexFind, `no regex find seen: ${JSON.stringify(finds.map((c) => c.command.filter))}`);
    const pattern = regexFind.command.filter.name.source ?? regexFind.command.filter.name.pattern;
    assert.equal(pattern, '^\\/demo\\/');

    const fnListing = await storage.getLibraryEntry(APP, 'functions', '/demo/');
    assert.deepEqual(fnListing, [{ name: 'b', outputs: 1, fn: 'b.js' }]);

    const viaModel = await Library.find({ appname: APP, type: 'flows', name: new RegExp('^' + escapeRegExp('/demo/')) }).sort({ name: 1 }).lean().exec();
    assert.deepEqual(viaModel.map((d) => d.name), ['/demo/a.json', '/demo/sub/c.json']);

    // a "." in the path is literal once escaped
    const dotted = await Library.find({ appname: APP, type: 'flows', name: new RegExp('^' + escapeRegExp('/a.b/')) }).lean().exec();
    assert.deepEqual(dotted.map((d) => d.name), ['/a.b/dot.json']);
    const root = await storage.getLibraryEntry(APP, 'flows', '');
    // one directory entry per stored file below it (the plugin does not de-duplicate)
    assert.deepEqual([...root].sort(), ['a.b', 'aXb', 'demo', 'demo', 'demoX']);
  });

  it('users: unique indexes, projections, select:false fields and +hash +salt', T, async () => {
    const idx = await raw.collection('users').listIndexes().toArray();
    const byName = Object.fromEntries(idx.map((i) => [i.name, i]));
    assert.ok(byName.appname_1 && byName.username_1, `indexes: ${Object.keys(byName)}`);
    assert.deepEqual(byName.appname_1.key, { appname: 1 });
    assert.equal(byName.appname_1.unique, true);
    assert.deepEqual(byName.username_1.key, { username: 1 });
    assert.equal(byName.username_1.unique, true);

    const created = await Users.create({ appname: APP, username: 'alice', email: 'alice@example.com', hash: 'HASH-abc', salt: 'SALT-xyz' });
    assert.equal(created.permissions, '*');

    const stored = await raw.collection('users').findOne({ appname: APP });
    assert.equal(stored.permissions, '*');
    assert.equal(stored.hash, 'HASH-abc');
    assert.equal(stored.salt, 'SALT-xyz');

    const projected = await Users.findOne({ appname: APP }, { username: 1, permissions: 1 }).lean().exec();
    assert.deepEqual(Object.keys(projected).sort(), ['_id', 'permissions', 'username']);
    assert.equal(projected.username, 'alice');
    assert.equal(projected.permissions, '*');

    const dflt = await Users.findOne({ appname: APP }).lean().exec();
    assert.equal(dflt.email, 'alice@example.com');
    assert.ok(!('hash' in dflt) && !('salt' in dflt), `select:false fields leaked: ${JSON.stringify(dflt)}`);

    const withSecrets = await Users.findOne({ appname: APP }).select('+hash +salt').lean().exec();
    assert.equal(withSecrets.hash, 'HASH-abc');
    assert.equal(withSecrets.salt, 'SALT-xyz');
    assert.equal(withSecrets.email, 'alice@example.com');
  });

  it('a second user with the same username -> E11000 duplicate key error (11000)', T, async () => {
    let err;
    try {
      await Users.create({ appname: OTHER_APP, username: 'alice', email: 'other@example.com', hash: 'h', salt: 's' });
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'duplicate username was accepted');
    assert.equal(err.code, 11000, err.message);
    assert.match(err.message, /^E11000 duplicate key error/);
    assert.match(err.message, /index: username_1 dup key: \{ username: "alice" \}/);
    assert.equal(await Users.countDocuments({ username: 'alice' }).exec(), 1);
    assert.equal(await Users.countDocuments({ appname: OTHER_APP }).exec(), 0);

    // a second user for the same app violates appname_1
    let err2;
    try {
      await Users.create({ appname: APP, username: 'bob' });
    } catch (e) {
      err2 = e;
    }
    assert.ok(err2, 'duplicate appname was accepted');
    assert.equal(err2.code, 11000, err2.message);
    assert.match(err2.message, /index: appname_1 dup key/);
  });

  it('deleteMany of an app\'s libraries leaves other apps alone', T, async () => {
    const mine = await Library.countDocuments({ appname: APP }).exec();
    assert.equal(mine, 6);
    const res = await Library.deleteMany({ appname: APP }).exec();
    assert.equal(res.deletedCount, 6);
    assert.equal(await Library.countDocuments({ appname: APP }).exec(), 0);
    assert.equal(await Library.countDocuments({ appname: OTHER_APP }).exec(), 1);
    assert.deepEqual(await storage.getLibraryEntry(APP, 'flows', '/demo/'), []);
  });
});
