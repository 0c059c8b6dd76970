//! One Job as this node runs it ([`JobRun`]): its stored record, its spec
//! and module, what the controller observed, its status, and its live
//! instances with where each runs. A run is new (applied now), resumed
//! (an earlier process stopped before the Job finished) or taken over (in
//! a cluster, from a node that was lost).

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::json;

use super::live::{LiveInstance, Place};
use super::queue::JobQueue;
use crate::controller::job::{self, Observed, RecordedInstance, status};
use crate::ids;
use crate::manifest::{Job, JobStatus, Kind, Phase, QueueMode};
use crate::runner::driver::Pass;
use crate::runner::nodes::ClusterNodes;
use crate::runner::writes::{RESTART_MESSAGE, event, stop};
use crate::runtime::{Prepared, SandboxSpec};
use crate::store::{InstanceRecord, ObjectRecord, Write};
use crate::time::{self, Micros};

/// Which unfinished instances of a Job ended with the process that ran
/// them, when the Job is resumed or taken over; the others are followed.
#[derive(Debug, Clone, Copy)]
pub enum EndedWith<'a> {
    /// This process restarted. On a single node (`node: None`) every
    /// unfinished instance was its own; in a cluster, those that ran on
    /// `node` (this one).
    Restart {
        /// This node, in a cluster.
        node: Option<&'a str>,
    },
    /// The Job's owner node was lost: what ran there, or was offered to it
    /// alone, ended.
    Lost(&'a str),
}

impl EndedWith<'_> {
    /// Why `instance` (unfinished) ended, or `None` if it carries on.
    fn of(&self, instance: &InstanceRecord) -> Option<(&'static str, String)> {
        match *self {
            EndedWith::Restart { node: None } => {
                Some((job::NODE_RESTART, RESTART_MESSAGE.to_owned()))
            }
            EndedWith::Restart { node: Some(node) } => (instance.phase == Phase::Running
                && instance.node_name == node)
                .then(|| (job::NODE_RESTART, RESTART_MESSAGE.to_owned())),
            EndedWith::Lost(node) => (instance.node_name == node).then(|| {
                let message = format!(
                    "node {node} stopped sending heartbeats while the instance was running"
                );
                (job::NODE_LOST, message)
            }),
        }
    }
}

/// Whether a Job's instances may run on other nodes than its owner: not a
/// Job that runs one instance at a time (other nodes would add nothing but
/// a round trip through the database before each instance starts: a
/// CronJob's run starts on time on its CronJob's node), nor a lease-mode
/// Job of the embedded queue, which lives in the owner's own file, nor a
/// Job pinned to its node (`spec.disconnect.replace: false`, or a placement
/// naming one node), which runs where it is held. A Job that does not
/// spread is owned by a node its placement admits.
pub(in crate::runner) fn spreadable(job: &Job) -> bool {
    let queue_here = job
        .spec
        .queue
        .as_ref()
        .is_some_and(|q| q.mode == QueueMode::Lease && q.url.is_none());
    job.spec.parallelism() > 1 && !queue_here && !job.disconnect().pinned
}

/// One Job being run.
pub struct JobRun {
    pub(super) record: ObjectRecord,
    pub(super) job: Job,
    pub(super) prepared: Arc<Prepared>,
    pub(super) observed: Observed,
    pub(super) status: JobStatus,
    pub(super) live: HashMap<String, LiveInstance>,
    pub(super) finished: bool,
    /// Writes that put this Job into the store when it joins a run.
    pub(in crate::runner) joining: Vec<Write>,
    /// `spec.queue`.
    pub(super) queue: JobQueue,
    /// A FailedScheduling event was recorded.
    pub(super) unschedulable_noted: bool,
    /// `status` changed since it was last staged.
    pub(super) status_dirty: bool,
    /// Instances created by this run, and the name of the last.
    pub(super) created: (u32, String),
    /// The labels every instance of this Job gets (the template's and the
    /// Job's own), built at the first instance rather than for each.
    pub(super) instance_labels: OnceCell<Arc<BTreeMap<String, String>>>,
    /// The suffixes of the names of this run's instances.
    pub(super) suffixes: ids::NameSuffixes,
    /// The sandbox its relayed instances share, when they can (see
    /// `Launcher::shared_sandbox`).
    pub(super) shared_sandbox: OnceCell<Option<Arc<SandboxSpec>>>,
    /// In a cluster: its chains that run elsewhere, by first instance
    /// (see `chains`).
    pub(super) chains: HashMap<String, super::live::Chain>,
    /// Chains it ended (the Job finished, was suspended or lost their
    /// node): a link of one that shows up later is stopped.
    pub(super) stopped_chains: std::collections::HashSet<String>,
    /// The last change of its rows in the cluster this node has read.
    pub(in crate::runner) seen_change: i64,
    /// What one instance takes of each extended resource.
    pub(super) demand: BTreeMap<String, i64>,
    /// One instance's memory limits summed (what a namespace's
    /// `limits.memory` quota counts); none when a container names none.
    pub(super) memory_each: Option<i64>,
    /// A FailedCreate event was recorded for the namespace's quota (once
    /// per Job: its instances wait for room, they are not refused).
    pub(super) quota_noted: bool,
    /// Instances it wanted at this pass that the full node had no room
    /// for (see `share`).
    pub(super) lacking: usize,
    /// Its PriorityClass's value, once read (at its first instance, as a
    /// pod's priority is set when it is created); the refusal when the
    /// class does not exist.
    pub(super) priority: Option<Result<i32, String>>,
    /// A FailedCreate event was recorded for an unknown PriorityClass.
    pub(super) priority_noted: bool,
    /// A FailedCreate event was recorded for its namespace's Pod Security
    /// level.
    pub(super) pod_security_noted: bool,
    /// When `dependsOn` was last looked at.
    pub(super) dependencies_checked: Micros,
}

/// The stored form of a Job's manifest; two runs of the same manifest give
/// the same value, which is how an interrupted Job is recognised.
pub fn manifest_json(job: &Job) -> serde_json::Value {
    json!({ "metadata": job.metadata, "spec": job.spec })
}

/// The record of a new Job, created at `now`, before its first pass.
pub fn record_of(job: &Job, now: Micros) -> ObjectRecord {
    ObjectRecord {
        uid: ids::uid(),
        kind: Kind::Job,
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        labels: job.metadata.labels.clone(),
        manifest: manifest_json(job),
        status: json!(JobStatus::default()),
        created_at: now,
        deleted_at: None,
    }
}

impl crate::runner::driver::Joining for JobRun {
    fn joining(&mut self) -> &mut Vec<Write> {
        &mut self.joining
    }
}

impl JobRun {
    /// A Job to run, already admitted (image is a digest, module compiled).
    pub fn new(job: Job, prepared: Arc<Prepared>, now: Micros) -> Self {
        let record = record_of(&job, now);
        let mut run = Self::with(record, job, prepared, Observed::default());
        run.joining.push(Write::ObjectCreated(run.record.clone()));
        run
    }

    /// A Job made with a registry image still to pull (a CronJob's run
    /// resolving its image again): its record and manifest, for the pulls.
    /// Its writes must already be taken.
    pub fn into_waiting(self) -> (ObjectRecord, Job) {
        (self.record, self.job)
    }

    /// Whether the Job's template still names a registry image.
    pub fn waits_for_pull(&self) -> bool {
        crate::apply::pod_waits_for_pull(&self.job.spec.template.spec)
    }

    /// A Job recorded before its module was had (it waited for its
    /// registry image), admitted now: it starts as a new one would.
    pub fn pulled(record: ObjectRecord, job: Job, prepared: Arc<Prepared>) -> Self {
        Self::with(record, job, prepared, Observed::default())
    }

    fn with(record: ObjectRecord, job: Job, prepared: Arc<Prepared>, observed: Observed) -> Self {
        let status = serde_json::from_value(record.status.clone()).unwrap_or_default();
        let demand = job.spec.template.spec.extended_resources();
        let memory_each = job.spec.template.spec.memory_limits();
        JobRun {
            record,
            job,
            prepared,
            observed,
            status,
            live: HashMap::new(),
            finished: false,
            joining: Vec::new(),
            queue: JobQueue::default(),
            unschedulable_noted: false,
            status_dirty: false,
            created: (0, String::new()),
            instance_labels: OnceCell::new(),
            suffixes: ids::NameSuffixes::default(),
            shared_sandbox: OnceCell::new(),
            chains: HashMap::new(),
            stopped_chains: Default::default(),
            seen_change: 0,
            demand,
            memory_each,
            quota_noted: false,
            pod_security_noted: false,
            lacking: 0,
            priority: None,
            priority_noted: false,
            dependencies_checked: 0,
        }
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
            match ended.of(instance) {
                None => {
                    live.insert(instance.uid.clone(), adopted(instance));
                }
                Some((reason, message)) => {
                    orphans.push(instance.uid.clone());
                    stop(instance, now, reason, &message);
                    joining.push(Write::Instance(instance.clone()));
                }
            }
        }
        let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
        let start = status.start_time.as_deref().and_then(time::parse_rfc3339);
        let observed = job::observe(&job.spec, start, instances.iter().map(recorded));
        let message = format!(
            "Resumed after a restart: {} succeeded, {} failed",
            observed.succeeded, observed.failed
        );
        let resumed = crate::controller::Event::normal("Resumed", message);
        joining.push(event(&record.uid, resumed, now));
        let mut run = Self::with(record, job, prepared, observed);
        run.live = live;
        run.joining = joining;
        run.queue = JobQueue::with_orphans(orphans);
        run.rebuild_chains(&instances);
        run
    }

    /// Counts already recorded when the Job joined this run: (succeeded, failed).
    pub fn recorded_counts(&self) -> (u32, u32) {
        (self.observed.succeeded, self.observed.failed)
    }

    /// The stored object's uid.
    pub fn uid(&self) -> &str {
        &self.record.uid
    }

    /// The stored object.
    pub(in crate::runner) fn record(&self) -> &ObjectRecord {
        &self.record
    }

    /// Finished, or suspended (or not schedulable on this node) with nothing
    /// running: nothing more will happen without a change of spec.
    pub(super) fn settled(&self) -> bool {
        self.finished
            || ((self.job.spec.suspended() || self.unschedulable_noted) && self.live.is_empty())
    }

    /// Whether the Job offers its instances to the cluster this node is one
    /// of: a Job that may spread, while the cluster's database answers
    /// (while it does not, the owner runs new instances itself).
    pub(super) fn spreads(&self, cluster: Option<&ClusterNodes>) -> bool {
        cluster.is_some_and(ClusterNodes::reachable) && spreadable(&self.job)
    }

    /// Whether the Job runs its instances in relaying slots (see `relay`):
    /// only Jobs whose next instance needs nothing from their last ones —
    /// not Indexed, with `completions` set, without a work queue — and
    /// that nothing but this node decides: a single node's, or a Job
    /// pinned to this node of a cluster (a relay starts the next instance
    /// without asking whether the node still holds the Job's lease).
    pub(super) fn relays(&self, clustered: bool) -> bool {
        let spec = &self.job.spec;
        (!clustered || self.job.disconnect().pinned)
            && spec.queue.is_none()
            && !spec.indexed()
            && spec.completions().is_some()
            // References are read at each attempt, not once for a slot.
            && !crate::executor::references::refers_outside(&spec.template.spec)
            // A slot runs one module.
            && !spec.template.spec.is_multi()
    }

    /// Whether this node may start the Job's instances now: in a cluster,
    /// while it holds the Job's lease or the Job is pinned here.
    pub(super) fn may_start(&self, pass: &Pass<'_>) -> bool {
        pass.cluster.is_none() || pass.may_act(&self.job.disconnect())
    }

    /// The status counts follow the observed counts; the status is written
    /// once per group commit (see [`crate::runner::journal::Deferred`]),
    /// not once per instance.
    pub(super) fn count(&mut self) {
        status::count(&mut self.status, &self.job.spec, &self.observed);
        self.status_dirty = true;
    }
}

/// An unfinished instance that carries on (offered, or running on a node
/// that is still there), followed as before.
fn adopted(instance: &InstanceRecord) -> LiveInstance {
    let place = match instance.phase {
        Phase::Running => Place::Elsewhere,
        _ => Place::Offered,
    };
    LiveInstance {
        record: instance.clone(),
        attempt: instance.restart_count,
        place,
        slot: None,
        unwritten: false,
    }
}

/// What the Job controller needs of a recorded instance.
fn recorded(i: &InstanceRecord) -> RecordedInstance<'_> {
    RecordedInstance {
        name: &i.name,
        completion_index: i.completion_index,
        phase: i.phase,
        reason: i.reason.as_deref(),
        exit_code: i.exit_code,
        restart_count: i.restart_count,
        created_at: i.created_at,
        finish_time: i.finish_time,
    }
}
