//! One request to a tenant's Node-RED on loopback: hop-by-hop headers dropped, X-Forwarded-*
//! set, bodies streamed both ways, upstream connections kept alive in a pool, and websocket
//! upgrades (the editor's `/comms`) spliced once both sides agreed.

use crate::tls::Https;
use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::Duration;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
const KEEP_ALIVE: &str = "keep-alive";
/// Not standard, but old clients send it and it is per-connection like `Connection`.
const PROXY_CONNECTION: &str = "proxy-connection";
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

pub type Upstreams = Client<HttpConnector, Body>;

/// The pool of connections to tenants (keep-alive matters: a new connection per request
/// costs a third of the throughput).
pub fn upstreams() -> Upstreams {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build(connector)
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ForwardError(String);

/// Send `request` to the tenant on `port`; `client` is who sent it. `held` lives as long as
/// an upgraded connection does (activity tracking).
pub async fn forward<T: Send + 'static>(
    upstreams: &Upstreams,
    mut request: Request<Body>,
    port: u16,
    client: SocketAddr,
    held: T,
) -> Result<Response<Body>, ForwardError> {
    let upgrade = wants_upgrade(request.headers());
    let https = request.extensions().get::<Https>().is_some();
    let downstream = upgrade.then(|| hyper::upgrade::on(&mut request));
    let host = request.headers().get(header::HOST).cloned();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    *request.uri_mut() = Uri::try_from(format!("http://127.0.0.1:{port}{path}"))
        .map_err(|e| ForwardError(e.to_string()))?;
    let headers = request.headers_mut();
    let protocol = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(headers);
    if let (true, Some(protocol)) = (upgrade, protocol) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    // redhive is the edge: what clients claim about earlier hops is not passed on.
    headers.insert(
        X_FORWARDED_FOR,
        HeaderValue::from_str(&client.ip().to_string()).expect("an IP is a header value"),
    );
    let scheme = if https { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme));
    match host {
        Some(host) => headers.insert(X_FORWARDED_HOST, host),
        None => headers.remove(X_FORWARDED_HOST),
    };

    let mut response = upstreams
        .request(request)
        .await
        .map_err(|e| ForwardError(connect_error(&e)))?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(downstream) = downstream {
            let upstream = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                match tokio::try_join!(downstream, upstream) {
                    Ok((down, up)) => {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(down),
                            &mut TokioIo::new(up),
                        )
                        .await;
                    }
                    Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
                }
                drop(held);
            });
        }
        return Ok(response.map(|_| Body::empty()));
    }
    strip_hop_by_hop(response.headers_mut());
    Ok(response.map(Body::new))
}

/// `Connection: upgrade` with an `Upgrade` protocol.
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty())
}

/// Drop the standard hop-by-hop headers and every header `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = connection_tokens(headers).collect();
    for name in named {
        if let Ok(name) = HeaderName::try_from(name.to_ascii_lowercase()) {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
}

/// The cause, not hyper's generic "client error (Connect)".
fn connect_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut last = error.to_string();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "keep-alive, X-Secret".parse().unwrap());
        headers.insert("x-secret", "1".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert(header::TE, "trailers".parse().unwrap());
        headers.insert(header::PROXY_AUTHORIZATION, "Basic x".parse().unwrap());
        headers.insert(header::ACCEPT, "*/*".parse().unwrap());
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::ACCEPT));
    }

    #[test]
    fn websocket_upgrades_are_recognised() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, "websocket".parse().unwrap());
        headers.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        assert!(wants_upgrade(&headers));
        headers.insert(header::CONNECTION, "keep-alive".parse().unwrap());
        assert!(!wants_upgrade(&headers));
    }
}
