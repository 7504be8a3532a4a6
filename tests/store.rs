//! The store on its own: durability across reopen, group commit of concurrent jobs, rollback
//! of failed jobs, and unique-index enforcement.

use bson::{doc, Bson};
use redhive::store::{IndexMeta, Store, StoreError};
use std::path::Path;

fn open(path: &Path) -> (Store, redhive::store::StoreThread) {
    Store::open(path).expect("store opens")
}

#[tokio::test]
async fn committed_documents_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = open(dir.path());
    store
        .run(|txn| {
            let (meta, created) = txn.ensure_collection("r1", "flows")?;
            assert!(created);
            txn.insert_document(&meta, doc! {"_id": 1, "flow": [{"id": "a"}]})?
                .expect("no conflict");
            Ok(())
        })
        .await
        .unwrap();
    drop(store);
    thread.close();

    let (store, thread) = open(dir.path());
    let found = store
        .run(|txn| {
            let meta = txn
                .collection_meta("r1", "flows")?
                .expect("collection kept");
            txn.document_by_id(&meta, &Bson::Double(1.0))
        })
        .await
        .unwrap();
    assert_eq!(found, Some(doc! {"_id": 1, "flow": [{"id": "a"}]}));
    drop(store);
    thread.close();
}

#[tokio::test]
async fn a_failed_job_leaves_nothing_while_its_batch_mates_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = open(dir.path());
    let mut jobs = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        jobs.push(tokio::spawn(async move {
            store
                .run(move |txn| {
                    let (meta, _) = txn.ensure_collection("r1", "c")?;
                    txn.insert_document(&meta, doc! {"_id": i})?
                        .expect("unique ids");
                    if i % 10 == 0 {
                        return Err(StoreError::Closed);
                    }
                    Ok(())
                })
                .await
        }));
    }
    let mut failures = 0;
    for job in jobs {
        if job.await.unwrap().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 5);
    let ids = store
        .run(|txn| {
            let meta = txn
                .collection_meta("r1", "c")?
                .expect("created by a kept job");
            Ok(txn
                .documents(&meta)?
                .into_iter()
                .map(|d| d.get_i32("_id").unwrap())
                .collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(ids.len(), 45);
    assert!(ids.iter().all(|i| i % 10 != 0));
    drop(store);
    thread.close();
}

#[tokio::test]
async fn unique_indexes_refuse_duplicates_and_follow_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = open(dir.path());
    store
        .run(|txn| {
            let (mut meta, _) = txn.ensure_collection("r1", "users")?;
            let index = IndexMeta {
                name: "username_1".into(),
                key: doc! {"username": 1},
                unique: true,
                sparse: false,
                store: Some(txn.new_index_store()?),
            };
            txn.build_index(&meta, &index)?.expect("empty collection");
            meta.indexes.push(index);
            txn.save_collection_meta(&meta)?;

            let alice = doc! {"_id": 1, "username": "alice"};
            txn.insert_document(&meta, alice.clone())?.unwrap();
            let conflict = txn
                .insert_document(&meta, doc! {"_id": 2, "username": "alice"})?
                .unwrap_err();
            assert_eq!(conflict.index, "username_1");
            assert_eq!(conflict.key_value, doc! {"username": "alice"});

            // Renaming frees the old key and takes the new one.
            txn.replace_document(&meta, &alice, doc! {"_id": 1, "username": "bob"})?
                .unwrap();
            txn.insert_document(&meta, doc! {"_id": 3, "username": "alice"})?
                .unwrap();
            assert!(txn
                .insert_document(&meta, doc! {"_id": 4, "username": "bob"})?
                .is_err());
            // The same _id under another numeric type is the same document.
            assert!(txn
                .insert_document(&meta, doc! {"_id": 1.0, "username": "carol"})?
                .is_err());
            Ok(())
        })
        .await
        .unwrap();
    drop(store);
    thread.close();
}

#[tokio::test]
async fn a_second_process_cannot_open_a_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = open(dir.path());
    match Store::open(dir.path()) {
        Err(StoreError::Busy { .. }) => {}
        Err(other) => panic!("expected Busy, got {other}"),
        Ok(_) => panic!("a store in use opened twice"),
    }
    drop(store);
    thread.close();
}
