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

/// An instance's row as a node decided it: the row, when it was removed
/// from `get instances`, and what it gets on stdin.
pub(super) type Upsert<'a> = (&'a InstanceRecord, Option<Micros>, Option<&'a [u8]>);

/// Inserts or updates instances' rows by uid as `me` decided them, in one
/// statement: each is taken unless another node ended the row and `me`
/// does not own its Job, the row is of a later attempt, or it offers an
/// attempt another node has claimed since (the owner's copy of an offer is
/// sent late; see the module's rules).
pub(super) fn upsert_instances(
    tx: &mut Transaction<'_>,
    rows: &[Upsert<'_>],
    me: &str,
) -> Result<(), postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // One statement may not touch a row twice: the last state of each.
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (at, (i, ..)) in rows.iter().enumerate() {
        last.insert(i.uid.as_str(), at);
    }
    let rows: Vec<&Upsert<'_>> = rows
        .iter()
        .enumerate()
        .filter(|(at, (i, ..))| last[i.uid.as_str()] == *at)
        .map(|(_, row)| row)
        .collect();
    let column = |f: &dyn Fn(&InstanceRecord) -> String| -> Vec<String> {
        rows.iter().map(|(i, ..)| f(i)).collect()
    };
    let uid = column(&|i| i.uid.clone());
    let name = column(&|i| i.name.clone());
    let namespace = column(&|i| i.namespace.clone());
    let owner = column(&|i| i.owner_uid.clone());
    let labels = column(&|i| json_text(&*i.labels));
    let phase = column(&|i| i.phase.as_str().to_owned());
    let node = column(&|i| i.node_name.clone());
    let index: Vec<Option<i64>> = rows
        .iter()
        .map(|(i, ..)| i.completion_index.map(i64::from))
        .collect();
    let exit: Vec<Option<i32>> = rows.iter().map(|(i, ..)| i.exit_code).collect();
    let reason: Vec<Option<&str>> = rows.iter().map(|(i, ..)| i.reason.as_deref()).collect();
    let message: Vec<Option<&str>> = rows.iter().map(|(i, ..)| i.message.as_deref()).collect();
    let restarts: Vec<i64> = rows
        .iter()
        .map(|(i, ..)| i64::from(i.restart_count))
        .collect();
    let created: Vec<i64> = rows.iter().map(|(i, ..)| i.created_at).collect();
    let started: Vec<Option<i64>> = rows.iter().map(|(i, ..)| i.start_time).collect();
    let finished: Vec<Option<i64>> = rows.iter().map(|(i, ..)| i.finish_time).collect();
    let deleted: Vec<Option<i64>> = rows.iter().map(|(_, d, _)| *d).collect();
    let stdin: Vec<Option<&[u8]>> = rows.iter().map(|(_, _, s)| *s).collect();
    let ended_by: Vec<Option<&str>> = rows
        .iter()
        .map(|(i, ..)| i.finish_time.map(|_| me))
        .collect();
    let head: Vec<Option<&str>> = rows
        .iter()
        .map(|(i, ..)| i.chain.as_ref().map(|c| c.head.as_str()))
        .collect();
    let budget: Vec<Option<i64>> = rows
        .iter()
        .map(|(i, ..)| i.chain.as_ref().map(|c| i64::from(c.budget)))
        .collect();
    let values: [&Param<'_>; 21] = [
        &uid, &name, &namespace, &owner, &index, &labels, &phase, &exit, &reason, &message, &node,
        &restarts, &created, &started, &finished, &deleted, &stdin, &ended_by, &me, &head, &budget,
    ];
    tx.execute(
        "INSERT INTO instances (uid, name, namespace, owner_uid, completion_index, labels,
            phase, exit_code, reason, message, node_name, restart_count, created_at,
            start_time, finish_time, deleted_at, stdin, ended_by, chain_head, chain_budget)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
            $6::text[], $7::text[], $8::int4[], $9::text[], $10::text[], $11::text[],
            $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[],
            $17::bytea[], $18::text[], $20::text[], $21::bigint[])
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
            ended_by = excluded.ended_by, change = nextval('instance_changes')
         WHERE excluded.restart_count >= instances.restart_count
           AND NOT (excluded.phase = 'Pending' AND instances.phase <> 'Pending'
             AND excluded.restart_count = instances.restart_count)
           AND (instances.ended_by IS NULL OR instances.ended_by = $19
             OR EXISTS (SELECT 1 FROM objects o
                        WHERE o.uid = instances.owner_uid AND o.owner_node = $19))",
        &values,
    )?;
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
    tx.execute(
        "INSERT INTO logs (instance_uid, attempt, data, truncated)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bool[])
         ON CONFLICT (instance_uid, attempt) DO UPDATE SET data = excluded.data,
            truncated = excluded.truncated",
        &[&uid as &Param<'_>, &attempt, &data, &truncated],
    )?;
    Ok(())
}
