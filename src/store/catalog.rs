//! The catalog: which MongoDB namespaces exist, where their documents live in polodb, and
//! their indexes. MongoDB allows names polodb refuses (dots, `$`), and has databases where
//! polodb has one flat namespace, so every collection gets an opaque polodb name of ours.

use super::engine::Txn;
use super::platform;
use super::StoreError;
use bson::{doc, Bson, Document};
use serde::{Deserialize, Serialize};

/// One MongoDB collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionMeta {
    pub db: String,
    pub name: String,
    /// polodb collection holding the documents.
    pub store: String,
    /// Secondary indexes; `_id_` is implicit.
    #[serde(default)]
    pub indexes: Vec<IndexMeta>,
}

/// A secondary index. Only unique indexes have entries (they exist to enforce uniqueness);
/// the others are kept so that listIndexes shows what clients created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub name: String,
    pub key: Document,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub sparse: bool,
    /// polodb collection of the entries of a unique index.
    #[serde(default)]
    pub store: Option<String>,
}

const SEQUENCE_KEY: &str = "sequence";

// === impl CollectionMeta ===

impl CollectionMeta {
    /// The MongoDB namespace, `db.collection`.
    pub fn namespace(&self) -> String {
        namespace(&self.db, &self.name)
    }

    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

fn namespace(db: &str, collection: &str) -> String {
    format!("{db}.{collection}")
}

// === impl Txn (catalog) ===

impl Txn<'_> {
    pub fn collection_meta(
        &self,
        db: &str,
        collection: &str,
    ) -> Result<Option<CollectionMeta>, StoreError> {
        self.get(platform::CATALOG, &namespace(db, collection))?
            .map(decode_meta)
            .transpose()
    }

    /// All collections of `db` (every database when `None`), sorted by namespace.
    pub fn collection_metas(&self, db: Option<&str>) -> Result<Vec<CollectionMeta>, StoreError> {
        let mut metas = Vec::new();
        for (_, doc) in self.scan(platform::CATALOG)? {
            let meta = decode_meta(doc)?;
            if db.is_none_or(|db| meta.db == db) {
                metas.push(meta);
            }
        }
        Ok(metas)
    }

    /// The collection, created empty if it does not exist yet; `true` when created.
    pub fn ensure_collection(
        &mut self,
        db: &str,
        collection: &str,
    ) -> Result<(CollectionMeta, bool), StoreError> {
        if let Some(meta) = self.collection_meta(db, collection)? {
            return Ok((meta, false));
        }
        let meta = CollectionMeta {
            db: db.to_string(),
            name: collection.to_string(),
            store: format!("c{}", self.next_sequence()?),
            indexes: Vec::new(),
        };
        self.save_collection_meta(&meta)?;
        Ok((meta, true))
    }

    pub fn save_collection_meta(&mut self, meta: &CollectionMeta) -> Result<(), StoreError> {
        let doc = bson::to_document(meta).map_err(|e| StoreError::Corrupt {
            collection: platform::CATALOG.to_string(),
            reason: e.to_string(),
        })?;
        self.put(platform::CATALOG, meta.namespace(), doc);
        Ok(())
    }

    /// Remove a collection with its documents and index entries.
    pub fn drop_collection(&mut self, meta: &CollectionMeta) {
        self.clear(&meta.store);
        for index in &meta.indexes {
            if let Some(store) = &index.store {
                self.clear(store);
            }
        }
        self.delete(platform::CATALOG, meta.namespace());
    }

    /// A fresh polodb collection name for index entries.
    pub fn new_index_store(&mut self) -> Result<String, StoreError> {
        Ok(format!("x{}", self.next_sequence()?))
    }

    fn next_sequence(&mut self) -> Result<i64, StoreError> {
        let current = self
            .get(platform::META, SEQUENCE_KEY)?
            .and_then(|d| d.get_i64("next").ok())
            .unwrap_or(1);
        self.put(
            platform::META,
            SEQUENCE_KEY.to_string(),
            doc! {"next": Bson::Int64(current + 1)},
        );
        Ok(current)
    }
}

fn decode_meta(doc: Document) -> Result<CollectionMeta, StoreError> {
    bson::from_document(doc).map_err(|e| StoreError::Corrupt {
        collection: platform::CATALOG.to_string(),
        reason: e.to_string(),
    })
}
