//! The local control socket, `<data-dir>/run/control.sock` (owner only): how `redhive`
//! subcommands act through a running server, which holds the store. Without a running server
//! the same requests are executed on the store directly (see `app::control`).
//!
//! Protocol: one JSON request line; the answer is any number of `{"line": ...}` lines to print
//! as they come (followed logs), then one `{"result": ...}` line.

use crate::appliance;
use crate::runtime::logs::LogStream;
use crate::store::Store;
use crate::supervisor::{Supervisor, SupervisorError};
use crate::tenants;
use crate::tenants::editor::{self, EditorUser, Permissions};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
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
    TenantStart {
        name: String,
    },
    TenantStop {
        name: String,
    },
    TenantRestart {
        name: String,
    },
    TenantRemove {
        name: String,
    },
    /// One tenant, or all of them.
    TenantStatus {
        name: Option<String>,
        json: bool,
    },
    TenantLogs {
        name: String,
        tail: usize,
        follow: bool,
    },
    TenantLimits {
        name: String,
        memory_bytes: Option<u64>,
        cpus: Option<f64>,
        pids: Option<u32>,
    },
    FactoryReset,
}

impl Request {
    /// Needs the running server's supervisor (runtimes live there).
    pub fn needs_server(&self) -> bool {
        !matches!(
            self,
            Request::TenantAdd { .. } | Request::TenantEnv { .. } | Request::FactoryReset
        )
    }

    fn op(&self) -> &'static str {
        match self {
            Request::TenantAdd { .. } => "tenant_add",
            Request::TenantEnv { .. } => "tenant_env",
            Request::TenantStart { .. } => "tenant_start",
            Request::TenantStop { .. } => "tenant_stop",
            Request::TenantRestart { .. } => "tenant_restart",
            Request::TenantRemove { .. } => "tenant_remove",
            Request::TenantStatus { .. } => "tenant_status",
            Request::TenantLogs { .. } => "tenant_logs",
            Request::TenantLimits { .. } => "tenant_limits",
            Request::FactoryReset => "factory_reset",
        }
    }

    /// The tenant named, for the log (a journal field: `journalctl -u redhive TENANT=r1`).
    fn tenant(&self) -> Option<&str> {
        match self {
            Request::TenantAdd { name, .. }
            | Request::TenantEnv { name }
            | Request::TenantStart { name }
            | Request::TenantStop { name }
            | Request::TenantRestart { name }
            | Request::TenantRemove { name }
            | Request::TenantLogs { name, .. }
            | Request::TenantLimits { name, .. } => Some(name),
            Request::TenantStatus { name, .. } => name.as_deref(),
            Request::FactoryReset => None,
        }
    }
}

/// The first editor user of a new tenant (permission `*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EditorSpec {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Message {
    /// A line to print now.
    Line { line: String },
    /// The end: lines to print, or the error to report.
    Result { result: Result<Vec<String>, String> },
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
    #[error(transparent)]
    Tenant(#[from] tenants::TenantError),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What a request is carried out against.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    /// The shim's address as this host sees it.
    pub shim: SocketAddr,
    /// Present in a running server.
    pub supervisor: Option<Arc<Supervisor>>,
}

/// What a request produces: lines, or lines that keep coming.
pub enum Output {
    Lines(Vec<String>),
    Stream(LogStream),
}

/// Carry out `request`.
pub async fn execute(context: &Context, request: Request) -> Result<Output, ControlError> {
    if let Some(supervisor) = &context.supervisor {
        if request.needs_server() {
            return supervise(supervisor, request).await;
        }
    } else if request.needs_server() {
        return Err(ControlError::Failed(
            "redhive is not running here: start it with `redhive serve` (same --data-dir)".into(),
        ));
    }
    let store = &context.store;
    let lines = match request {
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
            if let Some(supervisor) = &context.supervisor {
                // Supervised (and so routed and advertised) from now on, not at its first start.
                supervisor.status(&name).await?;
            }
            let mut summary = format!(
                "created tenant {name}: database {name}, user {name} (readWrite on {name} only)"
            );
            if let Some(user) = with_editor {
                summary.push_str(&format!("; editor user {user} (permission *)"));
            }
            vec![summary, tenant.connection_string(context.shim)]
        }
        Request::TenantEnv { name } => tenants::runtime_env(store, &name, context.shim)
            .await?
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect(),
        Request::FactoryReset => {
            let admins = appliance::factory_reset(store).await?;
            vec![format!(
                "removed {admins} admin account(s) and every session: the setup wizard runs at the next visit"
            )]
        }
        _ => unreachable!("runtime requests are supervised"),
    };
    Ok(Output::Lines(lines))
}

async fn supervise(supervisor: &Arc<Supervisor>, request: Request) -> Result<Output, ControlError> {
    let one = |line: String| Ok(Output::Lines(vec![line]));
    match request {
        Request::TenantStart { name } => one(supervisor.start_tenant(&name).await?),
        Request::TenantStop { name } => one(supervisor.stop_tenant(&name).await?),
        Request::TenantRestart { name } => one(supervisor.restart_tenant(&name).await?),
        Request::TenantRemove { name } => {
            supervisor.remove_tenant(&name).await?;
            one(format!(
                "removed tenant {name}: its runtime, files, database and users"
            ))
        }
        Request::TenantStatus { name, json } => {
            let statuses = match &name {
                Some(name) => vec![supervisor.status(name).await?],
                None => supervisor.statuses().await?,
            };
            let lines = if json {
                let value = match name {
                    Some(_) => serde_json::to_string(&statuses[0]),
                    None => serde_json::to_string(&statuses),
                };
                vec![value.map_err(|e| ControlError::Failed(e.to_string()))?]
            } else {
                statuses.iter().flat_map(|s| s.lines()).collect()
            };
            Ok(Output::Lines(lines))
        }
        Request::TenantLogs { name, tail, follow } => {
            Ok(Output::Stream(supervisor.logs(&name, tail, follow).await?))
        }
        Request::TenantLimits {
            name,
            memory_bytes,
            cpus,
            pids,
        } => {
            let limits = supervisor
                .set_limits(&name, |limits| {
                    if let Some(memory) = memory_bytes {
                        limits.memory_bytes = memory;
                    }
                    if let Some(cpus) = cpus {
                        limits.cpus = cpus;
                    }
                    if let Some(pids) = pids {
                        limits.pids = pids;
                    }
                })
                .await?;
            one(format!("{name}: {limits}"))
        }
        Request::TenantAdd { .. } | Request::TenantEnv { .. } | Request::FactoryReset => {
            unreachable!("store requests are not supervised")
        }
    }
}

/// Answer requests on `listener` until `shutdown`.
pub async fn serve(listener: UnixListener, context: Context, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let context = context.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &context, shutdown).await {
                        tracing::debug!(%error, "control connection ended");
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

async fn answer(
    stream: UnixStream,
    context: &Context,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let result = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            tracing::info!(
                op = request.op(),
                tenant = request.tenant(),
                "control request"
            );
            execute(context, request).await.map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("malformed control request: {e}")),
    };
    let result = match result {
        Ok(Output::Lines(lines)) => Ok(lines),
        Ok(Output::Stream(mut lines)) => {
            loop {
                let line = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    line = lines.next() => line,
                };
                let Some(line) = line else { break };
                send(&mut write, &Message::Line { line }).await?;
            }
            Ok(Vec::new())
        }
        Err(error) => Err(error),
    };
    send(&mut write, &Message::Result { result }).await
}

async fn send(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    message: &Message,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// Send `request` to the server listening on `socket`; `print` gets each line to show.
pub async fn call(
    socket: &Path,
    request: &Request,
    mut print: impl FnMut(&str),
) -> Result<(), ControlError> {
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
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await.map_err(connect_error)? {
        match serde_json::from_str(&line).map_err(|e| ControlError::Protocol(e.to_string()))? {
            Message::Line { line } => print(&line),
            Message::Result { result } => {
                for line in result.map_err(ControlError::Failed)? {
                    print(&line);
                }
                return Ok(());
            }
        }
    }
    Err(ControlError::Protocol(
        "the server closed the connection".into(),
    ))
}
