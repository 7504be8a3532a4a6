//! The private registry: its state, the online switch and scope, the publishing account, the
//! catalogue (rebuilt on demand), and the webhook Verdaccio calls after each publish.

use super::{ApiError, ApiState, Body};
use crate::appliance;
use crate::registry::Registry;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a change of settings waits for Verdaccio to come back.
const RESTART_WAIT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryChange {
    online: Option<bool>,
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    username: String,
    password: String,
}

/// `GET /api/registry`
pub async fn show(State(state): State<ApiState>) -> Json<Value> {
    Json(view(&state))
}

/// `PUT /api/registry`: Verdaccio restarts to apply; tenants pick it up at their next start.
pub async fn update(
    State(state): State<ApiState>,
    Body(change): Body<RegistryChange>,
) -> Result<Json<Value>, ApiError> {
    enabled(&state)?;
    let mut settings = state.appliance.borrow().clone();
    if let Some(online) = change.online {
        settings.registry.online = online;
    }
    if let Some(scope) = change.scope {
        settings.registry.scope = scope.trim().trim_start_matches('@').to_string();
    }
    appliance::save_settings(&state.store, &settings).await?;
    tracing::info!(online = settings.registry.online, scope = %settings.registry.scope, "registry settings changed");
    let registry = enabled(&state)?;
    let old_pid = registry.status().pid;
    let changed = state.appliance.borrow().registry != settings.registry;
    state.appliance.send_replace(settings);
    if changed {
        // Answer with the Verdaccio that has the new settings.
        registry.restarted(old_pid, RESTART_WAIT).await;
    }
    Ok(Json(view(&state)))
}

/// `PUT /api/registry/account`
pub async fn account(
    State(state): State<ApiState>,
    Body(account): Body<Account>,
) -> Result<Json<Value>, ApiError> {
    let registry = enabled(&state)?;
    registry
        .set_account(account.username.trim(), &account.password)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    tracing::info!(account = %account.username.trim(), "registry publishing account set");
    Ok(Json(json!({"account": registry.account()})))
}

/// `POST /api/registry/rebuild`
pub async fn rebuild(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    enabled(&state)?
        .rebuild_now()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok(Json(view(&state)))
}

/// `POST /api/registry/notify`: from Verdaccio, proven by the shared secret.
pub async fn notify(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let registry = enabled(&state)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !registry.is_notify_secret(presented) {
        tracing::warn!("registry notify without the right secret refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not the registry: the notify secret is missing or wrong",
        ));
    }
    registry.request_rebuild();
    Ok(StatusCode::ACCEPTED)
}

fn enabled(state: &ApiState) -> Result<&Arc<Registry>, ApiError> {
    state.registry.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "the private registry is off: set registry.enabled = \"on\" (or REDHIVE_REGISTRY=on) and restart",
        )
    })
}

fn view(state: &ApiState) -> Value {
    let Some(registry) = &state.registry else {
        return json!({
            "enabled": false,
            "hint": "The private registry is off: set registry.enabled = \"on\" (or REDHIVE_REGISTRY=on) and restart redhive.",
        });
    };
    let prefs = state.appliance.borrow().registry.clone();
    let status = registry.status();
    let url = format!("http://{}/", registry.public_host());
    json!({
        "enabled": true,
        "state": status.state,
        "pid": status.pid,
        "restarts": status.restarts,
        "reason": status.reason,
        "online": prefs.online,
        "scope": prefs.scope,
        "url": url,
        "account": registry.account(),
        "catalogue": *registry.catalogue(),
        "problems": registry.problems(),
        "publish": [
            format!("npm login --auth-type=legacy --registry {url} --scope=@{}", prefs.scope),
            format!("npm publish --registry {url}"),
        ],
    })
}
