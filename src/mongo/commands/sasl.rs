//! SCRAM authentication over saslStart / saslContinue (and hello's speculativeAuthenticate).

use super::{Invocation, Reply, Session};
use crate::mongo::auth::scram::{ClientFirst, Mechanism, ServerConversation, StoredCredential};
use crate::mongo::error::{CommandError, ErrorCode};
use crate::mongo::principal::Principal;
use crate::mongo::Server;
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};

/// MongoDB numbers conversations; one at a time per connection is all drivers use.
const CONVERSATION_ID: i32 = 1;

/// A SCRAM exchange waiting for the client's final message.
pub struct Conversation {
    scram: ServerConversation,
    db: String,
    claimed_user: String,
    roles: Vec<Document>,
}

pub async fn start(inv: Invocation<'_>) -> Reply {
    let mut reply = begin(inv.server, inv.session, &inv.body, &inv.db).await?;
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// Run the first SCRAM step from a saslStart-shaped document; the reply lacks `ok`.
pub async fn begin(
    server: &Server,
    session: &mut Session,
    start: &Document,
    db: &str,
) -> Result<Document, CommandError> {
    let mechanism_name = start.get_str("mechanism").unwrap_or_default();
    let Some(mechanism) = Mechanism::from_name(mechanism_name) else {
        return Err(CommandError::new(
            ErrorCode::Other(334, "MechanismUnavailable"),
            format!("Received authentication for mechanism {mechanism_name} which is not enabled"),
        ));
    };
    let first = ClientFirst::parse(&payload(start)?).map_err(|e| {
        tracing::warn!(peer = %session.peer, error = %e, "malformed SCRAM client-first message");
        failed()
    })?;
    let claimed_user = first.username().to_string();
    let (lookup_db, lookup_user) = (db.to_string(), claimed_user.clone());
    let record = server
        .store
        .run(move |txn| txn.user(&lookup_db, &lookup_user))
        .await?;
    let credential = record.as_ref().and_then(|r| {
        r.credentials
            .get_document(mechanism.name())
            .ok()
            .and_then(|d| StoredCredential::from_document(d).ok())
    });
    let (scram, server_first) =
        ServerConversation::start(mechanism, first, credential, &server.fake_salt_secret);
    session.sasl = Some(Conversation {
        scram,
        db: db.to_string(),
        claimed_user,
        roles: record.map(|r| r.roles).unwrap_or_default(),
    });
    Ok(doc! {
        "conversationId": CONVERSATION_ID,
        "done": false,
        "payload": binary(server_first),
    })
}

pub async fn continue_(inv: Invocation<'_>) -> Reply {
    let Some(conversation) = inv.session.sasl.take() else {
        return Err(CommandError::new(
            ErrorCode::Other(17, "ProtocolError"),
            "No SASL session state found",
        ));
    };
    let client_final = payload(&inv.body)?;
    match conversation.scram.finish(&client_final) {
        Ok((user, server_final)) => {
            tracing::info!(peer = %inv.session.peer, user, db = conversation.db, "mongo client authenticated");
            inv.session.principal = Some(Principal::from_roles(
                &user,
                &conversation.db,
                &conversation.roles,
            ));
            Ok(doc! {
                "conversationId": CONVERSATION_ID,
                "done": true,
                "payload": binary(server_final),
                "ok": 1.0,
            })
        }
        Err(error) => {
            tracing::warn!(
                peer = %inv.session.peer,
                user = conversation.claimed_user,
                db = conversation.db,
                %error,
                "mongo authentication failed"
            );
            Err(failed())
        }
    }
}

pub async fn logout(inv: Invocation<'_>) -> Reply {
    inv.session.principal = None;
    inv.session.sasl = None;
    Ok(doc! {"ok": 1.0})
}

fn payload(body: &Document) -> Result<Vec<u8>, CommandError> {
    match body.get("payload") {
        Some(Bson::Binary(b)) => Ok(b.bytes.clone()),
        Some(Bson::String(s)) => Ok(s.as_bytes().to_vec()),
        _ => Err(CommandError::bad_value(
            "SASL payload missing or not binary",
        )),
    }
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

fn failed() -> CommandError {
    CommandError::new(ErrorCode::AuthenticationFailed, "Authentication failed.")
}
