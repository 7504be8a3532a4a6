//! Admin login, sessions and the two CSRF defences: an `X-CSRF-Token` header matching the
//! session on every change, and an `Origin` that must be this host when a browser sends one.
//! (Tenants' editors are same-site with the manager, `r1.localhost` beside `localhost`, so
//! SameSite cookies alone would not stop a tenant's page from posting to the API.)

use super::{ApiError, ApiState, Body};
use crate::appliance::admins;
use crate::appliance::sessions::{self, Session};
use crate::tls::Https;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "redhive_session";
const CSRF_HEADER: &str = "x-csrf-token";
/// Failed logins allowed per client address in one window...
const LOGIN_FAILURES: u32 = 5;
/// ...after which it waits out the window.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
const COOKIE_MAX_AGE_S: u64 = 7 * 24 * 3600;

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Failed logins per client address.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// Seconds to wait when `client` is locked out.
    fn locked(&self, client: IpAddr) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (count, since) = failures.get(&client)?;
        let left = LOGIN_WINDOW.checked_sub(since.elapsed())?;
        (*count >= LOGIN_FAILURES).then(|| left.as_secs().max(1))
    }

    fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.retain(|_, (_, since)| since.elapsed() < LOGIN_WINDOW);
        let entry = failures.entry(client).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    fn succeeded(&self, client: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client);
    }
}

/// `POST /api/session`
pub async fn login(
    State(state): State<ApiState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    https: Option<Extension<Https>>,
    Body(credentials): Body<Credentials>,
) -> Result<Response, ApiError> {
    if !admins::exist(&state.store).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this appliance is not set up yet: open the setup wizard",
        ));
    }
    let client = client.ip();
    if let Some(wait) = state.limiter.locked(client) {
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins; try again in {wait} s"),
        );
        return Ok(([(header::RETRY_AFTER, wait.to_string())], error).into_response());
    }
    match admins::verify(&state.store, &credentials.username, &credentials.password).await? {
        Some(username) => {
            state.limiter.succeeded(client);
            tracing::info!(user = %username, %client, "admin logged in");
            start_session(&state, &username, StatusCode::OK, https.is_some()).await
        }
        None => {
            state.limiter.failed(client);
            tracing::warn!(%client, "failed admin login");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ))
        }
    }
}

/// A new session: the cookie and the `{username, csrf}` body.
pub async fn start_session(
    state: &ApiState,
    username: &str,
    status: StatusCode,
    https: bool,
) -> Result<Response, ApiError> {
    let (token, session) = sessions::create(&state.store, username).await?;
    // Secure over HTTPS only: over plain HTTP the browser would drop the cookie.
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE_S}{secure}"
    );
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        Json(json!({"username": session.username, "csrf": session.csrf})),
    )
        .into_response())
}

/// `GET /api/session`
pub async fn session(Extension(session): Extension<Session>) -> Json<serde_json::Value> {
    Json(json!({"username": session.username, "csrf": session.csrf}))
}

/// `DELETE /api/session`
pub async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers) {
        sessions::delete(&state.store, token).await?;
    }
    let expired = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response())
}

/// Admin routes: a live session, and on changes its CSRF token.
pub async fn require_session(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let session = match cookie(request.headers()) {
        Some(token) => sessions::lookup(&state.store, token).await?,
        None => None,
    };
    let Some(session) = session else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "log in first"));
    };
    if changes_state(request.method()) {
        let sent = request
            .headers()
            .get(CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token header: send the csrf value from GET /api/session",
            ));
        }
    }
    request.extensions_mut().insert(session);
    Ok(next.run(request).await)
}

/// Every API request: a browser's `Origin`, when sent, must be the host it talks to (cross-site
/// pages and websockets are refused before anything else runs).
pub async fn same_origin(request: Request, next: Next) -> Result<Response, ApiError> {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority.trim_end_matches('/'));
        if !origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-origin request refused: use the appliance's own pages",
            ));
        }
    }
    Ok(next.run(request).await)
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session token from the Cookie header(s).
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            "a=1; redhive_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers), Some("tok"));
        let mut other = HeaderMap::new();
        other.append(header::COOKIE, "redhive_sessionx=1".parse().unwrap());
        assert_eq!(cookie(&other), None);
    }

    #[test]
    fn locks_out_after_repeated_failures() {
        let limiter = LoginLimiter::default();
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..LOGIN_FAILURES {
            assert!(limiter.locked(client).is_none());
            limiter.failed(client);
        }
        assert!(limiter.locked(client).is_some());
        assert!(limiter.locked("127.0.0.2".parse().unwrap()).is_none());
    }
}
