//! Termination signals.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves on SIGTERM (systemd, docker) or SIGINT (Ctrl-C).
pub async fn terminated() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::error!(%error, "cannot watch SIGTERM; only Ctrl-C will stop redhive");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
