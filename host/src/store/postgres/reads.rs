//! What the cluster database answers: the records, read back.

use super::{INSTANCE_SELECT, OBJECT_SELECT, Param, Pg, instance_row, json_column, object_row};
use crate::manifest::Kind;
use crate::store::backend::Records;
use crate::store::{
    EventRecord, InstanceRecord, InstanceScope, ObjectRecord, ObjectText, StoreError,
};
use crate::time::Micros;

impl Records for Pg {
    /// Stores module bytes under their digest (idempotent).
    fn put_module(
        &self,
        digest: &str,
        component: bool,
        bytes: &[u8],
        now: Micros,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO modules (digest, component, bytes, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&digest as &Param<'_>, &component, &bytes, &now],
            )
            .map(drop)
        })
    }

    /// The bytes of a stored module.
    fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT bytes FROM modules WHERE digest = $1", &[&digest])?
                    .map(|r| r.get(0)),
            )
        })
    }

    /// The live object of this kind and name, if any.
    fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.with(|c| {
            let sql = format!(
                "{OBJECT_SELECT} WHERE kind = $1 AND namespace = $2 AND name = $3 AND deleted_at IS NULL"
            );
            Ok(c.query_opt(&sql, &[&kind.as_str(), &namespace, &name])?
                .as_ref()
                .and_then(object_row))
        })
    }

    /// Every live object of a kind, in one namespace or all, oldest first.
    fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        let rows = self.live_object_rows(kind, namespace)?;
        Ok(rows.iter().filter_map(object_row).collect())
    }

    /// As [`Pg::live_objects`], manifests and statuses as the text stored.
    fn live_objects_text(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectText>, StoreError> {
        let rows = self.live_object_rows(kind, namespace)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(ObjectText {
                    uid: row.get(0),
                    kind: Kind::parse(row.get(1))?,
                    namespace: row.get(2),
                    name: row.get(3),
                    labels: json_column(row, 4),
                    manifest: row.get(5),
                    status: row.get(6),
                    created_at: row.get(7),
                })
            })
            .collect())
    }

    /// The instances of live objects that may match `scope`, oldest first.
    fn live_instances_in(
        &self,
        namespace: Option<&str>,
        scope: InstanceScope<'_>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        let (condition, key) = match scope {
            InstanceScope::All => ("TRUE", ""),
            InstanceScope::OfJob(job) => (
                "owner_uid IN (SELECT uid FROM objects WHERE kind = 'Job' AND name = $2
                   AND deleted_at IS NULL AND ($1::text IS NULL OR namespace = $1))",
                job,
            ),
            InstanceScope::Named(name) => ("name = $2", name),
        };
        self.with(|c| {
            let sql = format!(
                "{INSTANCE_SELECT} WHERE {condition} AND ($1::text IS NULL OR namespace = $1)
                 AND ($2::text IS NOT NULL) AND deleted_at IS NULL
                 AND owner_uid IN (SELECT uid FROM objects WHERE deleted_at IS NULL)
                 ORDER BY created_at, name"
            );
            let rows = c.query(&sql, &[&namespace as &Param<'_>, &key])?;
            Ok(rows.iter().filter_map(instance_row).collect())
        })
    }

    /// Events of live objects in a namespace (or all), oldest first.
    fn log_bytes(&self, namespace: &str) -> Result<u64, StoreError> {
        self.with(|c| {
            let row = c.query_one(
                "SELECT COALESCE(SUM(octet_length(l.data)), 0)::BIGINT FROM logs l
                 JOIN instances i ON i.uid = l.instance_uid
                 JOIN objects o ON o.uid = i.owner_uid
                 WHERE i.namespace = $1 AND o.deleted_at IS NULL",
                &[&namespace],
            )?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }

    fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT e.object_uid, e.type, e.reason, e.message, e.time FROM events e
                 JOIN objects o ON o.uid = e.object_uid
                 WHERE o.deleted_at IS NULL AND ($1::text IS NULL OR o.namespace = $1) ORDER BY e.id",
                &[&namespace],
            )?;
            Ok(rows
                .iter()
                .map(|r| EventRecord {
                    object_uid: r.get(0),
                    kind: r.get(1),
                    reason: r.get(2),
                    message: r.get(3),
                    time: r.get(4),
                })
                .collect())
        })
    }

    /// An object by uid, live or deleted.
    fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.with(|c| {
            let sql = format!("{OBJECT_SELECT} WHERE uid = $1");
            Ok(c.query_opt(&sql, &[&uid])?.as_ref().and_then(object_row))
        })
    }

    /// Every instance an object owns, oldest first.
    fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        self.with(|c| {
            let sql = format!("{INSTANCE_SELECT} WHERE owner_uid = $1 ORDER BY created_at, name");
            Ok(c.query(&sql, &[&owner_uid])?
                .iter()
                .filter_map(instance_row)
                .collect())
        })
    }

    fn unfinished_instances_of(&self, owner_uid: &str) -> Result<u64, StoreError> {
        self.with(|c| {
            let row = c.query_one(
                "SELECT COUNT(*) FROM instances
                 WHERE owner_uid = $1 AND phase IN ('Pending', 'Running')",
                &[&owner_uid],
            )?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }

    fn logs_timed(
        &self,
        instance_uid: &str,
    ) -> Result<Vec<(u32, Vec<u8>, crate::runtime::line_times::LineTimes)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT attempt, data, times FROM logs WHERE instance_uid = $1 ORDER BY attempt",
                &[&instance_uid],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    let times: Option<Vec<u8>> = r.get(2);
                    let times =
                        crate::runtime::line_times::LineTimes::decode(&times.unwrap_or_default());
                    (r.get::<_, i64>(0) as u32, r.get(1), times)
                })
                .collect())
        })
    }

    /// Every attempt's log of an instance, oldest first.
    fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT attempt, data FROM logs WHERE instance_uid = $1 ORDER BY attempt",
                &[&instance_uid],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u32, r.get(1)))
                .collect())
        })
    }

    /// An instance's structured log records, by attempt then order.
    fn log_records(
        &self,
        instance_uid: &str,
    ) -> Result<Vec<(u32, crate::runtime::LogRecord)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT attempt, time, level, message, fields FROM log_records
                 WHERE instance_uid = $1 ORDER BY attempt, seq",
                &[&instance_uid],
            )?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    Some((
                        r.get::<_, i64>(0) as u32,
                        crate::runtime::LogRecord {
                            time: r.get(1),
                            level: crate::runtime::LogLevel::parse(r.get(2))?,
                            message: r.get(3),
                            fields: json_column(r, 4),
                        },
                    ))
                })
                .collect())
        })
    }

    /// A CronJob's decided times, oldest first.
    fn cron_runs(&self, cronjob_uid: &str) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT scheduled_time, job_uid FROM cron_runs WHERE cronjob_uid = $1
                 ORDER BY scheduled_time",
                &[&cronjob_uid],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Deletes every live object whose `ttlSecondsAfterFinished` ran out.
    fn delete_expired(&self, now: Micros) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE objects SET deleted_at = expires_at
                 WHERE expires_at <= $1 AND deleted_at IS NULL",
                &[&now],
            )
            .map(|n| n as usize)
        })
    }
}
