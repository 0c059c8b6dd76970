//! Cluster mode in the runner: what a node does to work with the other
//! nodes sharing its store's control plane. The node is *local-first*:
//! everything it does is written to its own file and sent on to the
//! cluster's database in the background (see [`crate::store`]), so while
//! the database does not answer it carries on alone — its DaemonSet
//! instances run, what it claimed finishes, and the Jobs and CronJobs it
//! holds go on within the rules of [`crate::controller::lease`].
//!
//! - **Joining**: the node reaches the database at its first cluster pass,
//!   not before it starts: it registers, and what it ran for other nodes'
//!   Jobs before it restarted ends there (`NodeRestart`). A node that has
//!   joined before starts from its own file while the database is away.
//! - **Heartbeat** (once per `--heartbeat`): the node's row is refreshed
//!   (which keeps its leases on what it owns); labels another node's API
//!   changed (`wasmjob label node`) are taken from it.
//! - **Ownership**: every Job and CronJob is run by one node, its owner,
//!   on a lease. The node that records an object owns it; an unowned one,
//!   or one whose owner's lease ran out (never a pinned one), is taken with
//!   a compare-and-set, and a CronJob taken over decides no scheduled time
//!   before the old lease's end. Taking an object over admits its module
//!   again (see [`crate::admission`]); one that is refused is left
//!   unclaimed, and the node says why once.
//! - **Changes made elsewhere** (see `follow`): an update or delete applied
//!   through another node's API reaches the owner here; an object another
//!   node took while this one was away is dropped; DaemonSets have no owner:
//!   every node runs the instance for itself and follows the DaemonSets in
//!   the cluster.
//!
//! - **Quotas**: a namespace's quotas on instances hold for the cluster;
//!   the node starts its instances within its share of them (see `shares`).
//!
//! A Job's instances are spread over the nodes that match it: the owner
//! offers them and every node claims its share (see `hosting`, and the
//! owner's side in `jobs::offers`); a DaemonSet's rolling update is decided
//! for the whole cluster (see `rolling`).

mod follow;
mod hosting;
mod refusals;
mod rolling;
mod shares;
mod takeover;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::nodes::ClusterNodes;
use super::observer::Observer;
use super::parts::Parts;
use super::writes::RESTART_MESSAGE;
use crate::controller::job;
use crate::executor::{Finished, Waiting};
use crate::store::{Changes, ControlPlane, Link, Listening, Noticed, StoreError, Write};
use crate::time::{Micros, monotonic};
use hosting::Hosting;
use refusals::Refusals;

/// How a node takes part in its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How often the node heartbeats and looks at the cluster.
    pub heartbeat: Duration,
    /// A node silent for longer is NotReady; an object that does not say
    /// its own `lostAfter` is taken over this long after its owner's
    /// last heartbeat.
    pub grace: Duration,
    /// Instances this node runs at once at most (`--max-instances`).
    pub capacity: u32,
    /// The node's API address, for `get nodes`.
    pub address: String,
}

/// The runner's cluster part.
pub(super) struct Cluster {
    control: Arc<dyn ControlPlane>,
    /// How the node stands with the database (shared with the store's
    /// forwarder, which notices first when it answers again).
    link: Arc<Link>,
    config: ClusterConfig,
    next_sync: Instant,
    /// The node reached the database since it started.
    joined: bool,
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
    /// When this node last set its shares of its namespaces' quotas.
    shared_at: Instant,
    /// The database may hold shares of this node's (see `shares`).
    shares_stored: bool,
}

impl Cluster {
    /// Takes part in the cluster through `control`; `wake` wakes the runner
    /// when another node changed something. Nothing here waits for the
    /// database: the node reaches it at its first cluster pass.
    pub(super) fn join(
        control: Arc<dyn ControlPlane>,
        link: Arc<Link>,
        config: ClusterConfig,
        wake: Box<dyn Fn() -> bool + Send>,
    ) -> Cluster {
        let noticed = Arc::new(Noticed::default());
        let listening = control.listen(noticed.clone(), wake);
        let hosting = Hosting::new(control.clone(), noticed.clone(), config.capacity);
        let grace = config.grace;
        Cluster {
            control,
            link,
            config,
            next_sync: Instant::now(),
            joined: false,
            generations: HashMap::new(),
            nodes: ClusterNodes::new(grace),
            noticed,
            _listening: listening,
            hosting,
            refusals: Refusals::default(),
            shared_at: Instant::now(),
            // Shares kept from before a restart are forgotten at the first
            // pass if nothing asks for them.
            shares_stored: true,
        }
    }

    /// The control plane, for commands that change the cluster.
    pub(super) fn control(&self) -> Arc<dyn ControlPlane> {
        self.control.clone()
    }

    /// The cluster as the last heartbeat saw it.
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
        if !self.nodes.reachable() {
            return None;
        }
        let (nodes, refusals) = (&self.nodes, &mut self.refusals);
        self.hosting
            .pass(parts, (nodes, refusals), (now, writes), observer)
    }

    /// A hosted instance ended; false when `done` is not one.
    pub(super) fn record_hosted(
        &mut self,
        parts: &mut Parts,
        done: &mut Finished,
        writes: &mut Vec<Write>,
    ) -> bool {
        self.hosting.ended(parts, done, writes)
    }

    /// An attempt hosted here waits for its references (see
    /// [`hosting::Hosting::waiting`]).
    pub(super) fn hosted_waiting(
        &mut self,
        waiting: &Waiting,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> bool {
        self.hosting.waiting(waiting, now, writes)
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
        if !self.nodes.reachable() {
            return None;
        }
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
            self.share_when_waiting(parts);
            return Ok(Some(now + left.as_micros() as Micros));
        }
        self.next_sync = Instant::now() + self.config.heartbeat;
        let next = Some(now + self.config.heartbeat.as_micros() as Micros);
        // While the database is away the store's forwarder tries it (off
        // this thread); the loop does not wait on it.
        if !self.link.is_up() {
            self.nodes.set_reachable(false);
            return Ok(next);
        }
        let started = Instant::now();
        let passed = self.sync_pass(parts, now, writes);
        tracing::debug!(took = ?started.elapsed(), "cluster: pass");
        match passed {
            Ok(()) => self.nodes.set_reachable(true),
            Err(e) if e.is_transient() => {
                if self.link.lost() {
                    tracing::warn!(
                        "cluster: {e}; this node carries on alone: it runs what it holds \
                         and keeps its records to send later"
                    );
                }
                self.nodes.set_reachable(false);
            }
            Err(e) => tracing::warn!("cluster: {e}"),
        }
        Ok(next)
    }

    fn sync_pass(
        &mut self,
        parts: &mut Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<(), StoreError> {
        if !self.joined {
            self.first_contact(parts, now)?;
        }
        self.heartbeat(parts)?;
        // After the heartbeat that keeps this node counted.
        self.share_quotas(parts)?;
        self.count_for_quotas(parts)?;
        let dropped = self.control.drop_lost_daemons(self.config.grace, now)?;
        if dropped > 0 {
            tracing::info!("cluster: removed {dropped} daemon instance(s) of lost nodes");
        }
        // After this node's heartbeat: no node takes it for lost now.
        self.follow_daemons_ended_elsewhere(parts, now, writes)?;
        self.follow_owned(parts, now)?;
        self.follow_cron_jobs(parts)?;
        self.release_unplaceable(parts)?;
        // Before claiming: what is claimed reads them.
        self.follow_configs(parts, now)?;
        self.claim(parts, now)?;
        self.follow_daemonsets(parts, now)?;
        Ok(())
    }

    /// The first time the node reaches the database since it started: it
    /// registers, and what it ran for other nodes' Jobs before it
    /// restarted ends there (`NodeRestart`).
    fn first_contact(&mut self, parts: &mut Parts, now: Micros) -> Result<(), StoreError> {
        let labels = &parts.config.node_labels;
        self.control
            .register_node(labels, self.config.capacity, &self.config.address)?;
        let taints = &parts.config.node_taints;
        self.control
            .set_node_taints(&parts.config.node_name, taints)?;
        self.control.set_node_resources(&parts.config.resources)?;
        let ended = self
            .control
            .end_orphaned(now, job::NODE_RESTART, RESTART_MESSAGE)?;
        if ended > 0 {
            tracing::info!(
                "cluster: {ended} instance(s) run here for other nodes ended with the restart"
            );
        }
        parts
            .journal
            .store()
            .remember_joined(&self.control.describe())?;
        tracing::info!(
            node = %parts.config.node_name,
            "cluster: joined through {}",
            self.control.describe()
        );
        self.joined = true;
        Ok(())
    }

    /// The node's heartbeat, which keeps its leases; labels changed
    /// through another node, and nodes that came, went or were relabelled,
    /// make Jobs no node could run be looked at again.
    fn heartbeat(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        use super::driver::Driver as _;
        let sent = monotonic();
        let beat = self.control.heartbeat()?;
        self.nodes.heartbeat_taken(sent);
        if let Some(labels) = beat.labels
            && labels != parts.config.node_labels
        {
            tracing::info!(?labels, "cluster: this node's labels changed");
            parts.config.node_labels = labels;
            parts.jobs.placement_changed();
        }
        if let Some(taints) = beat.taints
            && taints != parts.config.node_taints
        {
            tracing::info!(?taints, "cluster: this node's taints changed");
            parts.config.node_taints = taints;
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

    /// Jobs whose instances stay on their owner (a work queue's, a pinned
    /// one's) that this node cannot run (nodeSelector, affinity) and that
    /// have nothing running here go back to the cluster for a node that can.
    fn release_unplaceable(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        for uid in parts.jobs.unplaceable_here(
            &parts.config.node_labels,
            &parts.config.node_taints,
            &parts.config.resources,
        ) {
            parts.flush()?;
            self.control.release(&uid)?;
            parts.jobs.release(&uid);
            if let Some(record) = self.control.object(&uid)? {
                parts.journal.store_mut().mirror_object(&record, false)?;
            }
            tracing::info!(%uid, "cluster: released a Job this node does not match");
        }
        Ok(())
    }
}
