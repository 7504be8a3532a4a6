//! distinct

use super::modify;
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::query::{self, Filter};
use bson::doc;

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "distinct", &inv.db)?;
    args::refuse_unsupported(&inv.body, &["collation"])?;
    let key = args::string(&inv.body, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| CommandError::new(ErrorCode::FailedToParse, "distinct needs a 'key'"))?
        .to_string();
    let filter = Filter::parse(&args::document(&inv.body, "query")?.unwrap_or_default())?;
    let db = inv.db.clone();
    let values = inv
        .server
        .store
        .run(move |txn| {
            let Some(meta) = txn.collection_meta(&db, &collection)? else {
                return Ok(Vec::new());
            };
            Ok(query::distinct(
                &modify::matching(txn, &meta, &filter)?,
                &key,
            ))
        })
        .await?;
    Ok(doc! {"values": values, "ok": 1.0})
}
