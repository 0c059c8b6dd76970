//! Heartbeats and leases, by the database's clock. A node holds every Job
//! and CronJob it owns for as long as its last heartbeat is younger than
//! the object's `lost_after` (its `spec.disconnect.lostAfter`, or the
//! taker's grace): one row written per heartbeat, however many objects.
//! The node counts the same lease from the moment it sent the heartbeat,
//! by its own monotonic clock, less a margin, so it stops relying on it
//! before the database's copy runs out. Another node takes an object over
//! only once the lease ran out (never a pinned one), with a compare-and-set
//! that also counts the owners (`lease_epoch`) and hands the taker the old
//! lease's end: the fence no scheduled time of the new owner may precede.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DB_NOW, Param, Pg, StoreError, json_column, object_row};
use crate::store::{Claimable, Claimed, Heartbeat};
use crate::time::Micros;

/// No lease is shorter (`spec.disconnect.lostAfter` is at least this):
/// only the objects of nodes silent this long are looked at.
const SHORTEST_LEASE: i64 = crate::manifest::MIN_LOST_AFTER.as_micros() as i64;

/// When an owned object's lease ends: its owner's last heartbeat plus the
/// object's `lost_after` (or `$1`, the grace).
const LEASE_END: &str = "(coalesce((SELECT n.heartbeat_at FROM nodes n
    WHERE n.name = objects.owner_node), 0) + coalesce(objects.lost_after, $1))";

impl Pg {
    /// This node's heartbeat, which keeps its leases; its labels as
    /// stored (another node's API may have changed them).
    pub fn heartbeat(&self) -> Result<Heartbeat, StoreError> {
        let node = self.node.clone();
        self.with(|c| {
            let row = c.query_opt(
                &format!(
                    "UPDATE nodes SET heartbeat_at = {DB_NOW} WHERE name = $1
                     RETURNING labels, taints"
                ),
                &[&node],
            )?;
            let labels: Option<BTreeMap<String, String>> = row.as_ref().map(|r| json_column(r, 0));
            let taints = row.as_ref().map(|r| json_column(r, 1));
            Ok(Heartbeat { labels, taints })
        })
    }

    /// Jobs and CronJobs this node may take: unowned, or owned by another
    /// node whose lease on them ran out and not pinned to it. Locked rows
    /// (another node is taking them now) are skipped.
    pub fn claimable(&self, grace: Duration) -> Result<Vec<Claimable>, StoreError> {
        let grace = grace.as_micros() as i64;
        let me = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            let rows = tx.query(
                &format!(
                    "SELECT uid, kind, namespace, name, labels, manifest, status, created_at,
                        deleted_at, owner_node FROM objects
                     WHERE deleted_at IS NULL AND NOT finished AND kind IN ('Job', 'CronJob')
                       AND (owner_node IS NULL
                         OR (owner_node IN (SELECT name FROM nodes
                               WHERE name <> $2 AND heartbeat_at < {DB_NOW} - $3)
                             AND NOT pinned AND {LEASE_END} < {DB_NOW}))
                     ORDER BY created_at LIMIT 64 FOR UPDATE SKIP LOCKED"
                ),
                &[&grace as &Param<'_>, &me, &SHORTEST_LEASE],
            )?;
            tx.commit()?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    Some(Claimable {
                        record: object_row(r)?,
                        owner: r.get(9),
                    })
                })
                .collect())
        })
    }

    /// Takes `uid` if it is still owned by `previous` and, when that is a
    /// node, its lease ran out and it is not pinned: a compare-and-set, so
    /// of two nodes trying at once exactly one gets it.
    pub fn claim(
        &self,
        uid: &str,
        previous: Option<&str>,
        grace: Duration,
    ) -> Result<Option<Claimed>, StoreError> {
        let me = self.node.clone();
        let grace = grace.as_micros() as i64;
        self.with(|c| {
            let row = c.query_opt(
                &format!(
                    "UPDATE objects SET owner_node = $4, lease_epoch = lease_epoch + 1
                     FROM (SELECT {LEASE_END} AS fence FROM objects WHERE uid = $2) before
                     WHERE uid = $2 AND owner_node IS NOT DISTINCT FROM $3
                       AND deleted_at IS NULL
                       AND ($3::text IS NULL OR (NOT pinned AND {LEASE_END} < {DB_NOW}))
                     RETURNING before.fence, lease_epoch"
                ),
                &[&grace as &Param<'_>, &uid, &previous, &me],
            )?;
            Ok(row.map(|r| Claimed {
                fence: previous.and(Some(r.get::<_, Micros>(0))),
                epoch: r.get(1),
            }))
        })
    }

    /// keepOriginal: this node's instances that another node ended while
    /// it was away take this node's state again (it sends their rows
    /// next); how many.
    pub fn revive(&self, uids: &[String]) -> Result<u64, StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            c.execute(
                "UPDATE instances SET phase = 'Running', exit_code = NULL, reason = NULL,
                    message = NULL, finish_time = NULL, deleted_at = NULL, ended_by = NULL,
                    change = nextval('instance_changes')
                 WHERE uid = ANY($1) AND node_name = $2",
                &[&uids as &Param<'_>, &me],
            )
        })
    }
}
