'use strict';
// Mongoose 8 (its own bundled mongodb 6.x driver) against redhive, as tenant r1.

const assert = require('node:assert/strict');
const { describe, it, before } = require('node:test');
const mongoose = require('mongoose');
const { useRedhive } = require('./lib/redhive');

const T = { timeout: 60_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe(`mongoose@${mongoose.version} against redhive`, () => {
  const rh = useRedhive({ tenants: ['r1'] });
  let conn;
  let Person;

  before(async () => {
    conn = mongoose.createConnection(rh.tenants.r1, { serverSelectionTimeoutMS: 10_000, autoIndex: true });
    await conn.asPromise();
    const schema = new mongoose.Schema(
      {
        name: { type: String, required: true },
        email: { type: String, unique: true },
        age: Number,
        tags: [String],
        profile: { city: String, zip: String },
      },
      { timestamps: true },
    );
    Person = conn.model('Person', schema); // collection "people"
    await Person.init(); // builds the unique index on email
  });

  rh.defer(async () => {
    if (conn) await conn.close();
  });

  it('connects to the tenant database', T, () => {
    assert.equal(conn.readyState, 1);
    assert.equal(conn.name, 'r1');
  });

  it('Model.init() created the unique email index (listIndexes)', T, async () => {
    const idx = await conn.db.collection('people').listIndexes().toArray();
    const email = idx.find((i) => i.name === 'email_1');
    assert.ok(email, `indexes: ${idx.map((i) => i.name)}`);
    assert.deepEqual(email.key, { email: 1 });
    assert.equal(email.unique, true);
    const cols = (await conn.db.listCollections().toArray()).map((c) => c.name);
    assert.ok(cols.includes('people'), `collections: ${cols}`);
  });

  it('create() stores the document with _id, __v and timestamps', T, async () => {
    const ada = await Person.create({ name: 'Ada', email: 'ada@example.com', age: 36, tags: ['math'], profile: { city: 'London' } });
    assert.ok(ada._id instanceof mongoose.Types.ObjectId);
    assert.ok(ada.createdAt instanceof Date);
    assert.equal(ada.createdAt.getTime(), ada.updatedAt.getTime());

    const raw = await conn.db.collection('people').findOne({ _id: ada._id });
    assert.equal(raw.name, 'Ada');
    assert.equal(raw.__v, 0);
    assert.deepEqual(raw.tags, ['math']);
    assert.deepEqual(raw.profile, { city: 'London' });
    assert.ok(raw.createdAt instanceof Date);
    assert.equal(raw.createdAt.getTime(), ada.createdAt.getTime());
    assert.equal(raw.updatedAt.getTime(), ada.updatedAt.getTime());
  });

  it('insertMany + find with filter/sort/limit/select/lean + findById + exists', T, async () => {
    await Person.insertMany([
      { name: 'Grace', email: 'grace@example.com', age: 45, tags: ['navy', 'cobol'] },
      { name: 'Linus', email: 'linus@example.com', age: 28, tags: ['kernel'] },
      { name: 'Barbara', email: 'barbara@example.com', age: 52, tags: ['clu', 'math'] },
    ]);
    const older = await Person.find({ age: { $gte: 36 } }).sort({ age: -1 }).lean();
    assert.deepEqual(older.map((p) => p.name), ['Barbara', 'Grace', 'Ada']);
    const two = await Person.find({}).sort({ name: 1 }).skip(1).limit(2).select('name -_id').lean();
    assert.deepEqual(two, [{ name: 'Barbara' }, { name: 'Grace' }]);
    const grace = await Person.findOne({ email: 'grace@example.com' });
    assert.equal(grace.age, 45);
    const byId = await Person.findById(grace._id).lean();
    assert.equal(byId.name, 'Grace');
    assert.ok(await Person.exists({ name: 'Linus' }));
    assert.equal(await Person.exists({ name: 'Nobody' }), null);
    const math = await Person.find({ tags: 'math' }).sort({ name: 1 }).lean();
    assert.deepEqual(math.map((p) => p.name), ['Ada', 'Barbara']);
  });

  it('countDocuments, estimatedDocumentCount, distinct, aggregate', T, async () => {
    assert.equal(await Person.countDocuments({}), 4);
    assert.equal(await Person.countDocuments({ age: { $lt: 40 } }), 2);
    assert.equal(await Person.estimatedDocumentCount(), 4);
    assert.deepEqual((await Person.distinct('tags')).sort(), ['clu', 'cobol', 'kernel', 'math', 'navy']);
    const agg = await Person.aggregate([{ $match: { age: { $gte: 30 } } }, { $group: { _id: null, n: { $sum: 1 }, total: { $sum: '$age' } } }]);
    assert.deepEqual(agg, [{ _id: null, n: 3, total: 36 + 45 + 52 }]);
  });

  it('updateOne / updateMany bump updatedAt; findOneAndUpdate returns the new doc', T, async () => {
    const before = await Person.findOne({ name: 'Linus' }).lean();
    await sleep(20);
    const r = await Person.updateOne({ name: 'Linus' }, { $set: { age: 29 } });
    assert.equal(r.matchedCount, 1);
    assert.equal(r.modifiedCount, 1);
    const after = await Person.findOne({ name: 'Linus' }).lean();
    assert.equal(after.age, 29);
    assert.equal(after.createdAt.getTime(), before.createdAt.getTime());
    assert.ok(after.updatedAt > before.updatedAt, `updatedAt ${after.updatedAt} not after ${before.updatedAt}`);

    const many = await Person.updateMany({ age: { $gte: 40 } }, { $inc: { age: 1 } });
    assert.equal(many.modifiedCount, 2);
    assert.deepEqual((await Person.find({ age: { $gte: 40 } }).sort({ age: 1 }).lean()).map((p) => p.age), [46, 53]);

    const fresh = await Person.findOneAndUpdate({ name: 'Ada' }, { age: 37 }, { new: true });
    assert.equal(fresh.age, 37);
    const old = await Person.findOneAndUpdate({ name: 'Ada' }, { age: 38 }, { new: false });
    assert.equal(old.age, 37);
  });

  it('findOneAndUpdate upsert sets createdAt and filter fields', T, async () => {
    const doc = await Person.findOneAndUpdate({ email: 'new@example.com' }, { name: 'Newcomer' }, { upsert: true, new: true }).lean();
    assert.equal(doc.email, 'new@example.com');
    assert.equal(doc.name, 'Newcomer');
    assert.ok(doc.createdAt instanceof Date);
    assert.ok(doc.updatedAt instanceof Date);
    assert.equal(await Person.countDocuments({ email: 'new@example.com' }), 1);
  });

  it('document save() after modification persists $set and array push', T, async () => {
    const doc = await Person.findOne({ name: 'Grace' });
    doc.age = 80;
    doc.tags.push('compiler');
    doc.profile.city = 'Arlington';
    await doc.save();
    const raw = await conn.db.collection('people').findOne({ _id: doc._id });
    assert.equal(raw.age, 80);
    assert.deepEqual(raw.tags, ['navy', 'cobol', 'compiler']);
    assert.equal(raw.profile.city, 'Arlington');
  });

  it('duplicate unique key -> MongoServerError E11000 (code 11000)', T, async () => {
    const countBefore = await Person.countDocuments({});
    let err;
    try {
      await Person.create({ name: 'Impostor', email: 'ada@example.com' });
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'duplicate email insert succeeded');
    assert.equal(err.code, 11000, err.message);
    assert.equal(err.name, 'MongoServerError');
    assert.match(err.message, /^E11000 duplicate key error collection: r1\.people index: email_1 dup key/);
    assert.deepEqual(err.keyValue, { email: 'ada@example.com' });
    assert.equal(await Person.countDocuments({}), countBefore);

    let updErr;
    try {
      await Person.updateOne({ name: 'Linus' }, { email: 'ada@example.com' });
    } catch (e) {
      updErr = e;
    }
    assert.ok(updErr, 'duplicate email update succeeded');
    assert.equal(updErr.code, 11000, updErr.message);
    assert.equal((await Person.findOne({ name: 'Linus' }).lean()).email, 'linus@example.com');
  });

  it('deleteOne / deleteMany / document deleteOne', T, async () => {
    const total = await Person.countDocuments({});
    assert.equal((await Person.deleteOne({ name: 'Newcomer' })).deletedCount, 1);
    const b = await Person.findOne({ name: 'Barbara' });
    await b.deleteOne();
    assert.equal(await Person.findById(b._id), null);
    assert.equal((await Person.deleteMany({ age: { $lt: 40 } })).deletedCount, 2); // Ada 38, Linus 29
    assert.equal(await Person.countDocuments({}), total - 4);
    assert.deepEqual((await Person.find().lean()).map((p) => p.name), ['Grace']);
  });
});
