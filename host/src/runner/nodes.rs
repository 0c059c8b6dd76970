//! The cluster as this node last saw it: the nodes at its last heartbeat
//! (which are Ready, and their labels, for placing a Job whose instances
//! spread and for the instances of nodes that were lost), whether the
//! cluster's database answers, and the leases this node holds on the
//! objects it owns (see [`crate::controller::lease`]). Drivers read it
//! through their [`super::driver::Pass`].

use std::collections::{HashMap, HashSet};

use crate::controller::lease;
use crate::manifest::Placement;
use crate::store::NodeRecord;
use crate::time::{Micros, monotonic};

/// The cluster as the last heartbeat saw it.
#[derive(Default)]
pub(super) struct ClusterNodes {
    /// `None` before the first heartbeat.
    nodes: Option<Vec<NodeRecord>>,
    /// Deadlines of this node's leases, on its monotonic clock, by object.
    leases: HashMap<String, Micros>,
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
                .map(|n| (n.name.clone(), n.ready, format!("{:?}", n.labels)))
                .collect()
        };
        let changed = self.nodes.as_deref().map(key) != Some(key(&nodes));
        self.nodes = Some(nodes);
        changed
    }

    /// Whether some Ready node admits `placement`; before the first
    /// heartbeat, assume so (whoever matches claims the instances).
    pub(super) fn some_node_admits(&self, placement: &Placement) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n.ready && placement.admits(&n.labels)))
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

    /// A lease on `uid` for `lease` µs, renewed by a request sent at `sent`
    /// (monotonic); a later deadline than the one held replaces it.
    pub(super) fn leased(&mut self, uid: &str, sent: Micros, lease: Micros) {
        let deadline = lease::deadline(sent, lease);
        let held = self.leases.entry(uid.to_owned()).or_insert(deadline);
        *held = (*held).max(deadline);
    }

    /// This node no longer holds `uid`.
    pub(super) fn drop_lease(&mut self, uid: &str) {
        self.leases.remove(uid);
    }

    /// Whether this node may start work on `uid` now (see
    /// [`lease::may_act`]).
    pub(super) fn may_act(&self, uid: &str, pinned: bool) -> bool {
        lease::may_act(pinned, self.leases.get(uid).copied(), monotonic())
    }
}
