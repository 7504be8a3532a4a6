'use strict';
// Integration test with REAL Node-RED 5.0.7 on Node 22 (installed by test/setup-node-red.sh into
// /var/cache/redhive, or $REDHIVE_NR_CACHE), our settings.js, and a real redhive shim.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { MongoClient } = require('mongodb');
const { useRedhive, freePorts, track, tail } = require('./helpers/redhive');
const { hashPassword } = require('../auth');
const heap = require('../heap');

const ROOT = path.join(__dirname, '..');
const APP = 'nrt';
const rh = useRedhive({ tenants: [APP, 'other'] });

const ADMIN = { username: 'Admin@Example.com', password: 'admin-Pw-1!' };
const VIEWER = { username: 'viewer', password: 'viewer-Pw-2!' };
const MQTT_PASSWORD = 'plaintext-P@ss-9d2f';

let NODE22;
let RED_JS;
let port;
let userDir;
let nr = null; // { child, exited, logPath }
let db; // tenant db
let mongo;

async function startNodeRed(extraEnv = {}) {
  const logPath = path.join(userDir, `node-red-${Date.now()}.log`);
  const fd = fs.openSync(logPath, 'a');
  const env = {
    PATH: `${path.dirname(NODE22)}:${process.env.PATH}`,
    HOME: userDir,
    APP_NAME: APP,
    MONGO_URL: rh.tenants[APP],
    NODE_RED_CREDENTIAL_SECRET: 'tenant-secret-0123456789',
    PORT: String(port),
    REDHIVE_UI_HOST: '127.0.0.1',
    REDHIVE_USER_DIR: userDir,
    REDHIVE_TITLE: 'Tenant <nrt>',
    REDHIVE_MONGO_TIMEOUT_MS: '5000',
    REDHIVE_MEMORY_LIMIT_MB: '512',
    ...extraEnv,
  };
  let child;
  try {
    child = track(spawn(NODE22, [...heap.nodeArgs(env), RED_JS, '--settings', path.join(ROOT, 'settings.js')], {
      env, stdio: ['ignore', fd, fd], cwd: userDir,
    }));
  } finally {
    fs.closeSync(fd);
  }
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let gone = null;
  exited.then((r) => (gone = r));
  nr = { child, exited, logPath };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (gone) throw new Error(`node-red exited ${JSON.stringify(gone)}:\n${tail(logPath, 60)}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/auth/login`);
      if (r.status === 200 && /Started flows|Stopping flows|safe mode/i.test(fs.readFileSync(logPath, 'utf8'))) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`node-red not up in 90 s:\n${tail(logPath, 60)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopNodeRed() {
  if (!nr) return;
  const { child, exited } = nr;
  nr = null;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
}

const url = (p) => `http://127.0.0.1:${port}${p}`;

async function token(user, scope = '*') {
  const r = await fetch(url('/auth/token'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope, username: user.username, password: user.password }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `token for ${user.username}: ${r.status} ${text}`);
  return JSON.parse(text).access_token;
}

async function api(method, p, tok, body, headers = {}) {
  const h = { ...headers };
  if (tok) h.authorization = `Bearer ${tok}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(url(p), { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not json */
  }
  return { status: r.status, text, json, type: r.headers.get('content-type') };
}

const FLOWS = [
  { id: 'tab1', type: 'tab', label: 'Integration', disabled: false, info: '' },
  { id: 'inj1', type: 'inject', z: 'tab1', name: 'tick', props: [{ p: 'payload' }], repeat: '', once: false, topic: '', payload: 'hello', payloadType: 'str', x: 100, y: 100, wires: [['dbg1']] },
  { id: 'dbg1', type: 'debug', z: 'tab1', name: 'out', active: true, complete: 'payload', x: 300, y: 100, wires: [] },
  { id: 'brk1', type: 'mqtt-broker', name: 'local broker', broker: '127.0.0.1', port: '1', clientid: '', autoConnect: false, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true,
    credentials: { user: 'mq-user', password: MQTT_PASSWORD } },
];
const stripCreds = (f) => f.map(({ credentials, ...rest }) => rest);

async function dumpTenantStore() {
  const out = {};
  for (const c of await db.listCollections().toArray()) {
    out[c.name] = await db.collection(c.name).find({}).toArray();
  }
  return JSON.stringify(out);
}

describe('Node-RED 5.0.7 integration', () => {
  let adminTok;
  before(async () => {
    const out = execFileSync('bash', [path.join(__dirname, 'setup-node-red.sh')], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'inherit'] });
    NODE22 = /NODE22=(.*)/.exec(out)[1].trim();
    RED_JS = /NODE_RED=(.*)/.exec(out)[1].trim();
    [port] = await freePorts(1);
    userDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nr-int-'));
    mongo = new MongoClient(rh.tenants[APP], { serverSelectionTimeoutMS: 5000 });
    await mongo.connect();
    db = mongo.db();
    await db.collection('users').insertMany([
      { appname: APP, username: ADMIN.username.toLowerCase(), email: 'admin@example.com', permissions: '*', password: await hashPassword(ADMIN.password) },
      { appname: APP, username: VIEWER.username, email: 'v@example.com', permissions: 'read', password: await hashPassword(VIEWER.password) },
    ]);
    await startNodeRed();
  }, { timeout: 700_000 });

  after(async () => {
    await stopNodeRed();
    if (mongo) await mongo.close();
    if (userDir && process.env.REDHIVE_E2E_KEEP !== '1') await fsp.rm(userDir, { recursive: true, force: true });
  }, { timeout: 60_000 });

  it('userDir gets package.json and node_modules/ from the storage plugin', () => {
    assert.ok(fs.existsSync(path.join(userDir, 'package.json')));
    assert.ok(fs.statSync(path.join(userDir, 'node_modules')).isDirectory());
    assert.ok(!fs.existsSync(path.join(userDir, 'flows.json')), 'nothing on the filesystem store');
  });

  it('anonymous requests get 401', async () => {
    assert.equal((await api('GET', '/flows')).status, 401);
    assert.equal((await api('POST', '/flows', null, [])).status, 401);
    assert.equal((await api('GET', '/library/local/functions/')).status, 401);
  });

  it('wrong password: no token', async () => {
    const r = await fetch(url('/auth/token'), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'viewer', password: 'nope' }),
    });
    assert.ok([401, 403].includes(r.status), `token refused: ${r.status}`);
  });

  it('admin logs in (username case-insensitive) and deploys a flow with credentials', async () => {
    adminTok = await token({ username: ADMIN.username.toUpperCase(), password: ADMIN.password });
    const dep = await api('POST', '/flows', adminTok, { flows: FLOWS }, { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' });
    assert.equal(dep.status, 200, dep.text);
    assert.ok(dep.json.rev);
    const got = await api('GET', '/flows', adminTok, undefined, { 'Node-RED-API-Version': 'v2' });
    assert.equal(got.status, 200);
    assert.deepEqual(got.json.flows, stripCreds(FLOWS));
  });

  it('the store holds the flow, and the credentials only as ciphertext', async () => {
    const flowDoc = await db.collection('flows').findOne({ appname: APP });
    assert.deepEqual(flowDoc.flow, stripCreds(FLOWS));
    const credDoc = await db.collection('credentials').findOne({ appname: APP });
    assert.equal(typeof credDoc.credentials, 'string');
    const creds = JSON.parse(credDoc.credentials);
    assert.deepEqual(Object.keys(creds), ['$'], 'encrypted form: a single "$" key');
    const all = await dumpTenantStore();
    assert.ok(!all.includes(MQTT_PASSWORD), 'no plaintext password anywhere in the tenant store');
    assert.ok(!all.includes('mq-user'), 'no plaintext credential user either');
    const rootClient = new MongoClient(rh.rootUri, { serverSelectionTimeoutMS: 5000 });
    try {
      const dbs = (await rootClient.db('admin').admin().listDatabases()).databases.map((d) => d.name);
      for (const name of dbs) {
        for (const c of await rootClient.db(name).listCollections().toArray()) {
          const docs = JSON.stringify(await rootClient.db(name).collection(c.name).find({}).toArray());
          assert.ok(!docs.includes(MQTT_PASSWORD), `plaintext in ${name}.${c.name}`);
        }
      }
    } finally {
      await rootClient.close();
    }
  });

  it('after a restart: same flows, credentials decrypt, sessions persisted', async () => {
    await stopNodeRed();
    await startNodeRed();
    // the token issued before the restart still works: sessions live in the store
    const got = await api('GET', '/flows', adminTok, undefined, { 'Node-RED-API-Version': 'v2' });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json.flows, stripCreds(FLOWS));
    const cred = await api('GET', '/credentials/mqtt-broker/brk1', adminTok);
    assert.equal(cred.status, 200, cred.text);
    assert.equal(cred.json.user, 'mq-user');
    assert.equal(cred.json.has_password, true);
    const sess = await db.collection('sessions').findOne({ appname: APP });
    assert.ok(sess && sess.sessions, 'sessions document');
  });

  it('a read user can GET /flows but not POST /flows', async () => {
    const tok = await token(VIEWER, '');
    const got = await api('GET', '/flows', tok);
    assert.equal(got.status, 200);
    const post = await api('POST', '/flows', tok, [{ id: 'x', type: 'tab', label: 'evil' }]);
    assert.ok([401, 403].includes(post.status), `POST /flows as read user: ${post.status}`);
    const lib = await api('POST', '/library/local/functions/evil', tok, { text: 'x' });
    assert.ok([401, 403].includes(lib.status), `library write as read user: ${lib.status}`);
    // requesting full scope as a read user is refused
    const r = await fetch(url('/auth/token'), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: VIEWER.username, password: VIEWER.password }),
    });
    assert.ok([401, 403].includes(r.status), `token refused: ${r.status}`);
    const flowDoc = await db.collection('flows').findOne({ appname: APP });
    assert.deepEqual(flowDoc.flow, stripCreds(FLOWS), 'flows unchanged');
  });

  it('library save/load through the editor API with nested awkward paths', async () => {
    const enc = (p) => p.split('/').map(encodeURIComponent).join('/');
    const fnPath = 'team (x/sub [1]/my func.v2';
    const flowPath = 'team (x/sub [1]/my func.v2';
    let r = await api('POST', `/library/local/functions/${enc(fnPath)}`, adminTok, { name: 'my func', outputs: 2, text: 'return [msg, null];' });
    assert.equal(r.status, 204, r.text);
    r = await api('POST', `/library/local/flows/${enc(flowPath)}`, adminTok, [{ id: 'lib-n1', type: 'inject' }]);
    assert.equal(r.status, 204, r.text);
    r = await api('POST', `/library/local/functions/${enc('(x')}`, adminTok, { text: 'return msg;' });
    assert.equal(r.status, 204, r.text);

    r = await api('GET', `/library/local/functions/${enc(fnPath)}`, adminTok);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'return [msg, null];', 'functions entry not overwritten by the flows entry of the same path');
    r = await api('GET', `/library/local/flows/${enc(flowPath)}`, adminTok);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, [{ id: 'lib-n1', type: 'inject' }]);
    r = await api('GET', `/library/local/functions/${enc('(x')}`, adminTok);
    assert.equal(r.text, 'return msg;');

    r = await api('GET', '/library/local/functions/', adminTok);
    assert.deepEqual(r.json, ['team (x', { fn: '(x' }]);
    r = await api('GET', `/library/local/functions/${enc('team (x')}`, adminTok);
    assert.deepEqual(r.json, ['sub [1]']);
    r = await api('GET', `/library/local/functions/${enc('team (x/sub [1]')}/`, adminTok);
    assert.deepEqual(r.json, [{ name: 'my func', outputs: 2, fn: 'my func.v2' }]);
    r = await api('GET', `/library/local/flows/${enc('team (x/sub [1]')}`, adminTok);
    assert.deepEqual(r.json, [{ fn: 'my func.v2' }]);

    r = await api('GET', `/library/local/functions/${enc('no (such')}`, adminTok);
    assert.ok(r.status >= 400 && r.status < 500, `missing entry: ${r.status}`);
    r = await api('GET', '/library/local/functions/a/../../etc', adminTok);
    assert.ok(r.status >= 400, `path traversal refused: ${r.status}`);

    // Node-RED still running after the awkward paths
    assert.equal((await api('GET', '/flows', adminTok)).status, 200);
    const docs = await db.collection('libraries').find({ appname: APP }).toArray();
    assert.equal(docs.length, 3);
  });

  it('settings.js reaches the editor: title, multiplayer, projects off, excluded core nodes', async () => {
    const theme = await api('GET', '/theme', adminTok);
    assert.equal(theme.json.page.title, 'Tenant <nrt>');
    assert.equal(theme.json.header.title, 'Tenant &lt;nrt&gt;');
    const s = await api('GET', '/settings', adminTok);
    assert.equal(s.status, 200);
    assert.equal(s.json.editorTheme.multiplayer.enabled, true);
    assert.equal(s.json.editorTheme.projects.enabled, false);
    const nodes = await api('GET', '/nodes', adminTok, undefined, { accept: 'application/json' });
    const types = nodes.json.flatMap((n) => n.types || []);
    assert.ok(types.includes('inject'));
    for (const t of ['exec', 'file', 'file in', 'watch']) assert.ok(!types.includes(t), `${t} excluded`);
  });

  it('a deploy while the store is down fails (the save rejects), and nothing half-written', async () => {
    await rh.pause();
    let dep;
    try {
      const changed = FLOWS.map((n) => (n.id === 'inj1' ? { ...n, name: 'changed' } : n));
      dep = await api('POST', '/flows', adminTok, { flows: changed }, { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' });
    } finally {
      await rh.resume();
    }
    assert.ok(dep.status >= 400, `deploy with the store down: ${dep.status} ${dep.text}`);
    const flowDoc = await db.collection('flows').findOne({ appname: APP });
    assert.deepEqual(flowDoc.flow, stripCreds(FLOWS));
    // the runtime survived the outage, and deploys again once the store is back
    assert.equal(nr.child.exitCode, null, 'node-red still running');
    const got = await api('GET', '/flows', adminTok, undefined, { 'Node-RED-API-Version': 'v2' });
    assert.equal(got.status, 200, got.text);
    const again = await api('POST', '/flows', adminTok, { flows: FLOWS, rev: got.json.rev }, { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' });
    assert.equal(again.status, 200, again.text);
    process.stdout.write(`# deploy while store down: HTTP ${dep.status} ${dep.text}\n`);
  });

  it('safe mode (REDHIVE_SAFE_MODE=1): flows are loaded but not started', async () => {
    await stopNodeRed();
    await startNodeRed({ REDHIVE_SAFE_MODE: '1' });
    const log = fs.readFileSync(nr.logPath, 'utf8');
    assert.match(log, /safe mode/i);
    assert.doesNotMatch(log, /Started flows/);
    const tok = await token(ADMIN);
    const got = await api('GET', '/flows', tok, undefined, { 'Node-RED-API-Version': 'v2' });
    assert.deepEqual(got.json.flows, stripCreds(FLOWS));
  });
});
