//! What a cluster node's API computes at read time because no single node
//! knows it: a DaemonSet's status counts every node's instance, so it is
//! counted from the `nodes` table and the stored instances by the same
//! DaemonSet controller the nodes run.

use std::time::Duration;

use serde_json::json;

use crate::controller::daemonset::{self, Daemon, NodeView, Strategy};
use crate::manifest::DaemonSet;
use crate::runner::{CRASH_LOOP, REVISION_LABEL};
use crate::store::{ObjectRecord, Phase, Store, StoreError};

/// Replaces `ds.status` with the counts over the whole cluster.
pub fn count_daemonset(
    store: &Store,
    ds: &mut ObjectRecord,
    grace: Duration,
) -> Result<(), StoreError> {
    let Some(db) = store.cluster_db() else {
        return Ok(());
    };
    let Ok(manifest) = serde_json::from_value::<DaemonSet>(ds.manifest.clone()) else {
        return Ok(());
    };
    let nodes: Vec<NodeView> = db
        .nodes(grace)?
        .into_iter()
        .map(|n| NodeView {
            name: n.name,
            labels: n.labels,
            ready: n.ready,
        })
        .collect();
    let daemons: Vec<Daemon> = store
        .instances_of(&ds.uid)?
        .into_iter()
        .filter(|i| i.phase == Phase::Running)
        .filter(|i| {
            // Removed instances are ended (their deleted_at is not read here).
            i.finish_time.is_none()
        })
        .map(|i| Daemon {
            running_since: (i.reason.as_deref() != Some(CRASH_LOOP))
                .then_some(i.start_time)
                .flatten(),
            revision: i.labels.get(REVISION_LABEL).cloned().unwrap_or_default(),
            uid: i.uid,
            node: i.node_name,
            created: i.created_at,
        })
        .collect();
    let placement = manifest.spec.template.spec.placement();
    let revision = crate::runner::revision_of(&manifest.spec.template);
    let spec = daemonset::Spec {
        placement: &placement,
        revision: &revision,
        // Counting only: the strategy changes what is done, not the counts.
        strategy: Strategy::OnDelete,
        min_ready_seconds: manifest.spec.min_ready_seconds.unwrap_or(0).into(),
    };
    let plan = daemonset::reconcile(&spec, &nodes, &daemons, crate::time::now());
    ds.status = json!(plan.status);
    Ok(())
}
