//! Tenant ports: tenant number N also answers on port `base + N` of the HTTP address, whatever
//! the Host header says — how a phone that resolves no `.local` names reaches a tenant by IP.

use super::Proxy;
use crate::tenants::runtime_state;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const RECHECK: Duration = Duration::from_secs(30);

/// Keep one listener per tenant until `shutdown`.
pub async fn serve(
    proxy: Arc<Proxy>,
    http: SocketAddr,
    base: u16,
    uid_base: u32,
    shutdown: CancellationToken,
) {
    let mut roster = proxy.supervisor.roster();
    let mut listening: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        let names = proxy.supervisor.names();
        listening.retain(|name, stop| {
            let keep = names.contains(name);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for name in names {
            if listening.contains_key(&name) {
                continue;
            }
            let Ok(uid) = runtime_state::uid(proxy.supervisor.store(), &name, uid_base).await
            else {
                continue;
            };
            let Some(port) = u16::try_from(u32::from(base) + (uid - uid_base)).ok() else {
                continue;
            };
            let addr = SocketAddr::new(http.ip(), port);
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    tracing::info!(tenant = %name, %addr, "tenant port");
                    let stop = shutdown.child_token();
                    tokio::spawn(serve_one(
                        proxy.clone(),
                        name.clone(),
                        listener,
                        stop.clone(),
                    ));
                    listening.insert(name, stop);
                }
                Err(error) => {
                    tracing::warn!(tenant = %name, %addr, %error, "cannot open the tenant's port");
                    // Not retried in a tight loop: the next roster change or recheck tries again.
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = roster.changed() => {}
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}

async fn serve_one(
    proxy: Arc<Proxy>,
    name: String,
    listener: TcpListener,
    stop: CancellationToken,
) {
    let router = Router::new().fallback(
        move |ConnectInfo(client): ConnectInfo<SocketAddr>, request: Request| {
            let proxy = proxy.clone();
            let name = name.clone();
            async move { proxy.tenant(&name, request, client).await }
        },
    );
    let _ = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.cancelled_owned())
    .await;
}
