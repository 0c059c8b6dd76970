//! `wasi:keyvalue`'s values, in the node's file on a connection of their
//! own (see `side`): by scope (whose they are: `Job/NS/NAME`,
//! `CronJob/NS/NAME`, `DaemonSet/NS/NAME`), bucket and key. A `set` is
//! durable when it returns; an `increment` reads and writes in one
//! transaction, so two instances counting at once lose nothing. The
//! values stay with the node: in a cluster each node keeps its own, unless
//! the template names a Redis (`redis`).

use std::path::Path;
use std::sync::Arc;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::StoreError;
use super::side::SideConnection;
use crate::runtime::keyvalue::{KeyValueStore, Reply};
use crate::time;

pub mod redis;

/// The key-value values of one store file.
pub struct KeyValues {
    conn: SideConnection,
}

impl KeyValues {
    /// Those of the store at `path` (already migrated).
    pub fn open(path: &Path) -> KeyValues {
        KeyValues {
            conn: SideConnection::new(path),
        }
    }

    /// The value of `key` in `scope`'s `bucket`.
    pub fn get(&self, scope: &str, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.lock()?;
        let sql = "SELECT value FROM keyvalue WHERE scope = ?1 AND bucket = ?2 AND key = ?3";
        (conn.prepare_cached(sql))
            .and_then(|mut s| {
                s.query_row(params![scope, bucket, key], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.conn.error(e))
    }

    /// Sets `key` in `scope`'s `bucket` to `value`.
    pub fn set(
        &self,
        scope: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let conn = self.conn.lock()?;
        (conn.prepare_cached(SET))
            .and_then(|mut s| s.execute(params![scope, bucket, key, value, time::now()]))
            .map(drop)
            .map_err(|e| self.conn.error(e))
    }

    /// Removes `key` from `scope`'s `bucket`.
    pub fn delete(&self, scope: &str, bucket: &str, key: &str) -> Result<(), StoreError> {
        let conn = self.conn.lock()?;
        let sql = "DELETE FROM keyvalue WHERE scope = ?1 AND bucket = ?2 AND key = ?3";
        (conn.prepare_cached(sql))
            .and_then(|mut s| s.execute(params![scope, bucket, key]))
            .map(drop)
            .map_err(|e| self.conn.error(e))
    }

    /// At most `limit` keys of `scope`'s `bucket` in order, from the
    /// `offset`th.
    pub fn keys(
        &self,
        scope: &str,
        bucket: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.conn.lock()?;
        let sql = "SELECT key FROM keyvalue WHERE scope = ?1 AND bucket = ?2 ORDER BY key
                   LIMIT ?3 OFFSET ?4";
        // SQLite's integers are signed: a cursor past them is past the end.
        let (limit, offset) = (limit.min(i64::MAX as u64), offset.min(i64::MAX as u64));
        let page = params![scope, bucket, limit as i64, offset as i64];
        (conn.prepare_cached(sql))
            .and_then(|mut s| s.query_map(page, |r| r.get(0))?.collect())
            .map_err(|e| self.conn.error(e))
    }

    /// Adds `delta` to the decimal number `key` holds (absent: 0); the sum,
    /// or why it cannot be added.
    pub fn increment(
        &self,
        scope: &str,
        bucket: &str,
        key: &str,
        delta: u64,
    ) -> Result<Result<u64, String>, StoreError> {
        let mut conn = self.conn.lock()?;
        let tx = (conn.transaction_with_behavior(TransactionBehavior::Immediate))
            .map_err(|e| self.conn.error(e))?;
        let sql = "SELECT value FROM keyvalue WHERE scope = ?1 AND bucket = ?2 AND key = ?3";
        let current: Option<Vec<u8>> = (tx
            .query_row(sql, params![scope, bucket, key], |r| r.get(0)))
        .optional()
        .map_err(|e| self.conn.error(e))?;
        let current: u64 = match current.as_deref().map(std::str::from_utf8) {
            None => 0,
            Some(Ok(text)) => match text.trim().parse::<u64>() {
                Ok(n) => n,
                Err(_) => return Ok(Err(not_a_number(key))),
            },
            Some(Err(_)) => return Ok(Err(not_a_number(key))),
        };
        let Some(sum) = current.checked_add(delta) else {
            return Ok(Err(format!(
                "incrementing {key:?} by {delta} overflows 64 bits"
            )));
        };
        (tx.execute(
            SET,
            params![scope, bucket, key, sum.to_string().as_bytes(), time::now()],
        ))
        .and_then(|_| tx.commit())
        .map_err(|e| self.conn.error(e))?;
        Ok(Ok(sum))
    }

    /// The values of `scope`, for one instance's sandbox.
    pub fn bound(self: &Arc<Self>, scope: String) -> Arc<dyn KeyValueStore> {
        Arc::new(Scoped {
            values: self.clone(),
            scope,
        })
    }
}

const SET: &str = "INSERT INTO keyvalue (scope, bucket, key, value, updated_at)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (scope, bucket, key) DO UPDATE SET value = excluded.value,
        updated_at = excluded.updated_at";

fn not_a_number(key: &str) -> String {
    format!("{key:?} does not hold a decimal number, so it cannot be incremented")
}

/// One scope's values.
struct Scoped {
    values: Arc<KeyValues>,
    scope: String,
}

impl KeyValueStore for Scoped {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Reply<'a, Option<Vec<u8>>> {
        done(self.values.get(&self.scope, bucket, key))
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: &'a [u8]) -> Reply<'a, ()> {
        done(self.values.set(&self.scope, bucket, key, value))
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Reply<'a, ()> {
        done(self.values.delete(&self.scope, bucket, key))
    }

    fn keys<'a>(&'a self, bucket: &'a str, offset: u64, limit: u64) -> Reply<'a, Vec<String>> {
        done(self.values.keys(&self.scope, bucket, offset, limit))
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> Reply<'a, u64> {
        let sum = self.values.increment(&self.scope, bucket, key, delta);
        Box::pin(std::future::ready(
            sum.map_err(|e| e.to_string()).and_then(|r| r),
        ))
    }
}

/// A reply the file gave at once (its calls are short and local).
fn done<'a, T: Send + 'a>(result: Result<T, StoreError>) -> Reply<'a, T> {
    Box::pin(std::future::ready(result.map_err(|e| e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQLite replies are ready at once.
    fn now<T>(reply: Reply<'_, T>) -> Result<T, String> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut reply = reply;
        match reply.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => panic!("a file reply is ready at once"),
        }
    }

    fn values() -> (tempfile::TempDir, Arc<KeyValues>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        super::super::Store::open(&path).unwrap();
        (dir, Arc::new(KeyValues::open(&path)))
    }

    #[test]
    fn values_are_kept_by_scope_bucket_and_key() {
        let (_dir, values) = values();
        let cron = values.bound("CronJob/default/report".into());
        let other = values.bound("Job/default/report".into());
        now(cron.set("cursors", "last", b"41")).unwrap();
        assert_eq!(
            now(cron.get("cursors", "last")).unwrap(),
            Some(b"41".to_vec())
        );
        assert_eq!(now(other.get("cursors", "last")).unwrap(), None);
        assert_eq!(now(cron.get("other", "last")).unwrap(), None);
        now(cron.set("cursors", "last", b"42")).unwrap();
        assert_eq!(
            now(cron.get("cursors", "last")).unwrap(),
            Some(b"42".to_vec())
        );
        now(cron.delete("cursors", "last")).unwrap();
        now(cron.delete("cursors", "never")).unwrap();
        assert_eq!(now(cron.get("cursors", "last")).unwrap(), None);
    }

    #[test]
    fn keys_come_in_order_a_page_at_a_time() {
        let (_dir, values) = values();
        let kv = values.bound("Job/default/j".into());
        for key in ["c", "a", "b"] {
            now(kv.set("b", key, b"")).unwrap();
        }
        assert_eq!(now(kv.keys("b", 0, 2)).unwrap(), ["a", "b"]);
        assert_eq!(now(kv.keys("b", 2, 2)).unwrap(), ["c"]);
        assert!(now(kv.keys("b", u64::MAX, 2)).unwrap().is_empty());
    }

    #[test]
    fn increments_count_from_zero_and_refuse_what_is_not_a_number() {
        let (_dir, values) = values();
        let kv = values.bound("CronJob/default/c".into());
        assert_eq!(now(kv.increment("runs", "n", 1)).unwrap(), 1);
        assert_eq!(now(kv.increment("runs", "n", 5)).unwrap(), 6);
        assert_eq!(now(kv.get("runs", "n")).unwrap(), Some(b"6".to_vec()));
        now(kv.set("runs", "text", b"many")).unwrap();
        let e = now(kv.increment("runs", "text", 1)).unwrap_err();
        assert!(e.contains("does not hold a decimal number"), "{e}");
        let max = u64::MAX.to_string();
        now(kv.set("runs", "big", max.as_bytes())).unwrap();
        let e = now(kv.increment("runs", "big", 1)).unwrap_err();
        assert!(e.contains("overflows"), "{e}");
    }

    #[test]
    fn concurrent_increments_lose_nothing() {
        let (_dir, values) = values();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let kv = values.bound("Job/default/j".into());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        now(kv.increment("b", "n", 1)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let kv = values.bound("Job/default/j".into());
        assert_eq!(now(kv.get("b", "n")).unwrap(), Some(b"200".to_vec()));
    }
}
