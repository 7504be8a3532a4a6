'use strict';
/**
 * @redhive/node-red-storage — Node-RED storage plugin over the tenant's own redhive database
 * (MongoDB wire protocol).
 *
 * Data model (kept identical to the reference design so data moves between the two):
 *   flows       {appname, flow}                         unique {appname:1}
 *   credentials {appname, credentials: <JSON string>}    unique {appname:1}
 *   settings    {appname, settings}                     unique {appname:1}
 *   sessions    {appname, sessions}                     unique {appname:1}
 *   libraries   {appname, type, name, meta, body}       unique {appname:1, type:1, name:1}
 *
 * Every save is ONE single-document upsert on its key, so a crash never leaves half a flow.
 * A save that fails (after the driver's own retryable-write retry) rejects; nothing is swallowed
 * (flows, credentials, settings, library). Only sessions are logged instead of rejected: see
 * getSessions/saveSessions below.
 *
 * Values that cannot be stored as plain BSON field names (any key starting with `$`, containing
 * `.` or NUL) are stored as a JSON string instead of an object; readers accept both forms.
 * Credentials are always a JSON string (as in the reference design).
 *
 * Settings read (settings.js, see ../settings.js):
 *   mongoUrl            tenant connection string (falls back to env MONGO_URL)
 *   appName             key of this Node-RED instance's documents (falls back to env APP_NAME)
 *   mongoClientOptions  extra MongoClient options (optional)
 *   userDir             Node-RED user directory (package.json and node_modules/ are created in it)
 */

const fs = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { MongoClient } = require('mongodb');

const PROJECT_PACKAGE = {
  name: 'node-red-project',
  description: 'A Node-RED Project',
  version: '0.0.1',
  private: true,
};

/** Escapes every RegExp metacharacter so `s` matches literally. */
function escapeRegExp(s) {
  return String(s).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when some key (at any depth) cannot be a plain BSON field name. */
function hasUnsafeKeys(value) {
  if (Array.isArray(value)) return value.some(hasUnsafeKeys);
  if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) {
      if (k.startsWith('$') || k.includes('.') || k.includes('\0')) return true;
      if (hasUnsafeKeys(value[k])) return true;
    }
  }
  return false;
}

/**
 * Converts a JSON value to what is stored: the value itself, or its JSON text when it has keys
 * BSON cannot hold. Also drops anything JSON cannot represent (undefined, functions), as the
 * filesystem store would.
 */
function encode(value) {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  if (text === undefined) return null;
  const plain = JSON.parse(text);
  return hasUnsafeKeys(plain) ? text : plain;
}

/** Reverse of encode (also reads the reference design's plain objects). */
function decode(stored, fallback) {
  if (stored === undefined || stored === null) return fallback;
  if (typeof stored === 'string') {
    try {
      return JSON.parse(stored);
    } catch (err) {
      throw new Error(`stored value is not valid JSON: ${err.message}`);
    }
  }
  return stored;
}

function notFound(type, p) {
  const err = new Error(`Library Entry not found ${type}/${p}`);
  err.code = 'not_found';
  return err;
}

/** Creates an independent storage module (Node-RED uses the default instance exported below). */
function createStorage() {
  let client = null;
  let db = null;
  let appname = null;
  let log = null;

  const coll = (name) => {
    if (!db) throw new Error('redhive storage: not initialised (init() was not called or failed)');
    return db.collection(name);
  };

  async function ensureUserDir(userDir) {
    await fs.mkdir(path.join(userDir, 'node_modules'), { recursive: true });
    const pkg = path.join(userDir, 'package.json');
    try {
      await fs.writeFile(pkg, JSON.stringify(PROJECT_PACKAGE, null, 4) + '\n', { flag: 'wx' });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
  }

  async function ensureIndexes() {
    const specs = [
      ['flows', { appname: 1 }],
      ['credentials', { appname: 1 }],
      ['settings', { appname: 1 }],
      ['sessions', { appname: 1 }],
      ['libraries', { appname: 1, type: 1, name: 1 }],
      ['users', { appname: 1, username: 1 }],
    ];
    for (const [name, key] of specs) {
      try {
        await db.collection(name).createIndex(key, { unique: true });
      } catch (err) {
        // Existing duplicate legacy data must not keep the editor down; report it loudly.
        const msg = `redhive storage: could not create unique index on ${name} ${JSON.stringify(key)}: ${err.message}`;
        if (err.code === 11000 || err.codeName === 'DuplicateKey') {
          if (log) log.warn(msg);
          else process.emitWarning(msg);
        } else {
          throw err;
        }
      }
    }
  }

  function report(msg) {
    msg = `redhive storage: ${msg}`;
    if (log) log.error(msg);
    else process.emitWarning(msg);
  }

  async function upsert(collection, filter, set) {
    // updateOne with upsert: one atomic single-document write. Rejects on failure.
    const res = await coll(collection).updateOne(filter, { $set: set }, { upsert: true });
    if (!res.acknowledged) throw new Error(`redhive storage: unacknowledged write to ${collection}`);
  }

  async function getDoc(collection) {
    return coll(collection).findOne({ appname });
  }

  const storage = {
    async init(settings, runtime) {
      log = runtime && runtime.log ? runtime.log : null;
      const url = settings.mongoUrl || process.env.MONGO_URL;
      appname = settings.appName || process.env.APP_NAME;
      if (!url) throw new Error('redhive storage: no MongoDB URL (settings.mongoUrl / MONGO_URL)');
      if (!appname) throw new Error('redhive storage: no application name (settings.appName / APP_NAME)');

      let userDir = settings.userDir;
      if (!userDir) {
        userDir = path.join(os.homedir(), '.node-red');
        try {
          settings.userDir = userDir;
        } catch {
          /* read-only runtime settings: keep our local value */
        }
      }
      await ensureUserDir(userDir);

      if (client) await client.close().catch(() => {});
      client = new MongoClient(url, {
        appName: 'redhive-node-red-storage',
        retryWrites: true,
        retryReads: true,
        ...(settings.mongoClientOptions || {}),
      });
      await client.connect();
      db = client.db();
      await ensureIndexes();
    },

    async close() {
      const c = client;
      client = null;
      db = null;
      if (c) await c.close();
    },

    async getFlows() {
      const doc = await getDoc('flows');
      return decode(doc && doc.flow, []);
    },
    async saveFlows(flows /* , user */) {
      await upsert('flows', { appname }, { appname, flow: encode(flows || []) });
    },

    async getCredentials() {
      const doc = await getDoc('credentials');
      return decode(doc && doc.credentials, {});
    },
    async saveCredentials(credentials) {
      // Always a JSON string: keys starting with `$` (and anything else) survive as-is.
      await upsert('credentials', { appname }, { appname, credentials: JSON.stringify(credentials || {}) });
    },

    async getSettings() {
      const doc = await getDoc('settings');
      return decode(doc && doc.settings, {});
    },
    async saveSettings(settings) {
      await upsert('settings', { appname }, { appname, settings: encode(settings || {}) });
    },

    // Sessions are the one exception to "a failed save rejects": Node-RED 5.0.7 calls
    // getSessions/saveSessions from its token code (editor-api/lib/auth/tokens.js, strategies.js)
    // without any rejection handler, so a rejection there is unhandled and ends the runtime.
    // A failure is logged instead; the cost is that logins made during a store outage are not
    // persisted (and after a failed load, users log in again).
    async getSessions() {
      try {
        const doc = await getDoc('sessions');
        return decode(doc && doc.sessions, {});
      } catch (err) {
        report(`could not load sessions (users must log in again): ${err.message}`);
        return {};
      }
    },
    async saveSessions(sessions) {
      try {
        await upsert('sessions', { appname }, { appname, sessions: encode(sessions || {}) });
      } catch (err) {
        report(`could not save sessions: ${err.message}`);
      }
    },

    async getLibraryEntry(type, p) {
      p = p == null ? '' : String(p);
      const libs = coll('libraries');
      if (p !== '' && !p.endsWith('/')) {
        let doc = await libs.findOne({ appname, type, name: p });
        // Entries saved by the filesystem store (or listed with their file name) carry `.json`.
        if (!doc && type === 'flows') {
          const alt = p.endsWith('.json') ? p.slice(0, -5) : p + '.json';
          doc = await libs.findOne({ appname, type, name: alt });
        }
        if (doc) return typeof doc.body === 'string' ? doc.body : JSON.stringify(doc.body ?? '');
      }
      // Directory listing: `dir`, `dir/` and `` all list the same way.
      const prefix = p === '' ? '' : p.endsWith('/') ? p : p + '/';
      const filter = { appname, type };
      if (prefix) filter.name = { $regex: '^' + escapeRegExp(prefix) };
      const docs = await libs.find(filter, { projection: { name: 1, meta: 1 } }).toArray();
      const dirs = new Set();
      const files = [];
      for (const d of docs) {
        if (typeof d.name !== 'string' || !d.name.startsWith(prefix)) continue;
        const rest = d.name.slice(prefix.length);
        if (!rest) continue;
        const slash = rest.indexOf('/');
        if (slash === 0) continue; // `dir//x`: no empty names
        if (slash > 0) {
          dirs.add(rest.slice(0, slash));
        } else {
          let meta = {};
          try {
            meta = decode(d.meta, {}) || {};
          } catch {
            meta = {};
          }
          files.push({ ...meta, fn: rest });
        }
      }
      if (p !== '' && !p.endsWith('/') && dirs.size === 0 && files.length === 0) {
        throw notFound(type, p);
      }
      const byFn = (a, b) => (a.fn < b.fn ? -1 : a.fn > b.fn ? 1 : 0);
      return [...[...dirs].sort(), ...files.sort(byFn)];
    },

    async saveLibraryEntry(type, p, meta, body) {
      p = String(p == null ? '' : p);
      if (p === '' || p.endsWith('/')) {
        throw new Error(`redhive storage: invalid library entry path '${p}'`);
      }
      const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
      await upsert(
        'libraries',
        { appname, type, name: p },
        { appname, type, name: p, meta: encode(meta || {}), body: text },
      );
    },
  };
  return storage;
}

const defaultStorage = createStorage();
// Not enumerable-relevant to Node-RED (it only probes the Storage API names).
Object.defineProperty(defaultStorage, 'createStorage', { value: createStorage, enumerable: false });
Object.defineProperty(defaultStorage, '_internals', {
  value: { escapeRegExp, encode, decode, hasUnsafeKeys },
  enumerable: false,
});

module.exports = defaultStorage;
