//! How each [`Write`] lands in the cluster database.

use postgres::Transaction;
use postgres::types::ToSql;

use super::{finished, json_text};
use crate::manifest::{Disconnect, Kind};
use crate::runtime::LogRecord;
use crate::store::{EventRecord, InstanceRecord, ObjectRecord, Write};
use crate::time::Micros;

/// A query parameter.
type Param<'a> = dyn ToSql + Sync + 'a;

/// Carries out one write; `Some(detail)` for a conflict that must undo the
/// whole batch.
pub(super) fn apply(
    tx: &mut Transaction<'_>,
    write: &Write,
    node: &str,
) -> Result<Option<String>, postgres::Error> {
    match write {
        Write::CronRun {
            cronjob_uid,
            scheduled,
            job_uid,
            replaces,
        } => return cron_run(tx, cronjob_uid, *scheduled, (job_uid, replaces)),
        Write::Instance(_)
        | Write::InstanceLogged { .. }
        | Write::InstanceEnded(_)
        | Write::InstanceInput { .. }
        | Write::InstanceDeleted { .. } => instance_write(tx, write, node)?,
        Write::Log { .. }
        | Write::LogRecords { .. }
        | Write::Event(_)
        | Write::QueueDone { .. } => history_write(tx, write)?,
        _ => object_write(tx, write, node)?,
    }
    Ok(None)
}

/// A write of an object's row, or of a module.
fn object_write(
    tx: &mut Transaction<'_>,
    write: &Write,
    node: &str,
) -> Result<(), postgres::Error> {
    match write {
        Write::ObjectCreated(o) => object_created(tx, o, node)?,
        // Each node pulls a registry image for itself.
        Write::Module {
            pulled_from: Some(_),
            ..
        } => {}
        Write::Module {
            digest,
            component,
            bytes,
            at,
            pulled_from: None,
        } => {
            let sql =
                "INSERT INTO modules (digest, component, bytes, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING";
            tx.execute(sql, &[digest, component, bytes, at])?;
        }
        Write::ObjectManifest {
            uid,
            manifest,
            labels,
        } => {
            let sql = "UPDATE objects SET manifest = $2, labels = $3, generation = generation + 1
                 WHERE uid = $1";
            tx.execute(sql, &[uid, &json_text(manifest), &json_text(labels)])?;
        }
        Write::ObjectDeleted { uid, at } => {
            let sql = "UPDATE objects SET deleted_at = $2 WHERE uid = $1 AND deleted_at IS NULL";
            tx.execute(sql, &[uid, at])?;
        }
        Write::ObjectStatus { uid, status } => {
            let sql = "UPDATE objects SET status = $2, finished = $3 WHERE uid = $1";
            tx.execute(sql, &[uid, &json_text(status), &finished(status)])?;
        }
        Write::ObjectExpiry { uid, at } => {
            tx.execute(
                "UPDATE objects SET expires_at = $2 WHERE uid = $1",
                &[uid, at],
            )?;
        }
        _ => unreachable!("not an object's write"),
    }
    Ok(())
}

/// A write of an instance's row.
fn instance_write(
    tx: &mut Transaction<'_>,
    write: &Write,
    node: &str,
) -> Result<(), postgres::Error> {
    match write {
        Write::Instance(i) => upsert_instances(tx, &[(i, None, None)], node),
        Write::InstanceLogged {
            instance,
            log,
            truncated,
            times,
        } => {
            upsert_instances(tx, &[(instance, None, None)], node)?;
            upsert_log(tx, &instance.uid, 0, (log, *truncated, times))
        }
        Write::InstanceEnded(i) => instance_ended(tx, i),
        Write::InstanceInput { uid, stdin } => {
            let sql = "UPDATE instances SET stdin = $2 WHERE uid = $1";
            tx.execute(sql, &[uid, stdin]).map(drop)
        }
        Write::InstanceDeleted { uid, at } => {
            let sql = "UPDATE instances SET deleted_at = $2, change = nextval('instance_changes')
                WHERE uid = $1 AND deleted_at IS NULL";
            tx.execute(sql, &[uid, at]).map(drop)
        }
        _ => unreachable!("not an instance's write"),
    }
}

/// A write of what happened: output, log records, events.
fn history_write(tx: &mut Transaction<'_>, write: &Write) -> Result<(), postgres::Error> {
    match write {
        Write::Log {
            instance_uid,
            attempt,
            data,
            truncated,
            times,
        } => upsert_log(tx, instance_uid, *attempt, (data, *truncated, times)),
        Write::Event(e) => event(tx, e),
        Write::LogRecords {
            instance_uid,
            attempt,
            records,
        } => log_records(tx, instance_uid, *attempt, records),
        // The embedded queue stays in the node's own SQLite file; the
        // caller removes the item there once this batch is committed.
        Write::QueueDone { .. } => Ok(()),
        _ => unreachable!("not a history write"),
    }
}

/// A new object, owned by the node that records it (a Job or CronJob; a
/// DaemonSet runs on every node and has no owner); a live one of the same
/// kind and name goes to history.
fn object_created(
    tx: &mut Transaction<'_>,
    o: &ObjectRecord,
    node: &str,
) -> Result<(), postgres::Error> {
    tx.execute(
        "UPDATE objects SET deleted_at = $4 WHERE kind = $1 AND namespace = $2 AND name = $3
         AND deleted_at IS NULL",
        &[&o.kind.as_str(), &o.namespace, &o.name, &o.created_at],
    )?;
    let owner = (o.kind.runs() && o.kind != Kind::DaemonSet).then_some(node);
    let policy = Disconnect::of_stored(o.kind, &o.manifest);
    let lost_after = policy.lost_after.map(|d| d.as_micros() as i64);
    let values: [&Param<'_>; 12] = [
        &o.uid,
        &o.kind.as_str(),
        &o.namespace,
        &o.name,
        &json_text(&o.labels),
        &json_text(&o.manifest),
        &json_text(&o.status),
        &o.created_at,
        &owner,
        &finished(&o.status),
        &lost_after,
        &policy.pinned,
    ];
    tx.execute(
        "INSERT INTO objects (uid, kind, namespace, name, labels, manifest, status,
            created_at, owner_node, finished, lost_after, pinned)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &values,
    )?;
    Ok(())
}

/// A CronJob's decided time, under its unique key: a time another node
/// decided otherwise is a conflict (see [`Write::CronRun`] for what a
/// backfill may change).
fn cron_run(
    tx: &mut Transaction<'_>,
    cronjob_uid: &String,
    scheduled: i64,
    (job_uid, replaces): (&Option<String>, &Option<String>),
) -> Result<Option<String>, postgres::Error> {
    let changed = match replaces {
        Some(old) => tx.execute(
            "UPDATE cron_runs SET job_uid = $3
             WHERE cronjob_uid = $1 AND scheduled_time = $2 AND job_uid = $4",
            &[cronjob_uid, &scheduled, job_uid, old],
        )?,
        None => {
            let inserted = tx.execute(
                "INSERT INTO cron_runs (cronjob_uid, scheduled_time, job_uid) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[cronjob_uid, &scheduled, job_uid],
            )?;
            if inserted > 0 || job_uid.is_none() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE cron_runs SET job_uid = $3
                 WHERE cronjob_uid = $1 AND scheduled_time = $2 AND job_uid IS NULL",
                &[cronjob_uid, &scheduled, job_uid],
            )?
        }
    };
    if changed > 0 {
        return Ok(None);
    }
    let decided: Option<String> = tx
        .query_one(
            "SELECT job_uid FROM cron_runs WHERE cronjob_uid = $1 AND scheduled_time = $2",
            &[cronjob_uid, &scheduled],
        )?
        .get(0);
    if decided == *job_uid {
        return Ok(None);
    }
    Ok(Some(format!(
        "CronJob {cronjob_uid}'s run at {scheduled} was already decided by another node"
    )))
}

/// An instance this node ran for another node's Job ended: written only
/// while the row still says it runs here in this attempt.
fn instance_ended(tx: &mut Transaction<'_>, i: &InstanceRecord) -> Result<(), postgres::Error> {
    tx.execute(
        "UPDATE instances SET phase = $2, exit_code = $3, reason = $4, message = $5,
            finish_time = $6, change = nextval('instance_changes')
         WHERE uid = $1 AND phase = 'Running' AND node_name = $7 AND restart_count = $8",
        &[
            &i.uid,
            &i.phase.as_str(),
            &i.exit_code,
            &i.reason,
            &i.message,
            &i.finish_time,
            &i.node_name,
            &i64::from(i.restart_count),
        ],
    )?;
    Ok(())
}

fn event(tx: &mut Transaction<'_>, e: &EventRecord) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO events (object_uid, type, reason, message, time)
         VALUES ($1, $2, $3, $4, $5)",
        &[&e.object_uid, &e.kind, &e.reason, &e.message, &e.time],
    )?;
    Ok(())
}

/// One attempt's structured log records, in order.
pub(super) fn log_records(
    tx: &mut Transaction<'_>,
    instance_uid: &String,
    attempt: u32,
    records: &[LogRecord],
) -> Result<(), postgres::Error> {
    let insert = tx.prepare(
        "INSERT INTO log_records (instance_uid, attempt, seq, time, level, message, fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (instance_uid, attempt, seq) DO NOTHING",
    )?;
    let attempt = i64::from(attempt);
    for (seq, r) in records.iter().enumerate() {
        let (seq, level, fields) = (seq as i64, r.level.as_str(), json_text(&r.fields));
        let values: [&Param<'_>; 7] = [
            instance_uid,
            &attempt,
            &seq,
            &r.time,
            &level,
            &r.message,
            &fields,
        ];
        tx.execute(&insert, &values)?;
    }
    Ok(())
}

/// One attempt's output, replacing what an earlier write of it kept.
fn upsert_log(
    tx: &mut Transaction<'_>,
    instance_uid: &str,
    attempt: u32,
    (data, truncated, times): (&[u8], bool, &crate::runtime::line_times::LineTimes),
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO logs (instance_uid, attempt, data, truncated, times) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (instance_uid, attempt) DO UPDATE SET data = excluded.data,
            truncated = excluded.truncated, times = excluded.times",
        &[&instance_uid, &i64::from(attempt), &data, &truncated, &times.encode()],
    )?;
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
