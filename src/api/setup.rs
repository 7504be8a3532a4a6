//! The setup wizard's two endpoints. No default password exists: until the wizard creates
//! the first admin nothing but the wizard works, and once done it cannot run again.

use super::{auth, ApiError, ApiState, Body, LimitsInput};
use crate::appliance::{self, admins, ApplianceSettings};
use crate::doctor;
use crate::tls::Https;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    username: String,
    password: String,
    name: String,
    #[serde(default)]
    limits: LimitsInput,
}

/// `GET /api/setup`: whether the wizard is needed, and what it shows.
pub async fn status(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    if admins::exist(&state.store).await? {
        return Ok(Json(json!({"needed": false})));
    }
    let defaults = state.appliance.borrow().clone();
    let report = doctor::run(&state.config).await;
    Ok(Json(json!({
        "needed": true,
        "doctor": report,
        "defaults": {"name": defaults.name, "limits": super::limits_view(&defaults.limits)},
    })))
}

/// `POST /api/setup`: the first admin, the appliance's name and tenant limits; logs in.
pub async fn run(
    State(state): State<ApiState>,
    https: Option<Extension<Https>>,
    Body(request): Body<SetupRequest>,
) -> Result<Response, ApiError> {
    let current = state.appliance.borrow().clone();
    let settings = ApplianceSettings {
        name: request.name.trim().to_string(),
        limits: request.limits.apply(current.limits)?,
        ..current
    };
    settings.validate()?;
    let username = admins::create_first(&state.store, &request.username, &request.password).await?;
    appliance::save_settings(&state.store, &settings).await?;
    tracing::info!(user = %username, name = %settings.name, "setup done");
    state.appliance.send_replace(settings);
    auth::start_session(&state, &username, StatusCode::CREATED, https.is_some()).await
}
