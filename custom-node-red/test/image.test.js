'use strict';
// The tenant container image, for real: builds redhive/node-red:5.0.7-local with
// image/build-local.sh (no pull), runs it against a redhive shim on the host, logs in, deploys,
// restarts, and checks non-root + HEALTHCHECK.
//
//   eval "$(tests/docker.sh start)"        # private dockerd; sets DOCKER_HOST
//   node --test custom-node-red/test/image.test.js
//
//   DOCKER_HOST            required (the test FAILS without it; it is not skipped)
//   REDHIVE_IMAGE          test this image instead of building the local one
//   REDHIVE_BIN            redhive binary (default /var/cache/redhive/target/debug/redhive)
//   REDHIVE_E2E_KEEP=1     keep the shim's temp data dir
//
// Network: the shim's MongoDB port listens on the docker bridge gateway address only (e.g.
// 172.17.0.1), and containers reach it as host.docker.internal (--add-host ...:host-gateway).
// The editor port is published on 127.0.0.1 only.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

// The shared launcher's server listens on loopback only; the shim here must listen on the docker
// bridge, so startShim() below starts its own, with the shared launcher's small helpers.
const { redhiveBin, tail, track } = require('../../tests/clients/lib/redhive');

const ROOT = path.join(__dirname, '..');
const REPO = path.join(ROOT, '..');
const APP = 'imgt';
const EDITOR = { username: 'img-admin', password: 'Img-admin-Pw-31!' };
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;

// ---- small helpers --------------------------------------------------------------------------

function sh(bin, args, { input, env, timeout = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env: env || process.env, timeout, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ${bin} ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
        reject(err);
      } else resolve({ stdout, stderr });
    });
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading stdin
    child.stdin.end(input === undefined ? '' : input);
  });
}
const docker = (args, opts) => sh('docker', args, opts).then((r) => r.stdout.trim());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Containers this file started: removed in `after`, and on an abrupt exit.
const containers = new Set();
function removeContainersSync() {
  for (const name of containers) {
    try {
      execFileSync('docker', ['rm', '-f', '-v', name], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      /* already gone */
    }
  }
  containers.clear();
}
// Child processes are killed by the shared launcher's exit handlers (track()); containers here.
process.on('exit', removeContainersSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    removeContainersSync();
    process.exit(128 + os.constants.signals[sig]);
  });
}

/** A free TCP port on `host` (the kernel picks it; released before use). */
function freePortOn(host) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The IPv4 address of the daemon's default bridge on this host (what host-gateway maps to). */
async function bridgeGateway() {
  const raw = await docker(['network', 'inspect', 'bridge', '-f', '{{json .}}']);
  const net0 = JSON.parse(raw);
  const cfg = (net0.IPAM && net0.IPAM.Config) || [];
  const gw = cfg.map((c) => c.Gateway).find(Boolean);
  if (gw) return gw;
  // os.networkInterfaces() leaves out a bridge that has no container yet (not RUNNING): ask ip(8).
  const ifname = (net0.Options || {})['com.docker.network.bridge.name'] || 'docker0';
  const out = await sh('ip', ['-4', '-o', 'addr', 'show', 'dev', ifname]).then((r) => r.stdout, () => '');
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
  if (!m) throw new Error(`no IPv4 address on the docker bridge ${ifname}: ${out}`);
  return m[1];
}

// ---- the redhive shim (HTTP on 127.0.0.1, MongoDB shim on the bridge gateway) --------------

async function startShim(gateway) {
  const bin = redhiveBin();
  assert.ok(fs.existsSync(bin), `redhive binary not found at ${bin} (set REDHIVE_BIN)`);
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'redhive-img-'));
  const httpPort = await freePortOn('127.0.0.1');
  const mongoPort = await freePortOn(gateway);
  const mongoListen = `${gateway}:${mongoPort}`;
  const httpListen = `127.0.0.1:${httpPort}`;
  const env = { ...process.env, REDHIVE_MONGO_LISTEN: mongoListen };
  await sh(bin, ['tenant', 'add', APP, '--data-dir', dataDir, '--user', EDITOR.username, '--password-file', '-'], { input: EDITOR.password, env });
  const logPath = path.join(dataDir, 'serve.log');
  const fd = fs.openSync(logPath, 'a');
  let child;
  try {
    child = track(spawn(bin, ['serve', '--data-dir', dataDir, '--listen', httpListen, '--mongo-listen', mongoListen], { env, stdio: ['ignore', fd, fd] }));
  } finally {
    fs.closeSync(fd);
  }
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let gone = null;
  exited.then((r) => (gone = r));
  for (const deadline = Date.now() + 30_000; ;) {
    if (gone) throw new Error(`redhive serve exited ${JSON.stringify(gone)}:\n${tail(logPath)}`);
    try {
      if ((await fetch(`http://${httpListen}/api/health`)).status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`redhive serve not healthy in 30 s:\n${tail(logPath)}`);
    await sleep(100);
  }
  // the runtime env, exactly as `redhive tenant env` prints it (while the server runs)
  const { stdout } = await sh(bin, ['tenant', 'env', APP, '--data-dir', dataDir], { env });
  const tenantEnv = {};
  for (const line of stdout.split('\n').filter((l) => l.trim())) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `tenant env: not KEY=VALUE: ${JSON.stringify(line)}`);
    tenantEnv[m[1]] = m[2];
  }
  return {
    dataDir, logPath, mongoListen, tenantEnv,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      if (process.env.REDHIVE_E2E_KEEP === '1') process.stderr.write(`kept ${dataDir}\n`);
      else await fsp.rm(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- the container ---------------------------------------------------------------------------

let image;
let shim;
let containerEnv; // what the container gets (-e KEY, values passed through docker's env)

async function runContainer(label) {
  const port = await freePortOn('127.0.0.1');
  const name = `redhive-imgtest-${RUN_ID}-${label}`;
  containers.add(name);
  const envArgs = Object.keys(containerEnv).flatMap((k) => ['-e', k]); // values not on the command line
  const id = await docker([
    'run', '-d', '--rm', '--name', name,
    '--add-host', 'host.docker.internal:host-gateway',
    '--memory', '768m',
    ...envArgs,
    '-p', `127.0.0.1:${port}:1880`,
    image,
  ], { env: { ...process.env, ...containerEnv } });
  const c = { name, id, port, url: (p) => `http://127.0.0.1:${port}${p}` };
  await waitForEditor(c);
  return c;
}

async function logs(c) {
  try {
    const r = await sh('docker', ['logs', '--tail', '60', c.name]);
    return r.stdout + r.stderr;
  } catch (err) {
    return `(no logs: ${err.message.split('\n')[0]})`;
  }
}

async function running(c) {
  try {
    return (await docker(['inspect', '-f', '{{.State.Running}}', c.name])) === 'true';
  } catch {
    return false;
  }
}

/** Waits (up to 90 s) until GET / answers 200 and the flows have started. */
async function waitForEditor(c) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!(await running(c))) throw new Error(`container ${c.name} is not running:\n${await logs(c)}`);
    try {
      const r = await fetch(c.url('/'));
      await r.arrayBuffer();
      if (r.status === 200 && /Started flows/.test(await logs(c))) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`editor of ${c.name} not up in 90 s:\n${await logs(c)}`);
    await sleep(500);
  }
}

async function token(c, user = EDITOR) {
  const r = await fetch(c.url('/auth/token'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: user.username, password: user.password }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `token: ${r.status} ${text}`);
  return JSON.parse(text).access_token;
}

async function getFlows(c, tok) {
  const r = await fetch(c.url('/flows'), { headers: { authorization: `Bearer ${tok}`, 'Node-RED-API-Version': 'v2' } });
  const text = await r.text();
  assert.equal(r.status, 200, `GET /flows: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** GET the flow's /hello endpoint (retrying briefly: a deploy answers before flows start). */
async function hello(c) {
  let r;
  let text;
  for (const deadline = Date.now() + 30_000; ;) {
    r = await fetch(c.url('/hello'));
    text = await r.text();
    if (r.status !== 404 || Date.now() > deadline) break;
    await sleep(200);
  }
  return { status: r.status, text };
}

const MARK = 'image-test-flow-5c1d';
const FLOWS = [
  { id: 'itab', type: 'tab', label: MARK, disabled: false, info: '' },
  { id: 'ihttp', type: 'http in', z: 'itab', name: '', url: '/hello', method: 'get', upload: false, swaggerDoc: '', x: 100, y: 100, wires: [['ifn']] },
  { id: 'ifn', type: 'function', z: 'itab', name: 'hi', func: `msg.payload = "${MARK} " + env.get("APP_NAME"); return msg;`, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 100, wires: [['iout']] },
  { id: 'iout', type: 'http response', z: 'itab', name: '', statusCode: '', headers: {}, x: 500, y: 100, wires: [] },
];

describe('tenant container image', () => {
  let c1;
  let tok;

  before(async () => {
    if (!process.env.DOCKER_HOST) {
      throw new Error('DOCKER_HOST is not set. Start the private Docker daemon first:\n' +
        '  eval "$(tests/docker.sh start)"\nthen run this test again (tests/docker.sh stop when done).');
    }
    await docker(['info', '-f', '{{.ServerVersion}}'], { timeout: 20_000 }).catch((err) => {
      throw new Error(`no docker daemon at DOCKER_HOST=${process.env.DOCKER_HOST} (run tests/docker.sh start): ${err.message}`);
    });
    if (process.env.REDHIVE_IMAGE) {
      image = process.env.REDHIVE_IMAGE;
    } else {
      const t0 = Date.now();
      const out = execFileSync('bash', [path.join(ROOT, 'image', 'build-local.sh')], {
        encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'inherit'],
      });
      image = out.trim().split('\n').pop();
      process.stdout.write(`image ${image} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    const gateway = await bridgeGateway();
    shim = await startShim(gateway);
    const { tenantEnv } = shim;
    for (const k of ['APP_NAME', 'MONGO_URL', 'NODE_RED_CREDENTIAL_SECRET']) assert.ok(tenantEnv[k], `tenant env has ${k}`);
    assert.equal(tenantEnv.APP_NAME, APP);
    // The URI names the shim as the host sees it; inside the container that is host.docker.internal.
    const u = new URL(tenantEnv.MONGO_URL);
    assert.equal(u.port, shim.mongoListen.split(':').pop(), `MONGO_URL port: ${u.host}`);
    u.hostname = 'host.docker.internal';
    containerEnv = { ...tenantEnv, MONGO_URL: u.toString(), REDHIVE_MONGO_TIMEOUT_MS: '10000', REDHIVE_MEMORY_LIMIT_MB: '512' };
    c1 = await runContainer('a');
  }, { timeout: 720_000 });

  after(async () => {
    for (const name of containers) await docker(['rm', '-f', '-v', name], { timeout: 60_000 }).catch(() => {});
    containers.clear();
    if (shim) await shim.stop();
  }, { timeout: 120_000 });

  it('the image is configured like the production Dockerfile', async () => {
    const cfg = JSON.parse(await docker(['image', 'inspect', '-f', '{{json .Config}}', image]));
    assert.equal(cfg.User, 'node-red');
    assert.equal(cfg.WorkingDir, '/usr/src/node-red');
    assert.ok(cfg.ExposedPorts && cfg.ExposedPorts['1880/tcp'], 'EXPOSE 1880');
    assert.ok(cfg.Volumes && cfg.Volumes['/data'], 'VOLUME /data');
    assert.deepEqual(cfg.Healthcheck.Test, ['CMD', 'node', '/usr/src/node-red/redhive/image/healthcheck.js']);
    assert.deepEqual(cfg.Entrypoint, ['/usr/src/node-red/redhive/image/entrypoint.sh']);
    // the production Dockerfile states the same settings
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ARG BASE=nodered\/node-red:5\.0\.7$/m);
    assert.match(dockerfile, /^USER node-red$/m);
    assert.match(dockerfile, /^EXPOSE 1880$/m);
    assert.match(dockerfile, /CMD \["node", "\/usr\/src\/node-red\/redhive\/image\/healthcheck\.js"\]/);
    assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/src\/node-red\/redhive\/image\/entrypoint\.sh"\]$/m);
  });

  it('runs as a non-root user, Node 22 and node-red 5.0.7, userDir /data, heap cap applied', async () => {
    assert.notEqual(await docker(['exec', c1.name, 'id', '-u']), '0');
    assert.equal(await docker(['exec', c1.name, 'id', '-u']), '1000');
    const info = JSON.parse(await docker(['exec', c1.name, 'node', '-e', `
      const fs = require('fs');
      console.log(JSON.stringify({
        node: process.version,
        nr: require('/usr/src/node-red/node_modules/node-red/package.json').version,
        pkg: JSON.parse(fs.readFileSync('/data/package.json', 'utf8')).name,
        flowsFile: fs.existsSync('/data/flows.json'),
        pid1: fs.readlinkSync('/proc/1/exe'),
        appWritable: (() => { try { fs.accessSync('/usr/src/node-red/redhive/settings.js', fs.constants.W_OK); return true; } catch { return false; } })(),
      }));`]));
    assert.match(info.node, /^v22\./);
    assert.equal(info.nr, '5.0.7');
    assert.equal(info.pkg, 'node-red-project', 'the storage plugin created /data/package.json');
    assert.equal(info.flowsFile, false, 'nothing on the filesystem store');
    assert.equal(info.appWritable, false, 'the runtime user cannot modify settings.js / the plugins');
    assert.equal(info.pid1, '/usr/local/bin/node', 'PID 1 is node itself (exec), so docker stop reaches it');
    // red.js sets process.title, which overwrites /proc/1/cmdline: check the entry point's command
    // line with a stand-in `node` that prints its arguments.
    const name = `redhive-imgtest-${RUN_ID}-args`;
    containers.add(name);
    const fake = '#!/bin/sh\necho "$@"\n';
    const script = `const fs = require('fs');
      fs.mkdirSync('/tmp/f', { recursive: true });
      fs.writeFileSync('/tmp/f/node', ${JSON.stringify(fake)}, { mode: 0o755 });
      require('child_process').execFileSync('/usr/src/node-red/redhive/image/entrypoint.sh', ['--safe'],
        { stdio: 'inherit', env: { ...process.env, PATH: '/tmp/f:' + process.env.PATH } });`;
    const args = await docker(['run', '--rm', '--name', name, '-e', 'REDHIVE_MEMORY_LIMIT_MB=512', '--entrypoint', 'node', image, '-e', script]);
    containers.delete(name);
    assert.equal(args, '--max-old-space-size=384 --max-semi-space-size=2 /usr/src/node-red/node_modules/node-red/red.js --userDir /data ' +
      '--settings /usr/src/node-red/redhive/settings.js --safe');
  });

  it('anonymous is refused; the editor user logs in and deploys a flow that runs', async () => {
    const anon = await fetch(c1.url('/flows'));
    assert.equal(anon.status, 401);
    const theme = await fetch(c1.url('/'));
    assert.equal(theme.status, 200);
    assert.match(await theme.text(), /<title>/);
    tok = await token(c1);
    const dep = await fetch(c1.url('/flows'), {
      method: 'POST',
      headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows: FLOWS }),
    });
    assert.equal(dep.status, 200, `deploy: ${dep.status} ${await dep.text()}`);
    assert.deepEqual((await getFlows(c1, tok)).flows, FLOWS);
    const h = await hello(c1);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.text, `${MARK} ${APP}`);
  });

  it('the HEALTHCHECK reaches healthy', { timeout: 150_000 }, async () => {
    let status;
    for (const deadline = Date.now() + 120_000; ;) {
      status = await docker(['inspect', '-f', '{{.State.Health.Status}}', c1.name]);
      if (status === 'healthy' || Date.now() > deadline) break;
      await sleep(1000);
    }
    const health = await docker(['inspect', '-f', '{{json .State.Health}}', c1.name]);
    assert.equal(status, 'healthy', health);
  });

  it('docker restart: flows, session and the running flow are still there', { timeout: 180_000 }, async () => {
    await docker(['restart', '-t', '30', c1.name], { timeout: 90_000 });
    await waitForEditor(c1);
    // the token issued before the restart still works: sessions live in the store
    assert.deepEqual((await getFlows(c1, tok)).flows, FLOWS);
    const h = await hello(c1);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.text, `${MARK} ${APP}`);
  });

  it('a brand-new container (nothing kept in the old one) serves the same flows', { timeout: 180_000 }, async () => {
    await docker(['stop', '-t', '30', c1.name], { timeout: 90_000 }); // --rm: the container is gone
    for (const deadline = Date.now() + 30_000; await running(c1) && Date.now() < deadline;) await sleep(200);
    const c2 = await runContainer('b');
    const tok2 = await token(c2);
    assert.deepEqual((await getFlows(c2, tok2)).flows, FLOWS);
    assert.equal((await getFlows(c2, tok)).flows.length, FLOWS.length, 'old session token still valid');
    const h = await hello(c2);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.text, `${MARK} ${APP}`);
    // the shutdown was clean: Node-RED stopped its flows on SIGTERM
    await docker(['stop', '-t', '30', c2.name], { timeout: 90_000 });
  });
});
