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
//! is opened (and the schema brought up to date) at the first call, and
//! opened again at the next call after it breaks; connecting and every
//! statement give up after a few seconds without an answer, so a node whose
//! link is down learns it quickly and carries on alone.

mod changes;
mod control;
mod daemons;
mod forwarded;
mod leases;
mod nodes;
mod offers;
mod quotas;
mod reads;
mod schema;
mod writes;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};

use super::StoreError;
use super::records::{InstanceRecord, ObjectRecord, Write};
use crate::manifest::Kind;
use crate::manifest::Phase;

/// A query parameter.
type Param<'a> = dyn ToSql + Sync + 'a;

/// The database's clock in microseconds since the epoch.
const DB_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// A connection to the cluster's database.
pub struct Pg {
    url: String,
    /// The node this process is; new Jobs and CronJobs it records are its own.
    node: String,
    client: Mutex<Option<Client>>,
    /// The schema was brought up to date by this process.
    migrated: AtomicBool,
}

/// How long connecting, and any statement's answer, may take before the
/// database counts as unreachable.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

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

const INSTANCE_SELECT: &str =
    "SELECT uid, name, namespace, owner_uid, completion_index, labels, phase,
    exit_code, reason, message, node_name, restart_count, created_at, start_time, finish_time,
    chain_head, chain_budget FROM instances";

/// Every write of an instance's row takes the next number of this
/// sequence, so a Job's owner reads what changed since it last looked.
const NEXT_CHANGE: &str = "nextval('instance_changes')";

fn object_row(row: &Row) -> Option<ObjectRecord> {
    let kind = Kind::parse(row.get(1))?;
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
        labels: std::sync::Arc::new(json_column(row, 5)),
        phase: Phase::parse(row.get(6))?,
        exit_code: row.get(7),
        reason: row.get(8),
        message: row.get(9),
        node_name: row.get(10),
        restart_count: row.get::<_, i64>(11) as u32,
        created_at: row.get(12),
        start_time: row.get(13),
        finish_time: row.get(14),
        chain: row
            .get::<_, Option<String>>(15)
            .map(|head| crate::store::ChainLink {
                head,
                budget: row.get::<_, Option<i64>>(16).unwrap_or(1).max(0) as u32,
            }),
    })
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
    /// The cluster's database at `url`, for node `node`, connected at the
    /// first call.
    pub fn new(url: &str, node: &str) -> Pg {
        Pg {
            url: url.to_owned(),
            node: node.to_owned(),
            client: Mutex::new(None),
            migrated: AtomicBool::new(false),
        }
    }

    /// A new connection, with the timeouts of [`ANSWER_WITHIN`].
    fn open(&self) -> Result<Client, StoreError> {
        let mut config: postgres::Config = self.url.parse().map_err(|e| pg_error(&self.url, e))?;
        config
            // The schema check's `IF NOT EXISTS` notices are not news.
            .options("-c client_min_messages=warning")
            .connect_timeout(ANSWER_WITHIN)
            .tcp_user_timeout(ANSWER_WITHIN)
            .keepalives(true)
            .keepalives_idle(ANSWER_WITHIN);
        // Whatever keeps a connection from opening (no server, no
        // route, no such database yet) is the database being away: a node
        // keeps what it would send until it opens.
        let mut client = config.connect(NoTls).map_err(|e| {
            let detail = match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            };
            StoreError::Unreachable {
                url: redact(&self.url),
                detail,
            }
        })?;
        if !self.migrated.load(Ordering::Acquire) {
            schema::migrate(&mut client, &self.url)?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(client)
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
            *slot = Some(self.open()?);
        }
        let client = slot.as_mut().expect("opened above");
        let result = f(client);
        if result.is_err() && client.is_closed() {
            *slot = None;
        }
        result.map_err(|e| pg_error(&self.url, e))
    }

    /// Whether the database answers.
    pub(in crate::store) fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.simple_query("SELECT 1").map(drop))
    }

    /// The database URL, password hidden.
    pub fn describe(&self) -> String {
        redact(&self.url)
    }

    /// Commits a batch of writes in one transaction. A CronJob time that
    /// another node decided differently is a [`StoreError::Conflict`], and
    /// nothing of the batch is written.
    pub fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let node = self.node.clone();
        let conflict = self.with(|client| {
            let mut tx = client.transaction()?;
            schema::order_changes(&mut tx)?;
            for write in writes {
                if let Some(conflict) = writes::apply(&mut tx, write, &node)? {
                    return Ok(Some(conflict));
                }
            }
            let changes = changes::of(writes, &node).with(crate::store::Changes::RECORDS);
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&changes::CHANNEL, &changes::payload(changes)],
            )?;
            tx.commit()?;
            Ok(None)
        })?;
        match conflict {
            None => Ok(()),
            Some(detail) => Err(StoreError::Conflict { detail }),
        }
    }

    /// The rows of every live object of a kind, in one namespace or all,
    /// oldest first, as [`OBJECT_SELECT`] reads them.
    pub(super) fn live_object_rows(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        self.with(|c| {
            let sql = format!(
                "{OBJECT_SELECT} WHERE kind = $1 AND deleted_at IS NULL
                 AND ($2::text IS NULL OR namespace = $2) ORDER BY created_at, uid"
            );
            c.query(&sql, &[&kind.as_str() as &Param<'_>, &namespace])
        })
    }
}
