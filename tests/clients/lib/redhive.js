'use strict';
// Starts an isolated redhive server (own temp data dir, own loopback ports) for one test file.
// Shared by tests/clients and custom-node-red/test (which requires it by relative path), so it
// uses Node built-ins only.
//
//   const { useRedhive } = require('../lib/redhive');
//   const rh = useRedhive({ tenants: ['r1', 'r2'] });   // registers node:test before/after hooks
//   it('...', async () => { new MongoClient(rh.tenants.r1) ... });
//
// or, without hooks: `const srv = await startRedhive(opts); ...; await srv.stop();`
//
// The handle also has `restart()` (stop gracefully, serve again), and `pause()` / `resume()`
// (stop the server but keep the data dir; serve it again on the same ports) for "store went
// away" tests. `track(child)` registers any other child process (e.g. a Node-RED runtime) to be
// SIGKILLed if the test process exits abruptly.
//
// Environment:
//   REDHIVE_BIN         binary under test (default /var/cache/redhive/target/debug/redhive,
//                       or $CARGO_TARGET_DIR/debug/redhive when CARGO_TARGET_DIR is set)
//   REDHIVE_E2E_KEEP=1  keep the temp data dir (and serve.log) after the test file ends

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

function redhiveBin() {
  if (process.env.REDHIVE_BIN) return process.env.REDHIVE_BIN;
  if (process.env.CARGO_TARGET_DIR) return path.join(process.env.CARGO_TARGET_DIR, 'debug', 'redhive');
  return '/var/cache/redhive/target/debug/redhive';
}

// Every live serve child of this process, so that exit/signal handlers can kill them.
const liveChildren = new Set();
let exitHandlersInstalled = false;

// Data dirs of servers not yet stopped: removed on an abrupt exit too (unless REDHIVE_E2E_KEEP=1).
const liveDataDirs = new Set();

function killAllChildren() {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveChildren.clear();
  if (process.env.REDHIVE_E2E_KEEP !== '1') {
    for (const dir of liveDataDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  }
  liveDataDirs.clear();
}

/** Registers a child process to be SIGKILLed if this process exits (or is signalled) first. */
function track(child) {
  installExitHandlers();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

function installExitHandlers() {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  // 'exit' runs for a normal end and for process.exit(); signals need their own handlers because
  // the default action of SIGTERM/SIGINT/SIGHUP ends the process without running 'exit' handlers
  // (node --test sends SIGTERM to a test file's process when the run is cancelled or times out).
  process.on('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAllChildren();
      process.exit(128 + os.constants.signals[sig]);
    });
  }
}

/** Picks `n` distinct free loopback ports (all held open at once, then released). */
async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', resolve);
      });
      servers.push(srv);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${err.message})`;
  }
}

function run(bin, args, env) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ${bin} ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
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

/**
 * Starts a server.
 * @param {object} [opts]
 * @param {string[]} [opts.tenants=['r1','r2']] tenants to create with `redhive tenant add` before serving
 * @returns {Promise<{rootUri:string, tenants:Object<string,string>, dataDir:string, mongoPort:number,
 *   httpPort:number, logPath:string, logTail:Function, stop:Function, restart:Function,
 *   pause:Function, resume:Function}>}
 */
async function startRedhive(opts = {}) {
  installExitHandlers();
  const bin = redhiveBin();
  if (!fs.existsSync(bin)) {
    throw new Error(`redhive binary not found at ${bin} (set REDHIVE_BIN, or build it with cargo build)`);
  }
  const tenantNames = opts.tenants || ['r1', 'r2'];
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'redhive-e2e-'));
  liveDataDirs.add(dataDir);
  const [httpPort, mongoPort] = await freePorts(2);
  const mongoListen = `127.0.0.1:${mongoPort}`;
  const httpListen = `127.0.0.1:${httpPort}`;
  const env = { ...process.env, REDHIVE_MONGO_LISTEN: mongoListen };
  const logPath = path.join(dataDir, 'serve.log');

  const tenants = {};
  for (const name of tenantNames) {
    const { stdout } = await run(bin, ['tenant', 'add', name, '--data-dir', dataDir], env);
    const lines = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    const uri = lines[lines.length - 1];
    if (!uri || !uri.startsWith('mongodb://')) {
      throw new Error(`tenant add ${name}: last stdout line is not a mongodb:// URI:\n${stdout}`);
    }
    tenants[name] = uri;
  }

  let child = null;
  let childExit = null; // promise resolving to {code, signal}

  async function spawnServe() {
    const logFd = fs.openSync(logPath, 'a');
    try {
      child = spawn(
        bin,
        ['serve', '--data-dir', dataDir, '--listen', httpListen, '--mongo-listen', mongoListen],
        { env, stdio: ['ignore', logFd, logFd] },
      );
    } finally {
      fs.closeSync(logFd);
    }
    const me = track(child);
    childExit = new Promise((resolve) => {
      me.once('exit', (code, signal) => resolve({ code, signal }));
      me.once('error', (err) => {
        liveChildren.delete(me);
        resolve({ code: null, signal: null, error: err });
      });
    });
    let exited = null;
    childExit.then((r) => {
      exited = r;
    });
    const url = `http://${httpListen}/api/health`;
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    for (;;) {
      if (exited) {
        throw new Error(
          `redhive serve exited before becoming healthy (code=${exited.code} signal=${exited.signal}` +
            `${exited.error ? ' ' + exited.error.message : ''}); ${logPath} tail:\n${tail(logPath)}`,
        );
      }
      if ((await httpStatus(url)) === 200) return;
      if (Date.now() > deadline) {
        await stopChild();
        throw new Error(`redhive serve not healthy after ${HEALTH_TIMEOUT_MS} ms (${url}); ${logPath} tail:\n${tail(logPath)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function stopChild() {
    if (!child) return null;
    const me = child;
    const done = childExit;
    child = null;
    if (me.exitCode === null && me.signalCode === null) {
      me.kill('SIGTERM');
      const timer = setTimeout(() => me.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const r = await done;
      clearTimeout(timer);
      return r;
    }
    return done;
  }

  await spawnServe();

  const rootUriPath = path.join(dataDir, 'secrets', 'mongo-root.uri');
  let rootUri;
  try {
    rootUri = (await fsp.readFile(rootUriPath, 'utf8')).trim();
    if (!rootUri.startsWith('mongodb://')) throw new Error(`${rootUriPath} does not hold a mongodb:// URI: ${rootUri}`);
  } catch (err) {
    await stopChild();
    throw err;
  }

  let stopped = false;
  return {
    rootUri,
    tenants,
    dataDir,
    mongoPort,
    httpPort,
    logPath,
    logTail: (n) => tail(logPath, n),
    /** SIGTERM (then SIGKILL after 10 s), then remove the data dir unless REDHIVE_E2E_KEEP=1. */
    async stop() {
      if (stopped) return;
      stopped = true;
      const r = await stopChild();
      if (r && r.signal !== 'SIGTERM' && r.code !== 0) {
        process.stderr.write(`redhive serve ended with code=${r.code} signal=${r.signal}; log tail:\n${tail(logPath)}\n`);
      }
      if (process.env.REDHIVE_E2E_KEEP === '1') {
        process.stderr.write(`REDHIVE_E2E_KEEP=1: kept ${dataDir}\n`);
      } else {
        await fsp.rm(dataDir, { recursive: true, force: true });
      }
      liveDataDirs.delete(dataDir);
    },
    /** Stops the server gracefully and serves the same data dir on the same ports again. */
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      await stopChild();
      await spawnServe();
    },
    /** Stops the server (as stop() does) but keeps the data dir; resume() serves it again. */
    async pause() {
      await stopChild();
    },
    /** Serves the same data dir on the same ports again (after pause()). */
    async resume() {
      if (stopped) throw new Error('resume() after stop()');
      if (child) throw new Error('resume() while the server is running (pause() first)');
      await spawnServe();
    },
  };
}

/**
 * Registers node:test `before`/`after` hooks that start a server for the current file (or
 * describe block) and always stop it. Returns an object filled in by `before`, plus
 * `defer(fn)`: cleanups (closing clients...) that run, last first, before the server stops.
 */
function useRedhive(opts = {}) {
  const { before, after } = require('node:test');
  const cleanups = [];
  const handle = {
    defer(fn) {
      cleanups.push(fn);
    },
  };
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

/** Same URI with another password (for authentication-failure tests). */
function withPassword(uri, password) {
  const u = new URL(uri);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** Same URI with extra query parameters. */
function withParams(uri, params) {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

module.exports = { startRedhive, useRedhive, freePorts, redhiveBin, track, tail, withPassword, withParams };
