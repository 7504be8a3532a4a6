//! getMore and killCursors.

use super::{args, Invocation, Reply};
use crate::mongo::error::{CommandError, ErrorCode};
use bson::{doc, Bson};

pub async fn get_more(inv: Invocation<'_>) -> Reply {
    let id = match inv.body.get("getMore") {
        Some(Bson::Int64(id)) => *id,
        Some(Bson::Int32(id)) => i64::from(*id),
        _ => {
            return Err(CommandError::type_mismatch(
                "getMore needs a cursor id of type long",
            ))
        }
    };
    let collection = args::string(&inv.body, "collection")?
        .ok_or_else(|| CommandError::new(ErrorCode::FailedToParse, "getMore needs 'collection'"))?;
    let namespace = format!("{}.{collection}", inv.db);
    let batch_size = args::count(&inv.body, "batchSize")?.filter(|n| *n > 0);
    inv.server
        .cursors
        .next_batch(id, &namespace, &inv.session.owner(), batch_size)
}

pub async fn kill(inv: Invocation<'_>) -> Reply {
    let collection = args::collection(&inv.body, "killCursors", &inv.db)?;
    let namespace = format!("{}.{collection}", inv.db);
    let ids = args::array(&inv.body, "cursors")?.ok_or_else(|| {
        CommandError::new(ErrorCode::FailedToParse, "killCursors needs 'cursors'")
    })?;
    let owner = inv.session.owner();
    let (mut killed, mut not_found) = (Vec::new(), Vec::new());
    for id in ids {
        let id = args::as_integer(id)
            .ok_or_else(|| CommandError::type_mismatch("cursor ids must be numbers"))?;
        if inv.server.cursors.kill(id, &namespace, &owner) {
            killed.push(Bson::Int64(id));
        } else {
            not_found.push(Bson::Int64(id));
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
        "ok": 1.0,
    })
}
