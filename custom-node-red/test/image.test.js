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
// Network (image-helpers.js): the shim's MongoDB port listens on the docker bridge gateway address only (e.g.
// 172.17.0.1), and containers reach it as host.docker.internal (--add-host ...:host-gateway).
// The editor port is published on 127.0.0.1 only.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const {
  docker, sleep, requireDocker, containers, removeContainers, bridgeGateway, assertImageConfig,
  startShim, containerEnvFor, startContainer, running, waitForEditor, token, getFlows, deploy,
  helloFlows, hello,
} = require('./image-helpers');

const ROOT = path.join(__dirname, '..');
const APP = 'imgt';
const EDITOR = { username: 'img-admin', password: 'Img-admin-Pw-31!' };
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;

// ---- the container ---------------------------------------------------------------------------

let image;
let shim;
let containerEnv; // what the container gets (-e KEY, values passed through docker's env)

async function runContainer(label) {
  const c = await startContainer({ name: `redhive-imgtest-${RUN_ID}-${label}`, image, env: containerEnv, runArgs: ['--memory', '768m'] });
  await waitForEditor(c);
  return c;
}

const MARK = 'image-test-flow-5c1d';
const FLOWS = helloFlows({ idPrefix: 'i', label: MARK, greeting: MARK });

describe('tenant container image', () => {
  let c1;
  let tok;

  before(async () => {
    await requireDocker();
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
    shim = await startShim(gateway, { app: APP, editor: EDITOR, tmpPrefix: 'redhive-img-' });
    const { tenantEnv } = shim;
    for (const k of ['APP_NAME', 'MONGO_URL', 'NODE_RED_CREDENTIAL_SECRET']) assert.ok(tenantEnv[k], `tenant env has ${k}`);
    assert.equal(tenantEnv.APP_NAME, APP);
    // The URI names the shim as the host sees it; inside the container that is host.docker.internal.
    containerEnv = containerEnvFor(shim, { REDHIVE_MONGO_TIMEOUT_MS: '10000', REDHIVE_MEMORY_LIMIT_MB: '512' });
    c1 = await runContainer('a');
  }, { timeout: 720_000 });

  after(async () => {
    await removeContainers(60_000);
    if (shim) await shim.stop();
  }, { timeout: 120_000 });

  it('the image is configured like the production Dockerfile', async () => {
    const cfg = JSON.parse(await docker(['image', 'inspect', '-f', '{{json .Config}}', image]));
    assertImageConfig(cfg);
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
    tok = await token(c1, EDITOR);
    await deploy(c1, tok, FLOWS);
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
    const tok2 = await token(c2, EDITOR);
    assert.deepEqual((await getFlows(c2, tok2)).flows, FLOWS);
    assert.equal((await getFlows(c2, tok)).flows.length, FLOWS.length, 'old session token still valid');
    const h = await hello(c2);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.text, `${MARK} ${APP}`);
    // the shutdown was clean: Node-RED stopped its flows on SIGTERM
    await docker(['stop', '-t', '30', c2.name], { timeout: 90_000 });
  });
});
