//! The proxy's own answers, for people: a small HTML page with a status that says why. Each
//! carries `X-Redhive` so scripts can tell them from a tenant's answers.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

/// Seconds a browser waits before it asks again for a starting tenant.
pub const RETRY_SECONDS: u32 = 2;

pub fn unknown(name: &str, manager: &str) -> Response<Body> {
    page(
        StatusCode::NOT_FOUND,
        "unknown-tenant",
        "No such tenant",
        &format!(
            "No tenant named <b>{}</b> on this appliance. <a href=\"{}\">Open the dashboard</a> to see the tenants.",
            escape(name),
            escape(manager)
        ),
        false,
    )
}

pub fn stopped(name: &str) -> Response<Body> {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "stopped",
        "Stopped",
        &format!(
            "<b>{}</b> is stopped. An administrator can start it from the dashboard.",
            escape(name)
        ),
        false,
    )
}

pub fn starting(name: &str, reason: Option<&str>) -> Response<Body> {
    let detail = reason
        .map(|r| format!("<p class=\"why\">{}</p>", escape(r)))
        .unwrap_or_default();
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "starting",
        "Starting…",
        &format!(
            "<b>{}</b> is starting. This page reloads by itself.{detail}",
            escape(name)
        ),
        true,
    )
}

pub fn unreachable(name: &str, error: &str) -> Response<Body> {
    page(
        StatusCode::BAD_GATEWAY,
        "unreachable",
        "Not answering",
        &format!(
            "<b>{}</b> did not answer ({}). If it keeps happening, see its log on the dashboard.",
            escape(name),
            escape(error)
        ),
        false,
    )
}

fn page(
    status: StatusCode,
    reason: &'static str,
    title: &str,
    message: &str,
    refresh: bool,
) -> Response<Body> {
    let meta = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{RETRY_SECONDS}\">")
    } else {
        String::new()
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">{meta}<title>{title}</title>\
<style>body{{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1f2328;display:grid;place-items:center;min-height:100vh;margin:0}}\
main{{background:#fff;border-radius:12px;box-shadow:0 2px 12px #0002;padding:2rem 2.5rem;max-width:32rem;margin:1rem}}\
h1{{margin:0 0 .5rem;font-size:1.4rem;color:#8f0000}}.why{{color:#57606a;font-size:.9rem}}a{{color:#8f0000}}</style>\
</head><body><main><h1>{title}</h1><p>{message}</p></main></body></html>"
    );
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-redhive", HeaderValue::from_static(reason));
    if refresh {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_SECONDS));
    }
    response
}

/// Does the request carry a body (which a page answers without reading)?
pub fn has_body<B>(request: &axum::http::Request<B>) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length != "0")
}

/// One of these pages answered a request whose body was never read: the connection cannot
/// carry another request, so say so instead of leaving the client to find out.
pub fn close_if_unread(unread: bool, mut response: Response<Body>) -> Response<Body> {
    if unread && response.headers().contains_key("x-redhive") {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
