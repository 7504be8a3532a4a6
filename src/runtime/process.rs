//! The process runtime: each tenant's Node-RED is a child of redhive, in its own cgroup
//! (memory, CPU quota, pids), its own session (so stop reaches every process it started),
//! a jail (see `jail`) and, when redhive runs as root, its own uid.

mod jail;

use super::cgroup::{self, TenantGroup};
use super::logs::{LogBuffer, LogStream};
use super::node_home::NodeHome;
use super::{
    free_port, remove_tenant_files, Exit, Instance, Kind, LaunchSpec, Runtime, RuntimeError, Usage,
};
use crate::config::Settings;
use async_trait::async_trait;
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

/// One launched tenant.
struct Child {
    pid: i32,
    group: TenantGroup,
    /// `None` while running; the exit once the reaper saw it.
    exit: watch::Receiver<Option<Exit>>,
}

pub struct ProcessRuntime {
    home: NodeHome,
    cgroup_parent: String,
    tenants_dir: PathBuf,
    jails_dir: PathBuf,
    /// Root can jail and drop privileges; anyone else runs tenants as itself, unjailed.
    isolated: bool,
    children: Mutex<HashMap<String, Child>>,
    logs: Mutex<HashMap<String, LogBuffer>>,
}

impl ProcessRuntime {
    pub fn new(settings: &Settings, budget: u64) -> Result<ProcessRuntime, RuntimeError> {
        let isolated = nix::unistd::geteuid().is_root();
        if !isolated {
            tracing::warn!("redhive is not root: process tenants run as this user, without a jail");
        }
        cgroup::ensure_parent(&settings.runtime.cgroup_parent, budget)?;
        Ok(ProcessRuntime {
            home: NodeHome::new(settings.runtime.node_home.clone()),
            cgroup_parent: settings.runtime.cgroup_parent.clone(),
            tenants_dir: settings.tenants_dir(),
            jails_dir: settings.run_dir().join("jail"),
            isolated,
            children: Mutex::default(),
            logs: Mutex::default(),
        })
    }

    fn group(&self, tenant: &str) -> TenantGroup {
        TenantGroup::at(format!("{}/{tenant}", self.cgroup_parent))
    }

    fn log_buffer(&self, tenant: &str) -> LogBuffer {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.entry(tenant.to_string()).or_default().clone()
    }

    fn take(&self, tenant: &str) -> Option<Child> {
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant)
    }

    fn exit_receiver(&self, tenant: &str) -> Option<watch::Receiver<Option<Exit>>> {
        let children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children.get(tenant).map(|child| child.exit.clone())
    }
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn kind(&self) -> Kind {
        Kind::Process
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Instance, RuntimeError> {
        let logs = self.log_buffer(&spec.tenant);
        let progress = |step: &str| {
            tracing::info!(tenant = %spec.tenant, step, "preparing Node-RED");
            logs.push(format!("[redhive] {step}"));
        };
        self.home.ensure(progress).await?;
        // A leftover of an earlier run (redhive killed) goes first: never two of a tenant.
        self.stop(&spec.tenant, Duration::ZERO).await?;
        let group = match TenantGroup::create(&self.cgroup_parent, &spec.tenant, &spec.limits) {
            Ok(group) => group,
            Err(error) if !self.isolated => {
                tracing::warn!(tenant = %spec.tenant, %error, "not root: the tenant runs without cgroup limits");
                self.group(&spec.tenant)
            }
            Err(error) => return Err(error),
        };
        group.kill_all().await;
        let owner = self.isolated.then_some(spec.uid);
        let user_dir = super::prepare_user_dir(&self.tenants_dir, &spec.tenant, owner)?;
        let mount_point = self.jails_dir.join(&spec.tenant);
        std::fs::create_dir_all(&mount_point)?;
        let port = free_port()?;
        let plan = jail::Plan::new(&jail::Layout {
            mount_point: &mount_point,
            node_dir: &self.home.node_dir(),
            node_red_dir: &self.home.node_red_dir(),
            user_dir: &user_dir,
            cgroup_procs: if group.exists() {
                group.procs_files()
            } else {
                Vec::new()
            },
            credentials: self.isolated.then_some((spec.uid, spec.uid)),
        })?;

        let node_red = self.home.node_red_dir();
        let (entrypoint, nr_home, user_dir_inside) = if self.isolated {
            (
                PathBuf::from("/usr/src/node-red/redhive/image/entrypoint.sh"),
                PathBuf::from("/usr/src/node-red"),
                PathBuf::from("/data"),
            )
        } else {
            (
                self.home.redhive_dir().join("image/entrypoint.sh"),
                node_red.clone(),
                user_dir.clone(),
            )
        };
        let mut command = Command::new("/bin/sh");
        command.arg(&entrypoint);
        if spec.safe_mode {
            command.arg("--safe");
        }
        let node_bin = if self.isolated {
            PathBuf::from("/usr/local/bin")
        } else {
            self.home.node_dir().join("bin")
        };
        command
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", format!("{}:/usr/bin:/bin", node_bin.display()))
            .env("HOME", &user_dir_inside)
            .env("REDHIVE_NR_HOME", &nr_home)
            .env("REDHIVE_USER_DIR", &user_dir_inside)
            .env("REDHIVE_UI_HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env(
                "REDHIVE_MEMORY_LIMIT_MB",
                spec.limits.memory_mib().to_string(),
            )
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: Plan::enter makes only async-signal-safe calls on memory prepared above.
        unsafe {
            command.pre_exec(move || plan.enter());
        }
        let oom_before = group.oom_kills();
        let mut child = command.spawn().map_err(|e| {
            RuntimeError::Launch(format!("cannot start Node-RED for {}: {e}", spec.tenant))
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or_default();
        for output in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(copy_lines(output, logs.clone()));
        }
        let (exit_sender, exit) = watch::channel(None);
        let reaped_group = group.clone();
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let exit = Exit {
                code: status.and_then(|s| s.code()).map(i64::from),
                signal: status.and_then(|s| s.signal()),
                oom: reaped_group.oom_kills() > oom_before,
            };
            let _ = exit_sender.send(Some(exit));
        });
        tracing::info!(tenant = %spec.tenant, pid, port, cgroup = %group.path, "launched Node-RED");
        let instance = Instance {
            port,
            id: pid.to_string(),
            cgroup: Some(group.path.clone()),
        };
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.tenant.clone(), Child { pid, group, exit });
        Ok(instance)
    }

    async fn adopt(&self, tenant: &str) -> Result<Option<Instance>, RuntimeError> {
        // Children of an earlier redhive cannot be waited for or logged: end them, and let
        // the supervisor start the tenant afresh.
        let group = self.group(tenant);
        if group.exists() && !group.pids().is_empty() {
            tracing::info!(tenant, "stopping processes left by an earlier redhive");
            group.kill_all().await;
        }
        Ok(None)
    }

    async fn wait(&self, tenant: &str) -> Result<Exit, RuntimeError> {
        let mut exit = self
            .exit_receiver(tenant)
            .ok_or_else(|| RuntimeError::NotRunning {
                tenant: tenant.to_string(),
            })?;
        let exit = exit
            .wait_for(Option::is_some)
            .await
            .map_err(|_| RuntimeError::NotRunning {
                tenant: tenant.to_string(),
            })?
            .clone();
        Ok(exit.expect("waited for Some"))
    }

    async fn stop(&self, tenant: &str, grace: Duration) -> Result<(), RuntimeError> {
        let Some(child) = self.take(tenant) else {
            return Ok(());
        };
        let mut exit = child.exit.clone();
        if exit.borrow().is_none() {
            // Node-RED stops its flows on SIGTERM; everything else in the session goes too.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = tokio::time::timeout(grace, exit.wait_for(Option::is_some)).await;
        }
        // Whatever is left, including processes that started sessions of their own.
        child.group.kill_all().await;
        let _ = exit.wait_for(Option::is_some).await;
        Ok(())
    }

    async fn remove(&self, tenant: &str) -> Result<(), RuntimeError> {
        self.stop(tenant, Duration::ZERO).await?;
        let group = self.group(tenant);
        group.kill_all().await;
        group.delete()?;
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
        let _ = std::fs::remove_dir(self.jails_dir.join(tenant));
        Ok(remove_tenant_files(&self.tenants_dir, tenant)?)
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, RuntimeError> {
        Ok(self.group(tenant).usage())
    }

    async fn logs(
        &self,
        tenant: &str,
        tail: usize,
        follow: bool,
    ) -> Result<LogStream, RuntimeError> {
        Ok(self.log_buffer(tenant).stream(tail, follow))
    }

    fn survives_restart(&self) -> bool {
        false
    }

    fn close(&self) {
        cgroup::remove_parent_if_empty(&self.cgroup_parent);
    }
}

async fn copy_lines(output: impl AsyncRead + Unpin, logs: LogBuffer) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.push(line);
    }
}
