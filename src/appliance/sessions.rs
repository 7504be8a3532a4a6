//! Admin sessions: a random token in an HttpOnly cookie, stored as its SHA-256 (a copy of the
//! store does not log anyone in), with a CSRF token the UI sends back in a header. Sessions
//! live in the store, so a restart of redhive does not log admins out.

use crate::store::{Store, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bson::doc;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub(super) const SESSIONS: &str = "sys_sessions";
/// A session unused this long ends.
const IDLE_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// Last use is written back at most this often (not on every request).
const TOUCH_INTERVAL_MS: i64 = 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub csrf: String,
}

/// A new session for `username`: (cookie token, session).
pub async fn create(store: &Store, username: &str) -> Result<(String, Session), StoreError> {
    let token = random_token();
    let session = Session {
        username: username.to_string(),
        csrf: random_token(),
    };
    let record = doc! {
        "username": session.username.as_str(),
        "csrf": session.csrf.as_str(),
        "last_used": bson::DateTime::now(),
    };
    let key = key(&token);
    store
        .run(move |txn| {
            txn.put(SESSIONS, key, record);
            Ok(())
        })
        .await?;
    Ok((token, session))
}

/// The live session of cookie `token`, if any.
pub async fn lookup(store: &Store, token: &str) -> Result<Option<Session>, StoreError> {
    let key = key(token);
    store
        .run(move |txn| {
            let Some(mut record) = txn.get(SESSIONS, &key)? else {
                return Ok(None);
            };
            let now = bson::DateTime::now().timestamp_millis();
            let last_used = record
                .get_datetime("last_used")
                .map(|t| t.timestamp_millis())
                .unwrap_or(0);
            if now - last_used > IDLE_LIFETIME_MS {
                txn.delete(SESSIONS, key);
                return Ok(None);
            }
            let session = Session {
                username: record.get_str("username").unwrap_or_default().to_string(),
                csrf: record.get_str("csrf").unwrap_or_default().to_string(),
            };
            if now - last_used > TOUCH_INTERVAL_MS {
                record.insert("last_used", bson::DateTime::now());
                txn.put(SESSIONS, key, record);
            }
            Ok(Some(session))
        })
        .await
}

pub async fn delete(store: &Store, token: &str) -> Result<(), StoreError> {
    let key = key(token);
    store
        .run(move |txn| {
            txn.delete(SESSIONS, key);
            Ok(())
        })
        .await
}

fn key(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(key(&a).len(), 64);
        assert_ne!(key(&a), a);
    }
}
