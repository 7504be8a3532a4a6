//! count (what estimatedDocumentCount and legacy count() send).

use super::modify;
use super::{args, Invocation, Reply};
use crate::query::Filter;
use bson::doc;

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "count", &inv.db)?;
    args::refuse_unsupported(&inv.body, &["collation"])?;
    let filter = Filter::parse(&args::document(&inv.body, "query")?.unwrap_or_default())?;
    let skip = args::count(&inv.body, "skip")?.unwrap_or(0);
    let limit = args::integer(&inv.body, "limit")?
        .map(|n| usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX))
        .filter(|n| *n > 0)
        .unwrap_or(usize::MAX);
    let db = inv.db.clone();
    let n = inv
        .server
        .store
        .run(move |txn| {
            let Some(meta) = txn.collection_meta(&db, &collection)? else {
                return Ok(0);
            };
            let matching = modify::matching(txn, &meta, &filter)?.len();
            Ok(matching.saturating_sub(skip).min(limit))
        })
        .await?;
    Ok(doc! {"n": i32::try_from(n).unwrap_or(i32::MAX), "ok": 1.0})
}
