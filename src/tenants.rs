//! Tenants: names, provisioning of each tenant's database, database user and first editor
//! user, and the environment a tenant runtime is given.
//!
//! Tenant `r1` gets database `r1` and a SCRAM user `r1` (authSource `r1`) that may read and
//! write only that database. redhive keeps that user's generated password and the tenant's
//! credentialSecret in its platform data (unreachable over the wire) because it renders each
//! tenant runtime's environment from them.

pub mod editor;
pub mod runtime_state;

use crate::mongo::users;
use crate::store::{Store, StoreError, Txn};
use bson::doc;
use editor::EditorUser;
use std::net::SocketAddr;

/// The platform collection of tenants.
pub(crate) const TENANTS: &str = "sys_tenants";

/// Names a tenant may not take: system databases and names the appliance uses itself.
const RESERVED: &[&str] = &[
    "admin",
    "api",
    "catalogue",
    "config",
    "local",
    "localhost",
    "manager",
    "mongo",
    "mongodb",
    "redhive",
    "registry",
    "root",
    "www",
];

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("invalid tenant name `{name}`: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("tenant `{0}` already exists")]
    Exists(String),
    #[error("no tenant named `{0}` (create it with `redhive tenant add`)")]
    NotFound(String),
    #[error("{0}")]
    InvalidUser(String),
    #[error("tenant record of `{0}` is incomplete")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot derive credentials: {0}")]
    Credentials(String),
}

/// A provisioned tenant's database access.
#[derive(Debug, Clone)]
pub struct TenantDatabase {
    pub name: String,
    password: String,
}

// === impl TenantDatabase ===

impl TenantDatabase {
    /// `mongodb://NAME:SECRET@HOST:PORT/NAME?authSource=NAME`
    pub fn connection_string(&self, shim: SocketAddr) -> String {
        format!(
            "mongodb://{name}:{password}@{addr}/{name}?authSource={name}",
            name = self.name,
            password = self.password,
            addr = client_addr(shim),
        )
    }
}

/// A tenant name must be a DNS label (it becomes a host name): 1–63 characters of `a-z`,
/// `0-9` and `-`, starting with a letter and not ending with `-`, and not reserved.
pub fn validate_name(name: &str) -> Result<(), TenantError> {
    let invalid = |reason| {
        Err(TenantError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 63 {
        return invalid("it must be 1 to 63 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return invalid("use only lowercase letters, digits and '-'");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("it must start with a letter");
    }
    if name.ends_with('-') {
        return invalid("it must not end with '-'");
    }
    if RESERVED.contains(&name) {
        return invalid("the name is reserved");
    }
    Ok(())
}

/// Create tenant `name`: its database user (readWrite on its own database), its record, and
/// optionally its first editor user.
pub async fn add(
    store: &Store,
    name: &str,
    editor: Option<EditorUser>,
) -> Result<TenantDatabase, TenantError> {
    validate_name(name)?;
    let password = users::generate_password();
    let credential_secret = users::generate_password();
    // Hashing is deliberately slow: off the async threads.
    let (record, editor_record) = {
        let (name, password) = (name.to_string(), password.clone());
        tokio::task::spawn_blocking(move || {
            let record =
                users::new_record(&name, &name, &password, vec![users::read_write_role(&name)])
                    .map_err(|e| TenantError::Credentials(e.to_string()))?;
            let editor = editor.map(|e| e.to_record(&name)).transpose()?;
            Ok::<_, TenantError>((record, editor))
        })
        .await
        .map_err(|e| TenantError::Credentials(e.to_string()))??
    };
    let name = name.to_string();
    store
        .run(move |txn| {
            if exists(txn, &name)? {
                return Ok(Err(TenantError::Exists(name)));
            }
            txn.save_user(&record)?;
            txn.put(
                TENANTS,
                name.clone(),
                doc! {
                    "name": name.as_str(),
                    "mongo_password": password.as_str(),
                    "credential_secret": credential_secret,
                    "created": bson::DateTime::now(),
                },
            );
            if let Some(editor_record) = editor_record {
                if editor::insert(txn, &name, editor_record)?.is_err() {
                    txn.rollback();
                    return Ok(Err(TenantError::InvalidUser(
                        "that editor user exists already".into(),
                    )));
                }
            }
            Ok(Ok(TenantDatabase { name, password }))
        })
        .await?
}

/// The environment a runtime of tenant `name` is given (custom-node-red/settings.js reads
/// it), with the shim at `shim`.
pub async fn runtime_env(
    store: &Store,
    name: &str,
    shim: SocketAddr,
) -> Result<Vec<(String, String)>, TenantError> {
    let lookup = name.to_string();
    let record = store
        .run(move |txn| txn.get(TENANTS, &lookup))
        .await?
        .ok_or_else(|| TenantError::NotFound(name.to_string()))?;
    let field = |key: &str| {
        record
            .get_str(key)
            .map(str::to_string)
            .map_err(|_| TenantError::Corrupt(name.to_string()))
    };
    let database = TenantDatabase {
        name: name.to_string(),
        password: field("mongo_password")?,
    };
    let theme = runtime_state::decode(&record, name)
        .theme
        .unwrap_or_default();
    let mut env = vec![
        ("APP_NAME".into(), name.to_string()),
        ("MONGO_URL".into(), database.connection_string(shim)),
        (
            "NODE_RED_CREDENTIAL_SECRET".into(),
            field("credential_secret")?,
        ),
        (
            "REDHIVE_TITLE".into(),
            theme.title.unwrap_or_else(|| name.to_string()),
        ),
    ];
    env.extend(theme.logo.map(|logo| ("REDHIVE_LOGO".into(), logo)));
    env.extend(theme.css.map(|css| ("REDHIVE_CSS".into(), css)));
    Ok(env)
}

/// Every tenant's name, sorted.
pub async fn list(store: &Store) -> Result<Vec<String>, TenantError> {
    Ok(store
        .run(|txn| txn.scan(TENANTS))
        .await?
        .into_keys()
        .collect())
}

/// Delete the tenant's record, database user and database (its runtime must be gone first).
pub async fn remove(store: &Store, name: &str) -> Result<(), TenantError> {
    let name = name.to_string();
    store
        .run(move |txn| {
            if txn.get(TENANTS, &name)?.is_none() {
                return Ok(Err(TenantError::NotFound(name)));
            }
            for meta in txn.collection_metas(Some(&name))? {
                txn.drop_collection(&meta);
            }
            txn.delete_user(&name, &name);
            txn.delete(TENANTS, name);
            Ok(Ok(()))
        })
        .await?
}

fn exists(txn: &Txn<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(txn.get(TENANTS, name)?.is_some() || txn.user(name, name)?.is_some())
}

/// The address a client on this machine dials: a wildcard bind is reached on loopback.
pub fn client_addr(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        for good in ["r1", "team-a", "a", &"x".repeat(63)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "R1",
            "1r",
            "r_1",
            "r1-",
            "a.b",
            "admin",
            "config",
            &"x".repeat(64),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_strings_dial_loopback_for_wildcard_binds() {
        let t = TenantDatabase {
            name: "r1".into(),
            password: "pw".into(),
        };
        assert_eq!(
            t.connection_string("0.0.0.0:27017".parse().unwrap()),
            "mongodb://r1:pw@127.0.0.1:27017/r1?authSource=r1"
        );
    }
}
