//! HTTPS certificates: which source is in use, the appliance CA's root for download, and
//! uploading a certificate of one's own (or going back to the CA's).

use super::{ApiError, ApiState, Body};
use crate::tls::{Certificates, TlsError};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// PEM: the certificate, then any intermediates.
    certificate: String,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    key: String,
}

/// `GET /api/tls`
pub async fn show(State(state): State<ApiState>) -> Json<Value> {
    let https = state.config.front.https_listen;
    Json(match &state.tls {
        Some(certificates) => json!({
            "enabled": true,
            "listen": https.map(|a| a.to_string()),
            "source": certificates.source(),
        }),
        None => json!({
            "enabled": false,
            "hint": "HTTPS is off: set front.https_listen (or REDHIVE_HTTPS_LISTEN), e.g. 0.0.0.0:443, and restart",
        }),
    })
}

/// `GET /api/tls/ca.pem`: the root to trust on each device.
pub async fn ca(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let certificates = enabled(&state)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"redhive-ca.pem\"",
            ),
        ],
        certificates.ca_pem().to_string(),
    )
        .into_response())
}

/// `PUT /api/tls`: serve this certificate for every name.
pub async fn upload(
    State(state): State<ApiState>,
    Body(upload): Body<Upload>,
) -> Result<Json<Value>, ApiError> {
    let certificates = enabled(&state)?;
    certificates
        .upload(&upload.certificate, &upload.key)
        .map_err(tls_error)?;
    tracing::info!("uploaded HTTPS certificate in use");
    Ok(show(State(state)).await)
}

/// `DELETE /api/tls`: back to certificates from the appliance CA.
pub async fn remove(State(state): State<ApiState>) -> Result<StatusCode, ApiError> {
    enabled(&state)?.remove_upload().map_err(tls_error)?;
    tracing::info!("HTTPS certificates from the appliance CA again");
    Ok(StatusCode::NO_CONTENT)
}

fn enabled(state: &ApiState) -> Result<&Arc<Certificates>, ApiError> {
    state.tls.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "HTTPS is off: set front.https_listen (or REDHIVE_HTTPS_LISTEN) and restart redhive",
        )
    })
}

fn tls_error(error: TlsError) -> ApiError {
    match error {
        TlsError::Invalid(message) => ApiError::bad_request(message),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}
