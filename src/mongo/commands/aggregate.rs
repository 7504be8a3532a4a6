//! aggregate: the pipeline subset of `crate::query::aggregate`, plus `$collStats` counts.

use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::query::aggregate::run_pipeline;
use bson::{doc, Bson, Document};

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = match inv.body.get("aggregate") {
        Some(Bson::String(_)) => args::collection(&inv.body, "aggregate", &inv.db)?,
        _ => {
            return Err(CommandError::new(
                ErrorCode::CommandNotSupported,
                "database-level aggregation ({aggregate: 1}) is not supported by redhive",
            ))
        }
    };
    args::refuse_unsupported(&inv.body, &["collation", "explain"])?;
    let mut pipeline = Vec::new();
    for stage in args::array(&inv.body, "pipeline")?
        .ok_or_else(|| CommandError::new(ErrorCode::FailedToParse, "aggregate needs 'pipeline'"))?
    {
        match stage {
            Bson::Document(stage) => pipeline.push(stage.clone()),
            _ => {
                return Err(CommandError::type_mismatch(
                    "each pipeline stage must be an object",
                ))
            }
        }
    }
    let batch_size = match inv.body.get_document("cursor") {
        Ok(cursor) => args::count(cursor, "batchSize")?,
        Err(_) => None,
    };
    let namespace = format!("{}.{collection}", inv.db);
    let stats = collection_stats(&mut pipeline)?;
    let db = inv.db.clone();
    let stats_namespace = namespace.clone();
    let results = inv
        .server
        .store
        .run(move |txn| {
            let docs = match txn.collection_meta(&db, &collection)? {
                Some(meta) => txn.documents(&meta)?,
                None => Vec::new(),
            };
            let input = if stats {
                let count = i64::try_from(docs.len()).unwrap_or(i64::MAX);
                vec![doc! {"ns": stats_namespace, "count": count}]
            } else {
                docs
            };
            Ok(run_pipeline(input, &pipeline))
        })
        .await??;
    Ok(inv
        .server
        .cursors
        .first_batch(&namespace, &inv.session.owner(), results, batch_size, false))
}

/// A leading `{$collStats: {count: {}}}` (Node 3.7's estimatedDocumentCount) is answered here:
/// it is removed from the pipeline and `true` is returned. Other `$collStats` forms are refused.
fn collection_stats(pipeline: &mut Vec<Document>) -> Result<bool, CommandError> {
    let Some(first) = pipeline.first() else {
        return Ok(false);
    };
    let Ok(options) = first.get_document("$collStats") else {
        return Ok(false);
    };
    if options.keys().any(|k| k != "count") {
        return Err(CommandError::new(
            ErrorCode::CommandNotSupported,
            "$collStats supports only {count: {}} in redhive",
        ));
    }
    pipeline.remove(0);
    Ok(true)
}
