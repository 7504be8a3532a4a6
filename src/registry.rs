//! The private npm registry: one Verdaccio beside redhive (a supervised child process, running
//! as its own uid), where an organisation publishes its Node-RED nodes under a private scope,
//! and the palette catalogue built from it, which every tenant's editor lists. Verdaccio tells
//! redhive about each publish (a webhook with a shared secret); redhive then re-reads the
//! registry and rebuilds the catalogue.

mod catalogue;
mod sidecar;

pub use catalogue::{Catalogue, Problem};

use crate::appliance::{ApplianceSettings, RegistryPrefs};
use crate::config::Settings;
use crate::platform;
use crate::runtime::node_home::NodeHome;
use crate::supervisor::TenantEnv;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// Node-RED's own catalogue, listed beside ours while the registry is online.
const OFFICIAL_CATALOGUE: &str = "https://catalogue.nodered.org/catalogue.json";
/// Where a tenant's editor finds our catalogue: its own host (the proxy answers this path).
pub const TENANT_CATALOGUE_PATH: &str = "/.redhive/catalogue.json";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Publishes arriving together are one rebuild.
const REBUILD_SETTLE: Duration = Duration::from_millis(300);
const STOP_GRACE: Duration = Duration::from_secs(5);
const SEARCH_PAGE: usize = 250;

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

    /// The catalogue now, rebuilt from the registry.
    pub async fn rebuild_now(&self) -> Result<(), String> {
        let title = catalogue_title(&self.appliance.borrow());
        let base = format!("http://{}", crate::tenants::client_addr(self.listen));
        let mut names = Vec::new();
        for from in (0..).step_by(SEARCH_PAGE) {
            let page = self
                .get_json(&format!(
                    "{base}/-/v1/search?text=&size={SEARCH_PAGE}&from={from}"
                ))
                .await?;
            let found = catalogue::search_names(&page);
            let done = found.len() < SEARCH_PAGE;
            names.extend(found);
            if done {
                break;
            }
        }
        names.sort();
        names.dedup();
        let details = format!("http://{}/-/web/detail/", self.public_host());
        let (mut modules, mut problems) = (Vec::new(), Vec::new());
        for name in names {
            let packument = match self
                .get_json(&format!("{base}/{}", name.replace('/', "%2f")))
                .await
            {
                Ok(doc) => doc,
                Err(problem) => {
                    problems.push(Problem {
                        package: name,
                        problem,
                    });
                    continue;
                }
            };
            match catalogue::module(&packument, &details) {
                Ok(Some(module)) => modules.push(module),
                Ok(None) => {}
                Err(problem) => {
                    tracing::warn!(package = %name, %problem, "package left out of the catalogue");
                    problems.push(Problem {
                        package: name,
                        problem,
                    });
                }
            }
        }
        let built = Catalogue {
            name: title,
            updated_at: now(),
            modules,
        };
        tracing::info!(
            modules = built.modules.len(),
            problems = problems.len(),
            "catalogue rebuilt"
        );
        let json = serde_json::to_vec_pretty(&built).expect("plain fields serialize");
        if let Err(error) = platform::write_private(&self.dir.join("catalogue.json"), &json) {
            tracing::warn!(%error, "cannot save the catalogue");
        }
        *self.catalogue.lock().unwrap_or_else(|e| e.into_inner()) = (Arc::new(built), problems);
        Ok(())
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

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let response = tokio::time::timeout(Duration::from_secs(20), self.http.get(uri))
            .await
            .map_err(|_| "the registry did not answer in 20 s".to_string())?
            .map_err(|e| format!("the registry did not answer: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("the registry answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("the registry's answer is not JSON: {e}"))
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

    /// Keep Verdaccio running until `shutdown`: install on first use, restart after a crash
    /// (with backoff) or when the admin's choices change, rebuild the catalogue when asked.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tokio::spawn(self.clone().rebuild_on_request(shutdown.clone()));
        let mut appliance = self.appliance.clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            self.set_status(|s| s.state = State::Installing);
            let installed = self
                .home
                .ensure_verdaccio(|step| tracing::info!(step, "registry"))
                .await;
            let outcome = match installed {
                Ok(()) => self.run_once(&mut appliance, &shutdown).await,
                Err(error) => Outcome::Failed(format!("cannot install Verdaccio: {error}")),
            };
            match outcome {
                Outcome::Shutdown => return,
                Outcome::Reconfigure => backoff = FIRST_BACKOFF,
                Outcome::Failed(reason) => {
                    tracing::error!(%reason, "registry sidecar failed; restarting");
                    self.set_status(|s| {
                        s.state = State::Crashed;
                        s.pid = None;
                        s.restarts += 1;
                        s.reason = Some(reason);
                    });
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn run_once(
        &self,
        appliance: &mut watch::Receiver<ApplianceSettings>,
        shutdown: &CancellationToken,
    ) -> Outcome {
        let prefs: RegistryPrefs = appliance.borrow_and_update().registry.clone();
        if let Err(error) = self.write_config(&prefs).await {
            return Outcome::Failed(error.to_string());
        }
        let mut child = match self.spawn() {
            Ok(child) => child,
            Err(error) => return Outcome::Failed(format!("cannot start Verdaccio: {error}")),
        };
        let pid = child.id();
        self.set_status(|s| {
            s.state = State::Starting;
            s.pid = pid;
        });
        let ping = format!("http://{}/-/ping", crate::tenants::client_addr(self.listen));
        let ready = async {
            let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
            while tokio::time::Instant::now() < deadline {
                if self.get_json(&ping).await.is_ok() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        };
        tokio::select! {
            ok = ready => {
                if !ok {
                    let _ = child.kill().await;
                    return Outcome::Failed(format!("Verdaccio did not answer on {} within {} s", self.listen, READY_TIMEOUT.as_secs()));
                }
            }
            exit = child.wait() => {
                return Outcome::Failed(format!("Verdaccio exited while starting ({})", describe(exit)));
            }
            _ = shutdown.cancelled() => {
                stop(&mut child).await;
                return Outcome::Shutdown;
            }
        }
        tracing::info!(listen = %self.listen, pid, online = prefs.online, scope = %prefs.scope, "registry is ready");
        self.set_status(|s| {
            s.state = State::Running;
            s.reason = None;
        });
        self.request_rebuild();
        loop {
            tokio::select! {
                exit = child.wait() => {
                    return Outcome::Failed(format!("Verdaccio exited ({})", describe(exit)));
                }
                changed = appliance.changed() => {
                    if changed.is_err() || appliance.borrow_and_update().registry == prefs {
                        continue;
                    }
                    tracing::info!("registry settings changed; restarting Verdaccio");
                    stop(&mut child).await;
                    return Outcome::Reconfigure;
                }
                _ = shutdown.cancelled() => {
                    stop(&mut child).await;
                    return Outcome::Shutdown;
                }
            }
        }
    }

    async fn write_config(&self, prefs: &RegistryPrefs) -> Result<(), RegistryError> {
        let uplink = if prefs.online {
            self.uplink().await
        } else {
            None
        };
        let mut listen = vec![self.listen];
        if self.tenant_addr.ip() != self.listen.ip() && !self.listen.ip().is_unspecified() {
            listen.push(self.tenant_addr);
        }
        let title = catalogue_title(&self.appliance.borrow());
        let yaml = sidecar::config(&sidecar::ConfigInput {
            title: &title,
            listen: &listen,
            prefs,
            uplink: uplink.as_deref(),
            notify_url: &self.notify_url,
            notify_secret: &self.secret,
        });
        self.write_owned(sidecar::CONFIG, &yaml)?;
        if !self.dir.join(sidecar::HTPASSWD).exists() {
            self.write_owned(sidecar::HTPASSWD, "")?;
        }
        // Verdaccio looks for plugins there (it has none) and warns when it is missing.
        let plugins = self.dir.join("plugins");
        if !plugins.exists() {
            std::fs::create_dir(&plugins).map_err(platform::file_error("create", &plugins))?;
            if self.uid.is_some() {
                let _ = std::os::unix::fs::chown(&plugins, self.uid, self.uid);
            }
        }
        Ok(())
    }

    /// The public registry npm uses on this machine (what online means); None when npm
    /// cannot say, and then online is offline, which is logged.
    async fn uplink(&self) -> Option<String> {
        // The npm that installed the node home (the system's), with its configuration.
        let path = std::env::var("PATH").unwrap_or_default();
        let output = tokio::process::Command::new("npm")
            .args(["config", "get", "registry"])
            .env("PATH", format!("{}:{path}", self.home.node_bin().display()))
            .output()
            .await;
        let url = match &output {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
            _ => String::new(),
        };
        if !url.starts_with("http") {
            tracing::warn!(
                "npm does not name a public registry: the private registry has no uplink"
            );
            return None;
        }
        Some(url)
    }

    fn spawn(&self) -> std::io::Result<tokio::process::Child> {
        let mut command = tokio::process::Command::new(self.home.node_bin().join("node"));
        command
            .arg(self.home.verdaccio_main())
            .arg("--config")
            .arg(self.dir.join(sidecar::CONFIG))
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", path_with(&self.home.node_bin()))
            .env("HOME", &self.dir)
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(uid) = self.uid {
            command.uid(uid).gid(uid);
        }
        let mut child = command.spawn()?;
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "redhive::registry::verdaccio", "{line}");
                }
            });
        }
        Ok(child)
    }

    async fn rebuild_on_request(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.rebuild.notified() => {}
            }
            tokio::time::sleep(REBUILD_SETTLE).await;
            if self.status.borrow().state != State::Running {
                continue;
            }
            if let Err(error) = self.rebuild_now().await {
                tracing::warn!(%error, "cannot rebuild the catalogue");
            }
        }
    }
}

/// The catalogue as Node-RED's palette manager fetches it, from any origin.
pub fn catalogue_response(registry: Option<&Registry>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = [
        (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (axum::http::header::CACHE_CONTROL, "no-cache"),
    ];
    match registry {
        Some(registry) => (headers, axum::Json(&*registry.catalogue())).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            headers,
            axum::Json(serde_json::json!({"error": "the private registry is off"})),
        )
            .into_response(),
    }
}

enum Outcome {
    Shutdown,
    Reconfigure,
    Failed(String),
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

async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn describe(exit: std::io::Result<std::process::ExitStatus>) -> String {
    match exit {
        Ok(status) => status.to_string(),
        Err(error) => error.to_string(),
    }
}

fn catalogue_title(settings: &ApplianceSettings) -> String {
    format!("{} private nodes", settings.name)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn path_with(bin: &std::path::Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())
}
