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

use super::writes::{Upsert, upsert_instances};
use super::{Param, Pg, StoreError, changes, finished, json_text};
use crate::manifest::{Disconnect, Kind, Phase};
use crate::store::forward::batch::{Batch, SentInstance, SentLog};
use crate::store::{Changes, InstanceRecord, ObjectRecord};
use crate::time::Micros;

impl Pg {
    /// Writes a batch a node sends, in one transaction, and tells the other
    /// nodes what it changed for them.
    pub(in crate::store) fn forward(&self, batch: &Batch) -> Result<(), StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            if !batch.instances.is_empty() {
                super::schema::order_changes(&mut tx)?;
            }
            for (object, expires_at) in &batch.objects {
                forward_object(&mut tx, object, *expires_at, &me)?;
            }
            let noticed = forward_instances(&mut tx, &batch.instances, &me)?;
            forward_history(&mut tx, batch, &me)?;
            let payload = changes::payload(noticed.with(crate::store::Changes::RECORDS));
            tx.execute("SELECT pg_notify($1, $2)", &[&changes::CHANNEL, &payload])?;
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
    let owner = (o.kind.runs() && o.kind != Kind::DaemonSet).then_some(me);
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

/// Instances' rows (see the module's rules): those this node decided in
/// one statement, those it ran for other nodes' Jobs one by one; what they
/// change for the other nodes.
fn forward_instances(
    tx: &mut Transaction<'_>,
    sent: &[SentInstance],
    me: &str,
) -> Result<Changes, postgres::Error> {
    let mut noticed = Changes::NONE;
    let mut decided: Vec<Upsert<'_>> = Vec::new();
    for instance in sent {
        let i = &instance.record;
        if instance.hosted {
            hosted_end(tx, i, me)?;
            noticed = noticed.with(Changes::ENDED);
            continue;
        }
        decided.push((i, instance.deleted_at, instance.stdin.as_deref()));
        // The owner offers an instance, or stops one another node runs.
        noticed = noticed.with(match (i.phase, i.node_name.as_str()) {
            (Phase::Pending, "") => Changes::OFFERED,
            (_, node) if !node.is_empty() && node != me => Changes::STOPPED,
            // A chain's link this node runs: news for the Job's owner, who
            // counts it from its row (see `controller::job::chains`).
            _ if i.chain.is_some() => Changes::ENDED,
            _ => Changes::NONE,
        });
    }
    upsert_instances(tx, &decided, me)?;
    Ok(noticed)
}

/// An instance this node ran for another node's Job ended: written only
/// while its row says it runs here in that attempt.
fn hosted_end(
    tx: &mut Transaction<'_>,
    i: &InstanceRecord,
    me: &str,
) -> Result<(), postgres::Error> {
    tx.execute(
        "UPDATE instances SET phase = $2, exit_code = $3, reason = $4, message = $5,
            finish_time = $6, ended_by = $7, change = nextval('instance_changes')
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
    Ok(())
}

/// Logs, log records, events and CronJob times: kept once each.
fn forward_history(
    tx: &mut Transaction<'_>,
    batch: &Batch,
    me: &str,
) -> Result<(), postgres::Error> {
    upsert_logs(tx, &batch.logs)?;
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
    // The node that holds a CronJob decides its times: what it sends is
    // final, a time it recorded missed and then ran (a backfill) or ran
    // again (a rerun) included.
    for (cronjob_uid, scheduled, job_uid) in &batch.cron_runs {
        tx.execute(
            "INSERT INTO cron_runs (cronjob_uid, scheduled_time, job_uid) VALUES ($1, $2, $3)
             ON CONFLICT (cronjob_uid, scheduled_time) DO UPDATE SET job_uid = EXCLUDED.job_uid
             WHERE EXCLUDED.job_uid IS NOT NULL",
            &[cronjob_uid, scheduled, job_uid],
        )?;
    }
    Ok(())
}

/// Attempts' output, kept once each (a later copy of an attempt's output
/// replaces the earlier), in one statement.
fn upsert_logs(tx: &mut Transaction<'_>, logs: &[SentLog]) -> Result<(), postgres::Error> {
    if logs.is_empty() {
        return Ok(());
    }
    let mut last: std::collections::HashMap<(&str, u32), usize> = std::collections::HashMap::new();
    for (at, l) in logs.iter().enumerate() {
        last.insert((l.instance_uid.as_str(), l.attempt), at);
    }
    let kept: Vec<&SentLog> = logs
        .iter()
        .enumerate()
        .filter(|(at, l)| last[&(l.instance_uid.as_str(), l.attempt)] == *at)
        .map(|(_, l)| l)
        .collect();
    let uid: Vec<&str> = kept.iter().map(|l| l.instance_uid.as_str()).collect();
    let attempt: Vec<i64> = kept.iter().map(|l| i64::from(l.attempt)).collect();
    let data: Vec<&[u8]> = kept.iter().map(|l| l.data.as_slice()).collect();
    let truncated: Vec<bool> = kept.iter().map(|l| l.truncated).collect();
    let times: Vec<Option<&[u8]>> = kept.iter().map(|l| l.times.as_deref()).collect();
    tx.execute(
        "INSERT INTO logs (instance_uid, attempt, data, truncated, times)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bool[], $5::bytea[])
         ON CONFLICT (instance_uid, attempt) DO UPDATE SET data = excluded.data,
            truncated = excluded.truncated, times = excluded.times",
        &[&uid as &Param<'_>, &attempt, &data, &truncated, &times],
    )?;
    Ok(())
}
