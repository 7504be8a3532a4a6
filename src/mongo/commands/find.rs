//! find

use super::modify;
use super::{args, Invocation, Reply};
use crate::query::{Filter, Projection, SortSpec};

pub async fn run(inv: Invocation<'_>) -> Reply {
    let body = &inv.body;
    let collection = args::collection(body, "find", &inv.db)?;
    // Accepted when false (old drivers send returnKey:false, showRecordId:false).
    args::refuse_unsupported(
        body,
        &[
            "collation",
            "tailable",
            "awaitData",
            "min",
            "max",
            "returnKey",
            "showRecordId",
        ],
    )?;
    let filter = Filter::parse(&args::document(body, "filter")?.unwrap_or_default())?;
    let projection = Projection::parse(&args::document(body, "projection")?.unwrap_or_default())?;
    let sort = args::document(body, "sort")?
        .map(|s| SortSpec::parse(&s))
        .transpose()?;
    let skip = args::count(body, "skip")?.unwrap_or(0);
    // A negative limit means "this many, in one batch" (legacy drivers).
    let limit = args::integer(body, "limit")?.unwrap_or(0);
    let single_batch = args::flag(body, "singleBatch")? || limit < 0;
    let limit = match usize::try_from(limit.unsigned_abs()) {
        Ok(0) | Err(_) => usize::MAX,
        Ok(n) => n,
    };
    let batch_size = args::count(body, "batchSize")?;
    let db = inv.db.clone();
    let namespace = format!("{}.{collection}", inv.db);
    let results = inv
        .server
        .store
        .run(move |txn| {
            let Some(meta) = txn.collection_meta(&db, &collection)? else {
                return Ok(Vec::new());
            };
            let mut docs = modify::matching(txn, &meta, &filter)?;
            if let Some(sort) = &sort {
                sort.sort(&mut docs);
            }
            Ok(docs
                .into_iter()
                .skip(skip)
                .take(limit)
                .map(|d| projection.apply(&d))
                .collect())
        })
        .await?;
    Ok(inv.server.cursors.first_batch(
        &namespace,
        &inv.session.owner(),
        results,
        batch_size,
        single_batch,
    ))
}
