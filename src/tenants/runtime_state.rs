//! How a tenant runs, remembered across redhive restarts in the tenant's `sys_tenants` record
//! under `runtime`: what the supervisor needs, and what the front sets (on-demand, theme).

use super::{TenantError, TENANTS};
use crate::appliance::Theme;
use crate::runtime::limits::Limits;
use crate::store::Store;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeState {
    /// Someone asked for it to run (start) and nobody stopped it since.
    #[serde(default)]
    pub desired_running: bool,
    /// None: the configured defaults.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Process runtime: the tenant's own uid (and gid).
    #[serde(default)]
    pub uid: Option<u32>,
    /// Why it runs in safe mode, until a restart clears it.
    #[serde(default)]
    pub safe_mode: Option<String>,
    /// Stopped after idle minutes, started again by the first request.
    #[serde(default)]
    pub on_demand: bool,
    /// None: the appliance's default.
    #[serde(default)]
    pub idle_minutes: Option<u32>,
    /// None: the tenant's name as title, Node-RED's look.
    #[serde(default)]
    pub theme: Option<Theme>,
}

const FIELD: &str = "runtime";

pub async fn get(store: &Store, name: &str) -> Result<RuntimeState, TenantError> {
    let lookup = name.to_string();
    let record = store
        .run(move |txn| txn.get(TENANTS, &lookup))
        .await?
        .ok_or_else(|| TenantError::NotFound(name.to_string()))?;
    Ok(decode(&record, name))
}

pub(super) fn decode(record: &bson::Document, name: &str) -> RuntimeState {
    match record.get_document(FIELD) {
        Ok(state) => bson::from_document(state.clone()).unwrap_or_else(|error| {
            tracing::warn!(tenant = name, %error, "unreadable runtime state; using defaults");
            RuntimeState::default()
        }),
        Err(_) => RuntimeState::default(),
    }
}

/// Change the state in one transaction; returns the new state.
pub async fn update(
    store: &Store,
    name: &str,
    change: impl FnOnce(&mut RuntimeState) + Send + 'static,
) -> Result<RuntimeState, TenantError> {
    let key = name.to_string();
    store
        .run(move |txn| {
            let Some(mut record) = txn.get(TENANTS, &key)? else {
                return Ok(Err(TenantError::NotFound(key)));
            };
            let mut state = decode(&record, &key);
            change(&mut state);
            let encoded = bson::to_document(&state).expect("plain fields serialize");
            record.insert(FIELD, encoded);
            txn.put(TENANTS, key, record);
            Ok(Ok(state))
        })
        .await?
}

/// The tenant's uid, assigning the next free one above `base` the first time.
pub async fn uid(store: &Store, name: &str, base: u32) -> Result<u32, TenantError> {
    let key = name.to_string();
    store
        .run(move |txn| {
            let Some(mut record) = txn.get(TENANTS, &key)? else {
                return Ok(Err(TenantError::NotFound(key)));
            };
            let mut state = decode(&record, &key);
            if let Some(uid) = state.uid {
                return Ok(Ok(uid));
            }
            // First start: the next uid above every tenant's.
            let highest = txn
                .scan(TENANTS)?
                .iter()
                .filter_map(|(name, record)| decode(record, name).uid)
                .max()
                .unwrap_or(base);
            let uid = highest.max(base) + 1;
            state.uid = Some(uid);
            record.insert(
                FIELD,
                bson::to_document(&state).expect("plain fields serialize"),
            );
            txn.put(TENANTS, key, record);
            Ok(Ok(uid))
        })
        .await?
}
