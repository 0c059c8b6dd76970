//! A cluster node's outbox: the records its file has that the cluster's
//! database has not seen yet. A commit that changes a record names it in
//! `outbox` in the same transaction (so nothing committed is ever left
//! unsent, whatever crashes); the forwarder reads the records' latest
//! state, sends them, and removes the entries it sent. An entry written
//! again before it is sent moves to the end (`INSERT OR REPLACE` takes a
//! new sequence number), so a record changed five times is sent once, and
//! an entry renamed while its record was on its way is not removed.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::rows;
use crate::store::forward::batch::{Batch, SentInstance, SentLog, kind};
use crate::store::{StoreError, Write};

/// Names the record `write` changed in the outbox, inside the commit's
/// transaction on `tx`. Module bytes travel with the apply that brought
/// them, and the embedded queue stays on the node: neither is sent.
pub(super) fn note(tx: &Connection, write: &Write) -> rusqlite::Result<()> {
    let (kind, key) = match write {
        Write::ObjectCreated(o) => (kind::OBJECT, o.uid.clone()),
        Write::ObjectManifest { uid, .. }
        | Write::ObjectDeleted { uid, .. }
        | Write::ObjectStatus { uid, .. }
        | Write::ObjectExpiry { uid, .. } => (kind::OBJECT, uid.clone()),
        Write::CronRun {
            cronjob_uid,
            scheduled,
            ..
        } => (kind::CRON, format!("{cronjob_uid}\t{scheduled}")),
        Write::Instance(i) => (kind::INSTANCE, i.uid.clone()),
        Write::InstanceLogged { instance, .. } => (kind::INSTANCE, instance.uid.clone()),
        Write::InstanceInput { uid, .. } | Write::InstanceDeleted { uid, .. } => {
            (kind::INSTANCE, uid.clone())
        }
        Write::InstanceEnded(i) => (kind::HOSTED, i.uid.clone()),
        Write::Log {
            instance_uid,
            attempt,
            ..
        } => (kind::LOG, format!("{instance_uid}\t{attempt}")),
        Write::LogRecords {
            instance_uid,
            attempt,
            ..
        } => (kind::RECORDS, format!("{instance_uid}\t{attempt}")),
        // The event's row was inserted just before.
        Write::Event(_) => (kind::EVENT, tx.last_insert_rowid().to_string()),
        Write::Module { .. } | Write::QueueDone { .. } => return Ok(()),
    };
    tx.prepare_cached("INSERT OR REPLACE INTO outbox (kind, key) VALUES (?1, ?2)")?
        .execute(params![kind, key])
        .map(drop)
}

/// Names every object `delete_expired` is about to delete
/// (`ttlSecondsAfterFinished` ran out by ?1), in its transaction.
pub(super) const NOTE_EXPIRED: &str = "INSERT OR REPLACE INTO outbox (kind, key)
    SELECT 'object', uid FROM objects WHERE expires_at <= ?1 AND deleted_at IS NULL";

/// The forwarder's connection to the node's file.
pub(in crate::store) struct OutboxReader {
    conn: Connection,
    path: PathBuf,
}

/// A key of two parts, `a\tb`.
fn pair(key: &str) -> Option<(&str, i64)> {
    let (a, b) = key.split_once('\t')?;
    Some((a, b.parse().ok()?))
}

impl OutboxReader {
    /// Opens the node's file (made and migrated by the store already).
    pub fn open(path: &Path) -> Result<OutboxReader, StoreError> {
        let wrap = |e| StoreError::from_sqlite(path, e);
        let conn = Connection::open(path).map_err(wrap)?;
        super::configure_connection(&conn, 5000).map_err(wrap)?;
        Ok(OutboxReader {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T, StoreError> {
        r.map_err(|e| StoreError::from_sqlite(&self.path, e))
    }

    /// How many records wait to be sent.
    pub fn backlog(&self) -> Result<u64, StoreError> {
        let r = self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0));
        self.sql(r).map(|n| n as u64)
    }

    /// The oldest `limit` entries, with their records as they are now, in
    /// one read transaction (so the batch is one consistent state).
    pub fn take(&mut self, limit: usize) -> Result<Batch, StoreError> {
        let path = &self.path;
        let r = self.conn.transaction().and_then(|tx| {
            let batch = read_batch(&tx, limit)?;
            tx.commit().map(|()| batch)
        });
        r.map_err(|e| StoreError::from_sqlite(path, e))
    }

    /// The entries of a batch the cluster's database committed.
    pub fn done(&mut self, seqs: &[i64]) -> Result<(), StoreError> {
        let path = &self.path;
        let r = self.conn.transaction().and_then(|tx| {
            {
                let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
                for seq in seqs {
                    delete.execute([seq])?;
                }
            }
            tx.commit()
        });
        r.map_err(|e| StoreError::from_sqlite(path, e))
    }
}

fn read_batch(tx: &Connection, limit: usize) -> rusqlite::Result<Batch> {
    let entries: Vec<(i64, String, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT seq, kind, key FROM outbox ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut batch = Batch::default();
    for (seq, kind, key) in entries {
        batch.seqs.push(seq);
        read_entry(tx, &kind, &key, &mut batch)?;
    }
    Ok(batch)
}

/// Adds the record an entry names (if it still exists) to `batch`.
fn read_entry(tx: &Connection, kind: &str, key: &str, batch: &mut Batch) -> rusqlite::Result<()> {
    match kind {
        kind::OBJECT => {
            let sql = format!(
                "{}, expires_at FROM objects WHERE uid = ?1",
                object_select()
            );
            let row = tx
                .prepare_cached(&sql)?
                .query_row([key], |r| Ok((rows::object_row(r)?, r.get(9)?)))
                .optional()?;
            batch.objects.extend(row);
        }
        kind::INSTANCE | kind::HOSTED => {
            if let Some((instance, log)) = read_instance(tx, key, kind == kind::HOSTED)? {
                batch.instances.push(instance);
                batch.logs.extend(log);
            }
        }
        kind::LOG => {
            let Some((uid, attempt)) = pair(key) else {
                return Ok(());
            };
            let sql = "SELECT data, truncated, times FROM attempt_logs WHERE instance_uid = ?1 AND attempt = ?2";
            let row = tx
                .prepare_cached(sql)?
                .query_row(params![uid, attempt], |r| {
                    Ok(SentLog {
                        instance_uid: uid.to_owned(),
                        attempt: attempt as u32,
                        data: r.get(0)?,
                        truncated: r.get(1)?,
                        times: r.get(2)?,
                    })
                })
                .optional()?;
            batch.logs.extend(row);
        }
        kind::RECORDS => {
            let Some((uid, attempt)) = pair(key) else {
                return Ok(());
            };
            let mut stmt = tx.prepare_cached(
                "SELECT attempt, time, level, message, fields FROM log_records
                 WHERE instance_uid = ?1 AND attempt = ?2 ORDER BY seq",
            )?;
            let records = stmt
                .query_map(params![uid, attempt], rows::log_record_row)?
                .map(|r| r.map(|(_, record)| record))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            batch
                .records
                .push((uid.to_owned(), attempt as u32, records));
        }
        kind::EVENT => {
            let Ok(id) = key.parse::<i64>() else {
                return Ok(());
            };
            let sql = "SELECT object_uid, type, reason, message, time FROM events WHERE id = ?1";
            let row = (tx.prepare_cached(sql)?)
                .query_row([id], rows::event_row)
                .optional()?;
            batch.events.extend(row.map(|e| (id, e)));
        }
        kind::CRON => {
            let Some((uid, scheduled)) = pair(key) else {
                return Ok(());
            };
            let sql =
                "SELECT job_uid FROM cron_runs WHERE cronjob_uid = ?1 AND scheduled_time = ?2";
            let job: Option<Option<String>> = tx
                .prepare_cached(sql)?
                .query_row(params![uid, scheduled], |r| r.get(0))
                .optional()?;
            if let Some(job) = job {
                batch.cron_runs.push((uid.to_owned(), scheduled, job));
            }
        }
        _ => {}
    }
    Ok(())
}

fn object_select() -> &'static str {
    rows::OBJECT_SELECT
        .strip_suffix(" FROM objects")
        .expect("OBJECT_SELECT ends with its table")
}

/// An instance's row, and its first attempt's output when the row keeps it.
fn read_instance(
    tx: &Connection,
    uid: &str,
    hosted: bool,
) -> rusqlite::Result<Option<(SentInstance, Option<SentLog>)>> {
    let select = rows::INSTANCE_SELECT
        .strip_suffix(" FROM instances")
        .expect("INSTANCE_SELECT ends with its table");
    let sql = format!(
        "{select}, deleted_at, stdin, log, log_truncated, log_times FROM instances WHERE uid = ?1"
    );
    // Prepared once per connection: the forwarder reads thousands of rows
    // a second while a cluster runs many tiny instances.
    tx.prepare_cached(&sql)?
        .query_row([uid], |r| {
            let record = rows::instance_row(r)?;
            let log = r.get::<_, Option<Vec<u8>>>(20)?.map(|data| SentLog {
                instance_uid: record.uid.clone(),
                attempt: 0,
                data,
                truncated: r.get::<_, Option<bool>>(21).ok().flatten().unwrap_or(false),
                times: r.get(22).ok().flatten(),
            });
            let sent = SentInstance {
                deleted_at: r.get(18)?,
                stdin: r.get(19)?,
                hosted,
                record,
            };
            Ok((sent, log))
        })
        .optional()
}
