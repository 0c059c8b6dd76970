//! One Job's instances over the nodes of a cluster. The owner of a Job does
//! not run its instances itself: it offers each one as a `Pending` row, and
//! every node — the owner too — claims what its labels and free capacity
//! allow (`FOR UPDATE SKIP LOCKED`, so never two nodes), runs it, and
//! writes how it ended. The owner follows the rows and decides everything
//! else as on a single node — counts, retries, restarts in place, the Job's
//! end — so `parallelism` stays one node's decision, however many run it.
//!
//! - An instance this node runs for another node's Job is *hosted*: it is
//!   stopped as soon as its row says the owner stopped it (or took this
//!   node for lost), and its end is written only while the row still says
//!   it runs here, so what the owner decided always stands.
//! - The owner records an instance whose node was lost as `NodeLost`; a node
//!   that restarts ends what it hosted as `NodeRestart`; a node that shuts
//!   down, as `NodeShutdown`. All three are disruptions for
//!   `podFailurePolicy`, and the replacement goes to whichever node claims it.
//! - An instance restarted in place (`OnFailure`) is offered again to the
//!   node that ran it, as a kubelet restarts a container where it is.
//! - Work queues: in stdin mode the owner leases the item and offers it
//!   with the instance (completing or releasing it when the end comes back);
//!   in lease mode each node connects to the broker itself. Only a lease-mode
//!   Job of the embedded queue, which lives in the owner's own file, runs on
//!   its owner.
//!
//! Nodes learn of offers, ends and stops from PostgreSQL's notices (see
//! [`crate::store::postgres::Changes`]), and look once per heartbeat too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::task::AbortHandle;

use super::{Observer, Runner, Write, attempt_logs};
use crate::controller::job;
use crate::executor::Finished;
use crate::manifest::{Job, Placement, QueueMode};
use crate::queue::Queue;
use crate::runtime::Prepared;
use crate::store::postgres::{Changes, Listener, NodeRecord, Noticed};
use crate::store::{InstanceRecord, Phase, StoreError};
use crate::time::Micros;

/// How soon a node claims again when it left offered instances for the
/// other nodes (its share of them was smaller than what waited).
const CLAIM_AGAIN: Micros = 20_000;

/// Where a live instance of one of this node's Jobs is.
pub(super) enum Place {
    /// Running on this node.
    Here(AbortHandle),
    /// Offered to the cluster and not claimed yet.
    Offered,
    /// Claimed by another node, which runs it.
    Elsewhere,
}

impl Place {
    /// Stops the run if it is on this node; elsewhere, the row tells.
    pub(super) fn stop(&self) {
        if let Place::Here(abort) = self {
            abort.abort();
        }
    }

    /// Whether the instance runs on this node.
    pub(super) fn is_here(&self) -> bool {
        matches!(self, Place::Here(_))
    }
}

/// Whether a Job's instances may run on other nodes than its owner.
pub(super) fn spreadable(job: &Job) -> bool {
    job.spec
        .queue
        .as_ref()
        .is_none_or(|q| q.mode == QueueMode::Stdin || q.url.is_some())
}

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

/// The runner's share of spreading instances.
pub(super) struct Spread {
    noticed: Arc<Noticed>,
    _listener: Listener,
    hosted: HashMap<String, Hosted>,
    /// Other nodes' Jobs with instances on offer, by uid; `None` when this
    /// node cannot run them (the module is not in the store).
    foreign: HashMap<String, Option<ForeignJob>>,
    /// Every node as of the last heartbeat (`None` before the first).
    nodes: Option<Vec<NodeRecord>>,
    /// Instances this node runs at once at most (`--max-instances`).
    capacity: u32,
    claim_again_at: Option<Micros>,
}

impl Spread {
    pub(super) fn new(noticed: Arc<Noticed>, listener: Listener, capacity: u32) -> Spread {
        Spread {
            noticed,
            _listener: listener,
            hosted: HashMap::new(),
            foreign: HashMap::new(),
            nodes: None,
            capacity,
            claim_again_at: None,
        }
    }

    /// The nodes as the last heartbeat saw them; true when which nodes are
    /// Ready, or their labels, changed.
    pub(super) fn nodes_seen(&mut self, nodes: Vec<NodeRecord>) -> bool {
        let key = |nodes: &[NodeRecord]| -> Vec<(String, bool, String)> {
            nodes
                .iter()
                .map(|n| (n.name.clone(), n.ready, format!("{:?}", n.labels)))
                .collect()
        };
        let changed = self.nodes.as_deref().map(key) != Some(key(&nodes));
        self.nodes = Some(nodes);
        // Once a heartbeat, everything is looked at, notices or not.
        self.noticed.add(Changes::ALL);
        changed
    }

    /// Whether some Ready node admits `placement`; before the first
    /// heartbeat, assume so (whoever matches claims the instances).
    pub(super) fn some_node_admits(&self, placement: &Placement) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n.ready && placement.admits(&n.labels)))
    }

    fn lost_nodes(&self) -> HashSet<&str> {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| !n.ready)
            .map(|n| n.name.as_str())
            .collect()
    }

    fn ready_nodes(&self) -> u32 {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| n.ready)
            .count()
            .max(1) as u32
    }

    /// Whether this node runs instances for other nodes' Jobs.
    pub(super) fn hosts_nothing(&self) -> bool {
        self.hosted.is_empty()
    }
}

impl Runner {
    /// Whether the Job at `index` has its instances spread over the cluster.
    pub(super) fn spreads(&self, index: usize) -> bool {
        self.spread().is_some() && spreadable(&self.jobs[index].job)
    }

    fn spread(&self) -> Option<&Spread> {
        self.cluster.as_ref().map(|c| &c.spread)
    }

    fn spread_mut(&mut self) -> &mut Spread {
        &mut self.cluster.as_mut().expect("a cluster runner").spread
    }

    /// The spreading pass: what the notices since the last one (or the
    /// heartbeat) ask for. Errors are the database's; the pass is tried
    /// again at the next notice or heartbeat.
    pub(super) fn spread_pass(
        &mut self,
        now: Micros,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) -> Option<Micros> {
        let spread = self.spread()?;
        let mut changes = spread.noticed.take();
        if spread.claim_again_at.is_some_and(|at| at <= now) {
            changes = changes.with(Changes::OFFERED);
        }
        let result = (|| {
            if changes.contains(Changes::ENDED) {
                self.follow_offered(now, writes, observer)?;
            }
            if changes.contains(Changes::STOPPED) {
                self.follow_hosted()?;
            }
            if changes.contains(Changes::OFFERED) {
                self.claim_offered(now)?;
            }
            Ok::<(), StoreError>(())
        })();
        if let Err(e) = result {
            tracing::warn!("cluster: {e}");
        }
        self.spread()?.claim_again_at
    }

    /// Instances running on this node: its Jobs', hosted ones, daemons.
    fn running_here(&self) -> u32 {
        let own: usize = self
            .jobs
            .iter()
            .map(|j| j.live.values().filter(|l| l.place.is_here()).count())
            .sum();
        let daemons: usize = self.daemons.iter().map(super::DaemonRun::running).sum();
        let hosted = self.spread().map_or(0, |s| s.hosted.len());
        (own + daemons + hosted) as u32
    }

    /// Claims this node's share of the offered instances it can run.
    fn claim_offered(&mut self, now: Micros) -> Result<(), StoreError> {
        self.spread_mut().claim_again_at = None;
        if self.draining.is_some() || self.unwritable.is_some() {
            return Ok(());
        }
        let free = self
            .spread()
            .expect("cluster")
            .capacity
            .saturating_sub(self.running_here());
        if free == 0 {
            return Ok(());
        }
        let offered = self.store.cluster_db().expect("cluster").offered()?;
        let (mut owners, mut waiting, mut pinned) = (Vec::new(), 0, 0);
        for offer in &offered {
            if self.can_run(&offer.owner_uid)? {
                owners.push(offer.owner_uid.clone());
                waiting += offer.waiting;
                pinned += offer.pinned;
            }
        }
        let hosted_jobs: HashSet<String> = self
            .spread()
            .expect("cluster")
            .hosted
            .values()
            .map(|h| h.record.owner_uid.clone())
            .collect();
        self.spread_mut()
            .foreign
            .retain(|uid, _| owners.contains(uid) || hosted_jobs.contains(uid));
        if owners.is_empty() {
            return Ok(());
        }
        // An even share of what waits, so one Job's instances spread over
        // the Ready nodes instead of going to whichever node looks first.
        let share = pinned.max(waiting.div_ceil(self.spread().expect("cluster").ready_nodes()));
        let claimed = self.store.cluster_db().expect("cluster").claim_offered(
            &owners,
            share.min(free),
            now,
        )?;
        let taken = claimed.len() as u32;
        for record in claimed {
            self.start_claimed(record);
        }
        if taken < waiting {
            self.spread_mut().claim_again_at = Some(now + CLAIM_AGAIN);
        }
        Ok(())
    }

    /// Whether this node may run instances of the Job `uid` now: it is
    /// not shutting down and its labels match the Job's placement.
    fn can_run(&mut self, uid: &str) -> Result<bool, StoreError> {
        let labels = &self.config.node_labels;
        if let Some(run) = self.jobs.iter().find(|j| j.record.uid == uid) {
            return Ok(run.job.spec.template.spec.placement().admits(labels));
        }
        if !self.spread().expect("cluster").foreign.contains_key(uid) {
            let foreign = self.foreign_job(uid)?;
            self.spread_mut().foreign.insert(uid.to_owned(), foreign);
        }
        let labels = &self.config.node_labels;
        Ok(self.spread().expect("cluster").foreign[uid]
            .as_ref()
            .is_some_and(|f| f.job.spec.template.spec.placement().admits(labels)))
    }

    /// Another node's Job, read from the store with its module.
    fn foreign_job(&self, uid: &str) -> Result<Option<ForeignJob>, StoreError> {
        let Some(record) = self.store.object(uid)? else {
            return Ok(None);
        };
        let Ok(job) = serde_json::from_value::<Job>(record.manifest) else {
            return Ok(None);
        };
        let digest = job.spec.template.spec.containers[0].image.clone();
        Ok(self
            .stored_module(&digest, &record.name)?
            .map(|prepared| ForeignJob {
                job,
                prepared,
                queue: None,
            }))
    }

    /// Runs an instance this node just claimed.
    fn start_claimed(&mut self, record: InstanceRecord) {
        let attempt = record.restart_count;
        if let Some(index) = self
            .jobs
            .iter()
            .position(|j| j.record.uid == record.owner_uid)
        {
            // One of this node's own Jobs. An instance it no longer has was
            // stopped meanwhile; the stop, still staged, ends the row.
            if !self.jobs[index].live.contains_key(&record.uid) {
                return;
            }
            let abort = self.launch(index, &record, attempt);
            let live = self.jobs[index]
                .live
                .get_mut(&record.uid)
                .expect("checked above");
            live.record = record;
            live.attempt = attempt;
            live.place = Place::Here(abort);
            return;
        }
        let binding = self.foreign_binding(&record);
        let Some(Some(foreign)) = self
            .spread()
            .expect("cluster")
            .foreign
            .get(&record.owner_uid)
        else {
            return;
        };
        let abort = self.start(
            &super::Attempt {
                job: &foreign.job,
                job_uid: &record.owner_uid,
                prepared: &foreign.prepared,
                record: &record,
                attempt,
                failed_before: 0,
            },
            binding,
            None,
        );
        tracing::debug!(instance = %record.name, "cluster: running an instance of another node's Job");
        self.spread_mut()
            .hosted
            .insert(record.uid.clone(), Hosted { record, abort });
    }

    /// What a hosted instance gets from its Job's queue: the item its owner
    /// offered with it (stdin mode), or this node's connection to the
    /// broker (lease mode), made now if there is none.
    fn foreign_binding(&mut self, record: &InstanceRecord) -> Result<super::Binding, String> {
        let mut binding = super::Binding::default();
        let Some(Some(foreign)) = self
            .spread()
            .expect("cluster")
            .foreign
            .get(&record.owner_uid)
        else {
            return Ok(binding);
        };
        let Some(source) = foreign.job.spec.queue.clone() else {
            return Ok(binding);
        };
        let db = self.store.cluster_db().expect("cluster");
        match source.mode {
            QueueMode::Stdin => {
                let stdin = db.instance_input(&record.uid).map_err(|e| e.to_string())?;
                binding.stdin = stdin.unwrap_or_default();
                super::check_stdin_item(binding.stdin.len())?;
            }
            QueueMode::Lease => {
                if foreign.queue.is_none() {
                    let connected = self.handle.block_on(Queue::connect(
                        source.url.as_deref(),
                        &source.name,
                        self.store.path(),
                    ));
                    let queue = Arc::new(connected.map_err(|e| e.to_string())?);
                    if let Some(Some(foreign)) =
                        self.spread_mut().foreign.get_mut(&record.owner_uid)
                    {
                        foreign.queue = Some(queue);
                    }
                }
                binding.queue = self.spread().expect("cluster").foreign[&record.owner_uid]
                    .as_ref()
                    .and_then(|f| f.queue.clone());
            }
        }
        Ok(binding)
    }

    /// The owner's side: reads the rows of its instances that are offered
    /// or run elsewhere, and records what happened to them.
    fn follow_offered(
        &mut self,
        now: Micros,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        let watched: Vec<String> = self
            .jobs
            .iter()
            .flat_map(|j| j.live.iter())
            .filter(|(_, live)| !live.place.is_here())
            .map(|(uid, _)| uid.clone())
            .collect();
        if watched.is_empty() {
            return Ok(());
        }
        let rows = self
            .store
            .cluster_db()
            .expect("cluster")
            .instance_states(&watched)?;
        let lost: HashSet<String> = self
            .spread()
            .expect("cluster")
            .lost_nodes()
            .into_iter()
            .map(str::to_owned)
            .collect();
        for row in rows {
            let Some(index) = self.jobs.iter().position(|j| j.record.uid == row.owner_uid) else {
                continue;
            };
            let Some(live) = self.jobs[index].live.get_mut(&row.uid) else {
                continue;
            };
            // The row does not have this node's latest write yet (a restart
            // in place still staged): nothing to learn from it.
            if live.place.is_here() || row.restart_count != live.record.restart_count {
                continue;
            }
            match row.phase {
                Phase::Pending | Phase::Running => {
                    if row.phase == Phase::Running {
                        live.record.phase = Phase::Running;
                        live.record.start_time = row.start_time;
                        live.place = Place::Elsewhere;
                    }
                    live.record.node_name.clone_from(&row.node_name);
                    if lost.contains(&row.node_name) {
                        self.lose(index, &row.uid, now, writes, observer);
                    }
                }
                Phase::Succeeded | Phase::Failed => {
                    let reason = row.reason.as_deref().unwrap_or("");
                    let disruption = job::is_disruption(reason);
                    let (attempt, uid) = (live.attempt, row.uid.clone());
                    let succeeded = row.phase == Phase::Succeeded;
                    if !self.attempt_ended(index, row, attempt, disruption, &[], writes, observer) {
                        self.settle_item(index, &uid, succeeded, writes);
                    }
                    self.write_status(index);
                }
            }
        }
        Ok(())
    }

    /// An instance whose node was lost ends as `NodeLost`, decided here:
    /// the write is unconditional, so a late end from that node is overruled.
    fn lose(
        &mut self,
        index: usize,
        uid: &str,
        now: Micros,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) {
        let live = &self.jobs[index].live[uid];
        let (mut ended, attempt) = (live.record.clone(), live.attempt);
        let message = format!(
            "node {} stopped sending heartbeats while the instance was running",
            ended.node_name
        );
        ended.stopped(now, job::NODE_LOST, &message);
        tracing::info!(instance = %ended.name, node = %ended.node_name, "cluster: an instance's node was lost");
        self.attempt_ended(index, ended, attempt, true, &[], writes, observer);
        self.settle_item(index, uid, false, writes);
        self.write_status(index);
    }

    /// The hosting side: instances whose row no longer says they run here
    /// in this attempt were stopped by their owner (or taken for lost).
    fn follow_hosted(&mut self) -> Result<(), StoreError> {
        let uids: Vec<String> = self
            .spread()
            .expect("cluster")
            .hosted
            .keys()
            .cloned()
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        let rows = self
            .store
            .cluster_db()
            .expect("cluster")
            .instance_states(&uids)?;
        let me = self.config.node_name.clone();
        let spread = self.spread_mut();
        spread.hosted.retain(|uid, hosted| {
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
    pub(super) fn record_hosted(&mut self, done: &mut Finished, writes: &mut Vec<Write>) -> bool {
        let Some(cluster) = self.cluster.as_mut() else {
            return false;
        };
        let Some(hosted) = cluster.spread.hosted.remove(&done.instance_uid) else {
            return false;
        };
        // A slot is free: look at the offers again.
        cluster.spread.noticed.add(Changes::OFFERED);
        if !done.report.outcome.succeeded()
            && let Some(Some(foreign)) = cluster.spread.foreign.get_mut(&hosted.record.owner_uid)
        {
            // The broker may be what failed it: connect afresh next time.
            foreign.queue = None;
        }
        attempt_logs(done, writes);
        let mut ended = hosted.record;
        ended.ended(done.finished, &done.report.outcome);
        writes.push(Write::InstanceEnded(ended));
        true
    }

    /// Shutdown: hosted instances still running end as `NodeShutdown`,
    /// which their owners count as a disruption.
    pub(super) fn interrupt_hosted(&mut self, now: Micros, message: &str, writes: &mut Vec<Write>) {
        let Some(cluster) = self.cluster.as_mut() else {
            return;
        };
        for (_, hosted) in cluster.spread.hosted.drain() {
            hosted.abort.abort();
            let mut ended = hosted.record;
            ended.stopped(now, job::NODE_SHUTDOWN, message);
            writes.push(Write::InstanceEnded(ended));
        }
    }
}
