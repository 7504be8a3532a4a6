//! The management API under `/api`: JSON in and out, admin sessions in an HttpOnly cookie,
//! a CSRF token in a header for every change, errors as `{"error": "..."}` with a message a
//! person can act on. `openapi.json` documents every route (a test walks it).

mod auth;
mod logs;
mod registry;
mod settings;
mod setup;
mod tenants;
mod tls;
mod users;

use crate::appliance::{ApplianceError, ApplianceSettings};
use crate::config::Settings;
use crate::runtime::limits::{self, Limits};
use crate::store::{Store, StoreError};
use crate::supervisor::{Supervisor, SupervisorError};
use crate::tenants::TenantError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{middleware, Json, Router};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

pub use auth::LoginLimiter;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub supervisor: Arc<Supervisor>,
    pub config: Arc<Settings>,
    /// The appliance settings as saved; the proxy and mDNS follow its changes.
    pub appliance: watch::Sender<ApplianceSettings>,
    /// The HTTP listener, for the addresses tenants are shown at.
    pub http: SocketAddr,
    pub limiter: Arc<LoginLimiter>,
    /// mDNS names that had to change on this network.
    pub renames: Arc<crate::mdns::Renames>,
    /// Present when the private registry is on.
    pub registry: Option<Arc<crate::registry::Registry>>,
    /// Present when HTTPS is on.
    pub tls: Option<Arc<crate::tls::Certificates>>,
}

pub fn router(state: ApiState) -> Router {
    let public = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/setup", get(setup::status).post(setup::run))
        .route("/session", post(auth::login))
        .route("/registry/notify", post(registry::notify));
    let admin = Router::new()
        .route("/session", get(auth::session).delete(auth::logout))
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/tenants/{name}",
            get(tenants::show)
                .patch(tenants::update)
                .delete(tenants::remove),
        )
        .route("/tenants/{name}/start", post(tenants::start))
        .route("/tenants/{name}/stop", post(tenants::stop))
        .route("/tenants/{name}/restart", post(tenants::restart))
        .route("/tenants/{name}/limits", put(tenants::limits))
        .route("/tenants/{name}/logs", get(logs::follow))
        .route("/tenants/{name}/users", get(users::list).post(users::add))
        .route(
            "/tenants/{name}/users/{username}",
            axum::routing::patch(users::update).delete(users::remove),
        )
        .route("/settings", get(settings::show).put(settings::update))
        .route("/doctor", get(settings::doctor))
        .route("/tls", get(tls::show).put(tls::upload).delete(tls::remove))
        .route("/tls/ca.pem", get(tls::ca))
        .route("/registry", get(registry::show).put(registry::update))
        .route("/registry/account", put(registry::account))
        .route("/registry/rebuild", post(registry::rebuild))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ));
    Router::new().nest(
        "/api",
        public
            .merge(admin)
            .fallback(not_found)
            .layer(middleware::from_fn(auth::same_origin))
            .with_state(state),
    )
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("api/openapi.json"),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such API route; see /api/openapi.json",
    )
}

/// An error answer: a status and a sentence.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "API request failed");
        }
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        // These refusals come before the request body is read; the connection cannot carry
        // another request, so the client is told.
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::UNSUPPORTED_MEDIA_TYPE
        ) {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

impl From<TenantError> for ApiError {
    fn from(error: TenantError) -> ApiError {
        let status = match &error {
            TenantError::InvalidName { .. } | TenantError::InvalidUser(_) => {
                StatusCode::BAD_REQUEST
            }
            TenantError::Exists(_) => StatusCode::CONFLICT,
            TenantError::NotFound(_) => StatusCode::NOT_FOUND,
            TenantError::Corrupt(_) | TenantError::Store(_) | TenantError::Credentials(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<SupervisorError> for ApiError {
    fn from(error: SupervisorError) -> ApiError {
        match error {
            SupervisorError::Tenant(error) => error.into(),
            SupervisorError::Refused(message) => ApiError::bad_request(message),
            // The runtime could not do it now (budget spent, image missing, crash): the
            // message says what to change.
            SupervisorError::Failed(message) => ApiError::new(StatusCode::CONFLICT, message),
        }
    }
}

impl From<ApplianceError> for ApiError {
    fn from(error: ApplianceError) -> ApiError {
        let status = match &error {
            ApplianceError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApplianceError::AlreadySetUp => StatusCode::CONFLICT,
            ApplianceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    }
}

/// A JSON body whose rejections are JSON errors too. An empty body reads as `{}`, so
/// actions can be posted without one.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let empty = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|length| length == "0");
        if empty {
            return serde_json::from_str("{}")
                .map(Body)
                .map_err(|e| ApiError::bad_request(format!("a body is needed: {e}")));
        }
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = match &rejection {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, rejection.body_text())
}

/// Limits as the API takes them: any subset; memory as `256M`/`1G` or a number of bytes.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    #[serde(default, alias = "memory_bytes")]
    memory: Option<MemoryInput>,
    #[serde(default)]
    cpus: Option<f64>,
    #[serde(default)]
    pids: Option<u32>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum MemoryInput {
    Bytes(u64),
    Text(String),
}

impl LimitsInput {
    /// `base` with these changes, checked.
    pub fn apply(&self, base: Limits) -> Result<Limits, ApiError> {
        let mut limits = base;
        if let Some(memory) = &self.memory {
            limits.memory_bytes = match memory {
                MemoryInput::Bytes(bytes) => *bytes,
                MemoryInput::Text(text) => {
                    limits::parse_bytes(text).map_err(|e| ApiError::bad_request(e.to_string()))?
                }
            };
        }
        if let Some(cpus) = self.cpus {
            limits.cpus = cpus;
        }
        if let Some(pids) = self.pids {
            limits.pids = pids;
        }
        limits
            .validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(limits)
    }
}

/// Limits as the API shows them: bytes, and the same in the units people type.
pub fn limits_view(limits: &Limits) -> serde_json::Value {
    json!({
        "memory": limits::format_bytes(limits.memory_bytes),
        "memory_bytes": limits.memory_bytes,
        "cpus": limits.cpus,
        "pids": limits.pids,
    })
}
