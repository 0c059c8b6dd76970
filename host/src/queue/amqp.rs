//! RabbitMQ (AMQP 0-9-1, through lapin) as a work queue: a durable queue
//! filled by `amqp-publish` as in the seed. Items are taken with `basic.get`
//! and manual acknowledgement: completing an item acks it, releasing it (or
//! its lease expiring) nacks it with requeue. If the connection drops, the
//! broker itself requeues whatever was not acked, so no item is lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

use super::{Item, QueueError, redact};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One RabbitMQ queue, connected.
pub struct AmqpQueue {
    _conn: Connection,
    channel: Channel,
    name: String,
    url: String,
    /// Lease id → delivery tag, for the messages this process holds.
    held: Arc<Mutex<HashMap<String, u64>>>,
}

impl AmqpQueue {
    /// Connects to the broker at `url`; the queue must exist.
    pub async fn connect(url: &str, name: &str) -> Result<AmqpQueue, QueueError> {
        let shown = redact(url);
        let unreachable = |message: String| QueueError::Unreachable {
            url: shown.clone(),
            message,
        };
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
        // A passive declare of a missing queue closes its channel: probe on
        // a channel of its own.
        let probe = conn
            .create_channel()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if let Err(e) = probe
            .queue_declare(name.into(), passive, FieldTable::default())
            .await
        {
            let text = e.to_string();
            return Err(if text.contains("NOT_FOUND") || text.contains("404") {
                QueueError::Missing {
                    name: name.to_owned(),
                    url: shown,
                }
            } else {
                unreachable(text)
            });
        }
        let _ = probe.close(200, "probe done".into()).await;
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(AmqpQueue {
            _conn: conn,
            channel,
            name: name.to_owned(),
            url: shown,
            held: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The broker's URL, password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn fail(&self, e: lapin::Error) -> QueueError {
        QueueError::Unreachable {
            url: self.url.clone(),
            message: format!("queue {:?}: {e}", self.name),
        }
    }

    /// Takes the next message, unacked, for `seconds`: if it is neither
    /// completed nor released by then, it is requeued.
    pub async fn lease(&self, seconds: u32) -> Result<Option<Item>, QueueError> {
        let got = self
            .channel
            .basic_get(self.name.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .map_err(|e| self.fail(e))?;
        let Some(message) = got else { return Ok(None) };
        let tag = message.delivery.delivery_tag;
        let id = format!("{tag}.{:08x}", fastrand::u32(..));
        self.held.lock().expect("held").insert(id.clone(), tag);
        let held = self.held.clone();
        let channel = self.channel.clone();
        let expiring = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(seconds.max(1)))).await;
            let expired = held.lock().expect("held").remove(&expiring);
            if let Some(tag) = expired {
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                let _ = channel.basic_nack(tag, requeue).await;
            }
        });
        Ok(Some(Item {
            id,
            body: message.delivery.data,
        }))
    }

    fn take(&self, id: &str) -> Result<u64, QueueError> {
        self.held
            .lock()
            .expect("held")
            .remove(id)
            .ok_or_else(|| QueueError::NotLeased(id.to_owned()))
    }

    /// Acks the message.
    pub async fn complete(&self, id: &str) -> Result<(), QueueError> {
        let tag = self.take(id)?;
        self.channel
            .basic_ack(tag, BasicAckOptions::default())
            .await
            .map_err(|e| self.fail(e))
    }

    /// Nacks the message with requeue.
    pub async fn release(&self, id: &str) -> Result<(), QueueError> {
        let tag = self.take(id)?;
        let requeue = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        self.channel
            .basic_nack(tag, requeue)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Messages ready in the queue (unacked ones not counted).
    pub async fn waiting(&self) -> Result<u64, QueueError> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let queue = self
            .channel
            .queue_declare(self.name.as_str().into(), passive, FieldTable::default())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(u64::from(queue.message_count()))
    }

    /// Nothing ready and nothing held by this process. (RabbitMQ does not
    /// tell how many other consumers hold unacked; their messages come back
    /// if they fail.)
    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        let waiting = self.waiting().await?;
        Ok(waiting == 0 && self.held.lock().expect("held").is_empty())
    }
}
