//! What a local-first node sends lands here: the latest state of the
//! records its outbox named (see `store::forward`), in one transaction.
//! Sending a batch twice changes nothing the first did not, and nothing a
//! node sends undoes another node's decision:
//!
//! - an object's status is taken only from its owner (a node that lost the
//!   object while it was away sends a stale one); a new object joins owned
//!   by its sender;
//! - an instance's row is taken from the node that decides it — its Job's
//!   owner, or the node that runs it while nobody else ended it — and
//!   never for an older attempt; an instance run for another node's Job
//!   ends only while its row says it runs there in that attempt;
//! - logs, log records and CronJob times are facts, kept once; events are
//!   kept once by their origin (node and row).

use postgres::Transaction;

use super::{Param, Pg, StoreError, changes, finished, json_text};
use crate::manifest::{Disconnect, Kind, Phase};
use crate::store::forward::batch::{Batch, SentInstance};
use crate::store::{Changes, InstanceRecord, ObjectRecord};
use crate::time::Micros;

impl Pg {
    /// Writes a batch a node sends, in one transaction, and tells the other
    /// nodes what it changed for them.
    pub(in crate::store) fn forward(&self, batch: &Batch) -> Result<(), StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            for (object, expires_at) in &batch.objects {
                forward_object(&mut tx, object, *expires_at, &me)?;
            }
            let mut noticed = Changes::NONE;
            for instance in &batch.instances {
                noticed = noticed.with(forward_instance(&mut tx, instance, &me)?);
            }
            forward_history(&mut tx, batch, &me)?;
            if !noticed.is_empty() {
                let payload = changes::payload(noticed);
                tx.execute("SELECT pg_notify($1, $2)", &[&changes::CHANNEL, &payload])?;
            }
            tx.commit()
        })
    }
}

/// An object: a new one joins owned by its sender (a DaemonSet has no
/// owner); a known one takes the sender's status only when
/// the sender owns it, and its deletion and expiry.
fn forward_object(
    tx: &mut Transaction<'_>,
    o: &ObjectRecord,
    expires_at: Option<Micros>,
    me: &str,
) -> Result<(), postgres::Error> {
    let known = tx.execute(
        "UPDATE objects SET
            status = CASE WHEN owner_node IS NULL OR owner_node = $2 THEN $3 ELSE status END,
            finished = CASE WHEN owner_node IS NULL OR owner_node = $2 THEN $4 ELSE finished END,
            deleted_at = coalesce(deleted_at, $5), expires_at = coalesce($6, expires_at)
         WHERE uid = $1",
        &[
            &o.uid as &Param<'_>,
            &me,
            &json_text(&o.status),
            &finished(&o.status),
            &o.deleted_at,
            &expires_at,
        ],
    )?;
    if known > 0 {
        return Ok(());
    }
    if o.deleted_at.is_none() {
        tx.execute(
            "UPDATE objects SET deleted_at = $4 WHERE kind = $1 AND namespace = $2 AND name = $3
             AND deleted_at IS NULL",
            &[&o.kind.as_str(), &o.namespace, &o.name, &o.created_at],
        )?;
    }
    let policy = Disconnect::of_stored(o.kind, &o.manifest);
    let lost_after = policy.lost_after.map(|d| d.as_micros() as i64);
    let owner = (o.kind != Kind::DaemonSet).then_some(me);
    let values: [&Param<'_>; 14] = [
        &o.uid,
        &o.kind.as_str(),
        &o.namespace,
        &o.name,
        &json_text(&o.labels),
        &json_text(&o.manifest),
        &json_text(&o.status),
        &o.created_at,
        &o.deleted_at,
        &expires_at,
        &owner,
        &finished(&o.status),
        &lost_after,
        &policy.pinned,
    ];
    tx.execute(
        "INSERT INTO objects (uid, kind, namespace, name, labels, manifest, status, created_at,
            deleted_at, expires_at, owner_node, finished, lost_after, pinned)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT DO NOTHING",
        &values,
    )?;
    Ok(())
}

/// An instance's row (see the module's rules); what it changes for the
/// other nodes.
fn forward_instance(
    tx: &mut Transaction<'_>,
    sent: &SentInstance,
    me: &str,
) -> Result<Changes, postgres::Error> {
    let i = &sent.record;
    if sent.hosted {
        tx.execute(
            "UPDATE instances SET phase = $2, exit_code = $3, reason = $4, message = $5,
                finish_time = $6, ended_by = $7
             WHERE uid = $1 AND phase = 'Running' AND node_name = $7 AND restart_count = $8",
            &[
                &i.uid as &Param<'_>,
                &i.phase.as_str(),
                &i.exit_code,
                &i.reason,
                &i.message,
                &i.finish_time,
                &me,
                &i64::from(i.restart_count),
            ],
        )?;
        return Ok(Changes::ENDED);
    }
    upsert_instance(tx, i, (sent.deleted_at, sent.stdin.as_deref()), me)?;
    // The owner offers an instance, or stops one another node runs.
    Ok(match (i.phase, i.node_name.as_str()) {
        (Phase::Pending, "") => Changes::OFFERED,
        (_, node) if !node.is_empty() && node != me => Changes::STOPPED,
        _ => Changes::NONE,
    })
}

/// Logs, log records, events and CronJob times: kept once each.
fn forward_history(
    tx: &mut Transaction<'_>,
    batch: &Batch,
    me: &str,
) -> Result<(), postgres::Error> {
    for log in &batch.logs {
        tx.execute(
            "INSERT INTO logs (instance_uid, attempt, data, truncated) VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance_uid, attempt) DO UPDATE SET data = excluded.data,
                truncated = excluded.truncated",
            &[
                &log.instance_uid,
                &i64::from(log.attempt),
                &log.data,
                &log.truncated,
            ],
        )?;
    }
    for (uid, attempt, records) in &batch.records {
        super::writes::log_records(tx, uid, *attempt, records)?;
    }
    for (id, e) in &batch.events {
        let origin = format!("{me}/{id}");
        tx.execute(
            "INSERT INTO events (object_uid, type, reason, message, time, origin)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &e.object_uid,
                &e.kind,
                &e.reason,
                &e.message,
                &e.time,
                &origin,
            ],
        )?;
    }
    for (cronjob_uid, scheduled, job_uid) in &batch.cron_runs {
        let kept = tx.query_one(
            "WITH inserted AS (
                INSERT INTO cron_runs (cronjob_uid, scheduled_time, job_uid) VALUES ($1, $2, $3)
                ON CONFLICT DO NOTHING RETURNING job_uid)
             SELECT coalesce((SELECT job_uid FROM inserted),
                (SELECT job_uid FROM cron_runs WHERE cronjob_uid = $1 AND scheduled_time = $2))",
            &[cronjob_uid, scheduled, job_uid],
        )?;
        let decided: Option<String> = kept.get(0);
        if job_uid.is_some() && decided != *job_uid {
            // The leases make this impossible; if it ever happens, say so.
            tracing::error!(
                cronjob = %cronjob_uid, scheduled, "cluster: a scheduled time this node ran was \
                 decided by another node too; the cluster keeps the other's"
            );
        }
    }
    Ok(())
}

/// Inserts or updates an instance's row by uid as `me` decided it: taken
/// unless another node ended the row and `me` does not own its Job, or the
/// row is of a later attempt (see the module's rules). `removed`: when it
/// was removed from `get instances`, and what it gets on stdin.
pub(super) fn upsert_instance(
    tx: &mut Transaction<'_>,
    i: &InstanceRecord,
    (deleted_at, stdin): (Option<Micros>, Option<&[u8]>),
    me: &str,
) -> Result<(), postgres::Error> {
    let ended_by = i.finish_time.map(|_| me);
    let values: [&Param<'_>; 19] = [
        &i.uid,
        &i.name,
        &i.namespace,
        &i.owner_uid,
        &i.completion_index.map(i64::from),
        &json_text(&*i.labels),
        &i.phase.as_str(),
        &i.exit_code,
        &i.reason,
        &i.message,
        &i.node_name,
        &i64::from(i.restart_count),
        &i.created_at,
        &i.start_time,
        &i.finish_time,
        &deleted_at,
        &stdin,
        &ended_by,
        &me,
    ];
    tx.execute(
        "INSERT INTO instances (uid, name, namespace, owner_uid, completion_index, labels,
            phase, exit_code, reason, message, node_name, restart_count, created_at,
            start_time, finish_time, deleted_at, stdin, ended_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (uid) DO UPDATE SET phase = excluded.phase,
            exit_code = excluded.exit_code, reason = excluded.reason,
            message = excluded.message,
            node_name = CASE WHEN excluded.node_name = '' THEN instances.node_name
                ELSE excluded.node_name END,
            restart_count = excluded.restart_count,
            start_time = coalesce(excluded.start_time, instances.start_time),
            finish_time = excluded.finish_time,
            deleted_at = coalesce(instances.deleted_at, excluded.deleted_at),
            stdin = coalesce(excluded.stdin, instances.stdin),
            ended_by = excluded.ended_by
         WHERE excluded.restart_count >= instances.restart_count
           AND (instances.ended_by IS NULL OR instances.ended_by = $19
             OR EXISTS (SELECT 1 FROM objects o
                        WHERE o.uid = instances.owner_uid AND o.owner_node = $19))",
        &values,
    )?;
    Ok(())
}
