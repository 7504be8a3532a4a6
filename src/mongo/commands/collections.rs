//! create, drop, listCollections.

use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::query::Filter;
use bson::{doc, Bson, Document};

pub async fn create(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "create", &inv.db)?;
    // Options that change what a collection is; silently ignoring them would be a wrong answer.
    args::refuse_unsupported(
        &inv.body,
        &[
            "capped",
            "viewOn",
            "pipeline",
            "timeseries",
            "validator",
            "clusteredIndex",
            "changeStreamPreAndPostImages",
            "collation",
        ],
    )?;
    let db = inv.db.clone();
    let created = inv
        .server
        .store
        .run(move |txn| Ok(txn.ensure_collection(&db, &collection)?.1))
        .await?;
    if created {
        Ok(doc! {"ok": 1.0})
    } else {
        let collection = inv.body.get_str("create").unwrap_or_default();
        Err(CommandError::new(
            ErrorCode::NamespaceExists,
            format!("Collection {}.{collection} already exists.", inv.db),
        ))
    }
}

pub async fn drop(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "drop", &inv.db)?;
    let db = inv.db.clone();
    let dropped = inv
        .server
        .store
        .run(move |txn| {
            let Some(meta) = txn.collection_meta(&db, &collection)? else {
                return Ok(None);
            };
            txn.drop_collection(&meta);
            Ok(Some(meta))
        })
        .await?;
    // MongoDB 7 answers ok for a collection that does not exist.
    Ok(match dropped {
        Some(meta) => doc! {
            "nIndexesWas": index_count(meta.indexes.len()),
            "ns": meta.namespace(),
            "ok": 1.0,
        },
        None => doc! {"ok": 1.0},
    })
}

pub async fn list(inv: Invocation<'_>) -> Reply {
    let filter = Filter::parse(&args::document(&inv.body, "filter")?.unwrap_or_default())?;
    let name_only = args::flag(&inv.body, "nameOnly")?;
    let batch_size = match inv.body.get_document("cursor") {
        Ok(cursor) => args::count(cursor, "batchSize")?,
        Err(_) => None,
    };
    let db = inv.db.clone();
    let metas = inv
        .server
        .store
        .run(move |txn| txn.collection_metas(Some(&db)))
        .await?;
    let entries: Vec<Document> = metas
        .iter()
        .map(|meta| describe(&meta.name))
        .filter(|entry| filter.matches(entry))
        .map(|entry| {
            if name_only {
                doc! {"name": entry.get("name").cloned().unwrap_or(Bson::Null), "type": "collection"}
            } else {
                entry
            }
        })
        .collect();
    let namespace = format!("{}.$cmd.listCollections", inv.db);
    Ok(inv
        .server
        .cursors
        .first_batch(&namespace, &inv.session.owner(), entries, batch_size, false))
}

fn describe(name: &str) -> Document {
    doc! {
        "name": name,
        "type": "collection",
        "options": {},
        "info": {"readOnly": false},
        "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    }
}

/// Index count including the implicit `_id_` index.
pub fn index_count(secondary: usize) -> i32 {
    i32::try_from(secondary + 1).unwrap_or(i32::MAX)
}
