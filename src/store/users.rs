//! Database users (SCRAM principals), kept where no wire namespace reaches.

use super::engine::Txn;
use super::platform;
use super::StoreError;
use serde::{Deserialize, Serialize};

/// A user as the store keeps it: salted SCRAM keys per mechanism, never a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The authentication database (`authSource`).
    pub db: String,
    pub user: String,
    /// MongoDB-style roles: `{role: "readWrite", db: "r1"}` or `{role: "root", db: "admin"}`.
    pub roles: Vec<bson::Document>,
    /// Mechanism name → stored credential document.
    pub credentials: bson::Document,
}

fn user_key(db: &str, user: &str) -> String {
    // `.` cannot occur in a database name, so the first dot splits the key unambiguously.
    format!("{db}.{user}")
}

// === impl Txn (users) ===

impl Txn<'_> {
    pub fn user(&self, db: &str, user: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(platform::USERS, &user_key(db, user))?
            .map(decode)
            .transpose()
    }

    /// Users of `db`, or of every database when `None`.
    pub fn users(&self, db: Option<&str>) -> Result<Vec<UserRecord>, StoreError> {
        let mut users = Vec::new();
        for (_, doc) in self.scan(platform::USERS)? {
            let record = decode(doc)?;
            if db.is_none_or(|db| record.db == db) {
                users.push(record);
            }
        }
        Ok(users)
    }

    pub fn save_user(&mut self, record: &UserRecord) -> Result<(), StoreError> {
        let doc = bson::to_document(record).map_err(|e| StoreError::Corrupt {
            collection: platform::USERS.to_string(),
            reason: e.to_string(),
        })?;
        self.put(platform::USERS, user_key(&record.db, &record.user), doc);
        Ok(())
    }

    pub fn delete_user(&mut self, db: &str, user: &str) {
        self.delete(platform::USERS, user_key(db, user));
    }
}

fn decode(doc: bson::Document) -> Result<UserRecord, StoreError> {
    bson::from_document(doc).map_err(|e| StoreError::Corrupt {
        collection: platform::USERS.to_string(),
        reason: e.to_string(),
    })
}
