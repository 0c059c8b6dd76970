//! What a cluster node's API computes at read time because no single node
//! knows it: a DaemonSet's status counts every node's instance, so it is
//! counted from the `nodes` table and the stored instances by the same
//! DaemonSet controller the nodes run.

use std::time::Duration;

use serde_json::json;

use crate::controller::daemonset::{self, Strategy};
use crate::manifest::DaemonSet;
use crate::store::{ObjectRecord, Store, StoreError};

/// Replaces `ds.status` with the counts over the whole cluster.
pub fn count_daemonset(
    store: &Store,
    ds: &mut ObjectRecord,
    grace: Duration,
) -> Result<(), StoreError> {
    let Some(control) = store.control_plane() else {
        return Ok(());
    };
    let Ok(manifest) = serde_json::from_value::<DaemonSet>(ds.manifest.clone()) else {
        return Ok(());
    };
    let nodes = control.nodes(grace)?;
    let instances = store.instances_of(&ds.uid)?;
    let (nodes, daemons) = crate::runner::cluster_view(&nodes, &instances);
    let placement = manifest.spec.template.spec.placement();
    let revision = daemonset::revision_of(&manifest.spec.template);
    let spec = daemonset::Spec {
        placement: &placement,
        revision: &revision,
        // Counting only: the strategy changes what is done, not the counts.
        strategy: Strategy::OnDelete,
        min_ready_seconds: manifest.spec.min_ready_seconds.unwrap_or(0).into(),
        // Counted now, from the current template.
        generation: manifest.metadata.generation.unwrap_or(1),
    };
    let plan = daemonset::reconcile(&spec, &nodes, &daemons, crate::time::now());
    ds.status = json!(plan.status);
    Ok(())
}
