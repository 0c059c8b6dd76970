//! DaemonSets in a cluster: every node runs its own instance, so what must
//! be decided once is decided under the database's locks — a rolling update
//! step (so `maxUnavailable` and `maxSurge` count the whole cluster) and
//! the removal of a lost node's instances.

use std::time::Duration;

use super::nodes::{node_row, nodes_query};
use super::{DB_NOW, INSTANCE_SELECT, Pg, StoreError, instance_row, writes};
use crate::store::NodeRecord;
use crate::store::{InstanceRecord, Write};
use crate::time::Micros;

/// The advisory lock class of DaemonSet rolling updates.
const ROLLING_LOCK: i32 = 0x0064_6d6e;

impl Pg {
    /// One node's step of a DaemonSet's rolling update, taken once for the
    /// whole cluster. Under the DaemonSet's advisory lock `approve` sees
    /// every node (ready within `grace`) and the DaemonSet's instances as
    /// committed; when it approves, `writes` (this node's step) commit in
    /// the same transaction, so the next node to decide sees them.
    pub fn rolling_step(
        &self,
        daemonset_uid: &str,
        grace: Duration,
        approve: crate::store::Approval<'_>,
        writes: &[Write],
    ) -> Result<bool, StoreError> {
        let grace = grace.as_micros() as i64;
        let node = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&ROLLING_LOCK, &daemonset_uid],
            )?;
            let nodes: Vec<NodeRecord> = tx
                .query(&nodes_query(), &[&grace])?
                .iter()
                .map(node_row)
                .collect();
            let instances: Vec<InstanceRecord> = tx
                .query(
                    &format!(
                        "{INSTANCE_SELECT} WHERE owner_uid = $1 AND finish_time IS NULL
                         AND deleted_at IS NULL"
                    ),
                    &[&daemonset_uid],
                )?
                .iter()
                .filter_map(instance_row)
                .collect();
            if !approve(&nodes, &instances) {
                return Ok(false);
            }
            for write in writes {
                writes::apply(&mut tx, write, &node)?;
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// The daemon instances of nodes whose heartbeat is older than their
    /// DaemonSet's `lostAfter` (or `grace`) end (`NodeLost`) and are
    /// removed, as Kubernetes removes a lost node's DaemonSet pods — except
    /// a pinned DaemonSet's (`replace: false`), which stay as last known
    /// until their node is back. Returns how many.
    pub fn drop_lost_daemons(
        &self,
        grace: std::time::Duration,
        now: Micros,
    ) -> Result<u64, StoreError> {
        let grace = grace.as_micros() as i64;
        let me = self.node.clone();
        self.with(|c| {
            c.execute(
                &format!(
                    "UPDATE instances i SET phase = 'Failed', reason = 'NodeLost',
                        message = 'the node stopped sending heartbeats', finish_time = $2,
                        deleted_at = $2, ended_by = $3, change = nextval('instance_changes')
                     FROM objects o
                     WHERE o.uid = i.owner_uid AND o.kind = 'DaemonSet' AND NOT o.pinned
                       AND i.finish_time IS NULL AND i.deleted_at IS NULL
                       AND i.node_name NOT IN (SELECT name FROM nodes
                         WHERE heartbeat_at >= {DB_NOW} - coalesce(o.lost_after, $1))"
                ),
                &[&grace as &super::Param<'_>, &now, &me],
            )
        })
    }
}
