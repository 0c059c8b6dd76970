//! The launcher: starts attempts of instances on this node's executor. It
//! builds an attempt's sandbox from its template (argv, env, volumes,
//! limits), binds it to its queue item or queue and to its checkpoint, and
//! tells the plugin who the instance is; an attempt whose sandbox cannot be
//! built (a hostPath vanished) is reported as ended with a start error,
//! through the same channel as every other end. An attempt whose template
//! refers to a ConfigMap, Secret or key that is not there waits for it, as
//! a Pod waits in `CreateContainerConfigError`: its task looks again every
//! `RECHECK` (see `waiting`) and starts the attempt once everything is there (see
//! [`crate::executor::references`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::executor::references::{self, ConfigSource, NodeResources};
use crate::executor::{self, Executor, Lane, Lanes, Launch, Relay, RelayQueue, Reports, StartGate};
use crate::manifest::{Job, Outcome, PodTemplateSpec, QueueSource};
use crate::queue::{Queue, QueueError};
use crate::runtime::{Prepared, Runtime, SandboxSpec};
use crate::store::{Checkpoints, InstanceRecord, KeyValues};

mod sandboxes;
mod waiting;

use waiting::{OwnedAttempt, Retry};

/// One attempt of an instance, as the launcher starts it.
pub(super) struct Attempt<'a> {
    pub job: &'a Job,
    /// The Job's stored uid.
    pub job_uid: &'a str,
    pub prepared: &'a Arc<Prepared>,
    pub record: &'a InstanceRecord,
    /// 0 first, +1 per restart in place.
    pub attempt: u32,
    /// Failures of this work before this instance (the plugin context's attempt).
    pub failed_before: u32,
}

/// What an instance gets from its Job's queue.
#[derive(Default)]
pub(super) struct Binding {
    /// Stdin mode: the item.
    pub stdin: Vec<u8>,
    /// Lease mode: the queue.
    pub queue: Option<Arc<Queue>>,
}

/// Starts this node's instances.
pub(super) struct Launcher {
    core: Arc<Core>,
}

/// What starting an attempt needs, shared with the tasks of attempts that
/// wait for their references.
struct Core {
    executor: Executor,
    checkpoints: Arc<Checkpoints>,
    /// `wasi:keyvalue`'s values, in the node's file.
    keyvalues: Arc<KeyValues>,
    /// The node's store file, where an embedded queue lives.
    db_path: PathBuf,
    node_name: String,
    output_limit: usize,
    gate: Arc<StartGate>,
    /// This node's ConfigMaps and Secrets.
    configs: Arc<dyn ConfigSource>,
    /// What an instance without limits gets, for `resourceFieldRef`.
    resources: NodeResources,
}

/// Where a launcher's instances run and what they are given.
pub(super) struct LauncherParts {
    pub runtime: Arc<Runtime>,
    /// The workers slots run on (see `executor::lanes`).
    pub lanes: Lanes,
    /// Where the executor reports how runs ended.
    pub reports: Arc<dyn Reports>,
    pub checkpoints: Arc<Checkpoints>,
    pub db_path: PathBuf,
    pub gate: Arc<StartGate>,
    /// This node's ConfigMaps and Secrets.
    pub configs: Arc<dyn ConfigSource>,
}

impl Launcher {
    pub(super) fn new(parts: LauncherParts, node_name: String, output_limit: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let core = Core {
            executor: Executor::new(parts.runtime, parts.lanes, parts.reports),
            checkpoints: parts.checkpoints,
            keyvalues: Arc::new(KeyValues::open(&parts.db_path)),
            db_path: parts.db_path,
            node_name,
            output_limit,
            gate: parts.gate,
            configs: parts.configs,
            resources: NodeResources {
                memory: crate::runtime::DEFAULT_MEMORY_LIMIT,
                cores,
            },
        };
        Launcher {
            core: Arc::new(core),
        }
    }

    /// Runs a queue call to its end on the node's runtime.
    pub(super) fn block_on<F: std::future::Future>(&self, call: F) -> F::Output {
        self.core.executor.handle().block_on(call)
    }

    /// Connects a Job's queue (`spec.queue`).
    pub(super) fn connect_queue(&self, source: &QueueSource) -> Result<Queue, QueueError> {
        let url = source.url.as_deref();
        self.block_on(Queue::connect(url, &source.name, &self.core.db_path))
    }

    /// What the executor needs to relay a slot's successors from `queue`.
    pub(super) fn relay(&self, queue: &Arc<RelayQueue>) -> Relay {
        Relay {
            gate: self.core.gate.clone(),
            queue: queue.clone(),
        }
    }

    /// Starts an attempt, bound to its queue as `binding` says, in a slot
    /// that relays successors when there is a `relay`. An attempt whose
    /// references are not all there waits for them.
    pub(super) fn start(
        &self,
        attempt: &Attempt<'_>,
        binding: Result<Binding, String>,
        relay: Option<Relay>,
    ) -> AbortHandle {
        let core = &self.core;
        let binding = match binding {
            Ok(binding) => binding,
            Err(message) => return core.unstarted(&attempt.record.uid, attempt.attempt, message),
        };
        let template = &attempt.job.spec.template;
        let resolved = match core.resolve(template, attempt.record) {
            Ok(resolved) => resolved,
            Err(missing) => {
                let owned = OwnedAttempt::of(attempt);
                let (uid, number) = (owned.record.uid.clone(), owned.attempt);
                let waiting_core = core.clone();
                let mut binding = Some(binding);
                let retry = move || {
                    let template = &owned.job.spec.template;
                    match waiting_core.resolve(template, &owned.record) {
                        Err(missing) => Retry::Waiting(missing),
                        Ok(resolved) => {
                            let binding = binding.take().unwrap_or_default();
                            let view = owned.view();
                            match waiting_core.prepare(&view, binding, resolved.as_deref()) {
                                Ok(launch) => Retry::Ready(launch),
                                Err(message) => Retry::Failed(message),
                            }
                        }
                    }
                };
                return core.wait(uid, number, missing, Box::new(retry), relay);
            }
        };
        let lane = Lane::of(attempt.job.spec.parallelism(), core.resources.cores);
        match core.prepare(attempt, binding, resolved.as_deref()) {
            Ok(launch) => core.executor.launch_relayed(launch, relay, lane),
            Err(message) => core.unstarted(&attempt.record.uid, attempt.attempt, message),
        }
    }

    /// The sandbox every relayed instance of `job` can share, built once:
    /// a core module (a component's sandbox carries the instance's plugin
    /// context) without volumes (an `emptyDir` is the instance's own) and
    /// without references (read at each attempt), so that only the
    /// instance's name differs. `None` when the Job's instances need
    /// sandboxes of their own.
    pub(super) fn shared_sandbox(
        &self,
        job: &Job,
        prepared: &Prepared,
    ) -> Option<Arc<SandboxSpec>> {
        let pod = &job.spec.template.spec;
        let own = !matches!(prepared, Prepared::Core(_))
            || !pod.containers[0].volume_mounts.is_empty()
            || references::refers_outside(pod)
            || pod.is_multi();
        if own {
            return None;
        }
        let who = self.core.identity(job, "", None);
        let (spec, _) = executor::sandbox(pod, &who, self.core.output_limit, None).ok()?;
        Some(Arc::new(spec))
    }

    /// What the executor needs to run an attempt: its sandbox and module.
    /// An attempt whose references are missing is not prepared (a Job
    /// that refers outside its template does not relay; see `jobs`).
    pub(super) fn prepare(
        &self,
        attempt: &Attempt<'_>,
        binding: Result<Binding, String>,
    ) -> Result<Launch, String> {
        let resolved = self
            .core
            .resolve(&attempt.job.spec.template, attempt.record)
            .map_err(|missing| missing.message)?;
        self.core.prepare(attempt, binding?, resolved.as_deref())
    }

    /// Stops a run, at once or, with a `grace` (the template's
    /// `terminationGracePeriodSeconds`), once it has had that long to end
    /// on its own: a Wasm guest gets no signal, so the grace is the time it
    /// may run on. What it does meanwhile is not recorded: the instance
    /// was recorded as stopped when the stop was decided.
    pub(super) fn stop_within(&self, run: AbortHandle, grace: Option<Duration>) {
        match grace.filter(|g| !g.is_zero()) {
            None => run.abort(),
            Some(grace) => {
                self.core.executor.handle().spawn(async move {
                    tokio::time::sleep(grace).await;
                    run.abort();
                });
            }
        }
    }

    /// Starts an attempt of a daemon instance of the DaemonSet `name`:
    /// `template`'s sandbox, a plugin context without checkpoint or queue.
    pub(super) fn start_daemon(
        &self,
        name: &str,
        template: &Arc<PodTemplateSpec>,
        prepared: &Arc<Prepared>,
        record: &InstanceRecord,
        attempt: u32,
    ) -> AbortHandle {
        let core = &self.core;
        match core.resolve(template, record) {
            Ok(resolved) => {
                match core.daemon_launch(name, template, prepared, record, attempt, resolved) {
                    Ok(launch) => core.executor.launch(launch),
                    Err(message) => core.unstarted(&record.uid, attempt, message),
                }
            }
            Err(missing) => {
                let waiting_core = core.clone();
                let (name, template) = (name.to_owned(), template.clone());
                let (prepared, record) = (prepared.clone(), record.clone());
                let uid = record.uid.clone();
                let retry = move || match waiting_core.resolve(&template, &record) {
                    Err(missing) => Retry::Waiting(missing),
                    Ok(resolved) => {
                        let launch = waiting_core
                            .daemon_launch(&name, &template, &prepared, &record, attempt, resolved);
                        match launch {
                            Ok(launch) => Retry::Ready(launch),
                            Err(message) => Retry::Failed(message),
                        }
                    }
                };
                core.wait(uid, attempt, missing, Box::new(retry), None)
            }
        }
    }
}

impl Core {
    /// Reports an attempt whose sandbox could not be built: it ends as a
    /// start error, counted like any failure.
    fn unstarted(&self, uid: &str, attempt: u32, message: String) -> AbortHandle {
        let outcome = Outcome::StartError { message };
        self.executor
            .report_unstarted(uid.to_owned(), attempt, outcome)
    }
}
