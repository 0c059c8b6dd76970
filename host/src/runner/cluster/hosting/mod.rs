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
//! and look once per heartbeat too. `fit`: what the node's taints and
//! extended resources let it take and keep.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::task::AbortHandle;

mod fit;

use super::refusals::Refusals;
use crate::admission;
use crate::controller::{instance, job};
use crate::executor::{Finished, Waiting};
use crate::manifest::{Job, Object, Phase, QueueMode};
use crate::queue::Queue;
use crate::runner::driver::Driver as _;
use crate::runner::jobs::check_stdin_item;
use crate::runner::launcher::{Attempt, Binding};
use crate::runner::nodes::ClusterNodes;
use crate::runner::observer::Observer;
use crate::runner::parts::{Parts, Silent};
use crate::runner::writes::{attempt_logs, network_denials, stop};
use crate::runtime::Prepared;
use crate::store::{Changes, ControlPlane, InstanceRecord, Noticed, StoreError, Write};
use crate::time::Micros;

/// How soon a node claims again when it left offered instances for the
/// other nodes (its share of them was smaller than what waited): long
/// enough for a node that sees the Job for the first time to admit and
/// compile its module (~100 ms), or the first node takes every chain of a
/// Job that chains (see `controller::job::chains`).
const CLAIM_AGAIN: Micros = 200_000;

/// Rows an owner reads at most per pass.
const CHANGES_READ: i64 = 5_000;

/// An instance this node runs for another node's Job.
struct Hosted {
    record: InstanceRecord,
    abort: AbortHandle,
}

/// What a node needs to run another node's Job's instances (or the links
/// of a chain of its own Job's).
struct ForeignJob {
    job: Job,
    prepared: Arc<Prepared>,
    /// Lease mode: this node's connection to the Job's broker.
    queue: Option<Arc<Queue>>,
    /// The random parts of the names of the chain links started here.
    suffixes: crate::ids::NameSuffixes,
}

impl ForeignJob {
    fn new(job: Job, prepared: Arc<Prepared>) -> Self {
        ForeignJob {
            job,
            prepared,
            queue: None,
            suffixes: Default::default(),
        }
    }
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
        let evict_at = self.evict_untolerated(parts, now, writes);
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
        crate::time::earliest(self.claim_again_at, evict_at)
    }

    /// The owner's side: reads the rows of its Jobs written since it last
    /// looked (instances offered or running elsewhere, the links of its
    /// chains) and records what happened to them; what runs elsewhere is
    /// copied into this node's file.
    fn follow_offered(
        &mut self,
        parts: &mut Parts,
        nodes: &ClusterNodes,
        (now, writes): (Micros, &mut Vec<Write>),
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        let followed = parts.jobs.followed();
        if followed.is_empty() {
            return Ok(());
        }
        let since = followed.iter().map(|(_, seen)| *seen).min().unwrap_or(0);
        let uids: Vec<String> = followed.iter().map(|(uid, _)| uid.clone()).collect();
        let changed = self.control.instance_changes(&uids, since, CHANGES_READ)?;
        if changed.len() as i64 == CHANGES_READ {
            // More wait: read on at the next pass.
            self.noticed.add(Changes::ENDED);
        }
        let me = parts.config.node_name.clone();
        let mut rows = Vec::with_capacity(changed.len());
        for (change, row) in changed {
            if parts.jobs.saw_change(&row.owner_uid, change) {
                rows.push(row);
            }
        }
        let copies: Vec<Write> = rows
            .iter()
            .filter(|r| r.node_name != me)
            .map(|r| Write::Instance(r.clone()))
            .collect();
        parts.journal.store_mut().mirror(&copies)?;
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
        let free_resources = self.free_resources(parts);
        let mut fit = u32::MAX;
        for offer in self.control.offered()? {
            if self.can_run(parts, refusals, &offer.owner_uid)?
                && !self.prefers_elsewhere(parts, nodes, &offer.owner_uid)
            {
                // Extended resources: no more than fit in what is free.
                let demand = self.demand_of(parts, &offer.owner_uid);
                let fits = demand
                    .iter()
                    .map(|(name, n)| {
                        let free = free_resources.get(name).copied().unwrap_or(0).max(0);
                        (free / n.max(&1)) as u32
                    })
                    .min()
                    .unwrap_or(u32::MAX);
                if fits == 0 {
                    continue;
                }
                fit = fit.min(fits);
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
        let claimed = (self.control).claim_offered(&owners, share.min(free).min(fit), now)?;
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
        let (labels, taints) = (&parts.config.node_labels, &parts.config.node_taints);
        if let Some(admits) = parts.jobs.admits(uid, labels, taints) {
            return Ok(admits);
        }
        if !self.foreign.contains_key(uid) {
            let foreign = foreign_job(parts, (&*self.control, refusals), uid)?;
            self.foreign.insert(uid.to_owned(), foreign);
        }
        let (labels, taints) = (&parts.config.node_labels, &parts.config.node_taints);
        let foreign = self.foreign[uid].as_ref();
        let placement = |f: &ForeignJob| f.job.spec.template.spec.placement();
        // An instance asking for extended resources goes to a node that has
        // them (their use is counted on the node that owns the Job).
        let has = |f: &ForeignJob| {
            let demand = f.job.spec.template.spec.extended_resources();
            crate::manifest::has_resources(&demand, &parts.config.resources)
        };
        Ok(foreign.is_some_and(|f| placement(f).admits(labels, taints) && has(f)))
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
        let record = if record.chain.is_some() {
            // A chain runs here as any node's: its links follow each other
            // here, and its owner counts them from their rows.
            if let Some((job, prepared)) = parts.jobs.job_and_module(&record.owner_uid) {
                let own = ForeignJob::new(job, prepared);
                self.foreign.insert(record.owner_uid.clone(), Some(own));
            }
            record
        } else {
            let mut writes = Vec::new();
            let foreign =
                parts.with_pass((now, &mut writes), &mut Silent, Some(nodes), |d, pass| {
                    d.jobs.start_claimed(record, pass)
                });
            let Some(record) = foreign else {
                return;
            };
            record
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
            // A chain link this node started may not have reached the
            // cluster yet: no row is no news.
            let Some(r) = rows.iter().find(|r| &r.uid == uid) else {
                return true;
            };
            let runs_here = r.phase == Phase::Running
                && r.node_name == me
                && r.restart_count == hosted.record.restart_count;
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
    /// An instance hosted here waits for its references, or stopped
    /// waiting: the event says so on its Job (the row is its owner's to
    /// write); `false` when it is not hosted here.
    pub(super) fn waiting(
        &mut self,
        waiting: &Waiting,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> bool {
        let Some(hosted) = self.hosted.get_mut(&waiting.instance_uid) else {
            return false;
        };
        let owner = hosted.record.owner_uid.clone();
        let mut record = hosted.record.clone();
        let recorded = crate::runner::driver::record_waiting(&mut record, &owner, waiting, now);
        writes.extend(
            recorded
                .into_iter()
                .filter(|w| matches!(w, Write::Event(_))),
        );
        // What was said is kept, so it is said once.
        hosted.record.reason = record.reason;
        hosted.record.message = record.message;
        true
    }

    pub(super) fn ended(
        &mut self,
        parts: &mut Parts,
        done: &mut Finished,
        writes: &mut Vec<Write>,
    ) -> bool {
        let Some(hosted) = self.hosted.remove(&done.instance_uid) else {
            return false;
        };
        let owner = &hosted.record.owner_uid;
        if !done.report.outcome.succeeded()
            && let Some(Some(foreign)) = self.foreign.get_mut(owner)
        {
            // The broker may be what failed it: connect afresh next time.
            foreign.queue = None;
        }
        network_denials(owner, &hosted.record.name, done, writes);
        attempt_logs(done, writes);
        let mut ended = hosted.record;
        ended.terminate(done.finished, instance::of_run(&done.report.outcome));
        if !self.next_link(parts, &ended, done.finished, writes) {
            // A slot is free (a chain that goes on keeps its slot): look
            // at the offers again.
            self.noticed.add(Changes::OFFERED);
        }
        writes.push(end_write(ended));
        true
    }

    /// A chain's link succeeded here with budget left: the chain's next
    /// link starts here at once (see [`crate::controller::job::chains`]);
    /// its owner hears of it from its row. Whether it started.
    fn next_link(
        &mut self,
        parts: &mut Parts,
        ended: &InstanceRecord,
        at: Micros,
        writes: &mut Vec<Write>,
    ) -> bool {
        let Some(chain) = &ended.chain else {
            return false;
        };
        if chain.budget <= 1 || ended.phase != Phase::Succeeded || !parts.starts() {
            return false;
        }
        let Some(Some(foreign)) = self.foreign.get_mut(&ended.owner_uid) else {
            return false;
        };
        let suffix = foreign.suffixes.next_suffix();
        let suffix = std::str::from_utf8(&suffix).expect("an ASCII suffix");
        let record = InstanceRecord {
            uid: crate::ids::uid(),
            name: job::instance_name(&foreign.job.metadata.name, None, suffix),
            namespace: ended.namespace.clone(),
            owner_uid: ended.owner_uid.clone(),
            completion_index: None,
            labels: ended.labels.clone(),
            phase: Phase::Running,
            exit_code: None,
            reason: None,
            message: None,
            node_name: parts.config.node_name.clone(),
            restart_count: 0,
            created_at: at,
            start_time: Some(at),
            finish_time: None,
            chain: Some(crate::store::ChainLink {
                head: chain.head.clone(),
                budget: chain.budget - 1,
            }),
        };
        writes.push(Write::Instance(record.clone()));
        let attempt = Attempt {
            job: &foreign.job,
            job_uid: &record.owner_uid,
            prepared: &foreign.prepared,
            record: &record,
            attempt: 0,
            failed_before: 0,
        };
        let abort = parts.launcher.start(&attempt, Ok(Binding::default()), None);
        self.hosted
            .insert(record.uid.clone(), Hosted { record, abort });
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
            writes.push(end_write(ended));
        }
    }
}

/// How an instance that ran here ends in the store: one its Job's owner
/// offered ends only while its row says it runs here (the owner's word
/// stands); a chain link this node started is this node's row.
fn end_write(ended: InstanceRecord) -> Write {
    match &ended.chain {
        Some(chain) if chain.head != ended.uid => Write::Instance(ended),
        _ => Write::InstanceEnded(ended),
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
    Ok(prepared.map(|prepared| ForeignJob::new(job, prepared)))
}
