//! insert

use super::write_errors::{self, WriteError};
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use bson::{oid::ObjectId, Bson, Document};

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "insert", &inv.db)?;
    let documents = args::array(&inv.body, "documents")?
        .ok_or_else(|| CommandError::new(ErrorCode::FailedToParse, "insert needs 'documents'"))?
        .to_vec();
    let ordered = ordered(&inv.body)?;
    let db = inv.db.clone();
    inv.server
        .store
        .run(move |txn| {
            let mut inserted = 0;
            let mut errors = Vec::new();
            for (index, value) in documents.into_iter().enumerate() {
                let outcome = match value {
                    Bson::Document(doc) => match prepare_document(doc) {
                        Ok(doc) => {
                            let (meta, _) = txn.ensure_collection(&db, &collection)?;
                            txn.insert_document(&meta, doc)?
                                .map_err(|c| WriteError::duplicate(&meta.namespace(), c))
                        }
                        Err(e) => Err(e),
                    },
                    other => Err(CommandError::type_mismatch(format!(
                        "documents to insert must be objects, not {}",
                        args::type_name(&other)
                    ))
                    .into()),
                };
                match outcome {
                    Ok(()) => inserted += 1,
                    Err(e) => {
                        errors.push(e.entry(index));
                        if ordered {
                            break;
                        }
                    }
                }
            }
            Ok(write_errors::reply(inserted, errors))
        })
        .await
        .map_err(CommandError::from)
}

/// `ordered` defaults to true for every write command.
pub fn ordered(body: &Document) -> Result<bool, CommandError> {
    if body.contains_key("ordered") {
        args::flag(body, "ordered")
    } else {
        Ok(true)
    }
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
