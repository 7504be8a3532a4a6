// Through the shim: the same operations as benches/store.rs, made one at a time with the
// official Node driver (v7). Prints one JSON line per operation.
'use strict';
const path = require('node:path');
const { MongoClient } = require(path.join(__dirname, '..', 'tests', 'clients', 'node_modules', 'mongodb7'));

const uri = process.argv[2];
const n = Number(process.env.BENCH_OPS || 2000);

async function measure(op) {
    const samples = [];
    for (let i = 0; i < n; i++) {
        const start = process.hrtime.bigint();
        await op(i);
        samples.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    return samples;
}

function report(op, samples) {
    const sorted = [...samples].sort((a, b) => a - b);
    const total = samples.reduce((a, b) => a + b, 0);
    const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
    console.log(JSON.stringify({ op, ops_per_sec: Math.round(n / (total / 1e6)), p50_us: Math.round(pct(0.5)), p99_us: Math.round(pct(0.99)) }));
}

async function main() {
    const client = new MongoClient(uri);
    await client.connect();
    const db = client.db('bench');
    const c = db.collection('bench');
    const upserts = db.collection('upserts');
    report('insert', await measure((i) => c.insertOne({ _id: i, appname: 'r1', payload: 'x'.repeat(200) })));
    report('find_by_key', await measure((i) => c.findOne({ _id: i })));
    report('find_and_modify_upsert', await measure((i) =>
        upserts.findOneAndUpdate({ _id: `app${i % 100}` }, { $set: { flow: [{ id: 'n1', v: i }] } }, { upsert: true })));
    await client.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
