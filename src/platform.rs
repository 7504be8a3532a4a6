//! The platform's own database principal (root) and the files that hand its secret to the
//! administrator: `<data-dir>/secrets/mongo-root.uri`, readable by the owner only.

use crate::config::Settings;
use crate::mongo::users;
use crate::store::{Store, StoreError};
use crate::tenants::client_addr;
use bson::doc;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const META: &str = "sys_meta";
const ROOT_KEY: &str = "root";
const ROOT_USER: &str = "root";
const ROOT_URI_FILE: &str = "mongo-root.uri";
const INSTANCE_KEY: &str = "instance";
const FAKE_SALT_KEY: &str = "scram_fake_salt_secret";

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot derive root credentials: {0}")]
    Credentials(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Create the data directory (owner-only) if needed.
pub fn prepare_data_dir(settings: &Settings) -> Result<(), PlatformError> {
    for dir in [&settings.data_dir, &settings.secrets_dir()] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| PlatformError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

/// Make sure the root principal exists, and (re)write its connection string for `shim`.
pub async fn ensure_root(
    store: &Store,
    settings: &Settings,
    shim: SocketAddr,
) -> Result<PathBuf, PlatformError> {
    let known = store
        .run(|txn| {
            Ok(txn
                .get(META, ROOT_KEY)?
                .and_then(|d| d.get_str("password").ok().map(str::to_string)))
        })
        .await?;
    let password = match known {
        Some(password) => password,
        None => create_root(store).await?,
    };
    let uri = format!(
        "mongodb://{ROOT_USER}:{password}@{}/?authSource=admin\n",
        client_addr(shim)
    );
    let path = settings.secrets_dir().join(ROOT_URI_FILE);
    write_private(&path, uri.as_bytes())?;
    Ok(path)
}

/// The key of the fake SCRAM salts answered for unknown users. Kept across restarts: a salt
/// that changed with every restart would tell unknown users from real ones.
pub async fn fake_salt_secret(store: &Store) -> Result<[u8; 32], PlatformError> {
    let secret = store
        .run(|txn| {
            let stored = txn
                .get(META, FAKE_SALT_KEY)?
                .and_then(|d| match d.get("secret") {
                    Some(bson::Bson::Binary(b)) => <[u8; 32]>::try_from(b.bytes.as_slice()).ok(),
                    _ => None,
                });
            if let Some(secret) = stored {
                return Ok(secret);
            }
            let secret: [u8; 32] = rand::random();
            let binary = bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: secret.to_vec(),
            };
            txn.put(META, FAKE_SALT_KEY.to_string(), doc! {"secret": binary});
            Ok(secret)
        })
        .await?;
    Ok(secret)
}

/// This appliance's id: 8 hex digits, made once. It labels the Docker containers this
/// redhive owns, so two redhives on one engine never take each other's tenants.
pub async fn instance_id(store: &Store) -> Result<String, PlatformError> {
    let id = store
        .run(|txn| {
            if let Some(id) = txn
                .get(META, INSTANCE_KEY)?
                .and_then(|d| d.get_str("id").ok().map(str::to_string))
            {
                return Ok(id);
            }
            let id = format!("{:08x}", rand::random::<u32>());
            txn.put(META, INSTANCE_KEY.to_string(), doc! {"id": id.as_str()});
            Ok(id)
        })
        .await?;
    Ok(id)
}

async fn create_root(store: &Store) -> Result<String, PlatformError> {
    let password = users::generate_password();
    let record = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            users::new_record("admin", ROOT_USER, &password, vec![users::root_role()])
        })
        .await
        .map_err(|e| PlatformError::Credentials(e.to_string()))?
        .map_err(|e| PlatformError::Credentials(e.to_string()))?
    };
    let stored = password.clone();
    store
        .run(move |txn| {
            txn.save_user(&record)?;
            txn.put(META, ROOT_KEY.to_string(), doc! {"password": stored});
            Ok(())
        })
        .await?;
    tracing::info!("created the platform's root database principal");
    Ok(password)
}

/// A file operation that failed, and on what.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}")]
pub struct FileError {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// `map_err` for a file operation: `.map_err(file_error("create", &dir))`.
pub fn file_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError {
        action,
        path,
        source,
    }
}

/// Let services running under their own uids (the registry) pass through the data directory
/// to their own: 0711 lists nothing, and the store and secrets stay owner-only.
pub fn open_for_services(settings: &Settings) -> Result<(), PlatformError> {
    use std::os::unix::fs::PermissionsExt;
    for (dir, mode) in [
        (settings.data_dir.clone(), 0o711),
        (settings.store_dir(), 0o700),
        (settings.secrets_dir(), 0o700),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .map_err(|source| PlatformError::Write { path: dir, source })?;
    }
    Ok(())
}

/// A random secret kept in `path` (made the first time).
pub fn secret(path: &Path) -> Result<String, PlatformError> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        if existing.trim().len() >= 32 {
            return Ok(existing.trim().to_string());
        }
    }
    let secret = users::generate_password();
    write_private(path, secret.as_bytes())?;
    Ok(secret)
}

/// Write a file only its owner can read, replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PlatformError> {
    let error = |source| PlatformError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(error)?;
    file.write_all(contents).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&tmp, path).map_err(error)
}

/// Interfaces that are not the LAN: container bridges and their ends.
const INNER_INTERFACES: &[&str] = &["docker", "br-", "veth", "virbr", "cni", "flannel"];

/// This machine's IPv4 addresses on its networks (not loopback, not container bridges), for
/// people and mDNS.
pub fn lan_addresses() -> Vec<std::net::Ipv4Addr> {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut addresses: Vec<std::net::Ipv4Addr> = interfaces
        .filter(|interface| {
            !INNER_INTERFACES
                .iter()
                .any(|prefix| interface.interface_name.starts_with(prefix))
        })
        .filter_map(|interface| interface.address?.as_sockaddr_in().map(|a| a.ip()))
        .filter(|ip| !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}
