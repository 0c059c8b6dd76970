//! Redis lists as a work queue, compatible with the seed's `rpush job2 apple
//! banana …`: items are taken from the head of the list `NAME` into
//! `NAME:processing`, and each taken item has a lease key
//! `NAME:lease:<item>` that expires. Every lease first returns expired items
//! to the head of `NAME`, so a crashed worker's item is processed by another.
//! Each step is one Lua script, atomic on the server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::{Item, QueueError, redact};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// KEYS: main, processing. ARGV: lease key prefix, seconds, token.
const LEASE: &str = r#"
local held = redis.call('LRANGE', KEYS[2], 0, -1)
for _, v in ipairs(held) do
  if redis.call('EXISTS', ARGV[1] .. v) == 0 then
    redis.call('LREM', KEYS[2], 1, v)
    redis.call('LPUSH', KEYS[1], v)
  end
end
local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
if not v then return false end
redis.call('SET', ARGV[1] .. v, ARGV[3], 'EX', ARGV[2])
return v
"#;

/// KEYS: main, processing. ARGV: lease key prefix, item, token, requeue.
const FINISH: &str = r#"
if redis.call('GET', ARGV[1] .. ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('DEL', ARGV[1] .. ARGV[2])
redis.call('LREM', KEYS[2], 1, ARGV[2])
if ARGV[4] == '1' then redis.call('LPUSH', KEYS[1], ARGV[2]) end
return 1
"#;

/// One Redis list, connected.
pub struct RedisQueue {
    conn: MultiplexedConnection,
    name: String,
    url: String,
    /// Lease token → item, for the leases this process holds.
    leases: Mutex<HashMap<String, Vec<u8>>>,
    lease: redis::Script,
    finish: redis::Script,
}

impl RedisQueue {
    /// Connects to the server at `url`.
    pub async fn connect(url: &str, name: &str) -> Result<RedisQueue, QueueError> {
        let shown = redact(url);
        let unreachable = |message: String| QueueError::Unreachable {
            url: shown.clone(),
            message,
        };
        let client = redis::Client::open(url).map_err(|e| unreachable(e.to_string()))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(e.to_string()))?;
        let queue = RedisQueue {
            conn,
            name: name.to_owned(),
            url: shown,
            leases: Mutex::new(HashMap::new()),
            lease: redis::Script::new(LEASE),
            finish: redis::Script::new(FINISH),
        };
        // Fails now, with the key named, if NAME is not a list.
        queue.waiting().await?;
        Ok(queue)
    }

    /// The list's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL, password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn processing(&self) -> String {
        format!("{}:processing", self.name)
    }

    fn lease_prefix(&self) -> String {
        format!("{}:lease:", self.name)
    }

    fn fail(&self, e: redis::RedisError) -> QueueError {
        if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            QueueError::Unreachable {
                url: self.url.clone(),
                message: e.to_string(),
            }
        } else {
            QueueError::Broker {
                name: self.name.clone(),
                url: self.url.clone(),
                message: e.to_string(),
            }
        }
    }

    /// Leases the head of the list for `seconds`.
    pub async fn lease(&self, seconds: u32) -> Result<Option<Item>, QueueError> {
        let token = format!("{:016x}", fastrand::u64(..));
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = self
            .lease
            .key(&self.name)
            .key(self.processing())
            .arg(self.lease_prefix())
            .arg(seconds.max(1))
            .arg(&token)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(value.map(|body| {
            self.leases
                .lock()
                .expect("leases")
                .insert(token.clone(), body.clone());
            Item { id: token, body }
        }))
    }

    async fn finish(&self, id: &str, requeue: bool) -> Result<(), QueueError> {
        let Some(value) = self.leases.lock().expect("leases").remove(id) else {
            return Err(QueueError::NotLeased(id.to_owned()));
        };
        let mut conn = self.conn.clone();
        let done: i64 = self
            .finish
            .key(&self.name)
            .key(self.processing())
            .arg(self.lease_prefix())
            .arg(&value)
            .arg(id)
            .arg(if requeue { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        if done == 0 {
            return Err(QueueError::NotLeased(id.to_owned()));
        }
        Ok(())
    }

    /// Removes a leased item for good.
    pub async fn complete(&self, id: &str) -> Result<(), QueueError> {
        self.finish(id, false).await
    }

    /// Returns a leased item to the head of the list.
    pub async fn release(&self, id: &str) -> Result<(), QueueError> {
        self.finish(id, true).await
    }

    /// Items in the list, not counting leased ones.
    pub async fn waiting(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        redis::cmd("LLEN")
            .arg(&self.name)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Nothing in the list and nothing leased.
    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let (main, processing): (u64, u64) = redis::pipe()
            .cmd("LLEN")
            .arg(&self.name)
            .cmd("LLEN")
            .arg(self.processing())
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(main == 0 && processing == 0)
    }
}
