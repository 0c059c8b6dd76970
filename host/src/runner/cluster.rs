//! Cluster mode in the runner: what a node does, once a second, to work with
//! the other nodes sharing its PostgreSQL database.
//!
//! - **Heartbeat**: the node's row in `nodes` is refreshed; labels another
//!   node's API changed (`wasmjob label node`) are taken from it.
//! - **Lost nodes**: a node whose heartbeat is older than the grace period is
//!   NotReady. Its DaemonSet instances end (`NodeLost`) and are removed (a
//!   node that was only silent finds them so when it heartbeats again, stops
//!   them and starts new ones, as a returning kubelet does); its
//!   Jobs and CronJobs are taken over by a node that can run them, which
//!   records the instances the lost node was running as `NodeLost` (a
//!   disruption for `podFailurePolicy`) and replaces them per the Job's policy.
//! - **Ownership**: every Job and CronJob is run by one node, its owner
//!   (`objects.owner_node`). The node that records an object owns it; an
//!   unowned or orphaned one is taken with `FOR UPDATE SKIP LOCKED` and a
//!   compare-and-set on the owner, so two nodes never run it. Each decision
//!   (an instance to create, a CronJob's scheduled time) is therefore taken
//!   once, and a CronJob's time is also a unique key in `cron_runs`.
//! - **Changes made elsewhere**: an update or delete applied through another
//!   node's API reaches the owner here (the object's generation, its
//!   `deleted_at`). DaemonSets have no owner: every node runs the instance
//!   for itself and follows the DaemonSets in the store.
//!
//! A Job's instances are spread over the nodes that match it: the owner
//! offers them and every node claims its share (see [`super::spread`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::spread::{Spread, spreadable};
use super::{CronRun, DaemonRun, JobRun, RESTART_MESSAGE, Runner, Write};
use crate::controller::job;
use crate::executor::Event;
use crate::manifest::{CronJob, DaemonSet, Job, Kind};
use crate::resource::JobStatus;
use crate::store::postgres::Noticed;
use crate::store::{InstanceRecord, Phase, StoreError};
use crate::time::Micros;

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
    pub(super) fn of(&self, instance: &InstanceRecord) -> Option<(&'static str, String)> {
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

/// The runner's cluster state.
pub(super) struct Cluster {
    pub(super) config: ClusterConfig,
    next_sync: Instant,
    /// The manifest generation last seen of each object this node runs.
    generations: HashMap<String, i64>,
    /// Spreading Jobs' instances over the nodes.
    pub(super) spread: Spread,
}

impl Runner {
    /// Makes this runner a node of the cluster in its store's PostgreSQL
    /// database (the node is registered by the caller). What this node ran
    /// for other nodes' Jobs before it restarted ends now (`NodeRestart`).
    pub fn join_cluster(&mut self, config: ClusterConfig) -> Result<(), StoreError> {
        let pg = self
            .store
            .cluster_db()
            .expect("a cluster runner has a cluster store");
        let ended = pg.end_orphaned(crate::time::now(), job::NODE_RESTART, RESTART_MESSAGE)?;
        if ended > 0 {
            tracing::info!(
                "cluster: {ended} instance(s) run here for other nodes ended with the restart"
            );
        }
        let noticed = std::sync::Arc::new(Noticed::default());
        let sender = self.sender.clone();
        let listener = pg.listen(noticed.clone(), move || {
            sender.send(Event::ClusterChanged).is_ok()
        });
        self.cluster = Some(Cluster {
            config,
            next_sync: Instant::now(),
            generations: HashMap::new(),
            spread: Spread::new(noticed, listener, config.capacity),
        });
        Ok(())
    }

    /// Whether this runner is a node of a cluster.
    pub(super) fn clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// The cluster pass, when it is due; returns when the next one is.
    /// What it decides for this node's own instances goes into `writes`.
    pub(super) fn sync_cluster(
        &mut self,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<Option<Micros>, StoreError> {
        let Some(cluster) = &self.cluster else {
            return Ok(None);
        };
        let left = cluster.next_sync.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            return Ok(Some(now + left.as_micros() as Micros));
        }
        let config = cluster.config;
        if let Some(c) = &mut self.cluster {
            c.next_sync = Instant::now() + config.heartbeat;
        }
        if let Err(e) = self.sync_pass(now, config, writes) {
            // The database is away: the node keeps running what it has and
            // tries again next time; the other nodes take its work over if
            // it stays away past the grace period.
            tracing::warn!("cluster: {e}");
        }
        Ok(Some(now + config.heartbeat.as_micros() as Micros))
    }

    fn sync_pass(
        &mut self,
        now: Micros,
        config: ClusterConfig,
        writes: &mut Vec<Write>,
    ) -> Result<(), StoreError> {
        let pg = self
            .store
            .cluster_db()
            .expect("a cluster runner has a cluster store");
        if let Some(labels) = pg.heartbeat()?
            && labels != self.config.node_labels
        {
            tracing::info!(?labels, "cluster: this node's labels changed");
            self.config.node_labels = labels;
            for run in &mut self.jobs {
                run.unschedulable_noted = false;
            }
        }
        let nodes = pg.nodes(config.grace)?;
        let cluster = self.cluster.as_mut().expect("cluster");
        if cluster.spread.nodes_seen(nodes) {
            // Nodes came, went or were relabelled: a Job no node could run
            // is looked at again.
            for run in &mut self.jobs {
                run.unschedulable_noted = false;
            }
        }
        let pg = self.store.cluster_db().expect("cluster store");
        let dropped = pg.drop_lost_daemons(config.grace, now)?;
        if dropped > 0 {
            tracing::info!("cluster: removed {dropped} daemon instance(s) of lost nodes");
        }
        // After this node's heartbeat: no node takes it for lost now.
        self.stop_daemons_ended_elsewhere(now, writes)?;
        self.follow_owned(now)?;
        self.release_unschedulable()?;
        self.claim(now, config)?;
        self.follow_daemonsets(now)?;
        Ok(())
    }

    /// Updates and deletes of this node's objects made through other nodes;
    /// objects another node took (this node was too late to heartbeat) are
    /// dropped without a word written.
    fn follow_owned(&mut self, now: Micros) -> Result<(), StoreError> {
        let uids: Vec<String> = self
            .jobs
            .iter()
            .map(|j| j.record.uid.clone())
            .chain(self.crons.iter().map(|c| c.record.uid.clone()))
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        let me = self.config.node_name.clone();
        let found = self
            .store
            .cluster_db()
            .expect("cluster store")
            .ownership(&uids)?;
        let mut deleted = Vec::new();
        for o in found {
            if o.deleted {
                deleted.push(o.uid);
                continue;
            }
            if o.owner.as_deref() != Some(me.as_str()) {
                tracing::warn!(uid = %o.uid, owner = ?o.owner, "cluster: another node took this object over; stopping it here");
                self.forget(&o.uid);
                continue;
            }
            let known = self
                .cluster
                .as_mut()
                .expect("cluster")
                .generations
                .insert(o.uid.clone(), o.generation);
            if known.is_some_and(|g| g < o.generation) {
                self.reload(&o.uid, now)?;
            }
        }
        if !deleted.is_empty() {
            self.delete(&deleted)?;
        }
        Ok(())
    }

    /// Drops a run without recording anything: its instances are aborted.
    fn forget(&mut self, uid: &str) {
        if let Some(index) = self.jobs.iter().position(|j| j.record.uid == uid) {
            let run = self.jobs.remove(index);
            for live in run.live.values() {
                live.place.stop();
            }
        }
        self.crons.retain(|c| c.record.uid != uid);
    }

    /// An object's manifest changed in the store: the run takes it.
    fn reload(&mut self, uid: &str, now: Micros) -> Result<(), StoreError> {
        let Some(record) = self.store.object(uid)? else {
            return Ok(());
        };
        match record.kind {
            Kind::Job => {
                if let Ok(job) = serde_json::from_value::<Job>(record.manifest) {
                    self.reconfigure(uid, job, now);
                }
            }
            Kind::CronJob => {
                if let Ok(cron) = serde_json::from_value::<CronJob>(record.manifest)
                    && let Some(run) = self.crons.iter_mut().find(|c| c.record.uid == uid)
                {
                    run.reconfigure(cron);
                }
            }
            Kind::DaemonSet => {}
        }
        Ok(())
    }

    /// Jobs whose instances stay on their owner (a work queue's) that this
    /// node cannot run (nodeSelector, affinity) and that have nothing
    /// running here go back to the cluster for a node that can.
    fn release_unschedulable(&mut self) -> Result<(), StoreError> {
        let labels = self.config.node_labels.clone();
        let mut index = 0;
        while index < self.jobs.len() {
            let run = &self.jobs[index];
            let admitted = run.job.spec.template.spec.placement().admits(&labels);
            if spreadable(&run.job) || admitted || !run.live.is_empty() || run.finished {
                index += 1;
                continue;
            }
            let uid = run.record.uid.clone();
            self.flush()?;
            self.store
                .cluster_db()
                .expect("cluster store")
                .release(&uid)?;
            self.jobs.remove(index);
            tracing::info!(%uid, "cluster: released a Job this node does not match");
        }
        Ok(())
    }

    /// Takes the Jobs and CronJobs that nobody runs, or whose node was lost.
    fn claim(&mut self, now: Micros, config: ClusterConfig) -> Result<(), StoreError> {
        if self.draining.is_some() {
            return Ok(());
        }
        let candidates = self
            .store
            .cluster_db()
            .expect("cluster store")
            .claimable(config.grace)?;
        for candidate in candidates {
            let record = candidate.record;
            let lost = candidate.owner.as_deref();
            match record.kind {
                Kind::Job => {
                    let Ok(job) = serde_json::from_value::<Job>(record.manifest.clone()) else {
                        continue;
                    };
                    // Any node may own a Job whose instances spread; one
                    // whose instances stay with it must match it.
                    let placement = job.spec.template.spec.placement();
                    if !spreadable(&job) && !placement.admits(&self.config.node_labels) {
                        continue;
                    }
                    let digest = job.spec.template.spec.containers[0].image.clone();
                    let Some(prepared) = self.stored_module(&digest, &record.name)? else {
                        continue;
                    };
                    let db = self.store.cluster_db().expect("cluster store");
                    if !db.claim(&record.uid, lost)? {
                        continue;
                    }
                    let instances = self.store.instances_of(&record.uid)?;
                    tracing::info!(job = %record.name, from = ?lost, "cluster: took a Job over");
                    let ended = match lost {
                        Some(node) => EndedWith::Lost(node),
                        None => EndedWith::Restart { node: None },
                    };
                    let run = JobRun::take_over(record, job, prepared, instances, now, ended);
                    self.add(vec![run])?;
                }
                Kind::CronJob => {
                    let Ok(cron) = serde_json::from_value::<CronJob>(record.manifest.clone())
                    else {
                        continue;
                    };
                    let digest = cron.spec.job_template.spec.template.spec.containers[0]
                        .image
                        .clone();
                    let Some(prepared) = self.stored_module(&digest, &record.name)? else {
                        continue;
                    };
                    let db = self.store.cluster_db().expect("cluster store");
                    if !db.claim(&record.uid, lost)? {
                        continue;
                    }
                    tracing::info!(cronjob = %record.name, from = ?lost, "cluster: took a CronJob over");
                    let run = CronRun::resume_stored(&self.store, record, cron, prepared)?;
                    self.add_crons(vec![run])?;
                }
                Kind::DaemonSet => {}
            }
        }
        Ok(())
    }

    /// DaemonSets applied, changed or deleted through any node.
    fn follow_daemonsets(&mut self, now: Micros) -> Result<(), StoreError> {
        let stored = self.store.live_objects(Kind::DaemonSet, None)?;
        // Deleted elsewhere: stop this node's instances.
        let gone: Vec<String> = self
            .daemons
            .iter()
            .filter(|d| !stored.iter().any(|s| s.uid == d.record.uid))
            .map(|d| d.record.uid.clone())
            .collect();
        if !gone.is_empty() {
            self.delete(&gone)?;
        }
        let mut joining = Vec::new();
        for record in stored {
            let Ok(ds) = serde_json::from_value::<DaemonSet>(record.manifest.clone()) else {
                continue;
            };
            let known = self.daemons.iter().position(|d| d.record.uid == record.uid);
            if let Some(index) = known
                && self.daemons[index].record.manifest == record.manifest
            {
                continue;
            }
            let digest = ds.spec.template.spec.containers[0].image.clone();
            let Some(prepared) = self.stored_module(&digest, &record.name)? else {
                continue;
            };
            match known {
                Some(index) => {
                    let run = &mut self.daemons[index];
                    run.record.manifest = record.manifest.clone();
                    run.reconfigure(ds, prepared);
                }
                None => {
                    let instances = self.store.instances_of(&record.uid)?;
                    let node = self.config.node_name.clone();
                    joining.push(DaemonRun::resume(
                        record, ds, prepared, instances, &node, now,
                    ));
                }
            }
        }
        if !joining.is_empty() {
            self.add_daemons(joining)?;
        }
        Ok(())
    }

    /// The compiled module of a stored object, from the store's bytes
    /// (applied through any node); `None`, with a warning, when it cannot be.
    pub(super) fn stored_module(
        &self,
        digest: &str,
        name: &str,
    ) -> Result<Option<std::sync::Arc<crate::runtime::Prepared>>, StoreError> {
        let Some(bytes) = self.store.module(digest)? else {
            tracing::warn!(%name, %digest, "cluster: the module is not in the store");
            return Ok(None);
        };
        match self.runtime.prepare(digest, &bytes) {
            Ok(prepared) => Ok(Some(prepared)),
            Err(e) => {
                tracing::warn!(%name, "cluster: {e}");
                Ok(None)
            }
        }
    }
}

/// A stored Job's state for a CronJob: `Some(Some(succeeded))` when
/// finished, `Some(None)` while it runs, `None` when deleted.
pub(super) fn stored_job_state(store: &crate::store::Store, uid: &str) -> Option<Option<bool>> {
    let job = store
        .object(uid)
        .ok()
        .flatten()
        .filter(|j| j.deleted_at.is_none())?;
    let status: JobStatus = serde_json::from_value(job.status).unwrap_or_default();
    Some(status.is_finished().then(|| status.phase() == "Complete"))
}
