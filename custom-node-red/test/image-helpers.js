'use strict';
// Helpers shared by the tenant image tests (image.test.js, image-arm64.test.js): the docker CLI,
// the containers a test file started (removed in `after` and on an abrupt exit), a redhive shim
// whose MongoDB port listens on the docker bridge, and the Node-RED HTTP calls the tests make.
// Not a test file itself: the tests name their files explicitly (tests/run, package.json).
//
// Network: the shim's MongoDB port listens on the docker bridge gateway address only (e.g.
// 172.17.0.1), and containers reach it as host.docker.internal (--add-host ...:host-gateway).
// The editor port is published on 127.0.0.1 only.
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

const MIN = 60_000;

// ---- small helpers --------------------------------------------------------------------------

/** Runs `bin args` (stdin: `input`, or nothing); resolves { stdout, stderr }, rejects with both. */
function sh(bin, args, { input, env, timeout = 2 * MIN } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env: env || process.env, timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
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

/** Fails (does not skip) unless DOCKER_HOST is set and a daemon answers there. */
async function requireDocker() {
  if (!process.env.DOCKER_HOST) {
    throw new Error('DOCKER_HOST is not set. Start the private Docker daemon first:\n' +
      '  eval "$(tests/docker.sh start)"\nthen run this test again (tests/docker.sh stop when done).');
  }
  await docker(['info', '-f', '{{.ServerVersion}}'], { timeout: 20_000 }).catch((err) => {
    throw new Error(`no docker daemon at DOCKER_HOST=${process.env.DOCKER_HOST} (run tests/docker.sh start): ${err.message}`);
  });
}

// Containers the test file started: removed in `after` (removeContainers), and on an abrupt exit.
// Each test file runs in its own process, so this set is per test file.
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

/** `docker rm -f -v` of every container still listed (for an `after` hook). */
async function removeContainers(timeout) {
  for (const name of containers) await docker(['rm', '-f', '-v', name], { timeout }).catch(() => {});
  containers.clear();
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
  const net0 = JSON.parse(await docker(['network', 'inspect', 'bridge', '-f', '{{json .}}']));
  const gw = ((net0.IPAM && net0.IPAM.Config) || []).map((c) => c.Gateway).find(Boolean);
  if (gw) return gw;
  // os.networkInterfaces() leaves out a bridge that has no container yet (not RUNNING): ask ip(8).
  const ifname = (net0.Options || {})['com.docker.network.bridge.name'] || 'docker0';
  const out = await sh('ip', ['-4', '-o', 'addr', 'show', 'dev', ifname]).then((r) => r.stdout, () => '');
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
  if (!m) throw new Error(`no IPv4 address on the docker bridge ${ifname}: ${out}`);
  return m[1];
}

/** The image's Config (docker image inspect) is the production Dockerfile's. */
function assertImageConfig(cfg) {
  assert.equal(cfg.User, 'node-red');
  assert.equal(cfg.WorkingDir, '/usr/src/node-red');
  assert.ok(cfg.ExposedPorts && cfg.ExposedPorts['1880/tcp'], 'EXPOSE 1880');
  assert.ok(cfg.Volumes && cfg.Volumes['/data'], 'VOLUME /data');
  assert.deepEqual(cfg.Healthcheck.Test, ['CMD', 'node', '/usr/src/node-red/redhive/image/healthcheck.js']);
  assert.deepEqual(cfg.Entrypoint, ['/usr/src/node-red/redhive/image/entrypoint.sh']);
}

// ---- the redhive shim (HTTP on 127.0.0.1, MongoDB shim on the bridge gateway) --------------

/**
 * `redhive tenant add <app>` (editor user `editor`) in a temp data dir, then `redhive serve` with
 * its MongoDB shim on `gateway`. Resolves { dataDir, logPath, mongoListen, tenantEnv, stop() }.
 */
async function startShim(gateway, { app, editor, tmpPrefix }) {
  const bin = redhiveBin();
  assert.ok(fs.existsSync(bin), `redhive binary not found at ${bin} (set REDHIVE_BIN)`);
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), tmpPrefix));
  const httpListen = `127.0.0.1:${await freePortOn('127.0.0.1')}`;
  const mongoListen = `${gateway}:${await freePortOn(gateway)}`;
  const env = { ...process.env, REDHIVE_MONGO_LISTEN: mongoListen };
  await sh(bin, ['tenant', 'add', app, '--data-dir', dataDir, '--user', editor.username, '--password-file', '-'], { input: editor.password, env });
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
  const { stdout } = await sh(bin, ['tenant', 'env', app, '--data-dir', dataDir], { env });
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

/**
 * What a container gets from `shim`: its tenant env with `extra`, MONGO_URL naming the shim as
 * the container sees it (host.docker.internal; the URI names it as the host sees it).
 */
function containerEnvFor(shim, extra) {
  const u = new URL(shim.tenantEnv.MONGO_URL);
  assert.equal(u.port, shim.mongoListen.split(':').pop(), `MONGO_URL port: ${u.host}`);
  u.hostname = 'host.docker.internal';
  return { ...shim.tenantEnv, MONGO_URL: u.toString(), ...extra };
}

// ---- the container ---------------------------------------------------------------------------

/**
 * `docker run -d --rm` of `image` as `name` (listed in `containers`), the env's values passed
 * through docker's env (-e KEY, not on the command line), `runArgs` added to the run options,
 * port 1880 published on 127.0.0.1. Resolves { name, id, port, url(path) }.
 */
async function startContainer({ name, image, env, runArgs = [] }) {
  const port = await freePortOn('127.0.0.1');
  containers.add(name);
  const envArgs = Object.keys(env).flatMap((k) => ['-e', k]); // values not on the command line
  const id = await docker([
    'run', '-d', '--rm', '--name', name,
    '--add-host', 'host.docker.internal:host-gateway',
    ...runArgs,
    ...envArgs,
    '-p', `127.0.0.1:${port}:1880`,
    image,
  ], { env: { ...process.env, ...env } });
  return { name, id, port, url: (p) => `http://127.0.0.1:${port}${p}` };
}

/** The last 60 lines of the container's output (stdout and stderr). */
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

/** Waits (up to `timeout`) until GET / answers 200 and the flows have started; resolves the page. */
async function waitForEditor(c, { timeout = 90_000, interval = 500 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (!(await running(c))) throw new Error(`container ${c.name} is not running:\n${await logs(c)}`);
    try {
      const r = await fetch(c.url('/'));
      const text = await r.text();
      if (r.status === 200 && /Started flows/.test(await logs(c))) return text;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`editor of ${c.name} not up in ${timeout / 1000} s:\n${await logs(c)}`);
    await sleep(interval);
  }
}

// ---- the Node-RED admin API ------------------------------------------------------------------

/** POST /auth/token with the password grant; resolves the response. */
function tokenRequest(c, user) {
  return fetch(c.url('/auth/token'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: user.username, password: user.password }),
  });
}

/** An access token for `user` (the login must succeed). */
async function token(c, user) {
  const r = await tokenRequest(c, user);
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

/** A full deploy of `flows` (it must succeed). */
async function deploy(c, tok, flows) {
  const dep = await fetch(c.url('/flows'), {
    method: 'POST',
    headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify({ flows }),
  });
  assert.equal(dep.status, 200, `deploy: ${dep.status} ${await dep.text()}`);
}

/**
 * A flow whose GET /hello answers `<greeting> <APP_NAME>`: tab `label`, node ids `<idPrefix>tab`,
 * `<idPrefix>http`, `<idPrefix>fn`, `<idPrefix>out`.
 */
function helloFlows({ idPrefix, label, greeting }) {
  const id = (n) => `${idPrefix}${n}`;
  return [
    { id: id('tab'), type: 'tab', label, disabled: false, info: '' },
    { id: id('http'), type: 'http in', z: id('tab'), name: '', url: '/hello', method: 'get', upload: false, swaggerDoc: '', x: 100, y: 100, wires: [[id('fn')]] },
    { id: id('fn'), type: 'function', z: id('tab'), name: 'hi', func: `msg.payload = "${greeting} " + env.get("APP_NAME"); return msg;`, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 100, wires: [[id('out')]] },
    { id: id('out'), type: 'http response', z: id('tab'), name: '', statusCode: '', headers: {}, x: 500, y: 100, wires: [] },
  ];
}

/**
 * GET the flow's /hello endpoint, retrying a 404 (up to `timeout`): a deploy answers before the
 * flows start. `requestTimeout` aborts one request that hangs. Resolves { status, text }.
 */
async function hello(c, { timeout = 30_000, interval = 200, requestTimeout } = {}) {
  let r;
  let text;
  for (const deadline = Date.now() + timeout; ;) {
    r = await fetch(c.url('/hello'), requestTimeout ? { signal: AbortSignal.timeout(requestTimeout) } : undefined);
    text = await r.text();
    if (r.status !== 404 || Date.now() > deadline) break;
    await sleep(interval);
  }
  return { status: r.status, text };
}

module.exports = {
  MIN,
  sh,
  docker,
  sleep,
  requireDocker,
  containers,
  removeContainers,
  freePortOn,
  bridgeGateway,
  assertImageConfig,
  startShim,
  containerEnvFor,
  startContainer,
  logs,
  running,
  waitForEditor,
  tokenRequest,
  token,
  getFlows,
  deploy,
  helloFlows,
  hello,
};
