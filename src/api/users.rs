//! A tenant's editor users (who may log in to its Node-RED, with `*` or `read`).

use super::{ApiError, ApiState, Body};
use crate::tenants::editor::{self, EditorUser, Permissions, UserChange, UserView};
use crate::tenants::runtime_state;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    #[serde(default = "all")]
    permissions: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    password: Option<String>,
    permissions: Option<String>,
}

fn all() -> String {
    "*".into()
}

fn permissions(text: &str) -> Result<Permissions, ApiError> {
    match text {
        "*" => Ok(Permissions::All),
        "read" => Ok(Permissions::Read),
        other => Err(ApiError::bad_request(format!(
            "permissions must be `*` (may deploy) or `read` (may only look), not `{other}`"
        ))),
    }
}

/// `GET /api/tenants/{name}/users`
pub async fn list(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    runtime_state::get(&state.store, &name).await?;
    let users = state.store.run(move |txn| editor::list(txn, &name)).await?;
    Ok(Json(json!({ "users": users })))
}

/// `POST /api/tenants/{name}/users`
pub async fn add(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(user): Body<NewUser>,
) -> Result<Response, ApiError> {
    runtime_state::get(&state.store, &name).await?;
    let user = EditorUser {
        permissions: permissions(&user.permissions)?,
        username: user.username,
        password: user.password,
    };
    let tenant = name.clone();
    let record = tokio::task::spawn_blocking(move || user.to_record(&tenant))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let view = UserView {
        username: record.get_str("username").unwrap_or_default().to_string(),
        permissions: record
            .get_str("permissions")
            .unwrap_or_default()
            .to_string(),
    };
    let username = view.username.clone();
    let inserted = state
        .store
        .run(move |txn| editor::insert(txn, &name, record))
        .await?;
    if inserted.is_err() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("editor user `{username}` exists already; reset its password instead"),
        ));
    }
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `PATCH /api/tenants/{name}/users/{username}`: new password and/or permissions.
pub async fn update(
    State(state): State<ApiState>,
    Path((name, username)): Path<(String, String)>,
    Body(update): Body<UserUpdate>,
) -> Result<Json<UserView>, ApiError> {
    runtime_state::get(&state.store, &name).await?;
    let username = editor::normalize_username(&username)?;
    let mut change = UserChange {
        permissions: update.permissions.as_deref().map(permissions).transpose()?,
        password_hash: None,
    };
    if let Some(password) = update.password {
        change.password_hash = Some(
            tokio::task::spawn_blocking(move || editor::hash_password(&password))
                .await
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??,
        );
    }
    let who = username.clone();
    state
        .store
        .run(move |txn| editor::update(txn, &name, &who, change))
        .await?
        .map(Json)
        .ok_or_else(|| no_user(&username))
}

/// `DELETE /api/tenants/{name}/users/{username}`
pub async fn remove(
    State(state): State<ApiState>,
    Path((name, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    runtime_state::get(&state.store, &name).await?;
    let username = editor::normalize_username(&username)?;
    let who = username.clone();
    let removed = state
        .store
        .run(move |txn| editor::remove(txn, &name, &who))
        .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_user(&username))
    }
}

fn no_user(username: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no editor user named `{username}` in this tenant"),
    )
}
