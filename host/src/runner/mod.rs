//! The runner: the loop that ties controllers, executor and store together —
//! ask the Job controller, carry out its decision, wait for instances to end
//! or for a command, record what happened. `wasmjob run` drives it until
//! every Job has settled; `wasmjob serve` drives it until shutdown, feeding it
//! [`Command`]s from the API.
//!
//! All store writes happen on this one thread, grouped: what the loop records
//! is staged and committed in one transaction at most [`GROUP_COMMIT`] later,
//! so a Job of ten thousand tiny instances costs a few hundred commits rather
//! than twenty thousand. Writes that a promise rests on — a CronJob's decided
//! time (a run happens once, never twice), an object created or deleted —
//! commit at once, with everything staged before them. A crash loses at most
//! the last window of instance records; those instances run again on resume,
//! the at-least-once a Kubernetes Job gives too (see `staged`).
//!
//! Where instances run: on this node, in executor slots that start a Job's
//! next instances as soon as one succeeds (`relay`); in a cluster, on
//! whichever matching nodes claim them (`spread`), with DaemonSet rolling
//! updates decided for the whole cluster (`rolling`).

mod cluster;
mod commands;
mod cron;
mod daemon;
mod relay;
mod rolling;
mod spread;
mod staged;
mod unwritable;

pub use cluster::{ClusterConfig, EndedWith};
pub use commands::{Applied, ApplyFailure, ApplyRequest, Command, Incoming, Source, relabeled};
pub use cron::{CronRun, SCHEDULED_ANNOTATION};
pub use daemon::{CRASH_LOOP, DaemonRun, REVISION_LABEL, cluster_view, revision_of};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::AbortHandle;

use crate::controller::job::{
    self, Decision, FailureReason, InstanceFailure, Observed, SuccessReason,
};
use crate::executor::{self, Event, Executor, Finished, Identity, Launch};
use crate::ids;
use crate::manifest::{Job, QueueMode, RestartPolicy};
use crate::queue::{Item, Queue};
use crate::resource::{Condition, JobStatus};
use crate::runtime::{Outcome, PluginContext, PluginEnv, Prepared, Runtime, SandboxSpec};
use crate::store::{
    Checkpoints, EventRecord, InstanceRecord, ObjectRecord, Phase, Store, StoreError, Write, labels,
};
use crate::time::{self, Micros, rfc3339};

/// What the runner tells its caller as it goes.
pub trait Observer {
    /// An instance run ended (an attempt, when restarted in place).
    fn instance_ended(&mut self, job: &str, instance: &InstanceRecord, attempt: u32, output: &[u8]);
    /// A Job finished.
    fn job_ended(&mut self, job: &str, status: &JobStatus);
    /// The runner has nothing to do until the next event: a time to write
    /// out what was buffered.
    fn caught_up(&mut self) {}
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This node's name.
    pub node_name: String,
    /// Output kept per instance.
    pub output_limit: usize,
    /// This node's labels, which `nodeSelector` and node affinity match.
    pub node_labels: BTreeMap<String, String>,
    /// The restart back-off of daemon instances that exit.
    pub crash_loop: crate::controller::daemonset::CrashLoop,
}

struct LiveInstance {
    record: InstanceRecord,
    attempt: u32,
    place: spread::Place,
    /// Its executor slot, when the slot relays successors (see [`relay`]).
    slot: Option<relay::Slot>,
    /// Its row is not written yet (see [`Runner::count_created`]).
    unwritten: bool,
}

/// One Job being run.
pub struct JobRun {
    record: ObjectRecord,
    job: Job,
    prepared: Arc<Prepared>,
    observed: Observed,
    status: JobStatus,
    live: HashMap<String, LiveInstance>,
    finished: bool,
    /// Writes that put this Job into the store when it joins a run.
    joining: Vec<Write>,
    /// `spec.queue`, once connected.
    queue: Option<Arc<Queue>>,
    /// Why the queue could not be reached, last time it was tried.
    queue_error: Option<String>,
    /// Stdin mode: the item each live instance holds.
    held: HashMap<String, Item>,
    /// Instances an earlier process left running; their embedded-queue
    /// items go back to the queue when it is connected.
    orphans: Vec<String>,
    /// A FailedScheduling event was recorded.
    unschedulable_noted: bool,
    /// `status` changed since it was last staged.
    status_dirty: bool,
    /// Instances created by this run, and the name of the last.
    created: (u32, String),
    /// The labels every instance of this Job gets (the template's and the
    /// Job's own), built at the first instance rather than for each.
    instance_labels: std::cell::OnceCell<Arc<BTreeMap<String, String>>>,
    /// The suffixes of the names of this run's instances.
    suffixes: ids::NameSuffixes,
    /// The sandbox its relayed instances share, when they can (see
    /// [`Runner::job_sandbox`]).
    shared_sandbox: std::cell::OnceCell<Option<Arc<SandboxSpec>>>,
}

impl JobRun {
    /// A Job to run, already resolved (image is a digest) and compiled.
    pub fn new(job: Job, prepared: Arc<Prepared>, now: Micros) -> Self {
        let manifest = manifest_json(&job);
        let record = ObjectRecord {
            uid: ids::uid(),
            kind: crate::manifest::Kind::Job,
            namespace: job.metadata.namespace.clone(),
            name: job.metadata.name.clone(),
            labels: job.metadata.labels.clone(),
            manifest,
            status: json!(JobStatus::default()),
            created_at: now,
            deleted_at: None,
        };
        JobRun {
            record,
            job,
            prepared,
            observed: Observed::default(),
            status: JobStatus::default(),
            live: HashMap::new(),
            finished: false,
            joining: Vec::new(),
            queue: None,
            queue_error: None,
            held: HashMap::new(),
            orphans: Vec::new(),
            unschedulable_noted: false,
            status_dirty: false,
            created: (0, String::new()),
            instance_labels: std::cell::OnceCell::new(),
            suffixes: ids::NameSuffixes::default(),
            shared_sandbox: std::cell::OnceCell::new(),
        }
        .created()
    }

    fn created(mut self) -> Self {
        self.joining.push(Write::ObjectCreated(self.record.clone()));
        self
    }

    /// A Job recorded by an earlier process that stopped before it finished.
    /// Instances it left running are recorded as Failed (`NodeRestart`), then
    /// the controller's view is rebuilt from every recorded instance, so no
    /// success is lost or counted twice.
    /// In a cluster, `node` is this node: only the instances it ran ended;
    /// those offered or running on other nodes carry on.
    pub fn resume(
        record: ObjectRecord,
        job: Job,
        prepared: Arc<Prepared>,
        instances: Vec<InstanceRecord>,
        now: Micros,
        node: Option<&str>,
    ) -> Self {
        let ended = EndedWith::Restart { node };
        Self::take_over(record, job, prepared, instances, now, ended)
    }

    /// As [`JobRun::resume`], for the instances that `ended` says ended
    /// with their node; in a cluster the others (offered, or running on a
    /// node that is still there) are followed as before.
    pub fn take_over(
        record: ObjectRecord,
        job: Job,
        prepared: Arc<Prepared>,
        mut instances: Vec<InstanceRecord>,
        now: Micros,
        ended: EndedWith<'_>,
    ) -> Self {
        let mut joining = Vec::new();
        let mut orphans = Vec::new();
        let mut live = HashMap::new();
        for instance in instances.iter_mut().filter(|i| !i.phase.is_finished()) {
            let Some((reason, message)) = ended.of(instance) else {
                let place = match instance.phase {
                    Phase::Running => spread::Place::Elsewhere,
                    _ => spread::Place::Offered,
                };
                let adopted = LiveInstance {
                    record: instance.clone(),
                    attempt: instance.restart_count,
                    place,
                    slot: None,
                    unwritten: false,
                };
                live.insert(instance.uid.clone(), adopted);
                continue;
            };
            orphans.push(instance.uid.clone());
            instance.stopped(now, reason, &message);
            joining.push(Write::Instance(instance.clone()));
        }
        let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
        let start = status.start_time.as_deref().and_then(time::parse_rfc3339);
        let observed = job::observe(&job.spec, start, &instances);
        joining.push(event(
            &record.uid,
            "Normal",
            "Resumed",
            format!(
                "Resumed after a restart: {} succeeded, {} failed",
                observed.succeeded, observed.failed
            ),
            now,
        ));
        JobRun {
            record,
            job,
            prepared,
            observed,
            status,
            live,
            finished: false,
            joining,
            queue: None,
            queue_error: None,
            held: HashMap::new(),
            orphans,
            unschedulable_noted: false,
            status_dirty: false,
            created: (0, String::new()),
            instance_labels: std::cell::OnceCell::new(),
            suffixes: ids::NameSuffixes::default(),
            shared_sandbox: std::cell::OnceCell::new(),
        }
    }

    /// Counts already recorded when the Job joined this run: (succeeded, failed).
    pub fn recorded_counts(&self) -> (u32, u32) {
        (self.observed.succeeded, self.observed.failed)
    }

    /// The stored object's uid.
    pub fn uid(&self) -> &str {
        &self.record.uid
    }

    /// Finished, or suspended (or not schedulable on this node) with nothing
    /// running: nothing more will happen without a change of spec.
    fn settled(&self) -> bool {
        self.finished
            || ((self.job.spec.suspended() || self.unschedulable_noted) && self.live.is_empty())
    }
}

/// The stored form of a Job's manifest; two runs of the same manifest give
/// the same value, which is how an interrupted Job is recognised.
pub fn manifest_json(job: &Job) -> serde_json::Value {
    json!({ "metadata": job.metadata, "spec": job.spec })
}

/// The largest queue item given to an instance on stdin.
pub const MAX_STDIN_ITEM: usize = 8 << 20;

/// Refuses a stdin item larger than an instance may take.
fn check_stdin_item(len: usize) -> Result<(), String> {
    if len > MAX_STDIN_ITEM {
        return Err(format!(
            "the queue item is {len} bytes, more than the {} MiB an instance's stdin may take",
            MAX_STDIN_ITEM >> 20
        ));
    }
    Ok(())
}

/// How long a broker lease of a stdin item lasts when the template sets no
/// `activeDeadlineSeconds`: one hour.
const BROKER_STDIN_LEASE: u32 = 3600;

/// One attempt of an instance, as the runner starts it.
struct Attempt<'a> {
    job: &'a Job,
    /// The Job's stored uid.
    job_uid: &'a str,
    prepared: &'a Arc<Prepared>,
    record: &'a InstanceRecord,
    /// 0 first, +1 per restart in place.
    attempt: u32,
    /// Failures of this work before this instance (the plugin context's attempt).
    failed_before: u32,
}

/// What an instance gets from its Job's queue.
#[derive(Default)]
struct Binding {
    /// Stdin mode: the item.
    stdin: Vec<u8>,
    /// Lease mode: the queue.
    queue: Option<Arc<Queue>>,
}

/// What [`Runner::take_item`] found.
enum Taken {
    Item(Item),
    Nothing,
    Unavailable,
    NoQueue,
}

/// How a Job ended.
enum End {
    Complete(SuccessReason),
    Failed(FailureReason, String),
}

/// How long recorded writes may wait to be committed together.
pub const GROUP_COMMIT: Duration = Duration::from_millis(10);

/// Staged writes past this many commit without waiting for the window.
const GROUP_COMMIT_MAX: usize = 20_000;

/// The group commit window while a relaying Job is finishing (see
/// [`relay::finishing`]): its last instances end within milliseconds, and
/// a short window leaves a small last commit for the end of the Job rather
/// than ten milliseconds' worth (a thousand instances, 3-5 ms of SQLite)
/// after the last instance ended.
const GROUP_COMMIT_FINISHING: Duration = Duration::from_millis(2);

/// Runs Jobs to their end.
pub struct Runner {
    store: Store,
    /// Writes staged for the next group commit, in order.
    staged: staged::Staged,
    /// When the oldest staged write was staged.
    staged_since: Option<Instant>,
    /// The empty buffer a pass of the loop collects its writes in, kept
    /// with its capacity: growing a new one every pass (a write is a few
    /// hundred bytes) made the allocator consolidate its free lists for
    /// every instance.
    scratch: Vec<Write>,
    checkpoints: Arc<Checkpoints>,
    handle: tokio::runtime::Handle,
    executor: Executor,
    events: Receiver<Event>,
    sender: std::sync::mpsc::Sender<Event>,
    runtime: Arc<Runtime>,
    /// Set by a shutdown command: no new instances; stop at this time.
    draining: Option<Micros>,
    crons: Vec<CronRun>,
    daemons: Vec<DaemonRun>,
    config: RunnerConfig,
    jobs: Vec<JobRun>,
    /// Set while the store cannot be written (see [`unwritable`]).
    unwritable: Option<unwritable::Unwritable>,
    /// Serving: wait for an unwritable store rather than fail.
    hold_on_store_errors: bool,
    /// A node of a cluster (see [`cluster`]).
    cluster: Option<cluster::Cluster>,
    /// Whether executor slots may start the successors reserved for them
    /// (see [`relay`]); closed while draining or unwritable.
    relay_open: Arc<std::sync::atomic::AtomicBool>,
    /// Successors each relaying slot holds ready at most, for the Jobs
    /// relaying on this node now (see [`relay`]); set at every pass.
    relay_ahead: usize,
}

impl Runner {
    /// A runner that records into `store` and runs on `handle`.
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        handle: tokio::runtime::Handle,
        config: RunnerConfig,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let checkpoints = Arc::new(Checkpoints::open(store.path())?);
        match store.release_unrecorded_queue_items() {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} queue items held by unrecorded instances went back"),
            Err(e) => tracing::warn!("{e}"),
        }
        Ok(Runner {
            store,
            staged: staged::Staged::default(),
            staged_since: None,
            scratch: Vec::new(),
            checkpoints,
            handle: handle.clone(),
            executor: Executor::new(runtime.clone(), handle, tx.clone()),
            events: rx,
            sender: tx,
            runtime,
            draining: None,
            crons: Vec::new(),
            daemons: Vec::new(),
            config,
            jobs: Vec::new(),
            unwritable: None,
            hold_on_store_errors: false,
            cluster: None,
            relay_open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            relay_ahead: 0,
        })
    }

    /// Where commands (and instance ends) are sent.
    pub fn sender(&self) -> std::sync::mpsc::Sender<Event> {
        self.sender.clone()
    }

    /// The store, for reading results afterwards (everything staged is
    /// committed when [`Runner::run`] or [`Runner::serve`] returns).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Ends the runner, all it holds dropped as usual (an embedded queue's
    /// items leased ahead given back), and returns its store.
    pub fn into_store(self) -> Store {
        self.store
    }

    /// Stages writes for the next group commit; commits now when one of them
    /// must be durable before the loop goes on, or the window has passed.
    fn stage(&mut self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        let urgent = writes.iter().any(Write::is_urgent);
        if !writes.is_empty() {
            self.staged.append(&mut writes);
            self.staged_since.get_or_insert_with(Instant::now);
        }
        if writes.capacity() > self.scratch.capacity() {
            self.scratch = writes;
        }
        let due = self
            .staged_since
            .is_some_and(|since| since.elapsed() >= self.group_commit_window());
        if urgent || due || self.staged.len() >= GROUP_COMMIT_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// How long staged writes may wait: [`GROUP_COMMIT`], shorter while a
    /// relaying Job is finishing (see [`GROUP_COMMIT_FINISHING`]).
    fn group_commit_window(&self) -> Duration {
        let finishing = (0..self.jobs.len()).any(|index| {
            let run = &self.jobs[index];
            !run.finished
                && self.relays(index)
                && run
                    .job
                    .spec
                    .completions()
                    .is_some_and(|completions| relay::finishing(&run.observed, completions))
        });
        if finishing {
            GROUP_COMMIT_FINISHING
        } else {
            GROUP_COMMIT
        }
    }

    /// When the staged writes must be committed at the latest.
    fn flush_at(&self) -> Option<Micros> {
        self.staged_since.map(|since| {
            let left = self.group_commit_window().saturating_sub(since.elapsed());
            time::now() + left.as_micros() as Micros
        })
    }

    /// Records the Jobs in the store (one transaction) and adds them to the run.
    pub fn add(&mut self, mut jobs: Vec<JobRun>) -> Result<(), StoreError> {
        let writes: Vec<Write> = jobs
            .iter_mut()
            .flat_map(|j| std::mem::take(&mut j.joining))
            .collect();
        self.commit_now(writes)?;
        self.jobs.extend(jobs);
        Ok(())
    }

    /// Runs until every Job has finished; returns their uids in order.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<Vec<String>, StoreError> {
        loop {
            let wake = self.tick(observer)?;
            if self.jobs.iter().all(JobRun::settled) {
                self.flush()?;
                return Ok(self.jobs.iter().map(|j| j.record.uid.clone()).collect());
            }
            self.wait(wake, observer)?;
        }
    }

    /// Runs Jobs as they are applied, until a [`Command::Shutdown`] has
    /// drained (or its grace period ran out).
    pub fn serve(&mut self, observer: &mut dyn Observer) -> Result<(), StoreError> {
        self.hold_on_store_errors = true;
        loop {
            let wake = match self.draining {
                None => self.tick(observer)?,
                Some(until) => {
                    if self.nothing_runs_here() || time::now() >= until {
                        self.flush()?;
                        return self.interrupt_all();
                    }
                    Some(until)
                }
            };
            // Finished Jobs stay in the store; the loop forgets them, once
            // their last status is staged.
            if self.jobs.iter().any(|j| j.finished) {
                self.stage_statuses();
                self.jobs.retain(|j| !j.finished);
            }
            self.wait(wake, observer)?;
        }
    }

    /// One controller pass over every unfinished Job; returns when to look
    /// again at the latest.
    fn tick(&mut self, observer: &mut dyn Observer) -> Result<Option<Micros>, StoreError> {
        if let Some(retry_at) = self.unwritable_retry()? {
            // Nothing new starts until what is held is written.
            let left = retry_at.saturating_duration_since(Instant::now());
            return Ok(Some(time::now() + left.as_micros() as Micros));
        }
        let now = time::now();
        self.relay_ahead = self.relay_depth();
        let mut writes = std::mem::take(&mut self.scratch);
        let mut wake: Option<Micros> = self.sync_cluster(now, &mut writes)?;
        // Instances other nodes ended are counted before the Jobs decide.
        wake = earliest(wake, self.spread_pass(now, &mut writes, observer));
        for index in 0..self.jobs.len() {
            if self.jobs[index].finished {
                continue;
            }
            self.observe_queue(index);
            wake = earliest(wake, self.step(index, now, &mut writes, observer));
        }
        // After the Jobs, so a CronJob sees the Jobs that finished just now.
        wake = earliest(wake, self.tick_crons(now, &mut writes));
        wake = earliest(wake, self.tick_daemons(now, &mut writes));
        self.stage(writes)?;
        Ok(wake)
    }

    /// Records resumed or new CronJobs and adds them to the loop.
    pub fn add_crons(&mut self, mut crons: Vec<CronRun>) -> Result<(), StoreError> {
        let writes: Vec<Write> = crons
            .iter_mut()
            .flat_map(|c| std::mem::take(&mut c.joining))
            .collect();
        self.commit_now(writes)?;
        self.crons.extend(crons);
        Ok(())
    }

    /// Shutdown: what still runs after the grace period is recorded as
    /// interrupted (`NodeShutdown`, a disruption); the Jobs stay unfinished
    /// and resume at the next start.
    fn interrupt_all(&mut self) -> Result<(), StoreError> {
        let now = time::now();
        let mut writes = Vec::new();
        let message = "the node shut down while the instance was running";
        for index in 0..self.jobs.len() {
            // What runs on other nodes goes on there.
            let here = |place: &spread::Place| place.is_here();
            self.stop_where(
                index,
                now,
                job::NODE_SHUTDOWN,
                message,
                false,
                here,
                &mut writes,
            );
        }
        for index in 0..self.daemons.len() {
            self.stop_daemons(index, now, job::NODE_SHUTDOWN, message, &mut writes);
        }
        self.interrupt_hosted(now, message, &mut writes);
        self.commit_now(writes)
    }

    /// Whether no instance runs on this node (daemons aside): a drain is over.
    fn nothing_runs_here(&self) -> bool {
        let own = self
            .jobs
            .iter()
            .all(|j| j.live.values().all(|l| !l.place.is_here()));
        own && self
            .cluster
            .as_ref()
            .is_none_or(|c| c.spread.hosts_nothing())
    }

    /// One controller decision for one Job; returns when to look again.
    fn step(
        &mut self,
        index: usize,
        now: Micros,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) -> Option<Micros> {
        let decision = job::reconcile(&self.jobs[index].job.spec, &self.jobs[index].observed, now);
        match decision {
            Decision::Create(_) if !self.schedulable(index, now, writes) => None,
            Decision::Create(indexes) => {
                for completion_index in indexes {
                    self.create_instance(index, completion_index, now, writes);
                }
                // Only once all are created: a successor reserved in between
                // would not count the instances decided with it.
                self.reserve_successors(index, now);
                self.write_status(index);
                // Look again at once: the Job has just started, and its
                // deadline (or more to create) decides when to wake next.
                Some(now)
            }
            Decision::Complete(reason) => {
                self.finish(index, End::Complete(reason), now, writes, observer);
                None
            }
            Decision::Fail { reason, message } => {
                self.finish(index, End::Failed(reason, message), now, writes, observer);
                None
            }
            Decision::Suspend => {
                self.suspend(index, now, writes);
                None
            }
            Decision::Wait { until } => until,
        }
    }

    /// Whether this node may run the Job's instances (`nodeSelector`, node
    /// affinity). If not, the Job waits, as a Kubernetes pod stays Pending
    /// with no matching node, and says so once in an event.
    fn schedulable(&mut self, index: usize, now: Micros, writes: &mut Vec<Write>) -> bool {
        let spreads = self.spreads(index);
        let placement = self.jobs[index].job.spec.template.spec.placement();
        let admitted = match &self.cluster {
            Some(cluster) if spreads => cluster.spread.some_node_admits(&placement),
            _ => placement.admits(&self.config.node_labels),
        };
        if admitted {
            return true;
        }
        let run = &mut self.jobs[index];
        if !run.unschedulable_noted {
            run.unschedulable_noted = true;
            let message = if spreads {
                "no Ready node of the cluster matches the template's nodeSelector or node \
                 affinity; the Job waits for a node that does"
                    .to_owned()
            } else {
                format!(
                    "node {} does not match the template's nodeSelector or node affinity; \
                     the Job waits for a node that does",
                    self.config.node_name
                )
            };
            writes.push(event(
                &run.record.uid,
                "Warning",
                "FailedScheduling",
                message,
                now,
            ));
        }
        false
    }

    fn create_instance(
        &mut self,
        index: usize,
        completion_index: Option<u32>,
        now: Micros,
        writes: &mut Vec<Write>,
    ) {
        let uid = ids::uid();
        let item = match self.take_item(index, &uid) {
            Taken::Item(item) => Some(item),
            Taken::Nothing => return,
            Taken::Unavailable | Taken::NoQueue => None,
        };
        // In a cluster the instance is offered to every node (this one
        // too) rather than started here; see `spread`.
        let offered = self.spreads(index);
        let record = self.new_instance(index, uid, completion_index, offered, now);
        self.count_created(index, &record, now, false, writes);
        if let Some(item) = item {
            if offered {
                // The node that claims an offered instance reads its item
                // from the row.
                writes.push(Write::InstanceInput {
                    uid: record.uid.clone(),
                    stdin: item.body.clone(),
                });
            }
            self.jobs[index].held.insert(record.uid.clone(), item);
        }
        let (place, slot) = if offered {
            (spread::Place::Offered, None)
        } else {
            let slot = self.relays(index).then(relay::Slot::default);
            let relay = slot.as_ref().map(|slot| self.relay(slot));
            let abort = self.launch_relayed(index, &record, 0, relay);
            (spread::Place::Here(abort), slot)
        };
        let uid = record.uid.clone();
        self.jobs[index].live.insert(
            uid,
            LiveInstance {
                record,
                attempt: 0,
                place,
                slot,
                unwritten: false,
            },
        );
    }

    /// A new instance of the Job at `index`: Running here from `now`, or
    /// offered to the cluster.
    fn new_instance(
        &self,
        index: usize,
        uid: String,
        completion_index: Option<u32>,
        offered: bool,
        now: Micros,
    ) -> InstanceRecord {
        let run = &self.jobs[index];
        let job_name = &run.job.metadata.name;
        let suffix = run.suffixes.next_suffix();
        let suffix = std::str::from_utf8(&suffix).expect("an ASCII suffix");
        let name = match completion_index {
            Some(i) => format!("{job_name}-{i}-{suffix}"),
            None => format!("{job_name}-{suffix}"),
        };
        let mut labels = run
            .instance_labels
            .get_or_init(|| {
                let template = &run.job.spec.template.metadata.labels;
                Arc::new(labels::job_instance(
                    template,
                    job_name,
                    &run.record.uid,
                    None,
                ))
            })
            .clone();
        if completion_index.is_some() {
            let template = &run.job.spec.template.metadata.labels;
            let uid = &run.record.uid;
            labels = Arc::new(labels::job_instance(
                template,
                job_name,
                uid,
                completion_index,
            ));
        }
        InstanceRecord {
            uid,
            name,
            namespace: run.record.namespace.clone(),
            owner_uid: run.record.uid.clone(),
            completion_index,
            labels,
            phase: if offered {
                Phase::Pending
            } else {
                Phase::Running
            },
            exit_code: None,
            reason: None,
            message: None,
            node_name: if offered {
                String::new()
            } else {
                self.config.node_name.clone()
            },
            restart_count: 0,
            created_at: now,
            start_time: (!offered).then_some(now),
            finish_time: None,
        }
    }

    /// The Job at `index` has one more instance, `record`, from `now`.
    /// Its row is written now, or with `deferred` at the next group commit
    /// if it still runs then (the caller marks it `unwritten`, see
    /// [`Runner::stage_unwritten`]): most relayed instances have ended by
    /// then, and are written once, as they ended.
    fn count_created(
        &mut self,
        index: usize,
        record: &InstanceRecord,
        now: Micros,
        deferred: bool,
        writes: &mut Vec<Write>,
    ) {
        let run = &mut self.jobs[index];
        if run.observed.start_time.is_none() {
            run.observed.start_time = Some(now);
            run.status.start_time = Some(rfc3339(now));
        }
        run.observed.active += 1;
        if let Some(i) = record.completion_index {
            run.observed.active_indexes.insert(i);
        }
        if deferred {
            // Written with the next group commit at the latest.
            self.staged_since.get_or_insert_with(Instant::now);
        } else {
            writes.push(Write::Instance(record.clone()));
        }
        run.created.0 += 1;
        if run.created.0 <= CREATE_EVENTS {
            writes.push(event(
                &run.record.uid,
                "Normal",
                "SuccessfulCreate",
                format!("Created instance: {}", record.name),
                now,
            ));
        }
        run.created.1.clone_from(&record.name);
    }

    /// Starts an attempt of one of this node's Jobs' instances here.
    fn launch(&self, index: usize, record: &InstanceRecord, attempt: u32) -> AbortHandle {
        self.launch_relayed(index, record, attempt, None)
    }

    /// As [`Runner::launch`], in a slot that relays successors (see
    /// [`relay`]).
    fn launch_relayed(
        &self,
        index: usize,
        record: &InstanceRecord,
        attempt: u32,
        relay: Option<executor::Relay>,
    ) -> AbortHandle {
        let binding = self.bind_queue(index, record);
        self.start(&self.attempt_of(index, record, attempt), binding, relay)
    }

    /// An attempt of one of this node's Jobs' instances.
    fn attempt_of<'a>(
        &'a self,
        index: usize,
        record: &'a InstanceRecord,
        attempt: u32,
    ) -> Attempt<'a> {
        let run = &self.jobs[index];
        // What the plugin context calls the attempt: the failures of this
        // work before this instance, plus its restarts in place.
        let failed_before = match record.completion_index {
            Some(i) => run.observed.index_failures.get(&i).copied().unwrap_or(0),
            None => run.observed.failed,
        };
        Attempt {
            job: &run.job,
            job_uid: &run.record.uid,
            prepared: &run.prepared,
            record,
            attempt,
            failed_before,
        }
    }

    /// Starts an attempt, bound to its queue as `binding` says, in a slot
    /// that relays successors when there is a `relay`.
    fn start(
        &self,
        attempt: &Attempt<'_>,
        binding: Result<Binding, String>,
        relay: Option<executor::Relay>,
    ) -> AbortHandle {
        match self.prepare_launch(attempt, binding) {
            Ok(launch) => self.executor.launch_relayed(launch, relay),
            Err(message) => {
                // The sandbox could not be built (a hostPath vanished, say):
                // this attempt ends as a start error, counted like any failure.
                let outcome = Outcome::StartError { message };
                self.executor
                    .report_unstarted(attempt.record.uid.clone(), attempt.attempt, outcome)
            }
        }
    }

    /// The sandbox every relayed instance of the Job at `index` can share,
    /// built at the first: a core module (a component's sandbox carries
    /// the instance's plugin context) without volumes (an `emptyDir` is
    /// the instance's own), so that only the instance's name differs.
    /// `None` when the Job's instances need sandboxes of their own.
    pub(super) fn job_sandbox(&self, index: usize) -> Option<Arc<SandboxSpec>> {
        let run = &self.jobs[index];
        let build = || {
            let pod = &run.job.spec.template.spec;
            let own = !matches!(*run.prepared, Prepared::Core(_))
                || !pod.containers[0].volume_mounts.is_empty();
            if own {
                return None;
            }
            let scheduled_time = run.job.metadata.annotations.get(SCHEDULED_ANNOTATION);
            let who = Identity {
                job_name: &run.job.metadata.name,
                instance_name: "",
                completion_index: None,
                node_name: &self.config.node_name,
                scheduled_time: scheduled_time.map(String::as_str),
            };
            let (spec, _) = executor::sandbox(pod, &who, self.config.output_limit).ok()?;
            Some(Arc::new(spec))
        };
        run.shared_sandbox.get_or_init(build).clone()
    }

    /// What the executor needs to run an attempt: its sandbox and module.
    fn prepare_launch(
        &self,
        attempt: &Attempt<'_>,
        binding: Result<Binding, String>,
    ) -> Result<Launch, String> {
        let Attempt { job, record, .. } = *attempt;
        let scheduled_time = job.metadata.annotations.get(SCHEDULED_ANNOTATION);
        let who = Identity {
            job_name: &job.metadata.name,
            instance_name: &record.name,
            completion_index: record.completion_index,
            node_name: &self.config.node_name,
            scheduled_time: scheduled_time.map(String::as_str),
        };
        let pod = &job.spec.template.spec;
        let built = executor::sandbox(pod, &who, self.config.output_limit)?;
        let context = || PluginContext {
            job_name: job.metadata.name.clone(),
            instance_name: record.name.clone(),
            completion_index: record.completion_index,
            attempt: attempt.failed_before + record.restart_count,
            node_name: self.config.node_name.clone(),
            scheduled_time: scheduled_time.cloned(),
        };
        let (sandbox, scratch) =
            self.plug(attempt.job_uid, attempt.prepared, context, binding?, built)?;
        Ok(Launch {
            instance_uid: record.uid.clone(),
            attempt: attempt.attempt,
            prepared: attempt.prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
        })
    }

    /// What the Job's queue gives an instance: its item on stdin (stdin
    /// mode) or the queue to lease from (lease mode).
    fn bind_queue(&self, index: usize, record: &InstanceRecord) -> Result<Binding, String> {
        let run = &self.jobs[index];
        let unreachable = || {
            run.queue_error
                .clone()
                .unwrap_or_else(|| "the Job's queue is not connected".to_owned())
        };
        let mut binding = Binding::default();
        match run.job.spec.queue.as_ref().map(|q| q.mode) {
            Some(QueueMode::Stdin) => {
                let item = run.held.get(&record.uid).ok_or_else(unreachable)?;
                check_stdin_item(item.body.len())?;
                binding.stdin = item.body.clone();
            }
            Some(QueueMode::Lease) => {
                binding.queue = Some(run.queue.clone().ok_or_else(unreachable)?)
            }
            None => {}
        }
        Ok(binding)
    }

    /// Binds the sandbox to its queue item or queue, its checkpoint, and
    /// who the instance is.
    fn plug(
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

    /// Connects the Job's queue if it has one and is not connected; in
    /// stdin mode also counts what waits, for the controller. A broker that
    /// cannot be reached counts as one waiting item, so an instance is
    /// started and fails with the broker's error, retried per the Job's
    /// policy.
    fn observe_queue(&mut self, index: usize) {
        let run = &mut self.jobs[index];
        let Some(source) = run.job.spec.queue.clone() else {
            return;
        };
        if run.job.spec.suspended() {
            return;
        }
        if run.queue.is_none() {
            let connected = self.handle.block_on(Queue::connect(
                source.url.as_deref(),
                &source.name,
                self.store.path(),
            ));
            match connected {
                Ok(queue) => {
                    if let Queue::Embedded(embedded) = &queue {
                        let orphans = std::mem::take(&mut run.orphans);
                        if let Err(e) = embedded.release_holders(&orphans) {
                            tracing::warn!("{e}");
                        }
                    }
                    run.queue = Some(Arc::new(queue));
                    run.queue_error = None;
                }
                Err(e) => {
                    run.queue_error = Some(e.to_string());
                    run.observed.queue_waiting = 1;
                    return;
                }
            }
        }
        if source.mode != QueueMode::Stdin {
            return;
        }
        let queue = run.queue.clone().expect("connected above");
        // The controller starts at most `parallelism` instances at once.
        let enough = u64::from(run.job.spec.parallelism().max(1));
        match self.handle.block_on(queue.waiting(enough)) {
            Ok(waiting) => run.observed.queue_waiting = waiting,
            Err(e) => {
                // Reconnect next time.
                run.queue = None;
                run.queue_error = Some(e.to_string());
                run.observed.queue_waiting = 1;
            }
        }
    }

    /// Stdin mode: takes one item for the instance `uid`.
    fn take_item(&mut self, index: usize, uid: &str) -> Taken {
        let run = &mut self.jobs[index];
        if run.job.spec.stdin_queue().is_none() {
            return Taken::NoQueue;
        }
        let Some(queue) = run.queue.clone() else {
            return Taken::Unavailable;
        };
        let taken = match queue.as_ref() {
            Queue::Embedded(embedded) => embedded.lease(0, Some(uid)),
            other => {
                let deadline = run.job.spec.template.spec.active_deadline_seconds;
                let secs =
                    deadline.map_or(BROKER_STDIN_LEASE, |d| d.clamp(1, u32::MAX.into()) as u32);
                self.handle.block_on(other.lease(secs))
            }
        };
        match taken {
            Ok(Some(item)) => Taken::Item(item),
            Ok(None) => Taken::Nothing,
            Err(e) => {
                run.queue = None;
                run.queue_error = Some(e.to_string());
                Taken::Unavailable
            }
        }
    }

    /// Stdin mode: the instance is done with its item; `done` removes it
    /// from the queue (an embedded queue's removal joins `writes`, the
    /// transaction that records the success), otherwise it goes back.
    fn settle_item(&mut self, index: usize, uid: &str, done: bool, writes: &mut Vec<Write>) {
        let run = &mut self.jobs[index];
        if run.held.is_empty() {
            return; // no queue item held (most Jobs have no queue)
        }
        let Some(item) = run.held.remove(uid) else {
            return;
        };
        let Some(queue) = run.queue.clone() else {
            // The connection was lost: the broker gives unacked items back.
            return;
        };
        let result = match (queue.as_ref(), done) {
            (Queue::Embedded(_), true) => {
                writes.push(Write::QueueDone { item_id: item.id });
                Ok(())
            }
            (Queue::Embedded(embedded), false) => embedded.release(&item.id),
            (broker, true) => self.handle.block_on(broker.complete(&item.id)),
            (broker, false) => self.handle.block_on(broker.release(&item.id)),
        };
        if let Err(e) = result {
            tracing::warn!("{}: {e}", queue.describe());
        }
    }

    /// Lease mode: an instance may have failed because the broker went
    /// away, and the connection the Job's instances share does not come back
    /// by itself. Probe it once; if it is dead, drop it, so the next pass
    /// reconnects (or the next instance fails with the broker's error and is
    /// retried per the Job's backoff).
    fn probe_lease_queue(&mut self, index: usize) {
        let run = &mut self.jobs[index];
        if run.job.spec.queue.as_ref().map(|q| q.mode) != Some(QueueMode::Lease) {
            return;
        }
        let Some(queue) = run.queue.clone() else {
            return;
        };
        if matches!(*queue, Queue::Embedded(_)) {
            return;
        }
        if let Err(e) = self.handle.block_on(queue.waiting(1)) {
            tracing::warn!("{}: {e}; reconnecting", queue.describe());
            run.queue = None;
            run.queue_error = Some(e.to_string());
        }
    }

    fn wait(
        &mut self,
        wake: Option<Micros>,
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        // Wake for the group commit too, if it comes first.
        let wake = earliest(wake, self.flush_at());
        observer.caught_up();
        self.pause_for_relays(wake);
        let first = match wake {
            None => self.events.recv().ok(),
            Some(at) => {
                let timeout = Duration::from_micros((at - time::now()).max(0) as u64);
                match self.events.recv_timeout(timeout) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => return self.stage(Vec::new()),
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        let Some(first) = first else {
            return self.stage(Vec::new());
        };
        let mut writes = std::mem::take(&mut self.scratch);
        self.handle(first, &mut writes, observer)?;
        // Everything else that arrived meanwhile is recorded together.
        while let Ok(more) = self.events.try_recv() {
            self.handle(more, &mut writes, observer)?;
        }
        self.stage(writes)
    }

    fn handle(
        &mut self,
        event: Event,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        match event {
            Event::Finished(done) => {
                self.record(done, writes, observer);
                Ok(())
            }
            // What changed is read at the next pass, which follows now.
            Event::ClusterChanged => Ok(()),
            Event::Command(command) => {
                // A command commits its own writes (an apply is all or
                // nothing), after what was recorded before it, which is
                // kept even if the store cannot take it now.
                self.staged.append(writes);
                self.flush()?;
                self.refuse_or_run(command)
            }
        }
    }

    fn record(&mut self, mut done: Finished, writes: &mut Vec<Write>, observer: &mut dyn Observer) {
        if self.record_daemon(&mut done, writes) || self.record_hosted(&mut done, writes) {
            return;
        }
        let Some(index) = self
            .jobs
            .iter()
            .position(|j| j.live.contains_key(&done.instance_uid))
        else {
            return; // stopped meanwhile; already recorded
        };
        // Taken out of the live instances (an instance restarted in place
        // goes back in): the ended record is the live one, not a copy.
        let live = self.jobs[index]
            .live
            .remove(&done.instance_uid)
            .expect("found above");
        let abort = match &live.place {
            spread::Place::Here(abort) => Some(abort.clone()),
            _ => None,
        };
        let first_start = live.record.start_time;
        let mut ended = live.record;
        ended.start_time = Some(done.started);
        ended.ended(done.finished, &done.report.outcome);
        let output = &done.report.output;
        let restart = self.count_attempt_end(index, &ended, done.attempt, false, output, observer);
        if restart {
            // OnFailure: the same instance runs again from where it was;
            // every attempt's log stays (the first's joins its row).
            let mut again = ended;
            again.phase = Phase::Running;
            again.start_time = first_start;
            again.finish_time = None;
            again.restart_count += 1;
            writes.push(Write::Instance(again.clone()));
            attempt_logs(&mut done, writes);
            let abort = self.launch(index, &again, done.attempt + 1);
            let uid = again.uid.clone();
            let again = LiveInstance {
                record: again,
                attempt: done.attempt + 1,
                place: spread::Place::Here(abort),
                slot: None,
                unwritten: false,
            };
            self.jobs[index].live.insert(uid, again);
        } else {
            self.no_longer_active(index, &ended);
            ended_writes(ended, &mut done, writes);
        }
        if let Some(slot) = live.slot {
            let relayed = done.relayed.as_deref();
            self.relayed(index, slot, relayed, abort, done.finished, writes);
        }
        let succeeded = done.report.outcome.succeeded();
        if !restart {
            self.settle_item(index, &done.instance_uid, succeeded, writes);
        }
        if !succeeded {
            self.probe_lease_queue(index);
        }
        self.write_status(index);
    }

    /// Counts one ended attempt of a live instance (`ended` is its final
    /// record) and decides whether it restarts in place (`OnFailure`): then
    /// the live record says so, and true is returned; otherwise the
    /// instance is no longer live, and its record is written. A disruption
    /// (its node went away) never restarts in place: it is replaced.
    #[allow(clippy::too_many_arguments)]
    fn attempt_ended(
        &mut self,
        index: usize,
        ended: InstanceRecord,
        attempt: u32,
        disruption: bool,
        output: &[u8],
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) -> bool {
        let restart = self.count_attempt_end(index, &ended, attempt, disruption, output, observer);
        let run = &mut self.jobs[index];
        if restart {
            // OnFailure: the same instance runs again; every attempt's log
            // stays. One that ran on another node is offered to it again.
            let live = run.live.get_mut(&ended.uid).expect("a live instance");
            live.record.restart_count += 1;
            live.record.reason = ended.reason;
            live.record.message = ended.message;
            live.record.exit_code = ended.exit_code;
            live.attempt = attempt + 1;
            if !live.place.is_here() {
                live.record.phase = Phase::Pending;
                live.record.node_name = ended.node_name;
                live.place = spread::Place::Offered;
            }
            writes.push(Write::Instance(live.record.clone()));
        } else {
            run.live.remove(&ended.uid);
            self.no_longer_active(index, &ended);
            writes.push(Write::Instance(ended));
        }
        restart
    }

    /// Tells the observer that an attempt of the Job at `index` ended,
    /// counts it, and decides whether the instance restarts in place
    /// (`OnFailure`, within the back-off limit, not a disruption).
    fn count_attempt_end(
        &mut self,
        index: usize,
        ended: &InstanceRecord,
        attempt: u32,
        disruption: bool,
        output: &[u8],
        observer: &mut dyn Observer,
    ) -> bool {
        let run = &mut self.jobs[index];
        observer.instance_ended(&run.job.metadata.name, ended, attempt, output);
        let succeeded = ended.phase == Phase::Succeeded;
        if succeeded {
            run.observed.record_success(ended.completion_index);
        } else {
            let failure = InstanceFailure {
                instance: ended.name.clone(),
                exit_code: ended.exit_code,
                disruption,
            };
            let verdict = job::judge(&run.job.spec, &failure);
            let index = ended.completion_index;
            match ended.finish_time {
                Some(at) if !disruption => {
                    run.observed
                        .record_failure(&run.job.spec, verdict, index, at)
                }
                _ => run
                    .observed
                    .record_disruption(&run.job.spec, verdict, index),
            };
        }
        let index_failed = ended
            .completion_index
            .is_some_and(|i| run.observed.failed_indexes.contains(&i));
        !succeeded
            && !disruption
            && run.job.spec.restart_policy() == RestartPolicy::OnFailure
            && run.observed.failed <= run.job.spec.backoff_limit()
            && run.observed.fail_job.is_none()
            && !index_failed
    }

    /// An instance of the Job at `index` no longer runs.
    fn no_longer_active(&mut self, index: usize, ended: &InstanceRecord) {
        let observed = &mut self.jobs[index].observed;
        observed.active -= 1;
        if let Some(i) = ended.completion_index {
            observed.active_indexes.remove(&i);
        }
    }

    fn finish(
        &mut self,
        index: usize,
        end: End,
        now: Micros,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) {
        let (kind, reason, message) = match &end {
            End::Complete(r) => ("Complete", r.as_str(), r.message().to_owned()),
            End::Failed(r, m) => ("Failed", r.as_str(), m.clone()),
        };
        // What still runs is stopped. Stopped by a failing Job an instance
        // counts as failed, as in Kubernetes; stopped by a met success
        // policy it does not.
        let stop_message = format!("stopped: the Job is {kind} ({reason})");
        let counted = matches!(end, End::Failed(..));
        self.stop_all(index, now, reason, &stop_message, counted, writes);
        let run = &mut self.jobs[index];
        run.finished = true;
        let uid = run.record.uid.clone();
        let (created, last) = &run.created;
        if let Some(more) = created.checked_sub(CREATE_EVENTS).filter(|n| *n > 0) {
            writes.push(event(
                &uid,
                "Normal",
                "SuccessfulCreate",
                format!(
                    "Created {more} more instances (combined from similar events); the last: {last}"
                ),
                now,
            ));
        }
        let status = &mut run.status;
        match end {
            End::Complete(_) => {
                status
                    .conditions
                    .push(Condition::new("SuccessCriteriaMet", reason, &message, now));
                status
                    .conditions
                    .push(Condition::new("Complete", reason, &message, now));
                status.completion_time = Some(rfc3339(now));
                writes.push(event(
                    &uid,
                    "Normal",
                    "Completed",
                    "Job completed".into(),
                    now,
                ));
            }
            End::Failed(..) => {
                status
                    .conditions
                    .push(Condition::new("FailureTarget", reason, &message, now));
                status
                    .conditions
                    .push(Condition::new("Failed", reason, &message, now));
                writes.push(event(&uid, "Warning", reason, message.clone(), now));
            }
        }
        if let Some(ttl) = run.job.spec.ttl_seconds_after_finished {
            writes.push(Write::ObjectExpiry {
                uid,
                at: now + i64::from(ttl) * 1_000_000,
            });
        }
        self.write_status(index);
        let run = &self.jobs[index];
        observer.job_ended(&run.job.metadata.name, &run.status);
    }

    /// Suspension stops every running instance; they do not count as failed.
    fn suspend(&mut self, index: usize, now: Micros, writes: &mut Vec<Write>) {
        let message = "stopped: the Job was suspended";
        self.stop_all(index, now, "Suspended", message, false, writes);
        let run = &mut self.jobs[index];
        if !run.status.conditions.iter().any(|c| c.kind == "Suspended") {
            let condition = Condition::new("Suspended", "JobSuspended", "Job suspended", now);
            run.status.conditions.push(condition);
            writes.push(event(
                &run.record.uid,
                "Normal",
                "Suspended",
                "Job suspended".into(),
                now,
            ));
        }
        self.write_status(index);
    }

    fn stop_all(
        &mut self,
        index: usize,
        now: Micros,
        reason: &str,
        message: &str,
        counted: bool,
        writes: &mut Vec<Write>,
    ) {
        self.stop_where(index, now, reason, message, counted, |_| true, writes);
    }

    /// Stops the live instances whose place `which` picks. One that runs on
    /// another node is stopped by its row, which that node follows.
    #[allow(clippy::too_many_arguments)]
    fn stop_where(
        &mut self,
        index: usize,
        now: Micros,
        reason: &str,
        message: &str,
        counted: bool,
        which: impl Fn(&spread::Place) -> bool,
        writes: &mut Vec<Write>,
    ) {
        let stopped_uids: Vec<String> = self.jobs[index]
            .live
            .iter()
            .filter(|(_, live)| which(&live.place))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &stopped_uids {
            self.settle_item(index, uid, false, writes);
        }
        for uid in stopped_uids {
            let run = &mut self.jobs[index];
            let live = run.live.remove(&uid).expect("listed above");
            live.place.stop();
            let mut stopped = live.record;
            stopped.stopped(now, reason, message);
            if counted {
                run.observed.failed += 1;
            }
            run.observed.active -= 1;
            if let Some(i) = stopped.completion_index {
                run.observed.active_indexes.remove(&i);
            }
            writes.push(Write::Instance(stopped));
            self.stop_slot(index, live.slot, now, reason, message, writes);
        }
    }

    /// The Job's status follows its observed counts; it is written once per
    /// group commit (see [`Runner::stage_statuses`]), not once per instance.
    fn write_status(&mut self, index: usize) {
        let run = &mut self.jobs[index];
        let o = &run.observed;
        run.status.active = o.active;
        run.status.ready = o.active;
        run.status.succeeded = o.succeeded;
        run.status.failed = o.failed;
        if run.job.spec.indexed() {
            let completed = job::compact_indexes(&o.succeeded_indexes);
            run.status.completed_indexes = (!completed.is_empty()).then_some(completed);
        }
        if run.job.spec.backoff_limit_per_index.is_some() {
            run.status.failed_indexes = Some(job::compact_indexes(&o.failed_indexes));
        }
        run.status_dirty = true;
    }

    /// Stages the rows of instances created with their write deferred
    /// that still run: the store shows every running instance after a
    /// group commit.
    fn stage_unwritten(&mut self) {
        let live = self.jobs.iter_mut().flat_map(|run| run.live.values_mut());
        for live in live.filter(|live| live.unwritten) {
            live.unwritten = false;
            self.staged.push(Write::Instance(live.record.clone()));
        }
    }

    /// Stages the statuses changed since they were last staged: once per
    /// group commit, however many instances ended in it.
    fn stage_statuses(&mut self) {
        for run in &mut self.jobs {
            if std::mem::take(&mut run.status_dirty) {
                self.staged.push(Write::ObjectStatus {
                    uid: run.record.uid.clone(),
                    status: json!(run.status),
                });
            }
        }
    }
}

/// A Job's first instances each get a `SuccessfulCreate` event; the rest
/// are counted in one event when the Job ends, as Kubernetes' event
/// aggregation folds similar events, so a Job of ten thousand instances
/// keeps a readable `describe` and one row per instance less to write.
const CREATE_EVENTS: u32 = 10;

/// Why an instance an earlier process left running is recorded as ended.
const RESTART_MESSAGE: &str = "the node restarted while the instance was running";

/// The writes of an instance that ended for good: its record and, taken
/// from `done`, its attempt's output (a first attempt's in the same row,
/// see [`Write::InstanceLogged`]) and structured records.
fn ended_writes(ended: InstanceRecord, done: &mut Finished, writes: &mut Vec<Write>) {
    if done.attempt > 0 {
        writes.push(Write::Instance(ended));
        return attempt_logs(done, writes);
    }
    let records = std::mem::take(&mut done.report.records);
    let uid = (!records.is_empty()).then(|| ended.uid.clone());
    writes.push(Write::InstanceLogged {
        instance: ended,
        log: std::mem::take(&mut done.report.output),
        truncated: done.report.truncated,
    });
    if let Some(instance_uid) = uid {
        writes.push(Write::LogRecords {
            instance_uid,
            attempt: 0,
            records,
        });
    }
}

/// The writes that keep one ended attempt's output and structured records,
/// taken from `done`.
fn attempt_logs(done: &mut Finished, writes: &mut Vec<Write>) {
    writes.push(Write::Log {
        instance_uid: done.instance_uid.clone(),
        attempt: done.attempt,
        data: std::mem::take(&mut done.report.output),
        truncated: done.report.truncated,
    });
    if !done.report.records.is_empty() {
        writes.push(Write::LogRecords {
            instance_uid: done.instance_uid.clone(),
            attempt: done.attempt,
            records: std::mem::take(&mut done.report.records),
        });
    }
}

/// The earlier of two wake-up times, either of which may be absent.
fn earliest(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn event(object_uid: &str, kind: &str, reason: &str, message: String, time: Micros) -> Write {
    Write::Event(EventRecord {
        object_uid: object_uid.to_owned(),
        kind: kind.to_owned(),
        reason: reason.to_owned(),
        message,
        time,
    })
}
