//! `wasi:keyvalue` in Redis, for a template that names one
//! (`wasmjob.dev/keyvalue-url: redis://…`): every node that runs the Job
//! or CronJob reads and writes the same buckets there. A value is the
//! string `wasmjob:kv:SCOPE:BUCKET:KEY`; each bucket's keys are also kept
//! in the sorted set `wasmjob:kv-keys:SCOPE:BUCKET` (all with score 0, so
//! in byte order) for `list-keys`. An increment is Redis' `INCRBY`, so
//! instances counting at once on any node lose nothing (within a signed
//! 64-bit number, Redis' own limit).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::runtime::keyvalue::{KeyValueStore, Reply};

/// How long connecting may take before the guest hears the store is away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection per server URL in this process, shared by every
/// instance (a multiplexed connection takes concurrent commands).
static CONNECTIONS: LazyLock<Mutex<HashMap<String, MultiplexedConnection>>> =
    LazyLock::new(Mutex::default);

/// The values of `scope` in the Redis at `url`.
pub fn bound(url: &str, scope: String) -> Arc<dyn KeyValueStore> {
    Arc::new(RedisScoped {
        url: url.to_owned(),
        scope,
    })
}

struct RedisScoped {
    url: String,
    scope: String,
}

impl RedisScoped {
    async fn conn(&self) -> Result<MultiplexedConnection, String> {
        if let Some(conn) = CONNECTIONS.lock().expect("never poisoned").get(&self.url) {
            return Ok(conn.clone());
        }
        let shown = crate::queue::redact(&self.url);
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| format!("cannot use the key-value store at {shown}: {e}"))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| format!("the key-value store at {shown} did not answer"))?
            .map_err(|e| format!("the key-value store at {shown} is away: {e}"))?;
        let mut connections = CONNECTIONS.lock().expect("never poisoned");
        Ok(connections.entry(self.url.clone()).or_insert(conn).clone())
    }

    fn value_key(&self, bucket: &str, key: &str) -> String {
        format!("wasmjob:kv:{}:{bucket}:{key}", self.scope)
    }

    fn index_key(&self, bucket: &str) -> String {
        format!("wasmjob:kv-keys:{}:{bucket}", self.scope)
    }
}

fn failed(e: redis::RedisError) -> String {
    format!("the key-value store refused: {e}")
}

impl KeyValueStore for RedisScoped {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Reply<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(self.value_key(bucket, key))
                .query_async(&mut conn)
                .await
                .map_err(failed)?;
            Ok(value)
        })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: &'a [u8]) -> Reply<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let mut both = redis::pipe();
            both.atomic()
                .cmd("SET")
                .arg(self.value_key(bucket, key))
                .arg(value)
                .cmd("ZADD")
                .arg(self.index_key(bucket))
                .arg(0)
                .arg(key);
            both.query_async::<()>(&mut conn).await.map_err(failed)
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Reply<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let mut both = redis::pipe();
            both.atomic()
                .cmd("DEL")
                .arg(self.value_key(bucket, key))
                .cmd("ZREM")
                .arg(self.index_key(bucket))
                .arg(key);
            both.query_async::<()>(&mut conn).await.map_err(failed)
        })
    }

    fn keys<'a>(&'a self, bucket: &'a str, offset: u64, limit: u64) -> Reply<'a, Vec<String>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let first = offset.min(i64::MAX as u64) as i64;
            let last = first.saturating_add(limit.min(i64::MAX as u64) as i64) - 1;
            let keys: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.index_key(bucket))
                .arg(first)
                .arg(last)
                .query_async(&mut conn)
                .await
                .map_err(failed)?;
            Ok(keys)
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> Reply<'a, u64> {
        Box::pin(async move {
            let delta = i64::try_from(delta)
                .map_err(|_| format!("an increment of {delta} is more than Redis counts"))?;
            let mut conn = self.conn().await?;
            let mut both = redis::pipe();
            both.atomic()
                .cmd("INCRBY")
                .arg(self.value_key(bucket, key))
                .arg(delta)
                .cmd("ZADD")
                .arg(self.index_key(bucket))
                .arg(0)
                .arg(key)
                .ignore();
            let (sum,): (i64,) = both.query_async(&mut conn).await.map_err(|e| {
                format!("{key:?} cannot be incremented (does it hold a decimal number?): {e}")
            })?;
            u64::try_from(sum).map_err(|_| format!("{key:?} holds a negative number"))
        })
    }
}
