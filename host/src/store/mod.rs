//! The history store: SQLite through rusqlite, in WAL mode, with versioned
//! migrations. It holds objects (spec, status, labels), instances, every
//! attempt's logs, events, and module bytes.
//!
//! Writes arrive as batches of [`Write`]s committed in one transaction, so a
//! Job of ten thousand instances costs a few hundred commits, not ten thousand.
//! `synchronous = NORMAL` in WAL mode survives a crash of the process without
//! an fsync per commit; a power cut may lose the last commits, never corrupt.

mod checkpoints;
mod control;
pub mod labels;
mod migrations;
mod postgres;
mod records;
#[cfg(test)]
pub mod tests;
mod wal;

pub use checkpoints::Checkpoints;
pub use control::{
    Approval, Changes, Claimable, ControlPlane, Listening, NodeRecord, Noticed, Offered, Ownership,
};
pub use postgres::redact as redact_url;
pub use records::{EventRecord, InstanceRecord, ObjectRecord, ObjectText, Write};

use records::LabelsText;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::manifest::Kind;
use crate::time::Micros;

/// Which live instances a query is about, when it names them: lets the
/// store use an index instead of reading every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceScope<'a> {
    /// Every instance.
    All,
    /// Those of the live Job(s) of this name.
    OfJob(&'a str),
    /// The instance(s) of this name.
    Named(&'a str),
}

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is not an SQLite database, or SQLite found it damaged.
    #[error(
        "state database {path} is corrupted or is not a database ({detail}). It was not \
         modified: restore it from a backup, or move it aside to start with an empty history"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
    },
    /// An SQLite database that some other program made.
    #[error(
        "state database {path} is an SQLite database that wasmjob did not make (it has tables \
         but no wasmjob schema version). It was not modified: use another --state-dir"
    )]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// The database cannot be written now (a full disk, a read-only file
    /// system); a node holds what it must write and takes no new work.
    #[error(
        "cannot write the state database {path} ({detail}): free disk space, or make the file \
         system writable"
    )]
    Unwritable {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        detail: String,
    },
    /// PostgreSQL failed (the cluster store).
    #[error("cluster database {url}: {source}")]
    Postgres {
        /// The database URL, password hidden.
        url: String,
        /// The client's error.
        source: ::postgres::Error,
    },
    /// The cluster's database does not answer; a node holds its writes.
    #[error(
        "cannot reach the cluster database {url} ({detail}): check that PostgreSQL runs and \
         this machine reaches it"
    )]
    Unreachable {
        /// The database URL, password hidden.
        url: String,
        /// The client's error.
        detail: String,
    },
    /// Another node decided what this batch decides (a CronJob's scheduled
    /// time); nothing of the batch was written.
    #[error("{detail}")]
    Conflict {
        /// What was decided elsewhere.
        detail: String,
    },
    /// The file was written by a newer wasmjob.
    #[error(
        "state database {path} has schema version {found}, newer than this wasmjob knows \
         ({known}); upgrade wasmjob or use another --state-dir. It was not modified."
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The file's version.
        found: i64,
        /// The newest this binary knows.
        known: i64,
    },
}

impl StoreError {
    /// A failure that goes away with the condition that caused it (space
    /// freed, the file system writable again, another writer done) rather
    /// than a damaged file or a bug.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::{
            CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly, SystemIoFailure,
        };
        match self {
            StoreError::Unwritable { .. } | StoreError::Unreachable { .. } => true,
            // No answer from the server (it restarts, the network is down):
            // the node waits for it as for a full disk.
            StoreError::Postgres { source, .. } => source.as_db_error().is_none(),
            StoreError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(
                    DiskFull
                        | ReadOnly
                        | SystemIoFailure
                        | CannotOpen
                        | DatabaseBusy
                        | DatabaseLocked
                )
            ),
            _ => false,
        }
    }

    /// This error as the node reports a store it cannot write.
    pub fn unwritable(&self) -> StoreError {
        match self {
            StoreError::Sqlite { path, source } => StoreError::Unwritable {
                path: path.clone(),
                detail: source.to_string(),
            },
            StoreError::Unwritable { path, detail } => StoreError::Unwritable {
                path: path.clone(),
                detail: detail.clone(),
            },
            StoreError::Postgres { url, source } => StoreError::Unreachable {
                url: url.clone(),
                detail: source.to_string(),
            },
            StoreError::Unreachable { url, detail } => StoreError::Unreachable {
                url: url.clone(),
                detail: detail.clone(),
            },
            other => StoreError::Unwritable {
                path: PathBuf::new(),
                detail: other.to_string(),
            },
        }
    }

    /// SQLite's error, as the kind of failure the user must act on.
    fn from_sqlite(path: &Path, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match source.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: source.to_string(),
            },
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// What every connection to a state database is set to: WAL with
/// `synchronous = NORMAL` (no fsync per commit; a crash of the process
/// loses nothing committed), waiting up to `busy_ms` for another writer,
/// the WAL copied back rarely (a hot page is copied once per checkpoint
/// rather than once per thousand frames), and no checkpoint when the
/// connection closes: that checkpoint fsyncs twice, which was a third of a
/// short `wasmjob run`. The store checkpoints when it closes only once the
/// WAL has grown past [`WAL_KEPT`] (see its `Drop`); a store's writer
/// connection checkpoints in the background instead (see [`wal`]).
pub(crate) fn configure_connection(conn: &Connection, busy_ms: u32) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = {busy_ms};
         PRAGMA wal_autocheckpoint = 8192;"
    ))?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    plan_once(conn)
}

/// Statements are planned once, not again for every value bound to them.
/// SQLite's planner may look at a bound value and then marks the statement
/// to be compiled again whenever that parameter is bound anew: [`LOGS`],
/// run once per instance, was parsed and planned again at every call, 999
/// times for `logs job/X` of a 1,000-instance Job, two thirds of the
/// server's CPU for it. Nothing here gains from value-dependent plans: no `LIKE`,
/// no `ANALYZE` statistics.
fn plan_once(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Every attempt's log of an instance ?1, oldest first. The first attempt's
/// output is in the instance's row (schema 6), or in `logs` with the others;
/// the view reads both.
const LOGS: &str =
    "SELECT attempt, data FROM attempt_logs WHERE instance_uid = ?1 ORDER BY attempt";

/// Every live object of kind ?1, in namespace ?2 or all, oldest first.
static LIVE_OBJECTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} WHERE kind = ?1 AND deleted_at IS NULL AND (?2 IS NULL OR namespace = ?2) ORDER BY created_at",
        records::OBJECT_SELECT
    )
});

/// The WAL a store leaves behind when it closes, in pages: 512 KiB. The
/// next process reads back every frame since the log last started over
/// when it opens the file, so it is kept small, and the checkpoint that
/// starts it over (with its fsyncs) is paid by one run in many.
const WAL_KEPT: i32 = 128;

/// An open store.
pub struct Store {
    /// The SQLite file. In cluster mode, the node's own file, which keeps
    /// what stays on the node: checkpoints and the embedded queue.
    conn: Connection,
    path: PathBuf,
    /// The cluster's database, which then holds everything else.
    pg: Option<std::sync::Arc<postgres::Pg>>,
    /// The instance labels last written, as JSON.
    labels_text: LabelsText,
    /// A writer's checkpoints in the background (see [`wal`]).
    wal: Option<std::sync::Arc<wal::Background>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close_log();
    }
}

impl Store {
    /// What closing the store does for the next process to open the file:
    /// the background checkpoints stop, and a WAL that has grown is
    /// checkpointed and started over. Idempotent.
    fn close_log(&self) {
        if let Some(wal) = &self.wal {
            wal.stop();
        }
        if self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return;
        }
        let grown = self.wal.as_ref().is_some_and(|w| w.frames() > WAL_KEPT);
        if grown {
            // Checkpointed, then started over by one small write (the
            // schema version, written again), instead of truncated: freeing
            // the file's blocks took as long here as the checkpoint's two
            // fsyncs (ext4 with discard), and the next process reads back
            // only the frames after the restart. The file keeps its size,
            // which later writes reuse. Errors only leave the WAL as it is,
            // which is never wrong.
            let restart = format!(
                "PRAGMA wal_checkpoint(RESTART); PRAGMA user_version = {};",
                migrations::MIGRATIONS.len()
            );
            let _ = self.conn.execute_batch(&restart);
        }
    }

    /// Closes the store of a process that exits next: the WAL is left as
    /// [`Drop`] leaves it, but the connection is not closed, since the
    /// exit releases its locks and files. Closing it changes nothing in
    /// the files (the connection skips SQLite's checkpoint on close), and
    /// freeing its page cache and statements and unmapping the WAL index
    /// was 7% of a one-instance `wasmjob run`.
    pub fn close_at_exit(self) {
        self.close_log();
        std::mem::forget(self);
    }

    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| {
            let e = StoreError::from_sqlite(path, e);
            if e.is_transient() { e.unwritable() } else { e }
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            pg: None,
            labels_text: LabelsText::default(),
            wal: None,
        };
        // Refuse a file that is not ours before changing anything in it (the
        // journal mode is written to the file's header).
        let opened = (|| {
            store.refuse_unknown()?;
            store.configure()?;
            store.migrate()?;
            store.check_writable()
        })();
        // "unable to open database file" says little on a read-only or full
        // file system; say what to do.
        opened.map_err(|e| if e.is_transient() { e.unwritable() } else { e })?;
        Ok(store)
    }

    /// Opens an existing database for reading only (the API's connections);
    /// the node's runner is the one writer.
    pub fn open_readonly(path: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::from_sqlite(path, e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            pg: None,
            labels_text: LabelsText::default(),
            wal: None,
        };
        let r = store.conn.busy_timeout(std::time::Duration::from_secs(5));
        store.sql(r)?;
        store.sql(plan_once(&store.conn))?;
        Ok(store)
    }

    /// A node of a cluster: records in the PostgreSQL database at `url`,
    /// as node `node`; `local` is the node's own SQLite file (opened as
    /// [`Store::open`] does) for checkpoints and the embedded queue.
    pub fn cluster(url: &str, node: &str, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open(local)?;
        store.pg = Some(std::sync::Arc::new(postgres::Pg::connect(url, node)?));
        Ok(store)
    }

    /// A reader of the cluster's database (the API's connections).
    pub fn cluster_readonly(url: &str, node: &str, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open_readonly(local)?;
        store.pg = Some(std::sync::Arc::new(postgres::Pg::connect(url, node)?));
        Ok(store)
    }

    /// The control plane of the cluster this store is shared by, if it is.
    pub fn control_plane(&self) -> Option<std::sync::Arc<dyn ControlPlane>> {
        let pg = self.pg.clone()?;
        Some(pg)
    }

    /// The database file (the node's own file in cluster mode).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql<T>(&self, result: rusqlite::Result<T>) -> Result<T, StoreError> {
        result.map_err(|source| StoreError::from_sqlite(&self.path, source))
    }

    /// Whether the query finds a row: a read that lets a write which would
    /// change nothing be skipped, with the write transaction it would open.
    fn any(&self, query: &str, params: impl rusqlite::Params) -> Result<bool, StoreError> {
        let found = self
            .conn
            .prepare_cached(query)
            .and_then(|mut stmt| stmt.exists(params));
        self.sql(found)
    }

    /// Reads every page of the database and checks its structure (SQLite's
    /// `quick_check`): what `serve` does at start, so a damaged history is
    /// found before the node runs anything rather than halfway through a
    /// Job. Linear in the size of the file.
    pub fn check(&self) -> Result<(), StoreError> {
        let found: String = {
            let r = self
                .conn
                .query_row("PRAGMA quick_check(1)", [], |r| r.get(0));
            self.sql(r)?
        };
        if found == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: found,
            })
        }
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let result = configure_connection(&self.conn, 5000).and_then(|()| {
            self.conn.execute_batch(
                "PRAGMA foreign_keys = ON;
                 -- A history of millions of instances keeps its index pages
                 -- in memory (the default cache is 2 MiB).
                 PRAGMA cache_size = -65536;",
            )
        });
        self.sql(result)?;
        // This connection writes: its checkpoints run in the background.
        let wal = wal::Background::new(&self.path);
        let watched = wal.watch(&mut self.conn);
        self.sql(watched)?;
        self.wal = Some(wal);
        Ok(())
    }

    /// A file SQLite could only open to read (a read-only file system that
    /// keeps the WAL of the last run, so reading works) is refused now, not
    /// at the first write.
    fn check_writable(&self) -> Result<(), StoreError> {
        let read_only = self.conn.is_readonly(rusqlite::MAIN_DB);
        if self.sql(read_only)? {
            return Err(StoreError::Unwritable {
                path: self.path.clone(),
                detail: "it can only be opened to read".into(),
            });
        }
        Ok(())
    }

    /// A damaged file, some other program's database, or one of a newer
    /// wasmjob: each refused with the file left as it was.
    fn refuse_unknown(&self) -> Result<(), StoreError> {
        let known = migrations::MIGRATIONS.len() as i64;
        let found: i64 = {
            let r = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0));
            self.sql(r)?
        };
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        if found == 0 {
            // A new file is empty; one with tables but no version is some
            // other program's, which migrating would quietly add to.
            let tables: i64 = {
                let r = self
                    .conn
                    .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0));
                self.sql(r)?
            };
            if tables > 0 {
                return Err(StoreError::Foreign {
                    path: self.path.clone(),
                });
            }
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found: i64 = {
            let r = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0));
            self.sql(r)?
        };
        for (version, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let path = self.path.clone();
            let wrap = |source| StoreError::from_sqlite(&path, source);
            let tx = self.conn.transaction().map_err(wrap)?;
            tx.execute_batch(sql).map_err(wrap)?;
            tx.pragma_update(None, "user_version", version as i64 + 1)
                .map_err(wrap)?;
            tx.commit().map_err(wrap)?;
        }
        Ok(())
    }

    /// Stores module bytes under their digest (idempotent).
    pub fn put_module(
        &self,
        digest: &str,
        component: bool,
        bytes: &[u8],
        now: Micros,
    ) -> Result<(), StoreError> {
        if let Some(pg) = &self.pg {
            return pg.put_module(digest, component, bytes, now);
        }
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
    pub fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.module(digest);
        }
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

    /// At a runner's start: embedded-queue items held by instances this
    /// file does not record as running go back (see
    /// [`crate::queue::EmbeddedQueue::release_unrecorded`]), on the store's
    /// own connection.
    pub fn release_unrecorded_queue_items(&self) -> Result<usize, StoreError> {
        // Usually nothing is held: a read through the holder index finds
        // that without the write transaction the UPDATE would open.
        if !self.any("SELECT 1 FROM queue_items WHERE holder IS NOT NULL", [])? {
            return Ok(0);
        }
        let released = self.conn.execute(crate::queue::RELEASE_UNRECORDED, []);
        self.sql(released)
    }

    /// Commits a batch of writes in one transaction.
    pub fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        if let Some(pg) = &self.pg {
            pg.commit(writes)?;
            // What stays on the node, once the cluster has the rest.
            let local: Vec<Write> = writes
                .iter()
                .filter(|w| matches!(w, Write::QueueDone { .. }))
                .cloned()
                .collect();
            if local.is_empty() {
                return Ok(());
            }
            return self.commit_local(&local);
        }
        self.commit_local(writes)
    }

    fn commit_local(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        // BEGIN and COMMIT as cached statements: the runner commits a few
        // hundred times a second, and parsing them each time showed.
        let conn = &self.conn;
        let labels = &mut self.labels_text;
        let mut batch = || -> rusqlite::Result<Option<String>> {
            conn.prepare_cached("BEGIN")?.execute([])?;
            for write in writes {
                if let Some(detail) = records::apply(conn, write, labels)? {
                    return Ok(Some(detail));
                }
            }
            conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(None)
        };
        let result = batch();
        if !conn.is_autocommit() {
            // A conflict or an error: nothing of the batch stays.
            let _ = conn.execute_batch("ROLLBACK");
        }
        match result {
            Ok(None) => Ok(()),
            Ok(Some(detail)) => Err(StoreError::Conflict { detail }),
            Err(source) => Err(StoreError::from_sqlite(&self.path, source)),
        }
    }

    /// The live object of this kind and name, if any.
    pub fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.live_object(kind, namespace, name);
        }
        let r = self
            .conn
            .query_row(
                &format!(
                    "{} WHERE kind = ?1 AND namespace = ?2 AND name = ?3 AND deleted_at IS NULL",
                    records::OBJECT_SELECT
                ),
                params![kind.as_str(), namespace, name],
                records::object_row,
            )
            .optional();
        self.sql(r)
    }

    /// Every live object of a kind, in one namespace or all, oldest first.
    pub fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.live_objects(kind, namespace);
        }
        self.live_object_rows(kind, namespace, records::object_row)
    }

    /// As [`Store::live_objects`], with manifests and statuses as the JSON
    /// text stored, for listings that pass them on unread.
    pub fn live_objects_text(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectText>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.live_objects_text(kind, namespace);
        }
        self.live_object_rows(kind, namespace, records::object_text_row)
    }

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
    pub fn live_instances(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.live_instances_in(namespace, InstanceScope::All);
        }
        let mut stmt = self.sql(self.conn.prepare_cached(&format!(
            "{} WHERE (?1 IS NULL OR namespace = ?1) AND deleted_at IS NULL AND owner_uid IN
               (SELECT uid FROM objects WHERE deleted_at IS NULL) ORDER BY created_at, name",
            records::INSTANCE_SELECT
        )))?;
        let rows = stmt.query_map(params![namespace], records::instance_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// The instances of live objects that may match `scope`, in one namespace
    /// or all, oldest first: an index lookup for a Job's or one instance's
    /// name, so a query about one Job costs the same whatever the history.
    pub fn live_instances_in(
        &self,
        namespace: Option<&str>,
        scope: InstanceScope<'_>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.live_instances_in(namespace, scope);
        }
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
            records::INSTANCE_SELECT
        )))?;
        let rows = stmt.query_map(params![namespace, key], records::instance_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// Events of live objects in a namespace (or all), oldest first.
    pub fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.live_events(namespace);
        }
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT e.object_uid, e.type, e.reason, e.message, e.time FROM events e
             JOIN objects o ON o.uid = e.object_uid
             WHERE o.deleted_at IS NULL AND (?1 IS NULL OR o.namespace = ?1) ORDER BY e.id",
        ))?;
        let rows = stmt.query_map(params![namespace], records::event_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// An object by uid, live or deleted.
    pub fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.object(uid);
        }
        let r = self
            .conn
            .query_row(
                &format!("{} WHERE uid = ?1", records::OBJECT_SELECT),
                [uid],
                records::object_row,
            )
            .optional();
        self.sql(r)
    }

    /// Every instance an object owns, oldest first.
    pub fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.instances_of(owner_uid);
        }
        let mut stmt = self.sql(self.conn.prepare_cached(&format!(
            "{} WHERE owner_uid = ?1 ORDER BY created_at, name",
            records::INSTANCE_SELECT
        )))?;
        let rows = stmt.query_map([owner_uid], records::instance_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// Every attempt's log of an instance, oldest first: (attempt, bytes).
    pub fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.logs(instance_uid);
        }
        let mut stmt = self.sql(self.conn.prepare_cached(LOGS))?;
        let rows = stmt.query_map([instance_uid], |r| Ok((r.get(0)?, r.get(1)?)));
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// An instance's structured log records, by attempt then order.
    pub fn log_records(
        &self,
        instance_uid: &str,
    ) -> Result<Vec<(u32, crate::runtime::LogRecord)>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.log_records(instance_uid);
        }
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT attempt, time, level, message, fields FROM log_records
             WHERE instance_uid = ?1 ORDER BY attempt, seq",
        ))?;
        let rows = stmt.query_map([instance_uid], records::log_record_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// A CronJob's decided times, oldest first: (scheduled time, Job uid if
    /// one was started).
    pub fn cron_runs(
        &self,
        cronjob_uid: &str,
    ) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.cron_runs(cronjob_uid);
        }
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT scheduled_time, job_uid FROM cron_runs WHERE cronjob_uid = ?1 ORDER BY scheduled_time",
        ))?;
        let rows = stmt.query_map([cronjob_uid], |r| Ok((r.get(0)?, r.get(1)?)));
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// Deletes every live object whose `ttlSecondsAfterFinished` ran out by
    /// `now`, as of its expiry time; returns how many. The rows stay as history.
    pub fn delete_expired(&self, now: Micros) -> Result<usize, StoreError> {
        if let Some(pg) = &self.pg {
            return pg.delete_expired(now);
        }
        // Usually nothing has expired: a read through the expiry index
        // finds that without the write transaction the UPDATE would open
        // (every `wasmjob run` starts with this).
        let due = "SELECT 1 FROM objects WHERE expires_at <= ?1 AND deleted_at IS NULL";
        if !self.any(due, [now])? {
            return Ok(0);
        }
        let r = self.conn.execute(
            "UPDATE objects SET deleted_at = expires_at WHERE expires_at <= ?1 AND deleted_at IS NULL",
            [now],
        );
        self.sql(r)
    }
}
