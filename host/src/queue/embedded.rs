//! The embedded queue: a table in the node's SQLite store, so a Job can
//! consume a queue with no broker at all. Items are pushed with
//! `wasmjob queue push`, leased with a random token, and deleted when
//! completed. In `stdin` mode the runner deletes the item in the same
//! transaction that records the instance's success, so each item is
//! processed to success exactly once, even across crashes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

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

/// One embedded queue, with its own connection to the store's file.
pub struct EmbeddedQueue {
    conn: Mutex<Connection>,
    name: String,
    path: PathBuf,
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
        conn.execute_batch(
            // As the store's own connection: no fsync per commit, and the WAL
            // copied back rarely, since every lease and completion commits.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;
             PRAGMA wal_autocheckpoint = 8192;",
        )
        .map_err(|e| unavailable(e.to_string()))?;
        Ok(EmbeddedQueue {
            conn: Mutex::new(conn),
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
        let mut conn = self.conn.lock().expect("queue connection");
        f(&mut conn).map_err(|e| self.fail(e))
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
        let until: Option<Micros> = match holder {
            Some(_) => None,
            None => Some(now + i64::from(seconds) * 1_000_000),
        };
        let token = format!("{:016x}", fastrand::u64(..));
        let row: Option<(i64, Vec<u8>)> = self.with(|conn| {
            conn.prepare_cached(
                "UPDATE queue_items SET token = ?3, lease_until = ?4, holder = ?5
                 WHERE id = (SELECT id FROM queue_items
                             WHERE queue = ?1 AND (token IS NULL OR lease_until < ?2)
                             ORDER BY id LIMIT 1)
                 RETURNING id, body",
            )?
            .query_row(params![self.name, now, token, until, holder], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })?;
        Ok(row.map(|(id, body)| Item {
            id: format!("{id}.{token}"),
            body,
        }))
    }

    /// Deletes a leased item.
    pub fn complete(&self, id: &str) -> Result<(), QueueError> {
        let (row, token) = parse_id(id).ok_or_else(|| QueueError::NotLeased(id.to_owned()))?;
        let now = time::now();
        let changed = self.with(|conn| {
            conn.prepare_cached(
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
        self.with(|conn| {
            conn.prepare_cached(
                "UPDATE queue_items SET token = NULL, lease_until = NULL, holder = NULL
                 WHERE id = ?1 AND token = ?2",
            )?
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
        self.with(|conn| {
            conn.execute(
                "UPDATE queue_items SET token = NULL, lease_until = NULL, holder = NULL
                 WHERE holder IS NOT NULL AND lease_until IS NULL
                 AND holder NOT IN (SELECT uid FROM instances WHERE phase = 'Running')",
                [],
            )
        })
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
                 WHERE queue = ?1 AND (token IS NULL OR lease_until < ?2) LIMIT ?3)",
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
        self.with(|conn| {
            conn.prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM queue_items WHERE queue = ?1)")?
                .query_row([&self.name], |r| r.get(0))
        })
    }

    /// Waiting and leased counts.
    pub fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = time::now();
        self.with(|conn| {
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
