//! Settings: compiled-in defaults, then a TOML file, then `REDHIVE_*` environment variables,
//! then command-line flags — each layer overriding the one before.

use crate::runtime::limits::{self, Limits};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATA_DIR: &str = "redhive-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MONGO_LISTEN: &str = "127.0.0.1:27017";
/// When the default shim port is taken (a MongoDB already runs on this laptop), try the next
/// ports up to this many before giving up. Explicitly configured ports are never moved.
pub const MONGO_PORT_FALLBACKS: u16 = 10;
const FILE_NAME: &str = "redhive.toml";

/// The effective settings of one redhive process.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub mongo: MongoSettings,
    pub runtime: RuntimeSettings,
    pub front: FrontSettings,
    pub registry: RegistrySettings,
}

/// The private npm registry sidecar.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrySettings {
    pub enabled: bool,
    /// Where Verdaccio listens (tenants and `npm publish` reach it there).
    pub listen: SocketAddr,
}

pub const DEFAULT_REGISTRY_PORT: u16 = 4873;

/// The HTTP front beyond its address.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontSettings {
    /// Advertise `<name>.local` and the tenants' names on the LAN.
    pub mdns: MdnsChoice,
    /// Tenant N (in creation order) also answers on port `base + N` of the HTTP address, for
    /// clients that resolve no `.local` names (Android browsers). None = off.
    pub tenant_ports: Option<u16>,
    /// HTTPS address (same routes as HTTP); None = no HTTPS.
    pub https_listen: Option<SocketAddr>,
}

/// Tenant ports start above this when the front listens on the LAN (and off on loopback,
/// where `<tenant>.localhost` always resolves).
pub const DEFAULT_TENANT_PORT_BASE: u16 = 8100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdnsChoice {
    /// On when the HTTP listener is reachable from the LAN (not bound to loopback).
    Auto,
    On,
    Off,
}

impl FrontSettings {
    /// The port of tenant number `number` (1, 2, ...), when tenant ports are on.
    pub fn tenant_port(&self, number: u32) -> Option<u16> {
        let port = u32::from(self.tenant_ports?) + number;
        u16::try_from(port).ok()
    }

    pub fn mdns_enabled(&self, http: SocketAddr) -> bool {
        match self.mdns {
            MdnsChoice::Auto => !http.ip().is_loopback(),
            MdnsChoice::On => true,
            MdnsChoice::Off => false,
        }
    }
}

/// Which runtime runs tenants' Node-RED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// Docker when an engine answers, else native processes.
    Auto,
    Docker,
    Process,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeSettings {
    pub choice: RuntimeChoice,
    /// `unix:///path` or `tcp://host:port`; None = `DOCKER_HOST`, then the default socket.
    pub docker_host: Option<String>,
    /// The tenant image (see custom-node-red/Dockerfile).
    pub image: String,
    /// A `docker save` archive of the tenant image, loaded when the engine lacks the image
    /// (the appliance image ships one: first boot needs no network).
    pub image_archive: PathBuf,
    /// Node.js, Node-RED and redhive's plugins for the process runtime (installed on first use).
    pub node_home: PathBuf,
    /// Name of the cgroup that holds every tenant and caps their total memory.
    pub cgroup_parent: String,
    /// Sum of the memory limits of running tenants; None = all RAM but 1 GiB for the system.
    pub memory_budget: Option<u64>,
    /// Process runtime: tenant N runs as uid/gid `uid_base + N` when redhive runs as root.
    pub uid_base: u32,
    /// Limits of a tenant nobody set limits for.
    pub tenant_defaults: Limits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MongoSettings {
    pub listen: SocketAddr,
    /// False when the address is the compiled-in default, which may move to a free port.
    pub listen_is_explicit: bool,
    /// Require SCRAM authentication (the default). Off only for local experiments.
    pub auth: bool,
}

/// Values given on the command line; `None` = not given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub mongo_listen: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{origin}: `{value}` is not a valid {what} ({reason})")]
    Invalid {
        origin: String,
        value: String,
        what: &'static str,
        reason: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    #[serde(default)]
    mongo: FileMongo,
    #[serde(default)]
    runtime: FileRuntime,
    #[serde(default)]
    front: FileFront,
    #[serde(default)]
    registry: FileRegistry,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistry {
    /// on, off or auto.
    enabled: Option<String>,
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFront {
    mdns: Option<String>,
    /// A port base, or "off".
    tenant_ports: Option<toml::Value>,
    https_listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRuntime {
    kind: Option<String>,
    docker_host: Option<String>,
    image: Option<String>,
    image_archive: Option<PathBuf>,
    node_home: Option<PathBuf>,
    cgroup_parent: Option<String>,
    memory_budget: Option<String>,
    uid_base: Option<u32>,
    #[serde(default)]
    tenant_defaults: FileLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    memory: Option<String>,
    cpus: Option<f64>,
    pids: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMongo {
    listen: Option<String>,
    auth: Option<bool>,
}

/// One candidate value and where it came from, for error messages.
struct Sourced {
    value: String,
    origin: String,
}

// === impl Settings ===

impl Settings {
    /// Load from the process environment.
    pub fn load(overrides: &Overrides) -> Result<Settings, ConfigError> {
        Self::load_with(overrides, |name| std::env::var(name).ok())
    }

    /// Load with `env` standing in for the environment (tests pass a map).
    pub fn load_with(
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let data_dir_hint = overrides
            .data_dir
            .clone()
            .or_else(|| env("REDHIVE_DATA_DIR").map(PathBuf::from));
        let config_file = overrides
            .config_file
            .clone()
            .or_else(|| env("REDHIVE_CONFIG").map(PathBuf::from));
        let file = match &config_file {
            Some(path) => read_file(path)?,
            None => {
                let dir = data_dir_hint
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
                let implicit = dir.join(FILE_NAME);
                if implicit.exists() {
                    read_file(&implicit)?
                } else {
                    FileSettings::default()
                }
            }
        };
        let file_origin = |key: &str| match &config_file {
            Some(path) => format!("{} key `{key}`", path.display()),
            None => format!("{FILE_NAME} key `{key}`"),
        };

        let data_dir = data_dir_hint
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

        let listen = pick(
            &overrides.listen,
            "--listen",
            env("REDHIVE_LISTEN"),
            "REDHIVE_LISTEN",
            file.listen,
            file_origin("listen"),
        );
        let mongo_listen = pick(
            &overrides.mongo_listen,
            "--mongo-listen",
            env("REDHIVE_MONGO_LISTEN"),
            "REDHIVE_MONGO_LISTEN",
            file.mongo.listen,
            file_origin("mongo.listen"),
        );
        let auth = match env("REDHIVE_MONGO_AUTH") {
            Some(value) => parse_bool(&value, "REDHIVE_MONGO_AUTH")?,
            None => file.mongo.auth.unwrap_or(true),
        };

        let runtime = runtime_settings(&data_dir, file.runtime, &env, &file_origin)?;
        let listen = parse_addr(listen.as_ref(), DEFAULT_LISTEN)?;
        let front = front_settings(file.front, listen, &env, &file_origin)?;
        let registry = registry_settings(file.registry, listen, &env, &file_origin)?;
        Ok(Settings {
            runtime,
            front,
            registry,
            data_dir,
            listen,
            mongo: MongoSettings {
                listen: parse_addr(mongo_listen.as_ref(), DEFAULT_MONGO_LISTEN)?,
                listen_is_explicit: mongo_listen.is_some(),
                auth,
            },
        })
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.data_dir.join("secrets")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    /// Per-tenant files (process runtime userDirs, docker bind mounts).
    pub fn tenants_dir(&self) -> PathBuf {
        self.data_dir.join("tenants")
    }
}

/// A value from the environment, else from the file: env beats file, and each value remembers
/// where it came from for error messages.
fn layer(
    env: &impl Fn(&str) -> Option<String>,
    file_origin: &impl Fn(&str) -> String,
    env_name: &'static str,
    file_value: Option<String>,
    key: &str,
) -> Option<Sourced> {
    env(env_name)
        .map(|value| Sourced {
            value,
            origin: env_name.to_string(),
        })
        .or_else(|| {
            file_value.map(|value| Sourced {
                value,
                origin: file_origin(key),
            })
        })
}

fn front_settings(
    file: FileFront,
    listen: SocketAddr,
    env: &impl Fn(&str) -> Option<String>,
    file_origin: &impl Fn(&str) -> String,
) -> Result<FrontSettings, ConfigError> {
    let mdns = match layer(env, file_origin, "REDHIVE_MDNS", file.mdns, "front.mdns") {
        None => MdnsChoice::Auto,
        Some(s) => match s.value.as_str() {
            "auto" => MdnsChoice::Auto,
            "on" | "true" => MdnsChoice::On,
            "off" | "false" => MdnsChoice::Off,
            _ => {
                return Err(invalid(
                    &s.origin,
                    &s.value,
                    "mDNS setting",
                    "use auto, on or off".into(),
                ))
            }
        },
    };
    // A number or "off" in the file.
    let ports_in_file = file.tenant_ports.map(|value| match value {
        toml::Value::String(text) => text,
        other => other.to_string(),
    });
    let tenant_ports = match layer(
        env,
        file_origin,
        "REDHIVE_TENANT_PORTS",
        ports_in_file,
        "front.tenant_ports",
    ) {
        None if listen.ip().is_loopback() => None,
        None => Some(DEFAULT_TENANT_PORT_BASE),
        Some(s) if s.value == "off" => None,
        Some(s) => Some(s.value.parse::<u16>().map_err(|e| {
            invalid(
                &s.origin,
                &s.value,
                "tenant port base",
                format!("{e}; or \"off\""),
            )
        })?),
    };
    let https_listen = layer(
        env,
        file_origin,
        "REDHIVE_HTTPS_LISTEN",
        file.https_listen,
        "front.https_listen",
    )
    .map(|s| {
        s.value
            .parse::<SocketAddr>()
            .map_err(|e| invalid(&s.origin, &s.value, "HTTPS address", e.to_string()))
    })
    .transpose()?;
    Ok(FrontSettings {
        mdns,
        tenant_ports,
        https_listen,
    })
}

fn registry_settings(
    file: FileRegistry,
    http: SocketAddr,
    env: &impl Fn(&str) -> Option<String>,
    file_origin: &impl Fn(&str) -> String,
) -> Result<RegistrySettings, ConfigError> {
    let enabled = match layer(
        env,
        file_origin,
        "REDHIVE_REGISTRY",
        file.enabled,
        "registry.enabled",
    ) {
        // Like mDNS: on for an appliance on the LAN, off for a laptop's loopback.
        None => !http.ip().is_loopback(),
        Some(s) => match s.value.as_str() {
            "auto" => !http.ip().is_loopback(),
            "on" | "true" => true,
            "off" | "false" => false,
            _ => {
                return Err(invalid(
                    &s.origin,
                    &s.value,
                    "registry setting",
                    "use auto, on or off".into(),
                ))
            }
        },
    };
    let listen = layer(
        env,
        file_origin,
        "REDHIVE_REGISTRY_LISTEN",
        file.listen,
        "registry.listen",
    );
    let listen = match listen {
        // Where the web UI listens, on the registry's port: an appliance on the LAN takes
        // publishes from the LAN, a laptop only from itself.
        None => SocketAddr::new(http.ip(), DEFAULT_REGISTRY_PORT),
        Some(s) => s.value.parse().map_err(|e: std::net::AddrParseError| {
            invalid(&s.origin, &s.value, "registry address", e.to_string())
        })?,
    };
    Ok(RegistrySettings { enabled, listen })
}

pub const DEFAULT_IMAGE: &str = "redhive/node-red:5.0.7";
pub const DEFAULT_CGROUP_PARENT: &str = "redhive";
pub const DEFAULT_IMAGE_ARCHIVE: &str = "/usr/share/redhive/tenant-image.tar";
/// Above the uids a distribution hands out (and above subuid ranges of the first users).
pub const DEFAULT_UID_BASE: u32 = 200_000;

fn runtime_settings(
    data_dir: &Path,
    file: FileRuntime,
    env: &impl Fn(&str) -> Option<String>,
    file_origin: &impl Fn(&str) -> String,
) -> Result<RuntimeSettings, ConfigError> {
    let layered = |env_name: &'static str, file_value: Option<String>, key: &str| {
        layer(env, file_origin, env_name, file_value, key)
    };
    let choice = match layered("REDHIVE_RUNTIME", file.kind, "runtime.kind") {
        None => RuntimeChoice::Auto,
        Some(s) => match s.value.as_str() {
            "auto" => RuntimeChoice::Auto,
            "docker" => RuntimeChoice::Docker,
            "process" => RuntimeChoice::Process,
            _ => {
                return Err(invalid(
                    &s.origin,
                    &s.value,
                    "runtime",
                    "use auto, docker or process".into(),
                ))
            }
        },
    };
    let size = |sourced: Option<Sourced>, what| {
        sourced
            .map(|s| {
                limits::parse_bytes(&s.value)
                    .map_err(|e| invalid(&s.origin, &s.value, what, e.reason))
            })
            .transpose()
    };
    let number = |sourced: Option<Sourced>, what| {
        sourced
            .map(|s| {
                s.value
                    .parse::<u32>()
                    .map_err(|e| invalid(&s.origin, &s.value, what, e.to_string()))
            })
            .transpose()
    };
    let memory_budget = size(
        layered(
            "REDHIVE_MEMORY_BUDGET",
            file.memory_budget,
            "runtime.memory_budget",
        ),
        "memory budget",
    )?;
    let uid_base = number(
        layered(
            "REDHIVE_UID_BASE",
            file.uid_base.map(|n| n.to_string()),
            "runtime.uid_base",
        ),
        "uid",
    )?
    .unwrap_or(DEFAULT_UID_BASE);
    let defaults = Limits::default();
    let tenant_defaults = Limits {
        memory_bytes: size(
            layered(
                "REDHIVE_TENANT_MEMORY",
                file.tenant_defaults.memory,
                "runtime.tenant_defaults.memory",
            ),
            "memory limit",
        )?
        .unwrap_or(defaults.memory_bytes),
        cpus: match layered(
            "REDHIVE_TENANT_CPUS",
            file.tenant_defaults.cpus.map(|c| c.to_string()),
            "runtime.tenant_defaults.cpus",
        ) {
            Some(s) => limits::parse_cpus(&s.value)
                .map_err(|e| invalid(&s.origin, &s.value, "CPU quota", e.reason))?,
            None => defaults.cpus,
        },
        pids: number(
            layered(
                "REDHIVE_TENANT_PIDS",
                file.tenant_defaults.pids.map(|n| n.to_string()),
                "runtime.tenant_defaults.pids",
            ),
            "process limit",
        )?
        .unwrap_or(defaults.pids),
    };
    tenant_defaults
        .validate()
        .map_err(|e| invalid("runtime.tenant_defaults", &e.value, e.what, e.reason))?;
    let cgroup_parent = layered(
        "REDHIVE_CGROUP_PARENT",
        file.cgroup_parent,
        "runtime.cgroup_parent",
    )
    .map(|s| {
        let ok = !s.value.is_empty()
            && s.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(s.value)
        } else {
            Err(invalid(
                &s.origin,
                &s.value,
                "cgroup name",
                "use letters, digits, '-' and '_'".into(),
            ))
        }
    })
    .transpose()?
    .unwrap_or_else(|| DEFAULT_CGROUP_PARENT.to_string());
    Ok(RuntimeSettings {
        choice,
        docker_host: layered(
            "REDHIVE_DOCKER_HOST",
            file.docker_host,
            "runtime.docker_host",
        )
        .map(|s| s.value),
        image: layered("REDHIVE_IMAGE", file.image, "runtime.image")
            .map(|s| s.value)
            .unwrap_or_else(|| DEFAULT_IMAGE.to_string()),
        image_archive: env("REDHIVE_IMAGE_ARCHIVE")
            .map(PathBuf::from)
            .or(file.image_archive)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_IMAGE_ARCHIVE)),
        node_home: env("REDHIVE_NODE_HOME")
            .map(PathBuf::from)
            .or(file.node_home)
            .unwrap_or_else(|| data_dir.join("runtime")),
        cgroup_parent,
        memory_budget,
        uid_base,
        tenant_defaults,
    })
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

fn pick(
    flag: &Option<String>,
    flag_name: &str,
    env: Option<String>,
    env_name: &str,
    file: Option<String>,
    file_origin: String,
) -> Option<Sourced> {
    let sourced = |value: String, origin: String| Sourced { value, origin };
    flag.clone()
        .map(|v| sourced(v, flag_name.to_string()))
        .or_else(|| env.map(|v| sourced(v, env_name.to_string())))
        .or_else(|| file.map(|v| sourced(v, file_origin)))
}

fn parse_addr(value: Option<&Sourced>, default: &str) -> Result<SocketAddr, ConfigError> {
    let Some(sourced) = value else {
        return default.parse().map_err(|e: std::net::AddrParseError| {
            invalid("default", default, "listen address", e.to_string())
        });
    };
    sourced
        .value
        .parse()
        .map_err(|e: std::net::AddrParseError| {
            invalid(
                &sourced.origin,
                &sourced.value,
                "listen address",
                format!("{e}; expected IP:PORT such as 127.0.0.1:8080"),
            )
        })
}

fn parse_bool(value: &str, origin: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            origin,
            value,
            "boolean",
            "use true or false".into(),
        )),
    }
}

fn invalid(origin: &str, value: &str, what: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        value: value.to_string(),
        what,
        reason,
    }
}

#[cfg(test)]
mod tests;
