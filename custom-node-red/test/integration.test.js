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
const { useRedhive, freePorts, track, tail } = require('../../tests/clients/lib/redhive');
const { hashPassword } = require('../auth');

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
    child = track(spawn(NODE22, [RED_JS, '--settings', path.join(ROOT, 'settings.js')], {
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

// ---------------------------------------------------------------------------------------------
// Tenants made by the redhive CLI, and runtimes started with exactly what `redhive tenant env`
// prints (plus PORT / userDir / loopback host / PATH / HOME).
// ---------------------------------------------------------------------------------------------

const cliHelper = require('../../tests/clients/lib/redhive');

function redhiveCli(args, { input, env = {} } = {}) {
  const bin = cliHelper.redhiveBin();
  return new Promise((resolve, reject) => {
    const child = require('node:child_process').execFile(bin, args, { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ redhive ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
        reject(err);
      } else resolve({ stdout, stderr });
    });
    child.stdin.end(input === undefined ? '' : input);
  });
}

/** `redhive tenant env NAME` as an object; every line must be KEY=VALUE. */
async function tenantEnv(rhHandle, name) {
  const { stdout } = await redhiveCli(['tenant', 'env', name, '--data-dir', rhHandle.dataDir],
    { env: { REDHIVE_MONGO_LISTEN: `127.0.0.1:${rhHandle.mongoPort}` } });
  const out = {};
  for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `tenant env ${name}: not KEY=VALUE: ${JSON.stringify(line)}`);
    out[m[1]] = m[2];
  }
  return out;
}

/** A Node-RED runtime of its own (port, userDir, log). */
async function launchRuntime(tenantEnvVars, { settings = path.join(ROOT, 'settings.js'), label }) {
  const [p] = await freePorts(1);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `nr-${label}-`));
  const logPath = path.join(dir, 'node-red.log');
  const env = {
    PATH: `${path.dirname(NODE22)}:${process.env.PATH}`,
    HOME: dir,
    ...tenantEnvVars,
    PORT: String(p),
    REDHIVE_USER_DIR: dir,
    REDHIVE_UI_HOST: '127.0.0.1',
  };
  const fd = fs.openSync(logPath, 'a');
  let child;
  try {
    child = track(spawn(NODE22, [RED_JS, '--settings', settings], { env, stdio: ['ignore', fd, fd], cwd: dir }));
  } finally {
    fs.closeSync(fd);
  }
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let gone = null;
  exited.then((r) => (gone = r));
  const rt = {
    port: p, dir, logPath, child,
    url: (x) => `http://127.0.0.1:${p}${x}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      if (process.env.REDHIVE_E2E_KEEP !== '1') await fsp.rm(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (gone) throw new Error(`node-red (${label}) exited ${JSON.stringify(gone)}:\n${tail(logPath, 60)}`);
    try {
      const r = await fetch(rt.url('/auth/login'));
      if (r.status === 200 && /Started flows/.test(fs.readFileSync(logPath, 'utf8'))) return rt;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await rt.stop();
      throw new Error(`node-red (${label}) not up in 90 s:\n${tail(logPath, 60)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function tokenRequest(rt, username, password, scope = '*') {
  const r = await fetch(rt.url('/auth/token'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password }),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not json */
  }
  return { status: r.status, text, json };
}

async function deployTo(rt, tok, flows) {
  const r = await fetch(rt.url('/flows'), {
    method: 'POST',
    headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify({ flows }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `deploy: ${r.status} ${text}`);
}

// The function node of tenant A's probe. It runs inside A's runtime with A's environment.
const PROBE_FUNC = `
const { MongoClient } = global.get('mongodb');
const url = env.get('MONGO_URL');
const other = msg.req.query.other;
const m = /^mongodb:\\/\\/([^:@/]+):[^@]*@[^/]+\\/([^?]*)/.exec(url || '');
const out = { urlUser: m && m[1], urlDb: m && m[2], appName: env.get('APP_NAME') };
const fail = (e) => ({ ok: false, code: e.code, codeName: e.codeName, message: e.message });
const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
try {
  await client.connect();
  const own = client.db();
  out.ownDb = own.databaseName;
  try {
    out.own = { ok: true, flows: await own.collection('flows').find({}).toArray(),
      collections: (await own.listCollections().toArray()).map((c) => c.name).sort() };
  } catch (e) { out.own = fail(e); }
  try { out.otherRead = { ok: true, docs: await client.db(other).collection('flows').find().toArray() }; }
  catch (e) { out.otherRead = fail(e); }
  try { out.otherUsers = { ok: true, docs: await client.db(other).collection('users').find().toArray() }; }
  catch (e) { out.otherUsers = fail(e); }
  try { out.otherWrite = { ok: true, r: await client.db(other).collection('flows').insertOne({ appname: other, flow: [] }) }; }
  catch (e) { out.otherWrite = fail(e); }
  try { out.listDatabases = { ok: true, r: await client.db('admin').admin().listDatabases() }; }
  catch (e) { out.listDatabases = fail(e); }
} catch (e) {
  out.connect = fail(e);
} finally {
  await client.close();
}
msg.payload = out;
return msg;
`;

describe('tenants from the redhive CLI, runtimes from `redhive tenant env`', () => {
  const cli = cliHelper.useRedhive({ tenants: [] });
  const runtimes = [];
  const ALICE_PW = 'Alice-cli-Pw-7#q';

  before(async () => {
    if (!NODE22) {
      const out = execFileSync('bash', [path.join(__dirname, 'setup-node-red.sh')], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'inherit'] });
      NODE22 = /NODE22=(.*)/.exec(out)[1].trim();
      RED_JS = /NODE_RED=(.*)/.exec(out)[1].trim();
    }
  }, { timeout: 700_000 });

  after(async () => {
    for (const rt of runtimes.splice(0)) await rt.stop();
  }, { timeout: 60_000 });

  it('a user written by `redhive tenant add --user` logs in through the JS auth plugin', { timeout: 180_000 }, async () => {
    // password on stdin, with the trailing newline `echo` would add
    const added = await redhiveCli(['tenant', 'add', 'clialice', '--data-dir', cli.dataDir, '--user', 'Alice', '--password-file', '-'],
      { input: `${ALICE_PW}\n`, env: { REDHIVE_MONGO_LISTEN: `127.0.0.1:${cli.mongoPort}` } });
    const lines = added.stdout.trim().split('\n');
    const uri = lines[lines.length - 1].trim();
    assert.match(uri, /^mongodb:\/\/clialice:[^@]+@127\.0\.0\.1:\d+\/clialice\?authSource=clialice$/);

    const env = await tenantEnv(cli, 'clialice');
    assert.deepEqual(Object.keys(env).sort(), ['APP_NAME', 'MONGO_URL', 'NODE_RED_CREDENTIAL_SECRET', 'REDHIVE_TITLE']);
    assert.equal(env.APP_NAME, 'clialice');
    assert.equal(env.MONGO_URL, uri, 'tenant env prints the URI that tenant add printed');
    assert.ok(env.NODE_RED_CREDENTIAL_SECRET.length >= 16, 'a real credential secret');

    // what Rust wrote: lower-cased username, bcrypt $2b$12$, permission *
    const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const users = await c.db().collection('users').find({}).toArray();
      assert.equal(users.length, 1);
      assert.equal(users[0].username, 'alice');
      assert.equal(users[0].appname, 'clialice');
      assert.equal(users[0].permissions, '*');
      assert.match(users[0].password, /^\$2b\$12\$/);
    } finally {
      await c.close();
    }

    const rt = await launchRuntime(env, { label: 'clialice' });
    runtimes.push(rt);
    const bad = await tokenRequest(rt, 'alice', `${ALICE_PW}x`);
    assert.ok([401, 403].includes(bad.status), `wrong password: ${bad.status} ${bad.text}`);
    assert.ok(!(bad.json && bad.json.access_token), 'no token for a wrong password');

    const ok = await tokenRequest(rt, 'alice', ALICE_PW);
    assert.equal(ok.status, 200, `alice: ${ok.status} ${ok.text}`);
    assert.ok(ok.json.access_token, 'token');
    const upper = await tokenRequest(rt, 'ALICE', ALICE_PW);
    assert.equal(upper.status, 200, `ALICE: ${upper.status} ${upper.text}`);
    assert.ok(upper.json.access_token, 'token for ALICE');

    const flows = await fetch(rt.url('/flows'), { headers: { authorization: `Bearer ${ok.json.access_token}` } });
    assert.equal(flows.status, 200, await flows.text());
    assert.equal((await fetch(rt.url('/flows'))).status, 401, 'and anonymous still 401');
    const theme = await (await fetch(rt.url('/theme'), { headers: { authorization: `Bearer ${ok.json.access_token}` } })).json();
    assert.equal(theme.page.title, env.REDHIVE_TITLE);
  });

  it("a function node in tenant A cannot read tenant B's database", { timeout: 240_000 }, async () => {
    const A = 'isoa';
    const B = 'isob';
    const PW = { [A]: 'Iso-A-pw-1234', [B]: 'Iso-B-pw-5678' };
    for (const t of [A, B]) {
      await redhiveCli(['tenant', 'add', t, '--data-dir', cli.dataDir, '--user', `${t}-admin`, '--password-file', '-'],
        { input: PW[t], env: { REDHIVE_MONGO_LISTEN: `127.0.0.1:${cli.mongoPort}` } });
    }
    const envA = await tenantEnv(cli, A);
    const envB = await tenantEnv(cli, B);
    assert.notEqual(envA.NODE_RED_CREDENTIAL_SECRET, envB.NODE_RED_CREDENTIAL_SECRET);

    // B first: a recognisable flow in B's store
    const rtB = await launchRuntime(envB, { label: B });
    runtimes.push(rtB);
    const MARK = 'B-only-marker-7f3e91';
    const tokB = (await tokenRequest(rtB, `${B}-admin`, PW[B])).json.access_token;
    assert.ok(tokB, 'token for B');
    await deployTo(rtB, tokB, [
      { id: 'btab', type: 'tab', label: MARK, disabled: false, info: '' },
      { id: 'binj', type: 'inject', z: 'btab', name: `${MARK}-inject`, props: [{ p: 'payload' }], repeat: '', once: false, topic: '', payload: MARK, payloadType: 'str', x: 100, y: 100, wires: [] },
    ]);
    const rootClient = new MongoClient(cli.rootUri, { serverSelectionTimeoutMS: 5000 });
    try {
      const bDoc = await rootClient.db(B).collection('flows').findOne({ appname: B });
      assert.ok(bDoc && JSON.stringify(bDoc.flow).includes(MARK), "B's flow is in B's database");
    } finally {
      await rootClient.close();
    }

    // A, with the driver available to function nodes (test-only settings wrapper)
    const rtA = await launchRuntime(envA, { label: A, settings: path.join(__dirname, 'fixtures', 'settings-mongodb-global.js') });
    runtimes.push(rtA);
    const tokA = (await tokenRequest(rtA, `${A}-admin`, PW[A])).json.access_token;
    assert.ok(tokA, 'token for A');
    await deployTo(rtA, tokA, [
      { id: 'atab', type: 'tab', label: 'probe', disabled: false, info: '' },
      { id: 'ain', type: 'http in', z: 'atab', name: '', url: '/probe', method: 'get', upload: false, swaggerDoc: '', x: 100, y: 100, wires: [['afn']] },
      { id: 'afn', type: 'function', z: 'atab', name: 'probe', func: PROBE_FUNC, outputs: 1, timeout: 30, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 100, wires: [['aout']] },
      { id: 'aout', type: 'http response', z: 'atab', name: '', statusCode: '', headers: {}, x: 500, y: 100, wires: [] },
    ]);

    // the deploy answers before the new flows have started: wait for the route
    let r;
    let text;
    for (const deadline = Date.now() + 30_000; ;) {
      r = await fetch(rtA.url(`/probe?other=${B}`));
      text = await r.text();
      if (r.status !== 404 || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(r.status, 200, `probe: ${r.status} ${text}\n${tail(rtA.logPath, 30)}`);
    const out = JSON.parse(text);
    process.stdout.write(`# probe from ${A}: otherRead=${JSON.stringify(out.otherRead)} listDatabases=${JSON.stringify(out.listDatabases)}\n`);

    // A's runtime got A's credentials, not B's
    assert.equal(out.connect, undefined, `connect failed: ${JSON.stringify(out.connect)}`);
    assert.equal(out.urlUser, A);
    assert.equal(out.urlDb, A);
    assert.equal(out.appName, A);
    assert.ok(!envA.MONGO_URL.includes(`${B}:`) && !envA.MONGO_URL.includes(`/${B}`), "A's MONGO_URL does not name B");

    // A's own database works, and holds A's probe flow
    assert.equal(out.ownDb, A);
    assert.equal(out.own.ok, true, JSON.stringify(out.own));
    assert.ok(out.own.collections.includes('flows'), `own collections: ${out.own.collections}`);
    assert.equal(out.own.flows.length, 1);
    assert.equal(out.own.flows[0].appname, A);
    assert.ok(JSON.stringify(out.own.flows[0].flow).includes('/probe'));

    // B's database is refused: Unauthorized (13), for reads, writes and listDatabases
    for (const k of ['otherRead', 'otherUsers', 'otherWrite', 'listDatabases']) {
      assert.equal(out[k].ok, false, `${k} succeeded: ${JSON.stringify(out[k])}`);
      assert.equal(out[k].code, 13, `${k}: ${JSON.stringify(out[k])}`);
    }
    assert.ok(!text.includes(MARK), "B's flow appears nowhere in A's answer");
    assert.ok(!text.includes(`${B}-admin`), "B's users appear nowhere in A's answer");

    // and B's store is untouched by A's attempt
    const root2 = new MongoClient(cli.rootUri, { serverSelectionTimeoutMS: 5000 });
    try {
      assert.equal(await root2.db(B).collection('flows').countDocuments({}), 1);
    } finally {
      await root2.close();
    }
  });
});
