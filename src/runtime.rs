//! Tenant runtimes: where a tenant's Node-RED actually runs. One trait, two implementations —
//! Docker containers (`docker`) and jailed child processes in their own cgroups (`process`).
//! The supervisor (`crate::supervisor`) drives either through [`Runtime`] and owns all policy:
//! restarts, crash loops, admission. A runtime only launches, stops, waits and measures.

pub mod cgroup;
pub mod docker;
pub mod limits;
pub mod logs;
pub mod node_home;
pub mod process;

use crate::config::{RuntimeChoice, Settings};
use async_trait::async_trait;
use limits::Limits;
use logs::LogStream;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything needed to launch one tenant's Node-RED.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub tenant: String,
    /// From provisioning (`tenants::runtime_env`): APP_NAME, MONGO_URL, credential secret...
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    /// Start Node-RED with `--safe`: editor up, flows not started.
    pub safe_mode: bool,
    /// Process runtime: the tenant's own uid/gid (when redhive runs as root).
    pub uid: u32,
}

/// A launched tenant.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// Loopback port of the editor.
    pub port: u16,
    /// Container id (docker) or main pid (process).
    pub id: String,
    /// cgroup path relative to the hierarchy root, when known.
    pub cgroup: Option<String>,
}

/// How a tenant's Node-RED ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exit {
    pub code: Option<i64>,
    pub signal: Option<i32>,
    /// Killed by the kernel for going past its memory limit.
    pub oom: bool,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.oom, self.code, self.signal) {
            (true, _, _) => write!(f, "killed: out of memory"),
            (_, _, Some(signal)) => write!(f, "killed by signal {signal}"),
            (_, Some(code), _) => write!(f, "exited with code {code}"),
            _ => write!(f, "ended"),
        }
    }
}

/// Resource usage right now.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub memory_bytes: u64,
    /// CPU time used since the start, in nanoseconds (rates come from two samples).
    pub cpu_ns: u64,
    pub pids: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the tenant image `{image}` is not in the Docker engine: build it with `custom-node-red/image/build-local.sh` (offline) or `docker build -t {image} custom-node-red`, or load it with `docker load`, then set runtime.image if its tag differs")]
    ImageMissing { image: String },
    #[error("cannot load the tenant image from runtime.image_archive: {0}")]
    ImageLoad(String),
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("the kernel's memory cgroup is disabled, so tenants' memory cannot be limited: on a Raspberry Pi add `cgroup_enable=memory cgroup_memory=1` to cmdline.txt and reboot (see `redhive doctor`)")]
    MemoryCgroupDisabled,
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: String, reason: String },
    #[error("cannot launch Node-RED: {0}")]
    Launch(String),
    #[error("Node-RED is not installed for the process runtime: {0}")]
    NodeHome(String),
    #[error("{tenant} has no running instance")]
    NotRunning { tenant: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl RuntimeError {
    /// Retrying will not help until someone acts (builds the image, installs npm...).
    pub fn needs_action(&self) -> bool {
        matches!(
            self,
            RuntimeError::ImageMissing { .. }
                | RuntimeError::ImageLoad(_)
                | RuntimeError::NodeHome(_)
                | RuntimeError::MemoryCgroupDisabled
        )
    }
}

/// The two kinds, for status and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Docker,
    Process,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Process => "process",
        }
    }
}

#[async_trait]
pub trait Runtime: Send + Sync {
    fn kind(&self) -> Kind;

    /// Where the tenant reaches the shim that listens at `local` on this host.
    fn shim_addr(&self, local: SocketAddr) -> SocketAddr {
        local
    }

    /// Launch the tenant (replacing any stopped leftover of it). Returns once launched,
    /// not once Node-RED answers: readiness is the supervisor's health check.
    async fn launch(&self, spec: &LaunchSpec) -> Result<Instance, RuntimeError>;

    /// An instance of `tenant` still running from before redhive's restart, if any.
    async fn adopt(&self, tenant: &str) -> Result<Option<Instance>, RuntimeError>;

    /// Wait until the instance ends.
    async fn wait(&self, tenant: &str) -> Result<Exit, RuntimeError>;

    /// SIGTERM, then SIGKILL after `grace`; everything of the tenant is gone afterwards
    /// except what `remove` deletes.
    async fn stop(&self, tenant: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Delete every trace (container, cgroup, files the runtime made).
    async fn remove(&self, tenant: &str) -> Result<(), RuntimeError>;

    async fn usage(&self, tenant: &str) -> Result<Usage, RuntimeError>;

    /// The last `tail` lines of output, then (with `follow`) new lines as they come.
    async fn logs(
        &self,
        tenant: &str,
        tail: usize,
        follow: bool,
    ) -> Result<LogStream, RuntimeError>;

    /// What redhive leaves running when it stops: docker tenants survive and are adopted.
    fn survives_restart(&self) -> bool;

    /// redhive stops; every tenant has been stopped or left running already.
    fn close(&self) {}
}

/// The tenant's Node-RED userDir, `<tenants>/<tenant>/data`: created if needed, closed to
/// everyone but `owner` (the uid the tenant runs as; None = redhive's own). The directories
/// above it are 0711, so a tenant can pass through to its own and list nothing.
pub fn prepare_user_dir(
    tenants_dir: &std::path::Path,
    tenant: &str,
    owner: Option<u32>,
) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let tenant_dir = tenants_dir.join(tenant);
    let user_dir = tenant_dir.join("data");
    std::fs::create_dir_all(&user_dir)?;
    for (dir, mode) in [
        (tenants_dir, 0o711),
        (&tenant_dir, 0o711),
        (&user_dir, 0o700),
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    if owner.is_some() {
        chown_tree(&user_dir, owner)?;
    }
    Ok(user_dir)
}

/// Delete everything under `<tenants>/<tenant>` (the userDir and what the runtime put there).
pub fn remove_tenant_files(tenants_dir: &std::path::Path, tenant: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(tenants_dir.join(tenant)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// A loopback port free right now (the kernel's pick).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn chown_tree(path: &std::path::Path, uid: Option<u32>) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, uid, uid)?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// The runtime from configuration; `auto` takes Docker when an engine answers and has the
/// tenant image, else processes. `instance` labels this redhive's containers; `budget` caps all tenants' memory.
pub async fn select(
    settings: &Settings,
    instance: &str,
    budget: u64,
) -> Result<Arc<dyn Runtime>, RuntimeError> {
    let docker = |engine| docker::DockerRuntime::new(engine, settings, instance, budget);
    let process = || process::ProcessRuntime::new(settings, budget);
    Ok(match settings.runtime.choice {
        RuntimeChoice::Docker => Arc::new(docker(docker::open(settings).await?).await?),
        RuntimeChoice::Process => Arc::new(process()?),
        RuntimeChoice::Auto => match docker::open(settings).await {
            Ok(engine) if engine.probe.has_tenant_image(settings) => {
                Arc::new(docker(engine).await?)
            }
            Ok(_) => {
                tracing::info!(image = %settings.runtime.image, "Docker answers but has no tenant image; tenants run as processes (build the image, or set runtime.kind = \"docker\" to be told how)");
                Arc::new(process()?)
            }
            Err(error) => {
                tracing::info!(%error, "no Docker engine answers; tenants run as processes");
                Arc::new(process()?)
            }
        },
    })
}

/// Memory all tenants together may have: configured, or all RAM but 1 GiB for the system
/// (at least 256 MiB).
pub fn memory_budget(settings: &Settings) -> u64 {
    settings
        .runtime
        .memory_budget
        .unwrap_or_else(|| total_memory().saturating_sub(1 << 30).max(256 << 20))
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}
