//! Documents of a MongoDB collection, with `_id` and unique-index enforcement.

use super::catalog::{CollectionMeta, IndexMeta};
use super::engine::Txn;
use super::index_keys;
use super::keys;
use super::StoreError;
use bson::{doc, Bson, Document};

/// A write refused because it would duplicate a unique key (MongoDB's E11000).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteConflict {
    pub index: String,
    pub key_pattern: Document,
    pub key_value: Document,
}

const ID_INDEX: &str = "_id_";

// === impl Txn (documents) ===

impl Txn<'_> {
    /// Every document of the collection, in `_id` key order.
    pub fn documents(&self, meta: &CollectionMeta) -> Result<Vec<Document>, StoreError> {
        Ok(self.scan(&meta.store)?.into_values().collect())
    }

    pub fn document_by_id(
        &self,
        meta: &CollectionMeta,
        id: &Bson,
    ) -> Result<Option<Document>, StoreError> {
        self.get(&meta.store, &keys::encode(id))
    }

    /// Insert a document that already carries its `_id`.
    pub fn insert_document(
        &mut self,
        meta: &CollectionMeta,
        doc: Document,
    ) -> Result<Result<(), WriteConflict>, StoreError> {
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        let key = keys::encode(&id);
        if self.get(&meta.store, &key)?.is_some() {
            return Ok(Err(WriteConflict {
                index: ID_INDEX.to_string(),
                key_pattern: doc! {"_id": 1},
                key_value: doc! {"_id": id},
            }));
        }
        if let Err(conflict) = self.check_unique(meta, &doc, &key)? {
            return Ok(Err(conflict));
        }
        self.add_index_entries(meta, &doc, &key);
        self.put(&meta.store, key, doc);
        Ok(Ok(()))
    }

    /// Replace `old` by `new`; both have the same `_id`.
    pub fn replace_document(
        &mut self,
        meta: &CollectionMeta,
        old: &Document,
        new: Document,
    ) -> Result<Result<(), WriteConflict>, StoreError> {
        let key = keys::encode(old.get("_id").unwrap_or(&Bson::Null));
        if let Err(conflict) = self.check_unique(meta, &new, &key)? {
            return Ok(Err(conflict));
        }
        self.remove_index_entries(meta, old);
        self.add_index_entries(meta, &new, &key);
        self.put(&meta.store, key, new);
        Ok(Ok(()))
    }

    pub fn remove_document(&mut self, meta: &CollectionMeta, doc: &Document) {
        self.remove_index_entries(meta, doc);
        self.delete(
            &meta.store,
            keys::encode(doc.get("_id").unwrap_or(&Bson::Null)),
        );
    }

    /// Fill a new unique index from the documents already there. On a duplicate nothing is
    /// kept (the caller's job fails or reports the conflict).
    pub fn build_index(
        &mut self,
        meta: &CollectionMeta,
        index: &IndexMeta,
    ) -> Result<Result<(), WriteConflict>, StoreError> {
        let Some(store) = &index.store else {
            return Ok(Ok(()));
        };
        let mut seen = std::collections::HashSet::new();
        for (doc_key, doc) in self.scan(&meta.store)? {
            for entry in index_keys::entries(index, &doc) {
                if !seen.insert(entry.key.clone()) {
                    return Ok(Err(conflict(index, entry.value)));
                }
                self.put(store, entry.key, doc! {"doc": doc_key.clone()});
            }
        }
        Ok(Ok(()))
    }

    /// Would `doc` (stored under `doc_key`) duplicate an entry of another document?
    fn check_unique(
        &self,
        meta: &CollectionMeta,
        doc: &Document,
        doc_key: &str,
    ) -> Result<Result<(), WriteConflict>, StoreError> {
        for index in &meta.indexes {
            let Some(store) = &index.store else { continue };
            for entry in index_keys::entries(index, doc) {
                if let Some(owner) = self.get(store, &entry.key)? {
                    if owner.get_str("doc").ok() != Some(doc_key) {
                        return Ok(Err(conflict(index, entry.value)));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    fn add_index_entries(&mut self, meta: &CollectionMeta, doc: &Document, doc_key: &str) {
        for index in &meta.indexes {
            let Some(store) = &index.store else { continue };
            for entry in index_keys::entries(index, doc) {
                self.put(store, entry.key, doc! {"doc": doc_key});
            }
        }
    }

    fn remove_index_entries(&mut self, meta: &CollectionMeta, doc: &Document) {
        for index in &meta.indexes {
            let Some(store) = &index.store else { continue };
            for entry in index_keys::entries(index, doc) {
                self.delete(store, entry.key);
            }
        }
    }
}

fn conflict(index: &IndexMeta, key_value: Document) -> WriteConflict {
    WriteConflict {
        index: index.name.clone(),
        key_pattern: index.key.clone(),
        key_value,
    }
}
