//! The HTTP port: the proxy looks at every request first (tenant hosts go to their Node-RED),
//! the rest is the manager — `/api` and the embedded UI.

use crate::api::{self, ApiState};
use crate::proxy::{self, Proxy};
use crate::tls::listener::TlsListener;
use crate::tls::Https;
use crate::web;
use axum::serve::ListenerExt;
use axum::{middleware, Extension, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub fn router(state: ApiState, proxy: Arc<Proxy>) -> Router {
    api::router(state)
        .fallback(web::serve)
        .layer(middleware::from_fn_with_state(proxy, proxy::route))
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

/// The same routes over TLS; requests carry the `Https` mark.
pub async fn serve_https(
    listener: TlsListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener.tap_io(|_| {}),
        router
            .layer(Extension(Https))
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}
