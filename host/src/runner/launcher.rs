//! The launcher: starts attempts of instances on this node's executor. It
//! builds an attempt's sandbox from its template (argv, env, volumes,
//! limits), binds it to its queue item or queue and to its checkpoint, and
//! tells the plugin who the instance is; an attempt whose sandbox cannot be
//! built (a hostPath vanished) is reported as ended with a start error,
//! through the same channel as every other end. An attempt whose template
//! refers to a ConfigMap, Secret or key that is not there waits for it, as
//! a Pod waits in `CreateContainerConfigError`: its task looks again every
//! [`RECHECK`] and starts the attempt once everything is there (see
//! [`crate::executor::references`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::executor::pod::{PodPlan, Step};
use crate::executor::references::{self, ConfigSource, Missing, NodeResources, Resolved};
use crate::executor::{
    self, Executor, Identity, Launch, Relay, RelayQueue, Reports, StartGate, Waiting,
};
use crate::executor::{AttemptDir, Scratch};
use crate::manifest::downward::PodFacts;
use crate::manifest::well_known::SCHEDULED_ANNOTATION;
use crate::manifest::{Container, Job, Outcome, PodSpec, PodTemplateSpec, QueueSource};
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

/// How often a waiting attempt looks again for what it refers to.
pub(super) const RECHECK: Duration = Duration::from_millis(500);

/// Starts this node's instances.
pub(super) struct Launcher {
    core: Arc<Core>,
}

/// What starting an attempt needs, shared with the tasks of attempts that
/// wait for their references.
struct Core {
    executor: Executor,
    checkpoints: Arc<Checkpoints>,
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
    pub handle: tokio::runtime::Handle,
    /// Where the executor reports how runs ended.
    pub reports: Arc<dyn Reports>,
    pub checkpoints: Arc<Checkpoints>,
    pub db_path: PathBuf,
    pub gate: Arc<StartGate>,
    /// This node's ConfigMaps and Secrets.
    pub configs: Arc<dyn ConfigSource>,
}

/// An attempt's sandboxes: the first container's, the plan of the others
/// (if any), and the directories removed when it ends.
type Built = (SandboxSpec, Option<Box<PodPlan>>, Vec<AttemptDir>);

/// What a waiting attempt's next look found.
enum Retry {
    /// Everything is there: the attempt, ready to run.
    Ready(Launch),
    /// It cannot start at all.
    Failed(String),
    /// Something is still missing.
    Waiting(Missing),
}

/// An attempt of a Job's instance, owned by the task that waits for it.
struct OwnedAttempt {
    job: Job,
    job_uid: String,
    prepared: Arc<Prepared>,
    record: InstanceRecord,
    attempt: u32,
    failed_before: u32,
}

impl OwnedAttempt {
    fn of(attempt: &Attempt<'_>) -> Self {
        OwnedAttempt {
            job: attempt.job.clone(),
            job_uid: attempt.job_uid.to_owned(),
            prepared: attempt.prepared.clone(),
            record: attempt.record.clone(),
            attempt: attempt.attempt,
            failed_before: attempt.failed_before,
        }
    }

    fn view(&self) -> Attempt<'_> {
        Attempt {
            job: &self.job,
            job_uid: &self.job_uid,
            prepared: &self.prepared,
            record: &self.record,
            attempt: self.attempt,
            failed_before: self.failed_before,
        }
    }
}

impl Launcher {
    pub(super) fn new(parts: LauncherParts, node_name: String, output_limit: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let core = Core {
            executor: Executor::new(parts.runtime, parts.handle, parts.reports),
            checkpoints: parts.checkpoints,
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
        match core.prepare(attempt, binding, resolved.as_deref()) {
            Ok(launch) => core.executor.launch_relayed(launch, relay),
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

    /// What `template`'s references are for the instance `record`, if it
    /// has any: one [`Resolved`] per container, init containers first.
    fn resolve(
        &self,
        template: &PodTemplateSpec,
        record: &InstanceRecord,
    ) -> Result<Option<Vec<Resolved>>, Missing> {
        if !references::refers_outside(&template.spec) {
            return Ok(None);
        }
        let facts = PodFacts {
            name: &record.name,
            namespace: &record.namespace,
            uid: &record.uid,
            labels: &record.labels,
            annotations: &template.metadata.annotations,
            node_name: &self.node_name,
        };
        let pod = &template.spec;
        let resolved = (pod.all_containers())
            .map(|c| references::resolve(pod, c, &facts, &*self.configs, self.resources))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(resolved))
    }

    /// Where the `persistentVolumeClaim`s of `namespace` are: under the
    /// node's state directory (see [`crate::manifest::ClaimVolume`]).
    fn claims_dir(&self, namespace: &str) -> PathBuf {
        let state = self.db_path.parent().unwrap_or(std::path::Path::new("."));
        state.join("volumes").join(namespace)
    }

    /// The sandboxes of an attempt of `pod` for `who`, whose references
    /// resolved to `refs` (one per container, init containers first): the
    /// first container's, the plan of the others when there are others
    /// (see [`executor::pod`]), and the directories to remove when the
    /// attempt ends.
    fn build(
        &self,
        pod: &PodSpec,
        who: &Identity<'_>,
        namespace: &str,
        refs: Option<&[Resolved]>,
    ) -> Result<Built, String> {
        let mut scratch = Scratch::with_claims(self.claims_dir(namespace));
        let refs_of = |i: usize| refs.and_then(|r| r.get(i));
        let first = pod.init_containers.len();
        let limit = self.output_limit;
        let main = executor::sandbox_of(
            pod,
            &pod.containers[0],
            who,
            limit,
            refs_of(first),
            &mut scratch,
        )?;
        if !pod.is_multi() {
            return Ok((main, None, scratch.into_dirs()));
        }
        let runtime = self.executor.runtime();
        let mut step = |i: usize, container: &Container| -> Result<Step, String> {
            let prepared = runtime.prepared(&container.image).ok_or_else(|| {
                format!(
                    "the module of container {:?} is not prepared on this node",
                    container.name
                )
            })?;
            let spec = executor::sandbox_of(pod, container, who, limit, refs_of(i), &mut scratch)?;
            Ok(Step {
                name: container.name.clone(),
                prepared,
                spec,
                sidecar: container.restart_policy.as_deref() == Some("Always"),
            })
        };
        let mut init = Vec::new();
        for (i, container) in pod.init_containers.iter().enumerate() {
            init.push(step(i, container)?);
        }
        let mut others = Vec::new();
        for (j, container) in pod.containers.iter().enumerate().skip(1) {
            others.push(step(first + j, container)?);
        }
        let plan = PodPlan {
            main: pod.containers[0].name.clone(),
            init,
            others,
        };
        Ok((main, Some(Box::new(plan)), scratch.into_dirs()))
    }

    /// An attempt that waits for its references: told to the runner, then
    /// looked at again every [`RECHECK`] in a task of its own, which runs
    /// the attempt once `retry` has it ready (so the one handle stops the
    /// wait or the run).
    fn wait(
        self: &Arc<Self>,
        uid: String,
        attempt: u32,
        missing: Missing,
        mut retry: Box<dyn FnMut() -> Retry + Send>,
        relay: Option<Relay>,
    ) -> AbortHandle {
        let core = self.clone();
        let reports = self.executor.reports();
        let failed_uid = uid.clone();
        let tell = move |missing: Option<Missing>| {
            reports.waiting(Waiting {
                instance_uid: uid.clone(),
                attempt,
                missing,
            })
        };
        let task = self.executor.handle().spawn(async move {
            let mut shown = missing;
            tell(Some(shown.clone()));
            loop {
                tokio::time::sleep(RECHECK).await;
                match retry() {
                    Retry::Waiting(missing) => {
                        if missing != shown {
                            tell(Some(missing.clone()));
                            shown = missing;
                        }
                    }
                    Retry::Ready(launch) => {
                        tell(None);
                        core.executor.run_slot(launch, relay).await;
                        return;
                    }
                    Retry::Failed(message) => {
                        tell(None);
                        core.unstarted(&failed_uid, attempt, message);
                        return;
                    }
                }
            }
        });
        task.abort_handle()
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

    /// What the executor needs to run an attempt whose references
    /// resolved to `resolved`: its sandbox and module.
    fn prepare(
        &self,
        attempt: &Attempt<'_>,
        binding: Binding,
        resolved: Option<&[Resolved]>,
    ) -> Result<Launch, String> {
        let Attempt { job, record, .. } = *attempt;
        let who = self.identity(job, &record.name, record.completion_index);
        let pod = &job.spec.template.spec;
        let (main, mut plan, scratch) = self.build(pod, &who, &record.namespace, resolved)?;
        let built = (main, scratch);
        let context = || PluginContext {
            job_name: job.metadata.name.clone(),
            instance_name: record.name.clone(),
            completion_index: record.completion_index,
            attempt: attempt.failed_before + record.restart_count,
            node_name: self.node_name.clone(),
            scheduled_time: who.scheduled_time.map(str::to_owned),
        };
        let (sandbox, scratch) =
            self.bind(attempt.job_uid, attempt.prepared, context, binding, built)?;
        if let Some(plan) = &mut plan {
            // The other containers know who the instance is; checkpoints,
            // stdin and the queue are the first container's.
            for step in plan.init.iter_mut().chain(&mut plan.others) {
                step.spec.plugin.context = sandbox.plugin.context.clone();
            }
        }
        Ok(Launch {
            instance_uid: record.uid.clone(),
            attempt: attempt.attempt,
            prepared: attempt.prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
            pod: plan,
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
        (mut sandbox, scratch): (SandboxSpec, Vec<AttemptDir>),
    ) -> Result<(SandboxSpec, Vec<AttemptDir>), String> {
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

    /// A daemon instance's attempt: `template`'s sandbox, a plugin context
    /// without checkpoint or queue.
    fn daemon_launch(
        &self,
        name: &str,
        template: &PodTemplateSpec,
        prepared: &Arc<Prepared>,
        record: &InstanceRecord,
        attempt: u32,
        resolved: Option<Vec<Resolved>>,
    ) -> Result<Launch, String> {
        let who = Identity {
            job_name: name,
            instance_name: &record.name,
            completion_index: None,
            node_name: &self.node_name,
            scheduled_time: None,
        };
        let (mut sandbox, mut plan, scratch) =
            self.build(&template.spec, &who, &record.namespace, resolved.as_deref())?;
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
        if let Some(plan) = &mut plan {
            for step in plan.init.iter_mut().chain(&mut plan.others) {
                step.spec.plugin.context = sandbox.plugin.context.clone();
            }
        }
        Ok(Launch {
            instance_uid: record.uid.clone(),
            attempt,
            prepared: prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
            pod: plan,
        })
    }
}
