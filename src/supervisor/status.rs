//! What `tenant status` shows: the supervisor's view of one tenant.

use crate::runtime::limits::Limits;
use crate::runtime::{Exit, Kind};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Stopped,
    Starting,
    Running,
    /// Exited unexpectedly; waiting for its next restart.
    Crashed,
    /// Running with flows stopped, after a crash loop.
    SafeMode,
    Stopping,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Starting => "starting",
            State::Running => "running",
            State::Crashed => "crashed",
            State::SafeMode => "safe-mode",
            State::Stopping => "stopping",
        }
    }

    /// Holding memory: counts against the budget.
    pub fn is_active(self) -> bool {
        !matches!(self, State::Stopped)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LastExit {
    #[serde(flatten)]
    pub exit: Exit,
    /// RFC 3339.
    pub at: String,
    /// What happened, for people (kept after the tenant restarts).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageView {
    pub memory_bytes: u64,
    pub cpu_percent: f64,
    pub pids: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub name: String,
    pub state: State,
    /// Why it is in this state, when that is not obvious.
    pub reason: Option<String>,
    pub runtime: Kind,
    pub instance: String,
    pub url: Option<String>,
    /// The editor's loopback port while an instance runs (what the proxy dials).
    #[serde(skip)]
    pub port: Option<u16>,
    pub limits: Limits,
    pub usage: Option<UsageView>,
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    pub container: Option<String>,
    pub pid: Option<i64>,
    pub cgroup: Option<String>,
}

impl Status {
    /// Human-readable lines for the CLI.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("{}: {}", self.name, self.state.as_str())];
        if let Some(reason) = &self.reason {
            lines.push(format!("  reason:   {reason}"));
        }
        if let Some(url) = &self.url {
            lines.push(format!("  editor:   {url}"));
        }
        lines.push(format!("  runtime:  {}", self.runtime.as_str()));
        lines.push(format!("  limits:   {}", self.limits));
        if let Some(usage) = &self.usage {
            lines.push(format!(
                "  usage:    memory {} MiB ({:.0}% of limit), cpu {:.1}%, pids {}",
                usage.memory_bytes / (1024 * 1024),
                usage.memory_bytes as f64 * 100.0 / self.limits.memory_bytes as f64,
                usage.cpu_percent,
                usage.pids
            ));
        }
        if self.restarts > 0 {
            lines.push(format!("  restarts: {}", self.restarts));
        }
        if let Some(last) = &self.last_exit {
            lines.push(format!("  last exit: {} at {}", last.reason, last.at));
        }
        lines
    }
}
