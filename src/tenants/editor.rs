//! A tenant's Node-RED editor users, in the tenant's own `users` collection, where the
//! tenant runtime's auth plugin (custom-node-red/auth) reads them.
//!
//! Both sides follow the same rules: usernames are trimmed and lower-cased before they are
//! stored or looked up, and passwords are bcrypt hashes (cost 12) in field `password`.

use super::TenantError;
use crate::store::{CollectionMeta, IndexMeta, StoreError, Txn, WriteConflict};
use bson::{doc, Document};

/// bcrypt cost: about a quarter second on a Raspberry Pi 4, slow enough for offline attacks.
const BCRYPT_COST: u32 = 12;
const MIN_PASSWORD_LEN: usize = 8;
const USERS: &str = "users";
/// The index the auth plugin also declares; same name and options so neither side conflicts.
const USERS_INDEX: &str = "appname_1_username_1";

/// What an editor user may do: everything, or look without deploying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permissions {
    All,
    Read,
}

/// An editor user before hashing.
#[derive(Debug, Clone)]
pub struct EditorUser {
    pub username: String,
    pub password: String,
    pub permissions: Permissions,
}

// === impl Permissions ===

impl Permissions {
    /// Node-RED's permission string.
    pub fn as_str(self) -> &'static str {
        match self {
            Permissions::All => "*",
            Permissions::Read => "read",
        }
    }
}

// === impl EditorUser ===

impl EditorUser {
    /// Check the user and turn it into the stored document (hashing is slow: call this off
    /// the async threads).
    pub fn to_record(&self, tenant: &str) -> Result<Document, TenantError> {
        let username = normalize_username(&self.username)?;
        let hash = hash_password(&self.password)?;
        Ok(doc! {
            "appname": tenant,
            "username": username,
            "permissions": self.permissions.as_str(),
            "password": hash,
        })
    }
}

/// Trimmed and lower-cased, as the auth plugin looks names up.
pub fn normalize_username(username: &str) -> Result<String, TenantError> {
    let name = username.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(TenantError::InvalidUser(format!(
            "invalid user name `{username}`: 1 to 64 printable characters"
        )));
    }
    Ok(name)
}

/// Insert an editor user record into the tenant's `users` collection.
pub fn insert(
    txn: &mut Txn<'_>,
    tenant: &str,
    record: Document,
) -> Result<Result<(), WriteConflict>, StoreError> {
    let (mut meta, _) = txn.ensure_collection(tenant, USERS)?;
    if meta.index(USERS_INDEX).is_none() {
        let index = IndexMeta {
            name: USERS_INDEX.to_string(),
            key: doc! {"appname": 1, "username": 1},
            unique: true,
            sparse: false,
            store: Some(txn.new_index_store()?),
        };
        if let Err(conflict) = txn.build_index(&meta, &index)? {
            return Ok(Err(conflict));
        }
        meta.indexes.push(index);
        txn.save_collection_meta(&meta)?;
    }
    let mut record = record;
    record.insert("_id", bson::oid::ObjectId::new());
    txn.insert_document(&meta, record)
}

/// A stored editor user, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    pub username: String,
    pub permissions: String,
}

/// A change to an existing editor user (hash the password off the async threads first).
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub password_hash: Option<String>,
    pub permissions: Option<Permissions>,
}

/// The tenant's editor users, sorted by name.
pub fn list(txn: &Txn<'_>, tenant: &str) -> Result<Vec<UserView>, StoreError> {
    let mut users: Vec<UserView> = records(txn, tenant)?
        .iter()
        .map(|record| UserView {
            username: record.get_str("username").unwrap_or_default().to_string(),
            permissions: record.get_str("permissions").unwrap_or("read").to_string(),
        })
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(users)
}

/// Apply `change` to user `username`; None when there is no such user.
pub fn update(
    txn: &mut Txn<'_>,
    tenant: &str,
    username: &str,
    change: UserChange,
) -> Result<Option<UserView>, StoreError> {
    let Some((meta, old)) = find(txn, tenant, username)? else {
        return Ok(None);
    };
    let mut new = old.clone();
    if let Some(hash) = change.password_hash {
        new.insert("password", hash);
    }
    if let Some(permissions) = change.permissions {
        new.insert("permissions", permissions.as_str());
    }
    let view = UserView {
        username: username.to_string(),
        permissions: new.get_str("permissions").unwrap_or("read").to_string(),
    };
    // Same username, same index key: no conflict is possible.
    let _ = txn.replace_document(&meta, &old, new)?;
    Ok(Some(view))
}

/// Remove user `username`; false when there is no such user.
pub fn remove(txn: &mut Txn<'_>, tenant: &str, username: &str) -> Result<bool, StoreError> {
    let Some((meta, record)) = find(txn, tenant, username)? else {
        return Ok(false);
    };
    txn.remove_document(&meta, &record);
    Ok(true)
}

fn records(txn: &Txn<'_>, tenant: &str) -> Result<Vec<Document>, StoreError> {
    let Some(meta) = txn.collection_meta(tenant, USERS)? else {
        return Ok(Vec::new());
    };
    Ok(txn
        .documents(&meta)?
        .into_iter()
        .filter(|record| record.get_str("appname") == Ok(tenant))
        .collect())
}

fn find(
    txn: &Txn<'_>,
    tenant: &str,
    username: &str,
) -> Result<Option<(CollectionMeta, Document)>, StoreError> {
    let Some(meta) = txn.collection_meta(tenant, USERS)? else {
        return Ok(None);
    };
    let record = txn.documents(&meta)?.into_iter().find(|record| {
        record.get_str("appname") == Ok(tenant) && record.get_str("username") == Ok(username)
    });
    Ok(record.map(|record| (meta, record)))
}

/// A bcrypt hash of a new password, after the length rule (slow: off the async threads).
pub fn hash_password(password: &str) -> Result<String, TenantError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(TenantError::InvalidUser(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| TenantError::Credentials(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_lower_cased() {
        assert_eq!(normalize_username("  Admin ").unwrap(), "admin");
        assert!(normalize_username("   ").is_err());
        assert!(normalize_username("a\nb").is_err());
    }

    #[test]
    fn records_hold_a_bcrypt_hash_not_the_password() {
        let user = EditorUser {
            username: "Admin".into(),
            password: "correct horse".into(),
            permissions: Permissions::Read,
        };
        let record = user.to_record("r1").unwrap();
        assert_eq!(record.get_str("username").unwrap(), "admin");
        assert_eq!(record.get_str("permissions").unwrap(), "read");
        let hash = record.get_str("password").unwrap();
        assert!(hash.starts_with("$2b$12$"), "{hash}");
        assert!(bcrypt::verify("correct horse", hash).unwrap());
        let short = EditorUser {
            password: "short".into(),
            ..user
        };
        assert!(short.to_record("r1").is_err());
    }
}
