//! The cluster's nodes as this node last saw them (at its last
//! heartbeat): which are Ready, and their labels, for placing a Job whose
//! instances spread and for the instances of nodes that were lost.

use std::collections::HashSet;

use crate::manifest::Placement;
use crate::store::NodeRecord;

/// The cluster's nodes as the last heartbeat saw them.
#[derive(Default)]
pub(super) struct ClusterNodes {
    /// `None` before the first heartbeat.
    nodes: Option<Vec<NodeRecord>>,
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
}
