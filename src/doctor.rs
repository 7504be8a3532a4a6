//! `redhive doctor`: which runtime tenants get, and whether what their limits need is there
//! — with the fix for each thing that is not.

use crate::config::{RuntimeChoice, Settings};
use crate::runtime::limits::format_bytes;
use crate::runtime::node_home::NodeHome;
use crate::runtime::{cgroup, docker, memory_budget, total_memory};
use serde::Serialize;

mod appliance;

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// Still changing (e.g. the tenant image loading): worth asking again soon.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// The runtime `serve` would use now.
    pub runtime: &'static str,
    pub checks: Vec<Check>,
}

fn check(name: &'static str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok,
        detail: detail.into(),
        pending: false,
    }
}

/// Where Raspberry Pi OS keeps the kernel command line (Bookworm, then older releases).
const CMDLINE_FILES: &[&str] = &["/boot/firmware/cmdline.txt", "/boot/cmdline.txt"];

pub async fn run(settings: &Settings) -> Report {
    let mut checks = Vec::new();
    let docker = docker::open(settings).await.map(|engine| engine.probe);
    // The same choice as runtime::select.
    let runtime = match (settings.runtime.choice, &docker) {
        (RuntimeChoice::Docker, _) => "docker",
        (RuntimeChoice::Auto, Ok(probe)) if probe.has_tenant_image(settings) => "docker",
        _ => "process",
    };
    match &docker {
        Ok(probe) => {
            checks.push(check(
                "docker",
                true,
                format!("engine {} at {} (cgroup driver {})", probe.version, probe.host, probe.cgroup_driver),
            ));
            checks.push(tenant_image(settings, probe, runtime));
        }
        Err(error) => checks.push(check(
            "docker",
            settings.runtime.choice != RuntimeChoice::Docker,
            format!("no engine answers ({error}); tenants run as processes unless runtime.kind = \"docker\" (install docker.io and start it)"),
        )),
    }
    let version = cgroup::version();
    checks.push(check(
        "cgroups",
        true,
        match version {
            cgroup::Version::V1 => "cgroup v1 (hybrid)",
            cgroup::Version::V2 => "cgroup v2 (unified)",
        },
    ));
    let memory = cgroup::memory_controller_enabled();
    let cmdline = CMDLINE_FILES
        .iter()
        .find(|p| std::path::Path::new(p).exists());
    checks.push(check(
        "memory cgroup",
        memory,
        match (memory, cmdline) {
            (true, _) => "enabled: memory limits are enforced".to_string(),
            (false, Some(file)) => format!("disabled, so memory limits cannot be enforced: add `cgroup_enable=memory cgroup_memory=1` to the single line of {file} and reboot"),
            (false, None) => "disabled, so memory limits cannot be enforced: boot the kernel with cgroup_enable=memory".to_string(),
        },
    ));
    let root = nix::unistd::geteuid().is_root();
    checks.push(check(
        "privileges",
        root || runtime == "docker",
        if root {
            "running as root: process tenants get their own uid and a jail".to_string()
        } else {
            "not root: process tenants would run as this user without a jail or cgroup limits (run as root, or use docker)".to_string()
        },
    ));
    if runtime == "process" {
        let home = NodeHome::new(settings.runtime.node_home.clone());
        checks.push(check(
            "node-red",
            true,
            if home.is_ready() {
                format!("installed in {}", home.root().display())
            } else {
                format!("not installed yet: the first tenant start installs Node.js and Node-RED into {} with npm", home.root().display())
            },
        ));
    }
    let budget = memory_budget(settings);
    let total = total_memory();
    checks.push(check(
        "memory budget",
        budget <= total,
        format!(
            "{} for all tenants of {} RAM ({} tenants at the default {})",
            format_bytes(budget),
            format_bytes(total),
            budget / settings.runtime.tenant_defaults.memory_bytes.max(1),
            format_bytes(settings.runtime.tenant_defaults.memory_bytes)
        ),
    ));
    checks.extend(appliance::checks(settings));
    Report { runtime, checks }
}

fn tenant_image(settings: &Settings, probe: &docker::Probe, runtime: &str) -> Check {
    let image = &settings.runtime.image;
    let archive = &settings.runtime.image_archive;
    if let Some((path, state)) = docker::archive::state() {
        let mut load = check(
            "tenant image",
            !matches!(state, docker::archive::LoadState::Failed(_)),
            docker::archive::describe(path, &state),
        );
        load.pending = matches!(state, docker::archive::LoadState::Loading { .. });
        return load;
    }
    if probe.image_present {
        return check("tenant image", true, format!("{image} is present"));
    }
    if archive.is_file() {
        return check(
            "tenant image",
            true,
            format!(
                "{image} is missing; redhive loads it from {} when it starts",
                archive.display()
            ),
        );
    }
    check(
        "tenant image",
        runtime == "process",
        format!("{image} is missing: build it with custom-node-red/image/build-local.sh or `docker build -t {image} custom-node-red`, or `docker load` it"),
    )
}

/// The report as lines to print.
pub async fn report(settings: &Settings, json: bool) -> Vec<String> {
    let report = run(settings).await;
    if json {
        return vec![serde_json::to_string(&report).unwrap_or_default()];
    }
    let mut lines = vec![format!("runtime: {}", report.runtime)];
    for check in &report.checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        lines.push(format!("{mark} {:<14} {}", check.name, check.detail));
    }
    lines
}
