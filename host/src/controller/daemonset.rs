//! The DaemonSet controller: which nodes get an instance of the template,
//! which instances go (the node no longer matches, is not Ready, or a
//! rolling update replaces them), and the DaemonSet's status counts. Also the
//! kubelet's crash-loop back-off for instances that exit.
//!
//! Pure: (spec, nodes, observed instances, now) → [`Plan`]. The runner
//! carries the plan out for the nodes it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::manifest::Placement;
use crate::time::Micros;

/// A node as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node's name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
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
        max_unavailable: u32,
        /// Nodes that may run an old and a new instance at once.
        max_surge: u32,
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

fn available(d: &Daemon, min_ready: i64, now: Micros) -> bool {
    d.running_since
        .is_some_and(|since| now - since >= min_ready.max(0) * 1_000_000)
}

/// One pass of the DaemonSet controller.
pub fn reconcile(spec: &Spec<'_>, nodes: &[NodeView], daemons: &[Daemon], now: Micros) -> Plan {
    let mut plan = Plan::default();
    let mut on: BTreeMap<&str, Vec<&Daemon>> = BTreeMap::new();
    for d in daemons {
        on.entry(d.node.as_str()).or_default().push(d);
    }
    for list in on.values_mut() {
        list.sort_by(|a, b| (a.created, &a.uid).cmp(&(b.created, &b.uid)));
    }
    let desired: BTreeSet<&str> = nodes
        .iter()
        .filter(|n| n.ready && spec.placement.admits(&n.labels))
        .map(|n| n.name.as_str())
        .collect();
    let min_ready = spec.min_ready_seconds;
    let is_available = |d: &Daemon| available(d, min_ready, now);
    // Instances on nodes that should not run one (or that are gone) go.
    for (node, list) in &on {
        if !desired.contains(node) {
            plan.status.number_misscheduled += 1;
            plan.delete.extend(list.iter().map(|d| d.uid.clone()));
        }
    }
    let status = &mut plan.status;
    status.desired_number_scheduled = desired.len() as u32;
    // Per desired node: (old instances, new instances).
    let mut old_only = Vec::new();
    let mut both = Vec::new();
    let mut unavailable = 0u32;
    for node in &desired {
        let list = on.get(node).map(Vec::as_slice).unwrap_or(&[]);
        if list.is_empty() {
            plan.create.push((*node).to_owned());
            unavailable += 1;
            continue;
        }
        status.current_number_scheduled += 1;
        if list.iter().any(|d| d.running_since.is_some()) {
            status.number_ready += 1;
        }
        if list.iter().any(|d| is_available(d)) {
            status.number_available += 1;
        } else {
            unavailable += 1;
        }
        let (new, old): (Vec<&Daemon>, Vec<&Daemon>) =
            list.iter().partition(|d| d.revision == spec.revision);
        if !new.is_empty() {
            status.updated_number_scheduled += 1;
        }
        // Two of the current template on one node: keep the oldest.
        plan.delete
            .extend(new.iter().skip(1).map(|d| d.uid.clone()));
        match (old.is_empty(), new.first()) {
            (true, _) => {}
            (false, None) => old_only.push((*node, old)),
            (false, Some(fresh)) => both.push((*node, old, *fresh)),
        }
        for d in list {
            if let Some(since) = d.running_since
                && !is_available(d)
            {
                let at = since + min_ready * 1_000_000;
                plan.wake = Some(plan.wake.map_or(at, |w| w.min(at)));
            }
        }
    }
    status.number_unavailable = unavailable;
    let Strategy::RollingUpdate {
        max_unavailable,
        max_surge,
    } = spec.strategy
    else {
        return plan; // OnDelete: old instances stay until deleted
    };
    // A node with a new instance drops its old one once the new is available.
    let mut surging = 0u32;
    for (_, old, fresh) in &both {
        if is_available(fresh) {
            plan.delete.extend(old.iter().map(|d| d.uid.clone()));
        } else {
            surging += 1;
        }
    }
    // Old instances that are not available anyway are replaced at once:
    // that makes nothing less available.
    let mut candidates = Vec::new();
    for (node, old) in old_only {
        if old.iter().any(|d| is_available(d)) {
            candidates.push((node, old));
        } else if max_surge > 0 {
            plan.create.push(node.to_owned());
        } else {
            plan.delete.extend(old.iter().map(|d| d.uid.clone()));
        }
    }
    if max_surge > 0 {
        let budget = max_surge.saturating_sub(surging) as usize;
        plan.create
            .extend(candidates.iter().take(budget).map(|(n, _)| (*n).to_owned()));
    } else {
        let budget = max_unavailable.saturating_sub(unavailable) as usize;
        for (_, old) in candidates.iter().take(budget) {
            plan.delete.extend(old.iter().map(|d| d.uid.clone()));
        }
    }
    plan
}

/// The kubelet's restart back-off for an instance that exited: 10 s,
/// doubling up to 5 minutes, forgotten after 10 minutes of running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoop {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for CrashLoop {
    fn default() -> Self {
        CrashLoop {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

/// An attempt that ran this long resets the back-off.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

impl CrashLoop {
    /// The delay before the next attempt, given how many exits in a row
    /// came before this one (`streak`) and how long this attempt ran; and
    /// the streak to remember.
    pub fn delay(&self, streak: u32, ran_for: Duration) -> (Duration, u32) {
        let streak = if ran_for >= BACKOFF_RESET { 0 } else { streak };
        let factor = 1u32.checked_shl(streak.min(31)).unwrap_or(u32::MAX);
        let delay = self.initial.saturating_mul(factor).min(self.max);
        (delay, streak.saturating_add(1))
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
        }
    }

    const ROLLING: Strategy = Strategy::RollingUpdate {
        max_unavailable: 1,
        max_surge: 0,
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
            max_unavailable: 2,
            max_surge: 0,
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
            max_unavailable: 0,
            max_surge: 1,
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

    #[test]
    fn crash_loop_back_off_doubles_to_five_minutes_and_resets_after_ten() {
        let c = CrashLoop::default();
        let short = Duration::from_secs(1);
        let mut streak = 0;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let (delay, next) = c.delay(streak, short);
            delays.push(delay.as_secs());
            streak = next;
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        let (delay, streak) = c.delay(streak, Duration::from_secs(600));
        assert_eq!(
            (delay.as_secs(), streak),
            (10, 1),
            "10 minutes of running reset it"
        );
        assert_eq!(c.delay(1000, short).0.as_secs(), 300, "no overflow");
    }
}
