//! The cluster as this node last saw it: the nodes at its last heartbeat
//! (which are Ready, and their labels, for placing a Job whose instances
//! spread and for the instances of nodes that were lost), whether the
//! cluster's database answers, and when its last heartbeat went out — the
//! start of its lease on everything it owns (see
//! [`crate::controller::lease`]). Drivers read it through their
//! [`super::driver::Pass`].

use std::collections::HashSet;
use std::time::Duration;

use crate::controller::lease;
use crate::manifest::Placement;
use crate::store::NodeRecord;
use crate::time::{Micros, monotonic};

/// The cluster as the last heartbeat saw it.
pub(super) struct ClusterNodes {
    /// `None` before the first heartbeat.
    nodes: Option<Vec<NodeRecord>>,
    /// When the last heartbeat the database took was sent, on this node's
    /// monotonic clock: its leases run from then.
    heartbeat_sent: Option<Micros>,
    /// The lease of an object that does not say its own (`--node-grace`).
    grace: Duration,
    /// The cluster's database did not answer the last call.
    away: bool,
}

impl ClusterNodes {
    /// Takes the nodes the heartbeat saw; true when which nodes are Ready,
    /// or their labels, changed.
    pub(super) fn seen(&mut self, nodes: Vec<NodeRecord>) -> bool {
        let key = |nodes: &[NodeRecord]| -> Vec<(String, bool, String)> {
            nodes
                .iter()
                .map(|n| {
                    let labels = format!("{:?}{:?}", n.labels, n.taints);
                    (n.name.clone(), n.ready, labels)
                })
                .collect()
        };
        let changed = self.nodes.as_deref().map(key) != Some(key(&nodes));
        self.nodes = Some(nodes);
        changed
    }

    /// Whether some Ready node admits `placement` and has the extended
    /// resources one instance asks for (`demand`); before the first
    /// heartbeat, assume so (whoever matches claims the instances).
    pub(super) fn some_node_admits(
        &self,
        placement: &Placement,
        demand: &std::collections::BTreeMap<String, i64>,
    ) -> bool {
        let has = |n: &NodeRecord| crate::manifest::has_resources(demand, &n.resources);
        self.nodes.as_ref().is_none_or(|nodes| {
            nodes
                .iter()
                .any(|n| n.ready && placement.admits(&n.labels, &n.taints) && has(n))
        })
    }

    /// Whether a Ready node other than `me` admits `placement` without a
    /// `PreferNoSchedule` taint it does not tolerate.
    pub(super) fn another_prefers(&self, placement: &Placement, me: &str) -> bool {
        let nodes = self.nodes.iter().flatten();
        let tolerations = placement.tolerations();
        nodes.filter(|n| n.ready && n.name != me).any(|n| {
            placement.admits(&n.labels, &n.taints)
                && !crate::manifest::taints::prefers_not(tolerations, &n.taints)
        })
    }

    /// The nodes that stopped heartbeating.
    pub(super) fn lost(&self) -> HashSet<String> {
        let nodes = self.nodes.iter().flatten();
        nodes.filter(|n| !n.ready).map(|n| n.name.clone()).collect()
    }

    /// How many nodes are Ready (at least one: this one).
    pub(super) fn ready(&self) -> u32 {
        let nodes = self.nodes.iter().flatten();
        nodes.filter(|n| n.ready).count().max(1) as u32
    }

    /// Whether the cluster's database answered the last call.
    pub(super) fn reachable(&self) -> bool {
        !self.away
    }

    /// The database answered (`true`) or did not.
    pub(super) fn set_reachable(&mut self, up: bool) {
        self.away = !up;
    }

    /// A heartbeat sent at `sent` (monotonic) went through.
    pub(super) fn heartbeat_taken(&mut self, sent: Micros) {
        self.heartbeat_sent = Some(sent);
    }

    /// Whether this node may start work on an object it owns now (see
    /// [`lease::may_act`]): `pinned` here, or within the object's
    /// `lost_after` (else the grace) of its last heartbeat.
    pub(super) fn may_act(&self, pinned: bool, lost_after: Option<Duration>) -> bool {
        let lease = lost_after.unwrap_or(self.grace).as_micros() as Micros;
        let deadline = self.heartbeat_sent.map(|sent| lease::deadline(sent, lease));
        lease::may_act(pinned, deadline, monotonic())
    }
}

impl ClusterNodes {
    /// Before the first heartbeat; `grace` is the node's `--node-grace`.
    pub(super) fn new(grace: Duration) -> Self {
        ClusterNodes {
            nodes: None,
            heartbeat_sent: None,
            grace,
            away: false,
        }
    }
}
