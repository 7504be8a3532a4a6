'use strict';
// The reference design's published adminAuth plugin, node-red-contrib-auth-mongodb@0.0.11 (mongoose 5
// + passport-local-mongoose 6), loaded exactly as Node-RED loads an adminAuth module and pointed at a
// redhive tenant. The user record is written the way the reference manager wrote it: a
// passport-local-mongoose salt + hash (PBKDF2-SHA256, 901 iterations, 24 bytes, base64).

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { describe, it, before } = require('node:test');
const { MongoClient } = require('mongodb7');
const { useRedhive } = require('./lib/redhive');

const T = { timeout: 60_000 };
const PLUGIN = 'node-red-contrib-auth-mongodb';
const PLUGIN_DIR = path.dirname(require.resolve(`${PLUGIN}/package.json`));
// The mongoose instance the plugin itself uses (its own nested mongoose 5), so it can be closed.
const pluginMongoose = require(require.resolve('mongoose', { paths: [PLUGIN_DIR] }));

const TENANT = 'seedauth';
const SALT = 'c7ZagkONRCBb53br';
const PASSWORD = 'secret';
const HASH = 'GE+wS9Yhom/dGyJZwJmGKLY8eVFPHVfO';

describe(`published ${PLUGIN}@${require(`${PLUGIN}/package.json`).version} (mongoose ${pluginMongoose.version}) against redhive`, () => {
  const rh = useRedhive({ tenants: [TENANT, 'bystander'] });
  let auth;
  let client;

  before(async () => {
    // the known vector is what passport-local-mongoose computes with the plugin's options
    assert.equal(crypto.pbkdf2Sync(PASSWORD, SALT, 901, 24, 'sha256').toString('base64'), HASH);
    client = new MongoClient(rh.tenants[TENANT], { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    await client.db().collection('users').insertOne({
      permissions: '*',
      appname: TENANT,
      username: 'admin',
      email: 'admin@example.com',
      salt: SALT,
      hash: HASH,
      __v: 0,
    });
    // a user of the same name in another tenant must not be the one found
    const other = new MongoClient(rh.tenants.bystander, { serverSelectionTimeoutMS: 10_000 });
    try {
      const salt = crypto.randomBytes(12).toString('base64');
      await other.db().collection('users').insertOne({
        permissions: 'read', appname: 'bystander', username: 'admin', email: 'b@example.com',
        salt, hash: crypto.pbkdf2Sync('other-secret', salt, 901, 24, 'sha256').toString('base64'), __v: 0,
      });
    } finally {
      await other.close();
    }
    // as Node-RED does with settings.adminAuth = require('node-red-contrib-auth-mongodb').setup({...})
    auth = require(PLUGIN).setup({ mongoURI: rh.tenants[TENANT], appname: TENANT });
    assert.equal(auth.type, 'credentials');
  }, { timeout: 60_000 });

  rh.defer(async () => {
    await pluginMongoose.disconnect();
    if (client) await client.close();
  });

  it('authenticate(admin, secret) resolves {username, permissions:"*"}', T, async () => {
    assert.deepEqual(await auth.authenticate('admin', PASSWORD), { username: 'admin', permissions: '*' });
    assert.equal(pluginMongoose.connection.readyState, 1, 'the plugin connection is open');
  });

  it('username is matched lower-cased (ADMIN)', T, async () => {
    assert.deepEqual(await auth.authenticate('ADMIN', PASSWORD), { username: 'admin', permissions: '*' });
  });

  it('a wrong password resolves null', T, async () => {
    assert.equal(await auth.authenticate('admin', 'Secret'), null);
    assert.equal(await auth.authenticate('admin', ''), null);
    assert.equal(await auth.authenticate('admin', 'other-secret'), null, "the other tenant's password");
  });

  it('an unknown user resolves null', T, async () => {
    assert.equal(await auth.authenticate('nobody', PASSWORD), null);
    assert.equal(await auth.users('nobody'), null);
  });

  it('users(admin) returns the user', T, async () => {
    assert.deepEqual(await auth.users('admin'), { username: 'admin', permissions: '*' });
    assert.deepEqual(await auth.users('Admin'), { username: 'admin', permissions: '*' });
  });

  it('default() resolves null (no anonymous access)', T, async () => {
    assert.equal(await auth.default(), null);
  });

  it('the record is unchanged: the plugin did not rewrite it', T, async () => {
    const docs = await client.db().collection('users').find({}).toArray();
    assert.equal(docs.length, 1);
    const { _id, ...rest } = docs[0];
    assert.deepEqual(rest, {
      permissions: '*', appname: TENANT, username: 'admin', email: 'admin@example.com', salt: SALT, hash: HASH, __v: 0,
    });
  });
});
