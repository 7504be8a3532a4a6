//! insert

use super::write_errors::{self, Statements, WriteError};
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::store::{StoreError, Txn};
use bson::{oid::ObjectId, Bson, Document};

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "insert", &inv.db)?;
    let documents = Statements::from_command(&inv.body, "documents")?;
    let db = inv.db.clone();
    Ok(inv
        .server
        .store
        .run(move |txn| {
            let mut inserted = 0;
            let errors = documents.run(
                |value| insert(txn, &db, &collection, value),
                |_, ()| inserted += 1,
            )?;
            Ok(write_errors::reply(inserted, errors))
        })
        .await?)
}

fn insert(
    txn: &mut Txn<'_>,
    db: &str,
    collection: &str,
    value: &Bson,
) -> Result<Result<(), WriteError>, StoreError> {
    let Bson::Document(doc) = value else {
        return Ok(Err(CommandError::type_mismatch(format!(
            "documents to insert must be objects, not {}",
            args::type_name(value)
        ))
        .into()));
    };
    let doc = match prepare_document(doc.clone()) {
        Ok(doc) => doc,
        Err(e) => return Ok(Err(e)),
    };
    let (meta, _) = txn.ensure_collection(db, collection)?;
    Ok(txn
        .insert_document(&meta, doc)?
        .map_err(|c| WriteError::duplicate(&meta.namespace(), c)))
}

/// Check a document about to be stored and give it an `_id` (first, as MongoDB does) if it
/// has none.
pub fn prepare_document(doc: Document) -> Result<Document, WriteError> {
    if let Some(key) = doc.keys().find(|k| k.starts_with('$')) {
        return Err(CommandError::new(
            ErrorCode::Other(52, "DollarPrefixedFieldName"),
            format!("Document can't have $ prefixed field names: {key}"),
        )
        .into());
    }
    match doc.get("_id") {
        Some(Bson::Array(_) | Bson::RegularExpression(_) | Bson::Undefined) => {
            Err(CommandError::new(
                ErrorCode::Other(53, "InvalidIdField"),
                "The '_id' value cannot be of type array, regex or undefined",
            )
            .into())
        }
        Some(_) => Ok(doc),
        None => {
            let mut with_id = Document::new();
            with_id.insert("_id", ObjectId::new());
            with_id.extend(doc);
            Ok(with_id)
        }
    }
}
