'use strict';
// Starts an isolated redhive server (own temp data dir, own loopback ports) for one test file.
// Same approach as tests/clients/lib/redhive.js: `redhive tenant add` for each tenant with the
// server stopped, then `redhive serve`, waiting for GET /api/health → 200.
//
//   REDHIVE_BIN        binary under test (default /var/cache/redhive/target/debug/redhive)
//   REDHIVE_E2E_KEEP=1 keep the temp data dir

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const live = new Set();
let handlersInstalled = false;
function installExitHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    live.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + os.constants.signals[sig]);
    });
  }
}

/** Registers a child process to be SIGKILLed if this process exits abruptly. */
function track(child) {
  installExitHandlers();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function redhiveBin() {
  if (process.env.REDHIVE_BIN) return process.env.REDHIVE_BIN;
  if (process.env.CARGO_TARGET_DIR) return path.join(process.env.CARGO_TARGET_DIR, 'debug', 'redhive');
  return '/var/cache/redhive/target/debug/redhive';
}

async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((res, rej) => {
        s.once('error', rej);
        s.listen(0, '127.0.0.1', res);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

function run(bin, args, env) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ${bin} ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
        reject(err);
      } else resolve({ stdout, stderr });
    });
  });
}

function httpStatus(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

async function startRedhive({ tenants = ['t1', 't2'] } = {}) {
  const bin = redhiveBin();
  if (!fs.existsSync(bin)) throw new Error(`redhive binary not found at ${bin} (set REDHIVE_BIN or cargo build)`);
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'redhive-nr-'));
  const [httpPort, mongoPort] = await freePorts(2);
  const httpListen = `127.0.0.1:${httpPort}`;
  const mongoListen = `127.0.0.1:${mongoPort}`;
  const env = { ...process.env, REDHIVE_MONGO_LISTEN: mongoListen };
  const logPath = path.join(dataDir, 'serve.log');
  const uris = {};
  for (const name of tenants) {
    const { stdout } = await run(bin, ['tenant', 'add', name, '--data-dir', dataDir], env);
    const lines = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    const uri = lines[lines.length - 1];
    if (!uri || !uri.startsWith('mongodb://')) throw new Error(`tenant add ${name}: no URI in:\n${stdout}`);
    uris[name] = uri;
  }
  let child = null;
  let exited = null;

  async function up() {
    const fd = fs.openSync(logPath, 'a');
    try {
      child = track(
        spawn(bin, ['serve', '--data-dir', dataDir, '--listen', httpListen, '--mongo-listen', mongoListen], {
          env,
          stdio: ['ignore', fd, fd],
        }),
      );
    } finally {
      fs.closeSync(fd);
    }
    const me = child;
    exited = new Promise((r) => me.once('exit', (code, signal) => r({ code, signal })));
    let gone = null;
    exited.then((r) => (gone = r));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (gone) throw new Error(`redhive serve exited (${JSON.stringify(gone)}):\n${tail(logPath)}`);
      if ((await httpStatus(`http://${httpListen}/api/health`)) === 200) return;
      if (Date.now() > deadline) {
        await down();
        throw new Error(`redhive serve not healthy in 30 s:\n${tail(logPath)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async function down() {
    if (!child) return;
    const me = child;
    child = null;
    if (me.exitCode === null && me.signalCode === null) {
      me.kill('SIGTERM');
      const t = setTimeout(() => me.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
  }
  await up();
  const rootUri = (await fsp.readFile(path.join(dataDir, 'secrets', 'mongo-root.uri'), 'utf8')).trim();
  return {
    rootUri,
    tenants: uris,
    dataDir,
    mongoPort,
    httpPort,
    logPath,
    logTail: (n) => tail(logPath, n),
    /** Stops the server but keeps the data dir (for "store went away" tests). */
    pause: down,
    /** Serves the same data dir on the same ports again. */
    resume: up,
    async stop() {
      await down();
      if (process.env.REDHIVE_E2E_KEEP === '1') process.stderr.write(`kept ${dataDir}\n`);
      else await fsp.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** node:test hooks: one server per file (or describe block). */
function useRedhive(opts) {
  const { before, after } = require('node:test');
  const cleanups = [];
  const handle = { defer: (fn) => cleanups.push(fn) };
  let srv = null;
  before(async () => {
    srv = await startRedhive(opts);
    Object.assign(handle, srv);
  }, { timeout: 120_000 });
  after(async () => {
    try {
      while (cleanups.length) {
        try {
          await cleanups.pop()();
        } catch (err) {
          process.stderr.write(`cleanup failed: ${err && err.stack}\n`);
        }
      }
    } finally {
      if (srv) await srv.stop();
    }
  }, { timeout: 60_000 });
  return handle;
}

module.exports = { startRedhive, useRedhive, freePorts, redhiveBin, track, tail };
