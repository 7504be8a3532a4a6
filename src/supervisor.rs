//! Supervision of tenant runtimes, the same for Docker and processes: one task per tenant
//! that launches it, waits for its editor to answer, restarts it with exponential backoff
//! when it exits, puts it in Node-RED's safe mode after a crash loop, and refuses to start
//! it when the memory budget is spent. What should run survives a redhive restart (it is
//! in the tenant's record); Docker containers still running are adopted, not duplicated.

mod health;
pub mod status;

use crate::runtime::limits::{format_bytes, Limits};
use crate::runtime::{Exit, Instance, Kind, LaunchSpec, Runtime};
use crate::store::Store;
use crate::tenants::{self, runtime_state, TenantError};
use status::{LastExit, State, Status, UsageView};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// A run shorter than this that ends in an exit counts towards a crash loop.
const FAST_EXIT: Duration = Duration::from_secs(30);
/// This many fast exits in a row and the tenant restarts in safe mode.
const CRASH_LOOP: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Node-RED on a Pi 3 with a cold SD card can need most of a minute.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// A refused connect costs microseconds: probe often while starting, so readiness is seen
/// as soon as it happens.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// A ready tenant is probed this often...
const LIVENESS_INTERVAL: Duration = Duration::from_secs(10);
/// ...and one silent this long (a flow blocking Node-RED's event loop) is killed and restarted.
const HANG_LIMIT: Duration = Duration::from_secs(60);
/// Time Node-RED gets to stop its flows on stop.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// What a waiting CLI is told when the tenant needs longer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

type Reply = oneshot::Sender<Result<String, String>>;

enum Command {
    Start(Reply),
    Stop(Reply),
    /// Restart, leaving safe mode; also how new limits are applied.
    Restart(Reply),
    /// Stop for good (the tenant is being removed, or redhive stops).
    Shutdown(oneshot::Sender<()>),
}

/// Environment every tenant gets from another part of redhive (the registry's npm and
/// catalogue settings), read at each start.
pub trait TenantEnv: Send + Sync {
    fn env(&self) -> Vec<(String, String)>;
}

/// Settings the supervisor needs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub defaults: Limits,
    pub budget: u64,
    pub uid_base: u32,
}

struct Unit {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Status>,
}

pub struct Supervisor {
    runtime: Arc<dyn Runtime>,
    store: Store,
    /// The shim as this host sees it; runtimes translate it for their tenants.
    shim: SocketAddr,
    policy: Policy,
    instance: String,
    units: Mutex<HashMap<String, Unit>>,
    /// Memory limits of tenants holding a place in the budget.
    committed: Mutex<HashMap<String, u64>>,
    /// Bumped when the set of supervised tenants changes (mDNS follows it).
    roster: watch::Sender<u64>,
    extra_env: Mutex<Vec<Arc<dyn TenantEnv>>>,
}

impl Supervisor {
    /// Start supervising every tenant; those that should run are adopted or started.
    pub async fn start(
        runtime: Arc<dyn Runtime>,
        store: Store,
        shim: SocketAddr,
        policy: Policy,
        instance: String,
    ) -> Result<Arc<Supervisor>, SupervisorError> {
        let supervisor = Arc::new(Supervisor {
            runtime,
            store,
            shim,
            policy,
            instance,
            units: Mutex::default(),
            committed: Mutex::default(),
            roster: watch::Sender::new(0),
            extra_env: Mutex::default(),
        });
        for name in tenants::list(&supervisor.store).await? {
            supervisor.unit(&name).await?;
        }
        Ok(supervisor)
    }

    /// The unit of `name`, spawning its task on first use.
    async fn unit(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<(mpsc::UnboundedSender<Command>, watch::Receiver<Status>), SupervisorError> {
        if let Some(unit) = self
            .units
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok((unit.commands.clone(), unit.status.clone()));
        }
        let state = runtime_state::get(&self.store, name).await?;
        let limits = state.limits.unwrap_or(self.policy.defaults);
        let initial = Status {
            name: name.to_string(),
            state: State::Stopped,
            reason: None,
            runtime: self.runtime.kind(),
            instance: self.instance.clone(),
            url: None,
            port: None,
            limits,
            usage: None,
            restarts: 0,
            last_exit: None,
            container: None,
            pid: None,
            cgroup: None,
        };
        let (status_sender, status) = watch::channel(initial);
        let (commands, receiver) = mpsc::unbounded_channel();
        let mut units = self.units.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(unit) = units.get(name) {
            return Ok((unit.commands.clone(), unit.status.clone()));
        }
        units.insert(
            name.to_string(),
            Unit {
                commands: commands.clone(),
                status: status.clone(),
            },
        );
        self.roster.send_modify(|version| *version += 1);
        let task = TenantTask {
            supervisor: self.clone(),
            name: name.to_string(),
            commands: receiver,
            status: status_sender,
            desired: state.desired_running,
            safe_mode: state.safe_mode,
            fast_exits: 0,
            backoff: FIRST_BACKOFF,
            waiting: Vec::new(),
        };
        tokio::spawn(task.run());
        Ok((commands, status))
    }

    async fn send(
        self: &Arc<Self>,
        name: &str,
        make: impl FnOnce(Reply) -> Command,
    ) -> Result<String, SupervisorError> {
        let (commands, _) = self.unit(name).await?;
        let (reply, answer) = oneshot::channel();
        commands
            .send(make(reply))
            .map_err(|_| SupervisorError::Failed(format!("{name} is being removed")))?;
        match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
            Ok(Ok(Ok(text))) => Ok(text),
            Ok(Ok(Err(text))) => Err(SupervisorError::Failed(text)),
            Ok(Err(_)) => Err(SupervisorError::Failed(format!("{name} is being removed"))),
            Err(_) => Err(SupervisorError::Failed(format!(
                "{name} is still starting after {} s; see `redhive tenant status {name}`",
                REPLY_TIMEOUT.as_secs()
            ))),
        }
    }

    pub async fn start_tenant(self: &Arc<Self>, name: &str) -> Result<String, SupervisorError> {
        self.send(name, Command::Start).await
    }

    pub async fn stop_tenant(self: &Arc<Self>, name: &str) -> Result<String, SupervisorError> {
        self.send(name, Command::Stop).await
    }

    pub async fn restart_tenant(self: &Arc<Self>, name: &str) -> Result<String, SupervisorError> {
        self.send(name, Command::Restart).await
    }

    /// Save new limits; a running tenant restarts to take them.
    pub async fn set_limits(
        self: &Arc<Self>,
        name: &str,
        change: impl FnOnce(&mut Limits),
    ) -> Result<Limits, SupervisorError> {
        let mut limits = runtime_state::get(&self.store, name)
            .await?
            .limits
            .unwrap_or(self.policy.defaults);
        change(&mut limits);
        limits
            .validate()
            .map_err(|e| SupervisorError::Refused(e.to_string()))?;
        runtime_state::update(&self.store, name, move |state| state.limits = Some(limits)).await?;
        let (_, status) = self.unit(name).await?;
        if status.borrow().state.is_active() {
            self.restart_tenant(name).await?;
        }
        Ok(limits)
    }

    /// Stop and delete everything of the tenant: runtime, files, database.
    pub async fn remove_tenant(self: &Arc<Self>, name: &str) -> Result<(), SupervisorError> {
        runtime_state::get(&self.store, name).await?;
        let (commands, _) = self.unit(name).await?;
        if let Some(stopped) = request_shutdown(&commands) {
            let _ = stopped.await;
        }
        self.units
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.release(name);
        self.roster.send_modify(|version| *version += 1);
        self.runtime
            .remove(name)
            .await
            .map_err(|e| SupervisorError::Failed(e.to_string()))?;
        tenants::remove(&self.store, name).await?;
        Ok(())
    }

    /// Add environment for every tenant from now on (at their next start).
    pub fn add_tenant_env(&self, source: Arc<dyn TenantEnv>) {
        self.extra_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The supervised tenants' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .units
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Changes whenever a tenant is added to or removed from supervision.
    pub fn roster(&self) -> watch::Receiver<u64> {
        self.roster.subscribe()
    }

    /// The live status of a supervised tenant, as it changes (the proxy routes by it).
    pub fn watch(&self, name: &str) -> Option<watch::Receiver<Status>> {
        self.units
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|unit| unit.status.clone())
    }

    /// Status with a fresh usage sample (CPU over a short window).
    pub async fn status(self: &Arc<Self>, name: &str) -> Result<Status, SupervisorError> {
        let (_, status) = self.unit(name).await?;
        let mut current = status.borrow().clone();
        if current.state.is_active() && current.state != State::Crashed {
            if let Ok(first) = self.runtime.usage(name).await {
                let window = Duration::from_millis(250);
                tokio::time::sleep(window).await;
                if let Ok(second) = self.runtime.usage(name).await {
                    let cpu = second.cpu_ns.saturating_sub(first.cpu_ns) as f64
                        / window.as_nanos() as f64;
                    current.usage = Some(UsageView {
                        memory_bytes: second.memory_bytes,
                        cpu_percent: (cpu * 1000.0).round() / 10.0,
                        pids: second.pids,
                    });
                }
            }
        }
        Ok(current)
    }

    /// Every tenant's status, sampled at the same time.
    pub async fn statuses(self: &Arc<Self>) -> Result<Vec<Status>, SupervisorError> {
        let names = tenants::list(&self.store).await?;
        futures_util::future::try_join_all(names.iter().map(|name| self.status(name))).await
    }

    pub async fn logs(
        &self,
        name: &str,
        tail: usize,
        follow: bool,
    ) -> Result<crate::runtime::logs::LogStream, SupervisorError> {
        runtime_state::get(&self.store, name).await?;
        self.runtime
            .logs(name, tail, follow)
            .await
            .map_err(|e| SupervisorError::Failed(e.to_string()))
    }

    /// redhive is stopping: Docker tenants keep running (adopted next time), processes stop.
    pub async fn shutdown(&self) {
        // All asked first, then awaited: tenants stop side by side.
        let waits: Vec<oneshot::Receiver<()>> = self
            .units
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .filter_map(|(_, unit)| request_shutdown(&unit.commands))
            .collect();
        for wait in waits {
            let _ = wait.await;
        }
        self.runtime.close();
    }

    /// Take a place in the memory budget, or say why not.
    fn admit(&self, name: &str, memory: u64) -> Result<(), String> {
        let mut committed = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        let others: u64 = committed
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, m)| m)
            .sum();
        if others + memory > self.policy.budget {
            let running = committed.keys().filter(|n| n.as_str() != name).count();
            return Err(format!(
                "cannot start {name}: its memory limit {} plus the {} of the {running} running tenant(s) would exceed the memory budget of {} (runtime.memory_budget); stop a tenant or lower a limit",
                format_bytes(memory),
                format_bytes(others),
                format_bytes(self.policy.budget),
            ));
        }
        committed.insert(name.to_string(), memory);
        Ok(())
    }

    fn release(&self, name: &str) {
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

/// Ask a unit's task to end; resolves once it has (None: it already ended).
fn request_shutdown(commands: &mpsc::UnboundedSender<Command>) -> Option<oneshot::Receiver<()>> {
    let (done, stopped) = oneshot::channel();
    commands
        .send(Command::Shutdown(done))
        .ok()
        .map(|()| stopped)
}

/// The life of one tenant.
struct TenantTask {
    supervisor: Arc<Supervisor>,
    name: String,
    commands: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<Status>,
    desired: bool,
    safe_mode: Option<String>,
    fast_exits: u32,
    backoff: Duration,
    /// Callers of start/restart waiting for the editor to answer.
    waiting: Vec<Reply>,
}

/// After a command: is the launched instance still there?
enum Flow {
    Keep,
    Gone,
    /// The task ends (shutdown or removal).
    End,
}

/// What interrupted a running or starting tenant.
enum Event {
    Exited(Exit),
    Command(Option<Command>),
    Ready,
    /// Stopped answering; the last answer came at this instant.
    Hung(Instant),
}

impl TenantTask {
    fn set(&self, change: impl FnOnce(&mut Status)) {
        self.status.send_modify(change);
    }

    fn answer(&mut self, result: Result<String, String>) {
        for reply in self.waiting.drain(..) {
            let _ = reply.send(result.clone());
        }
    }

    async fn persist(
        &self,
        change: impl FnOnce(&mut runtime_state::RuntimeState) + Send + 'static,
    ) {
        if let Err(error) = runtime_state::update(&self.supervisor.store, &self.name, change).await
        {
            tracing::error!(tenant = %self.name, %error, "cannot save the tenant's runtime state");
        }
    }

    /// A start or restart someone asked for: out of safe mode, crash counting from zero.
    async fn start_afresh(&mut self) {
        self.safe_mode = None;
        self.fast_exits = 0;
        self.backoff = FIRST_BACKOFF;
        self.persist(|state| state.safe_mode = None).await;
    }

    async fn set_desired(&mut self, desired: bool) {
        self.desired = desired;
        self.persist(move |state| state.desired_running = desired)
            .await;
    }

    async fn run(mut self) {
        let runtime = self.supervisor.runtime.clone();
        // A container still running from before redhive's restart is this tenant.
        let mut adopted = None;
        if self.desired || runtime.survives_restart() {
            match runtime.adopt(&self.name).await {
                Ok(Some(instance)) => adopted = Some(instance),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(tenant = %self.name, %error, "cannot look for a running instance")
                }
            }
        }
        if adopted.is_some() && !self.desired {
            self.set_desired(true).await;
        }
        loop {
            if !self.desired {
                self.supervisor.release(&self.name);
                self.set(|s| {
                    s.state = State::Stopped;
                    s.url = None;
                    s.port = None;
                    s.usage = None;
                });
                match self.commands.recv().await {
                    Some(Command::Start(reply)) | Some(Command::Restart(reply)) => {
                        self.waiting.push(reply);
                        self.start_afresh().await;
                        self.set_desired(true).await;
                    }
                    Some(Command::Stop(reply)) => {
                        let _ = reply.send(Ok(format!("{}: stopped", self.name)));
                    }
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                }
                continue;
            }
            let instance = match adopted.take() {
                Some(instance) => {
                    tracing::info!(tenant = %self.name, id = %instance.id, "adopted the running instance");
                    let limits = self.limits().await;
                    let _ = self.supervisor.admit(&self.name, limits.memory_bytes);
                    instance
                }
                None => match self.launch().await {
                    Some(instance) => instance,
                    None => continue,
                },
            };
            let started = Instant::now();
            self.set(|s| {
                s.state = State::Starting;
                s.url = Some(editor_url(instance.port));
                s.port = Some(instance.port);
                s.cgroup = instance.cgroup.clone();
                match runtime.kind() {
                    Kind::Docker => (s.container, s.pid) = (Some(instance.id.clone()), None),
                    Kind::Process => (s.container, s.pid) = (None, instance.id.parse().ok()),
                }
            });
            if !self.watch(&instance, started).await {
                return;
            }
        }
    }

    async fn limits(&self) -> Limits {
        runtime_state::get(&self.supervisor.store, &self.name)
            .await
            .ok()
            .and_then(|s| s.limits)
            .unwrap_or(self.supervisor.policy.defaults)
    }

    /// Admission, then launch. None: not launched (refused → stopped; failed → backoff).
    async fn launch(&mut self) -> Option<Instance> {
        let supervisor = self.supervisor.clone();
        let limits = self.limits().await;
        self.set(|s| {
            s.limits = limits;
            s.state = State::Starting;
            s.reason = None;
        });
        if let Err(refusal) = supervisor.admit(&self.name, limits.memory_bytes) {
            self.give_up(refusal).await;
            return None;
        }
        let spec = match self.spec(limits).await {
            Ok(spec) => spec,
            Err(error) => {
                self.failed(format!("cannot prepare {}: {error}", self.name))
                    .await;
                return None;
            }
        };
        match supervisor.runtime.launch(&spec).await {
            Ok(instance) => Some(instance),
            // No point retrying: stop and say what to do.
            Err(error) if error.needs_action() => {
                self.give_up(format!("cannot start {}: {error}", self.name))
                    .await;
                None
            }
            Err(error) => {
                self.failed(format!("cannot start {}: {error}", self.name))
                    .await;
                None
            }
        }
    }

    /// The tenant cannot start until someone acts: stopped, with the reason.
    async fn give_up(&mut self, reason: String) {
        tracing::warn!(tenant = %self.name, %reason, "not starting");
        self.set(|s| s.reason = Some(reason.clone()));
        self.answer(Err(reason));
        self.set_desired(false).await;
    }

    async fn spec(&self, limits: Limits) -> Result<LaunchSpec, TenantError> {
        let supervisor = &self.supervisor;
        let shim = supervisor.runtime.shim_addr(supervisor.shim);
        let mut env = tenants::runtime_env(&supervisor.store, &self.name, shim).await?;
        for source in supervisor
            .extra_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            env.extend(source.env());
        }
        Ok(LaunchSpec {
            tenant: self.name.clone(),
            env,
            limits,
            safe_mode: self.safe_mode.is_some(),
            uid: runtime_state::uid(&supervisor.store, &self.name, supervisor.policy.uid_base)
                .await?,
        })
    }

    /// A launch failed: report, then wait out the backoff (or a command).
    async fn failed(&mut self, reason: String) {
        tracing::error!(tenant = %self.name, %reason, "launch failed");
        self.set(|s| {
            s.state = State::Crashed;
            s.reason = Some(reason.clone());
        });
        self.answer(Err(reason));
        self.pause().await;
    }

    /// Sleep the backoff, doubling it; a command cuts it short.
    async fn pause(&mut self) -> bool {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            command = self.commands.recv() => !matches!(self.handle(command, false).await, Flow::End),
        }
    }

    /// Follow a launched instance until it exits or is stopped. False: the task ends.
    async fn watch(&mut self, instance: &Instance, started: Instant) -> bool {
        let runtime = self.supervisor.runtime.clone();
        let name = self.name.clone();
        let mut exit = Box::pin(async move { runtime.wait(&name).await });
        let mut ready = false;
        let deadline = started + READY_TIMEOUT;
        loop {
            let event = if ready {
                tokio::select! {
                    exit = &mut exit => Event::Exited(exit.unwrap_or_default()),
                    command = self.commands.recv() => Event::Command(command),
                    last_answer = hang(instance.port) => Event::Hung(last_answer),
                }
            } else {
                tokio::select! {
                    exit = &mut exit => Event::Exited(exit.unwrap_or_default()),
                    command = self.commands.recv() => Event::Command(command),
                    _ = wait_ready(instance.port, deadline) => Event::Ready,
                }
            };
            match event {
                Event::Ready => {
                    ready = true;
                    if Instant::now() >= deadline && !health::answers(instance.port).await {
                        // Still silent: count it as a crash and start over.
                        let reason = format!(
                            "Node-RED did not answer within {} s",
                            READY_TIMEOUT.as_secs()
                        );
                        let _ = self
                            .supervisor
                            .runtime
                            .stop(&self.name, Duration::ZERO)
                            .await;
                        self.failed(reason).await;
                        return true;
                    }
                    let url = editor_url(instance.port);
                    let safe = self.safe_mode.clone();
                    self.set(|s| {
                        s.state = if safe.is_some() {
                            State::SafeMode
                        } else {
                            State::Running
                        };
                        s.reason = safe.clone();
                    });
                    tracing::info!(tenant = %self.name, %url, safe_mode = safe.is_some(), "tenant is ready");
                    let text = match &safe {
                        Some(reason) => {
                            format!("{}: running in safe mode at {url} ({reason})", self.name)
                        }
                        None => format!("{}: running at {url}", self.name),
                    };
                    self.answer(Ok(text));
                }
                Event::Exited(exit) => {
                    return self.exited(exit, started.elapsed(), ready, None).await
                }
                Event::Hung(last_answer) => {
                    tracing::warn!(tenant = %self.name, "Node-RED stopped answering; killing it");
                    let runtime = self.supervisor.runtime.clone();
                    let _ = runtime.stop(&self.name, Duration::ZERO).await;
                    let exit = Exit {
                        signal: Some(nix::sys::signal::Signal::SIGKILL as i32),
                        ..Exit::default()
                    };
                    let why = format!(
                        "Node-RED stopped answering for {} s (a flow blocking its event loop?) and was killed",
                        HANG_LIMIT.as_secs()
                    );
                    // A hang soon after the start counts towards a crash loop like an exit.
                    let ran = last_answer.saturating_duration_since(started);
                    return self.exited(exit, ran, true, Some(why)).await;
                }
                Event::Command(command) => match self.handle(command, true).await {
                    Flow::Keep => {}
                    Flow::Gone => return true,
                    Flow::End => return false,
                },
            }
        }
    }

    /// The instance ended on its own (or hung and was killed: `why`) after running `ran`.
    async fn exited(
        &mut self,
        exit: Exit,
        ran: Duration,
        was_ready: bool,
        why: Option<String>,
    ) -> bool {
        tracing::warn!(tenant = %self.name, %exit, ran_s = ran.as_secs_f64(), "Node-RED exited");
        if ran < FAST_EXIT {
            self.fast_exits += 1;
        } else {
            self.fast_exits = 1;
            self.backoff = FIRST_BACKOFF;
        }
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let exit_reason = if let Some(why) = why {
            why
        } else if exit.oom {
            format!(
                "killed for using more than its memory limit ({})",
                format_bytes(self.status.borrow().limits.memory_bytes)
            )
        } else {
            format!("Node-RED {exit}")
        };
        let mut reason = exit_reason.clone();
        if !was_ready {
            self.answer(Err(format!(
                "{} {reason} while starting; see `redhive tenant logs {}`",
                self.name, self.name
            )));
        }
        if self.fast_exits >= CRASH_LOOP && self.safe_mode.is_none() {
            let why = format!("crash loop: {} exits within {} s of starting (last: {reason}); flows are not started until a restart", self.fast_exits, FAST_EXIT.as_secs());
            tracing::warn!(tenant = %self.name, reason = %why, "restarting in safe mode");
            self.safe_mode = Some(why.clone());
            self.fast_exits = 0;
            let saved = why.clone();
            self.persist(move |state| state.safe_mode = Some(saved))
                .await;
            reason = why;
        }
        self.set(|s| {
            s.state = State::Crashed;
            s.reason = Some(reason);
            s.restarts += 1;
            s.last_exit = Some(LastExit {
                exit,
                at,
                reason: exit_reason,
            });
            s.url = None;
            s.port = None;
            s.usage = None;
        });
        if self.safe_mode.is_some() && self.fast_exits == 0 {
            // Straight into safe mode, no backoff: the point is to get the editor back.
            return true;
        }
        self.pause().await
    }

    /// A command while the tenant is launched (`running`) or backing off.
    async fn handle(&mut self, command: Option<Command>, running: bool) -> Flow {
        match command {
            None => Flow::End,
            Some(Command::Start(reply)) => {
                if running && matches!(self.status.borrow().state, State::Running | State::SafeMode)
                {
                    let url = self.status.borrow().url.clone().unwrap_or_default();
                    let how = match self.safe_mode {
                        Some(_) => " in safe mode (`redhive tenant restart` leaves it)",
                        None => "",
                    };
                    let _ = reply.send(Ok(format!("{}: already running{how} at {url}", self.name)));
                } else {
                    self.waiting.push(reply);
                }
                Flow::Keep
            }
            Some(Command::Stop(reply)) => {
                self.stop_instance().await;
                self.set_desired(false).await;
                self.answer(Err(format!(
                    "{} was stopped before it was ready",
                    self.name
                )));
                let _ = reply.send(Ok(format!("{}: stopped", self.name)));
                Flow::Gone
            }
            Some(Command::Restart(reply)) => {
                self.stop_instance().await;
                self.start_afresh().await;
                self.waiting.push(reply);
                Flow::Gone
            }
            Some(Command::Shutdown(done)) => {
                if !self.supervisor.runtime.survives_restart() || !self.desired {
                    self.stop_instance().await;
                }
                self.answer(Err(format!("{} is shutting down", self.name)));
                let _ = done.send(());
                Flow::End
            }
        }
    }

    async fn stop_instance(&mut self) {
        self.set(|s| s.state = State::Stopping);
        if let Err(error) = self.supervisor.runtime.stop(&self.name, STOP_GRACE).await {
            tracing::error!(tenant = %self.name, %error, "stop failed");
        }
        self.set(|s| {
            s.state = State::Stopped;
            s.url = None;
            s.port = None;
            s.usage = None;
        });
    }
}

fn editor_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/")
}

/// Resolves when the editor has not answered for HANG_LIMIT; gives its last answer's time.
async fn hang(port: u16) -> Instant {
    let mut last_answer = Instant::now();
    loop {
        tokio::time::sleep(LIVENESS_INTERVAL).await;
        if health::answers(port).await {
            last_answer = Instant::now();
        } else if last_answer.elapsed() >= HANG_LIMIT {
            return last_answer;
        }
    }
}

/// Resolves once the editor answers or the deadline passes.
async fn wait_ready(port: u16, deadline: Instant) {
    while Instant::now() < deadline {
        if health::answers(port).await {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}
