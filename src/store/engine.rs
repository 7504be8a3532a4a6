//! The store thread: owns polodb, runs jobs in arrival order, commits them in groups.

use super::overlay::{Lookup, Overlay};
use super::StoreError;
use bson::{doc, Bson, Document};
use polodb_core::{CollectionT, Database};
use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs folded into one commit. Bounds the latency a job can add to its batch-mates.
const MAX_BATCH: usize = 256;

type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A job runs on the store thread and returns whether its writes are kept, and what to do once
/// the batch holding it has committed (or failed to).
type Job = Box<dyn FnOnce(&mut Txn<'_>) -> (bool, Finisher) + Send>;

enum Message {
    Job(Job),
    Close,
}

/// A cheap, cloneable handle to the store thread.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Message>,
}

/// Owner of the store thread; `close` waits for it to finish and polodb to close.
pub struct StoreThread {
    jobs: mpsc::Sender<Message>,
    thread: JoinHandle<()>,
    /// Released (dropped) only after the thread has closed polodb.
    _lock: File,
}

/// A job's view of the store: reads see committed data, then the batch's and the job's own
/// pending writes; writes stay pending until the batch commits.
pub struct Txn<'a> {
    db: &'a Database,
    batch: &'a Overlay,
    job: Overlay,
}

// === impl Store ===

impl Store {
    /// Open (or create) the store in directory `path` and start its thread. A second
    /// process on the same store is refused: `<path>.lock` is held until `close`.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StoreError> {
        let io_error = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io_error)?;
        let lock = File::create(path.with_extension("lock")).map_err(io_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Busy {
                    path: path.to_path_buf(),
                })
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        let db = Database::open_path(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("redhive-store".into())
            .spawn(move || run(db, rx))
            .map_err(io_error)?;
        Ok((
            Store { jobs: tx.clone() },
            StoreThread {
                jobs: tx,
                thread,
                _lock: lock,
            },
        ))
    }

    /// Run `f` on the store thread. Its writes are kept if it returns `Ok`, and the result is
    /// delivered only after they are durably committed.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let result = f(txn);
            let keep = result.is_ok();
            let finish: Finisher = Box::new(move |commit| {
                let _ = tx.send(commit.map_err(StoreError::Commit).and(result));
            });
            (keep, finish)
        });
        self.jobs
            .send(Message::Job(job))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

// === impl StoreThread ===

impl StoreThread {
    /// Finish queued jobs, close polodb and wait for the thread to end.
    pub fn close(self) {
        let _ = self.jobs.send(Message::Close);
        if self.thread.join().is_err() {
            tracing::error!("store thread panicked while closing");
        }
    }
}

fn run(db: Database, rx: mpsc::Receiver<Message>) {
    let mut closing = false;
    while !closing {
        let Ok(first) = rx.recv() else { break };
        let mut messages = vec![first];
        while messages.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(message) => messages.push(message),
                Err(_) => break,
            }
        }
        let mut batch = Overlay::default();
        let mut finishers = Vec::with_capacity(messages.len());
        for message in messages {
            match message {
                Message::Close => closing = true,
                Message::Job(job) => {
                    let mut txn = Txn {
                        db: &db,
                        batch: &batch,
                        job: Overlay::default(),
                    };
                    let (keep, finish) = job(&mut txn);
                    let pending = txn.job;
                    if keep {
                        batch.absorb(pending);
                    }
                    finishers.push(finish);
                }
            }
        }
        let outcome = commit(&db, &batch);
        if let Err(error) = &outcome {
            tracing::error!(%error, jobs = finishers.len(), "store commit failed");
        }
        for finish in finishers {
            finish(outcome.as_ref().map_err(ToString::to_string).copied());
        }
    }
    tracing::debug!("store thread closed");
}

/// Write a batch in one polodb transaction. polodb commits RocksDB transactions with
/// `sync = true`, so once this returns the batch is on disk.
fn commit(db: &Database, batch: &Overlay) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let txn = db
        .start_transaction()
        .map_err(|source| engine_error("begin", "", source))?;
    for collection in &batch.cleared {
        let c = txn.collection::<Document>(collection);
        c.delete_many(doc! {})
            .map_err(|source| engine_error("clear", collection, source))?;
    }
    for (collection, writes) in &batch.writes {
        let c = txn.collection::<Document>(collection);
        for (key, doc) in writes {
            c.delete_one(doc! {"_id": key.as_str()})
                .map_err(|source| engine_error("delete", collection, source))?;
            if let Some(doc) = doc {
                c.insert_one(doc! {"_id": key.as_str(), "d": doc.clone()})
                    .map_err(|source| engine_error("insert", collection, source))?;
            }
        }
    }
    txn.commit()
        .map_err(|source| engine_error("commit", "", source))
}

fn engine_error(op: &'static str, collection: &str, source: polodb_core::Error) -> StoreError {
    StoreError::Engine {
        op,
        collection: collection.to_string(),
        source,
    }
}

// === impl Txn ===

impl Txn<'_> {
    /// The document stored under `key` in polodb collection `collection`.
    pub fn get(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        for layer in [&self.job, self.batch] {
            match layer.lookup(collection, key) {
                Lookup::Written(doc) => return Ok(doc.cloned()),
                Lookup::Cleared => return Ok(None),
                Lookup::Unknown => {}
            }
        }
        let found = self
            .db
            .collection::<Document>(collection)
            .find_one(doc! {"_id": key})
            .map_err(|source| engine_error("get", collection, source))?;
        found
            .map(|stored| unwrap_stored(collection, stored))
            .transpose()
    }

    /// Every document of `collection`, in key order.
    pub fn scan(&self, collection: &str) -> Result<BTreeMap<String, Document>, StoreError> {
        let mut docs = BTreeMap::new();
        if !self.batch.cleared.contains(collection) && !self.job.cleared.contains(collection) {
            let cursor = self
                .db
                .collection::<Document>(collection)
                .find(doc! {})
                .run()
                .map_err(|source| engine_error("scan", collection, source))?;
            for stored in cursor {
                let stored = stored.map_err(|source| engine_error("scan", collection, source))?;
                let key = match stored.get("_id") {
                    Some(Bson::String(key)) => key.clone(),
                    _ => return Err(corrupt(collection, "record without a string key")),
                };
                docs.insert(key, unwrap_stored(collection, stored)?);
            }
        }
        self.batch.apply_to(collection, &mut docs);
        self.job.apply_to(collection, &mut docs);
        Ok(docs)
    }

    pub fn put(&mut self, collection: &str, key: String, doc: Document) {
        self.job.put(collection, key, Some(doc));
    }

    pub fn delete(&mut self, collection: &str, key: String) {
        self.job.put(collection, key, None);
    }

    /// Forget every document of `collection`.
    pub fn clear(&mut self, collection: &str) {
        self.job.clear(collection);
    }

    /// Drop every write this job made so far.
    pub fn rollback(&mut self) {
        self.job = Overlay::default();
    }
}

fn unwrap_stored(collection: &str, mut stored: Document) -> Result<Document, StoreError> {
    match stored.remove("d") {
        Some(Bson::Document(doc)) => Ok(doc),
        _ => Err(corrupt(collection, "record without a document")),
    }
}

fn corrupt(collection: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        collection: collection.to_string(),
        reason: reason.to_string(),
    }
}
