//! Verdaccio's life: installed on first use, configured at each start, its readiness awaited,
//! restarted with backoff after a crash and at once when the admin's choices change, stopped
//! with SIGTERM.

use super::catalogue::catalogue_title;
use super::{sidecar, Registry, RegistryError, State};
use crate::appliance::{ApplianceSettings, RegistryPrefs};
use crate::platform;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Registry {
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
}

enum Outcome {
    Shutdown,
    Reconfigure,
    Failed(String),
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

fn path_with(bin: &std::path::Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())
}
