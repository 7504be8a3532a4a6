//! What each subcommand does, wired from the modules.

use crate::api::ApiState;
use crate::config::{Settings, MONGO_PORT_FALLBACKS};
use crate::control::{self, Context, Output, Request};
use crate::platform;
use crate::proxy::{self, Proxy};
use crate::registry::Registry;
use crate::store::{Store, StoreError, StoreThread};
use crate::supervisor::{Policy, Supervisor};
use crate::tls::listener::TlsListener;
use crate::{appliance, http, mdns, mongo, runtime, systemd, tenants, tls};
use anyhow::{Context as _, Result};
use axum::serve::Listener;
use futures_util::StreamExt;
use serde_json::json;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `redhive prepare`: the node home complete, Verdaccio included.
pub async fn prepare(settings: &Settings) -> Result<()> {
    let home = runtime::node_home::NodeHome::new(settings.runtime.node_home.clone());
    home.ensure_verdaccio(|step| tracing::info!(home = %home.root().display(), step))
        .await
        .with_context(|| format!("cannot prepare the node home {}", home.root().display()))?;
    tracing::info!(home = %home.root().display(), "the node home is complete");
    Ok(())
}

/// `redhive serve`: run until SIGTERM or SIGINT.
pub async fn serve(settings: Settings) -> Result<()> {
    let (store, store_thread) = open_store(&settings)?;
    let mongo_listener = bind_mongo(&settings).await?;
    let mongo_addr = mongo_listener.local_addr()?;
    let http_listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", settings.listen))?;
    let http_addr = http_listener.local_addr()?;
    let root_uri = platform::ensure_root(&store, &settings, mongo_addr).await?;
    let control_listener = bind_control(&settings)?;
    write_endpoints(&settings, http_addr, mongo_addr)?;

    let shutdown = CancellationToken::new();
    let fake_salt_secret = platform::fake_salt_secret(&store).await?;
    let server = mongo::Server::new(store.clone(), settings.mongo.auth, fake_salt_secret);
    let mut mongo_tasks = vec![tokio::spawn(mongo::serve(
        mongo_listener,
        server.clone(),
        shutdown.clone(),
    ))];
    let instance = platform::instance_id(&store).await?;
    let budget = runtime::memory_budget(&settings);
    let runtime = runtime::select(&settings, &instance, budget).await?;
    // Containers reach the shim through the Docker bridge: listen there too.
    let tenant_shim = runtime.shim_addr(mongo_addr);
    if tenant_shim != mongo_addr {
        let listener = TcpListener::bind(tenant_shim).await.with_context(|| {
            format!("cannot listen for tenants' MongoDB connections on {tenant_shim}")
        })?;
        mongo_tasks.push(tokio::spawn(mongo::serve(
            listener,
            server,
            shutdown.clone(),
        )));
    }
    let policy = Policy {
        defaults: settings.runtime.tenant_defaults,
        budget,
        uid_base: settings.runtime.uid_base,
    };
    let supervisor =
        Supervisor::start(runtime.clone(), store.clone(), mongo_addr, policy, instance).await?;
    let context = Context {
        store: store.clone(),
        shim: mongo_addr,
        supervisor: Some(supervisor.clone()),
    };
    tokio::spawn(control::serve(control_listener, context, shutdown.clone()));

    let appliance =
        watch::Sender::new(appliance::settings(&store, settings.runtime.tenant_defaults).await?);
    let mut service_tasks = Vec::new();
    let registry = match settings.registry.enabled {
        true => {
            // A wildcard listener is dialled on loopback (or the Docker gateway).
            let tenant_addr = runtime.shim_addr(tenants::client_addr(settings.registry.listen));
            let registry =
                Registry::open(&settings, http_addr, tenant_addr, appliance.subscribe())?;
            supervisor.add_tenant_env(registry.clone());
            service_tasks.push(tokio::spawn(registry.clone().run(shutdown.clone())));
            Some(registry)
        }
        false => None,
    };
    let renames = Arc::new(mdns::Renames::default());
    let proxy = Proxy::new(
        supervisor.clone(),
        appliance.subscribe(),
        renames.clone(),
        registry.clone(),
    );
    tokio::spawn(proxy.clone().stop_idle_tenants(shutdown.clone()));
    if let Some(base) = settings.front.tenant_ports {
        tokio::spawn(proxy::ports::serve(
            proxy.clone(),
            http_addr,
            base,
            settings.runtime.uid_base,
            shutdown.clone(),
        ));
    }
    if settings.front.mdns_enabled(http_addr) {
        service_tasks.push(tokio::spawn(mdns::advertise(
            supervisor.clone(),
            appliance.subscribe(),
            http_addr,
            renames.clone(),
            shutdown.clone(),
        )));
    }
    let tls = match settings.front.https_listen {
        Some(_) => Some(tls::Certificates::open(
            &settings.secrets_dir().join("tls"),
            appliance.subscribe(),
        )?),
        None => None,
    };
    let state = ApiState {
        store: store.clone(),
        supervisor: supervisor.clone(),
        config: Arc::new(settings.clone()),
        appliance,
        http: http_addr,
        limiter: Arc::default(),
        renames,
        registry,
        tls: tls.clone(),
    };
    let manager = http::manager(state);
    let mut http_tasks = vec![tokio::spawn(http::serve(
        http_listener,
        proxy.clone(),
        manager.clone(),
        shutdown.clone(),
    ))];
    if let (Some(addr), Some(certificates)) = (settings.front.https_listen, tls) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for HTTPS on {addr}"))?;
        let listener = TlsListener::new(listener, certificates.server_config()?)?;
        tracing::info!(https = %listener.local_addr()?, "HTTPS is on");
        http_tasks.push(tokio::spawn(http::serve_https(
            listener,
            proxy,
            manager,
            shutdown.clone(),
        )));
    }
    tracing::info!(
        http = %http_addr,
        mongo = %mongo_addr,
        tenant_shim = %tenant_shim,
        runtime = runtime.kind().as_str(),
        mdns = settings.front.mdns_enabled(http_addr),
        memory_budget_mib = budget >> 20,
        auth = settings.mongo.auth,
        data_dir = %settings.data_dir.display(),
        root_uri_file = %root_uri.display(),
        "redhive is ready"
    );
    systemd::ready(&format!(
        "serving http://{http_addr}/ with {} tenant(s) ({} runtime)",
        supervisor.names().len(),
        runtime.kind().as_str()
    ));
    tokio::spawn(systemd::watchdog(store.clone(), shutdown.clone()));

    crate::signal::terminated().await;
    tracing::info!("shutting down");
    systemd::stopping();
    // Tenants first: Node-RED saves through the shim while it stops.
    supervisor.shutdown().await;
    shutdown.cancel();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        for task in mongo_tasks {
            let _ = task.await;
        }
        for task in http_tasks {
            let _ = task.await;
        }
        for task in service_tasks {
            let _ = task.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the grace period; closing anyway");
    }
    close_store(store_thread).await;
    let _ = std::fs::remove_file(endpoints_file(&settings));
    let _ = std::fs::remove_file(control_socket(&settings));
    tracing::info!("stopped");
    Ok(())
}

/// A subcommand for the store or the tenants: done directly when no server runs (store
/// requests only), else through the running server's control socket. `print` gets the
/// lines to show, as they come.
pub async fn control(
    settings: Settings,
    request: Request,
    mut print: impl FnMut(&str),
) -> Result<()> {
    platform::prepare_data_dir(&settings)?;
    let (store, store_thread) = match Store::open(&settings.store_dir()) {
        Ok(opened) => opened,
        Err(StoreError::Busy { .. }) => {
            return Ok(control::call(&control_socket(&settings), &request, print).await?)
        }
        Err(error) => return Err(error.into()),
    };
    let result = async {
        platform::ensure_root(&store, &settings, settings.mongo.listen).await?;
        let context = Context {
            store: store.clone(),
            shim: settings.mongo.listen,
            supervisor: None,
        };
        match control::execute(&context, request).await? {
            Output::Lines(lines) => lines.iter().for_each(|line| print(line)),
            Output::Stream(mut lines) => {
                while let Some(line) = lines.next().await {
                    print(&line);
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    drop(store);
    close_store(store_thread).await;
    result
}

fn open_store(settings: &Settings) -> Result<(Store, StoreThread)> {
    platform::prepare_data_dir(settings)?;
    Ok(Store::open(&settings.store_dir())?)
}

async fn close_store(thread: StoreThread) {
    // Joining waits for the last commit and for RocksDB to close: not on the async threads.
    if let Err(error) = tokio::task::spawn_blocking(move || thread.close()).await {
        tracing::error!(%error, "closing the store failed");
    }
}

/// Bind the shim. The compiled-in default port moves up when taken (a MongoDB may already run
/// on this machine); a configured one never does.
async fn bind_mongo(settings: &Settings) -> Result<TcpListener> {
    let wanted = settings.mongo.listen;
    let attempts = if settings.mongo.listen_is_explicit {
        0
    } else {
        MONGO_PORT_FALLBACKS
    };
    let mut last_error = None;
    for offset in 0..=attempts {
        let mut addr = wanted;
        addr.set_port(wanted.port().saturating_add(offset));
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                if offset > 0 {
                    tracing::warn!(wanted = %wanted, using = %addr, "default MongoDB port is taken; using the next free one");
                }
                return Ok(listener);
            }
            Err(e) => last_error = Some(e),
        }
    }
    let error = last_error.map(|e| e.to_string()).unwrap_or_default();
    anyhow::bail!("cannot listen for MongoDB clients on {wanted}: {error} (set --mongo-listen)")
}

fn control_socket(settings: &Settings) -> std::path::PathBuf {
    settings.run_dir().join("control.sock")
}

/// The control socket, for the owner only. A stale socket is removed first: holding the
/// store lock proves no other server uses it.
fn bind_control(settings: &Settings) -> Result<UnixListener> {
    let path = control_socket(settings);
    std::fs::create_dir_all(settings.run_dir())?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot create the control socket {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

fn endpoints_file(settings: &Settings) -> std::path::PathBuf {
    settings.run_dir().join("endpoints.json")
}

/// Where this server listens, for local tools.
fn write_endpoints(settings: &Settings, http: SocketAddr, mongo: SocketAddr) -> Result<()> {
    std::fs::create_dir_all(settings.run_dir())?;
    let body =
        json!({"http": http.to_string(), "mongo": mongo.to_string(), "pid": std::process::id()});
    platform::write_private(&endpoints_file(settings), body.to_string().as_bytes())?;
    Ok(())
}
