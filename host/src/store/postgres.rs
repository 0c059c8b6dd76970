//! The cluster store: the same records as the SQLite store, in a PostgreSQL
//! database that several `wasmjob serve --store postgres://…` nodes share.
//!
//! Besides objects, instances, logs, events, modules and CronJob runs it owns
//! what only a cluster needs: the `nodes` table (labels, capacity, version,
//! heartbeats) and which node runs each Job and CronJob (`objects.owner_node`,
//! taken with `FOR UPDATE SKIP LOCKED` and a compare-and-set, so two nodes
//! never run the same object). Heartbeats use the database's clock, so nodes
//! on machines whose clocks differ still agree on who is late.
//!
//! The client is the blocking `postgres` crate (tokio-postgres underneath):
//! the runner and the API's readers are blocking code already. A connection
//! that breaks is opened again at the next call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use postgres::types::ToSql;

/// A query parameter.
type Param<'a> = dyn ToSql + Sync + 'a;
use postgres::{Client, NoTls, Row, Transaction};

use super::records::{EventRecord, InstanceRecord, ObjectRecord, Phase, Write};
use super::{InstanceScope, StoreError};
use crate::manifest::Kind;
use crate::time::Micros;

/// The database's clock in microseconds since the epoch.
const DB_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// The schema, one entry per version; `SCHEMA[i]` takes version `i` to `i + 1`.
const SCHEMA: &[&str] = &[r#"
    CREATE TABLE modules (
        digest      TEXT PRIMARY KEY,
        component   BOOLEAN NOT NULL,
        bytes       BYTEA NOT NULL,
        created_at  BIGINT NOT NULL
    );
    CREATE TABLE objects (
        uid         TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        namespace   TEXT NOT NULL,
        name        TEXT NOT NULL,
        labels      TEXT NOT NULL,
        manifest    TEXT NOT NULL,
        status      TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        deleted_at  BIGINT,
        expires_at  BIGINT,
        -- The node that runs this Job or CronJob now (NULL: none yet).
        owner_node  TEXT,
        -- Grows with every manifest change, so the owner sees an update
        -- applied through another node.
        generation  BIGINT NOT NULL DEFAULT 1,
        -- A Job that is Complete or Failed: nobody needs to own it.
        finished    BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE UNIQUE INDEX objects_live ON objects(kind, namespace, name) WHERE deleted_at IS NULL;
    CREATE INDEX objects_owner ON objects(owner_node) WHERE deleted_at IS NULL AND NOT finished;
    CREATE TABLE instances (
        uid              TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        namespace        TEXT NOT NULL,
        owner_uid        TEXT NOT NULL,
        completion_index BIGINT,
        labels           TEXT NOT NULL,
        phase            TEXT NOT NULL,
        exit_code        INTEGER,
        reason           TEXT,
        message          TEXT,
        node_name        TEXT NOT NULL,
        restart_count    BIGINT NOT NULL DEFAULT 0,
        created_at       BIGINT NOT NULL,
        start_time       BIGINT,
        finish_time      BIGINT,
        deleted_at       BIGINT
    );
    CREATE INDEX instances_owner ON instances(owner_uid);
    CREATE INDEX instances_name ON instances(namespace, name);
    CREATE INDEX instances_unfinished ON instances(node_name) WHERE finish_time IS NULL;
    CREATE TABLE logs (
        instance_uid TEXT NOT NULL,
        attempt      BIGINT NOT NULL,
        data         BYTEA NOT NULL,
        truncated    BOOLEAN NOT NULL,
        PRIMARY KEY (instance_uid, attempt)
    );
    CREATE TABLE events (
        id          BIGSERIAL PRIMARY KEY,
        object_uid  TEXT NOT NULL,
        type        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        time        BIGINT NOT NULL
    );
    CREATE INDEX events_object ON events(object_uid);
    -- One row per (CronJob, scheduled time): a scheduled time runs at most
    -- once in the whole cluster.
    CREATE TABLE cron_runs (
        cronjob_uid    TEXT NOT NULL,
        scheduled_time BIGINT NOT NULL,
        job_uid        TEXT,
        PRIMARY KEY (cronjob_uid, scheduled_time)
    );
    CREATE TABLE log_records (
        instance_uid TEXT NOT NULL,
        attempt      BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        time         BIGINT NOT NULL,
        level        TEXT NOT NULL,
        message      TEXT NOT NULL,
        fields       TEXT NOT NULL,
        PRIMARY KEY (instance_uid, attempt, seq)
    );
    -- Cluster-wide settings: the API token every node answers to.
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE nodes (
        name         TEXT PRIMARY KEY,
        labels       TEXT NOT NULL,
        capacity     BIGINT NOT NULL,
        version      TEXT NOT NULL,
        address      TEXT NOT NULL,
        joined_at    BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL
    );
"#];

/// Any constant: the advisory lock that lets one node migrate at a time.
const MIGRATION_LOCK: i64 = 0x0077_6173_6d6a_6f62;

/// A node as the `nodes` table has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// `--node-name`.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Instances it runs at once at most.
    pub capacity: u32,
    /// The wasmjob version it runs.
    pub version: String,
    /// Where its API listens.
    pub address: String,
    /// When it first joined.
    pub joined_at: Micros,
    /// Its last heartbeat, by the database's clock.
    pub heartbeat_at: Micros,
    /// Heartbeating within the grace period.
    pub ready: bool,
}

/// An object a node may take over: nobody runs it, or its node was lost.
#[derive(Debug, Clone)]
pub struct Claimable {
    /// The object.
    pub record: ObjectRecord,
    /// The node that ran it, if any (a lost one).
    pub owner: Option<String>,
}

/// What the owner of an object must notice: a change or deletion made
/// through another node, or the object taken by another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The object.
    pub uid: String,
    /// Its manifest generation.
    pub generation: i64,
    /// Deleted.
    pub deleted: bool,
    /// Who owns it now.
    pub owner: Option<String>,
}

/// A connection to the cluster's database.
pub struct Pg {
    url: String,
    /// The node this process is; new Jobs and CronJobs it records are its own.
    node: String,
    client: Mutex<Option<Client>>,
}

fn pg_error(url: &str, source: postgres::Error) -> StoreError {
    StoreError::Postgres {
        url: redact(url),
        source,
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialize to JSON")
}

/// A JSON column; what wasmjob wrote always reads back, and anything else
/// reads as empty rather than failing the whole listing.
fn json_column<T: for<'de> serde::Deserialize<'de> + Default>(row: &Row, idx: usize) -> T {
    let text: &str = row.get(idx);
    serde_json::from_str(text).unwrap_or_default()
}

const OBJECT_SELECT: &str = "SELECT uid, kind, namespace, name, labels, manifest, status, created_at, deleted_at FROM objects";

const INSTANCE_SELECT: &str = "SELECT uid, name, namespace, owner_uid, completion_index, labels, phase,
    exit_code, reason, message, node_name, restart_count, created_at, start_time, finish_time FROM instances";

fn object_row(row: &Row) -> Option<ObjectRecord> {
    let kind = match row.get::<_, &str>(1) {
        "Job" => Kind::Job,
        "CronJob" => Kind::CronJob,
        "DaemonSet" => Kind::DaemonSet,
        _ => return None,
    };
    Some(ObjectRecord {
        uid: row.get(0),
        kind,
        namespace: row.get(2),
        name: row.get(3),
        labels: json_column(row, 4),
        manifest: serde_json::from_str(row.get(5)).unwrap_or_default(),
        status: serde_json::from_str(row.get(6)).unwrap_or_default(),
        created_at: row.get(7),
        deleted_at: row.get(8),
    })
}

fn instance_row(row: &Row) -> Option<InstanceRecord> {
    Some(InstanceRecord {
        uid: row.get(0),
        name: row.get(1),
        namespace: row.get(2),
        owner_uid: row.get(3),
        completion_index: row.get::<_, Option<i64>>(4).map(|i| i as u32),
        labels: json_column(row, 5),
        phase: Phase::parse(row.get(6))?,
        exit_code: row.get(7),
        reason: row.get(8),
        message: row.get(9),
        node_name: row.get(10),
        restart_count: row.get::<_, i64>(11) as u32,
        created_at: row.get(12),
        start_time: row.get(13),
        finish_time: row.get(14),
    })
}

fn node_row(row: &Row) -> NodeRecord {
    NodeRecord {
        name: row.get(0),
        labels: json_column(row, 1),
        capacity: row.get::<_, i64>(2) as u32,
        version: row.get(3),
        address: row.get(4),
        joined_at: row.get(5),
        heartbeat_at: row.get(6),
        ready: row.get(7),
    }
}

/// Whether a Job's status says it has ended.
fn finished(status: &serde_json::Value) -> bool {
    status["conditions"].as_array().is_some_and(|conditions| {
        conditions.iter().any(|c| {
            matches!(c["type"].as_str(), Some("Complete" | "Failed"))
                && c["status"].as_str() == Some("True")
        })
    })
}

impl Pg {
    /// Connects to the cluster's database and brings its schema up to date.
    pub fn connect(url: &str, node: &str) -> Result<Pg, StoreError> {
        let pg = Pg {
            url: url.to_owned(),
            node: node.to_owned(),
            client: Mutex::new(None),
        };
        pg.with(|client| {
            let mut tx = client.transaction()?;
            // Three nodes starting at once: one migrates, the others wait.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS wasmjob_schema (version BIGINT NOT NULL)",
            )?;
            let found: Option<i64> = tx
                .query_opt("SELECT version FROM wasmjob_schema", &[])?
                .map(|r| r.get(0));
            tx.commit()?;
            Ok(found)
        })
        .and_then(|found| pg.migrate(found))?;
        Ok(pg)
    }

    fn migrate(&self, found: Option<i64>) -> Result<(), StoreError> {
        let known = SCHEMA.len() as i64;
        if let Some(found) = found
            && found > known
        {
            return Err(StoreError::TooNew {
                path: redact(&self.url).into(),
                found,
                known,
            });
        }
        self.with(|client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            let found: i64 = tx
                .query_opt("SELECT version FROM wasmjob_schema", &[])?
                .map_or(0, |r| r.get(0));
            for sql in SCHEMA.iter().skip(found as usize) {
                tx.batch_execute(sql)?;
            }
            if found == 0 {
                tx.execute(
                    "INSERT INTO wasmjob_schema (version) VALUES ($1)",
                    &[&known],
                )?;
            } else {
                tx.execute("UPDATE wasmjob_schema SET version = $1", &[&known])?;
            }
            tx.commit()
        })
    }

    /// Runs `f` on the connection, opening it first if it is not open.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .client
            .lock()
            .expect("the client lock is never poisoned");
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(Client::connect(&self.url, NoTls).map_err(|e| pg_error(&self.url, e))?);
        }
        let client = slot.as_mut().expect("opened above");
        let result = f(client);
        if result.is_err() && client.is_closed() {
            *slot = None;
        }
        result.map_err(|e| pg_error(&self.url, e))
    }

    /// The database URL, password hidden.
    pub fn describe(&self) -> String {
        redact(&self.url)
    }

    /// Stores module bytes under their digest (idempotent).
    pub fn put_module(
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
    pub fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT bytes FROM modules WHERE digest = $1", &[&digest])?
                    .map(|r| r.get(0)),
            )
        })
    }

    /// Commits a batch of writes in one transaction. A CronJob time that
    /// another node decided differently is a [`StoreError::Conflict`], and
    /// nothing of the batch is written.
    pub fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let node = self.node.clone();
        let conflict = self.with(|client| {
            let mut tx = client.transaction()?;
            for write in writes {
                if let Some(conflict) = apply(&mut tx, write, &node)? {
                    return Ok(Some(conflict));
                }
            }
            tx.commit()?;
            Ok(None)
        })?;
        match conflict {
            None => Ok(()),
            Some(detail) => Err(StoreError::Conflict { detail }),
        }
    }

    /// The live object of this kind and name, if any.
    pub fn live_object(
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
    pub fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        self.with(|c| {
            let sql = format!(
                "{OBJECT_SELECT} WHERE kind = $1 AND deleted_at IS NULL
                 AND ($2::text IS NULL OR namespace = $2) ORDER BY created_at, uid"
            );
            let rows = c.query(&sql, &[&kind.as_str() as &Param<'_>, &namespace])?;
            Ok(rows.iter().filter_map(object_row).collect())
        })
    }

    /// The instances of live objects that may match `scope`, oldest first.
    pub fn live_instances_in(
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
    pub fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError> {
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
    pub fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.with(|c| {
            let sql = format!("{OBJECT_SELECT} WHERE uid = $1");
            Ok(c.query_opt(&sql, &[&uid])?.as_ref().and_then(object_row))
        })
    }

    /// Every instance an object owns, oldest first.
    pub fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        self.with(|c| {
            let sql = format!("{INSTANCE_SELECT} WHERE owner_uid = $1 ORDER BY created_at, name");
            Ok(c.query(&sql, &[&owner_uid])?
                .iter()
                .filter_map(instance_row)
                .collect())
        })
    }

    /// Every attempt's log of an instance, oldest first.
    pub fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
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
    pub fn log_records(
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
    pub fn cron_runs(
        &self,
        cronjob_uid: &str,
    ) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
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
    pub fn delete_expired(&self, now: Micros) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE objects SET deleted_at = expires_at
                 WHERE expires_at <= $1 AND deleted_at IS NULL",
                &[&now],
            )
            .map(|n| n as usize)
        })
    }

    // --- the cluster: nodes, heartbeats, ownership ---

    /// Registers this node (or registers it again after a restart) with a
    /// fresh heartbeat.
    pub fn register_node(
        &self,
        labels: &BTreeMap<String, String>,
        capacity: u32,
        address: &str,
    ) -> Result<(), StoreError> {
        let node = self.node.clone();
        let labels = json_text(labels);
        let version = env!("CARGO_PKG_VERSION");
        let capacity = i64::from(capacity);
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO nodes (name, labels, capacity, version, address, joined_at, heartbeat_at)
                     VALUES ($1, $2, $3, $4, $5, {DB_NOW}, {DB_NOW})
                     ON CONFLICT (name) DO UPDATE SET labels = excluded.labels,
                        capacity = excluded.capacity, version = excluded.version,
                        address = excluded.address, heartbeat_at = excluded.heartbeat_at"
                ),
                &[&node as &Param<'_>, &labels, &capacity, &version, &address],
            )
            .map(drop)
        })
    }

    /// The cluster's API token: the one stored by the first node to join,
    /// which is `mine` when this node is the first. Every node answers to
    /// it, so a client's token works with any node.
    pub fn cluster_token(&self, mine: &str) -> Result<String, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES ('token', $1) ON CONFLICT DO NOTHING",
                &[&mine],
            )?;
            Ok(
                c.query_one("SELECT value FROM settings WHERE key = 'token'", &[])?
                    .get(0),
            )
        })
    }

    /// This node's heartbeat; returns its labels as stored (another node's
    /// API may have changed them).
    pub fn heartbeat(&self) -> Result<Option<BTreeMap<String, String>>, StoreError> {
        let node = self.node.clone();
        self.with(|c| {
            let row = c.query_opt(
                &format!(
                    "UPDATE nodes SET heartbeat_at = {DB_NOW} WHERE name = $1 RETURNING labels"
                ),
                &[&node],
            )?;
            Ok(row.map(|r| json_column(&r, 0)))
        })
    }

    /// Every node, by name; `ready` when its last heartbeat is within `grace`.
    pub fn nodes(&self, grace: std::time::Duration) -> Result<Vec<NodeRecord>, StoreError> {
        let grace = grace.as_micros() as i64;
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT name, labels, capacity, version, address, joined_at, heartbeat_at,
                        heartbeat_at >= {DB_NOW} - $1 FROM nodes ORDER BY name"
                ),
                &[&grace],
            )?;
            Ok(rows.iter().map(node_row).collect())
        })
    }

    /// Sets a node's labels; `false` if there is no such node.
    pub fn set_node_labels(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let labels = json_text(labels);
        self.with(|c| {
            c.execute(
                "UPDATE nodes SET labels = $2 WHERE name = $1",
                &[&name as &Param<'_>, &labels],
            )
            .map(|n| n == 1)
        })
    }

    /// Jobs and CronJobs this node may take: unowned, or owned by a node
    /// whose heartbeat is older than `grace`. Locked rows (another node is
    /// taking them now) are skipped.
    pub fn claimable(&self, grace: std::time::Duration) -> Result<Vec<Claimable>, StoreError> {
        let grace = grace.as_micros() as i64;
        let me = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            let rows = tx.query(
                &format!(
                    "SELECT uid, kind, namespace, name, labels, manifest, status, created_at,
                        deleted_at, owner_node FROM objects
                     WHERE deleted_at IS NULL AND NOT finished AND kind IN ('Job', 'CronJob')
                       AND (owner_node IS NULL OR (owner_node <> $2 AND owner_node NOT IN
                         (SELECT name FROM nodes WHERE heartbeat_at >= {DB_NOW} - $1)))
                     ORDER BY created_at LIMIT 64 FOR UPDATE SKIP LOCKED"
                ),
                &[&grace as &Param<'_>, &me],
            )?;
            tx.commit()?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    Some(Claimable {
                        record: object_row(r)?,
                        owner: r.get(9),
                    })
                })
                .collect())
        })
    }

    /// Takes `uid` if it is still owned by `previous`: a compare-and-set, so
    /// of two nodes trying at once exactly one gets it.
    pub fn claim(&self, uid: &str, previous: Option<&str>) -> Result<bool, StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            c.execute(
                "UPDATE objects SET owner_node = $3 WHERE uid = $1
                 AND owner_node IS NOT DISTINCT FROM $2 AND deleted_at IS NULL",
                &[&uid as &Param<'_>, &previous, &me],
            )
            .map(|n| n == 1)
        })
    }

    /// Gives up `uid` (this node cannot run it) so a node that can takes it.
    pub fn release(&self, uid: &str) -> Result<(), StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            c.execute(
                "UPDATE objects SET owner_node = NULL WHERE uid = $1 AND owner_node = $2",
                &[&uid as &Param<'_>, &me],
            )
            .map(drop)
        })
    }

    /// The current generation, deletion and owner of the given objects.
    pub fn ownership(&self, uids: &[String]) -> Result<Vec<Ownership>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT uid, generation, deleted_at IS NOT NULL, owner_node FROM objects
                 WHERE uid = ANY($1)",
                &[&uids],
            )?;
            Ok(rows
                .iter()
                .map(|r| Ownership {
                    uid: r.get(0),
                    generation: r.get(1),
                    deleted: r.get(2),
                    owner: r.get(3),
                })
                .collect())
        })
    }

    /// The daemon instances of nodes whose heartbeat is older than `grace`
    /// end (`NodeLost`) and are removed, as Kubernetes removes a lost
    /// node's DaemonSet pods; returns how many.
    pub fn drop_lost_daemons(
        &self,
        grace: std::time::Duration,
        now: Micros,
    ) -> Result<u64, StoreError> {
        let grace = grace.as_micros() as i64;
        self.with(|c| {
            c.execute(
                &format!(
                    "UPDATE instances SET phase = 'Failed', reason = 'NodeLost',
                        message = 'the node stopped sending heartbeats', finish_time = $2,
                        deleted_at = $2
                     WHERE finish_time IS NULL AND deleted_at IS NULL
                       AND node_name NOT IN (SELECT name FROM nodes WHERE heartbeat_at >= {DB_NOW} - $1)
                       AND owner_uid IN (SELECT uid FROM objects WHERE kind = 'DaemonSet')"
                ),
                &[&grace, &now],
            )
        })
    }
}

/// Carries out one write; `Some(detail)` for a conflict that must undo the
/// whole batch.
fn apply(
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
        Write::Instance(i) => {
            exec(
                tx,
                "INSERT INTO instances (uid, name, namespace, owner_uid, completion_index, labels,
                    phase, exit_code, reason, message, node_name, restart_count, created_at,
                    start_time, finish_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (uid) DO UPDATE SET phase = excluded.phase,
                    exit_code = excluded.exit_code, reason = excluded.reason,
                    message = excluded.message, node_name = excluded.node_name,
                    restart_count = excluded.restart_count, start_time = excluded.start_time,
                    finish_time = excluded.finish_time",
                &[
                    &i.uid,
                    &i.name,
                    &i.namespace,
                    &i.owner_uid,
                    &i.completion_index.map(i64::from),
                    &json_text(&i.labels),
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
        }
        Write::Log {
            instance_uid,
            attempt,
            data,
            truncated,
        } => {
            exec(
                tx,
                "INSERT INTO logs (instance_uid, attempt, data, truncated) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (instance_uid, attempt) DO UPDATE SET data = excluded.data,
                    truncated = excluded.truncated",
                &[instance_uid, &i64::from(*attempt), data, truncated],
            )?;
        }
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
