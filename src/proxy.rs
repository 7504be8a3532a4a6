//! The reverse proxy in front of everything on the HTTP port: a request whose Host names a
//! tenant goes to that tenant's Node-RED, anything else to the manager (UI and API). Tenants
//! marked on-demand stop after their idle minutes and the next request starts them again.

mod forward;
pub mod host;
mod pages;
pub mod ports;

use crate::appliance::ApplianceSettings;
use crate::mdns::Renames;
use crate::registry::{self, Registry};
use crate::supervisor::status::{State, Status};
use crate::supervisor::Supervisor;
use crate::tenants::{self, runtime_state, TenantError};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, Response};
use axum::Router;
use host::Site;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a request that is not a page view waits for a waking tenant.
const WAKE_WAIT: Duration = Duration::from_secs(120);
/// How often idle on-demand tenants are looked for.
const IDLE_CHECK: Duration = Duration::from_secs(30);

pub struct Proxy {
    supervisor: Arc<Supervisor>,
    registry: Option<Arc<Registry>>,
    renames: Arc<Renames>,
    appliance: watch::Receiver<ApplianceSettings>,
    upstreams: forward::Upstreams,
    activity: Mutex<HashMap<String, Arc<Activity>>>,
}

/// When a tenant was last used, and how many upgraded connections it holds open.
struct Activity {
    last: Mutex<Instant>,
    open: AtomicUsize,
}

/// Counts one open upgraded connection while it lives.
struct OpenConnection(Arc<Activity>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
}

impl Proxy {
    pub fn new(
        supervisor: Arc<Supervisor>,
        appliance: watch::Receiver<ApplianceSettings>,
        renames: Arc<Renames>,
        registry: Option<Arc<Registry>>,
    ) -> Arc<Proxy> {
        Arc::new(Proxy {
            supervisor,
            registry,
            renames,
            appliance,
            upstreams: forward::upstreams(),
            activity: Mutex::default(),
        })
    }

    /// Note a use of tenant `name` now.
    fn touch(&self, name: &str) -> Arc<Activity> {
        let mut activity = self.activity.lock().unwrap_or_else(|e| e.into_inner());
        let entry = match activity.get(name) {
            Some(entry) => entry.clone(),
            None => {
                let entry = Arc::new(Activity {
                    last: Mutex::new(Instant::now()),
                    open: AtomicUsize::new(0),
                });
                activity.insert(name.to_string(), entry.clone());
                entry
            }
        };
        *entry.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        entry
    }

    /// A request for tenant `name`.
    async fn tenant(&self, name: &str, request: Request, client: SocketAddr) -> Response<Body> {
        // The private catalogue, from the editor's own origin.
        if request.uri().path() == registry::TENANT_CATALOGUE_PATH {
            return registry::catalogue_response(self.registry.as_deref());
        }
        let unread = pages::has_body(&request);
        pages::close_if_unread(unread, self.answer(name, request, client).await)
    }

    async fn answer(&self, name: &str, request: Request, client: SocketAddr) -> Response<Body> {
        let Some(mut status) = self.supervisor.watch(name) else {
            return pages::unknown(name, &self.manager_url(&request));
        };
        let activity = self.touch(name);
        // Copied out, not cloned: this runs for every request.
        let (state, port) = {
            let current = status.borrow();
            (current.state, current.port)
        };
        let port = match (state, port) {
            (State::Running | State::SafeMode, Some(port)) => port,
            (State::Stopped, _) if !self.on_demand(name).await => return pages::stopped(name),
            (state, _) => {
                if state == State::Stopped {
                    self.wake(name);
                }
                let starting = |status: &watch::Receiver<Status>| {
                    pages::starting(name, status.borrow().reason.as_deref())
                };
                if wants_page(&request) {
                    return starting(&status);
                }
                match ready(&mut status).await {
                    Some(port) => port,
                    None => return starting(&status),
                }
            }
        };
        activity.open.fetch_add(1, Ordering::Relaxed);
        let held = OpenConnection(activity);
        match forward::forward(&self.upstreams, request, port, client, held).await {
            Ok(response) => response,
            Err(error) => pages::unreachable(name, &error.to_string()),
        }
    }

    async fn on_demand(&self, name: &str) -> bool {
        self.runtime_state(name).await.is_some_and(|s| s.on_demand)
    }

    async fn runtime_state(&self, name: &str) -> Option<runtime_state::RuntimeState> {
        match runtime_state::get(self.supervisor.store(), name).await {
            Ok(state) => Some(state),
            Err(TenantError::NotFound(_)) => None,
            Err(error) => {
                tracing::warn!(tenant = name, %error, "cannot read the tenant's state");
                None
            }
        }
    }

    fn wake(&self, name: &str) {
        tracing::info!(tenant = name, "waking on-demand tenant for a request");
        let supervisor = self.supervisor.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            if let Err(error) = supervisor.start_tenant(&name).await {
                tracing::warn!(tenant = %name, %error, "on-demand tenant did not wake");
            }
        });
    }

    /// Stop on-demand tenants nobody used for their idle minutes, until `shutdown`.
    pub async fn stop_idle_tenants(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(IDLE_CHECK) => {}
            }
            let Ok(names) = tenants::list(self.supervisor.store()).await else {
                continue;
            };
            // Deleted tenants' activity goes too.
            self.activity
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|name, _| names.contains(name));
            let default_minutes = self.appliance.borrow().idle_minutes;
            for name in names {
                let Some(state) = self.runtime_state(&name).await else {
                    continue;
                };
                let running = self
                    .supervisor
                    .watch(&name)
                    .is_some_and(|s| s.borrow().state == State::Running);
                if !state.on_demand || !running {
                    continue;
                }
                // A tenant seen running for the first time starts its idle time now.
                let activity = self.touch_if_new(&name);
                let idle = activity
                    .last
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .elapsed();
                let limit = Duration::from_secs(
                    u64::from(state.idle_minutes.unwrap_or(default_minutes)) * 60,
                );
                if activity.open.load(Ordering::Relaxed) == 0 && idle >= limit {
                    tracing::info!(tenant = %name, idle_s = idle.as_secs(), "stopping idle on-demand tenant");
                    if let Err(error) = self.supervisor.stop_tenant(&name).await {
                        tracing::warn!(tenant = %name, %error, "cannot stop idle tenant");
                    }
                }
            }
        }
    }

    fn touch_if_new(&self, name: &str) -> Arc<Activity> {
        let existing = self
            .activity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        existing.unwrap_or_else(|| self.touch(name))
    }

    fn manager_url(&self, request: &Request) -> String {
        let port = host_header(request)
            .rsplit_once(':')
            .map(|(_, port)| format!(":{port}"))
            .unwrap_or_default();
        format!("http://{}{port}/", self.appliance.borrow().domain)
    }
}

/// Every request on the HTTP port comes here first: tenant hosts are proxied, the rest goes to
/// the manager (the proxy stands in front of the router, so tenant requests skip its routing).
pub async fn route(proxy: Arc<Proxy>, request: Request, manager: Router) -> Response<Body> {
    let mut host = host::normalize(host_header(&request));
    // A name the mDNS responder had to change stands for the one it replaced.
    if host.ends_with(".local") {
        if let Some(original) = proxy.renames.original(&host) {
            host = original;
        }
    }
    let site = host::site(&host, &proxy.appliance.borrow());
    match site {
        Site::Manager => match manager.oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        },
        Site::Nowhere(name) => pages::close_if_unread(
            pages::has_body(&request),
            pages::unknown(&name, &proxy.manager_url(&request)),
        ),
        Site::Tenant(name) => {
            let client = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |info| info.0);
            proxy.tenant(&name, request, client).await
        }
    }
}

fn host_header(request: &Request) -> &str {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
}

/// A browser navigating (gets the page that refreshes) rather than a script (which waits).
fn wants_page(request: &Request) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The port once the tenant is ready, waiting up to `WAKE_WAIT`.
async fn ready(status: &mut watch::Receiver<Status>) -> Option<u16> {
    let ready = tokio::time::timeout(
        WAKE_WAIT,
        status
            .wait_for(|s| matches!(s.state, State::Running | State::SafeMode) && s.port.is_some()),
    )
    .await
    .ok()?
    .ok()?;
    ready.port
}
