//! The MongoDB wire-protocol server in front of the store.
//!
//! Layers, outermost first: `conn` reads frames (`wire`) from a socket and writes replies;
//! `commands` dispatches on the command name, checks access (`principal`) and runs a handler;
//! handlers evaluate MongoDB semantics with `crate::query` and read and write through
//! `crate::store` on its thread.

pub mod auth;
mod commands;
mod conn;
mod cursor;
pub mod error;
mod principal;
pub mod users;
pub mod wire;

pub use principal::Principal;

use crate::store::Store;
use cursor::Cursors;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Most client connections served at once; more wait in the accept queue. Each Node-RED
/// tenant opens 2–6, so this leaves room for a hundred tenants and their tools.
const MAX_CONNECTIONS: usize = 1024;
/// MongoDB times idle cursors out after 10 minutes; so do we.
const CURSOR_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything connections share.
pub struct Server {
    pub store: Store,
    cursors: Cursors,
    /// Whether clients must authenticate (SCRAM) before using any database.
    auth_required: bool,
    /// Keys the fake salts answered for unknown users, so probing cannot tell them apart.
    fake_salt_secret: [u8; 32],
    started: Instant,
    next_connection_id: AtomicI32,
}

// === impl Server ===

impl Server {
    pub fn new(store: Store, auth_required: bool, fake_salt_secret: [u8; 32]) -> Arc<Server> {
        Arc::new(Server {
            store,
            cursors: Cursors::default(),
            auth_required,
            fake_salt_secret,
            started: Instant::now(),
            next_connection_id: AtomicI32::new(1),
        })
    }

    fn connection_id(&self) -> i32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Serve clients on `listener` until `shutdown` is cancelled, then wait for open connections
/// to finish their current command.
pub async fn serve(listener: TcpListener, server: Arc<Server>, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tracker.spawn(reap_cursors(server.clone(), shutdown.clone()));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let server = server.clone();
                let shutdown = shutdown.clone();
                tracker.spawn(async move {
                    conn::handle(stream, peer, server, shutdown).await;
                    drop(permit);
                });
            }
            Err(error) => {
                // Usually EMFILE: back off instead of spinning.
                tracing::warn!(%error, "mongo accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

async fn reap_cursors(server: Arc<Server>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let reaped = server.cursors.reap(CURSOR_IDLE_TIMEOUT);
                if reaped > 0 {
                    tracing::debug!(reaped, "idle cursors closed");
                }
            }
        }
    }
}
