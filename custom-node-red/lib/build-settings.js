'use strict';
/**
 * Builds redhive's Node-RED settings object from environment variables.
 * ../settings.js is `module.exports = buildSettings(process.env)`; see ../README.md for every
 * variable. Kept separate so tests can build settings from a synthetic environment.
 */

const fs = require('node:fs');
const path = require('node:path');

/** Core node files excluded by default (5.0.x names): exec, file in/out, watch, and the old tail. */
const DEFAULT_NODES_EXCLUDES = ['90-exec.js', '10-file.js', '23-watch.js', '28-tail.js'];
const DEFAULT_PORT = 1880;
const DEFAULT_UI_HOST = '0.0.0.0';
const DEFAULT_API_MAX_LENGTH = '20mb';

function list(value) {
  return String(value || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function truthy(value) {
  return /^(1|true|yes|on)$/i.test(String(value || '').trim());
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function isUrl(s) {
  return /^https?:\/\//i.test(s);
}

/** `@private=http://r1/,@other=http://r2/` → { '@private': 'http://r1/', ... } */
function parseScopeRegistries(value) {
  const out = {};
  for (const item of list(value)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`REDHIVE_NPM_SCOPE_REGISTRY: expected @scope=URL, got '${item}'`);
    let scope = item.slice(0, eq).trim();
    const url = item.slice(eq + 1).trim();
    if (!scope.startsWith('@')) scope = '@' + scope;
    if (!/^@[a-z0-9][a-z0-9._~-]*$/i.test(scope)) throw new Error(`REDHIVE_NPM_SCOPE_REGISTRY: bad scope '${scope}'`);
    if (!isUrl(url)) throw new Error(`REDHIVE_NPM_SCOPE_REGISTRY: bad URL for ${scope}: '${url}'`);
    out[scope] = url;
  }
  return out;
}

/**
 * Environment for the npm child processes Node-RED runs (palette installs, autoInstall,
 * function-node modules): they inherit process.env, and npm reads npm_config_* from it.
 */
function npmEnv(env) {
  const out = {};
  if (env.REDHIVE_NPM_REGISTRY) {
    if (!isUrl(env.REDHIVE_NPM_REGISTRY)) throw new Error(`REDHIVE_NPM_REGISTRY is not an http(s) URL: '${env.REDHIVE_NPM_REGISTRY}'`);
    out.npm_config_registry = env.REDHIVE_NPM_REGISTRY;
  }
  for (const [scope, url] of Object.entries(parseScopeRegistries(env.REDHIVE_NPM_SCOPE_REGISTRY))) {
    out[`npm_config_${scope}:registry`] = url;
  }
  return out;
}

/** Serves an http(s) logo URL: the stock theme only accepts local files, so /theme is patched. */
function logoUrlMiddleware(logoUrl) {
  return function redhiveThemeLogo(req, res, next) {
    if (req.method === 'GET' && (req.path === '/theme' || req.path === '/theme/')) {
      const json = res.json.bind(res);
      res.json = (body) => {
        if (body && typeof body === 'object') {
          body = { ...body, header: { ...(body.header || {}), image: logoUrl } };
        }
        return json(body);
      };
    }
    next();
  };
}

/**
 * @param {object} env  usually process.env
 * @param {object} [opts]
 * @param {boolean} [opts.applyProcessEnv=true] copy the npm_config_* variables into process.env
 */
function buildSettings(env = process.env, opts = {}) {
  const missing = ['APP_NAME', 'MONGO_URL', 'NODE_RED_CREDENTIAL_SECRET'].filter((k) => !env[k]);
  if (missing.length) {
    throw new Error(`redhive Node-RED settings: missing environment variable(s): ${missing.join(', ')}`);
  }
  const storage = require('../storage');
  const auth = require('../auth');

  const appName = env.APP_NAME;
  const mongoUrl = env.MONGO_URL;
  const port = env.PORT === undefined || env.PORT === '' ? DEFAULT_PORT : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT is not a port number: '${env.PORT}'`);

  const mongoClientOptions = {};
  if (env.REDHIVE_MONGO_TIMEOUT_MS) {
    const t = Number(env.REDHIVE_MONGO_TIMEOUT_MS);
    if (!(t > 0)) throw new Error(`REDHIVE_MONGO_TIMEOUT_MS is not a positive number: '${env.REDHIVE_MONGO_TIMEOUT_MS}'`);
    mongoClientOptions.serverSelectionTimeoutMS = t;
  }

  const npm = npmEnv(env);
  if (opts.applyProcessEnv !== false) Object.assign(process.env, npm);

  const title = env.REDHIVE_TITLE || 'Node-RED';
  const editorTheme = {
    page: { title },
    header: { title: escapeHtml(title) },
    projects: { enabled: false },
    multiplayer: { enabled: true },
    tours: false,
    palette: {},
  };
  const catalogues = list(env.REDHIVE_CATALOGUES);
  if (catalogues.length) editorTheme.palette.catalogues = catalogues;

  const settings = {
    uiPort: port,
    uiHost: env.REDHIVE_UI_HOST || DEFAULT_UI_HOST,
    // Both the admin API and `http in` nodes read this; Node-RED's 5mb refuses big flow
    // imports and uploads that redhive's proxy passes through.
    apiMaxLength: env.REDHIVE_API_MAX_LENGTH || DEFAULT_API_MAX_LENGTH,
    credentialSecret: env.NODE_RED_CREDENTIAL_SECRET,

    storageModule: storage,
    appName,
    mongoUrl,
    mongoClientOptions,

    adminAuth: auth.create({ mongoUrl, appName, mongoClientOptions }),

    safeMode: truthy(env.REDHIVE_SAFE_MODE),
    nodesExcludes: env.REDHIVE_NODES_EXCLUDES === undefined ? DEFAULT_NODES_EXCLUDES.slice() : list(env.REDHIVE_NODES_EXCLUDES),

    externalModules: {
      autoInstall: true,
      autoInstallRetry: 30,
      palette: { allowInstall: true, allowUpdate: true, allowUpload: false },
      modules: { allowInstall: true },
    },
    functionExternalModules: true,

    editorTheme,
    diagnostics: { enabled: true, ui: true },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    exportGlobalContextKeys: false,
    logging: {
      console: { level: env.REDHIVE_LOG_LEVEL || 'info', metrics: false, audit: false },
    },
  };
  if (!settings.safeMode) delete settings.safeMode; // red.js may still set it from --safe
  if (env.REDHIVE_USER_DIR) settings.userDir = env.REDHIVE_USER_DIR;

  if (env.REDHIVE_LOGO) {
    if (isUrl(env.REDHIVE_LOGO)) settings.httpAdminMiddleware = logoUrlMiddleware(env.REDHIVE_LOGO);
    else editorTheme.header.image = path.resolve(env.REDHIVE_LOGO);
  }
  if (env.REDHIVE_CSS) {
    if (isUrl(env.REDHIVE_CSS)) {
      // page.css only takes local files: serve a generated one that imports the URL.
      const dir = path.join(env.REDHIVE_USER_DIR || require('node:os').tmpdir(), '.redhive-theme', appName.replace(/[^A-Za-z0-9_-]/g, '_'));
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'redhive.css');
      fs.writeFileSync(file, `@import url(${JSON.stringify(env.REDHIVE_CSS)});\n`);
      editorTheme.page.css = [file];
    } else {
      editorTheme.page.css = [path.resolve(env.REDHIVE_CSS)];
    }
  }
  return settings;
}

module.exports = { buildSettings, npmEnv, parseScopeRegistries, escapeHtml, DEFAULT_NODES_EXCLUDES, DEFAULT_PORT, DEFAULT_UI_HOST };
