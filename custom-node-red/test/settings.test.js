'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { buildSettings, DEFAULT_NODES_EXCLUDES } = require('../lib/build-settings');

const base = { APP_NAME: 'acme', MONGO_URL: 'mongodb://acme:pw@127.0.0.1:1/acme?authSource=acme', NODE_RED_CREDENTIAL_SECRET: 's3cret' };
const build = (extra) => buildSettings({ ...base, ...extra }, { applyProcessEnv: false });

describe('settings.js', () => {
  it('refuses to start without APP_NAME, MONGO_URL or NODE_RED_CREDENTIAL_SECRET', () => {
    for (const k of Object.keys(base)) {
      const env = { ...base };
      delete env[k];
      assert.throws(() => buildSettings(env, { applyProcessEnv: false }), new RegExp(k));
    }
    // and loading settings.js itself fails (Node-RED then exits)
    const env = { ...process.env, ...base };
    delete env.NODE_RED_CREDENTIAL_SECRET;
    assert.throws(() => execFileSync(process.execPath, ['-e', "require('./settings.js')"], { cwd: path.join(__dirname, '..'), env, stdio: 'pipe' }),
      /NODE_RED_CREDENTIAL_SECRET/);
  });

  it('defaults', () => {
    const s = build();
    assert.equal(s.uiPort, 1880);
    assert.equal(s.uiHost, '0.0.0.0');
    assert.equal(s.credentialSecret, 's3cret');
    assert.equal(s.appName, 'acme');
    assert.equal(s.storageModule, require('../storage'));
    assert.equal(s.adminAuth.type, 'credentials');
    assert.equal(s.safeMode, undefined);
    assert.deepEqual(s.nodesExcludes, DEFAULT_NODES_EXCLUDES);
    assert.deepEqual(s.nodesExcludes, ['90-exec.js', '10-file.js', '23-watch.js', '28-tail.js']);
    assert.equal(s.externalModules.autoInstall, true);
    assert.equal(s.externalModules.palette.allowUpload, false);
    assert.equal(s.externalModules.palette.allowInstall, true);
    assert.equal(s.editorTheme.projects.enabled, false);
    assert.equal(s.editorTheme.multiplayer.enabled, true);
    assert.equal(s.editorTheme.page.title, 'Node-RED');
    assert.equal(s.editorTheme.palette.catalogues, undefined);
    assert.equal(s.telemetry.enabled, false);
    assert.equal(s.userDir, undefined);
  });

  it('everything from env', () => {
    const s = build({
      PORT: '1999', REDHIVE_UI_HOST: '127.0.0.1', REDHIVE_SAFE_MODE: '1', REDHIVE_TITLE: 'Acme <Flows>',
      REDHIVE_CATALOGUES: 'http://127.0.0.1:9/a.json, http://127.0.0.1:9/b.json', REDHIVE_NODES_EXCLUDES: '90-exec.js',
      REDHIVE_USER_DIR: '/data/acme', REDHIVE_LOGO: 'http://127.0.0.1:9/logo.png', REDHIVE_MONGO_TIMEOUT_MS: '5000',
      REDHIVE_LOG_LEVEL: 'warn',
    });
    assert.equal(s.uiPort, 1999);
    assert.equal(s.uiHost, '127.0.0.1');
    assert.equal(s.safeMode, true);
    assert.equal(s.editorTheme.page.title, 'Acme <Flows>', 'page title is escaped by the template');
    assert.equal(s.editorTheme.header.title, 'Acme &lt;Flows&gt;', 'header title is inserted as HTML: escaped');
    assert.deepEqual(s.editorTheme.palette.catalogues, ['http://127.0.0.1:9/a.json', 'http://127.0.0.1:9/b.json']);
    assert.deepEqual(s.nodesExcludes, ['90-exec.js']);
    assert.equal(s.userDir, '/data/acme');
    assert.equal(typeof s.httpAdminMiddleware, 'function');
    assert.equal(s.mongoClientOptions.serverSelectionTimeoutMS, 5000);
    assert.equal(s.logging.console.level, 'warn');
    assert.deepEqual(build({ REDHIVE_NODES_EXCLUDES: '' }).nodesExcludes, []);
    assert.equal(build({ REDHIVE_SAFE_MODE: '0' }).safeMode, undefined);
    assert.throws(() => build({ PORT: 'abc' }), /PORT/);
  });

  it('logo and css: local files are served by Node-RED, URLs are wired in', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-theme-'));
    try {
      const s = build({ REDHIVE_LOGO: path.join(dir, 'logo.png'), REDHIVE_CSS: path.join(dir, 'x.css') });
      assert.equal(s.editorTheme.header.image, path.join(dir, 'logo.png'));
      assert.deepEqual(s.editorTheme.page.css, [path.join(dir, 'x.css')]);
      const u = build({ REDHIVE_CSS: 'https://cdn.example/t.css', REDHIVE_USER_DIR: dir });
      const css = fs.readFileSync(u.editorTheme.page.css[0], 'utf8');
      assert.equal(css, '@import url("https://cdn.example/t.css");\n');
      // logo URL middleware rewrites GET /theme
      const mw = build({ REDHIVE_LOGO: 'https://cdn.example/l.png' }).httpAdminMiddleware;
      let sent = null;
      const res = { json: (b) => (sent = b) };
      mw({ method: 'GET', path: '/theme' }, res, () => {});
      res.json({ header: { title: 't' }, page: {} });
      assert.deepEqual(sent.header, { title: 't', image: 'https://cdn.example/l.png' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm registry and scope mapping reach npm through npm_config_* variables', () => {
    const { npmEnv } = require('../lib/build-settings');
    assert.deepEqual(npmEnv({ REDHIVE_NPM_REGISTRY: 'http://127.0.0.1:4873/', REDHIVE_NPM_SCOPE_REGISTRY: '@private=http://127.0.0.1:4874/,other=http://127.0.0.1:4875/' }), {
      npm_config_registry: 'http://127.0.0.1:4873/',
      'npm_config_@private:registry': 'http://127.0.0.1:4874/',
      'npm_config_@other:registry': 'http://127.0.0.1:4875/',
    });
    assert.throws(() => npmEnv({ REDHIVE_NPM_SCOPE_REGISTRY: '@x' }), /@scope=URL/);
    assert.throws(() => npmEnv({ REDHIVE_NPM_REGISTRY: 'file:/etc' }), /http/);
    // the real npm reads them
    const out = execFileSync('npm', ['config', 'get', '@private:registry'], {
      env: { ...process.env, ...npmEnv({ REDHIVE_NPM_SCOPE_REGISTRY: '@private=http://127.0.0.1:4874/' }) }, cwd: os.tmpdir(),
    }).toString().trim();
    assert.equal(out, 'http://127.0.0.1:4874/');
  });

  it('entrypoint.sh: the heap cap is three quarters of the memory limit, small tenants a small young generation', () => {
    // The real entry point with a stand-in `node` that prints its arguments.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-entry-'));
    fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    const heapFlag = (limit) => {
      const env = { PATH: `${dir}:${process.env.PATH}`, REDHIVE_NR_HOME: dir };
      if (limit !== undefined) env.REDHIVE_MEMORY_LIMIT_MB = limit;
      const out = execFileSync('sh', [path.join(__dirname, '..', 'image', 'entrypoint.sh')], { env }).toString();
      const m = out.match(/--max-old-space-size=(\d+)/);
      const semi = out.match(/--max-semi-space-size=(\d+)/);
      return m ? `${m[1]}${semi ? `+semi${semi[1]}` : ''}` : null;
    };
    try {
      assert.equal(heapFlag('1024'), '768');
      assert.equal(heapFlag('1000'), '750');
      // small tenants also get a small young generation
      assert.equal(heapFlag('512'), '384+semi2');
      assert.equal(heapFlag('50'), '64+semi2', 'floor of 64 MiB');
      for (const bad of [undefined, '', 'abc', '-5', '0', '1e3']) assert.equal(heapFlag(bad), null, `no cap for ${bad}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
