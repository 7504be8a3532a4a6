//! In-process baseline for bench/shim-vs-store.sh: the operations the shim benchmark makes
//! through the MongoDB driver, made directly on the store (same thread, same group commit,
//! same fsync), without the wire protocol, driver or query parsing. Prints one JSON line per
//! operation: {"op", "ops_per_sec", "p50_us", "p99_us"}.

use bson::{doc, Bson};
use redhive::store::Store;
use std::time::{Duration, Instant};

const COLLECTION: &str = "bench";

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, thread) = Store::open(dir.path()).expect("store opens");

    let insert = measure(n, |i| {
        let store = store.clone();
        async move {
            store
                .run(move |txn| {
                    let (meta, _) = txn.ensure_collection("bench", COLLECTION)?;
                    txn.insert_document(
                        &meta,
                        doc! {"_id": i as i64, "appname": "r1", "payload": "x".repeat(200)},
                    )?
                    .expect("fresh id");
                    Ok(())
                })
                .await
                .expect("insert");
        }
    })
    .await;
    report("insert", &insert);

    let find = measure(n, |i| {
        let store = store.clone();
        async move {
            store
                .run(move |txn| {
                    let meta = txn.collection_meta("bench", COLLECTION)?.expect("exists");
                    Ok(txn.document_by_id(&meta, &Bson::Int64(i as i64))?.is_some())
                })
                .await
                .expect("find");
        }
    })
    .await;
    report("find_by_key", &find);

    let upsert = measure(n, |i| {
        let store = store.clone();
        async move {
            store
                .run(move |txn| {
                    let (meta, _) = txn.ensure_collection("bench", "upserts")?;
                    let id = Bson::String(format!("app{}", i % 100));
                    let new = doc! {"_id": id.clone(), "flow": [{"id": "n1", "v": i as i64}]};
                    match txn.document_by_id(&meta, &id)? {
                        Some(old) => txn.replace_document(&meta, &old, new)?.expect("no index"),
                        None => txn.insert_document(&meta, new)?.expect("fresh id"),
                    }
                    Ok(())
                })
                .await
                .expect("upsert");
        }
    })
    .await;
    report("find_and_modify_upsert", &upsert);

    drop(store);
    thread.close();
}

async fn measure<F, Fut>(n: usize, op: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        op(i).await;
        samples.push(start.elapsed());
    }
    samples
}

fn report(op: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let total: Duration = samples.iter().sum();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!(
        "{{\"op\":\"{op}\",\"ops_per_sec\":{:.0},\"p50_us\":{},\"p99_us\":{}}}",
        samples.len() as f64 / total.as_secs_f64(),
        pct(0.50).as_micros(),
        pct(0.99).as_micros()
    );
}
