//! The embedded queue: a table in the node's SQLite store, so a Job can
//! consume a queue with no broker at all. Items are pushed with
//! `wasmjob queue push`, leased with a random token, and deleted when
//! completed. In `stdin` mode the runner deletes the item in the same
//! transaction that records the instance's success, so each item is
//! processed to success exactly once, even across crashes.
//!
//! In `lease` mode the queue leases a few items ahead ([`AHEAD`]) and hands
//! them to the next workers that ask, and a worker's `complete` is kept in
//! memory and its item deleted in the transaction of the next lease that
//! reaches the file (or when the queue is found empty, or closed): a busy
//! queue commits once per [`AHEAD`] items rather than twice per item. Items
//! leased ahead are given back when the queue closes, or when they were not
//! handed out within [`AHEAD_FRESH`]. A crash loses the completions not yet
//! written and keeps the items leased ahead until their leases expire; then
//! they come back to be worked on again: the at-least-once every broker's
//! lease gives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, params};

use super::{Item, QueueError};
use crate::store::Store;
use crate::time::{self, Micros};

/// How many items of one queue wait and are leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Waiting to be leased (including expired leases).
    pub waiting: u64,
    /// Leased now.
    pub leased: u64,
}

// The hot statements below are compiled once per connection, whatever is
// bound to them, because every store connection plans once
// (`store::plan_once`); before that, SQLite (built with STAT4) compiled
// them again on every run with a new queue name or LIMIT, which cost more
// than the lease itself.

/// Leases the ?6 oldest waiting items: ?1 queue, ?2 now, ?3 token, ?4 until,
/// ?5 holder.
const LEASE: &str = "UPDATE queue_items SET token = ?3, lease_until = ?4, holder = ?5
    WHERE id IN (SELECT id FROM queue_items
                 WHERE queue = ?1 AND (token IS NULL OR lease_until < ?2)
                 ORDER BY id LIMIT ?6)
    RETURNING id, body";

/// Gives a leased row (?1, token ?2) back.
const RELEASE: &str = "UPDATE queue_items SET token = NULL, lease_until = NULL, holder = NULL
    WHERE id = ?1 AND token = ?2";

/// Gives back every item held by an instance not recorded as running.
pub(crate) const RELEASE_UNRECORDED: &str =
    "UPDATE queue_items SET token = NULL, lease_until = NULL, holder = NULL
     WHERE holder IS NOT NULL AND lease_until IS NULL
     AND holder NOT IN (SELECT uid FROM instances WHERE phase = 'Running')";

/// Rows a worker's lease takes at once: one for it, the rest for the next
/// leases, so a queue drained by busy workers commits once per this many
/// items rather than once per item.
const AHEAD: i64 = 16;

/// How long rows leased ahead are handed out; older ones go back.
const AHEAD_FRESH: Micros = 100_000;

/// The rows of queue ?1, counted up to ?2.
const COUNT_UP_TO: &str =
    "SELECT count(*) FROM (SELECT 1 FROM queue_items WHERE queue = ?1 LIMIT ?2)";

/// One embedded queue, with its own connection to the store's file.
pub struct EmbeddedQueue {
    inner: Mutex<Inner>,
    name: String,
    path: PathBuf,
}

struct Inner {
    conn: Connection,
    /// Lease-mode leases taken through this queue: row → (token, until).
    leases: HashMap<i64, (String, Micros)>,
    /// Rows completed and not yet deleted.
    done: Vec<i64>,
    /// Rows leased ahead for the next workers' leases, oldest first:
    /// (row, token, body).
    ahead: std::collections::VecDeque<(i64, String, Vec<u8>)>,
    /// The lease those were taken for, and when: (seconds, at).
    ahead_for: Option<(u32, Micros)>,
}

impl Inner {
    /// A row leased ahead, if one was taken for a lease of `seconds` less
    /// than [`AHEAD_FRESH`] ago (so the lease a worker gets is never much
    /// shorter than it asked).
    fn take_ahead(&mut self, seconds: u32, now: Micros) -> Option<(i64, String, Vec<u8>)> {
        let (asked, at) = self.ahead_for?;
        if asked != seconds || now - at > AHEAD_FRESH {
            return None;
        }
        self.ahead.pop_front()
    }
}

/// An item id is `<row id>.<lease token>`: the token proves the lease.
pub fn parse_id(id: &str) -> Option<(i64, &str)> {
    let (row, token) = id.split_once('.')?;
    Some((row.parse().ok()?, token))
}

impl EmbeddedQueue {
    /// Opens the queue `name` of the store at `path` (migrating it first).
    pub fn open(path: &Path, name: &str) -> Result<EmbeddedQueue, QueueError> {
        let unavailable = |message: String| QueueError::Broker {
            name: name.to_owned(),
            url: format!("embedded queue in {}", path.display()),
            message,
        };
        Store::open(path).map_err(|e| unavailable(e.to_string()))?;
        let conn = Connection::open(path).map_err(|e| unavailable(e.to_string()))?;
        // As the store's own connection: no fsync per commit, and the WAL
        // copied back rarely.
        crate::store::configure_connection(&conn, 10_000)
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(EmbeddedQueue {
            inner: Mutex::new(Inner {
                conn,
                leases: HashMap::new(),
                done: Vec::new(),
                ahead: Default::default(),
                ahead_for: None,
            }),
            name: name.to_owned(),
            path: path.to_path_buf(),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn fail(&self, e: rusqlite::Error) -> QueueError {
        QueueError::Broker {
            name: self.name.clone(),
            url: format!("embedded queue in {}", self.path.display()),
            message: e.to_string(),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, QueueError> {
        self.with_inner(|inner| f(&mut inner.conn))
    }

    fn with_inner<T>(
        &self,
        f: impl FnOnce(&mut Inner) -> rusqlite::Result<T>,
    ) -> Result<T, QueueError> {
        let mut inner = self.inner.lock().expect("queue connection");
        f(&mut inner).map_err(|e| self.fail(e))
    }

    /// Deletes the completed items now.
    fn flush_done(inner: &mut Inner) -> rusqlite::Result<()> {
        if inner.done.is_empty() {
            return Ok(());
        }
        inner.conn.prepare_cached("BEGIN")?.execute([])?;
        in_transaction(&inner.conn, |conn| inner_delete(&inner.done, conn))?;
        inner.done.clear();
        Ok(())
    }

    /// Appends items in one transaction; returns how many.
    pub fn push<I: IntoIterator<Item = Vec<u8>>>(&self, items: I) -> Result<usize, QueueError> {
        let now = time::now();
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut count = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO queue_items (queue, body, pushed_at) VALUES (?1, ?2, ?3)",
                )?;
                for body in items {
                    insert.execute(params![self.name, body, now])?;
                    count += 1;
                }
            }
            tx.commit()?;
            Ok(count)
        })
    }

    /// Leases the oldest waiting item for `seconds`, or, with a `holder`, until
    /// that holder releases or completes it.
    pub fn lease(&self, seconds: u32, holder: Option<&str>) -> Result<Option<Item>, QueueError> {
        let now = time::now();
        let item = self.with_inner(|inner| {
            if holder.is_none()
                && let Some(item) = inner.take_ahead(seconds, now)
            {
                return Ok(Some(item));
            }
            self.lease_rows(inner, seconds, holder, now)
        })?;
        Ok(item.map(|(row, token, body)| Item {
            id: format!("{row}.{token}"),
            body,
        }))
    }

    /// Leases the oldest waiting rows in one transaction, which also deletes
    /// the completed ones and gives back what was leased ahead and went
    /// stale. A worker's lease takes up to [`AHEAD`] rows, the first for it
    /// and the rest for the next leases; a holder's, one.
    fn lease_rows(
        &self,
        inner: &mut Inner,
        seconds: u32,
        holder: Option<&str>,
        now: Micros,
    ) -> rusqlite::Result<Option<(i64, String, Vec<u8>)>> {
        let until = holder
            .is_none()
            .then(|| now + i64::from(seconds) * 1_000_000);
        let count = if until.is_some() && seconds > 0 {
            AHEAD
        } else {
            1
        };
        let token = format!("{:016x}", fastrand::u64(..));
        let stale: Vec<(i64, String)> = inner
            .ahead
            .drain(..)
            .map(|(row, token, _)| (row, token))
            .collect();
        // BEGIN and COMMIT are cached statements: parsing them each time
        // costs more than a lease.
        let conn = &inner.conn;
        conn.prepare_cached("BEGIN")?.execute([])?;
        let mut rows = in_transaction(conn, |conn| {
            inner_delete(&inner.done, conn)?;
            let mut release = conn.prepare_cached(RELEASE)?;
            for (row, token) in &stale {
                release.execute(params![row, token])?;
            }
            let mut lease = conn.prepare_cached(LEASE)?;
            let rows = lease
                .query_map(params![self.name, now, token, until, holder, count], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        inner.done.clear();
        for (row, _) in &stale {
            inner.leases.remove(row);
        }
        rows.sort_by_key(|(row, _)| *row);
        let mut rows = rows.into_iter();
        let first = rows.next();
        if let Some(until) = until {
            for (row, _) in first.iter().chain(rows.as_slice()) {
                inner.leases.insert(*row, (token.clone(), until));
            }
            inner
                .ahead
                .extend(rows.map(|(row, body)| (row, token.clone(), body)));
            inner.ahead_for = Some((seconds, now));
        }
        Ok(first.map(|(row, body)| (row, token, body)))
    }

    /// Deletes a leased item.
    pub fn complete(&self, id: &str) -> Result<(), QueueError> {
        let (row, token) = parse_id(id).ok_or_else(|| QueueError::NotLeased(id.to_owned()))?;
        let now = time::now();
        let changed = self.with_inner(|inner| {
            if let Some((held, until)) = inner.leases.get(&row)
                && held == token
            {
                // Leased here, so nobody else has it unless it expired.
                let live = *until >= now;
                inner.leases.remove(&row);
                if live {
                    inner.done.push(row);
                }
                return Ok(usize::from(live));
            }
            if inner.done.contains(&row) {
                return Ok(0); // completed already
            }
            inner
                .conn
                .prepare_cached(
                    "DELETE FROM queue_items WHERE id = ?1 AND token = ?2
                     AND (lease_until IS NULL OR lease_until >= ?3)",
                )?
                .execute(params![row, token, now])
        })?;
        if changed == 0 {
            return Err(QueueError::NotLeased(id.to_owned()));
        }
        Ok(())
    }

    /// Puts a leased item back at once.
    pub fn release(&self, id: &str) -> Result<(), QueueError> {
        let (row, token) = parse_id(id).ok_or_else(|| QueueError::NotLeased(id.to_owned()))?;
        self.with_inner(|inner| {
            inner.leases.remove(&row);
            inner
                .conn
                .prepare_cached(RELEASE)?
                .execute(params![row, token])
        })?;
        Ok(())
    }

    /// Puts back every item held by these holders (instances a crash or a
    /// stop ended without a result).
    pub fn release_holders(&self, holders: &[String]) -> Result<usize, QueueError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut count = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE queue_items SET token = NULL, lease_until = NULL, holder = NULL
                     WHERE holder = ?1",
                )?;
                for holder in holders {
                    count += update.execute([holder])?;
                }
            }
            tx.commit()?;
            Ok(count)
        })
    }

    /// At a runner's start: puts back every item (of any queue) held by an
    /// instance the store does not know as running. The runner leases an
    /// item a moment before it commits the instance that holds it; a crash
    /// in between leaves an item held by nobody. Instances recorded as
    /// running are the resumed Jobs' business ([`Self::release_holders`]).
    pub fn release_unrecorded(&self) -> Result<usize, QueueError> {
        self.with(|conn| conn.execute(RELEASE_UNRECORDED, []))
    }

    /// Items waiting (expired leases count as waiting), counted up to
    /// `at_most`: the runner only needs to know whether there are enough
    /// for the instances it may start, and counting a long queue on every
    /// wake-up would cost time proportional to its length.
    pub fn waiting(&self, at_most: u64) -> Result<u64, QueueError> {
        let now = time::now();
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM queue_items
                 WHERE queue = ?1 AND (token IS NULL OR lease_until < ?2)
                 LIMIT ?3)",
            )?
            .query_row(
                params![self.name, now, at_most.min(i64::MAX as u64) as i64],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
        })
    }

    /// Nothing waiting and nothing leased: no item at all. One index probe,
    /// since workers ask before every lease.
    pub fn is_empty(&self) -> Result<bool, QueueError> {
        self.with_inner(|inner| {
            // Completed items not deleted yet do not count: the queue is
            // empty when it holds no more rows than those. They are at most
            // a worker's few, so the probe stays a short index scan.
            let done = inner.done.len() as i64;
            let rows: i64 = inner
                .conn
                .prepare_cached(COUNT_UP_TO)?
                .query_row(params![self.name, done + 1], |r| r.get(0))?;
            let empty = rows <= done;
            if empty {
                // The worker that asked is about to finish: the completions go now.
                Self::flush_done(inner)?;
            }
            Ok(empty)
        })
    }

    /// Waiting and leased counts.
    pub fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = time::now();
        self.with_inner(|inner| {
            Self::flush_done(inner)?;
            let conn = &inner.conn;
            conn.prepare_cached(
                "SELECT
                   COALESCE(SUM(token IS NULL OR lease_until < ?2), 0),
                   COALESCE(SUM(token IS NOT NULL AND (lease_until IS NULL OR lease_until >= ?2)), 0)
                 FROM queue_items WHERE queue = ?1",
            )?
            .query_row(params![self.name, now], |r| {
                Ok(QueueStats {
                    waiting: r.get::<_, i64>(0)? as u64,
                    leased: r.get::<_, i64>(1)? as u64,
                })
            })
        })
    }

    /// Deletes every item, leased or not; returns how many.
    pub fn purge(&self) -> Result<usize, QueueError> {
        self.with(|conn| conn.execute("DELETE FROM queue_items WHERE queue = ?1", [&self.name]))
    }

    /// Every queue with items: (name, stats), by name.
    pub fn list(path: &Path) -> Result<Vec<(String, QueueStats)>, QueueError> {
        let queue = EmbeddedQueue::open(path, "")?;
        let now = time::now();
        queue.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT queue,
                   SUM(token IS NULL OR lease_until < ?1),
                   SUM(token IS NOT NULL AND (lease_until IS NULL OR lease_until >= ?1))
                 FROM queue_items GROUP BY queue ORDER BY queue",
            )?;
            let rows = stmt.query_map([now], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    QueueStats {
                        waiting: r.get::<_, i64>(1)? as u64,
                        leased: r.get::<_, i64>(2)? as u64,
                    },
                ))
            })?;
            rows.collect()
        })
    }
}

impl Drop for EmbeddedQueue {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().expect("queue connection");
        let ahead: Vec<(i64, String, Vec<u8>)> = inner.ahead.drain(..).collect();
        let given_back = ahead.iter().try_for_each(|(row, token, _)| {
            inner
                .conn
                .prepare_cached(RELEASE)?
                .execute(params![row, token])
                .map(drop)
        });
        if let Err(e) = given_back.and_then(|()| Self::flush_done(inner)) {
            tracing::warn!(queue = %self.name, "items stay leased until their leases expire: {e}");
        }
    }
}

/// Runs `f` in the transaction just begun on `conn`: committed when `f`
/// succeeds, rolled back when anything fails.
fn in_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let result = f(conn).and_then(|value| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(value)
    });
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// Deletes the rows `done`, inside the caller's transaction.
fn inner_delete(done: &[i64], conn: &Connection) -> rusqlite::Result<()> {
    if done.is_empty() {
        return Ok(());
    }
    let mut delete = conn.prepare_cached("DELETE FROM queue_items WHERE id = ?1")?;
    for row in done {
        delete.execute([row])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> (tempfile::TempDir, EmbeddedQueue) {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedQueue::open(&dir.path().join("state.db"), "fruit").unwrap();
        (dir, q)
    }

    #[test]
    fn items_come_out_in_order_and_leave_when_completed() {
        let (_dir, q) = queue();
        q.push(["apple", "banana"].map(|s| s.as_bytes().to_vec()))
            .unwrap();
        let a = q.lease(30, None).unwrap().unwrap();
        let b = q.lease(30, None).unwrap().unwrap();
        assert_eq!(
            (a.body.as_slice(), b.body.as_slice()),
            (&b"apple"[..], &b"banana"[..])
        );
        assert_eq!(q.lease(30, None).unwrap(), None);
        assert!(
            !q.is_empty().unwrap(),
            "leased items keep the queue non-empty"
        );
        q.complete(&a.id).unwrap();
        q.complete(&b.id).unwrap();
        assert!(q.is_empty().unwrap());
    }

    #[test]
    fn a_lease_takes_items_ahead_and_gives_back_those_it_did_not_hand_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let q = EmbeddedQueue::open(&path, "fruit").unwrap();
        q.push(["apple", "banana", "cherry"].map(|s| s.as_bytes().to_vec()))
            .unwrap();
        let other = EmbeddedQueue::open(&path, "fruit").unwrap();
        let a = q.lease(30, None).unwrap().unwrap();
        assert_eq!(a.body, b"apple");
        let leased = |q: &EmbeddedQueue| q.stats().unwrap().leased;
        assert_eq!(leased(&other), 3, "banana and cherry were leased ahead");
        assert_eq!(q.lease(30, None).unwrap().unwrap().body, b"banana");
        // Another process' worker waits for them, as for any lease.
        assert_eq!(other.lease(30, None).unwrap(), None);
        drop(q);
        assert_eq!(
            other.stats().unwrap(),
            QueueStats {
                waiting: 1,
                leased: 2
            },
            "cherry went back; apple and banana are still some worker's"
        );
        assert_eq!(other.lease(30, None).unwrap().unwrap().body, b"cherry");
    }

    #[test]
    fn completions_are_written_later_and_lost_only_to_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let q = EmbeddedQueue::open(&path, "fruit").unwrap();
        q.push(["apple", "banana", "cherry"].map(|s| s.as_bytes().to_vec()))
            .unwrap();
        let a = q.lease(1, None).unwrap().unwrap();
        q.complete(&a.id).unwrap();
        // Completing twice is refused, as on a broker.
        assert!(matches!(q.complete(&a.id), Err(QueueError::NotLeased(_))));
        let b = q.lease(1, None).unwrap().unwrap();
        q.complete(&b.id).unwrap();
        // The process dies before it wrote them: once the leases run out,
        // the items are there for another worker.
        std::mem::forget(q);
        let other = EmbeddedQueue::open(&path, "fruit").unwrap();
        assert_eq!(other.stats().unwrap().leased, 3);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(other.lease(30, None).unwrap().unwrap().body, b"apple");
    }

    #[test]
    fn completions_are_written_when_the_queue_is_found_empty_or_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let q = EmbeddedQueue::open(&path, "fruit").unwrap();
        q.push(["apple", "banana"].map(|s| s.as_bytes().to_vec()))
            .unwrap();
        let other = EmbeddedQueue::open(&path, "fruit").unwrap();
        let a = q.lease(30, None).unwrap().unwrap();
        q.complete(&a.id).unwrap();
        assert!(!q.is_empty().unwrap(), "banana is left");
        let b = q.lease(30, None).unwrap().unwrap();
        q.complete(&b.id).unwrap();
        assert!(q.is_empty().unwrap());
        assert_eq!(
            other.stats().unwrap(),
            QueueStats {
                waiting: 0,
                leased: 0
            }
        );
        q.push([b"cherry".to_vec()]).unwrap();
        let c = q.lease(30, None).unwrap().unwrap();
        q.complete(&c.id).unwrap();
        drop(q);
        assert!(other.is_empty().unwrap());
    }

    #[test]
    fn the_hot_statements_are_compiled_once() {
        let (_dir, q) = queue();
        q.push((0..20).map(|i| format!("item-{i}").into_bytes()))
            .unwrap();
        for _ in 0..10 {
            let item = q.lease(30, None).unwrap().unwrap();
            q.complete(&item.id).unwrap();
            assert!(!q.is_empty().unwrap());
            q.waiting(5).unwrap();
        }
        let inner = q.inner.lock().unwrap();
        for sql in [LEASE, COUNT_UP_TO] {
            let stmt = inner.conn.prepare_cached(sql).unwrap();
            let recompiled = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(recompiled, 0, "{sql}");
        }
    }

    #[test]
    fn an_empty_queue_is_seen_past_completions_not_yet_written() {
        let (_dir, q) = queue();
        q.push([b"apple".to_vec()]).unwrap();
        let a = q.lease(30, None).unwrap().unwrap();
        q.complete(&a.id).unwrap();
        assert!(q.is_empty().unwrap());
        assert_eq!(
            q.stats().unwrap(),
            QueueStats {
                waiting: 0,
                leased: 0
            }
        );
    }

    #[test]
    fn an_expired_lease_gives_the_item_to_another_worker() {
        let (_dir, q) = queue();
        q.push([b"apple".to_vec()]).unwrap();
        let first = q.lease(0, None).unwrap().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = q.lease(30, None).unwrap().unwrap();
        assert_eq!(second.body, b"apple");
        assert!(matches!(
            q.complete(&first.id),
            Err(QueueError::NotLeased(_))
        ));
        q.complete(&second.id).unwrap();
    }

    #[test]
    fn held_items_come_back_when_released_or_their_holder_is_gone() {
        let (_dir, q) = queue();
        q.push([b"a".to_vec(), b"b".to_vec()]).unwrap();
        let a = q.lease(0, Some("inst-1")).unwrap().unwrap();
        let _b = q.lease(0, Some("inst-2")).unwrap().unwrap();
        assert_eq!(
            q.stats().unwrap(),
            QueueStats {
                waiting: 0,
                leased: 2
            }
        );
        q.release(&a.id).unwrap();
        assert_eq!(q.release_holders(&["inst-2".into()]).unwrap(), 1);
        assert_eq!(
            q.stats().unwrap(),
            QueueStats {
                waiting: 2,
                leased: 0
            }
        );
        assert_eq!(q.purge().unwrap(), 2);
    }

    #[test]
    fn items_held_by_instances_never_recorded_come_back_at_start() {
        let (_dir, q) = queue();
        q.push([b"a".to_vec()]).unwrap();
        q.lease(0, Some("never-committed")).unwrap().unwrap();
        assert_eq!(q.waiting(10).unwrap(), 0);
        assert_eq!(q.release_unrecorded().unwrap(), 1);
        assert_eq!(q.waiting(10).unwrap(), 1);
    }
}
