//! What the SQLite file answers: the records, read back.

use crate::runtime::line_times::LineTimes;
use rusqlite::{OptionalExtension, params};

use super::{LIVE_OBJECTS, LOGS, Sqlite, rows};
use crate::manifest::Kind;
use crate::store::backend::Records;
use crate::store::{
    EventRecord, InstanceRecord, InstanceScope, ObjectRecord, ObjectText, StoreError,
};
use crate::time::Micros;

impl Sqlite {
    /// The rows of [`LIVE_OBJECTS`] in this file, each read by `read`.
    fn live_object_rows<T>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(&LIVE_OBJECTS))?;
        let rows = stmt.query_map(params![kind.as_str(), namespace], read);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// Every instance of live objects, in one namespace or all, oldest first.
    fn live_instances(&self, namespace: Option<&str>) -> Result<Vec<InstanceRecord>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(&format!(
            "{} WHERE (?1 IS NULL OR namespace = ?1) AND deleted_at IS NULL AND owner_uid IN
               (SELECT uid FROM objects WHERE deleted_at IS NULL) ORDER BY created_at, name",
            rows::INSTANCE_SELECT
        )))?;
        let rows = stmt.query_map(params![namespace], rows::instance_row);
        self.sql(rows.and_then(|r| r.collect()))
    }
}

impl Records for Sqlite {
    /// Stores module bytes under their digest (idempotent).
    fn put_module(
        &self,
        digest: &str,
        component: bool,
        bytes: &[u8],
        now: Micros,
    ) -> Result<(), StoreError> {
        // Most runs store a module the file already has: looking for its
        // digest first spares binding (and copying) its bytes to be ignored,
        // which was a tenth of the page faults of a short `wasmjob run`.
        if self.any("SELECT 1 FROM modules WHERE digest = ?1", [digest])? {
            return Ok(());
        }
        let r = self.conn.execute(
            "INSERT OR IGNORE INTO modules (digest, component, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![digest, component, bytes, now],
        );
        self.sql(r).map(drop)
    }

    /// The bytes of a stored module.
    fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self
            .conn
            .query_row(
                "SELECT bytes FROM modules WHERE digest = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional();
        self.sql(r)
    }

    /// The live object of this kind and name, if any.
    fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let r = self
            .conn
            .query_row(
                &format!(
                    "{} WHERE kind = ?1 AND namespace = ?2 AND name = ?3 AND deleted_at IS NULL",
                    rows::OBJECT_SELECT
                ),
                params![kind.as_str(), namespace, name],
                rows::object_row,
            )
            .optional();
        self.sql(r)
    }

    /// Every live object of a kind, in one namespace or all, oldest first.
    fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        self.live_object_rows(kind, namespace, rows::object_row)
    }

    /// As [`Store::live_objects`], with manifests and statuses as the JSON
    /// text stored, for listings that pass them on unread.
    fn live_objects_text(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectText>, StoreError> {
        self.live_object_rows(kind, namespace, rows::object_text_row)
    }

    /// The instances of live objects that may match `scope`, in one namespace
    /// or all, oldest first: an index lookup for a Job's or one instance's
    /// name, so a query about one Job costs the same whatever the history.
    fn live_instances_in(
        &self,
        namespace: Option<&str>,
        scope: InstanceScope<'_>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        let (condition, key) = match scope {
            InstanceScope::All => return self.live_instances(namespace),
            InstanceScope::OfJob(job) => (
                "owner_uid IN (SELECT uid FROM objects WHERE kind = 'Job' AND name = ?2
                   AND deleted_at IS NULL AND (?1 IS NULL OR namespace = ?1))",
                job,
            ),
            InstanceScope::Named(name) => (
                "(?1 IS NULL OR namespace = ?1) AND name = ?2 AND owner_uid IN
                   (SELECT uid FROM objects WHERE deleted_at IS NULL)",
                name,
            ),
        };
        let mut stmt = self.sql(self.conn.prepare_cached(&format!(
            "{} WHERE {condition} AND deleted_at IS NULL ORDER BY created_at, name",
            rows::INSTANCE_SELECT
        )))?;
        let rows = stmt.query_map(params![namespace, key], rows::instance_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// Events of live objects in a namespace (or all), oldest first.
    fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT e.object_uid, e.type, e.reason, e.message, e.time FROM events e
             JOIN objects o ON o.uid = e.object_uid
             WHERE o.deleted_at IS NULL AND (?1 IS NULL OR o.namespace = ?1) ORDER BY e.id",
        ))?;
        let rows = stmt.query_map(params![namespace], rows::event_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// The bytes of output stored for the instances of a namespace's live
    /// objects: first attempts' in their rows, the others' in `logs`.
    fn log_bytes(&self, namespace: &str) -> Result<u64, StoreError> {
        let r = self.conn.query_row(
            "SELECT
               (SELECT COALESCE(SUM(length(i.log)), 0) FROM instances i
                JOIN objects o ON o.uid = i.owner_uid
                WHERE i.namespace = ?1 AND o.deleted_at IS NULL)
             + (SELECT COALESCE(SUM(length(l.data)), 0) FROM logs l
                JOIN instances i ON i.uid = l.instance_uid
                JOIN objects o ON o.uid = i.owner_uid
                WHERE i.namespace = ?1 AND o.deleted_at IS NULL)",
            [namespace],
            |row| row.get::<_, i64>(0),
        );
        self.sql(r).map(|bytes| bytes.max(0) as u64)
    }

    /// An object by uid, live or deleted.
    fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        let r = self
            .conn
            .query_row(
                &format!("{} WHERE uid = ?1", rows::OBJECT_SELECT),
                [uid],
                rows::object_row,
            )
            .optional();
        self.sql(r)
    }

    /// Every instance an object owns, oldest first.
    fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(&format!(
            "{} WHERE owner_uid = ?1 ORDER BY created_at, name",
            rows::INSTANCE_SELECT
        )))?;
        let rows = stmt.query_map([owner_uid], rows::instance_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    fn unfinished_instances_of(&self, owner_uid: &str) -> Result<u64, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT COUNT(*) FROM instances
             WHERE owner_uid = ?1 AND phase IN ('Pending', 'Running')",
        ))?;
        let count: i64 = self.sql(stmt.query_row([owner_uid], |r| r.get(0)))?;
        Ok(count.max(0) as u64)
    }

    /// Every attempt's log of an instance, oldest first: (attempt, bytes).
    fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(LOGS))?;
        let rows = stmt.query_map([instance_uid], |r| Ok((r.get(0)?, r.get(1)?)));
        self.sql(rows.and_then(|r| r.collect()))
    }

    fn logs_timed(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>, LineTimes)>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT attempt, data, times FROM attempt_logs WHERE instance_uid = ?1 ORDER BY attempt",
        ))?;
        let rows = stmt.query_map([instance_uid], |r| {
            let times: Option<Vec<u8>> = r.get(2)?;
            let times = LineTimes::decode(&times.unwrap_or_default());
            Ok((r.get(0)?, r.get(1)?, times))
        });
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// An instance's structured log records, by attempt then order.
    fn log_records(
        &self,
        instance_uid: &str,
    ) -> Result<Vec<(u32, crate::runtime::LogRecord)>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT attempt, time, level, message, fields FROM log_records
             WHERE instance_uid = ?1 ORDER BY attempt, seq",
        ))?;
        let rows = stmt.query_map([instance_uid], rows::log_record_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// A CronJob's decided times, oldest first: (scheduled time, Job uid if
    /// one was started).
    fn cron_runs(&self, cronjob_uid: &str) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT scheduled_time, job_uid FROM cron_runs WHERE cronjob_uid = ?1 ORDER BY scheduled_time",
        ))?;
        let rows = stmt.query_map([cronjob_uid], |r| Ok((r.get(0)?, r.get(1)?)));
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// Deletes every live object whose `ttlSecondsAfterFinished` ran out by
    /// `now`, as of its expiry time; returns how many. The rows stay as history.
    fn delete_expired(&self, now: Micros) -> Result<usize, StoreError> {
        // Usually nothing has expired: a read through the expiry index
        // finds that without the write transaction the UPDATE would open
        // (every `wasmjob run` starts with this).
        let due = "SELECT 1 FROM objects WHERE expires_at <= ?1 AND deleted_at IS NULL";
        if !self.any(due, [now])? {
            return Ok(0);
        }
        let expire = "UPDATE objects SET deleted_at = expires_at WHERE expires_at <= ?1 AND deleted_at IS NULL";
        if !self.forwarding {
            return self.sql(self.conn.execute(expire, [now]));
        }
        // A cluster node's deletions go to the cluster's database too.
        let tx = self.sql(self.conn.unchecked_transaction())?;
        let r = tx
            .execute(super::outbox::NOTE_EXPIRED, [now])
            .and_then(|_| tx.execute(expire, [now]))
            .and_then(|n| tx.commit().map(|()| n));
        self.sql(r)
    }
}
