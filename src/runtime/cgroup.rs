//! Control groups for tenants, on cgroup v1 (this kind of build machine, hybrid mode) and v2
//! (Raspberry Pi OS). Layout, relative to each hierarchy's root:
//!
//! ```text
//! <parent>/            memory limit = the budget of all tenants together
//! <parent>/<tenant>    process runtime: memory (no swap), CPU quota, pids
//! <parent>/<container> docker runtime: made by the engine (CgroupParent)
//! ```
//!
//! cgroups-rs creates groups and writes limits; usage is read straight from the files, which
//! differ between versions in ways the crate's stats structs blur.

use super::limits::{Limits, CPU_PERIOD_US};
use super::{RuntimeError, Usage};
use cgroups_rs::{hierarchies, Cgroup, MaxValue};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONTROLLERS_V1: &[&str] = &["memory", "cpu", "cpuacct", "pids"];
const CONTROLLERS_V2: &[&str] = &["memory", "cpu", "pids"];
const ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Asked once: the layout is fixed at boot, and usage is read often.
pub fn version() -> Version {
    static VERSION: std::sync::OnceLock<Version> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        if hierarchies::is_cgroup2_unified_mode() {
            Version::V2
        } else {
            Version::V1
        }
    })
}

fn error(path: &str, reason: impl ToString) -> RuntimeError {
    RuntimeError::Cgroup {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn controllers() -> Vec<String> {
    let names = match version() {
        Version::V1 => CONTROLLERS_V1,
        Version::V2 => CONTROLLERS_V2,
    };
    names.iter().map(|s| s.to_string()).collect()
}

fn open(path: &str) -> Cgroup {
    Cgroup::load_with_specified_controllers(hierarchies::auto(), path, controllers())
}

/// Create (or reuse) a group and write its limits. `limits = None` only caps memory.
fn create(path: &str, memory: u64, limits: Option<&Limits>) -> Result<Cgroup, RuntimeError> {
    let cgroup =
        Cgroup::new_with_specified_controllers(hierarchies::auto(), path, Some(controllers()))
            .map_err(|e| error(path, e))?;
    let memory_controller: &cgroups_rs::memory::MemController = cgroup
        .controller_of()
        .ok_or(RuntimeError::MemoryCgroupDisabled)?;
    memory_controller
        .set_limit(memory as i64)
        .map_err(|e| error(path, format!("cannot set the memory limit: {e}")))?;
    // No swap on top of the limit: a tenant past its memory is killed, not slowed to a crawl.
    match version() {
        Version::V2 => {
            let _ = std::fs::write(dir(path).join("memory.swap.max"), "0");
        }
        Version::V1 => {
            let _ = memory_controller.set_memswap_limit(memory as i64);
        }
    }
    if let Some(limits) = limits {
        let cpu: &cgroups_rs::cpu::CpuController = cgroup
            .controller_of()
            .ok_or_else(|| error(path, "the cpu controller is not enabled"))?;
        cpu.set_cfs_quota_and_period(Some(limits.cpu_quota_us()), Some(CPU_PERIOD_US))
            .map_err(|e| error(path, format!("cannot set the CPU quota: {e}")))?;
        let pids: &cgroups_rs::pid::PidController = cgroup
            .controller_of()
            .ok_or_else(|| error(path, "the pids controller is not enabled"))?;
        pids.set_pid_max(MaxValue::Value(limits.pids as i64))
            .map_err(|e| error(path, format!("cannot set the process limit: {e}")))?;
    }
    Ok(cgroup)
}

/// The directory of `path` in the hierarchy holding `controller` (v2: the one hierarchy).
fn controller_dir(controller: &str, path: &str) -> PathBuf {
    match version() {
        Version::V1 => Path::new(ROOT).join(controller).join(path),
        Version::V2 => Path::new(ROOT).join(path),
    }
}

fn dir(path: &str) -> PathBuf {
    controller_dir("memory", path)
}

/// The group every tenant lives under; its memory limit is the tenants' budget. Without root
/// (a developer's laptop) there is no such group: tenants run, the budget is only admission.
/// Without the memory controller (a Raspberry Pi before `cgroup_enable=memory`) redhive runs
/// and tenants do not start, saying why.
pub fn ensure_parent(name: &str, budget: u64) -> Result<(), RuntimeError> {
    match create(name, budget, None) {
        Ok(_) => Ok(()),
        // redhive still serves (its UI and `doctor` say what to fix); tenants refuse to start.
        Err(RuntimeError::MemoryCgroupDisabled) => {
            tracing::error!("{}", RuntimeError::MemoryCgroupDisabled);
            Ok(())
        }
        Err(error) if !nix::unistd::geteuid().is_root() => {
            tracing::warn!(%error, "not root: no parent cgroup, so the memory budget is not enforced by the kernel");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Remove the parent group once no tenant is left in it (a stopped redhive leaves no trace;
/// running containers keep it, and the next start reuses it).
pub fn remove_parent_if_empty(name: &str) {
    let group = TenantGroup::at(name.to_string());
    if group.exists() && group.delete().is_ok() {
        tracing::debug!(cgroup = name, "removed the tenants' parent cgroup");
    }
}

/// One tenant's group under the parent.
#[derive(Debug, Clone)]
pub struct TenantGroup {
    pub path: String,
}

impl TenantGroup {
    pub fn create(
        parent: &str,
        tenant: &str,
        limits: &Limits,
    ) -> Result<TenantGroup, RuntimeError> {
        let path = format!("{parent}/{tenant}");
        create(&path, limits.memory_bytes, Some(limits))?;
        Ok(TenantGroup { path })
    }

    pub fn at(path: String) -> TenantGroup {
        TenantGroup { path }
    }

    /// The `cgroup.procs` files a new process writes itself into (one per v1 hierarchy).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        let names = match version() {
            Version::V1 => CONTROLLERS_V1,
            Version::V2 => &CONTROLLERS_V2[..1],
        };
        names
            .iter()
            .map(|c| controller_dir(c, &self.path).join("cgroup.procs"))
            .collect()
    }

    pub fn exists(&self) -> bool {
        dir(&self.path).exists()
    }

    pub fn pids(&self) -> Vec<i32> {
        let text = std::fs::read_to_string(controller_dir("pids", &self.path).join("cgroup.procs"))
            .unwrap_or_default();
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }

    pub fn usage(&self) -> Usage {
        let read = |controller: &str, file: &str| {
            std::fs::read_to_string(controller_dir(controller, &self.path).join(file))
                .unwrap_or_default()
        };
        let number = |text: String| text.trim().parse::<u64>().unwrap_or(0);
        match version() {
            Version::V1 => Usage {
                memory_bytes: number(read("memory", "memory.usage_in_bytes")),
                cpu_ns: number(read("cpuacct", "cpuacct.usage")),
                pids: number(read("pids", "pids.current")),
            },
            Version::V2 => Usage {
                memory_bytes: number(read("memory", "memory.current")),
                cpu_ns: keyed(&read("cpu", "cpu.stat"), "usage_usec") * 1000,
                pids: number(read("pids", "pids.current")),
            },
        }
    }

    /// How many times the kernel's OOM killer fired in this group.
    pub fn oom_kills(&self) -> u64 {
        let file = match version() {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        keyed(
            &std::fs::read_to_string(dir(&self.path).join(file)).unwrap_or_default(),
            "oom_kill",
        )
    }

    /// SIGKILL everything in the group, including processes that left the process group.
    pub async fn kill_all(&self) {
        let kill_file = dir(&self.path).join("cgroup.kill");
        if version() == Version::V2 && kill_file.exists() {
            let _ = std::fs::write(&kill_file, "1");
        }
        // v1 (and old v2 kernels): kill what is listed until nothing is left; a fork bomb
        // refills the list for a moment, the pids limit keeps it finite.
        for _ in 0..200 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tracing::warn!(cgroup = %self.path, "processes still listed after killing the group");
    }

    /// Remove the (empty) group.
    pub fn delete(&self) -> Result<(), RuntimeError> {
        if !self.exists() {
            return Ok(());
        }
        open(&self.path)
            .delete()
            .map_err(|e| error(&self.path, format!("cannot remove: {e}")))
    }
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control).
fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the memory controller is usable: the first thing limits need.
pub fn memory_controller_enabled() -> bool {
    let cgroups = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    cgroups.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.first() == Some(&"memory") && fields.get(3) == Some(&"1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(text, "oom_kill"), 3);
        assert_eq!(
            keyed("usage_usec 1500\nuser_usec 1000\n", "usage_usec"),
            1500
        );
        assert_eq!(keyed("", "oom_kill"), 0);
    }
}
