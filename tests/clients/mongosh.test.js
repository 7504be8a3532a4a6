'use strict';
// The real mongosh CLI (npm package mongosh, run as node_modules/.bin/mongosh) against redhive.
//
// mongosh never reaches the network here: it runs with an isolated HOME whose user config turns
// telemetry off, empties updateURL (no update check) and disables its log files; --quiet also
// skips the update check, --norc skips ~/.mongoshrc.js; MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING
// and DO_NOT_TRACK are set as well.

const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, it, before, after } = require('node:test');
const { useRedhive } = require('./lib/redhive');

const T = { timeout: 90_000 };
const MONGOSH = path.join(__dirname, 'node_modules', '.bin', 'mongosh');

describe(`mongosh@${require('mongosh/package.json').version} against redhive`, () => {
  const rh = useRedhive({ tenants: ['r1'] });
  let home;

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'redhive-mongosh-home-'));
    fs.mkdirSync(path.join(home, '.mongodb', 'mongosh'), { recursive: true });
    fs.writeFileSync(
      path.join(home, '.mongodb', 'mongosh', 'config'),
      JSON.stringify({ enableTelemetry: false, updateURL: '', disableLogging: true }),
    );
  });

  after(() => {
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  function mongosh(args, uri = rh.tenants.r1) {
    return new Promise((resolve) => {
      execFile(
        MONGOSH,
        [uri, '--quiet', '--norc', ...args],
        {
          cwd: home,
          timeout: 60_000,
          env: {
            PATH: process.env.PATH,
            HOME: home,
            DO_NOT_TRACK: '1',
            MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING: '1',
            NO_COLOR: '1',
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr, err }),
      );
    });
  }

  function check(res) {
    assert.equal(res.code, 0, `mongosh failed (code ${res.code}):\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
    return res.stdout;
  }

  function line(stdout, tag) {
    const l = stdout.split('\n').find((x) => x.startsWith(tag + ' '));
    assert.ok(l !== undefined, `no "${tag}" line in mongosh output:\n${stdout}`);
    return l.slice(tag.length + 1);
  }

  it('runs a --file script: insert, find/sort/limit, update, count, unique index, duplicate key', T, async () => {
    const script = path.join(home, 'scenario.js');
    fs.writeFileSync(
      script,
      `
const c = db.getCollection('shell_items');
print('DB ' + db.getName());
const ins = c.insertMany([
  { _id: 1, name: 'alpha', qty: 5 },
  { _id: 2, name: 'beta', qty: 15 },
  { _id: 3, name: 'gamma', qty: 25 },
  { _id: 4, name: 'delta', qty: 35 },
]);
print('INSERTED ' + Object.keys(ins.insertedIds).length);
print('TOP2 ' + JSON.stringify(c.find({ qty: { $gt: 10 } }, { _id: 0, name: 1 }).sort({ qty: -1 }).limit(2).toArray()));
const u = c.updateOne({ name: 'alpha' }, { $inc: { qty: 100 } });
print('UPDATED ' + u.matchedCount + ' ' + u.modifiedCount);
print('ALPHA ' + c.findOne({ name: 'alpha' }).qty);
print('COUNT ' + c.countDocuments({ qty: { $gte: 25 } }));
print('INDEX ' + c.createIndex({ name: 1 }, { unique: true }));
try {
  c.insertOne({ _id: 5, name: 'beta' });
  print('DUPERR none');
} catch (e) {
  print('DUPERR ' + e.code + ' ' + e.message);
}
print('FINAL ' + c.countDocuments({}));
`,
    );
    const out = check(await mongosh(['--file', script]));
    assert.equal(line(out, 'DB'), 'r1');
    assert.equal(line(out, 'INSERTED'), '4');
    assert.deepEqual(JSON.parse(line(out, 'TOP2')), [{ name: 'delta' }, { name: 'gamma' }]);
    assert.equal(line(out, 'UPDATED'), '1 1');
    assert.equal(line(out, 'ALPHA'), '105');
    assert.equal(line(out, 'COUNT'), '3');
    assert.equal(line(out, 'INDEX'), 'name_1');
    assert.match(line(out, 'DUPERR'), /^11000 E11000 duplicate key error collection: r1\.shell_items index: name_1 dup key/);
    assert.equal(line(out, 'FINAL'), '4');
  });

  it('--eval "show collections" lists the collection', T, async () => {
    const out = check(await mongosh(['--eval', 'show collections']));
    const names = out.split('\n').map((l) => l.trim()).filter(Boolean);
    assert.ok(names.includes('shell_items'), `show collections printed:\n${out}`);
  });

  it('--eval db.shell_items.getIndexes() shows _id_ and the unique name_1 index', T, async () => {
    const out = check(await mongosh(['--eval', 'db.shell_items.getIndexes()']));
    // mongosh prints an array of index documents in its shell notation
    const objects = out.match(/\{(?:[^{}]|\{[^{}]*\})*\}/g) || [];
    const idIdx = objects.find((o) => /name: '_id_'/.test(o));
    const nameIdx = objects.find((o) => /name: 'name_1'/.test(o));
    assert.ok(idIdx, `no _id_ index printed:\n${out}`);
    assert.match(idIdx, /key: \{ _id: 1 \}/);
    assert.ok(nameIdx, `no name_1 index printed:\n${out}`);
    assert.match(nameIdx, /key: \{ name: 1 \}/);
    assert.match(nameIdx, /unique: true/);
    assert.equal(objects.filter((o) => /name: '/.test(o)).length, 2, `expected exactly 2 indexes:\n${out}`);
  });

  it('--eval with --json=relaxed prints query results as JSON', T, async () => {
    const out = check(await mongosh(['--json=relaxed', '--eval', 'db.shell_items.find({}, {_id: 1, qty: 1}).sort({_id: 1}).toArray()']));
    assert.deepEqual(JSON.parse(out), [
      { _id: 1, qty: 105 },
      { _id: 2, qty: 15 },
      { _id: 3, qty: 25 },
      { _id: 4, qty: 35 },
    ]);
  });

  it('the right password connects, a wrong one makes mongosh exit non-zero with an authentication error', T, async () => {
    const good = await mongosh(['--eval', 'print("CONNECTED as " + db.getName())']);
    assert.equal(check(good).trim(), 'CONNECTED as r1');

    const u = new URL(rh.tenants.r1);
    u.password = 'wrong-password';
    const bad = await mongosh(['--eval', 'print("CONNECTED")'], u.toString());
    assert.notEqual(bad.code, 0, `mongosh succeeded with a wrong password:\n${bad.stdout}`);
    assert.ok(!bad.stdout.includes('CONNECTED'));
    assert.match(bad.stdout + bad.stderr, /Authentication failed/);
  });
});
