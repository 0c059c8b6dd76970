//! Work queues a Job consumes (`spec.queue`): the embedded queue in the
//! store's SQLite file, Redis lists, and RabbitMQ queues, behind one [`Queue`].
//!
//! Two ways to use one, as in the seed documents:
//! - `stdin` mode (coarse parallel): the runner leases one item per instance
//!   and gives it to the instance on stdin; the item is completed when the
//!   instance succeeds and released when it fails.
//! - `lease` mode (fine parallel): instances call the `wasmjob:plugin/queue`
//!   interface themselves (`lease`, `complete`, `empty`).
//!
//! Every backend has the same lease semantics: a leased item is invisible to
//! other takers until it is completed (gone for good), released (back at
//! once), or its lease expires (back for another worker).

mod amqp;
mod embedded;
mod redis;

pub(crate) use embedded::RELEASE_UNRECORDED;
pub use embedded::{EmbeddedQueue, QueueStats, parse_id as embedded_id};

use std::path::Path;

/// One item taken from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Identifies this lease of the item.
    pub id: String,
    /// The item's bytes.
    pub body: Vec<u8>,
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The broker could not be reached.
    #[error("cannot reach the queue broker at {url}: {message}")]
    Unreachable {
        /// The broker's URL (without password).
        url: String,
        /// What failed.
        message: String,
    },
    /// The named queue does not exist on the broker.
    #[error("queue {name:?} does not exist at {url}: create it (or push to it) first")]
    Missing {
        /// The queue's name.
        name: String,
        /// The broker's URL.
        url: String,
    },
    /// `complete` or `release` named an item this worker does not hold.
    #[error("item {0:?} is not leased by this worker (its lease may have expired)")]
    NotLeased(String),
    /// The broker answered with an error.
    #[error("queue {name:?} at {url}: {message}")]
    Broker {
        /// The queue's name.
        name: String,
        /// The broker's URL.
        url: String,
        /// The broker's error.
        message: String,
    },
    /// The URL is not one wasmjob knows.
    #[error(
        "unsupported queue URL {0:?}: use redis://HOST[:PORT][/DB], amqp://USER:PASS@HOST[:PORT][/VHOST], \
         or leave `url` out for the embedded queue"
    )]
    BadUrl(String),
}

/// A Job's queue, connected.
pub enum Queue {
    /// The queue table in the node's SQLite store.
    Embedded(EmbeddedQueue),
    /// A Redis list.
    Redis(redis::RedisQueue),
    /// A RabbitMQ queue.
    Amqp(amqp::AmqpQueue),
}

impl Queue {
    /// Connects to the queue `name` at `url`; without a URL, the embedded
    /// queue in the store at `store_path`. `holder` names who takes items
    /// (the Job), so the embedded queue can release what a crashed run held.
    pub async fn connect(
        url: Option<&str>,
        name: &str,
        store_path: &Path,
    ) -> Result<Queue, QueueError> {
        match url {
            None => Ok(Queue::Embedded(EmbeddedQueue::open(store_path, name)?)),
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(Queue::Redis(redis::RedisQueue::connect(url, name).await?))
            }
            Some(url) if url.starts_with("amqp://") || url.starts_with("amqps://") => {
                Ok(Queue::Amqp(amqp::AmqpQueue::connect(url, name).await?))
            }
            Some(url) => Err(QueueError::BadUrl(url.to_owned())),
        }
    }

    /// Where the queue is, for messages: `embedded queue "jobs"`.
    pub fn describe(&self) -> String {
        match self {
            Queue::Embedded(q) => format!("embedded queue {:?}", q.name()),
            Queue::Redis(q) => format!("Redis list {:?} at {}", q.name(), q.url()),
            Queue::Amqp(q) => format!("RabbitMQ queue {:?} at {}", q.name(), q.url()),
        }
    }

    /// Leases the next item for `seconds`; `None` when nothing waits.
    pub async fn lease(&self, seconds: u32) -> Result<Option<Item>, QueueError> {
        match self {
            Queue::Embedded(q) => q.lease(seconds, None),
            Queue::Redis(q) => q.lease(seconds).await,
            Queue::Amqp(q) => q.lease(seconds).await,
        }
    }

    /// The item is done: remove it for good.
    pub async fn complete(&self, id: &str) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.complete(id),
            Queue::Redis(q) => q.complete(id).await,
            Queue::Amqp(q) => q.complete(id).await,
        }
    }

    /// The item was not done: back to the queue at once.
    pub async fn release(&self, id: &str) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.release(id),
            Queue::Redis(q) => q.release(id).await,
            Queue::Amqp(q) => q.release(id).await,
        }
    }

    /// Items waiting to be leased (leased ones not counted); the embedded
    /// queue stops counting at `at_most`, the brokers answer in one call.
    pub async fn waiting(&self, at_most: u64) -> Result<u64, QueueError> {
        match self {
            Queue::Embedded(q) => q.waiting(at_most),
            Queue::Redis(q) => q.waiting().await,
            Queue::Amqp(q) => q.waiting().await,
        }
    }

    /// Nothing waiting and nothing leased.
    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        match self {
            Queue::Embedded(q) => q.is_empty(),
            Queue::Redis(q) => q.is_empty().await,
            Queue::Amqp(q) => q.is_empty().await,
        }
    }
}

/// A URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("amqp://guest:guest@localhost:5672/%2f"),
            "amqp://guest:***@localhost:5672/%2f"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
