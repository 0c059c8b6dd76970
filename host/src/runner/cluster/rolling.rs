//! A DaemonSet's rolling update in a cluster. Every node runs the DaemonSet
//! controller for its own instance, but `maxUnavailable` and `maxSurge`
//! count the whole cluster: so the steps that spend that budget (which the
//! DaemonSet driver withholds, see `daemon`) are taken only when the same
//! controller, run over every node and instance under the DaemonSet's lock,
//! takes them too, and they are committed with that decision. Two nodes
//! never spend the same budget.

use std::time::Duration;

use crate::runner::nodes::ClusterNodes;
use crate::runner::parts::{Parts, Silent};
use crate::store::{ControlPlane, Write};
use crate::time::{Micros, earliest};

/// How soon a node asks again for a step the cluster did not take.
const ROLLING_RETRY: Micros = 200_000;

/// Asks the cluster for the rolling update steps the DaemonSet driver
/// withheld at this pass, and carries out those it takes; returns when to
/// look again.
pub(super) fn roll(
    (control, nodes, grace): (&dyn ControlPlane, &ClusterNodes, Duration),
    parts: &mut Parts,
    now: Micros,
    writes: &mut Vec<Write>,
) -> Option<Micros> {
    let asks = parts.daemons.take_rolling();
    if asks.is_empty() {
        return None;
    }
    // The cluster judges from this node's instances as committed and
    // sent: until the cluster has them all, ask again soon.
    parts.journal.append(writes);
    if parts.flush().is_err() || parts.journal.unwritable().is_some() {
        return None;
    }
    if parts.journal.store().unsent().unwrap_or(1) > 0 {
        for ask in &asks {
            parts.daemons.retry_rolling(&ask.uid, now + ROLLING_RETRY);
        }
        return Some(now + ROLLING_RETRY);
    }
    let me = parts.config.node_name.clone();
    let mut wake = None;
    for ask in asks {
        let (step, fresh) = parts.daemons.rolling_writes(&ask, (now, &me));
        let daemons = &parts.daemons;
        let mut approve =
            |nodes: &[_], instances: &[_]| daemons.approves(&ask, (nodes, instances), &me, now);
        let taken = match control.rolling_step(&ask.uid, grace, &mut approve, &step) {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!("cluster: {e}");
                false
            }
        };
        if taken {
            // The cluster has the step; the node's file takes it too.
            if let Err(e) = parts.journal.store_mut().mirror(&step) {
                tracing::warn!("cluster: cannot record a rolling update step: {e}");
            }
            let mut none = Vec::new();
            parts.with_pass((now, &mut none), &mut Silent, Some(nodes), |d, pass| {
                d.daemons.rolled(&ask, fresh, pass);
            });
            // Counts changed: look again.
            wake = Some(now);
        } else {
            // Another node spends the budget now; ask again soon, not on
            // every pass of this node's loop.
            let retry_at = now + ROLLING_RETRY;
            parts.daemons.retry_rolling(&ask.uid, retry_at);
            wake = earliest(wake, Some(retry_at));
        }
    }
    wake
}
