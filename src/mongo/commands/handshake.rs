//! hello / isMaster and the no-op session commands.

use super::{sasl, Invocation, Reply};
use crate::mongo::wire::MAX_MESSAGE_SIZE;
use bson::{doc, Bson, Document};

/// Wire versions: drivers from Node 3.7 (needs min ≤ 13) to Node 7 and pymongo 4.20 (need
/// max ≥ 9) all accept 0..=21, which is what MongoDB 7.0 reports. Features keyed on 25+
/// (client bulkWrite) stay off.
const MIN_WIRE_VERSION: i32 = 0;
const MAX_WIRE_VERSION: i32 = 21;
const MAX_BSON_OBJECT_SIZE: i32 = 16 * 1024 * 1024;
const MAX_WRITE_BATCH_SIZE: i32 = 100_000;

pub async fn hello(inv: Invocation<'_>) -> Reply {
    let mut reply = Document::new();
    // `hello` answers isWritablePrimary; the legacy names answer ismaster.
    if inv.body.contains_key("hello") {
        reply.insert("isWritablePrimary", true);
    } else {
        reply.insert("ismaster", true);
    }
    if inv.body.contains_key("helloOk") {
        reply.insert("helloOk", true);
    }
    // No topologyVersion, setName or hosts: those would switch drivers to streaming
    // monitoring or to replica-set discovery.
    reply.insert("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE);
    reply.insert("maxMessageSizeBytes", MAX_MESSAGE_SIZE as i32);
    reply.insert("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE);
    reply.insert("localTime", bson::DateTime::now());
    reply.insert("logicalSessionTimeoutMinutes", 30);
    reply.insert("connectionId", inv.session.connection_id);
    reply.insert("minWireVersion", MIN_WIRE_VERSION);
    reply.insert("maxWireVersion", MAX_WIRE_VERSION);
    reply.insert("readOnly", false);
    if inv.body.contains_key("saslSupportedMechs") {
        // Answered whether or not the user exists, so the handshake reveals no user names.
        reply.insert(
            "saslSupportedMechs",
            vec![Bson::from("SCRAM-SHA-1"), Bson::from("SCRAM-SHA-256")],
        );
    }
    if let Ok(start) = inv.body.get_document("speculativeAuthenticate") {
        let start = start.clone();
        // hello goes to admin; the authentication database travels inside the request.
        let auth_db = start.get_str("db").unwrap_or(&inv.db).to_string();
        // Speculation is optional: on any problem the client falls back to saslStart.
        if let Ok(first) = sasl::begin(inv.server, inv.session, &start, &auth_db).await {
            reply.insert("speculativeAuthenticate", first);
        }
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// ping, endSessions and killAllSessions: redhive keeps no server sessions.
pub async fn ping(_inv: Invocation<'_>) -> Reply {
    Ok(doc! {"ok": 1.0})
}
