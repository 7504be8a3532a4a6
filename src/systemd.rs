//! Life under systemd (`systemd/redhive.service`, Type=notify): READY=1 once the API, the
//! shim and the control socket listen, STATUS= lines for `systemctl status`, STOPPING=1 on
//! SIGTERM, and watchdog pings for as long as the store answers — a redhive whose store
//! thread hangs stops pinging and systemd restarts it. Outside systemd all of it does nothing.

use crate::store::Store;
use sd_notify::NotifyState;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Tell systemd the service is up, with a line for `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Ping systemd's watchdog at half its interval while the store answers within that time,
/// until `shutdown`. Nothing to do when the unit has no WatchdogSec.
pub async fn watchdog(store: Store, shutdown: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = interval / 2;
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "systemd watchdog on"
    );
    loop {
        let alive = tokio::time::timeout(period, store.run(|_| Ok(()))).await;
        match alive {
            Ok(Ok(())) => send(&[NotifyState::Watchdog]),
            Ok(Err(error)) => tracing::error!(%error, "store failed: no watchdog ping"),
            Err(_) => tracing::error!(
                waited_ms = period.as_millis() as u64,
                "store did not answer: no watchdog ping"
            ),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period.saturating_sub(Duration::from_millis(10))) => {}
        }
    }
}

fn send(state: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}
