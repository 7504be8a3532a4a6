//! The HTTP port: the proxy looks at every request first (tenant hosts go to their Node-RED),
//! the rest is the manager — `/api` and the embedded UI.

use crate::api::{self, ApiState};
use crate::proxy::{self, Proxy};
use crate::tls::listener::TlsListener;
use crate::tls::Https;
use crate::{registry, web};
use axum::extract::Request;
use axum::routing::get;
use axum::serve::{Listener, ListenerExt};
use axum::{Router, ServiceExt};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The manager: the API, the registry's catalogue, then the UI for every other path.
pub fn manager(state: ApiState) -> Router {
    let registry = state.registry.clone();
    api::router(state)
        .route(
            "/catalogue.json",
            get(move || async move { registry::catalogue_response(registry.as_deref()) }),
        )
        .fallback(web::serve)
}

/// Plain HTTP on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    manager: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_on(listener, proxy, manager, false, shutdown).await
}

/// The same over TLS; requests carry the `Https` mark.
pub async fn serve_https(
    listener: TlsListener,
    proxy: Arc<Proxy>,
    manager: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_on(listener.tap_io(|_| {}), proxy, manager, true, shutdown).await
}

async fn serve_on<L>(
    listener: L,
    proxy: Arc<Proxy>,
    manager: Router,
    https: bool,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    for<'a> SocketAddr: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let front = tower::service_fn(move |mut request: Request| {
        let (proxy, manager) = (proxy.clone(), manager.clone());
        async move {
            if https {
                request.extensions_mut().insert(Https);
            }
            Ok::<_, Infallible>(proxy::route(proxy, request, manager).await)
        }
    });
    axum::serve(
        listener,
        front.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}
