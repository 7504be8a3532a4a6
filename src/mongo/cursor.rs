//! Server-side cursors: the rest of a result, handed out batch by batch through getMore.
//!
//! Results are materialised when the cursor opens (Node-RED's data is small, and it gives every
//! cursor a consistent snapshot without holding a store transaction open). A cursor belongs
//! to the principal that opened it and to its namespace; ids are random non-zero Int64s so
//! they can neither collide nor be guessed.

use bson::{doc, Bson, Document};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::{CommandError, ErrorCode};

/// MongoDB's default first batch.
pub const DEFAULT_FIRST_BATCH: usize = 101;
/// Documents in one batch may not add up to more than a BSON document holds.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<i64, Cursor>>,
}

struct Cursor {
    namespace: String,
    owner: String,
    remaining: VecDeque<Document>,
    last_used: Instant,
}

// === impl Cursors ===

impl Cursors {
    /// Reply for the first batch of `results` in namespace `namespace`; keeps the rest as an
    /// open cursor unless `single_batch`.
    pub fn first_batch(
        &self,
        namespace: &str,
        owner: &str,
        results: Vec<Document>,
        batch_size: Option<usize>,
        single_batch: bool,
    ) -> Document {
        let mut remaining: VecDeque<Document> = results.into();
        let first = take_batch(&mut remaining, batch_size.unwrap_or(DEFAULT_FIRST_BATCH));
        let id = if single_batch || remaining.is_empty() {
            0
        } else {
            self.register(namespace, owner, remaining)
        };
        cursor_reply("firstBatch", id, namespace, first)
    }

    /// Reply for `getMore`.
    pub fn next_batch(
        &self,
        id: i64,
        namespace: &str,
        owner: &str,
        batch_size: Option<usize>,
    ) -> Result<Document, CommandError> {
        let mut open = lock(&self.open);
        let Some(cursor) = open.get_mut(&id) else {
            return Err(not_found(id));
        };
        if cursor.owner != owner {
            return Err(CommandError::unauthorized(format!(
                "cursor id {id} belongs to another user"
            )));
        }
        if cursor.namespace != namespace {
            return Err(CommandError::unauthorized(format!(
                "cursor id {id} was not opened on namespace {namespace}"
            )));
        }
        let docs = take_batch(&mut cursor.remaining, batch_size.unwrap_or(usize::MAX));
        cursor.last_used = Instant::now();
        let reply_id = if cursor.remaining.is_empty() {
            open.remove(&id);
            0
        } else {
            id
        };
        Ok(cursor_reply("nextBatch", reply_id, namespace, docs))
    }

    /// Close a cursor; `false` if it is not open for this owner and namespace.
    pub fn kill(&self, id: i64, namespace: &str, owner: &str) -> bool {
        let mut open = lock(&self.open);
        let mine = open
            .get(&id)
            .is_some_and(|c| c.owner == owner && c.namespace == namespace);
        if mine {
            open.remove(&id);
        }
        mine
    }

    /// Close cursors idle for longer than `idle`; returns how many.
    pub fn reap(&self, idle: Duration) -> usize {
        let mut open = lock(&self.open);
        let before = open.len();
        open.retain(|_, c| c.last_used.elapsed() < idle);
        before - open.len()
    }

    fn register(&self, namespace: &str, owner: &str, remaining: VecDeque<Document>) -> i64 {
        let mut open = lock(&self.open);
        let id = loop {
            let id = rand::random::<i64>() & i64::MAX;
            if id != 0 && !open.contains_key(&id) {
                break id;
            }
        };
        open.insert(
            id,
            Cursor {
                namespace: namespace.to_string(),
                owner: owner.to_string(),
                remaining,
                last_used: Instant::now(),
            },
        );
        id
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves the map itself intact.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(id: i64) -> CommandError {
    CommandError::new(
        ErrorCode::CursorNotFound,
        format!("cursor id {id} not found"),
    )
}

/// Take up to `max` documents, stopping early at the batch byte limit (but always at least one
/// document, so a batch always makes progress).
fn take_batch(remaining: &mut VecDeque<Document>, max: usize) -> Vec<Document> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < max {
        let Some(doc) = remaining.front() else { break };
        let size = encoded_len(doc);
        if !batch.is_empty() && bytes + size > MAX_BATCH_BYTES {
            break;
        }
        bytes += size;
        if let Some(doc) = remaining.pop_front() {
            batch.push(doc);
        }
    }
    batch
}

fn encoded_len(doc: &Document) -> usize {
    let mut buf = Vec::new();
    doc.to_writer(&mut buf).map(|_| buf.len()).unwrap_or(0)
}

fn cursor_reply(field: &str, id: i64, namespace: &str, docs: Vec<Document>) -> Document {
    let batch: Vec<Bson> = docs.into_iter().map(Bson::Document).collect();
    doc! {
        "cursor": { field: batch, "id": Bson::Int64(id), "ns": namespace },
        "ok": 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(n: i32) -> Vec<Document> {
        (0..n).map(|i| doc! {"i": i}).collect()
    }

    #[test]
    fn batches_until_exhausted() {
        let cursors = Cursors::default();
        let first = cursors.first_batch("d.c", "u@d", docs(250), None, false);
        let cursor = first.get_document("cursor").unwrap();
        assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 101);
        let id = cursor.get_i64("id").unwrap();
        assert_ne!(id, 0);
        let more = cursors.next_batch(id, "d.c", "u@d", Some(100)).unwrap();
        assert_eq!(
            more.get_document("cursor").unwrap().get_i64("id").unwrap(),
            id
        );
        let last = cursors.next_batch(id, "d.c", "u@d", None).unwrap();
        let last = last.get_document("cursor").unwrap();
        assert_eq!(last.get_array("nextBatch").unwrap().len(), 49);
        assert_eq!(last.get_i64("id").unwrap(), 0);
        assert!(cursors.next_batch(id, "d.c", "u@d", None).is_err());
    }

    #[test]
    fn other_principals_cannot_use_a_cursor() {
        let cursors = Cursors::default();
        let first = cursors.first_batch("d.c", "u@d", docs(5), Some(1), false);
        let id = first.get_document("cursor").unwrap().get_i64("id").unwrap();
        let err = cursors.next_batch(id, "d.c", "other@x", None).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthorized);
        assert!(!cursors.kill(id, "d.c", "other@x"));
        assert!(cursors.kill(id, "d.c", "u@d"));
    }

    #[test]
    fn single_batch_and_exhausted_results_close_at_once() {
        let cursors = Cursors::default();
        let r = cursors.first_batch("d.c", "u", docs(3), Some(1), true);
        assert_eq!(r.get_document("cursor").unwrap().get_i64("id").unwrap(), 0);
        let r = cursors.first_batch("d.c", "u", docs(3), None, false);
        assert_eq!(r.get_document("cursor").unwrap().get_i64("id").unwrap(), 0);
    }
}
