//! A DaemonSet's rolling update in a cluster. Every node runs the DaemonSet
//! controller for its own instance, but `maxUnavailable` and `maxSurge`
//! count the whole cluster: so the steps that spend that budget — removing
//! this node's available old instance, or starting a new one beside it —
//! are taken only when the same controller, run over every node and
//! instance under the DaemonSet's database lock, takes them too, and they
//! are committed with that decision. Two nodes never spend the same budget.
//! Everything else (a first instance, one on a node that no longer
//! matches, an old one that is not available anyway) stays the node's own.

use std::collections::HashSet;

use super::daemon::{cluster_view, creation_writes, removal_writes};
use super::{Runner, Write};
use crate::controller::daemonset::{self, Plan, Strategy};
use crate::time::Micros;

const REPLACED: &str = "replaced or no longer scheduled on this node";

/// How soon a node asks again for a step the cluster did not take.
const ROLLING_RETRY: Micros = 200_000;

impl Runner {
    /// `plan` (this node's view) without the budget-spending steps the
    /// cluster did not take; those it took are carried out here already.
    pub(super) fn rolling_step(
        &mut self,
        index: usize,
        now: Micros,
        mut plan: Plan,
        writes: &mut Vec<Write>,
    ) -> Plan {
        let Some(grace) = self.cluster.as_ref().map(|c| c.config.grace) else {
            return plan;
        };
        let run = &self.daemons[index];
        if run.strategy() == Strategy::OnDelete
            || !run.spec().placement.admits(&self.config.node_labels)
        {
            return plan;
        }
        let (old, fresh) = run.revisions_available(now);
        // An available current instance here makes removing the old free.
        let replacing: Vec<String> = if fresh {
            Vec::new()
        } else {
            plan.delete
                .iter()
                .filter(|u| old.contains(*u))
                .cloned()
                .collect()
        };
        let me = self.config.node_name.clone();
        let surging = !old.is_empty() && plan.create.contains(&me);
        if replacing.is_empty() && !surging {
            return plan;
        }
        plan.delete.retain(|u| !replacing.contains(u));
        plan.create.retain(|n| !surging || *n != me);
        let retry_at = self.daemons[index].rolling_retry_at;
        if now < retry_at {
            plan.wake = Some(plan.wake.map_or(retry_at, |w| w.min(retry_at)));
            return plan;
        }
        // The cluster reads this node's instances as committed.
        self.staged.append(writes);
        if self.flush().is_err() || self.unwritable.is_some() {
            return plan;
        }
        let run = &self.daemons[index];
        let mut step = Vec::new();
        for uid in &replacing {
            let record = run.live_record(uid).expect("a live instance");
            step.extend(removal_writes(run, record, now, "Deleted", REPLACED));
        }
        let fresh_record = surging.then(|| self.daemon_record(index, now));
        if let Some(record) = &fresh_record {
            step.extend(creation_writes(run, record, now));
        }
        let spec = run.spec();
        let approve = |nodes: &[_], instances: &[_]| {
            let (nodes, daemons) = cluster_view(nodes, instances);
            let cluster = daemonset::reconcile(&spec, &nodes, &daemons, now);
            let deleted: HashSet<&String> = cluster.delete.iter().collect();
            replacing.iter().all(|u| deleted.contains(u))
                && (!surging || cluster.create.contains(&me))
        };
        let db = self.store.cluster_db().expect("a cluster store");
        let taken = match db.rolling_step(&run.record.uid, grace, approve, &step) {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!("cluster: {e}");
                false
            }
        };
        if taken {
            for uid in &replacing {
                self.drop_daemon(index, uid);
            }
            if let Some(record) = fresh_record {
                self.start_daemon(index, record, now);
            }
            plan.wake = Some(now); // counts changed
        } else {
            // Another node spends the budget now; ask again soon, not on
            // every pass of this node's loop.
            let retry_at = now + ROLLING_RETRY;
            self.daemons[index].rolling_retry_at = retry_at;
            plan.wake = Some(plan.wake.map_or(retry_at, |w| w.min(retry_at)));
        }
        plan
    }
}
