//! One Job's instances spread over the nodes. The Job's owner offers each
//! instance as a `Pending` row with no node; any node whose labels the Job
//! admits claims some with `FOR UPDATE SKIP LOCKED` (so no instance is
//! claimed twice), runs them, and writes how they ended
//! ([`Write::InstanceEnded`](crate::store::Write::InstanceEnded)); the owner
//! reads the rows back and decides what follows, as for its own instances.
//! An instance restarted in place (`OnFailure`) is offered again to the node
//! that ran it.

use super::{INSTANCE_SELECT, NEXT_CHANGE, Param, Pg, StoreError, changes, instance_row};
use crate::store::{InstanceRecord, Offered};
use crate::time::Micros;

/// The instance columns with the `i.` prefix, for statements that join.
const INSTANCE_COLUMNS: &str = "i.uid, i.name, i.namespace, i.owner_uid, i.completion_index,
    i.labels, i.phase, i.exit_code, i.reason, i.message, i.node_name, i.restart_count,
    i.created_at, i.start_time, i.finish_time, i.chain_head, i.chain_budget";

impl Pg {
    /// The Jobs with instances this node may claim, and how many wait.
    pub fn offered(&self) -> Result<Vec<Offered>, StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            let rows = c.query(
                "SELECT owner_uid, count(*), count(*) FILTER (WHERE node_name = $1)
                 FROM instances WHERE phase = 'Pending' AND node_name IN ('', $1)
                 GROUP BY owner_uid",
                &[&me],
            )?;
            Ok(rows
                .iter()
                .map(|r| Offered {
                    owner_uid: r.get(0),
                    waiting: r.get::<_, i64>(1) as u32,
                    pinned: r.get::<_, i64>(2) as u32,
                })
                .collect())
        })
    }

    /// Claims at most `limit` offered instances of the Jobs `owners` for
    /// this node, the ones offered to it alone first, then the oldest; they
    /// are `Running` here from `now`. Rows another node is claiming at the
    /// same moment are skipped, never waited for or taken twice.
    pub fn claim_offered(
        &self,
        owners: &[String],
        limit: u32,
        now: Micros,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        let me = self.node.clone();
        let limit = i64::from(limit);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "WITH picked AS (
                        SELECT uid FROM instances
                        WHERE phase = 'Pending' AND node_name IN ('', $1) AND owner_uid = ANY($2)
                        ORDER BY node_name = $1 DESC, created_at LIMIT $3
                        FOR UPDATE SKIP LOCKED)
                     UPDATE instances i SET phase = 'Running', node_name = $1,
                        start_time = coalesce(i.start_time, $4), change = {NEXT_CHANGE}
                     FROM picked WHERE i.uid = picked.uid
                     RETURNING {INSTANCE_COLUMNS}"
                ),
                &[&me as &Param<'_>, &owners, &limit, &now],
            )?;
            let mut claimed: Vec<InstanceRecord> = rows.iter().filter_map(instance_row).collect();
            claimed.sort_by(|a, b| (a.created_at, &a.uid).cmp(&(b.created_at, &b.uid)));
            Ok(claimed)
        })
    }

    /// What an offered instance gets on stdin, if its owner gave it anything.
    pub fn instance_input(&self, uid: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT stdin FROM instances WHERE uid = $1", &[&uid])?
                    .and_then(|r| r.get(0)),
            )
        })
    }

    /// The rows of the Jobs `owners` written since change `since`, oldest
    /// change first, each with its change (at most `limit`).
    pub fn instance_changes(
        &self,
        owners: &[String],
        since: i64,
        limit: i64,
    ) -> Result<Vec<(i64, InstanceRecord)>, StoreError> {
        self.with(|c| {
            let sql = format!(
                "{}, change FROM instances WHERE owner_uid = ANY($1) AND change > $2
                 ORDER BY change LIMIT $3",
                INSTANCE_SELECT
                    .strip_suffix(" FROM instances")
                    .expect("ends with its table")
            );
            let rows = c.query(&sql, &[&owners as &Param<'_>, &since, &limit])?;
            Ok(rows
                .iter()
                .filter_map(|r| Some((r.get(17), instance_row(r)?)))
                .collect())
        })
    }

    /// The rows of these instances as they are now.
    pub fn instance_states(&self, uids: &[String]) -> Result<Vec<InstanceRecord>, StoreError> {
        self.with(|c| {
            let sql = format!("{INSTANCE_SELECT} WHERE uid = ANY($1)");
            Ok(c.query(&sql, &[&uids])?
                .iter()
                .filter_map(instance_row)
                .collect())
        })
    }

    /// At this node's start: instances it was running for Jobs that other
    /// nodes own end with `reason` (they died with the previous process),
    /// and their owners are told. Returns how many.
    pub fn end_orphaned(
        &self,
        now: Micros,
        reason: &str,
        message: &str,
    ) -> Result<u64, StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            let ended = tx.execute(
                &format!("UPDATE instances SET phase = 'Failed', reason = $2, message = $3, finish_time = $4,
                    change = {NEXT_CHANGE}
                 WHERE node_name = $1 AND phase = 'Running' AND owner_uid IN
                    (SELECT uid FROM objects WHERE kind = 'Job' AND owner_node IS DISTINCT FROM $1)"),
                &[&me as &Param<'_>, &reason, &message, &now],
            )?;
            if ended > 0 {
                let payload = changes::payload(
                    crate::store::Changes::ENDED.with(crate::store::Changes::RECORDS),
                );
                tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&changes::CHANNEL, &payload],
                )?;
            }
            tx.commit()?;
            Ok(ended)
        })
    }
}
