//! The executor: runs instances on this node. It turns an instance of a
//! template into a sandbox (argv, env, volumes, limits), runs it on the async
//! runtime, and reports how it ended through [`Reports`]. It decides
//! nothing; controllers do, and the runner carries their decisions out.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::manifest::Outcome;
use crate::manifest::PodSpec;
use crate::runtime::{Mount, Prepared, RunReport, Runtime, SandboxSpec};
use crate::time::{self, Micros};

/// Who an instance is, for the variables injected into its environment
/// (borrowed: it is built for every instance and only read).
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The owning Job's name.
    pub job_name: &'a str,
    /// The instance's name (also `HOSTNAME`).
    pub instance_name: &'a str,
    /// Indexed Jobs.
    pub completion_index: Option<u32>,
    /// This node.
    pub node_name: &'a str,
    /// For a CronJob's run: its scheduled time (RFC 3339).
    pub scheduled_time: Option<&'a str>,
}

/// One instance to run.
pub struct Launch {
    /// Returned with the result.
    pub instance_uid: String,
    /// 0 for the first run, +1 per in-place restart.
    pub attempt: u32,
    /// The compiled, linked module.
    pub prepared: Arc<Prepared>,
    /// The sandbox.
    pub sandbox: Sandbox,
    /// Scratch directories (`emptyDir`) removed when the run ends.
    pub scratch: Vec<tempfile::TempDir>,
}

/// An instance's sandbox: its own, or the one its Job's relayed instances
/// share (built once by the runner, read by every executor thread, with
/// the instance's name given at each run). A sandbox of its own is built
/// on the runner's thread and dropped on an executor's, for every instance.
pub enum Sandbox {
    /// This instance's alone.
    Own(Box<SandboxSpec>),
    /// Its Job's, for the instance of this name.
    OfJob {
        /// The Job's sandbox (`instance_name_vars` set).
        spec: Arc<SandboxSpec>,
        /// The instance's name.
        instance_name: String,
    },
}

/// Where the executor reports how each run ended: the runner's inbox,
/// which implements this. The executor knows nothing else of the runner.
pub trait Reports: Send + Sync + 'static {
    /// A run ended.
    fn finished(&self, done: Finished);
}

/// Whether this node starts new instances: executor slots relaying
/// successors look at it before each (see [`Relay`]), and wake when it
/// changes. It is closed while the node drains after a shutdown, and while
/// its store cannot be written.
#[derive(Debug, Default)]
pub struct StartGate {
    draining: AtomicBool,
    unwritable: AtomicBool,
    changed: tokio::sync::Notify,
}

impl StartGate {
    /// The node drains: it starts nothing new, for good.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Whether the node's store can be written; slots waiting for a
    /// successor look again.
    pub fn set_unwritable(&self, unwritable: bool) {
        self.unwritable.store(unwritable, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Whether new instances may start.
    pub fn is_open(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && !self.unwritable.load(Ordering::Acquire)
    }
}

/// Lets an executor slot start a Job's next instance by itself when one
/// succeeds, without waiting for the runner: the runner puts the successor,
/// decided and prepared, in `queue`, and closes `gate` while the node must
/// start nothing new (it drains, or its store cannot be written).
#[derive(Clone)]
pub struct Relay {
    /// Whether the node still starts instances.
    pub gate: Arc<StartGate>,
    /// The next instances of the slot, as far as the runner has decided them.
    pub queue: Arc<RelayQueue>,
}

/// The successors of one executor slot, in order. A slot that has run all
/// it was given waits here for the runner, which either gives it more or
/// closes the queue (the Job needs no more of its instances); it does not
/// end: a slot that ended whenever the runner fell a few milliseconds
/// behind (its thread is one of three on two cores) was started again, and
/// the successors decided for it meanwhile were thrown away.
#[derive(Default)]
pub struct RelayQueue {
    state: Mutex<Successors>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Successors {
    next: VecDeque<Launch>,
    closed: bool,
}

impl RelayQueue {
    /// Adds a successor.
    pub fn push(&self, launch: Launch) {
        self.state
            .lock()
            .expect("relay queue")
            .next
            .push_back(launch);
        self.wake.notify_one();
    }

    /// The slot gets no more successors: it ends once it has run those it
    /// has.
    pub fn close(&self) {
        self.state.lock().expect("relay queue").closed = true;
        self.wake.notify_one();
    }

    /// Closes the queue and takes back the successors not started.
    pub fn take_back(&self) -> VecDeque<Launch> {
        let mut state = self.state.lock().expect("relay queue");
        state.closed = true;
        std::mem::take(&mut state.next)
    }
}

impl RelayQueue {
    /// The next successor if one is given (`Some(Some(..))`), or the end of
    /// the slot once the queue is closed and empty (`Some(None)`); `None`
    /// while the runner has not decided yet.
    fn next(&self) -> Option<Option<Launch>> {
        let mut state = self.state.lock().expect("relay queue");
        match state.next.pop_front() {
            Some(launch) => Some(Some(launch)),
            None if state.closed => Some(None),
            None => None,
        }
    }
}

impl Relay {
    /// The successor to start now that an instance succeeded: the next one
    /// given, waiting for the runner if none is yet; `None` once the queue
    /// is closed and empty, or the node starts nothing new.
    async fn successor(&self) -> Option<Launch> {
        // Most of the time a successor is ready: no waiting is set up.
        if !self.gate.is_open() {
            return None;
        }
        if let Some(next) = self.queue.next() {
            return next;
        }
        loop {
            // Registered before looking again, so that a push or a change of
            // the gate in between is not missed.
            let pushed = self.queue.wake.notified();
            let changed = self.gate.changed.notified();
            tokio::pin!(pushed, changed);
            pushed.as_mut().enable();
            changed.as_mut().enable();
            if !self.gate.is_open() {
                return None;
            }
            if let Some(next) = self.queue.next() {
                return next;
            }
            tokio::select! {
                _ = pushed => {}
                _ = changed => {}
            }
        }
    }
}

/// How one run ended.
#[derive(Debug)]
pub struct Finished {
    /// The instance.
    pub instance_uid: String,
    /// Which attempt.
    pub attempt: u32,
    /// When the run started.
    pub started: Micros,
    /// When it ended.
    pub finished: Micros,
    /// Outcome and output.
    pub report: RunReport,
    /// The successor the slot started as this run ended (see [`Relay`]).
    pub relayed: Option<String>,
}

/// Builds the sandbox of one instance of `pod`.
pub fn sandbox(
    pod: &PodSpec,
    who: &Identity<'_>,
    output_limit: usize,
) -> Result<(SandboxSpec, Vec<tempfile::TempDir>), String> {
    let container = &pod.containers[0];
    let mut argv = if container.command.is_empty() {
        vec![container.name.clone()]
    } else {
        container.command.clone()
    };
    argv.extend(container.args.iter().cloned());

    let mut env = Vec::with_capacity(6 + container.env.len());
    env.extend([
        ("JOB_NAME".to_owned(), who.job_name.to_owned()),
        ("HOSTNAME".to_owned(), who.instance_name.to_owned()),
        ("INSTANCE_NAME".to_owned(), who.instance_name.to_owned()),
        ("NODE_NAME".to_owned(), who.node_name.to_owned()),
    ]);
    if let Some(index) = who.completion_index {
        env.push(("JOB_COMPLETION_INDEX".to_owned(), index.to_string()));
    }
    if let Some(time) = who.scheduled_time {
        env.push(("SCHEDULED_TIME".to_owned(), time.to_owned()));
    }
    for var in &container.env {
        // A declared variable overrides an injected one of the same name.
        env.retain(|(k, _)| k != &var.name);
        env.push((var.name.clone(), var.value.clone()));
    }

    let mut mounts = Vec::new();
    let mut scratch = Vec::new();
    for mount in &container.volume_mounts {
        let volume = pod
            .volumes
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| format!("volume {:?} is not defined", mount.name))?;
        let host = if let Some(host) = &volume.host_path {
            let path = PathBuf::from(&host.path);
            if host.kind.as_deref() == Some("DirectoryOrCreate") {
                std::fs::create_dir_all(&path)
                    .map_err(|e| format!("cannot create hostPath {}: {e}", path.display()))?;
            }
            if !path.is_dir() {
                return Err(format!(
                    "hostPath {} is not a directory on this node",
                    path.display()
                ));
            }
            path
        } else {
            let dir = tempfile::Builder::new()
                .prefix("wasmjob-emptydir-")
                .tempdir()
                .map_err(|e| format!("cannot create emptyDir {:?}: {e}", mount.name))?;
            let path = dir.path().to_path_buf();
            scratch.push(dir);
            path
        };
        mounts.push(Mount {
            host,
            guest: mount.mount_path.clone(),
            read_only: mount.read_only,
        });
    }

    let mut spec = SandboxSpec::new(argv);
    // The injected names, unless declared: a spec built once for a Job
    // takes each instance's name there.
    let declared = |name: &str| container.env.iter().any(|v| v.name == name);
    spec.instance_name_vars = env
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| matches!(key.as_str(), "HOSTNAME" | "INSTANCE_NAME"))
        .filter(|(_, (key, _))| !declared(key))
        .map(|(at, _)| at)
        .collect();
    spec.env = env;
    spec.mounts = mounts;
    if let Some(limit) = container.memory_limit() {
        spec.memory_limit = limit;
    }
    spec.deadline = pod
        .active_deadline_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64));
    spec.output_limit = output_limit;
    Ok((spec, scratch))
}

/// Runs instances on a tokio runtime and reports each [`Finished`].
pub struct Executor {
    runtime: Arc<Runtime>,
    handle: tokio::runtime::Handle,
    reports: Arc<dyn Reports>,
}

impl Executor {
    /// An executor whose results go to `reports`.
    pub fn new(
        runtime: Arc<Runtime>,
        handle: tokio::runtime::Handle,
        reports: Arc<dyn Reports>,
    ) -> Self {
        Executor {
            runtime,
            handle,
            reports,
        }
    }

    /// Starts a run; the handle stops it (and no result is sent).
    pub fn launch(&self, launch: Launch) -> AbortHandle {
        self.launch_relayed(launch, None)
    }

    /// Starts a run in a slot that, with a `relay`, goes on with the
    /// successors the runner gives it as long as each run succeeds; the
    /// handle stops whichever runs.
    pub fn launch_relayed(&self, launch: Launch, relay: Option<Relay>) -> AbortHandle {
        let runtime = self.runtime.clone();
        let reports = self.reports.clone();
        let task = self.handle.spawn(async move {
            let mut launch = launch;
            loop {
                let started = time::now();
                let report = match &launch.sandbox {
                    Sandbox::Own(spec) => runtime.run_shared(&launch.prepared, spec).await,
                    Sandbox::OfJob {
                        spec,
                        instance_name,
                    } => {
                        let prepared = &launch.prepared;
                        runtime.run_named(prepared, spec, instance_name).await
                    }
                };
                let finished = time::now();
                drop(launch.scratch);
                let next = match &relay {
                    Some(relay) if report.outcome.succeeded() => relay.successor().await,
                    _ => None,
                };
                reports.finished(Finished {
                    instance_uid: launch.instance_uid,
                    attempt: launch.attempt,
                    started,
                    finished,
                    report,
                    relayed: next.as_ref().map(|n| n.instance_uid.clone()),
                });
                match next {
                    Some(next) => launch = next,
                    None => break,
                }
            }
        });
        task.abort_handle()
    }

    /// Reports an attempt that could not even start, through the same channel
    /// as every other end, so the runner treats it uniformly.
    pub fn report_unstarted(
        &self,
        instance_uid: String,
        attempt: u32,
        outcome: Outcome,
    ) -> AbortHandle {
        let reports = self.reports.clone();
        let task = self.handle.spawn(async move {
            let now = time::now();
            reports.finished(Finished {
                instance_uid,
                attempt,
                started: now,
                finished: now,
                report: RunReport {
                    outcome,
                    output: Vec::new(),
                    truncated: false,
                    records: Vec::new(),
                },
                relayed: None,
            });
        });
        task.abort_handle()
    }
}
