//! The Docker runtime: one container per tenant from the tenant image, through bollard.
//!
//! Containers are disposable — made afresh at each launch from the tenant's current limits
//! and removed when it stops — while the userDir lives on a bind mount. Labels name the
//! redhive instance and the tenant, so a restarted redhive finds (adopts) its running
//! containers instead of starting duplicates.

use super::cgroup::{self, TenantGroup};
use super::logs::LogStream;
use super::{
    free_port, remove_tenant_files, Exit, Instance, Kind, LaunchSpec, Runtime, RuntimeError, Usage,
};
use crate::config::Settings;
use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

pub mod archive;

pub const LABEL_INSTANCE: &str = "io.redhive.instance";
pub const LABEL_TENANT: &str = "io.redhive.tenant";
/// Node-RED's port inside the container.
const EDITOR_PORT: &str = "1880/tcp";
/// The image's user (node-red); the bind-mounted userDir is given to it.
const IMAGE_UID: u32 = 1000;
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// Seconds bollard waits for a reply; image inspection and stops can be slow on an SD card.
const API_TIMEOUT_S: u64 = 120;

pub struct DockerRuntime {
    docker: Docker,
    image: String,
    instance: String,
    tenants_dir: PathBuf,
    /// `/redhive` (cgroupfs driver) or `redhive.slice` (systemd driver).
    cgroup_parent: String,
    systemd_driver: bool,
    /// The default bridge's gateway: where containers reach the shim.
    gateway: Option<IpAddr>,
    /// The tenant image being loaded from `runtime.image_archive` (first start).
    image_load: Option<watch::Receiver<archive::LoadState>>,
}

fn host_of(settings: &Settings) -> String {
    settings
        .runtime
        .docker_host
        .clone()
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| DEFAULT_SOCKET.to_string())
}

/// What `redhive doctor` reports about the engine.
pub struct Probe {
    pub host: String,
    pub version: String,
    pub cgroup_driver: String,
    pub image_present: bool,
}

impl Probe {
    /// The engine has the tenant image, or will once the shipped archive is loaded.
    pub fn has_tenant_image(&self, settings: &Settings) -> bool {
        self.image_present || settings.runtime.image_archive.is_file()
    }
}

/// A connection to the configured engine and what it said about itself.
pub struct Engine {
    client: Docker,
    pub probe: Probe,
}

/// Connect to the configured engine; ask its version, cgroup driver and whether the tenant
/// image is there.
pub async fn open(settings: &Settings) -> Result<Engine, RuntimeError> {
    let host = host_of(settings);
    let client = engine(&host).await?;
    let info = client.info().await?;
    let image_present = client.inspect_image(&settings.runtime.image).await.is_ok();
    Ok(Engine {
        client,
        probe: Probe {
            host,
            version: info.server_version.unwrap_or_default(),
            cgroup_driver: info
                .cgroup_driver
                .map(|d| d.to_string())
                .unwrap_or_default(),
            image_present,
        },
    })
}

/// A client for `host`, speaking the engine's API version.
async fn engine(host: &str) -> Result<Docker, RuntimeError> {
    let docker = if host.starts_with("unix://") || host.starts_with('/') {
        Docker::connect_with_unix(host, API_TIMEOUT_S, bollard::API_DEFAULT_VERSION)?
    } else {
        Docker::connect_with_http(host, API_TIMEOUT_S, bollard::API_DEFAULT_VERSION)?
    };
    // The engine may be older than bollard's API.
    tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version())
        .await
        .map_err(|_| RuntimeError::Launch(format!("the Docker engine at {host} does not answer")))?
        .map_err(RuntimeError::from)
}

impl DockerRuntime {
    /// The runtime on an opened engine. `instance` tells this redhive's containers apart
    /// from any other redhive's on the same engine.
    pub async fn new(
        engine: Engine,
        settings: &Settings,
        instance: &str,
        budget: u64,
    ) -> Result<DockerRuntime, RuntimeError> {
        let Engine {
            client: docker,
            probe,
        } = engine;
        let systemd_driver = probe.cgroup_driver == "systemd";
        let parent = &settings.runtime.cgroup_parent;
        let cgroup_parent = if systemd_driver {
            format!("{parent}.slice")
        } else {
            // The engine makes tenant groups inside; the budget caps them all.
            cgroup::ensure_parent(parent, budget)?;
            format!("/{parent}")
        };
        let gateway = docker
            .inspect_network("bridge", None)
            .await
            .ok()
            .and_then(|n| n.ipam)
            .and_then(|ipam| ipam.config)
            .and_then(|configs| configs.into_iter().find_map(|c| c.gateway))
            .and_then(|g| g.parse().ok());
        tracing::info!(host = %probe.host, version = %probe.version, systemd_driver, ?gateway, "Docker engine answers");
        let archive = &settings.runtime.image_archive;
        let image_load = (!probe.image_present && archive.is_file()).then(|| {
            archive::start(
                docker.clone(),
                archive.clone(),
                settings.runtime.image.clone(),
            )
        });
        Ok(DockerRuntime {
            docker,
            image: settings.runtime.image.clone(),
            instance: instance.to_string(),
            tenants_dir: settings.tenants_dir(),
            cgroup_parent,
            systemd_driver,
            gateway,
            image_load,
        })
    }

    fn container_name(&self, tenant: &str) -> String {
        format!("redhive-{}-{tenant}", self.instance)
    }

    fn cgroup_of(&self, id: &str) -> String {
        if self.systemd_driver {
            format!("{}/docker-{id}.scope", self.cgroup_parent)
        } else {
            format!("{}/{id}", self.cgroup_parent.trim_start_matches('/'))
        }
    }

    async fn ensure_image(&self) -> Result<(), RuntimeError> {
        if let Some(load) = &self.image_load {
            archive::finished(load.clone()).await?;
        }
        match self.docker.inspect_image(&self.image).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Err(RuntimeError::ImageMissing {
                image: self.image.clone(),
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Running and stopped containers of `tenant` made by this redhive.
    async fn containers(&self, tenant: &str) -> Result<Vec<String>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{LABEL_INSTANCE}={}", self.instance),
                format!("{LABEL_TENANT}={tenant}"),
            ],
        )]);
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    async fn remove_containers(&self, tenant: &str) -> Result<(), RuntimeError> {
        for id in self.containers(tenant).await? {
            match self
                .docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                // 409: removal already in progress.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    fn create_body(
        &self,
        spec: &LaunchSpec,
        port: u16,
        user_dir: &std::path::Path,
    ) -> ContainerCreateBody {
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend([
            "PORT=1880".to_string(),
            // All of the container's interfaces: the engine publishes the port on loopback.
            "REDHIVE_UI_HOST=0.0.0.0".to_string(),
            format!("REDHIVE_MEMORY_LIMIT_MB={}", spec.limits.memory_mib()),
            "HOME=/data".to_string(),
        ]);
        let labels = HashMap::from([
            (LABEL_INSTANCE.to_string(), self.instance.clone()),
            (LABEL_TENANT.to_string(), spec.tenant.clone()),
        ]);
        let port_bindings = HashMap::from([(
            EDITOR_PORT.to_string(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(port.to_string()),
            }]),
        )]);
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(env),
            labels: Some(labels),
            cmd: spec.safe_mode.then(|| vec!["--safe".to_string()]),
            exposed_ports: Some(vec![EDITOR_PORT.to_string()]),
            // The supervisor probes the editor itself; the image's HEALTHCHECK would start a
            // second Node.js in every container every 30 s.
            healthcheck: Some(HealthConfig {
                test: Some(vec!["NONE".to_string()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                memory: Some(spec.limits.memory_bytes as i64),
                // Equal to memory: no swap on top of the limit.
                memory_swap: Some(spec.limits.memory_bytes as i64),
                nano_cpus: Some((spec.limits.cpus * 1e9).round() as i64),
                pids_limit: Some(spec.limits.pids as i64),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_string(),
                    "rw,nosuid,nodev,size=64m".to_string(),
                )])),
                binds: Some(vec![format!("{}:/data", user_dir.display())]),
                cgroup_parent: Some(self.cgroup_parent.clone()),
                port_bindings: Some(port_bindings),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn instance_of(&self, id: &str) -> Result<Option<Instance>, RuntimeError> {
        let inspect = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await?;
        let running = inspect.state.as_ref().and_then(|s| s.running) == Some(true);
        let port = inspect
            .host_config
            .and_then(|h| h.port_bindings)
            .and_then(|mut ports| ports.remove(EDITOR_PORT))
            .flatten()
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse().ok());
        Ok(match (running, port) {
            (true, Some(port)) => Some(Instance {
                port,
                id: id.to_string(),
                cgroup: Some(self.cgroup_of(id)),
            }),
            _ => None,
        })
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> Kind {
        Kind::Docker
    }

    fn shim_addr(&self, local: SocketAddr) -> SocketAddr {
        match self.gateway {
            Some(gateway) => SocketAddr::new(gateway, local.port()),
            None => local,
        }
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Instance, RuntimeError> {
        self.ensure_image().await?;
        self.remove_containers(&spec.tenant).await?;
        let owner = nix::unistd::geteuid().is_root().then_some(IMAGE_UID);
        let user_dir = super::prepare_user_dir(&self.tenants_dir, &spec.tenant, owner)?;
        let port = free_port()?;
        let name = self.container_name(&spec.tenant);
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                self.create_body(spec, port, &user_dir),
            )
            .await?;
        self.docker.start_container(&created.id, None).await?;
        tracing::info!(tenant = %spec.tenant, container = %created.id, port, "started container");
        Ok(Instance {
            port,
            cgroup: Some(self.cgroup_of(&created.id)),
            id: created.id,
        })
    }

    async fn adopt(&self, tenant: &str) -> Result<Option<Instance>, RuntimeError> {
        for id in self.containers(tenant).await? {
            if let Some(instance) = self.instance_of(&id).await? {
                return Ok(Some(instance));
            }
        }
        // Stopped leftovers carry nothing worth keeping.
        self.remove_containers(tenant).await?;
        Ok(None)
    }

    async fn wait(&self, tenant: &str) -> Result<Exit, RuntimeError> {
        let name = self.container_name(tenant);
        let mut waiting = self.docker.wait_container(
            &name,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        );
        // A non-zero exit arrives as an error item; the container's state says it all.
        let _ = waiting.next().await;
        let inspect = self
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
            .map_err(|_| RuntimeError::NotRunning {
                tenant: tenant.to_string(),
            })?;
        let state = inspect.state.unwrap_or_default();
        let code = state.exit_code;
        Ok(Exit {
            // 128+n is how the engine reports death by signal n.
            signal: code
                .filter(|c| *c > 128 && *c < 160)
                .map(|c| (c - 128) as i32),
            code,
            oom: state.oom_killed.unwrap_or(false),
        })
    }

    async fn stop(&self, tenant: &str, grace: Duration) -> Result<(), RuntimeError> {
        let name = self.container_name(tenant);
        match self
            .docker
            .stop_container(
                &name,
                Some(StopContainerOptions {
                    t: Some(grace.as_secs() as i32),
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => {}
            Err(error) => return Err(error.into()),
        }
        self.remove_containers(tenant).await
    }

    async fn remove(&self, tenant: &str) -> Result<(), RuntimeError> {
        self.stop(tenant, Duration::ZERO).await?;
        Ok(remove_tenant_files(&self.tenants_dir, tenant)?)
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, RuntimeError> {
        let id = self
            .containers(tenant)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| RuntimeError::NotRunning {
                tenant: tenant.to_string(),
            })?;
        Ok(TenantGroup::at(self.cgroup_of(&id)).usage())
    }

    async fn logs(
        &self,
        tenant: &str,
        tail: usize,
        follow: bool,
    ) -> Result<LogStream, RuntimeError> {
        let stream = self.docker.logs(
            &self.container_name(tenant),
            Some(LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                ..Default::default()
            }),
        );
        Ok(stream
            .take_while(|item| std::future::ready(item.is_ok()))
            .flat_map(|item| {
                let text = item.map(|o| o.to_string()).unwrap_or_default();
                let lines: Vec<String> = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                futures_util::stream::iter(lines)
            })
            .boxed())
    }

    fn survives_restart(&self) -> bool {
        true
    }

    fn close(&self) {
        if !self.systemd_driver {
            cgroup::remove_parent_if_empty(self.cgroup_parent.trim_start_matches('/'));
        }
    }
}
