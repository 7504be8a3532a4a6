'use strict';
/**
 * @redhive/node-red-auth — Node-RED adminAuth module reading the tenant's `users` collection.
 *
 *   users {appname, username, email, permissions, password | (salt, hash), ...}
 *         unique {appname:1, username:1}
 *
 * - username: stored and matched lower-cased after trimming (String.prototype.trim + toLowerCase;
 *   redhive's Rust side applies the same rule: trim() + to_lowercase()).
 * - permissions: "*" (full) or "read" (or an array of those); anything else is refused.
 * - password: bcrypt hash ($2b$ / $2a$ / $2y$, new records use cost 12), or a legacy
 *   passport-local-mongoose record: `salt` (string) + `hash` (base64) where
 *   hash = PBKDF2-SHA256(password, salt string as bytes, 901 iterations, 24 bytes).
 * - No anonymous access: default() resolves to null.
 * - Failed logins are slowed down per username (in memory); unknown users take as long as known ones.
 *
 * Usage in settings.js:
 *   adminAuth: require('@redhive/node-red-auth').create({ mongoUrl, appName })
 */

const crypto = require('node:crypto');
const bcrypt = require('bcrypt');
const { MongoClient } = require('mongodb');

/** bcrypt (cost 12) of a random string nobody knows: compared against when there is no real hash. */
const DUMMY_BCRYPT = '$2b$12$CslEqByG9YbOsc2GABwKiugwmUB3.oNTswuCSfeHPnJ.pJqeDj3PC';
const BCRYPT_COST = 12;
const PBKDF2 = { iterations: 901, keylen: 24, digest: 'sha256' };

const DEFAULT_THROTTLE = {
  freeFailures: 3, // failures within the window before any delay
  baseDelayMs: 1000, // delay after freeFailures failures; doubles with each further failure
  maxDelayMs: 30_000,
  windowMs: 15 * 60_000,
  maxTracked: 10_000, // usernames tracked at most (oldest forgotten first)
};

function normalizeUsername(username) {
  if (username && typeof username === 'object') username = username.username;
  if (typeof username !== 'string') return '';
  return username.trim().toLowerCase();
}

function normalizePermissions(p) {
  const ok = (x) => x === '*' || x === 'read';
  if (ok(p)) return p;
  if (Array.isArray(p) && p.length > 0 && p.every(ok)) return p.includes('*') ? '*' : 'read';
  return null;
}

/** Hashes a password for a new record (what the Rust side does with the bcrypt crate). */
function hashPassword(password, cost = BCRYPT_COST) {
  return bcrypt.hash(String(password), cost);
}

function isBcrypt(h) {
  return typeof h === 'string' && /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(h);
}

async function bcryptVerify(password, hash) {
  // node bcrypt understands $2a$/$2b$; $2y$ (PHP) is the same algorithm.
  const h = hash.startsWith('$2y$') ? '$2b$' + hash.slice(4) : hash;
  try {
    return await bcrypt.compare(password, h);
  } catch {
    return false;
  }
}

function pbkdf2Verify(password, salt, hash) {
  return new Promise((resolve) => {
    let expected;
    try {
      expected = Buffer.from(hash, 'base64');
    } catch {
      resolve(false);
      return;
    }
    crypto.pbkdf2(password, Buffer.from(salt, 'utf8'), PBKDF2.iterations, PBKDF2.keylen, PBKDF2.digest, (err, key) => {
      if (err || expected.length !== key.length) {
        resolve(false);
        return;
      }
      resolve(crypto.timingSafeEqual(key, expected));
    });
  });
}

/**
 * Checks `password` against a user record. Always costs at least one bcrypt comparison, so known,
 * unknown and legacy users cannot be told apart by time.
 */
async function verifyRecord(record, password) {
  password = typeof password === 'string' ? password : '';
  if (record && isBcrypt(record.password)) {
    return bcryptVerify(password, record.password);
  }
  if (record && typeof record.salt === 'string' && typeof record.hash === 'string' && record.salt && record.hash) {
    const [ok] = await Promise.all([pbkdf2Verify(password, record.salt, record.hash), bcryptVerify(password, DUMMY_BCRYPT)]);
    return ok;
  }
  await bcryptVerify(password, DUMMY_BCRYPT);
  return false;
}

/** Per-username failure tracking and delays (in memory, one process). */
function createThrottle(opts = {}) {
  const cfg = { ...DEFAULT_THROTTLE, ...opts };
  const failures = new Map(); // username -> [timestamps]
  const queues = new Map(); // username -> tail promise (attempts for one name run one at a time)

  function recent(name, now) {
    const list = (failures.get(name) || []).filter((t) => t + cfg.windowMs > now);
    if (list.length) failures.set(name, list);
    else failures.delete(name);
    return list;
  }
  return {
    config: cfg,
    delayFor(name, now = Date.now()) {
      const n = recent(name, now).length;
      if (n < cfg.freeFailures) return 0;
      return Math.min(cfg.baseDelayMs * 2 ** (n - cfg.freeFailures), cfg.maxDelayMs);
    },
    fail(name, now = Date.now()) {
      const list = recent(name, now);
      list.push(now);
      failures.delete(name);
      failures.set(name, list); // re-insert: Map order = least recently failed first
      while (failures.size > cfg.maxTracked) failures.delete(failures.keys().next().value);
    },
    succeed(name) {
      failures.delete(name);
    },
    /** Runs fn after every earlier attempt for the same name has finished. */
    serialize(name, fn) {
      const prev = queues.get(name) || Promise.resolve();
      const run = prev.then(fn, fn);
      const tailP = run.catch(() => {});
      queues.set(name, tailP);
      tailP.then(() => {
        if (queues.get(name) === tailP) queues.delete(name);
      });
      return run;
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates an adminAuth object for settings.js.
 * @param {object} [opts]
 * @param {string} [opts.mongoUrl]  default env MONGO_URL
 * @param {string} [opts.appName]   default env APP_NAME
 * @param {object} [opts.mongoClientOptions]
 * @param {object} [opts.throttle]  overrides of DEFAULT_THROTTLE
 */
function create(opts = {}) {
  const throttle = createThrottle(opts.throttle);
  const lastKnown = new Map(); // username -> {user, at}: answers users() while the store is down
  const lastKnownMs = opts.lastKnownMs ?? 10 * 60_000;
  const warn = opts.warn || ((msg) => console.warn(`[redhive auth] ${msg}`));
  let client = null;
  let collPromise = null;

  function appName() {
    const a = opts.appName || process.env.APP_NAME;
    if (!a) throw new Error('redhive auth: no application name (APP_NAME)');
    return a;
  }

  function users() {
    if (!collPromise) {
      collPromise = (async () => {
        const url = opts.mongoUrl || process.env.MONGO_URL;
        if (!url) throw new Error('redhive auth: no MongoDB URL (MONGO_URL)');
        client = new MongoClient(url, {
          appName: 'redhive-node-red-auth',
          retryReads: true,
          retryWrites: true,
          ...(opts.mongoClientOptions || {}),
        });
        await client.connect();
        const coll = client.db().collection('users');
        await coll.createIndex({ appname: 1, username: 1 }, { unique: true }).catch(() => {});
        return coll;
      })();
      collPromise.catch(() => {
        collPromise = null; // try again on the next call
      });
    }
    return collPromise;
  }

  async function findUser(name) {
    if (!name) return null;
    const coll = await users();
    return coll.findOne({ appname: appName(), username: name });
  }

  function publicUser(record, name) {
    const permissions = normalizePermissions(record && record.permissions);
    if (!permissions) return null;
    return { username: name, permissions };
  }

  const auth = {
    type: 'credentials',

    /**
     * Node-RED: user details for a username (no secret), or null. Called on every API request.
     * Never rejects: Node-RED 5.0.7 calls it without a rejection handler (strategies.js,
     * comms.js), so a rejection would be an unhandled one and end the runtime. While the store
     * is unreachable the last answer seen for the user is used (for at most lastKnownMs), else
     * null (→ 401).
     */
    async users(username) {
      const name = normalizeUsername(username);
      try {
        const record = await findUser(name);
        const user = record ? publicUser(record, name) : null;
        if (user) lastKnown.set(name, { user, at: Date.now() });
        else lastKnown.delete(name);
        return user;
      } catch (err) {
        const hit = lastKnown.get(name);
        const keep = hit && Date.now() - hit.at < lastKnownMs;
        warn(`users(${JSON.stringify(name)}) failed, ${keep ? 'using the last known record' : 'refusing'}: ${err.message}`);
        return keep ? { ...hit.user } : null;
      }
    },

    /** Node-RED: the user for valid credentials, or null. */
    async authenticate(username, password) {
      const name = normalizeUsername(username);
      return throttle.serialize(name, async () => {
        const delay = throttle.delayFor(name);
        if (delay > 0) await sleep(delay);
        let record = null;
        let lookupError = null;
        try {
          record = await findUser(name);
        } catch (err) {
          lookupError = err;
        }
        const ok = await verifyRecord(record, password);
        if (lookupError) {
          // Store down: refuse, but do not count it as a failed attempt. Never reject: Node-RED
          // 5.0.7 calls authenticate() without a rejection handler (strategies.js).
          warn(`authenticate(${JSON.stringify(name)}): user store unreachable: ${lookupError.message}`);
          return null;
        }
        const user = ok ? publicUser(record, name) : null;
        if (user) throttle.succeed(name);
        else throttle.fail(name);
        return user;
      });
    },

    /** No anonymous access. */
    default() {
      return Promise.resolve(null);
    },
  };
  // Helpers that Node-RED does not look at.
  Object.defineProperty(auth, 'close', {
    enumerable: false,
    value: async () => {
      const c = client;
      client = null;
      collPromise = null;
      if (c) await c.close();
    },
  });
  Object.defineProperty(auth, 'throttle', { enumerable: false, value: throttle });
  return auth;
}

module.exports = {
  create,
  hashPassword,
  verifyRecord,
  normalizeUsername,
  normalizePermissions,
  createThrottle,
  BCRYPT_COST,
  PBKDF2,
  DEFAULT_THROTTLE,
};
