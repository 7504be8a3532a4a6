//! One client connection: read a frame, run its command, write the reply, repeat.
//!
//! A frame that cannot be decoded closes this connection only, with a logged warning; other
//! clients are unaffected. Handlers never panic on input, and a panic anyway would only end
//! this task.

use super::commands::{self, Session};
use super::wire::{self, Request};
use super::Server;
use bson::doc;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Request ids of our replies; clients only check `responseTo`, but ids should still differ.
static NEXT_REPLY_ID: AtomicI32 = AtomicI32::new(1);

pub async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    server: Arc<Server>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let mut session = Session::new(peer, server.connection_id(), server.auth_required);
    tracing::debug!(%peer, connection = session.connection_id, "mongo client connected");
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let request = match wire::parse(&buf) {
            Ok(Some((request, consumed))) => {
                buf.drain(..consumed);
                request
            }
            Ok(None) => {
                let read = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    read = stream.read_buf(&mut buf) => read,
                };
                match read {
                    Ok(0) => {
                        if !buf.is_empty() {
                            tracing::warn!(%peer, pending = buf.len(), "mongo client closed the connection in the middle of a message");
                        }
                        break;
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        tracing::debug!(%peer, %error, "mongo read failed");
                        break;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "closing mongo connection after a malformed message");
                break;
            }
        };
        let Some(reply) = respond(&server, &mut session, request).await else {
            continue;
        };
        if let Err(error) = stream.write_all(&reply).await {
            tracing::debug!(%peer, %error, "mongo write failed");
            break;
        }
    }
    tracing::debug!(%peer, connection = session.connection_id, "mongo client disconnected");
}

/// The encoded reply to `request`, or `None` when the client asked for none (moreToCome).
async fn respond(server: &Server, session: &mut Session, request: Request) -> Option<Vec<u8>> {
    let reply_id = NEXT_REPLY_ID.fetch_add(1, Ordering::Relaxed);
    match request {
        Request::Msg {
            header,
            more_to_come,
            body,
        } => {
            let reply = commands::run(server, session, body).await;
            (!more_to_come).then(|| wire::encode_msg(reply_id, header.request_id, &reply))
        }
        Request::Query {
            header,
            collection,
            query,
            ..
        } => {
            // Legacy OP_QUERY is only used for commands (the first hello of every driver).
            let reply = match collection.strip_suffix(".$cmd") {
                Some(db) => {
                    let mut body = unwrap_query(query);
                    body.insert("$db", db);
                    commands::run(server, session, body).await
                }
                None => doc! {
                    "$err": "OP_QUERY is only supported for commands",
                    "code": 5739101,
                    "ok": 0.0,
                },
            };
            Some(wire::encode_reply(reply_id, header.request_id, &reply))
        }
    }
}

/// Old drivers wrap an OP_QUERY command as `{$query: {...}, $readPreference: ...}`.
fn unwrap_query(query: bson::Document) -> bson::Document {
    match query.get_document("$query") {
        Ok(inner) => inner.clone(),
        Err(_) => query,
    }
}
