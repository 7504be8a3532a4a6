'use strict';
// The arm64 (Raspberry Pi) tenant image, for real, on this x86_64 machine: builds
// redhive/node-red:5.0.7-local-arm64 with `REDHIVE_IMAGE_ARCH=arm64 image/build-local.sh` (nothing
// pulled) and saves it with REDHIVE_IMAGE_SAVE, checks that every ELF file in the saved image is
// aarch64, then runs it under qemu-user (cross/binfmt.sh registers it with binfmt_misc): Node,
// the plugins and the arm64 bcrypt bindings, and Node-RED itself against a redhive shim: editor on
// port 1880, login (bcrypt hashes checked by the arm64 binding), deploy, a flow that answers.
//
//   eval "$(tests/docker.sh start)"        # private dockerd; sets DOCKER_HOST
//   node --test custom-node-red/test/image-arm64.test.js
//
//   DOCKER_HOST            required (the test FAILS without it; it is not skipped)
//   REDHIVE_BIN            redhive binary (default /var/cache/redhive/target/debug/redhive)
//   REDHIVE_E2E_KEEP=1     keep the shim's temp data dir
//
// Emulated Node is several times slower than native: the timeouts are generous and nothing here
// measures time. The network setup is image.test.js's: the shim's MongoDB port listens on the
// docker bridge gateway, containers reach it as host.docker.internal.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');

const {
  MIN, sh, docker, requireDocker, containers, removeContainers, bridgeGateway, assertImageConfig,
  startShim, containerEnvFor, startContainer, waitForEditor, tokenRequest, token, deploy, helloFlows, hello,
} = require('./image-helpers');

const ROOT = path.join(__dirname, '..');
const REPO = path.join(ROOT, '..');
const APP = 'imga';
const EDITOR = { username: 'arm-admin', password: 'Arm-admin-Pw-47!' };
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const NODE_VERSION = 'v22.23.3';
const EM_AARCH64 = 183; // ELF e_machine
const EM_X86_64 = 62;

/** build-local.sh for arm64: resolves { tag, stderr }; its progress is shown as it comes. */
function buildArm64(saveTo) {
  return new Promise((resolve, reject) => {
    // the default tag: a REDHIVE_IMAGE_TAG meant for the x86-64 image must not be overwritten
    const env = { ...process.env, REDHIVE_IMAGE_ARCH: 'arm64', REDHIVE_IMAGE_SAVE: saveTo };
    delete env.REDHIVE_IMAGE_TAG;
    const child = spawn('bash', [path.join(ROOT, 'image', 'build-local.sh')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), 30 * MIN);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`build-local.sh (arm64) failed: exit ${code} ${signal || ''}\n${stderr.slice(-4000)}`));
      resolve({ tag: stdout.trim().split('\n').pop(), stderr });
    });
  });
}

/** A container of `image` (linux/arm64), `docker run --rm` with `args`; resolves its stdout. */
function runArm64(image, args, { entrypoint = 'node', env = [], timeout = 5 * MIN } = {}) {
  const name = `redhive-arm64test-${RUN_ID}-${Math.random().toString(36).slice(2, 8)}`;
  containers.add(name);
  const envArgs = env.flatMap((e) => ['-e', e]);
  return docker(['run', '--rm', '--platform', 'linux/arm64', '--name', name, ...envArgs, '--entrypoint', entrypoint, image, ...args], { timeout })
    .finally(() => containers.delete(name));
}

/** { path: e_machine } of every ELF file under `dir` (class and byte order checked too). */
async function elfFiles(dir) {
  const found = {};
  const head = Buffer.alloc(20);
  async function walk(d) {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const fh = await fsp.open(p, 'r');
        try {
          const { bytesRead } = await fh.read(head, 0, 20, 0);
          if (bytesRead === 20 && head.readUInt32BE(0) === 0x7f454c46) {
            const rel = '/' + path.relative(dir, p);
            // 64-bit little-endian for aarch64; anything else is reported as its e_machine
            found[rel] = head[4] === 2 && head[5] === 1 ? head.readUInt16LE(18) : `class ${head[4]} data ${head[5]}`;
          }
        } finally {
          await fh.close();
        }
      }
    }
  }
  await walk(dir);
  return found;
}

// ---- the tests ---------------------------------------------------------------------------------

const FLOWS = helloFlows({ idPrefix: 'a', label: 'arm64', greeting: 'hello from arm64' });

describe('tenant container image for arm64 (built on x86_64, run under qemu-user)', () => {
  let image;
  let tmp; // the saved tar and its unpacked layers
  let tarPath;
  let shim;

  before(async () => {
    await requireDocker();
    // qemu-aarch64 in binfmt_misc with the F flag: what lets this machine run arm64 containers
    await sh('bash', [path.join(REPO, 'cross', 'binfmt.sh')], { timeout: 10 * MIN });
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'redhive-arm64-image-'));
    tarPath = path.join(tmp, 'node-red-arm64.tar');
    const t0 = Date.now();
    ({ tag: image } = await buildArm64(tarPath));
    process.stdout.write(`image ${image} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, { timeout: 35 * MIN });

  after(async () => {
    await removeContainers(MIN);
    if (shim) await shim.stop();
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  }, { timeout: 3 * MIN });

  it('is tagged -arm64 and is a linux/arm64 image, configured like the x86-64 one', async () => {
    assert.equal(image, 'redhive/node-red:5.0.7-local-arm64');
    const info = JSON.parse(await docker(['image', 'inspect', '-f', '{{json .}}', image]));
    assert.equal(info.Os, 'linux');
    assert.equal(info.Architecture, 'arm64');
    const cfg = info.Config;
    assertImageConfig(cfg);
    assert.match(cfg.Labels['redhive.fingerprint'], /^[0-9a-f]{32}$/);
  });

  it('REDHIVE_IMAGE_SAVE wrote a docker save tar of the tag, for linux/arm64', async () => {
    assert.ok(fs.statSync(tarPath).size > 50 * 1024 * 1024, 'the tar holds the image');
    const list = (await sh('tar', ['-tf', tarPath])).stdout.split('\n');
    assert.ok(list.includes('manifest.json'), `manifest.json in ${list.join(' ')}`);
    const manifest = JSON.parse((await sh('tar', ['-xOf', tarPath, 'manifest.json'])).stdout);
    assert.equal(manifest.length, 1);
    assert.ok(manifest[0].RepoTags.includes(image), `RepoTags ${manifest[0].RepoTags}`);
    const cfg = JSON.parse((await sh('tar', ['-xOf', tarPath, manifest[0].Config])).stdout);
    assert.equal(cfg.architecture, 'arm64');
    assert.equal(cfg.os, 'linux');
    const fp = fs.readFileSync(`${tarPath}.fingerprint`, 'utf8').trim();
    assert.equal(fp, `${cfg.config.Labels['redhive.fingerprint']} ${image}`);
    assert.deepEqual(fs.readdirSync(tmp).sort(), ['node-red-arm64.tar', 'node-red-arm64.tar.fingerprint'], 'no temp files left');
  });

  it('every ELF file in the saved image is aarch64 (node included): no x86-64 binary shipped', { timeout: 10 * MIN }, async () => {
    const manifest = JSON.parse((await sh('tar', ['-xOf', tarPath, 'manifest.json'])).stdout);
    const rootfs = path.join(tmp, 'rootfs');
    await fsp.mkdir(rootfs);
    for (const layer of manifest[0].Layers) {
      await sh('bash', ['-c', 'set -o pipefail; tar -xOf "$1" "$2" | tar -x -C "$3" --no-same-owner', '-', tarPath, layer, rootfs], { timeout: 5 * MIN });
    }
    try {
      const elves = await elfFiles(rootfs);
      assert.ok(elves['/usr/local/bin/node'], `node is an ELF file: ${Object.keys(elves).join(' ')}`);
      const wrong = Object.entries(elves).filter(([, m]) => m !== EM_AARCH64);
      assert.deepEqual(wrong, [], `not aarch64 (${EM_X86_64} = x86-64)`);
      // the arm64 native modules are there, the x64 ones are not
      for (const p of ['/usr/src/node-red/redhive/node_modules/bcrypt/prebuilds/linux-arm64/bcrypt.glibc.node',
        '/usr/src/node-red/node_modules/@node-rs/bcrypt-linux-arm64-gnu/bcrypt.linux-arm64-gnu.node',
        '/lib/ld-linux-aarch64.so.1']) {
        assert.equal(elves[p], EM_AARCH64, `${p}: ${Object.keys(elves).join(' ')}`);
      }
      assert.ok(!fs.existsSync(path.join(rootfs, 'usr/src/node-red/redhive/node_modules/bcrypt/prebuilds/linux-x64')));
      assert.ok(!fs.existsSync(path.join(rootfs, 'usr/src/node-red/redhive/node_modules/bcrypt/build')), 'no node-gyp output');
      const desc = (await sh('file', ['-b', path.join(rootfs, 'usr/local/bin/node')])).stdout;
      assert.match(desc, /^ELF 64-bit LSB .*, ARM aarch64,/);
    } finally {
      await fsp.rm(rootfs, { recursive: true, force: true });
    }
  });

  it(`node --version in an arm64 container is ${NODE_VERSION}`, { timeout: 6 * MIN }, async () => {
    assert.equal(await runArm64(image, ['--version']), NODE_VERSION);
    assert.equal(await runArm64(image, ['-p', 'process.platform + "/" + process.arch']), 'linux/arm64');
    // dash and coreutils from Debian's arm64 packages
    assert.equal(await runArm64(image, ['-c', 'id -u && /usr/bin/env sh -c "echo dash"'], { entrypoint: '/bin/sh' }), '1000\ndash');
  });

  it('the plugins load and both bcrypt bindings are the arm64 prebuilds', { timeout: 6 * MIN }, async () => {
    const out = await runArm64(image, ['-e', `
      require('/usr/src/node-red/redhive/storage');
      require('/usr/src/node-red/redhive/auth');
      const b = require('/usr/src/node-red/redhive/node_modules/bcrypt');
      const nb = require('/usr/src/node-red/node_modules/@node-rs/bcrypt');
      const ok = b.compareSync('pw', b.hashSync('pw', 4)) && nb.verifySync('pw', nb.hashSync('pw', 4)) &&
        !b.compareSync('other', b.hashSync('pw', 4));
      console.log(JSON.stringify({ ok, native: Object.keys(require.cache).filter((k) => k.endsWith('.node')).sort() }));`]);
    const r = JSON.parse(out);
    assert.equal(r.ok, true);
    assert.deepEqual(r.native, [
      '/usr/src/node-red/node_modules/@node-rs/bcrypt-linux-arm64-gnu/bcrypt.linux-arm64-gnu.node',
      '/usr/src/node-red/redhive/node_modules/bcrypt/prebuilds/linux-arm64/bcrypt.glibc.node',
    ]);
  });

  it('Node-RED starts in an arm64 container: editor on port 1880, login, deploy, the flow runs', { timeout: 15 * MIN }, async () => {
    shim = await startShim(await bridgeGateway(), { app: APP, editor: EDITOR, tmpPrefix: 'redhive-imga-' });
    const containerEnv = containerEnvFor(shim, { REDHIVE_MONGO_TIMEOUT_MS: '30000', REDHIVE_MEMORY_LIMIT_MB: '512' });
    const c = await startContainer({ name: `redhive-arm64test-${RUN_ID}-nr`, image, env: containerEnv, runArgs: ['--platform', 'linux/arm64'] });

    // the editor answers once the flows have started (emulated: give it minutes)
    const page = await waitForEditor(c, { timeout: 10 * MIN, interval: 1000 });
    assert.match(page, /<title>/);
    assert.match(page, /red\/red(\.min)?\.js/, 'the Node-RED editor page');
    assert.equal(await docker(['exec', c.name, 'id', '-u']), '1000');
    // (/proc/1/exe would name the qemu interpreter under binfmt_misc: ask a node in the container)
    assert.equal(await docker(['exec', c.name, 'node', '-p', 'process.arch']), 'arm64');

    assert.equal((await fetch(c.url('/flows'))).status, 401, 'anonymous is refused');
    // the password is checked against the tenant's bcrypt hash by the auth plugin (arm64 bcrypt)
    const bad = await tokenRequest(c, { username: EDITOR.username, password: 'wrong' });
    assert.equal(bad.status, 403, `wrong password: ${bad.status}`); // oauth2orize's invalid_grant
    const tok = await token(c, EDITOR);
    await deploy(c, tok, FLOWS);
    const h = await hello(c, { timeout: 2 * MIN, interval: 500, requestTimeout: MIN });
    assert.equal(h.status, 200, h.text);
    assert.equal(h.text, `hello from arm64 ${APP}`);
    await docker(['stop', '-t', '60', c.name], { timeout: 3 * MIN });
  });

  it('a second build is a no-op: same image, the tar is not rewritten; the tar loads', { timeout: 10 * MIN }, async () => {
    const before = fs.statSync(tarPath);
    const id = await docker(['image', 'inspect', '-f', '{{.Id}}', image]);
    const second = await buildArm64(tarPath);
    assert.equal(second.tag, image);
    assert.match(second.stderr, /is up to date/);
    assert.match(second.stderr, /already holds/);
    const now = fs.statSync(tarPath);
    assert.equal(now.ino, before.ino, 'same file');
    assert.equal(now.mtimeMs, before.mtimeMs, 'not rewritten');
    assert.equal(await docker(['image', 'inspect', '-f', '{{.Id}}', image]), id);
    // what the appliance does on first boot (the image exists here, so this only re-tags it)
    const loaded = await docker(['load', '-i', tarPath], { timeout: 5 * MIN });
    assert.match(loaded, new RegExp(`Loaded image: ${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(await docker(['image', 'inspect', '-f', '{{.Id}} {{.Architecture}}', image]), `${id} arm64`);
  });
});
