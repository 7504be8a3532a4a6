//! findAndModify: change or remove one document and return it (before or after).

use super::modify;
use super::write_errors::WriteError;
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::query::{Filter, Projection, SortSpec, Update};
use bson::{doc, Bson, Document};

enum Action {
    Remove,
    Update {
        update: Update,
        upsert: bool,
        new: bool,
    },
}

pub async fn run(inv: Invocation<'_>) -> Reply {
    let body = &inv.body;
    let name = body.keys().next().cloned().unwrap_or_default();
    let collection = args::collection(body, &name, &inv.db)?;
    args::refuse_unsupported(body, &["arrayFilters", "collation"])?;
    let filter = Filter::parse(&args::document(body, "query")?.unwrap_or_default())?;
    let sort = args::document(body, "sort")?
        .map(|s| SortSpec::parse(&s))
        .transpose()?;
    let projection = Projection::parse(&args::document(body, "fields")?.unwrap_or_default())?;
    let action = parse_action(body)?;
    let db = inv.db.clone();
    let namespace = format!("{}.{collection}", inv.db);
    let outcome = inv
        .server
        .store
        .run(move |txn| {
            let meta = txn.collection_meta(&db, &collection)?;
            let mut matches = match &meta {
                Some(meta) => modify::matching(txn, meta, &filter)?,
                None => Vec::new(),
            };
            if let Some(sort) = &sort {
                sort.sort(&mut matches);
            }
            let target = matches.into_iter().next();
            Ok(match (action, target, meta) {
                (Action::Remove, Some(old), Some(meta)) => {
                    txn.remove_document(&meta, &old);
                    Ok((doc! {"n": 1}, Some(old)))
                }
                (Action::Remove, _, _) => Ok((doc! {"n": 0}, None)),
                (Action::Update { update, new, .. }, Some(old), Some(meta)) => {
                    match modify::update_document(txn, &meta, &old, &update)? {
                        Ok(changed) => {
                            let shown = if new {
                                changed.or(Some(old))
                            } else {
                                Some(old)
                            };
                            Ok((doc! {"n": 1, "updatedExisting": true}, shown))
                        }
                        Err(e) => Err(e),
                    }
                }
                (
                    Action::Update {
                        update,
                        upsert: true,
                        new,
                    },
                    _,
                    _,
                ) => match modify::upsert_document(txn, &db, &collection, &filter, &update)? {
                    Ok(inserted) => {
                        let id = inserted.get("_id").cloned().unwrap_or(Bson::Null);
                        let last = doc! {"n": 1, "updatedExisting": false, "upserted": id};
                        Ok((last, new.then_some(inserted)))
                    }
                    Err(e) => Err(e),
                },
                (Action::Update { .. }, _, _) => {
                    Ok((doc! {"n": 0, "updatedExisting": false}, None))
                }
            })
        })
        .await?;
    match outcome {
        Ok((last_error, value)) => Ok(doc! {
            "lastErrorObject": last_error,
            "value": value.map(|d| Bson::Document(projection.apply(&d))).unwrap_or(Bson::Null),
            "ok": 1.0,
        }),
        Err(WriteError {
            duplicate: Some(conflict),
            ..
        }) => Ok(WriteError::duplicate(&namespace, *conflict).command_reply()),
        Err(WriteError { error, .. }) => Err(error),
    }
}

fn parse_action(body: &Document) -> Result<Action, CommandError> {
    let remove = args::flag(body, "remove")?;
    let upsert = args::flag(body, "upsert")?;
    let update = match body.get("update") {
        None | Some(Bson::Null) => None,
        Some(Bson::Document(u)) => Some(Update::parse(u)?),
        Some(Bson::Array(_)) => {
            return Err(CommandError::new(
                ErrorCode::CommandNotSupported,
                "pipeline-style updates are not supported by redhive",
            ))
        }
        Some(other) => {
            return Err(CommandError::type_mismatch(format!(
                "update must be an object, not {}",
                args::type_name(other)
            )))
        }
    };
    let parse_error = |msg: &str| Err(CommandError::new(ErrorCode::FailedToParse, msg));
    match (remove, update) {
        (true, Some(_)) => parse_error("Cannot specify both an update and remove=true"),
        (true, None) if upsert => parse_error("Cannot specify both upsert=true and remove=true"),
        (true, None) => Ok(Action::Remove),
        (false, Some(update)) => Ok(Action::Update {
            update,
            upsert,
            new: args::flag(body, "new")?,
        }),
        (false, None) => parse_error("Either an update or remove=true must be specified"),
    }
}
