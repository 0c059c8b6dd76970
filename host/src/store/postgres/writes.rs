//! How each [`Write`] lands in the cluster database.

use postgres::Transaction;
use postgres::types::ToSql;

use super::{finished, json_text};
use crate::manifest::Kind;
use crate::store::Write;

/// Carries out one write; `Some(detail)` for a conflict that must undo the
/// whole batch.
pub(super) fn apply(
    tx: &mut Transaction<'_>,
    write: &Write,
    node: &str,
) -> Result<Option<String>, postgres::Error> {
    let exec = |tx: &mut Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]| {
        tx.execute(sql, params)
    };
    match write {
        Write::ObjectCreated(o) => {
            exec(
                tx,
                "UPDATE objects SET deleted_at = $4 WHERE kind = $1 AND namespace = $2 AND name = $3
                 AND deleted_at IS NULL",
                &[&o.kind.as_str(), &o.namespace, &o.name, &o.created_at],
            )?;
            // The node that records a Job or CronJob runs it; a DaemonSet
            // runs on every node and has no owner.
            let owner = (o.kind != Kind::DaemonSet).then_some(node);
            exec(
                tx,
                "INSERT INTO objects (uid, kind, namespace, name, labels, manifest, status,
                    created_at, owner_node, finished)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
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
                ],
            )?;
        }
        Write::Module {
            digest,
            component,
            bytes,
            at,
        } => {
            exec(
                tx,
                "INSERT INTO modules (digest, component, bytes, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[digest, component, bytes, at],
            )?;
        }
        Write::ObjectManifest {
            uid,
            manifest,
            labels,
        } => {
            exec(
                tx,
                "UPDATE objects SET manifest = $2, labels = $3, generation = generation + 1
                 WHERE uid = $1",
                &[uid, &json_text(manifest), &json_text(labels)],
            )?;
        }
        Write::ObjectDeleted { uid, at } => {
            exec(
                tx,
                "UPDATE objects SET deleted_at = $2 WHERE uid = $1 AND deleted_at IS NULL",
                &[uid, at],
            )?;
        }
        Write::CronRun {
            cronjob_uid,
            scheduled,
            job_uid,
        } => {
            let inserted = exec(
                tx,
                "INSERT INTO cron_runs (cronjob_uid, scheduled_time, job_uid) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[cronjob_uid, scheduled, job_uid],
            )?;
            if inserted == 0 && job_uid.is_some() {
                let decided: Option<String> = tx
                    .query_one(
                        "SELECT job_uid FROM cron_runs WHERE cronjob_uid = $1 AND scheduled_time = $2",
                        &[cronjob_uid, scheduled],
                    )?
                    .get(0);
                if decided != *job_uid {
                    return Ok(Some(format!(
                        "CronJob {cronjob_uid}'s run at {scheduled} was already decided by another node"
                    )));
                }
            }
        }
        Write::ObjectStatus { uid, status } => {
            exec(
                tx,
                "UPDATE objects SET status = $2, finished = $3 WHERE uid = $1",
                &[uid, &json_text(status), &finished(status)],
            )?;
        }
        Write::ObjectExpiry { uid, at } => {
            exec(
                tx,
                "UPDATE objects SET expires_at = $2 WHERE uid = $1",
                &[uid, at],
            )?;
        }
        Write::InstanceDeleted { uid, at } => {
            exec(
                tx,
                "UPDATE instances SET deleted_at = $2 WHERE uid = $1 AND deleted_at IS NULL",
                &[uid, at],
            )?;
        }
        Write::Instance(i) => upsert_instance(tx, i)?,
        Write::InstanceLogged {
            instance,
            log,
            truncated,
        } => {
            upsert_instance(tx, instance)?;
            upsert_log(tx, &instance.uid, 0, log, *truncated)?;
        }
        Write::InstanceEnded(i) => {
            exec(
                tx,
                "UPDATE instances SET phase = $2, exit_code = $3, reason = $4, message = $5,
                    finish_time = $6
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
        }
        Write::InstanceInput { uid, stdin } => {
            exec(
                tx,
                "UPDATE instances SET stdin = $2 WHERE uid = $1",
                &[uid, stdin],
            )?;
        }
        Write::Log {
            instance_uid,
            attempt,
            data,
            truncated,
        } => upsert_log(tx, instance_uid, *attempt, data, *truncated)?,
        Write::Event(e) => {
            exec(
                tx,
                "INSERT INTO events (object_uid, type, reason, message, time)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&e.object_uid, &e.kind, &e.reason, &e.message, &e.time],
            )?;
        }
        Write::LogRecords {
            instance_uid,
            attempt,
            records,
        } => {
            let insert = tx.prepare(
                "INSERT INTO log_records (instance_uid, attempt, seq, time, level, message, fields)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (instance_uid, attempt, seq) DO NOTHING",
            )?;
            for (seq, r) in records.iter().enumerate() {
                tx.execute(
                    &insert,
                    &[
                        instance_uid,
                        &i64::from(*attempt),
                        &(seq as i64),
                        &r.time,
                        &r.level.as_str(),
                        &r.message,
                        &json_text(&r.fields),
                    ],
                )?;
            }
        }
        // The embedded queue stays in the node's own SQLite file; the
        // caller removes the item there once this batch is committed.
        Write::QueueDone { .. } => {}
    }
    Ok(None)
}

/// Inserts or updates an instance row by uid (see [`Write::Instance`]).
fn upsert_instance(
    tx: &mut Transaction<'_>,
    i: &crate::store::InstanceRecord,
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO instances (uid, name, namespace, owner_uid, completion_index, labels,
                    phase, exit_code, reason, message, node_name, restart_count, created_at,
                    start_time, finish_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (uid) DO UPDATE SET phase = excluded.phase,
                    exit_code = excluded.exit_code, reason = excluded.reason,
                    message = excluded.message,
                    node_name = CASE WHEN excluded.node_name = '' THEN instances.node_name
                        ELSE excluded.node_name END,
                    restart_count = excluded.restart_count,
                    start_time = coalesce(excluded.start_time, instances.start_time),
                    finish_time = excluded.finish_time",
        &[
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
        ],
    )?;
    Ok(())
}

/// One attempt's output, replacing what an earlier write of it kept.
fn upsert_log(
    tx: &mut Transaction<'_>,
    instance_uid: &str,
    attempt: u32,
    data: &[u8],
    truncated: bool,
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO logs (instance_uid, attempt, data, truncated) VALUES ($1, $2, $3, $4)
         ON CONFLICT (instance_uid, attempt) DO UPDATE SET data = excluded.data,
            truncated = excluded.truncated",
        &[&instance_uid, &i64::from(attempt), &data, &truncated],
    )?;
    Ok(())
}
