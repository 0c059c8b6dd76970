//! Instances this node runs for other nodes' Jobs (*hosted*). Every node —
//! the owner too — claims its share of what is offered that its labels and
//! free capacity allow (never two nodes the same instance), runs it, and
//! writes how it ended. A hosted instance is stopped as soon as its row
//! says its owner stopped it (or took this node for lost), and its end is
//! written only while the row still says it runs here, so what the owner
//! decided always stands.
//!
//! Work queues: in stdin mode the owner leases the item and offers it with
//! the instance; in lease mode each node connects to the broker itself.
//! Nodes learn of offers, ends and stops from the control plane's notices,
//! and look once per heartbeat too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::task::AbortHandle;

use super::refusals::Refusals;
use crate::admission;
use crate::controller::{instance, job};
use crate::executor::Finished;
use crate::manifest::{Job, Object, Phase, QueueMode};
use crate::queue::Queue;
use crate::runner::driver::Driver as _;
use crate::runner::jobs::check_stdin_item;
use crate::runner::launcher::{Attempt, Binding};
use crate::runner::nodes::ClusterNodes;
use crate::runner::observer::Observer;
use crate::runner::parts::{Parts, Silent};
use crate::runner::writes::{attempt_logs, stop};
use crate::runtime::Prepared;
use crate::store::{Changes, ControlPlane, InstanceRecord, Noticed, StoreError, Write};
use crate::time::Micros;

/// How soon a node claims again when it left offered instances for the
/// other nodes (its share of them was smaller than what waited).
const CLAIM_AGAIN: Micros = 20_000;

/// An instance this node runs for another node's Job.
struct Hosted {
    record: InstanceRecord,
    abort: AbortHandle,
}

/// What a node needs to run another node's Job's instances.
struct ForeignJob {
    job: Job,
    prepared: Arc<Prepared>,
    /// Lease mode: this node's connection to the Job's broker.
    queue: Option<Arc<Queue>>,
}

/// What the spreading pass reads of the rest of the cluster part: the nodes
/// as last seen, and the refusals said.
type Cluster<'a> = (&'a ClusterNodes, &'a mut Refusals);

/// The instances this node hosts, and the Jobs they belong to.
pub(super) struct Hosting {
    control: Arc<dyn ControlPlane>,
    /// Changes other nodes made, noticed and not looked at yet.
    noticed: Arc<Noticed>,
    hosted: HashMap<String, Hosted>,
    /// Other nodes' Jobs with instances on offer, by uid; `None` when this
    /// node cannot run them (the module is refused).
    foreign: HashMap<String, Option<ForeignJob>>,
    /// Instances this node runs at once at most (`--max-instances`).
    capacity: u32,
    claim_again_at: Option<Micros>,
}

impl Hosting {
    pub(super) fn new(
        control: Arc<dyn ControlPlane>,
        noticed: Arc<Noticed>,
        capacity: u32,
    ) -> Self {
        Hosting {
            control,
            noticed,
            hosted: HashMap::new(),
            foreign: HashMap::new(),
            capacity,
            claim_again_at: None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.hosted.is_empty()
    }

    /// The spreading pass: what the notices since the last one (or the
    /// heartbeat) ask for. Errors are the control plane's; the pass is
    /// tried again at the next notice or heartbeat. Returns when to claim
    /// again.
    pub(super) fn pass(
        &mut self,
        parts: &mut Parts,
        (nodes, refusals): Cluster<'_>,
        (now, writes): (Micros, &mut Vec<Write>),
        observer: &mut dyn Observer,
    ) -> Option<Micros> {
        let mut changes = self.noticed.take();
        if self.claim_again_at.is_some_and(|at| at <= now) {
            changes = changes.with(Changes::OFFERED);
        }
        let mut result = Ok(());
        if changes.contains(Changes::ENDED) {
            result = self.follow_offered(parts, nodes, (now, writes), observer);
        }
        if result.is_ok() && changes.contains(Changes::STOPPED) {
            result = self.follow_hosted(&parts.config.node_name);
        }
        if result.is_ok() && changes.contains(Changes::OFFERED) {
            result = self.claim_offered(parts, (nodes, refusals), now);
        }
        if let Err(e) = result {
            tracing::warn!("cluster: {e}");
        }
        self.claim_again_at
    }

    /// The owner's side: reads the rows of its instances that are offered
    /// or run elsewhere, and records what happened to them.
    fn follow_offered(
        &mut self,
        parts: &mut Parts,
        nodes: &ClusterNodes,
        (now, writes): (Micros, &mut Vec<Write>),
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        let watched = parts.jobs.watched();
        if watched.is_empty() {
            return Ok(());
        }
        let rows = self.control.instance_states(&watched)?;
        let lost = nodes.lost();
        parts.with_pass((now, writes), observer, Some(nodes), |d, pass| {
            d.jobs.follow_rows(rows, &lost, pass);
        });
        Ok(())
    }

    /// Instances running on this node: its Jobs', daemons, hosted ones.
    fn running_here(&self, parts: &Parts) -> u32 {
        let own = parts.jobs.running_here() + parts.daemons.running_here();
        (own + self.hosted.len()) as u32
    }

    /// Claims this node's share of the offered instances it can run.
    fn claim_offered(
        &mut self,
        parts: &mut Parts,
        (nodes, refusals): Cluster<'_>,
        now: Micros,
    ) -> Result<(), StoreError> {
        self.claim_again_at = None;
        if !parts.starts() {
            return Ok(());
        }
        let free = self.capacity.saturating_sub(self.running_here(parts));
        if free == 0 {
            return Ok(());
        }
        let (mut owners, mut waiting, mut pinned) = (Vec::new(), 0, 0);
        for offer in self.control.offered()? {
            if self.can_run(parts, refusals, &offer.owner_uid)? {
                owners.push(offer.owner_uid.clone());
                waiting += offer.waiting;
                pinned += offer.pinned;
            }
        }
        let hosted_jobs: HashSet<&String> =
            self.hosted.values().map(|h| &h.record.owner_uid).collect();
        let keep = |uid: &String| owners.contains(uid) || hosted_jobs.contains(uid);
        self.foreign.retain(|uid, _| keep(uid));
        if owners.is_empty() {
            return Ok(());
        }
        // An even share of what waits, so one Job's instances spread over
        // the Ready nodes instead of going to whichever node looks first.
        let share = pinned.max(waiting.div_ceil(nodes.ready()));
        let claimed = self.control.claim_offered(&owners, share.min(free), now)?;
        let taken = claimed.len() as u32;
        for record in claimed {
            self.start_claimed(parts, nodes, record, now);
        }
        if taken < waiting {
            self.claim_again_at = Some(now + CLAIM_AGAIN);
        }
        Ok(())
    }

    /// Whether this node may run instances of the Job `uid` now: its
    /// labels match the Job's placement (and another node's Job's module
    /// is admitted here).
    fn can_run(
        &mut self,
        parts: &mut Parts,
        refusals: &mut Refusals,
        uid: &str,
    ) -> Result<bool, StoreError> {
        if let Some(admits) = parts.jobs.admits(uid, &parts.config.node_labels) {
            return Ok(admits);
        }
        if !self.foreign.contains_key(uid) {
            let foreign = foreign_job(parts, (&*self.control, refusals), uid)?;
            self.foreign.insert(uid.to_owned(), foreign);
        }
        let labels = &parts.config.node_labels;
        let foreign = self.foreign[uid].as_ref();
        Ok(foreign.is_some_and(|f| f.job.spec.template.spec.placement().admits(labels)))
    }

    /// Runs an instance this node just claimed: one of its own Jobs', or
    /// hosted for another node's.
    fn start_claimed(
        &mut self,
        parts: &mut Parts,
        nodes: &ClusterNodes,
        record: InstanceRecord,
        now: Micros,
    ) {
        let mut writes = Vec::new();
        let foreign = parts.with_pass((now, &mut writes), &mut Silent, Some(nodes), |d, pass| {
            d.jobs.start_claimed(record, pass)
        });
        let Some(record) = foreign else {
            return;
        };
        // The node's file records what runs here, before it runs.
        let copy = [Write::Instance(record.clone())];
        if let Err(e) = parts.journal.store_mut().mirror(&copy) {
            tracing::warn!("cluster: cannot record a claimed instance: {e}");
        }
        let binding = self.foreign_binding(parts, &record);
        let Some(Some(foreign)) = self.foreign.get(&record.owner_uid) else {
            return;
        };
        let attempt = Attempt {
            job: &foreign.job,
            job_uid: &record.owner_uid,
            prepared: &foreign.prepared,
            record: &record,
            attempt: record.restart_count,
            failed_before: 0,
        };
        let abort = parts.launcher.start(&attempt, binding, None);
        tracing::debug!(instance = %record.name, "cluster: running an instance of another node's Job");
        self.hosted
            .insert(record.uid.clone(), Hosted { record, abort });
    }

    /// What a hosted instance gets from its Job's queue: the item its owner
    /// offered with it (stdin mode), or this node's connection to the
    /// broker (lease mode), made now if there is none.
    fn foreign_binding(
        &mut self,
        parts: &Parts,
        record: &InstanceRecord,
    ) -> Result<Binding, String> {
        let mut binding = Binding::default();
        let Some(Some(foreign)) = self.foreign.get_mut(&record.owner_uid) else {
            return Ok(binding);
        };
        let Some(source) = foreign.job.spec.queue.clone() else {
            return Ok(binding);
        };
        match source.mode {
            QueueMode::Stdin => {
                let stdin = self.control.instance_input(&record.uid);
                binding.stdin = stdin.map_err(|e| e.to_string())?.unwrap_or_default();
                check_stdin_item(binding.stdin.len())?;
            }
            QueueMode::Lease => {
                if foreign.queue.is_none() {
                    let queue = parts
                        .launcher
                        .connect_queue(&source)
                        .map_err(|e| e.to_string())?;
                    foreign.queue = Some(Arc::new(queue));
                }
                binding.queue = foreign.queue.clone();
            }
        }
        Ok(binding)
    }

    /// The hosting side: instances whose row no longer says they run here
    /// in this attempt were stopped by their owner (or taken for lost).
    fn follow_hosted(&mut self, me: &str) -> Result<(), StoreError> {
        let uids: Vec<String> = self.hosted.keys().cloned().collect();
        if uids.is_empty() {
            return Ok(());
        }
        let rows = self.control.instance_states(&uids)?;
        self.hosted.retain(|uid, hosted| {
            let runs_here = rows.iter().any(|r| {
                &r.uid == uid
                    && r.phase == Phase::Running
                    && r.node_name == me
                    && r.restart_count == hosted.record.restart_count
            });
            if !runs_here {
                tracing::info!(instance = %hosted.record.name, "cluster: stopped by its Job's owner");
                hosted.abort.abort();
            }
            runs_here
        });
        Ok(())
    }

    /// A hosted instance ended: its logs and its end go to the store, for
    /// the Job's owner. Returns false when `done` is not a hosted instance.
    pub(super) fn ended(&mut self, done: &mut Finished, writes: &mut Vec<Write>) -> bool {
        let Some(hosted) = self.hosted.remove(&done.instance_uid) else {
            return false;
        };
        // A slot is free: look at the offers again.
        self.noticed.add(Changes::OFFERED);
        let owner = &hosted.record.owner_uid;
        if !done.report.outcome.succeeded()
            && let Some(Some(foreign)) = self.foreign.get_mut(owner)
        {
            // The broker may be what failed it: connect afresh next time.
            foreign.queue = None;
        }
        attempt_logs(done, writes);
        let mut ended = hosted.record;
        ended.terminate(done.finished, instance::of_run(&done.report.outcome));
        writes.push(Write::InstanceEnded(ended));
        true
    }

    /// Shutdown: hosted instances still running end as `NodeShutdown`,
    /// which their owners count as a disruption.
    pub(super) fn interrupt(&mut self, now: Micros, writes: &mut Vec<Write>) {
        let message = "the node shut down while the instance was running";
        for (_, hosted) in self.hosted.drain() {
            hosted.abort.abort();
            let mut ended = hosted.record;
            stop(&mut ended, now, job::NODE_SHUTDOWN, message);
            writes.push(Write::InstanceEnded(ended));
        }
    }
}

/// Another node's Job, read from the cluster with its module admitted, and
/// copied into this node's file (its instances run here are recorded
/// there under it).
fn foreign_job(
    parts: &mut Parts,
    (control, refusals): (&dyn ControlPlane, &mut Refusals),
    uid: &str,
) -> Result<Option<ForeignJob>, StoreError> {
    let Some(record) = control.object(uid)? else {
        return Ok(None);
    };
    let Ok(object @ Object::Job(_)) = admission::stored_object(&record) else {
        return Ok(None);
    };
    let prepared = refusals.admit(parts, &record, &object)?;
    let Object::Job(job) = object else {
        return Ok(None);
    };
    if prepared.is_some() {
        parts.journal.store_mut().mirror_object(&record, false)?;
    }
    Ok(prepared.map(|prepared| ForeignJob {
        job,
        prepared,
        queue: None,
    }))
}
