//! listDatabases and dropDatabase (root only).

use super::{args, Invocation, Reply};
use crate::query::Filter;
use bson::{doc, Bson, Document};
use std::collections::BTreeSet;

pub async fn list(inv: Invocation<'_>) -> Reply {
    let filter = Filter::parse(&args::document(&inv.body, "filter")?.unwrap_or_default())?;
    let name_only = args::flag(&inv.body, "nameOnly")?;
    let metas = inv
        .server
        .store
        .run(|txn| txn.collection_metas(None))
        .await?;
    let names: BTreeSet<String> = metas.into_iter().map(|m| m.db).collect();
    let databases: Vec<Document> = names
        .into_iter()
        .map(|name| {
            if name_only {
                doc! {"name": name}
            } else {
                doc! {"name": name, "sizeOnDisk": Bson::Int64(0), "empty": false}
            }
        })
        .filter(|entry| filter.matches(entry))
        .collect();
    let mut reply = doc! {"databases": databases};
    if !name_only {
        reply.insert("totalSize", Bson::Int64(0));
        reply.insert("totalSizeMb", Bson::Int64(0));
    }
    Ok(reply)
}

pub async fn drop(inv: Invocation<'_>) -> Reply {
    let db = inv.db.clone();
    inv.server
        .store
        .run(move |txn| {
            for meta in txn.collection_metas(Some(&db))? {
                txn.drop_collection(&meta);
            }
            Ok(())
        })
        .await?;
    Ok(doc! {"dropped": inv.db.clone(), "ok": 1.0})
}
