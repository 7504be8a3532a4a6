//! update

use super::modify;
use super::write_errors::{self, Statements, WriteError};
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::query::{Filter, Update};
use crate::store::{StoreError, Txn};
use bson::{doc, Bson};

/// What one update statement did.
struct Outcome {
    matched: usize,
    modified: usize,
    upserted: Option<Bson>,
}

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "update", &inv.db)?;
    let statements = Statements::from_command(&inv.body, "updates")?;
    let db = inv.db.clone();
    Ok(inv
        .server
        .store
        .run(move |txn| {
            let (mut matched, mut modified) = (0, 0);
            let mut upserted = Vec::new();
            let errors = statements.run(
                |statement| apply(txn, &db, &collection, statement),
                |index, outcome: Outcome| {
                    matched += outcome.matched;
                    modified += outcome.modified;
                    if let Some(id) = outcome.upserted {
                        upserted.push(
                            doc! {"index": i32::try_from(index).unwrap_or(i32::MAX), "_id": id},
                        );
                    }
                },
            )?;
            let mut reply = write_errors::reply(matched + upserted.len(), errors);
            reply.insert("nModified", i32::try_from(modified).unwrap_or(i32::MAX));
            if !upserted.is_empty() {
                reply.insert("upserted", upserted);
            }
            Ok(reply)
        })
        .await?)
}

fn apply(
    txn: &mut Txn<'_>,
    db: &str,
    collection: &str,
    statement: &Bson,
) -> Result<Result<Outcome, WriteError>, StoreError> {
    let parsed = match parse(statement) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(e)),
    };
    let (filter, update, upsert, multi) = parsed;
    let mut outcome = Outcome {
        matched: 0,
        modified: 0,
        upserted: None,
    };
    if let Some(meta) = txn.collection_meta(db, collection)? {
        let mut matches = modify::matching(txn, &meta, &filter)?;
        if !multi {
            matches.truncate(1);
        }
        for old in &matches {
            outcome.matched += 1;
            match modify::update_document(txn, &meta, old, &update)? {
                Ok(Some(_)) => outcome.modified += 1,
                Ok(None) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
    }
    if outcome.matched == 0 && upsert {
        match modify::upsert_document(txn, db, collection, &filter, &update)? {
            Ok(doc) => outcome.upserted = doc.get("_id").cloned(),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(outcome))
}

fn parse(statement: &Bson) -> Result<(Filter, Update, bool, bool), WriteError> {
    let Bson::Document(statement) = statement else {
        return Err(CommandError::type_mismatch("each update statement must be an object").into());
    };
    args::refuse_unsupported(statement, &["arrayFilters", "collation"])?;
    let filter = Filter::parse(&args::document(statement, "q")?.unwrap_or_default())?;
    let update = match statement.get("u") {
        Some(Bson::Document(u)) => Update::parse(u)?,
        Some(Bson::Array(_)) => {
            return Err(CommandError::new(
                ErrorCode::CommandNotSupported,
                "pipeline-style updates are not supported by redhive",
            )
            .into())
        }
        _ => {
            return Err(CommandError::new(
                ErrorCode::FailedToParse,
                "each update statement needs an update document 'u'",
            )
            .into())
        }
    };
    let upsert = args::flag(statement, "upsert")?;
    let multi = args::flag(statement, "multi")?;
    if multi && matches!(update, Update::Replacement(_)) {
        return Err(CommandError::new(
            ErrorCode::FailedToParse,
            "multi update is not supported for replacement-style update",
        )
        .into());
    }
    Ok((filter, update, upsert, multi))
}
