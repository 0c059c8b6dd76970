//! The rows of the store and the writes that change them.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};

use crate::manifest::{Kind, Phase, Termination};
use crate::time::Micros;

/// A stored object: the applied manifest and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    /// The object's uid.
    pub uid: String,
    /// Its kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The normalized manifest (`metadata` and `spec`) as JSON.
    pub manifest: serde_json::Value,
    /// The status as JSON, in Kubernetes' shape.
    pub status: serde_json::Value,
    /// When it was created.
    pub created_at: Micros,
    /// When it was deleted, for history rows.
    pub deleted_at: Option<Micros>,
}

/// A stored object whose manifest and status are kept as the JSON text
/// stored: for listings that pass them on without looking inside, which
/// for a thousand Jobs is most of the work saved.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectText {
    /// The object's uid.
    pub uid: String,
    /// Its kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The manifest (`metadata` and `spec`), as JSON text.
    pub manifest: String,
    /// The status, as JSON text.
    pub status: String,
    /// When it was created.
    pub created_at: Micros,
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// The instance's uid.
    pub uid: String,
    /// Its generated name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The owning object's uid.
    pub owner_uid: String,
    /// For Indexed Jobs.
    pub completion_index: Option<u32>,
    /// Template labels plus the Job labels, shared by a Job's instances
    /// (an Indexed Job's differ by their index label).
    pub labels: Arc<BTreeMap<String, String>>,
    /// Where it is in its life.
    pub phase: Phase,
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The detail of the failure.
    pub message: Option<String>,
    /// The node it ran on.
    pub node_name: String,
    /// In-place restarts so far.
    pub restart_count: u32,
    /// When it was created.
    pub created_at: Micros,
    /// When it started running.
    pub start_time: Option<Micros>,
    /// When it ended.
    pub finish_time: Option<Micros>,
}

impl InstanceRecord {
    /// The instance ended at `at` as `end` says (see
    /// [`crate::controller::instance`] for which end is which).
    pub fn terminate(&mut self, at: Micros, end: Termination) {
        self.finish_time = Some(at);
        self.phase = end.phase;
        self.exit_code = end.exit_code;
        self.reason = end.reason;
        self.message = end.message;
    }
}

/// An event about an object, for `describe`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// The object it is about.
    pub object_uid: String,
    /// `Normal` or `Warning`.
    pub kind: String,
    /// `SuccessfulCreate`, `Completed`, `BackoffLimitExceeded`, …
    pub reason: String,
    /// The sentence shown.
    pub message: String,
    /// When it happened.
    pub time: Micros,
}

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new object; a live one of the same kind and name is moved to history.
    ObjectCreated(ObjectRecord),
    /// A module's bytes (idempotent).
    Module {
        /// `sha256:<hex>`.
        digest: String,
        /// A component rather than a core module.
        component: bool,
        /// The bytes.
        bytes: Vec<u8>,
        /// When it was first stored.
        at: Micros,
    },
    /// An updated manifest (mutable fields only).
    ObjectManifest {
        /// The object.
        uid: String,
        /// The new manifest.
        manifest: serde_json::Value,
        /// The new labels.
        labels: BTreeMap<String, String>,
    },
    /// The object is deleted now; its rows stay as history.
    ObjectDeleted {
        /// The object.
        uid: String,
        /// When.
        at: Micros,
    },
    /// A CronJob's scheduled time was decided: started as `job_uid`, or
    /// missed (`None`). A time already decided is left as it was.
    CronRun {
        /// The CronJob.
        cronjob_uid: String,
        /// The scheduled time.
        scheduled: Micros,
        /// The Job created for it.
        job_uid: Option<String>,
    },
    /// An object's new status.
    ObjectStatus {
        /// The object.
        uid: String,
        /// Its status JSON.
        status: serde_json::Value,
    },
    /// The object is deleted at `at` (`ttlSecondsAfterFinished`); its rows
    /// stay as history.
    ObjectExpiry {
        /// The object.
        uid: String,
        /// When it expires.
        at: Micros,
    },
    /// A new instance, or a new state of an existing one (upsert by uid).
    /// An empty `node_name` or a missing `start_time` keep what the row has:
    /// the owner of an instance that another node claimed may not have seen
    /// the claim yet.
    Instance(InstanceRecord),
    /// An instance that ended, with its first attempt's output: one row
    /// where an [`Write::Instance`] and a [`Write::Log`] would write two (the
    /// runner records most instances so). Upsert by uid, as `Instance`.
    InstanceLogged {
        /// The instance, as it ended.
        instance: InstanceRecord,
        /// Its first attempt's stdout and stderr, interleaved.
        log: Vec<u8>,
        /// Whether output was dropped.
        truncated: bool,
    },
    /// An instance this node ran for another node's Job ended. Written only
    /// while the row still says it runs here in this attempt: the Job's
    /// owner may meanwhile have stopped it or found this node lost, and
    /// what the owner decided stands.
    InstanceEnded(InstanceRecord),
    /// What an offered instance gets on stdin (its work-queue item), for the
    /// node that claims it. A single node hands the item to its instance
    /// in memory: the SQLite store keeps nothing.
    InstanceInput {
        /// The instance.
        uid: String,
        /// Its stdin.
        stdin: Vec<u8>,
    },
    /// The instance was removed (a DaemonSet's, replaced or off its node);
    /// its row and logs stay as history.
    InstanceDeleted {
        /// The instance.
        uid: String,
        /// When.
        at: Micros,
    },
    /// One attempt's output.
    Log {
        /// The instance.
        instance_uid: String,
        /// The attempt, 0 first.
        attempt: u32,
        /// stdout and stderr interleaved.
        data: Vec<u8>,
        /// Whether output was dropped.
        truncated: bool,
    },
    /// An event.
    Event(EventRecord),
    /// One attempt's structured log records (`wasmjob:plugin/log`).
    LogRecords {
        /// The instance.
        instance_uid: String,
        /// The attempt, 0 first.
        attempt: u32,
        /// The records, in order.
        records: Vec<crate::runtime::LogRecord>,
    },
    /// An embedded-queue item is done: deleted in the same transaction
    /// that records the success of the instance that processed it.
    QueueDone {
        /// The item's lease id (`<row>.<token>`).
        item_id: String,
    },
}

impl Write {
    /// Whether a promise rests on this write being durable before the runner
    /// goes on: a CronJob's decided time (never run twice), an object's
    /// creation, change or deletion (what a client was told), a module. An
    /// instance's records, logs, events and status may wait for the next
    /// group commit.
    pub fn is_urgent(&self) -> bool {
        match self {
            Write::ObjectCreated(_)
            | Write::Module { .. }
            | Write::ObjectManifest { .. }
            | Write::ObjectDeleted { .. }
            | Write::CronRun { .. }
            | Write::ObjectExpiry { .. } => true,
            Write::ObjectStatus { .. }
            | Write::Instance(_)
            | Write::InstanceLogged { .. }
            | Write::InstanceEnded(_)
            | Write::InstanceInput { .. }
            | Write::InstanceDeleted { .. }
            | Write::Log { .. }
            | Write::Event(_)
            | Write::LogRecords { .. }
            | Write::QueueDone { .. } => false,
        }
    }
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialize to JSON")
}

/// How the row of the instance written last keeps its labels (see
/// [`super::labels`]): the JSON text of the labels a row keeps, and the
/// Job's name when the rest follows from it. A Job's instances share their
/// labels (an Indexed Job's but for their index), so this is worked out
/// once per Job rather than once per instance.
#[derive(Debug, Default)]
pub struct LabelsText {
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
                match super::labels::compact(&i.labels, &i.owner_uid, i.completion_index) {
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

/// Inserts or updates an instance row by uid; with `log`, its first
/// attempt's output too. An empty `node_name` or a missing `start_time`
/// keep what the row has (see [`Write::Instance`]); a row's log, once
/// written, is kept by later writes without one.
fn upsert_instance(
    tx: &Connection,
    i: &InstanceRecord,
    log: Option<(&[u8], bool)>,
    labels: &mut LabelsText,
) -> rusqlite::Result<()> {
    let (log, log_truncated) = match log {
        Some((data, truncated)) => (Some(data), Some(truncated)),
        None => (None, None),
    };
    let (labels, labels_job) = labels.of(i);
    tx.prepare_cached(
        "INSERT INTO instances (uid, name, namespace, owner_uid, completion_index, labels, phase,
            exit_code, reason, message, node_name, restart_count, created_at, start_time, finish_time,
            log, log_truncated, labels_job)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT(uid) DO UPDATE SET phase = excluded.phase, exit_code = excluded.exit_code,
            reason = excluded.reason, message = excluded.message,
            node_name = CASE WHEN excluded.node_name = '' THEN node_name ELSE excluded.node_name END,
            restart_count = excluded.restart_count,
            start_time = coalesce(excluded.start_time, start_time),
            finish_time = excluded.finish_time,
            log = coalesce(excluded.log, log),
            log_truncated = coalesce(excluded.log_truncated, log_truncated)",
    )?
    .execute(params![
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
        labels_job
    ])?;
    Ok(())
}

/// Carries out one write inside the transaction open on `tx`;
/// `Some(detail)` for a conflict that must undo the whole batch (a
/// CronJob's time decided otherwise before).
pub fn apply(
    tx: &Connection,
    write: &Write,
    labels: &mut LabelsText,
) -> rusqlite::Result<Option<String>> {
    match write {
        Write::ObjectCreated(o) => {
            tx.execute(
                "UPDATE objects SET deleted_at = ?4 WHERE kind = ?1 AND namespace = ?2 AND name = ?3 AND deleted_at IS NULL",
                params![o.kind.as_str(), o.namespace, o.name, o.created_at],
            )?;
            tx.prepare_cached(
                "INSERT INTO objects (uid, kind, namespace, name, labels, manifest, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                o.uid,
                o.kind.as_str(),
                o.namespace,
                o.name,
                json_text(&o.labels),
                json_text(&o.manifest),
                json_text(&o.status),
                o.created_at
            ])?;
        }
        Write::Module {
            digest,
            component,
            bytes,
            at,
        } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO modules (digest, component, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![digest, component, bytes, at])?;
        }
        Write::ObjectManifest {
            uid,
            manifest,
            labels,
        } => {
            tx.prepare_cached("UPDATE objects SET manifest = ?2, labels = ?3 WHERE uid = ?1")?
                .execute(params![uid, json_text(manifest), json_text(labels)])?;
        }
        Write::ObjectDeleted { uid, at } => {
            tx.prepare_cached(
                "UPDATE objects SET deleted_at = ?2 WHERE uid = ?1 AND deleted_at IS NULL",
            )?
            .execute(params![uid, at])?;
        }
        Write::CronRun {
            cronjob_uid,
            scheduled,
            job_uid,
        } => {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO cron_runs (cronjob_uid, scheduled_time, job_uid) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![cronjob_uid, scheduled, job_uid])?;
            if inserted == 0 && job_uid.is_some() {
                let decided: Option<String> = tx.query_row(
                    "SELECT job_uid FROM cron_runs WHERE cronjob_uid = ?1 AND scheduled_time = ?2",
                    params![cronjob_uid, scheduled],
                    |r| r.get(0),
                )?;
                if decided != *job_uid {
                    return Ok(Some(format!(
                        "CronJob {cronjob_uid}'s run at {scheduled} was already decided"
                    )));
                }
            }
        }
        Write::ObjectStatus { uid, status } => {
            tx.prepare_cached("UPDATE objects SET status = ?2 WHERE uid = ?1")?
                .execute(params![uid, json_text(status)])?;
        }
        Write::ObjectExpiry { uid, at } => {
            tx.prepare_cached("UPDATE objects SET expires_at = ?2 WHERE uid = ?1")?
                .execute(params![uid, at])?;
        }
        Write::InstanceDeleted { uid, at } => {
            tx.prepare_cached(
                "UPDATE instances SET deleted_at = ?2 WHERE uid = ?1 AND deleted_at IS NULL",
            )?
            .execute(params![uid, at])?;
        }
        Write::Instance(i) => upsert_instance(tx, i, None, labels)?,
        Write::InstanceLogged {
            instance,
            log,
            truncated,
        } => upsert_instance(tx, instance, Some((log, *truncated)), labels)?,
        Write::InstanceEnded(i) => {
            tx.prepare_cached(
                "UPDATE instances SET phase = ?2, exit_code = ?3, reason = ?4, message = ?5,
                    finish_time = ?6
                 WHERE uid = ?1 AND phase = 'Running' AND node_name = ?7 AND restart_count = ?8",
            )?
            .execute(params![
                i.uid,
                i.phase.as_str(),
                i.exit_code,
                i.reason,
                i.message,
                i.finish_time,
                i.node_name,
                i.restart_count
            ])?;
        }
        Write::InstanceInput { .. } => {}
        Write::Log {
            instance_uid,
            attempt,
            data,
            truncated,
        } => {
            // The first attempt's output belongs in the instance's row;
            // a row written before schema 6 has none, and its logs stay in
            // `logs`.
            let in_row = *attempt == 0
                && tx
                    .prepare_cached(
                        "UPDATE instances SET log = ?2, log_truncated = ?3 WHERE uid = ?1",
                    )?
                    .execute(params![instance_uid, data, truncated])?
                    > 0;
            if !in_row {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO logs (instance_uid, attempt, data, truncated) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![instance_uid, attempt, data, truncated])?;
            }
        }
        Write::Event(e) => {
            tx.prepare_cached(
                "INSERT INTO events (object_uid, type, reason, message, time) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![e.object_uid, e.kind, e.reason, e.message, e.time])?;
        }
        Write::LogRecords {
            instance_uid,
            attempt,
            records,
        } => {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO log_records (instance_uid, attempt, seq, time, level, message, fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (seq, r) in records.iter().enumerate() {
                insert.execute(params![
                    instance_uid,
                    attempt,
                    seq as i64,
                    r.time,
                    r.level.as_str(),
                    r.message,
                    json_text(&r.fields)
                ])?;
            }
        }
        Write::QueueDone { item_id } => {
            if let Some((row, token)) = crate::queue::embedded_id(item_id) {
                tx.prepare_cached("DELETE FROM queue_items WHERE id = ?1 AND token = ?2")?
                    .execute(params![row, token])?;
            }
        }
    }
    Ok(None)
}

/// A stored structured log record: (attempt, record).
pub fn log_record_row(row: &Row<'_>) -> rusqlite::Result<(u32, crate::runtime::LogRecord)> {
    let level: String = row.get(2)?;
    Ok((
        row.get(0)?,
        crate::runtime::LogRecord {
            time: row.get(1)?,
            level: crate::runtime::LogLevel::parse(&level).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(2, Type::Text, "unknown level".into())
            })?,
            message: row.get(3)?,
            fields: json_column(row, 4)?,
        },
    ))
}

fn json_column<T: for<'de> Deserialize<'de>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn bad_column(idx: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, what.to_owned().into())
}

/// Reads an [`EventRecord`] selected as (object_uid, type, reason, message, time).
pub fn event_row(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        object_uid: row.get(0)?,
        kind: row.get(1)?,
        reason: row.get(2)?,
        message: row.get(3)?,
        time: row.get(4)?,
    })
}

/// The columns [`object_row`] reads.
pub const OBJECT_SELECT: &str = "SELECT uid, kind, namespace, name, labels, manifest, status, created_at, deleted_at FROM objects";

/// Reads an [`ObjectRecord`] selected with [`OBJECT_SELECT`].
pub fn object_row(row: &Row<'_>) -> rusqlite::Result<ObjectRecord> {
    let kind: String = row.get(1)?;
    let kind = Kind::parse(&kind).ok_or_else(|| bad_column(1, "unknown kind"))?;
    Ok(ObjectRecord {
        uid: row.get(0)?,
        kind,
        namespace: row.get(2)?,
        name: row.get(3)?,
        labels: json_column(row, 4)?,
        manifest: json_column(row, 5)?,
        status: json_column(row, 6)?,
        created_at: row.get(7)?,
        deleted_at: row.get(8)?,
    })
}

/// Reads an [`ObjectText`] selected with [`OBJECT_SELECT`].
pub fn object_text_row(row: &Row<'_>) -> rusqlite::Result<ObjectText> {
    let kind: String = row.get(1)?;
    Ok(ObjectText {
        uid: row.get(0)?,
        kind: Kind::parse(&kind).ok_or_else(|| bad_column(1, "unknown kind"))?,
        namespace: row.get(2)?,
        name: row.get(3)?,
        labels: json_column(row, 4)?,
        manifest: row.get(5)?,
        status: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// The columns [`instance_row`] reads.
pub const INSTANCE_SELECT: &str =
    "SELECT uid, name, namespace, owner_uid, completion_index, labels, phase,
    exit_code, reason, message, node_name, restart_count, created_at, start_time, finish_time,
    labels_job FROM instances";

/// Reads an [`InstanceRecord`] selected with [`INSTANCE_SELECT`].
pub fn instance_row(row: &Row<'_>) -> rusqlite::Result<InstanceRecord> {
    let phase: String = row.get(6)?;
    let owner_uid: String = row.get(3)?;
    let completion_index = row.get(4)?;
    let kept = json_column(row, 5)?;
    let labels = match row.get::<_, Option<String>>(15)? {
        Some(job) => super::labels::expand(&kept, &job, &owner_uid, completion_index),
        None => Arc::new(kept),
    };
    Ok(InstanceRecord {
        uid: row.get(0)?,
        name: row.get(1)?,
        namespace: row.get(2)?,
        owner_uid,
        completion_index,
        labels,
        phase: Phase::parse(&phase).ok_or_else(|| bad_column(6, "unknown phase"))?,
        exit_code: row.get(7)?,
        reason: row.get(8)?,
        message: row.get(9)?,
        node_name: row.get(10)?,
        restart_count: row.get(11)?,
        created_at: row.get(12)?,
        start_time: row.get(13)?,
        finish_time: row.get(14)?,
    })
}
