//! The launcher: starts attempts of instances on this node's executor. It
//! builds an attempt's sandbox from its template (argv, env, volumes,
//! limits), binds it to its queue item or queue and to its checkpoint, and
//! tells the plugin who the instance is; an attempt whose sandbox cannot be
//! built (a hostPath vanished) is reported as ended with a start error,
//! through the same channel as every other end.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::AbortHandle;

use crate::executor::{self, Executor, Identity, Launch, Relay, RelayQueue, Reports, StartGate};
use crate::manifest::well_known::SCHEDULED_ANNOTATION;
use crate::manifest::{Job, Outcome, PodSpec, QueueSource};
use crate::queue::{Queue, QueueError};
use crate::runtime::{PluginContext, PluginEnv, Prepared, Runtime, SandboxSpec};
use crate::store::{Checkpoints, InstanceRecord};

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
    executor: Executor,
    handle: tokio::runtime::Handle,
    checkpoints: Arc<Checkpoints>,
    /// The node's store file, where an embedded queue lives.
    db_path: PathBuf,
    node_name: String,
    output_limit: usize,
    gate: Arc<StartGate>,
}

/// Where a launcher's instances run and what they are given.
pub(super) struct LauncherParts {
    pub runtime: Arc<Runtime>,
    pub handle: tokio::runtime::Handle,
    /// Where the executor reports how runs ended.
    pub reports: Arc<dyn Reports>,
    pub checkpoints: Arc<Checkpoints>,
    pub db_path: PathBuf,
    pub gate: Arc<StartGate>,
}

impl Launcher {
    pub(super) fn new(parts: LauncherParts, node_name: String, output_limit: usize) -> Self {
        Launcher {
            executor: Executor::new(parts.runtime, parts.handle.clone(), parts.reports),
            handle: parts.handle,
            checkpoints: parts.checkpoints,
            db_path: parts.db_path,
            node_name,
            output_limit,
            gate: parts.gate,
        }
    }

    /// Runs a queue call to its end on the node's runtime.
    pub(super) fn block_on<F: std::future::Future>(&self, call: F) -> F::Output {
        self.handle.block_on(call)
    }

    /// Connects a Job's queue (`spec.queue`).
    pub(super) fn connect_queue(&self, source: &QueueSource) -> Result<Queue, QueueError> {
        let url = source.url.as_deref();
        self.block_on(Queue::connect(url, &source.name, &self.db_path))
    }

    /// What the executor needs to relay a slot's successors from `queue`.
    pub(super) fn relay(&self, queue: &Arc<RelayQueue>) -> Relay {
        Relay {
            gate: self.gate.clone(),
            queue: queue.clone(),
        }
    }

    /// Starts an attempt, bound to its queue as `binding` says, in a slot
    /// that relays successors when there is a `relay`.
    pub(super) fn start(
        &self,
        attempt: &Attempt<'_>,
        binding: Result<Binding, String>,
        relay: Option<Relay>,
    ) -> AbortHandle {
        match self.prepare(attempt, binding) {
            Ok(launch) => self.executor.launch_relayed(launch, relay),
            Err(message) => self.unstarted(&attempt.record.uid, attempt.attempt, message),
        }
    }

    /// Reports an attempt whose sandbox could not be built: it ends as a
    /// start error, counted like any failure.
    fn unstarted(&self, uid: &str, attempt: u32, message: String) -> AbortHandle {
        let outcome = Outcome::StartError { message };
        self.executor
            .report_unstarted(uid.to_owned(), attempt, outcome)
    }

    /// Who an instance of `job` named `instance_name` is.
    fn identity<'a>(
        &'a self,
        job: &'a Job,
        instance_name: &'a str,
        index: Option<u32>,
    ) -> Identity<'a> {
        let scheduled_time = job.metadata.annotations.get(SCHEDULED_ANNOTATION);
        Identity {
            job_name: &job.metadata.name,
            instance_name,
            completion_index: index,
            node_name: &self.node_name,
            scheduled_time: scheduled_time.map(String::as_str),
        }
    }

    /// The sandbox every relayed instance of `job` can share, built once:
    /// a core module (a component's sandbox carries the instance's plugin
    /// context) without volumes (an `emptyDir` is the instance's own), so
    /// that only the instance's name differs. `None` when the Job's
    /// instances need sandboxes of their own.
    pub(super) fn shared_sandbox(
        &self,
        job: &Job,
        prepared: &Prepared,
    ) -> Option<Arc<SandboxSpec>> {
        let pod = &job.spec.template.spec;
        let own =
            !matches!(prepared, Prepared::Core(_)) || !pod.containers[0].volume_mounts.is_empty();
        if own {
            return None;
        }
        let who = self.identity(job, "", None);
        let (spec, _) = executor::sandbox(pod, &who, self.output_limit).ok()?;
        Some(Arc::new(spec))
    }

    /// What the executor needs to run an attempt: its sandbox and module.
    pub(super) fn prepare(
        &self,
        attempt: &Attempt<'_>,
        binding: Result<Binding, String>,
    ) -> Result<Launch, String> {
        let Attempt { job, record, .. } = *attempt;
        let who = self.identity(job, &record.name, record.completion_index);
        let built = executor::sandbox(&job.spec.template.spec, &who, self.output_limit)?;
        let context = || PluginContext {
            job_name: job.metadata.name.clone(),
            instance_name: record.name.clone(),
            completion_index: record.completion_index,
            attempt: attempt.failed_before + record.restart_count,
            node_name: self.node_name.clone(),
            scheduled_time: who.scheduled_time.map(str::to_owned),
        };
        let (sandbox, scratch) =
            self.bind(attempt.job_uid, attempt.prepared, context, binding?, built)?;
        Ok(Launch {
            instance_uid: record.uid.clone(),
            attempt: attempt.attempt,
            prepared: attempt.prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
        })
    }

    /// Binds the sandbox to its queue item or queue, its checkpoint, and
    /// who the instance is.
    fn bind(
        &self,
        job_uid: &str,
        prepared: &Prepared,
        context: impl FnOnce() -> PluginContext,
        binding: Binding,
        (mut sandbox, scratch): (SandboxSpec, Vec<tempfile::TempDir>),
    ) -> Result<(SandboxSpec, Vec<tempfile::TempDir>), String> {
        sandbox.stdin = binding.stdin;
        if !matches!(prepared, Prepared::Component(_)) {
            // Core modules cannot import the plugin interfaces: no
            // checkpoint to read from the store on every launch.
            return Ok((sandbox, scratch));
        }
        // Only a component can import the plugin interfaces, so only a
        // component gets the context they report.
        let context = context();
        let index_key = context.completion_index;
        let checkpoint = self
            .checkpoints
            .load(job_uid, index_key)
            .map_err(|e| format!("cannot load the checkpoint: {e}"))?;
        sandbox.plugin = PluginEnv {
            context,
            checkpoint,
            checkpoints: Some(self.checkpoints.sink(job_uid, index_key)),
            queue: binding.queue,
        };
        Ok((sandbox, scratch))
    }

    /// Starts an attempt of a daemon instance of the DaemonSet `name`:
    /// `template`'s sandbox, a plugin context without checkpoint or queue.
    pub(super) fn start_daemon(
        &self,
        name: &str,
        template: &PodSpec,
        prepared: &Arc<Prepared>,
        record: &InstanceRecord,
        attempt: u32,
    ) -> AbortHandle {
        let who = Identity {
            job_name: name,
            instance_name: &record.name,
            completion_index: None,
            node_name: &self.node_name,
            scheduled_time: None,
        };
        let (mut sandbox, scratch) = match executor::sandbox(template, &who, self.output_limit) {
            Ok(built) => built,
            Err(message) => return self.unstarted(&record.uid, attempt, message),
        };
        sandbox.plugin = PluginEnv {
            context: PluginContext {
                job_name: name.to_owned(),
                instance_name: record.name.clone(),
                completion_index: None,
                attempt,
                node_name: self.node_name.clone(),
                scheduled_time: None,
            },
            ..PluginEnv::default()
        };
        self.executor.launch(Launch {
            instance_uid: record.uid.clone(),
            attempt,
            prepared: prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
        })
    }
}
