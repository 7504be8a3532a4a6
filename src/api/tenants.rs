//! Tenants: create, list, show, change, delete, and their runtime actions.

use super::{limits_view, ApiError, ApiState, Body, LimitsInput};
use crate::appliance::{self, Theme};
use crate::supervisor::status::{State as RunState, Status};
use crate::tenants::editor::{EditorUser, Permissions};
use crate::tenants::{self, runtime_state, runtime_state::RuntimeState};
use crate::{mdns, platform};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::time::Duration;

/// How long a create waits to see the new tenant leave `stopped`.
const START_SEEN: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    name: String,
    editor: Option<EditorInput>,
    #[serde(default)]
    on_demand: bool,
    limits: Option<LimitsInput>,
    start: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditorInput {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    on_demand: Option<bool>,
    idle_minutes: Option<u32>,
    theme: Option<Theme>,
}

/// `GET /api/tenants`
pub async fn list(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let statuses = state.supervisor.statuses().await?;
    let addresses = platform::lan_addresses();
    let mut tenants = Vec::with_capacity(statuses.len());
    for status in statuses {
        let run = runtime_state::get(&state.store, &status.name).await?;
        tenants.push(view(&state, &status, &run, &addresses));
    }
    Ok(Json(json!({ "tenants": tenants })))
}

/// `POST /api/tenants`: created with the appliance's defaults, and started unless told not to.
pub async fn create(
    State(state): State<ApiState>,
    Body(request): Body<NewTenant>,
) -> Result<Response, ApiError> {
    let defaults = state.appliance.borrow().clone();
    let limits = match &request.limits {
        Some(input) => input.apply(defaults.limits)?,
        None => defaults.limits,
    };
    tenants::validate_name(&request.name)?;
    let editor = request.editor.map(|e| EditorUser {
        username: e.username,
        password: e.password,
        permissions: Permissions::All,
    });
    tenants::add(&state.store, &request.name, editor).await?;
    let theme = (defaults.theme != Theme::default()).then_some(defaults.theme);
    let on_demand = request.on_demand;
    runtime_state::update(&state.store, &request.name, move |run| {
        run.limits = Some(limits);
        run.on_demand = on_demand;
        run.theme = theme;
    })
    .await?;
    // Its number (and tenant port) from the start.
    runtime_state::uid(&state.store, &request.name, state.config.runtime.uid_base).await?;
    tracing::info!(tenant = %request.name, on_demand, "tenant created");
    let name = request.name;
    if request.start.unwrap_or(true) {
        // Supervised from now on, so its status can be watched below.
        state.supervisor.status(&name).await?;
        let supervisor = state.supervisor.clone();
        let starting = name.clone();
        tokio::spawn(async move {
            if let Err(error) = supervisor.start_tenant(&starting).await {
                tracing::warn!(tenant = %starting, %error, "new tenant did not start");
            }
        });
        if let Some(mut status) = state.supervisor.watch(&name) {
            let _ = tokio::time::timeout(
                START_SEEN,
                status.wait_for(|s| s.state != RunState::Stopped),
            )
            .await;
        }
    }
    let body = current(&state, &name).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/tenants/{name}`
pub async fn show(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(current(&state, &name).await?))
}

/// `PATCH /api/tenants/{name}`: on-demand, idle minutes, theme (a theme shows after a restart).
pub async fn update(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(change): Body<TenantChange>,
) -> Result<Json<Value>, ApiError> {
    if let Some(minutes) = change.idle_minutes {
        appliance::check_idle_minutes(minutes)?;
    }
    if let Some(theme) = &change.theme {
        theme.validate()?;
    }
    runtime_state::update(&state.store, &name, move |run| {
        if let Some(on_demand) = change.on_demand {
            run.on_demand = on_demand;
        }
        if let Some(minutes) = change.idle_minutes {
            run.idle_minutes = Some(minutes);
        }
        if let Some(theme) = change.theme {
            run.theme = Some(theme);
        }
    })
    .await?;
    Ok(Json(current(&state, &name).await?))
}

/// `DELETE /api/tenants/{name}`
pub async fn remove(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.supervisor.remove_tenant(&name).await?;
    tracing::info!(tenant = %name, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/tenants/{name}/start`
pub async fn start(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.supervisor.start_tenant(&name).await?;
    Ok(Json(current(&state, &name).await?))
}

/// `POST /api/tenants/{name}/stop`
pub async fn stop(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.supervisor.stop_tenant(&name).await?;
    Ok(Json(current(&state, &name).await?))
}

/// `POST /api/tenants/{name}/restart`
pub async fn restart(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.supervisor.restart_tenant(&name).await?;
    Ok(Json(current(&state, &name).await?))
}

/// `PUT /api/tenants/{name}/limits`: a running tenant restarts to take them.
pub async fn limits(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(input): Body<LimitsInput>,
) -> Result<Json<Value>, ApiError> {
    // Checked here first so a bad value is a 400 before anything restarts.
    let base = runtime_state::get(&state.store, &name)
        .await?
        .limits
        .unwrap_or(state.appliance.borrow().limits);
    let limits = input.apply(base)?;
    state
        .supervisor
        .set_limits(&name, move |current| *current = limits)
        .await?;
    Ok(Json(current(&state, &name).await?))
}

async fn current(state: &ApiState, name: &str) -> Result<Value, ApiError> {
    let run = runtime_state::get(&state.store, name).await?;
    let status = state.supervisor.status(name).await?;
    Ok(view(state, &status, &run, &platform::lan_addresses()))
}

/// A tenant as the API shows it; `addresses` are the LAN's (for its tenant port URLs).
fn view(state: &ApiState, status: &Status, run: &RuntimeState, addresses: &[Ipv4Addr]) -> Value {
    let settings = state.appliance.borrow();
    let port = state.http.port();
    let port_suffix = if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    };
    let name = &status.name;
    let ip_urls: Vec<String> = match run.uid {
        Some(uid) => addresses
            .iter()
            .filter_map(|ip| {
                let number = uid.checked_sub(state.config.runtime.uid_base)?;
                let port = state.config.front.tenant_port(number)?;
                Some(format!("http://{ip}:{port}/"))
            })
            .collect(),
        None => Vec::new(),
    };
    // The name in use: the responder renames one another device had first.
    let mdns_url = state.config.front.mdns_enabled(state.http).then(|| {
        let host = state
            .renames
            .in_use(&mdns::tenant_host(name, &settings.name));
        format!("http://{host}{port_suffix}/")
    });
    json!({
        "name": name,
        "state": status.state.as_str(),
        "reason": status.reason,
        "on_demand": run.on_demand,
        "idle_minutes": run.idle_minutes.unwrap_or(settings.idle_minutes),
        "limits": limits_view(&status.limits),
        "usage": status.usage,
        "urls": {
            "local": format!("http://{name}.{}{port_suffix}/", settings.domain),
            "mdns": mdns_url,
            "ip": ip_urls,
        },
        "theme": run.theme.clone().unwrap_or_else(|| Theme {
            title: Some(name.clone()),
            ..Theme::default()
        }),
        "restarts": status.restarts,
        "last_exit": status.last_exit,
        "runtime": status.runtime,
    })
}
