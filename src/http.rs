//! The HTTP port: the proxy looks at every request first (tenant hosts go to their Node-RED),
//! the rest is the manager — `/api` and the embedded UI.

use crate::api::{self, ApiState};
use crate::proxy::{self, Proxy};
use crate::web;
use axum::{middleware, Router};
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
