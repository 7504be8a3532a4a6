//! createIndexes, listIndexes, dropIndexes.
//!
//! redhive answers queries by scanning (Node-RED's collections are small), so a secondary
//! index matters only when it is unique: then its entries are kept and enforced. Other
//! indexes are recorded so that clients see what they created.

use super::collections::index_count;
use super::write_errors::WriteError;
use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::store::{CollectionMeta, IndexMeta, StoreError, Txn};
use bson::{doc, Bson, Document};

const ID_INDEX: &str = "_id_";

pub async fn create(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "createIndexes", &inv.db)?;
    let specs = args::array(&inv.body, "indexes")?
        .ok_or_else(|| {
            CommandError::new(ErrorCode::FailedToParse, "createIndexes needs 'indexes'")
        })?
        .iter()
        .map(parse_spec)
        .collect::<Result<Vec<_>, _>>()?;
    if specs.is_empty() {
        return Err(CommandError::bad_value(
            "Must specify at least one index to create",
        ));
    }
    let db = inv.db.clone();
    inv.server
        .store
        .run(move |txn| {
            let result = create_all(txn, &db, &collection, specs)?;
            if result.is_err() {
                // Nothing of a failed createIndexes stays, as in MongoDB.
                txn.rollback();
            }
            Ok(result)
        })
        .await?
}

fn create_all(
    txn: &mut Txn<'_>,
    db: &str,
    collection: &str,
    specs: Vec<IndexMeta>,
) -> Result<Reply, StoreError> {
    let (mut meta, created) = txn.ensure_collection(db, collection)?;
    let before = index_count(meta.indexes.len());
    let mut added = false;
    for mut spec in specs {
        if is_id_index(&spec) {
            continue;
        }
        match existing(&meta, &spec) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => return Ok(Err(e)),
        }
        if spec.unique {
            spec.store = Some(txn.new_index_store()?);
            if let Err(conflict) = txn.build_index(&meta, &spec)? {
                return Ok(Err(WriteError::duplicate(&meta.namespace(), conflict).error));
            }
        }
        meta.indexes.push(spec);
        added = true;
    }
    if added {
        txn.save_collection_meta(&meta)?;
    }
    let mut reply = doc! {
        "numIndexesBefore": before,
        "numIndexesAfter": index_count(meta.indexes.len()),
        "createdCollectionAutomatically": created,
    };
    if !added {
        reply.insert("note", "all indexes already exist");
    }
    reply.insert("ok", 1.0);
    Ok(Ok(reply))
}

/// Whether an identical index exists; an error when one conflicts with it.
fn existing(meta: &CollectionMeta, spec: &IndexMeta) -> Result<bool, CommandError> {
    for index in &meta.indexes {
        let same_key = index.key == spec.key;
        let same_name = index.name == spec.name;
        let same_options = index.unique == spec.unique && index.sparse == spec.sparse;
        match (same_name, same_key, same_options) {
            (true, true, true) => return Ok(true),
            (true, _, _) => {
                return Err(CommandError::new(
                    ErrorCode::IndexKeySpecsConflict,
                    format!(
                        "An existing index has the same name ({}) as the requested index but a different key or options",
                        spec.name
                    ),
                ))
            }
            (false, true, _) => {
                return Err(CommandError::new(
                    ErrorCode::IndexOptionsConflict,
                    format!(
                        "Index already exists with a different name: {}",
                        index.name
                    ),
                ))
            }
            (false, false, _) => {}
        }
    }
    Ok(false)
}

fn is_id_index(spec: &IndexMeta) -> bool {
    spec.name == ID_INDEX || spec.key == doc! {"_id": 1}
}

fn parse_spec(value: &Bson) -> Result<IndexMeta, CommandError> {
    let Bson::Document(spec) = value else {
        return Err(CommandError::type_mismatch(
            "each index specification must be an object",
        ));
    };
    args::refuse_unsupported(
        spec,
        &[
            "partialFilterExpression",
            "expireAfterSeconds",
            "collation",
            "wildcardProjection",
            "hidden",
        ],
    )?;
    let key = args::document(spec, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| CommandError::bad_value("index specification needs a non-empty 'key'"))?;
    for (field, direction) in &key {
        let valid = matches!(args::as_integer(direction), Some(1 | -1));
        if !valid {
            return Err(CommandError::new(
                ErrorCode::CommandNotSupported,
                format!(
                    "index type {direction} on field '{field}' is not supported by redhive (only 1 and -1)"
                ),
            ));
        }
    }
    let name = match args::string(spec, "name")? {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => default_name(&key),
    };
    Ok(IndexMeta {
        name,
        key,
        unique: args::flag(spec, "unique")?,
        sparse: args::flag(spec, "sparse")?,
        store: None,
    })
}

/// MongoDB's generated name: `a_1_b_-1`.
fn default_name(key: &Document) -> String {
    key.iter()
        .map(|(field, direction)| format!("{field}_{}", args::as_integer(direction).unwrap_or(1)))
        .collect::<Vec<_>>()
        .join("_")
}

pub async fn list(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "listIndexes", &inv.db)?;
    let db = inv.db.clone();
    let lookup = collection.clone();
    let meta = inv
        .server
        .store
        .run(move |txn| txn.collection_meta(&db, &lookup))
        .await?
        .ok_or_else(|| not_found(&inv.db, &collection))?;
    let mut entries = vec![doc! {"v": 2, "key": {"_id": 1}, "name": ID_INDEX}];
    for index in &meta.indexes {
        let mut entry = doc! {"v": 2, "key": index.key.clone(), "name": index.name.clone()};
        if index.unique {
            entry.insert("unique", true);
        }
        if index.sparse {
            entry.insert("sparse", true);
        }
        entries.push(entry);
    }
    let batch_size = match inv.body.get_document("cursor") {
        Ok(cursor) => args::count(cursor, "batchSize")?,
        Err(_) => None,
    };
    Ok(inv.server.cursors.first_batch(
        &meta.namespace(),
        &inv.session.owner(),
        entries,
        batch_size,
        false,
    ))
}

pub async fn drop(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "dropIndexes", &inv.db)?;
    let target =
        inv.body.get("index").cloned().ok_or_else(|| {
            CommandError::new(ErrorCode::FailedToParse, "dropIndexes needs 'index'")
        })?;
    let db = inv.db.clone();
    let ns_db = inv.db.clone();
    inv.server
        .store
        .run(move |txn| {
            let Some(mut meta) = txn.collection_meta(&db, &collection)? else {
                return Ok(Err(not_found(&ns_db, &collection)));
            };
            let before = index_count(meta.indexes.len());
            let doomed = match select(&meta, &target) {
                Ok(doomed) => doomed,
                Err(e) => return Ok(Err(e)),
            };
            meta.indexes.retain(|index| {
                let drop = doomed.contains(&index.name);
                if drop {
                    if let Some(store) = &index.store {
                        txn.clear(store);
                    }
                }
                !drop
            });
            txn.save_collection_meta(&meta)?;
            Ok(Ok(doc! {"nIndexesWas": before, "ok": 1.0}))
        })
        .await?
}

/// Names of the indexes `target` designates: a name, `"*"`, a key pattern or a list of names.
fn select(meta: &CollectionMeta, target: &Bson) -> Result<Vec<String>, CommandError> {
    let by_name = |name: &str| -> Result<String, CommandError> {
        if name == ID_INDEX {
            return Err(CommandError::new(
                ErrorCode::Other(72, "InvalidOptions"),
                "cannot drop _id index",
            ));
        }
        meta.index(name)
            .map(|i| i.name.clone())
            .ok_or_else(|| index_not_found(name))
    };
    match target {
        Bson::String(s) if s == "*" => Ok(meta.indexes.iter().map(|i| i.name.clone()).collect()),
        Bson::String(name) => Ok(vec![by_name(name)?]),
        Bson::Array(names) => names
            .iter()
            .map(|n| match n {
                Bson::String(name) => by_name(name),
                _ => Err(CommandError::type_mismatch("index names must be strings")),
            })
            .collect(),
        Bson::Document(key) => meta
            .indexes
            .iter()
            .find(|i| &i.key == key)
            .map(|i| vec![i.name.clone()])
            .ok_or_else(|| index_not_found(&format!("{key}"))),
        other => Err(CommandError::type_mismatch(format!(
            "index must be a string, array or object, not {}",
            args::type_name(other)
        ))),
    }
}

fn index_not_found(name: &str) -> CommandError {
    CommandError::new(
        ErrorCode::IndexNotFound,
        format!("index not found with name [{name}]"),
    )
}

fn not_found(db: &str, collection: &str) -> CommandError {
    CommandError::new(
        ErrorCode::NamespaceNotFound,
        format!("ns does not exist: {db}.{collection}"),
    )
}
