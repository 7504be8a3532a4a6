//! A tenant's log over a websocket: the last lines, then new ones as they come. The session
//! and same-origin checks ran before the upgrade (see `auth`).

use super::{ApiError, ApiState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Deserialize;

const MAX_TAIL: usize = 5000;

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default = "default_tail")]
    tail: usize,
}

fn default_tail() -> usize {
    200
}

/// `GET /api/tenants/{name}/logs` (websocket)
pub async fn follow(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<LogQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let lines = state
        .supervisor
        .logs(&name, query.tail.min(MAX_TAIL), true)
        .await?;
    Ok(upgrade.on_upgrade(move |socket| send_lines(socket, lines)))
}

async fn send_lines(mut socket: WebSocket, mut lines: crate::runtime::logs::LogStream) {
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Some(line) => {
                    if socket.send(Message::Text(line.into())).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            // The browser went away (or sent close): stop following.
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
