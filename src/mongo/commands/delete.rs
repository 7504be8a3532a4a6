//! delete

use super::modify;
use super::write_errors::{self, Statements, WriteError};
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::query::Filter;
use crate::store::{StoreError, Txn};
use bson::Bson;

pub async fn run(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "delete", &inv.db)?;
    let statements = Statements::from_command(&inv.body, "deletes")?;
    let db = inv.db.clone();
    Ok(inv
        .server
        .store
        .run(move |txn| {
            let mut deleted = 0;
            let errors = statements.run(
                |statement| apply(txn, &db, &collection, statement),
                |_, n| deleted += n,
            )?;
            Ok(write_errors::reply(deleted, errors))
        })
        .await?)
}

fn apply(
    txn: &mut Txn<'_>,
    db: &str,
    collection: &str,
    statement: &Bson,
) -> Result<Result<usize, WriteError>, StoreError> {
    let (filter, just_one) = match parse(statement) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(e)),
    };
    let Some(meta) = txn.collection_meta(db, collection)? else {
        return Ok(Ok(0));
    };
    let mut matches = modify::matching(txn, &meta, &filter)?;
    if just_one {
        matches.truncate(1);
    }
    for doc in &matches {
        txn.remove_document(&meta, doc);
    }
    Ok(Ok(matches.len()))
}

fn parse(statement: &Bson) -> Result<(Filter, bool), WriteError> {
    let Bson::Document(statement) = statement else {
        return Err(CommandError::type_mismatch("each delete statement must be an object").into());
    };
    args::refuse_unsupported(statement, &["collation"])?;
    let filter = Filter::parse(&args::document(statement, "q")?.unwrap_or_default())?;
    match args::integer(statement, "limit")? {
        Some(0) => Ok((filter, false)),
        Some(1) => Ok((filter, true)),
        _ => Err(CommandError::new(
            ErrorCode::FailedToParse,
            "the limit field in delete objects must be 0 or 1",
        )
        .into()),
    }
}
