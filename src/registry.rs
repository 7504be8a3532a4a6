//! The private npm registry: one Verdaccio beside redhive (a supervised child process, running
//! as its own uid), where an organisation publishes its Node-RED nodes under a private scope,
//! and the palette catalogue built from it, which every tenant's editor lists. Verdaccio tells
//! redhive about each publish (a webhook with a shared secret); redhive then re-reads the
//! registry and rebuilds the catalogue.

mod catalogue;
mod process;
mod sidecar;

pub use catalogue::{catalogue_response, Catalogue, Problem};
use catalogue::{catalogue_title, now};

use crate::appliance::ApplianceSettings;
use crate::config::Settings;
use crate::platform;
use crate::runtime::node_home::NodeHome;
use crate::supervisor::TenantEnv;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Node-RED's own catalogue, listed beside ours while the registry is online.
const OFFICIAL_CATALOGUE: &str = "https://catalogue.nodered.org/catalogue.json";
/// Where a tenant's editor finds our catalogue: its own host (the proxy answers this path).
pub const TENANT_CATALOGUE_PATH: &str = "/.redhive/catalogue.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Installing,
    Starting,
    Running,
    Crashed,
}

/// The sidecar as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub reason: Option<String>,
}

pub struct Registry {
    dir: PathBuf,
    home: NodeHome,
    listen: SocketAddr,
    /// How tenants reach it (the Docker bridge's gateway for containers).
    tenant_addr: SocketAddr,
    uid: Option<u32>,
    notify_url: String,
    secret: String,
    appliance: watch::Receiver<ApplianceSettings>,
    status: watch::Sender<Status>,
    catalogue: Mutex<(Arc<Catalogue>, Vec<Problem>)>,
    rebuild: Notify,
    http: Client<HttpConnector, Empty<Bytes>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    File(#[from] platform::FileError),
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
}

impl Registry {
    /// Prepare the registry's directory and secret; `run` starts Verdaccio.
    pub fn open(
        settings: &Settings,
        http: SocketAddr,
        tenant_addr: SocketAddr,
        appliance: watch::Receiver<ApplianceSettings>,
    ) -> Result<Arc<Registry>, RegistryError> {
        let dir = settings.data_dir.join("registry");
        let root = nix::unistd::geteuid().is_root();
        // Its own uid (the one below every tenant's), which may pass through the data
        // directory (0711: nothing listable) into its own.
        let uid = root.then_some(settings.runtime.uid_base);
        std::fs::create_dir_all(&dir).map_err(platform::file_error("create", &dir))?;
        if root {
            platform::open_for_services(settings)?;
            std::os::unix::fs::chown(&dir, uid, uid)
                .map_err(platform::file_error("chown", &dir))?;
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(platform::file_error("chmod", &dir))?;
        let secret = platform::secret(&settings.secrets_dir().join("registry-notify"))?;
        // The last catalogue built, so tenants' palettes have it before Verdaccio is up.
        let saved = std::fs::read(dir.join("catalogue.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_else(|| Catalogue {
                name: catalogue_title(&appliance.borrow()),
                updated_at: now(),
                modules: Vec::new(),
            });
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(Arc::new(Registry {
            dir,
            home: NodeHome::new(settings.runtime.node_home.clone()),
            listen: settings.registry.listen,
            tenant_addr,
            uid,
            notify_url: format!(
                "http://{}/api/registry/notify",
                crate::tenants::client_addr(http)
            ),
            secret,
            appliance,
            status: watch::Sender::new(Status {
                state: State::Installing,
                pid: None,
                restarts: 0,
                reason: None,
            }),
            catalogue: Mutex::new((Arc::new(saved), Vec::new())),
            rebuild: Notify::new(),
            http: Client::builder(TokioExecutor::new()).build(connector),
        }))
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Wait (up to `timeout`) until a Verdaccio other than `old_pid` runs or has failed.
    pub async fn restarted(&self, old_pid: Option<u32>, timeout: Duration) {
        let mut status = self.status.subscribe();
        let _ = tokio::time::timeout(
            timeout,
            status.wait_for(|s| {
                s.pid != old_pid && matches!(s.state, State::Running | State::Crashed)
            }),
        )
        .await;
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    pub fn problems(&self) -> Vec<Problem> {
        self.catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// The publishing account, if one is set.
    pub fn account(&self) -> Option<String> {
        sidecar::account(&self.dir.join(sidecar::HTPASSWD))
    }

    /// Is `presented` the notify secret?
    pub fn is_notify_secret(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(presented.as_bytes().ct_eq(self.secret.as_bytes()))
    }

    /// Rebuild the catalogue soon (a publish was announced).
    pub fn request_rebuild(&self) {
        self.rebuild.notify_one();
    }

    /// Set (or replace) the publishing account. Verdaccio reads the file at each login.
    pub async fn set_account(&self, username: &str, password: &str) -> Result<(), RegistryError> {
        let valid = !username.is_empty()
            && username.len() <= 64
            && username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !valid {
            return Err(RegistryError::Invalid(
                "the account name must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if password.chars().count() < crate::appliance::admins::MIN_PASSWORD_LEN {
            return Err(RegistryError::Invalid(format!(
                "the password must have at least {} characters",
                crate::appliance::admins::MIN_PASSWORD_LEN
            )));
        }
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, 10))
            .await
            .map_err(|e| RegistryError::Invalid(e.to_string()))?
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        self.write_owned(sidecar::HTPASSWD, &sidecar::htpasswd_line(username, &hash))
    }

    /// The host people publish to: the registry's address, or this machine's LAN address
    /// when it listens on all of them.
    pub fn public_host(&self) -> String {
        if self.listen.ip().is_unspecified() {
            if let Some(ip) = platform::lan_addresses().first() {
                return format!("{ip}:{}", self.listen.port());
            }
        }
        crate::tenants::client_addr(self.listen).to_string()
    }

    /// Write a file of Verdaccio's (owner only, owned by its uid).
    fn write_owned(&self, name: &str, contents: &str) -> Result<(), RegistryError> {
        let path = self.dir.join(name);
        platform::write_private(&path, contents.as_bytes())?;
        if self.uid.is_some() {
            std::os::unix::fs::chown(&path, self.uid, self.uid)
                .map_err(platform::file_error("chown", &path))?;
        }
        Ok(())
    }

    fn set_status(&self, change: impl FnOnce(&mut Status)) {
        self.status.send_modify(change);
    }
}

impl TenantEnv for Registry {
    /// Catalogues for the palette, and npm pointed at the registry: the scope only while
    /// online, everything while offline.
    fn env(&self) -> Vec<(String, String)> {
        let prefs = self.appliance.borrow().registry.clone();
        let url = format!("http://{}/", self.tenant_addr);
        let mut catalogues = vec![TENANT_CATALOGUE_PATH.to_string()];
        let npm = if prefs.online {
            catalogues.insert(0, OFFICIAL_CATALOGUE.to_string());
            (
                "REDHIVE_NPM_SCOPE_REGISTRY".to_string(),
                format!("@{}={url}", prefs.scope),
            )
        } else {
            ("REDHIVE_NPM_REGISTRY".to_string(), url)
        };
        vec![
            ("REDHIVE_CATALOGUES".to_string(), catalogues.join(",")),
            npm,
        ]
    }
}
