//! What update, delete and findAndModify share: finding matches, updating one document and
//! inserting the document of an upsert.

use super::insert::prepare_document;
use super::write_errors::WriteError;
use crate::query::{Filter, Update};
use crate::store::{CollectionMeta, StoreError, Txn};
use bson::Document;

/// Documents of the collection matching `filter`, in natural (`_id` key) order. A filter that
/// pins `_id` reads one document instead of scanning.
pub fn matching(
    txn: &Txn<'_>,
    meta: &CollectionMeta,
    filter: &Filter,
) -> Result<Vec<Document>, StoreError> {
    let candidates = match filter.id_equality() {
        Some(id) => txn.document_by_id(meta, id)?.into_iter().collect(),
        None => txn.documents(meta)?,
    };
    Ok(candidates
        .into_iter()
        .filter(|doc| filter.matches(doc))
        .collect())
}

/// Apply `update` to `old` and store the result: `Some(new)` when the document changed.
pub fn update_document(
    txn: &mut Txn<'_>,
    meta: &CollectionMeta,
    old: &Document,
    update: &Update,
) -> Result<Result<Option<Document>, WriteError>, StoreError> {
    let mut new = old.clone();
    match update.apply(&mut new, false) {
        Ok(true) => {}
        Ok(false) => return Ok(Ok(None)),
        Err(e) => return Ok(Err(e.into())),
    }
    Ok(match txn.replace_document(meta, old, new.clone())? {
        Ok(()) => Ok(Some(new)),
        Err(conflict) => Err(WriteError::duplicate(&meta.namespace(), conflict)),
    })
}

/// Insert the document an upsert creates: the filter's equality fields, then the update
/// (with `$setOnInsert`), then a generated `_id` if none came from either.
pub fn upsert_document(
    txn: &mut Txn<'_>,
    db: &str,
    collection: &str,
    filter: &Filter,
    update: &Update,
) -> Result<Result<Document, WriteError>, StoreError> {
    let mut doc = match filter.upsert_seed() {
        Ok(seed) => seed,
        Err(e) => return Ok(Err(e.into())),
    };
    if let Err(e) = update.apply(&mut doc, true) {
        return Ok(Err(e.into()));
    }
    let doc = match prepare_document(doc) {
        Ok(doc) => doc,
        Err(e) => return Ok(Err(e)),
    };
    let (meta, _) = txn.ensure_collection(db, collection)?;
    Ok(match txn.insert_document(&meta, doc.clone())? {
        Ok(()) => Ok(doc),
        Err(conflict) => Err(WriteError::duplicate(&meta.namespace(), conflict)),
    })
}
