//! Reading the SQLite file's rows back into records.

use std::sync::Arc;

use rusqlite::Row;
use rusqlite::types::Type;
use serde::Deserialize;

use crate::manifest::{Kind, Phase};
use crate::store::{EventRecord, InstanceRecord, ObjectRecord, ObjectText, labels};

/// A stored structured log record: (attempt, record).
pub(super) fn log_record_row(row: &Row<'_>) -> rusqlite::Result<(u32, crate::runtime::LogRecord)> {
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
pub(super) fn event_row(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        object_uid: row.get(0)?,
        kind: row.get(1)?,
        reason: row.get(2)?,
        message: row.get(3)?,
        time: row.get(4)?,
    })
}

/// The columns [`object_row`] reads.
pub(super) const OBJECT_SELECT: &str = "SELECT uid, kind, namespace, name, labels, manifest, status, created_at, deleted_at FROM objects";

/// Reads an [`ObjectRecord`] selected with [`OBJECT_SELECT`].
pub(super) fn object_row(row: &Row<'_>) -> rusqlite::Result<ObjectRecord> {
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
pub(super) fn object_text_row(row: &Row<'_>) -> rusqlite::Result<ObjectText> {
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
pub(super) const INSTANCE_SELECT: &str =
    "SELECT uid, name, namespace, owner_uid, completion_index, labels, phase,
    exit_code, reason, message, node_name, restart_count, created_at, start_time, finish_time,
    labels_job, chain_head, chain_budget FROM instances";

/// Reads an [`InstanceRecord`] selected with [`INSTANCE_SELECT`].
pub(super) fn instance_row(row: &Row<'_>) -> rusqlite::Result<InstanceRecord> {
    let phase: String = row.get(6)?;
    let owner_uid: String = row.get(3)?;
    let completion_index = row.get(4)?;
    let kept = json_column(row, 5)?;
    let labels = match row.get::<_, Option<String>>(15)? {
        Some(job) => labels::expand(&kept, &job, &owner_uid, completion_index),
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
        chain: match row.get::<_, Option<String>>(16)? {
            Some(head) => Some(crate::store::ChainLink {
                head,
                budget: row.get::<_, Option<u32>>(17)?.unwrap_or(1),
            }),
            None => None,
        },
    })
}
