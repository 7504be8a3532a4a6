//! The local control socket, `<data-dir>/run/control.sock` (owner only): how `redhive`
//! subcommands act through a running server, which holds the store. Without a running server
//! the same requests are executed on the store directly (see `app::control`).
//!
//! Protocol: one JSON request line, one JSON response line.

use crate::store::Store;
use crate::tenants;
use crate::tenants::editor::{self, EditorUser, Permissions};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// Longest request line accepted; requests are a few hundred bytes.
const MAX_REQUEST: u64 = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    TenantAdd {
        name: String,
        editor: Option<EditorSpec>,
    },
    TenantEnv {
        name: String,
    },
}

/// The first editor user of a new tenant (permission `*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EditorSpec {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    /// Lines for the command to print, or the error to report.
    result: Result<Vec<String>, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the running server at {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("the running server answered badly: {0}")]
    Protocol(String),
    #[error("{0}")]
    Failed(String),
}

/// Carry out `request` on `store`, with the shim at `shim`; the lines to print.
pub async fn execute(
    store: &Store,
    shim: SocketAddr,
    request: Request,
) -> Result<Vec<String>, tenants::TenantError> {
    match request {
        Request::TenantAdd { name, editor } => {
            let editor = editor.map(|e| EditorUser {
                username: e.username,
                password: e.password,
                permissions: Permissions::All,
            });
            // The name as stored; add() below refuses the tenant if it is not valid.
            let with_editor = editor
                .as_ref()
                .and_then(|e| editor::normalize_username(&e.username).ok());
            let tenant = tenants::add(store, &name, editor).await?;
            let mut summary = format!(
                "created tenant {name}: database {name}, user {name} (readWrite on {name} only)"
            );
            if let Some(user) = with_editor {
                summary.push_str(&format!("; editor user {user} (permission *)"));
            }
            Ok(vec![summary, tenant.connection_string(shim)])
        }
        Request::TenantEnv { name } => Ok(tenants::runtime_env(store, &name, shim)
            .await?
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect()),
    }
}

/// Answer requests on `listener` until `shutdown`.
pub async fn serve(
    listener: UnixListener,
    store: Store,
    shim: SocketAddr,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &store, shim).await {
                        tracing::warn!(%error, "control request failed");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(stream: UnixStream, store: &Store, shim: SocketAddr) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let result = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            tracing::info!(op = op_name(&request), "control request");
            execute(store, shim, request)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("malformed control request: {e}")),
    };
    let mut reply = serde_json::to_vec(&Response { result }).map_err(std::io::Error::other)?;
    reply.push(b'\n');
    write.write_all(&reply).await
}

fn op_name(request: &Request) -> &'static str {
    match request {
        Request::TenantAdd { .. } => "tenant_add",
        Request::TenantEnv { .. } => "tenant_env",
    }
}

/// Send `request` to the server listening on `socket`; the lines it wants printed.
pub async fn call(socket: &Path, request: &Request) -> Result<Vec<String>, ControlError> {
    let connect_error = |source| ControlError::Connect {
        path: socket.display().to_string(),
        source,
    };
    let stream = UnixStream::connect(socket).await.map_err(connect_error)?;
    let (read, mut write) = stream.into_split();
    let mut body =
        serde_json::to_vec(request).map_err(|e| ControlError::Protocol(e.to_string()))?;
    body.push(b'\n');
    write.write_all(&body).await.map_err(connect_error)?;
    let mut line = String::new();
    BufReader::new(read)
        .read_line(&mut line)
        .await
        .map_err(connect_error)?;
    let response: Response =
        serde_json::from_str(&line).map_err(|e| ControlError::Protocol(e.to_string()))?;
    response.result.map_err(ControlError::Failed)
}
