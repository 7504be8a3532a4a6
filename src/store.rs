//! The embedded document store: polodb_core used as a durable map of documents by key.
//!
//! polodb is synchronous and its query engine is not trusted (see the README), so all access
//! goes through one dedicated thread that owns the database and runs jobs in order. Jobs that
//! arrive together share one polodb transaction — one fsync'ed commit — and nobody hears back
//! before that commit is on disk (group commit). Each job writes into an overlay first, so a
//! job that fails leaves nothing behind even though it shares the batch.

mod catalog;
mod documents;
mod engine;
mod index_keys;
pub mod keys;
mod overlay;
mod users;

pub use catalog::{CollectionMeta, IndexMeta};
pub use documents::WriteConflict;
pub use engine::{Store, StoreThread, Txn};
pub use users::UserRecord;

use std::path::PathBuf;

/// Names of the platform's own polodb collections. Tenant data lives only in collections whose
/// names the catalog hands out (`c<N>` and `x<N>`), so no wire namespace can reach these.
pub(crate) mod platform {
    pub const CATALOG: &str = "sys_catalog";
    pub const META: &str = "sys_meta";
    pub const USERS: &str = "sys_users";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        source: polodb_core::Error,
    },
    #[error(
        "the store at {path} is in use by another redhive process (is `redhive serve` running?)"
    )]
    Busy { path: PathBuf },
    #[error("store operation `{op}` on `{collection}` failed: {source}")]
    Engine {
        op: &'static str,
        collection: String,
        source: polodb_core::Error,
    },
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stored record in `{collection}` is unreadable: {reason}")]
    Corrupt { collection: String, reason: String },
    #[error("the store has shut down")]
    Closed,
}
