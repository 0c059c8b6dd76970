//! How each [`Write`] lands in the SQLite file: one statement (or two) per
//! kind of write, all inside the transaction the commit opened. A Job's
//! instances share their labels, so a row keeps them compacted (see
//! `store::labels`) and the text is worked out once per Job.

use crate::runtime::line_times::LineTimes;
use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::runtime::LogRecord;
use crate::store::{EventRecord, InstanceRecord, ObjectRecord, Write, labels};

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialize to JSON")
}

/// Runs a statement prepared once per connection.
fn run(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// How the row of the instance written last keeps its labels: the JSON
/// text of the labels a row keeps, and the Job's name when the rest
/// follows from it. A Job's instances share their labels (an Indexed Job's
/// but for their index), so this is worked out once per Job rather than
/// once per instance.
#[derive(Debug, Default)]
pub(in crate::store) struct LabelsText {
    /// The labels, owner and completion index it was worked out for.
    of: Option<LabelsOf>,
    text: String,
    job: Option<String>,
}

/// An instance's labels, owner and completion index.
#[derive(Debug)]
struct LabelsOf {
    labels: Arc<BTreeMap<String, String>>,
    owner: String,
    index: Option<u32>,
}

impl LabelsText {
    /// The labels column and the `labels_job` column of `i`'s row.
    fn of(&mut self, i: &InstanceRecord) -> (&str, Option<&str>) {
        let same = self.of.as_ref().is_some_and(|of| {
            (Arc::ptr_eq(&of.labels, &i.labels) || of.labels == i.labels)
                && of.owner == i.owner_uid
                && of.index == i.completion_index
        });
        if !same {
            (self.text, self.job) =
                match labels::compact(&i.labels, &i.owner_uid, i.completion_index) {
                    Some((template, job)) => (json_text(&template), Some(job)),
                    None => (json_text(&*i.labels), None),
                };
            self.of = Some(LabelsOf {
                labels: i.labels.clone(),
                owner: i.owner_uid.clone(),
                index: i.completion_index,
            });
        }
        (&self.text, self.job.as_deref())
    }
}

/// Carries out one write inside the transaction open on `tx`;
/// `Some(detail)` for a conflict that must undo the whole batch (a
/// CronJob's time decided otherwise before).
pub(super) fn apply(
    tx: &Connection,
    write: &Write,
    labels: &mut LabelsText,
) -> rusqlite::Result<Option<String>> {
    match write {
        Write::CronRun {
            cronjob_uid,
            scheduled,
            job_uid,
            replaces,
        } => {
            let decided = (job_uid.as_deref(), replaces.as_deref());
            return cron_run(tx, cronjob_uid, *scheduled, decided);
        }
        Write::Instance(_)
        | Write::InstanceLogged { .. }
        | Write::InstanceEnded(_)
        | Write::InstanceInput { .. }
        | Write::InstanceDeleted { .. } => instance_write(tx, write, labels)?,
        Write::Log { .. }
        | Write::LogRecords { .. }
        | Write::Event(_)
        | Write::QueueDone { .. } => history_write(tx, write)?,
        _ => object_write(tx, write)?,
    }
    Ok(None)
}

/// A write of an object's row, or of a module.
fn object_write(tx: &Connection, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::ObjectCreated(o) => object_created(tx, o)?,
        Write::Module {
            digest,
            component,
            bytes,
            at,
            ..
        } => {
            let sql = "INSERT OR IGNORE INTO modules (digest, component, bytes, created_at) VALUES (?1, ?2, ?3, ?4)";
            run(tx, sql, params![digest, component, bytes, at])?;
        }
        Write::ObjectManifest {
            uid,
            manifest,
            labels,
        } => {
            let sql = "UPDATE objects SET manifest = ?2, labels = ?3 WHERE uid = ?1";
            run(
                tx,
                sql,
                params![uid, json_text(manifest), json_text(labels)],
            )?;
        }
        Write::ObjectDeleted { uid, at } => {
            let sql = "UPDATE objects SET deleted_at = ?2 WHERE uid = ?1 AND deleted_at IS NULL";
            run(tx, sql, params![uid, at])?;
        }
        Write::ObjectStatus { uid, status } => {
            let sql = "UPDATE objects SET status = ?2 WHERE uid = ?1";
            run(tx, sql, params![uid, json_text(status)])?;
        }
        Write::ObjectExpiry { uid, at } => {
            run(
                tx,
                "UPDATE objects SET expires_at = ?2 WHERE uid = ?1",
                params![uid, at],
            )?;
        }
        _ => unreachable!("not an object's write"),
    }
    Ok(())
}

/// A write of an instance's row.
fn instance_write(tx: &Connection, write: &Write, labels: &mut LabelsText) -> rusqlite::Result<()> {
    match write {
        Write::Instance(i) => upsert_instance(tx, i, None, labels),
        Write::InstanceLogged {
            instance,
            log,
            truncated,
            times,
        } => upsert_instance(tx, instance, Some((log, *truncated, times)), labels),
        Write::InstanceEnded(i) => instance_ended(tx, i),
        // A single node hands an item to its instance in memory.
        Write::InstanceInput { .. } => Ok(()),
        Write::InstanceDeleted { uid, at } => {
            let sql = "UPDATE instances SET deleted_at = ?2 WHERE uid = ?1 AND deleted_at IS NULL";
            run(tx, sql, params![uid, at]).map(drop)
        }
        _ => unreachable!("not an instance's write"),
    }
}

/// A write of what happened: output, log records, events, queue items done.
fn history_write(tx: &Connection, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::Log {
            instance_uid,
            attempt,
            data,
            truncated,
            times,
        } => log(tx, instance_uid, *attempt, (data, *truncated, times)),
        Write::Event(e) => event(tx, e),
        Write::LogRecords {
            instance_uid,
            attempt,
            records,
        } => log_records(tx, instance_uid, *attempt, records),
        Write::QueueDone { item_id } => queue_done(tx, item_id),
        _ => unreachable!("not a history write"),
    }
}

/// A new object; a live one of the same kind and name goes to history.
fn object_created(tx: &Connection, o: &ObjectRecord) -> rusqlite::Result<()> {
    object_mirrored(tx, o, true)
}

/// A cluster node keeps a work-queue item offered with an instance until
/// the cluster's database has it (a single node hands it over in memory).
pub(super) fn keep_input(tx: &Connection, write: &Write) -> rusqlite::Result<()> {
    if let Write::InstanceInput { uid, stdin } = write {
        let sql = "UPDATE instances SET stdin = ?2 WHERE uid = ?1";
        run(tx, sql, params![uid, stdin])?;
    }
    Ok(())
}

/// An object as the cluster's database has it (see `Sqlite::mirror_object`);
/// `held` when this node owns it.
pub(super) fn object_mirrored(
    tx: &Connection,
    o: &ObjectRecord,
    held: bool,
) -> rusqlite::Result<()> {
    if o.deleted_at.is_none() {
        tx.execute(
            "UPDATE objects SET deleted_at = ?4 WHERE kind = ?1 AND namespace = ?2 AND name = ?3
             AND deleted_at IS NULL AND uid <> ?5",
            params![o.kind.as_str(), o.namespace, o.name, o.created_at, o.uid],
        )?;
    }
    let sql = "INSERT INTO objects (uid, kind, namespace, name, labels, manifest, status,
            created_at, deleted_at, mirror)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(uid) DO UPDATE SET labels = excluded.labels, manifest = excluded.manifest,
            status = excluded.status, deleted_at = excluded.deleted_at,
            mirror = excluded.mirror";
    run(
        tx,
        sql,
        params![
            o.uid,
            o.kind.as_str(),
            o.namespace,
            o.name,
            json_text(&o.labels),
            json_text(&o.manifest),
            json_text(&o.status),
            o.created_at,
            o.deleted_at,
            !held
        ],
    )
    .map(drop)
}

/// A CronJob's decided time, under its unique key: a time already decided
/// otherwise is a conflict (see [`Write::CronRun`] for what a backfill
/// may change).
fn cron_run(
    tx: &Connection,
    cronjob_uid: &str,
    scheduled: i64,
    (job_uid, replaces): (Option<&str>, Option<&str>),
) -> rusqlite::Result<Option<String>> {
    let changed = match replaces {
        Some(old) => {
            let rerun = "UPDATE cron_runs SET job_uid = ?3
                 WHERE cronjob_uid = ?1 AND scheduled_time = ?2 AND job_uid = ?4";
            run(tx, rerun, params![cronjob_uid, scheduled, job_uid, old])?
        }
        None => {
            let insert = "INSERT INTO cron_runs (cronjob_uid, scheduled_time, job_uid)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
            let inserted = run(tx, insert, params![cronjob_uid, scheduled, job_uid])?;
            if inserted > 0 || job_uid.is_none() {
                return Ok(None);
            }
            let missed = "UPDATE cron_runs SET job_uid = ?3
                 WHERE cronjob_uid = ?1 AND scheduled_time = ?2 AND job_uid IS NULL";
            run(tx, missed, params![cronjob_uid, scheduled, job_uid])?
        }
    };
    if changed > 0 {
        return Ok(None);
    }
    let decided: Option<String> = tx.query_row(
        "SELECT job_uid FROM cron_runs WHERE cronjob_uid = ?1 AND scheduled_time = ?2",
        params![cronjob_uid, scheduled],
        |r| r.get(0),
    )?;
    if decided.as_deref() == job_uid {
        return Ok(None);
    }
    Ok(Some(format!(
        "CronJob {cronjob_uid}'s run at {scheduled} was already decided"
    )))
}

/// Inserts or updates an instance row by uid; with `log`, its first
/// attempt's output too. An empty `node_name` or a missing `start_time`
/// keep what the row has (see [`Write::Instance`]); a row's log, once
/// written, is kept by later writes without one.
fn upsert_instance(
    tx: &Connection,
    i: &InstanceRecord,
    log: Option<(&[u8], bool, &LineTimes)>,
    labels: &mut LabelsText,
) -> rusqlite::Result<()> {
    let (log, log_truncated, log_times) = match log {
        Some((data, truncated, times)) => (Some(data), Some(truncated), Some(times.encode())),
        None => (None, None, None),
    };
    let (labels, labels_job) = labels.of(i);
    let sql = "INSERT INTO instances (uid, name, namespace, owner_uid, completion_index, labels, phase,
            exit_code, reason, message, node_name, restart_count, created_at, start_time, finish_time,
            log, log_truncated, labels_job, chain_head, chain_budget, log_times)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21)
         ON CONFLICT(uid) DO UPDATE SET phase = excluded.phase, exit_code = excluded.exit_code,
            reason = excluded.reason, message = excluded.message,
            node_name = CASE WHEN excluded.node_name = '' THEN node_name ELSE excluded.node_name END,
            restart_count = excluded.restart_count,
            start_time = coalesce(excluded.start_time, start_time),
            finish_time = excluded.finish_time,
            log = coalesce(excluded.log, log),
            log_truncated = coalesce(excluded.log_truncated, log_truncated),
            log_times = CASE WHEN excluded.log IS NULL THEN log_times ELSE excluded.log_times END";
    let values = params![
        i.uid,
        i.name,
        i.namespace,
        i.owner_uid,
        i.completion_index,
        labels,
        i.phase.as_str(),
        i.exit_code,
        i.reason,
        i.message,
        i.node_name,
        i.restart_count,
        i.created_at,
        i.start_time,
        i.finish_time,
        log,
        log_truncated,
        labels_job,
        i.chain.as_ref().map(|c| c.head.as_str()),
        i.chain.as_ref().map(|c| c.budget),
        log_times
    ];
    run(tx, sql, values).map(drop)
}

/// An instance this node ran for another node's Job ended: written only
/// while the row still says it runs here in this attempt.
fn instance_ended(tx: &Connection, i: &InstanceRecord) -> rusqlite::Result<()> {
    let sql = "UPDATE instances SET phase = ?2, exit_code = ?3, reason = ?4, message = ?5,
            finish_time = ?6
         WHERE uid = ?1 AND phase = 'Running' AND node_name = ?7 AND restart_count = ?8";
    let values = params![
        i.uid,
        i.phase.as_str(),
        i.exit_code,
        i.reason,
        i.message,
        i.finish_time,
        i.node_name,
        i.restart_count
    ];
    run(tx, sql, values).map(drop)
}

/// One attempt's output. The first attempt's belongs in the instance's
/// row; a row written before schema 6 has none, and its logs stay in
/// `logs`.
fn log(
    tx: &Connection,
    uid: &str,
    attempt: u32,
    (data, truncated, times): (&[u8], bool, &LineTimes),
) -> rusqlite::Result<()> {
    let times = times.encode();
    let in_row = attempt == 0 && {
        let sql =
            "UPDATE instances SET log = ?2, log_truncated = ?3, log_times = ?4 WHERE uid = ?1";
        run(tx, sql, params![uid, data, truncated, times])? > 0
    };
    if !in_row {
        // What a running attempt printed so far (see `runtime::live`) may
        // come before its instance's row, which the runner writes for most
        // instances when they end: that output is not kept yet, and the
        // end writes it all.
        let sql = "INSERT OR REPLACE INTO logs (instance_uid, attempt, data, truncated, times)
            SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM instances WHERE uid = ?1)";
        run(tx, sql, params![uid, attempt, data, truncated, times])?;
    }
    Ok(())
}

fn event(tx: &Connection, e: &EventRecord) -> rusqlite::Result<()> {
    let sql =
        "INSERT INTO events (object_uid, type, reason, message, time) VALUES (?1, ?2, ?3, ?4, ?5)";
    run(
        tx,
        sql,
        params![e.object_uid, e.kind, e.reason, e.message, e.time],
    )
    .map(drop)
}

/// One attempt's structured log records, in order.
fn log_records(
    tx: &Connection,
    uid: &str,
    attempt: u32,
    records: &[LogRecord],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO log_records (instance_uid, attempt, seq, time, level, message, fields)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (seq, r) in records.iter().enumerate() {
        let fields = json_text(&r.fields);
        let level = r.level.as_str();
        insert.execute(params![
            uid, attempt, seq as i64, r.time, level, r.message, fields
        ])?;
    }
    Ok(())
}

/// An embedded-queue item is done: deleted in the transaction that
/// records the success of the instance that processed it.
fn queue_done(tx: &Connection, item_id: &str) -> rusqlite::Result<()> {
    if let Some((row, token)) = crate::queue::embedded_id(item_id) {
        let sql = "DELETE FROM queue_items WHERE id = ?1 AND token = ?2";
        run(tx, sql, params![row, token])?;
    }
    Ok(())
}
