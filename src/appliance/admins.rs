//! Admin accounts of the appliance: bcrypt hashes in `sys_admins`, keyed by user name.

use super::ApplianceError;
use crate::store::{Store, StoreError};
use bson::doc;
use std::sync::OnceLock;

pub(super) const ADMINS: &str = "sys_admins";
pub const MIN_PASSWORD_LEN: usize = 10;
/// About a quarter second per check on a Raspberry Pi 4: slow for anyone guessing offline.
const BCRYPT_COST: u32 = 12;

/// Is the appliance set up (does an admin exist)?
pub async fn exist(store: &Store) -> Result<bool, StoreError> {
    store.run(|txn| Ok(!txn.scan(ADMINS)?.is_empty())).await
}

/// The wizard's admin: created only while no admin exists (two browsers racing through the
/// wizard get one admin, the second is told setup is done). Returns the stored name.
pub async fn create_first(
    store: &Store,
    username: &str,
    password: &str,
) -> Result<String, ApplianceError> {
    let username = normalize(username)?;
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApplianceError::Invalid(format!(
            "the admin password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let hash = hash(password.to_string()).await?;
    let key = username.clone();
    store
        .run(move |txn| {
            if !txn.scan(ADMINS)?.is_empty() {
                return Ok(Err(ApplianceError::AlreadySetUp));
            }
            txn.put(
                ADMINS,
                key.clone(),
                doc! {"username": key.as_str(), "password": hash, "created": bson::DateTime::now()},
            );
            Ok(Ok(key))
        })
        .await?
}

/// The admin's stored name when `password` is theirs. Unknown names cost as much time as
/// known ones, so timing does not tell which names exist.
pub async fn verify(
    store: &Store,
    username: &str,
    password: &str,
) -> Result<Option<String>, StoreError> {
    let Ok(username) = normalize(username) else {
        return Ok(None);
    };
    let key = username.clone();
    let stored = store
        .run(move |txn| txn.get(ADMINS, &key))
        .await?
        .and_then(|record| record.get_str("password").ok().map(str::to_string));
    let password = password.to_string();
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => bcrypt::verify(&password, &hash).unwrap_or(false),
        None => {
            let _ = bcrypt::verify(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    Ok(matches.then_some(username))
}

fn normalize(username: &str) -> Result<String, ApplianceError> {
    let name = username.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApplianceError::Invalid(
            "the admin user name must be 1 to 64 printable characters".into(),
        ));
    }
    Ok(name)
}

async fn hash(password: String) -> Result<String, ApplianceError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .map_err(|e| ApplianceError::Invalid(e.to_string()))?
        .map_err(|e| ApplianceError::Invalid(e.to_string()))
}

fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("not a password", BCRYPT_COST).expect("bcrypt hashes"))
}
