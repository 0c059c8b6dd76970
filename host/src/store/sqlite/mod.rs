//! The store in one SQLite file, in WAL mode, with versioned migrations: a
//! single node's whole history, and in a cluster the node's own file
//! (checkpoints and the embedded queue).

mod migrations;
pub(super) mod outbox;
mod reads;
mod rows;
mod wal;
mod writes;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{StoreError, Write};
use writes::LabelsText;

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
pub(in crate::store) const LOGS: &str =
    "SELECT attempt, data FROM attempt_logs WHERE instance_uid = ?1 ORDER BY attempt";

/// Every live object of kind ?1, in namespace ?2 or all, oldest first.
pub(super) static LIVE_OBJECTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} WHERE kind = ?1 AND deleted_at IS NULL AND (?2 IS NULL OR namespace = ?2) ORDER BY created_at",
        rows::OBJECT_SELECT
    )
});

/// The WAL a store leaves behind when it closes, in pages: 512 KiB. The
/// next process reads back every frame since the log last started over
/// when it opens the file, so it is kept small, and the checkpoint that
/// starts it over (with its fsyncs) is paid by one run in many.
pub(in crate::store) const WAL_KEPT: i32 = 128;

/// An open SQLite file.
pub(super) struct Sqlite {
    pub(in crate::store) conn: Connection,
    path: PathBuf,
    /// The instance labels last written, as JSON.
    labels_text: LabelsText,
    /// A writer's checkpoints in the background (see [`wal`]).
    wal: Option<std::sync::Arc<wal::Background>>,
    /// A cluster node's file: every commit names what it changed in the
    /// outbox, for the cluster's database (see [`outbox`]).
    pub(in crate::store) forwarding: bool,
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        self.close_log();
    }
}

/// How many writes a commit that may be asked to stop applies between
/// two looks (see [`Sqlite::commit_until`]): a few hundred microseconds.
const STOP_EVERY: usize = 16;

impl Sqlite {
    /// What closing the store does for the next process to open the file:
    /// the background checkpoints stop, and a WAL that has grown is
    /// checkpointed and started over. Idempotent.
    pub(super) fn close_log(&self) {
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

    /// Opens (creating if needed) the database at `path` and migrates it.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| {
            let e = StoreError::from_sqlite(path, e);
            if e.is_transient() { e.unwritable() } else { e }
        })?;
        let mut store = Sqlite {
            conn,
            path: path.to_path_buf(),
            labels_text: LabelsText::default(),
            wal: None,
            forwarding: false,
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
    pub(super) fn open_readonly(path: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::from_sqlite(path, e))?;
        let store = Sqlite {
            conn,
            path: path.to_path_buf(),
            labels_text: LabelsText::default(),
            wal: None,
            forwarding: false,
        };
        let r = store.conn.busy_timeout(std::time::Duration::from_secs(5));
        store.sql(r)?;
        store.sql(plan_once(&store.conn))?;
        Ok(store)
    }

    /// The database file (the node's own file in cluster mode).
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn sql<T>(&self, result: rusqlite::Result<T>) -> Result<T, StoreError> {
        result.map_err(|source| StoreError::from_sqlite(&self.path, source))
    }

    /// Whether the query finds a row: a read that lets a write which would
    /// change nothing be skipped, with the write transaction it would open.
    pub(super) fn any(
        &self,
        query: &str,
        params: impl rusqlite::Params,
    ) -> Result<bool, StoreError> {
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
    pub(super) fn check(&self) -> Result<(), StoreError> {
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

    /// At a runner's start: embedded-queue items held by instances this
    /// file does not record as running go back (see
    /// [`crate::queue::EmbeddedQueue::release_unrecorded`]), on the store's
    /// own connection.
    pub(super) fn release_unrecorded_queue_items(&self) -> Result<usize, StoreError> {
        // Usually nothing is held: a read through the holder index finds
        // that without the write transaction the UPDATE would open.
        if !self.any("SELECT 1 FROM queue_items WHERE holder IS NOT NULL", [])? {
            return Ok(0);
        }
        let released = self.conn.execute(crate::queue::RELEASE_UNRECORDED, []);
        self.sql(released)
    }

    /// Commits a batch of writes in one transaction; a cluster node's
    /// names them in its outbox too.
    pub(super) fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        self.commit_as(writes, self.forwarding)
    }

    /// Commits a batch that copies what the cluster's database has (an
    /// object taken over, a DaemonSet followed): nothing to send back.
    ///
    /// A copy never undoes an end this file records. The cluster's row can
    /// be older than what this node decided: a Job taken over has its lost
    /// owner's instances ended here at once, and the first look at the
    /// Job's rows in the cluster replays them still running. Copied over,
    /// that row is what the outbox would send in place of the end.
    pub(super) fn mirror(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        let stale = self.undoing_an_end(writes)?;
        if stale.is_empty() {
            return self.commit_as(writes, false);
        }
        let kept: Vec<Write> = (writes.iter().enumerate())
            .filter(|(at, _)| !stale.contains(at))
            .map(|(_, w)| w.clone())
            .collect();
        self.commit_as(&kept, false)
    }

    /// Which of `writes` are copies of instances still running (or offered)
    /// in an attempt this file records as ended.
    fn undoing_an_end(&self, writes: &[Write]) -> Result<Vec<usize>, StoreError> {
        use rusqlite::OptionalExtension as _;
        let mut stale = Vec::new();
        let sql = "SELECT restart_count FROM instances WHERE uid = ?1 AND finish_time IS NOT NULL";
        let mut ended = self.sql(self.conn.prepare_cached(sql))?;
        for (at, write) in writes.iter().enumerate() {
            let Write::Instance(copy) = write else {
                continue;
            };
            if copy.finish_time.is_some() {
                continue;
            }
            let attempt: Option<u32> =
                self.sql(ended.query_row([&copy.uid], |r| r.get(0)).optional())?;
            if attempt.is_some_and(|a| a >= copy.restart_count) {
                stale.push(at);
            }
        }
        Ok(stale)
    }

    fn commit_as(&mut self, writes: &[Write], forward: bool) -> Result<(), StoreError> {
        self.commit_prefix(writes, forward, (&|| false, false))
            .map(drop)
    }

    /// Commits `writes` in one transaction. When `stop` says so (it is
    /// asked every [`STOP_EVERY`] writes) the part applied so far is
    /// committed — or, with `discard`, rolled back, which is quicker than
    /// writing it (its pages were only in memory); how many were committed.
    pub(super) fn commit_until(
        &mut self,
        writes: &[Write],
        stop: &dyn Fn() -> bool,
        discard: bool,
    ) -> Result<usize, StoreError> {
        self.commit_prefix(writes, self.forwarding, (stop, discard))
    }

    fn commit_prefix(
        &mut self,
        writes: &[Write],
        forward: bool,
        stop: (&dyn Fn() -> bool, bool),
    ) -> Result<usize, StoreError> {
        let began = std::time::Instant::now();
        let committed = self.commit_batch(writes, forward, stop);
        crate::metrics::commit_took(began.elapsed());
        if let Ok(count) = committed {
            let writes = &writes[..count];
            super::commits::committed();
            let objects = writes.iter().any(|w| {
                matches!(
                    w,
                    Write::ObjectCreated(_)
                        | Write::ObjectManifest { .. }
                        | Write::ObjectDeleted { .. }
                )
            });
            if objects {
                super::commits::objects_changed();
            }
        }
        committed
    }

    fn commit_batch(
        &mut self,
        writes: &[Write],
        forward: bool,
        (stop, discard): (&dyn Fn() -> bool, bool),
    ) -> Result<usize, StoreError> {
        // BEGIN and COMMIT as cached statements: the runner commits a few
        // hundred times a second, and parsing them each time showed.
        let conn = &self.conn;
        let labels = &mut self.labels_text;
        let mut batch = || -> rusqlite::Result<Result<usize, String>> {
            conn.prepare_cached("BEGIN")?.execute([])?;
            let mut applied = 0;
            for write in writes {
                if applied > 0 && applied % STOP_EVERY == 0 && stop() {
                    if discard {
                        conn.prepare_cached("ROLLBACK")?.execute([])?;
                        return Ok(Ok(0));
                    }
                    break;
                }
                if let Some(detail) = writes::apply(conn, write, labels)? {
                    return Ok(Err(detail));
                }
                if forward {
                    writes::keep_input(conn, write)?;
                    outbox::note(conn, write)?;
                }
                applied += 1;
            }
            conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(Ok(applied))
        };
        let result = batch();
        if !conn.is_autocommit() {
            // A conflict or an error: nothing of the batch stays.
            let _ = conn.execute_batch("ROLLBACK");
        }
        match result {
            Ok(Ok(applied)) => Ok(applied),
            Ok(Err(detail)) => Err(StoreError::Conflict { detail }),
            Err(source) => Err(StoreError::from_sqlite(&self.path, source)),
        }
    }

    /// Makes this file's row of an object what the cluster's database
    /// says (created, changed or deleted there); another live object of
    /// its kind and name goes to history. `held`: this node owns it.
    pub(super) fn mirror_object(
        &mut self,
        record: &super::ObjectRecord,
        held: bool,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let r = self
            .conn
            .transaction()
            .and_then(|tx| writes::object_mirrored(&tx, record, held).and_then(|()| tx.commit()));
        if r.is_ok() {
            super::commits::committed();
            super::commits::objects_changed();
        }
        r.map_err(|source| StoreError::from_sqlite(path, source))
    }

    /// How many records the outbox names.
    pub(super) fn unsent(&self) -> Result<u64, StoreError> {
        let r = self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0));
        self.sql(r).map(|n| n as u64)
    }

    /// The live objects of `kind` this node owns (not mirrors), oldest first.
    pub(super) fn held_objects(
        &self,
        kind: crate::manifest::Kind,
    ) -> Result<Vec<super::ObjectRecord>, StoreError> {
        let sql = format!(
            "{} WHERE kind = ?1 AND deleted_at IS NULL AND mirror = 0 ORDER BY created_at",
            rows::OBJECT_SELECT
        );
        let mut stmt = self.sql(self.conn.prepare_cached(&sql))?;
        let rows = stmt.query_map([kind.as_str()], rows::object_row);
        self.sql(rows.and_then(|r| r.collect()))
    }

    /// At a cluster node's start: instances it ran for other nodes' Jobs
    /// (mirrors) that its file still has running died with the last
    /// process; they end here. The cluster's copy is ended when the node
    /// reaches it (`ControlPlane::end_orphaned`). How many.
    pub(super) fn end_hosted(
        &self,
        node: &str,
        now: crate::time::Micros,
        (reason, message): (&str, &str),
    ) -> Result<usize, StoreError> {
        let r = self.conn.execute(
            "UPDATE instances SET phase = 'Failed', reason = ?2, message = ?3, finish_time = ?4
             WHERE node_name = ?1 AND finish_time IS NULL AND owner_uid IN
                (SELECT uid FROM objects WHERE kind = 'Job' AND mirror = 1)",
            rusqlite::params![node, reason, message, now],
        );
        self.sql(r)
    }

    /// A setting of this node's file (`node_settings`).
    pub(super) fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension as _;
        let r = self
            .conn
            .query_row(
                "SELECT value FROM node_settings WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional();
        self.sql(r)
    }

    /// Sets a setting of this node's file.
    pub(super) fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let r = self.conn.execute(
            "INSERT OR REPLACE INTO node_settings (key, value) VALUES (?1, ?2)",
            [key, value],
        );
        self.sql(r).map(drop)
    }
}
