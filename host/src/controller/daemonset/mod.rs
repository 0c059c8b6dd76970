//! The DaemonSet controller: which nodes get an instance of the template,
//! which instances go (the node no longer matches, is not Ready, or a
//! rolling update replaces them), and the DaemonSet's status counts; which
//! template revision an instance runs, and which updates are allowed. The
//! kubelet's crash-loop back-off for instances that exit is in
//! [`crash_loop`].
//!
//! Pure: (spec, nodes, observed instances, now) → [`Plan`]. The runner
//! carries the plan out for the nodes it runs.

mod crash_loop;
pub mod history;
mod revision;

pub use crash_loop::{BACKOFF_RESET, CRASH_LOOP, CrashLoop, back_off_message, waiting};
pub use revision::{check_update, instance_labels, revision_of};

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::manifest::{IntOrPercent, Placement};
use crate::time::Micros;

/// A node as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node's name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its taints.
    pub taints: Vec<crate::manifest::Taint>,
    /// Ready: heartbeating (always, for the local node).
    pub ready: bool,
}

/// One instance of the DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// The instance's uid.
    pub uid: String,
    /// The node it is on.
    pub node: String,
    /// The template revision it runs.
    pub revision: String,
    /// When it was created (older instances are kept first).
    pub created: Micros,
    /// Since when its current attempt runs; `None` while it waits to be
    /// restarted (CrashLoopBackOff).
    pub running_since: Option<Micros>,
}

/// How template changes reach existing instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Replace old instances, at most `max_unavailable` nodes without an
    /// available instance, at most `max_surge` nodes with two.
    RollingUpdate {
        /// Nodes that may be without an available instance.
        max_unavailable: IntOrPercent,
        /// Nodes that may run an old and a new instance at once.
        max_surge: IntOrPercent,
    },
    /// Replace an old instance only when it is deleted.
    OnDelete,
}

/// What the controller needs of the spec.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Which nodes the template may run on.
    pub placement: &'a Placement,
    /// The current template's revision.
    pub revision: &'a str,
    /// `updateStrategy`.
    pub strategy: Strategy,
    /// `minReadySeconds`.
    pub min_ready_seconds: i64,
    /// `metadata.generation`: the status says it observed this one.
    pub generation: i64,
}

/// `status` of a DaemonSet, with Kubernetes' field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetStatus {
    /// Nodes that should run an instance.
    pub desired_number_scheduled: u32,
    /// Of those, nodes that run at least one.
    pub current_number_scheduled: u32,
    /// Nodes running an instance that should not.
    pub number_misscheduled: u32,
    /// Nodes whose instance is running (not waiting in back-off).
    pub number_ready: u32,
    /// Nodes running the current template.
    pub updated_number_scheduled: u32,
    /// Nodes whose instance has been ready for `minReadySeconds`.
    pub number_available: u32,
    /// Nodes that should run an instance and have no available one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub number_unavailable: u32,
    /// The `metadata.generation` these counts are of: `kubectl rollout
    /// status` waits until it is the DaemonSet's own.
    #[serde(default)]
    pub observed_generation: i64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Nodes that get a new instance of the current template.
    pub create: Vec<String>,
    /// Instances to stop and remove.
    pub delete: Vec<String>,
    /// The status after this pass's observations (before the plan is done).
    pub status: DaemonSetStatus,
    /// When to look again without an event (an instance becoming available).
    pub wake: Option<Micros>,
}

/// One pass's view of time: which instances are available.
#[derive(Clone, Copy)]
struct Clock {
    min_ready: i64,
    now: Micros,
}

impl Clock {
    /// Running for `minReadySeconds`.
    fn available(&self, d: &Daemon) -> bool {
        d.running_since
            .is_some_and(|since| self.now - since >= self.min_ready.max(0) * 1_000_000)
    }
}

/// A desired node's instances, as the update strategy sees them.
struct Revisions<'a> {
    node: &'a str,
    /// Of an old template, oldest first.
    old: Vec<&'a Daemon>,
    /// The oldest of the current template, if any.
    fresh: Option<&'a Daemon>,
}

/// One pass of the DaemonSet controller.
pub fn reconcile(spec: &Spec<'_>, nodes: &[NodeView], daemons: &[Daemon], now: Micros) -> Plan {
    let mut plan = Plan::default();
    let on = by_node(daemons);
    let desired: BTreeSet<&str> = nodes
        .iter()
        .filter(|n| {
            let running = on.contains_key(n.name.as_str());
            n.ready && spec.placement.keeps_daemon(&n.labels, &n.taints, running)
        })
        .map(|n| n.name.as_str())
        .collect();
    let clock = Clock {
        min_ready: spec.min_ready_seconds,
        now,
    };
    remove_misscheduled(&on, &desired, &mut plan);
    plan.status.desired_number_scheduled = desired.len() as u32;
    plan.status.observed_generation = spec.generation;
    let mut updating = Vec::new();
    let mut unavailable = 0u32;
    for node in &desired {
        let list = on.get(node).map(Vec::as_slice).unwrap_or(&[]);
        let (revisions, available) = observe_node(spec, node, list, clock, &mut plan);
        unavailable += u32::from(!available);
        updating.extend(revisions.filter(|r| !r.old.is_empty()));
    }
    plan.status.number_unavailable = unavailable;
    match spec.strategy {
        Strategy::RollingUpdate {
            max_unavailable,
            max_surge,
        } => {
            // A percentage counts the nodes that should run an instance.
            let nodes = desired.len() as u32;
            let budget = Budget {
                max_unavailable: max_unavailable.scaled(nodes),
                max_surge: max_surge.scaled(nodes),
                unavailable,
            };
            roll(updating, budget, clock, &mut plan);
        }
        // Old instances stay until deleted.
        Strategy::OnDelete => {}
    }
    plan
}

/// The instances on each node, oldest first.
fn by_node(daemons: &[Daemon]) -> BTreeMap<&str, Vec<&Daemon>> {
    let mut on: BTreeMap<&str, Vec<&Daemon>> = BTreeMap::new();
    for d in daemons {
        on.entry(d.node.as_str()).or_default().push(d);
    }
    for list in on.values_mut() {
        list.sort_by(|a, b| (a.created, &a.uid).cmp(&(b.created, &b.uid)));
    }
    on
}

/// Instances on nodes that should not run one (or that are gone) go.
fn remove_misscheduled(
    on: &BTreeMap<&str, Vec<&Daemon>>,
    desired: &BTreeSet<&str>,
    plan: &mut Plan,
) {
    for (node, list) in on {
        if !desired.contains(node) {
            plan.status.number_misscheduled += 1;
            plan.delete.extend(list.iter().map(|d| d.uid.clone()));
        }
    }
}

/// Counts a desired node's instances into the status; a node without one
/// gets one, and a second of the current template goes. Returns the node's
/// revisions (none for a node getting its first instance) and whether the
/// node has an available instance.
fn observe_node<'a>(
    spec: &Spec<'_>,
    node: &'a str,
    list: &[&'a Daemon],
    clock: Clock,
    plan: &mut Plan,
) -> (Option<Revisions<'a>>, bool) {
    if list.is_empty() {
        plan.create.push(node.to_owned());
        return (None, false);
    }
    let status = &mut plan.status;
    status.current_number_scheduled += 1;
    status.number_ready += u32::from(list.iter().any(|d| d.running_since.is_some()));
    let available = list.iter().any(|d| clock.available(d));
    status.number_available += u32::from(available);
    let (new, old): (Vec<&Daemon>, Vec<&Daemon>) =
        list.iter().partition(|d| d.revision == spec.revision);
    status.updated_number_scheduled += u32::from(!new.is_empty());
    // Two of the current template on one node: keep the oldest.
    plan.delete
        .extend(new.iter().skip(1).map(|d| d.uid.clone()));
    for d in list {
        if let Some(since) = d.running_since
            && !clock.available(d)
        {
            let at = since + clock.min_ready * 1_000_000;
            plan.wake = Some(plan.wake.map_or(at, |w| w.min(at)));
        }
    }
    let revisions = Revisions {
        node,
        old,
        fresh: new.first().copied(),
    };
    (Some(revisions), available)
}

/// A rolling update's room: nodes that may be without an available
/// instance, nodes that may run two, and how many are without one now.
#[derive(Clone, Copy)]
struct Budget {
    max_unavailable: u32,
    max_surge: u32,
    unavailable: u32,
}

/// `RollingUpdate`: replaces old instances on the nodes that have them,
/// within the budget.
fn roll(updating: Vec<Revisions<'_>>, budget: Budget, clock: Clock, plan: &mut Plan) {
    let delete_old = |plan: &mut Plan, old: &[&Daemon]| {
        plan.delete.extend(old.iter().map(|d| d.uid.clone()));
    };
    let (with_fresh, old_only): (Vec<_>, Vec<_>) =
        updating.into_iter().partition(|n| n.fresh.is_some());
    // A node with a new instance drops its old one once the new is
    // available; until then it counts as surging.
    let mut surging = 0u32;
    for node in &with_fresh {
        match node.fresh {
            Some(fresh) if clock.available(fresh) => delete_old(plan, &node.old),
            _ => surging += 1,
        }
    }
    let mut candidates = Vec::new();
    for node in old_only {
        if node.old.iter().any(|d| clock.available(d)) {
            candidates.push(node);
        } else if budget.max_surge > 0 {
            // Old instances that are not available anyway are replaced at
            // once: that makes nothing less available.
            plan.create.push(node.node.to_owned());
        } else {
            delete_old(plan, &node.old);
        }
    }
    if budget.max_surge > 0 {
        let room = budget.max_surge.saturating_sub(surging) as usize;
        let nodes = candidates.iter().take(room);
        plan.create.extend(nodes.map(|n| n.node.to_owned()));
    } else {
        let room = budget.max_unavailable.saturating_sub(budget.unavailable) as usize;
        for node in candidates.iter().take(room) {
            delete_old(plan, &node.old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    fn node(name: &str, labels: &[(&str, &str)]) -> NodeView {
        NodeView {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints: Vec::new(),
            ready: true,
        }
    }

    fn daemon(uid: &str, node: &str, revision: &str, since: Option<Micros>) -> Daemon {
        Daemon {
            uid: uid.into(),
            node: node.into(),
            revision: revision.into(),
            created: since.unwrap_or(0),
            running_since: since,
        }
    }

    fn placement(selector: &[(&str, &str)]) -> Placement {
        let labels = selector
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Placement::new(&labels, None, "spec").unwrap()
    }

    fn spec<'a>(placement: &'a Placement, revision: &'a str, strategy: Strategy) -> Spec<'a> {
        Spec {
            placement,
            revision,
            strategy,
            min_ready_seconds: 0,
            generation: 1,
        }
    }

    #[test]
    fn the_status_names_the_generation_its_counts_are_of() {
        let placement = placement(&[]);
        let mut spec = spec(&placement, "new", ROLLING);
        spec.generation = 7;
        let nodes = [node("a", &[])];
        let old = [daemon("i1", "a", "old", Some(0))];
        let plan = reconcile(&spec, &nodes, &old, 1_000_000);
        assert_eq!(plan.status.observed_generation, 7);
        // Counted against generation 7's template: not yet updated.
        assert_eq!(plan.status.updated_number_scheduled, 0);
    }

    const ROLLING: Strategy = Strategy::RollingUpdate {
        max_unavailable: IntOrPercent::Int(1),
        max_surge: IntOrPercent::Int(0),
    };

    #[test]
    fn one_instance_on_every_matching_node() {
        let p = placement(&[("disk", "nvme")]);
        let nodes = [
            node("a", &[("disk", "nvme")]),
            node("b", &[("disk", "nvme")]),
            node("c", &[]),
        ];
        let plan = reconcile(&spec(&p, "r1", ROLLING), &nodes, &[], 10 * S);
        assert_eq!(plan.create, ["a", "b"]);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.status.desired_number_scheduled, 2);
        assert_eq!(plan.status.current_number_scheduled, 0);
    }

    #[test]
    fn no_schedule_keeps_new_instances_off_and_no_execute_removes_running_ones() {
        use crate::manifest::{Taint, TaintEffect, Toleration};
        let taint = |key: &str, effect| Taint {
            key: key.into(),
            value: String::new(),
            effect,
            time_added: None,
        };
        let mut fresh = node("fresh", &[]);
        fresh.taints = vec![taint("gpu", TaintEffect::NoSchedule)];
        let mut kept = node("kept", &[]);
        kept.taints = vec![taint("gpu", TaintEffect::NoSchedule)];
        let mut drained = node("drained", &[]);
        drained.taints = vec![taint("drain", TaintEffect::NoExecute)];
        let nodes = [fresh, kept, drained];
        let daemons = [
            daemon("k", "kept", "r1", Some(0)),
            daemon("d", "drained", "r1", Some(0)),
        ];
        let p = placement(&[]);
        let plan = reconcile(&spec(&p, "r1", ROLLING), &nodes, &daemons, 10 * S);
        assert!(plan.create.is_empty(), "{plan:?}");
        assert_eq!(plan.delete, ["d"]);
        // Tolerating gpu, it goes on every node but the drained one.
        let tolerating = p.clone().tolerating(&[Toleration {
            key: Some("gpu".into()),
            operator: Some("Exists".into()),
            ..Toleration::default()
        }]);
        let plan = reconcile(&spec(&tolerating, "r1", ROLLING), &nodes, &daemons, 10 * S);
        assert_eq!(plan.create, ["fresh"]);
        assert_eq!(plan.delete, ["d"]);
    }

    #[test]
    fn a_node_that_stops_matching_or_is_not_ready_loses_its_instance() {
        let p = placement(&[("disk", "nvme")]);
        let mut gone = node("b", &[("disk", "nvme")]);
        gone.ready = false;
        let nodes = [node("a", &[("disk", "hdd")]), gone];
        let daemons = [
            daemon("x", "a", "r1", Some(0)),
            daemon("y", "b", "r1", Some(0)),
            daemon("z", "vanished", "r1", Some(0)),
        ];
        let plan = reconcile(&spec(&p, "r1", ROLLING), &nodes, &daemons, 10 * S);
        assert_eq!(plan.delete, ["x", "y", "z"]);
        assert!(plan.create.is_empty());
        assert_eq!(plan.status.number_misscheduled, 3);
        assert_eq!(plan.status.desired_number_scheduled, 0);
    }

    #[test]
    fn a_second_instance_of_the_same_template_on_a_node_goes() {
        let p = placement(&[]);
        let daemons = [
            daemon("late", "a", "r1", Some(5 * S)),
            daemon("early", "a", "r1", Some(S)),
        ];
        let plan = reconcile(
            &spec(&p, "r1", ROLLING),
            &[node("a", &[])],
            &daemons,
            10 * S,
        );
        assert_eq!(plan.delete, ["late"]);
    }

    #[test]
    fn status_counts_ready_updated_and_available() {
        let p = placement(&[]);
        let nodes = [node("a", &[]), node("b", &[]), node("c", &[])];
        let daemons = [
            daemon("x", "a", "r2", Some(0)),
            daemon("y", "b", "r1", None), // in back-off
            daemon("z", "c", "r2", Some(8 * S)),
        ];
        let mut s = spec(&p, "r2", Strategy::OnDelete);
        s.min_ready_seconds = 5;
        let plan = reconcile(&s, &nodes, &daemons, 10 * S);
        let st = plan.status;
        assert_eq!(
            (
                st.desired_number_scheduled,
                st.current_number_scheduled,
                st.number_ready,
                st.updated_number_scheduled,
                st.number_available,
                st.number_unavailable,
            ),
            (3, 3, 2, 2, 1, 2)
        );
        assert_eq!(plan.wake, Some(13 * S), "z becomes available at 8 s + 5 s");
        assert!(plan.delete.is_empty(), "OnDelete keeps the old instance");
    }

    #[test]
    fn rolling_update_replaces_at_most_max_unavailable_nodes_at_a_time() {
        let p = placement(&[]);
        let nodes = [node("a", &[]), node("b", &[]), node("c", &[])];
        let old = [
            daemon("x", "a", "r1", Some(0)),
            daemon("y", "b", "r1", Some(0)),
            daemon("z", "c", "r1", Some(0)),
        ];
        let plan = reconcile(&spec(&p, "r2", ROLLING), &nodes, &old, 10 * S);
        assert_eq!(plan.delete, ["x"], "one node at a time");
        assert!(plan.create.is_empty());
        // Node a is now empty and gets the new template; nothing else goes
        // until it is available.
        let next = [old[1].clone(), old[2].clone()];
        let plan = reconcile(&spec(&p, "r2", ROLLING), &nodes, &next, 11 * S);
        assert_eq!(plan.create, ["a"]);
        assert!(plan.delete.is_empty());
        let two = Strategy::RollingUpdate {
            max_unavailable: IntOrPercent::Int(2),
            max_surge: IntOrPercent::Int(0),
        };
        let plan = reconcile(&spec(&p, "r2", two), &nodes, &old, 10 * S);
        assert_eq!(plan.delete, ["x", "y"]);
    }

    #[test]
    fn rolling_update_replaces_an_unavailable_old_instance_at_once() {
        let p = placement(&[]);
        let nodes = [node("a", &[]), node("b", &[])];
        let daemons = [daemon("x", "a", "r1", None), daemon("y", "b", "r1", None)];
        let plan = reconcile(&spec(&p, "r2", ROLLING), &nodes, &daemons, 10 * S);
        assert_eq!(plan.delete, ["x", "y"]);
    }

    #[test]
    fn surge_starts_the_new_instance_before_the_old_one_goes() {
        let p = placement(&[]);
        let nodes = [node("a", &[]), node("b", &[])];
        let surge = Strategy::RollingUpdate {
            max_unavailable: IntOrPercent::Int(0),
            max_surge: IntOrPercent::Int(1),
        };
        let old = [
            daemon("x", "a", "r1", Some(0)),
            daemon("y", "b", "r1", Some(0)),
        ];
        let plan = reconcile(&spec(&p, "r2", surge), &nodes, &old, 10 * S);
        assert_eq!(plan.create, ["a"]);
        assert!(plan.delete.is_empty());
        // The new one on a is not available yet: nothing more.
        let mut now = old.to_vec();
        now.push(daemon("x2", "a", "r2", None));
        let plan = reconcile(&spec(&p, "r2", surge), &nodes, &now, 11 * S);
        assert!(plan.create.is_empty() && plan.delete.is_empty(), "{plan:?}");
        // Available: the old one on a goes, and b starts its surge.
        now[2].running_since = Some(11 * S);
        let plan = reconcile(&spec(&p, "r2", surge), &nodes, &now, 12 * S);
        assert_eq!(plan.delete, ["x"]);
        assert_eq!(plan.create, ["b"]);
    }
}
