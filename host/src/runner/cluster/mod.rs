//! Cluster mode in the runner: what a node does to work with the other
//! nodes sharing its store's control plane.
//!
//! - **Heartbeat** (once per `--heartbeat`): the node's row is refreshed;
//!   labels another node's API changed (`wasmjob label node`) are taken
//!   from it.
//! - **Lost nodes**: a node whose heartbeat is older than the grace period
//!   is NotReady. Its DaemonSet instances end (`NodeLost`) and are removed
//!   (a node that was only silent finds them so when it heartbeats again,
//!   stops them and starts new ones, as a returning kubelet does); its Jobs
//!   and CronJobs are taken over by a node that can run them, which records
//!   the instances the lost node was running as `NodeLost` (a disruption
//!   for `podFailurePolicy`) and replaces them per the Job's policy.
//! - **Ownership**: every Job and CronJob is run by one node, its owner.
//!   The node that records an object owns it; an unowned or orphaned one is
//!   taken with a compare-and-set on the owner, so two nodes never run it.
//!   Each decision (an instance to create, a CronJob's scheduled time) is
//!   therefore taken once, and a CronJob's time is also a unique key.
//!   Taking an object over admits its module again (see
//!   [`crate::admission`]); one that is refused is left unclaimed, and the
//!   node says why once.
//! - **Changes made elsewhere**: an update or delete applied through
//!   another node's API reaches the owner here (the object's generation,
//!   its deletion). DaemonSets have no owner: every node runs the instance
//!   for itself and follows the DaemonSets in the store.
//!
//! A Job's instances are spread over the nodes that match it: the owner
//! offers them and every node claims its share (see `hosting`, and the
//! owner's side in `jobs::offers`); a DaemonSet's rolling update is decided
//! for the whole cluster (see `rolling`).

mod hosting;
mod refusals;
mod rolling;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cron::CronRun;
use super::daemon::DaemonRun;
use super::jobs::{EndedWith, JobRun, spreadable};
use super::nodes::ClusterNodes;
use super::observer::Observer;
use super::parts::{Parts, Silent};
use super::writes::RESTART_MESSAGE;
use crate::admission;
use crate::controller::job;
use crate::executor::Finished;
use crate::manifest::{Kind, Object};
use crate::store::{Changes, Claimable, ControlPlane, Listening, Noticed, StoreError, Write};
use crate::time::Micros;
use hosting::Hosting;
use refusals::Refusals;

/// How a node takes part in its cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterConfig {
    /// How often the node heartbeats and looks at the cluster.
    pub heartbeat: Duration,
    /// A node silent for longer is NotReady and its work is taken over.
    pub grace: Duration,
    /// Instances this node runs at once at most (`--max-instances`).
    pub capacity: u32,
}

/// The runner's cluster part.
pub(super) struct Cluster {
    control: Arc<dyn ControlPlane>,
    config: ClusterConfig,
    next_sync: Instant,
    /// The manifest generation last seen of each object this node runs.
    generations: HashMap<String, i64>,
    nodes: ClusterNodes,
    /// Changes other nodes made, noticed and not looked at yet.
    noticed: Arc<Noticed>,
    _listening: Listening,
    /// Instances this node runs for other nodes' Jobs.
    hosting: Hosting,
    /// Objects this node would run whose admission was refused.
    refusals: Refusals,
}

impl Cluster {
    /// Joins the cluster through `control`; `wake` wakes the runner when
    /// another node changed something. What this node ran for other
    /// nodes' Jobs before it restarted ends now (`NodeRestart`).
    pub(super) fn join(
        control: Arc<dyn ControlPlane>,
        config: ClusterConfig,
        wake: Box<dyn Fn() -> bool + Send>,
    ) -> Result<Cluster, StoreError> {
        let now = crate::time::now();
        let ended = control.end_orphaned(now, job::NODE_RESTART, RESTART_MESSAGE)?;
        if ended > 0 {
            tracing::info!(
                "cluster: {ended} instance(s) run here for other nodes ended with the restart"
            );
        }
        let noticed = Arc::new(Noticed::default());
        let listening = control.listen(noticed.clone(), wake);
        let hosting = Hosting::new(control.clone(), noticed.clone(), config.capacity);
        Ok(Cluster {
            control,
            config,
            next_sync: Instant::now(),
            generations: HashMap::new(),
            nodes: ClusterNodes::default(),
            noticed,
            _listening: listening,
            hosting,
            refusals: Refusals::default(),
        })
    }

    /// The control plane, for commands that change the cluster.
    pub(super) fn control(&self) -> Arc<dyn ControlPlane> {
        self.control.clone()
    }

    /// The nodes as the last heartbeat saw them.
    pub(super) fn nodes(&self) -> &ClusterNodes {
        &self.nodes
    }

    /// Whether this node runs instances for other nodes' Jobs.
    pub(super) fn hosts_nothing(&self) -> bool {
        self.hosting.is_empty()
    }

    /// The spreading pass (see `hosting`); when to look again.
    pub(super) fn spread_pass(
        &mut self,
        parts: &mut Parts,
        (now, writes): (Micros, &mut Vec<Write>),
        observer: &mut dyn Observer,
    ) -> Option<Micros> {
        let (nodes, refusals) = (&self.nodes, &mut self.refusals);
        self.hosting
            .pass(parts, (nodes, refusals), (now, writes), observer)
    }

    /// A hosted instance ended; false when `done` is not one.
    pub(super) fn record_hosted(&mut self, done: &mut Finished, writes: &mut Vec<Write>) -> bool {
        self.hosting.ended(done, writes)
    }

    /// Shutdown: hosted instances still running end as `NodeShutdown`.
    pub(super) fn interrupt_hosted(&mut self, now: Micros, writes: &mut Vec<Write>) {
        self.hosting.interrupt(now, writes);
    }

    /// The rolling update steps the DaemonSet driver withheld at this pass,
    /// asked of the cluster (see `rolling`); when to look again.
    pub(super) fn roll(
        &mut self,
        parts: &mut Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Option<Micros> {
        let links = (&*self.control, &self.nodes, self.config.grace);
        rolling::roll(links, parts, now, writes)
    }

    /// The cluster pass, when it is due; returns when the next one is.
    /// What it decides for this node's own instances goes into `writes`.
    pub(super) fn sync(
        &mut self,
        parts: &mut Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<Option<Micros>, StoreError> {
        let left = self.next_sync.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            return Ok(Some(now + left.as_micros() as Micros));
        }
        self.next_sync = Instant::now() + self.config.heartbeat;
        if let Err(e) = self.sync_pass(parts, now, writes) {
            // The database is away: the node keeps running what it has and
            // tries again next time; the other nodes take its work over if
            // it stays away past the grace period.
            tracing::warn!("cluster: {e}");
        }
        Ok(Some(now + self.config.heartbeat.as_micros() as Micros))
    }

    fn sync_pass(
        &mut self,
        parts: &mut Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<(), StoreError> {
        self.heartbeat(parts)?;
        let dropped = self.control.drop_lost_daemons(self.config.grace, now)?;
        if dropped > 0 {
            tracing::info!("cluster: removed {dropped} daemon instance(s) of lost nodes");
        }
        // After this node's heartbeat: no node takes it for lost now.
        self.stop_daemons_ended_elsewhere(parts, now, writes)?;
        self.follow_owned(parts, now)?;
        self.release_unplaceable(parts)?;
        self.claim(parts, now)?;
        self.follow_daemonsets(parts, now)?;
        Ok(())
    }

    /// The node's heartbeat; labels changed through another node, and
    /// nodes that came, went or were relabelled, make Jobs no node could
    /// run be looked at again.
    fn heartbeat(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        use super::driver::Driver as _;
        if let Some(labels) = self.control.heartbeat()?
            && labels != parts.config.node_labels
        {
            tracing::info!(?labels, "cluster: this node's labels changed");
            parts.config.node_labels = labels;
            parts.jobs.placement_changed();
        }
        let nodes = self.control.nodes(self.config.grace)?;
        if self.nodes.seen(nodes) {
            parts.jobs.placement_changed();
        }
        // Once a heartbeat, everything is looked at, notices or not.
        self.noticed.add(Changes::ALL);
        Ok(())
    }

    /// This node's daemon instances that another node ended while this one
    /// was silent past the grace period (a stall, a paused process, a slow
    /// disk), as Kubernetes removes a lost node's DaemonSet pods. They stop
    /// here too and their end is written again after whatever this node
    /// still had staged for them (an upsert staged before would bring the
    /// row back to Running); the DaemonSet controller then starts a new
    /// instance here in the same pass, as the kubelet of a returning node
    /// gets a new pod.
    fn stop_daemons_ended_elsewhere(
        &mut self,
        parts: &mut Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<(), StoreError> {
        let uids = parts.daemons.live_uids();
        if uids.is_empty() {
            return Ok(());
        }
        // A live instance's row never has a finish time of this node's
        // writing; a row not committed yet is simply not found.
        let ended: Vec<_> = self
            .control
            .instance_states(&uids)?
            .into_iter()
            .filter(|i| i.finish_time.is_some())
            .collect();
        parts.with_pass((now, writes), &mut Silent, Some(&self.nodes), |d, pass| {
            for instance in &ended {
                tracing::warn!(
                    instance = %instance.name,
                    reason = instance.reason.as_deref().unwrap_or(""),
                    "cluster: another node ended this node's daemon instance while this node \
                     was silent past the grace period; it stops here and a new one starts"
                );
                d.daemons.ended_elsewhere(instance, pass);
            }
        });
        Ok(())
    }

    /// Updates and deletes of this node's objects made through other nodes;
    /// objects another node took (this node was too late to heartbeat) are
    /// dropped without a word written.
    fn follow_owned(&mut self, parts: &mut Parts, now: Micros) -> Result<(), StoreError> {
        use super::driver::Driver as _;
        let uids: Vec<String> = parts
            .jobs
            .uids()
            .chain(parts.crons.uids())
            .map(str::to_owned)
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        let me = parts.config.node_name.clone();
        let mut deleted = Vec::new();
        for o in self.control.ownership(&uids)? {
            if o.deleted {
                deleted.push(o.uid);
                continue;
            }
            if o.owner.as_deref() != Some(me.as_str()) {
                tracing::warn!(uid = %o.uid, owner = ?o.owner, "cluster: another node took this object over; stopping it here");
                parts.jobs.forget(&o.uid);
                parts.crons.forget(&o.uid);
                continue;
            }
            let known = self.generations.insert(o.uid.clone(), o.generation);
            if known.is_some_and(|g| g < o.generation) {
                reload(parts, &o.uid, now)?;
            }
        }
        if !deleted.is_empty() {
            parts.delete(&deleted, now)?;
        }
        Ok(())
    }

    /// Jobs whose instances stay on their owner (a work queue's) that this
    /// node cannot run (nodeSelector, affinity) and that have nothing
    /// running here go back to the cluster for a node that can.
    fn release_unplaceable(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        for uid in parts.jobs.unplaceable_here(&parts.config.node_labels) {
            parts.flush()?;
            self.control.release(&uid)?;
            parts.jobs.release(&uid);
            tracing::info!(%uid, "cluster: released a Job this node does not match");
        }
        Ok(())
    }

    /// Takes the Jobs and CronJobs that nobody runs, or whose node was lost.
    fn claim(&mut self, parts: &mut Parts, now: Micros) -> Result<(), StoreError> {
        if parts.draining.is_some() {
            return Ok(());
        }
        for candidate in self.control.claimable(self.config.grace)? {
            self.take_over(parts, candidate, now)?;
        }
        Ok(())
    }

    /// Takes one claimable object over, if this node can run it and its
    /// module is admitted.
    fn take_over(
        &mut self,
        parts: &mut Parts,
        candidate: Claimable,
        now: Micros,
    ) -> Result<(), StoreError> {
        let Claimable { record, owner } = candidate;
        let lost = owner.as_deref();
        let Ok(object) = admission::stored_object(&record) else {
            return Ok(());
        };
        if let Object::Job(job) = &object {
            // Any node may own a Job whose instances spread; one whose
            // instances stay with it must match it.
            let placement = job.spec.template.spec.placement();
            if !spreadable(job) && !placement.admits(&parts.config.node_labels) {
                return Ok(());
            }
        }
        let Some(prepared) = self.refusals.admit(parts, &record, &object)? else {
            return Ok(());
        };
        if !self.control.claim(&record.uid, lost)? {
            return Ok(());
        }
        match object {
            Object::Job(job) => {
                let instances = parts.journal.store().instances_of(&record.uid)?;
                tracing::info!(job = %record.name, from = ?lost, "cluster: took a Job over");
                let ended = match lost {
                    Some(node) => EndedWith::Lost(node),
                    None => EndedWith::Restart { node: None },
                };
                let run = JobRun::take_over(record, job, prepared, instances, now, ended);
                parts.add_jobs(vec![run])
            }
            Object::CronJob(cron) => {
                tracing::info!(cronjob = %record.name, from = ?lost, "cluster: took a CronJob over");
                let run = CronRun::resume_stored(parts.journal.store(), record, cron, prepared)?;
                parts.add_crons(vec![run])
            }
            Object::DaemonSet(_) => Ok(()),
        }
    }

    /// DaemonSets applied, changed or deleted through any node.
    fn follow_daemonsets(&mut self, parts: &mut Parts, now: Micros) -> Result<(), StoreError> {
        let stored = parts.journal.store().live_objects(Kind::DaemonSet, None)?;
        // Deleted elsewhere: stop this node's instances.
        let gone: Vec<String> = parts
            .daemons
            .runs()
            .iter()
            .filter(|d| !stored.iter().any(|s| s.uid == d.uid()))
            .map(|d| d.uid().to_owned())
            .collect();
        if !gone.is_empty() {
            parts.delete(&gone, now)?;
        }
        let mut joining = Vec::new();
        for record in stored {
            let known = parts.daemons.runs().iter().find(|d| d.uid() == record.uid);
            if known.is_some_and(|d| *d.manifest() == record.manifest) {
                continue;
            }
            let known = known.is_some();
            let Ok(object) = admission::stored_object(&record) else {
                continue;
            };
            let Some(prepared) = self.refusals.admit(parts, &record, &object)? else {
                continue;
            };
            let Object::DaemonSet(ds) = object else {
                continue;
            };
            if known {
                parts.daemons.reconfigure(&record.uid, ds, prepared);
                continue;
            }
            let instances = parts.journal.store().instances_of(&record.uid)?;
            let node = parts.config.node_name.clone();
            joining.push(DaemonRun::resume(
                record, ds, prepared, instances, &node, now,
            ));
        }
        if !joining.is_empty() {
            parts.add_daemons(joining)?;
        }
        Ok(())
    }
}

/// An object's manifest changed in the store: its run takes it.
fn reload(parts: &mut Parts, uid: &str, now: Micros) -> Result<(), StoreError> {
    let Some(record) = parts.journal.store().object(uid)? else {
        return Ok(());
    };
    match admission::stored_object(&record) {
        Ok(Object::Job(job)) => parts.jobs.reconfigure(uid, job, now),
        Ok(Object::CronJob(cron)) => parts.crons.reconfigure(uid, cron),
        _ => {}
    }
    Ok(())
}
