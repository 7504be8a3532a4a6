//! Appliance settings and the doctor's report.

use super::{limits_view, ApiError, ApiState, Body, LimitsInput};
use crate::appliance::{self, ApplianceSettings, Theme};
use crate::{doctor, platform};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    name: Option<String>,
    domain: Option<String>,
    theme: Option<Theme>,
    limits: Option<LimitsInput>,
    idle_minutes: Option<u32>,
}

/// `GET /api/settings`
pub async fn show(State(state): State<ApiState>) -> Json<Value> {
    let settings = state.appliance.borrow().clone();
    Json(view(&state, &settings))
}

/// `PUT /api/settings`: any subset; all checked before anything is saved.
pub async fn update(
    State(state): State<ApiState>,
    Body(change): Body<SettingsChange>,
) -> Result<Json<Value>, ApiError> {
    let mut settings = state.appliance.borrow().clone();
    if let Some(name) = change.name {
        settings.name = name.trim().to_string();
    }
    if let Some(domain) = change.domain {
        settings.domain = domain.trim().trim_end_matches('.').to_lowercase();
    }
    if let Some(theme) = change.theme {
        settings.theme = theme;
    }
    if let Some(limits) = change.limits {
        settings.limits = limits.apply(settings.limits)?;
    }
    if let Some(minutes) = change.idle_minutes {
        settings.idle_minutes = minutes;
    }
    appliance::save_settings(&state.store, &settings).await?;
    tracing::info!(name = %settings.name, domain = %settings.domain, "appliance settings changed");
    state.appliance.send_replace(settings.clone());
    Ok(Json(view(&state, &settings)))
}

/// `GET /api/doctor`
pub async fn doctor(State(state): State<ApiState>) -> Json<doctor::Report> {
    Json(doctor::run(&state.config).await)
}

fn view(state: &ApiState, settings: &ApplianceSettings) -> Value {
    json!({
        "name": settings.name,
        "domain": settings.domain,
        "theme": settings.theme,
        "limits": limits_view(&settings.limits),
        "idle_minutes": settings.idle_minutes,
        "addresses": platform::lan_addresses().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "mdns": state.config.front.mdns_enabled(state.http),
        "mdns_name": state.renames.in_use(&format!("{}.local", settings.name)),
    })
}
