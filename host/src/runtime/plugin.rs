//! The host side of the `wasmjob:plugin` WIT package (`wit/plugin.wit`):
//! structured log, work queue, checkpoint and context, implemented once over
//! one `bindgen!` and linked into every component.
//!
//! Each instance gets a [`PluginState`] built from its [`PluginEnv`]: who it
//! is, the checkpoint its Job saved last, where to save a new one, and its
//! Job's queue. Log records go both into the instance's captured output (as
//! one logfmt line, in order with stdout) and into a list kept with the run,
//! which the store files beside the log so `logs --level/--field` can filter.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::component::{HasSelf, Linker};

use super::output::CapturedOutput;
use crate::queue::{Queue, QueueError};
use crate::time::{self, Micros};

/// The generated bindings of the `job` world; WASI comes from wasmtime-wasi.
/// Their docs are the WIT file's.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmjob:plugin/job",
        with: {
            "wasi:cli": wasmtime_wasi::p2::bindings::cli,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:random": wasmtime_wasi::p2::bindings::random,
            "wasi:sockets": wasmtime_wasi::p2::bindings::sockets,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:keyvalue": crate::runtime::keyvalue::bindings::wasi::keyvalue,
        },
        imports: { default: async },
        exports: { default: async },
    });
}

use self::bindings::wasmjob::plugin::{checkpoint, context, log, queue};

/// Records kept per attempt; a plugin logging in a tight loop keeps its
/// first ones and the output cap bounds the rest.
pub const MAX_RECORDS: usize = 10_000;

/// Longest message or field value kept, in bytes.
const MAX_TEXT: usize = 4096;

/// Where a plugin's checkpoint is saved: bound to one Job and index.
pub trait CheckpointSink: Send + Sync {
    /// Durably replaces the saved checkpoint.
    fn save(&self, data: &[u8]) -> Result<(), String>;
}

/// Who an instance is, as the `context` interface tells it.
#[derive(Debug, Clone, Default)]
pub struct PluginContext {
    /// The Job's name.
    pub job_name: String,
    /// The instance's name.
    pub instance_name: String,
    /// Indexed Jobs.
    pub completion_index: Option<u32>,
    /// Counted failed attempts of this work before this one.
    pub attempt: u32,
    /// This node.
    pub node_name: String,
    /// A CronJob run's scheduled time, RFC 3339.
    pub scheduled_time: Option<String>,
}

/// What the host interfaces of one instance are bound to.
#[derive(Clone, Default)]
pub struct PluginEnv {
    /// Who the instance is.
    pub context: PluginContext,
    /// The checkpoint saved last for this Job and index.
    pub checkpoint: Option<Vec<u8>>,
    /// Where `checkpoint.save` writes; `None` refuses saves.
    pub checkpoints: Option<Arc<dyn CheckpointSink>>,
    /// The Job's `spec.queue`.
    pub queue: Option<Arc<Queue>>,
    /// The key-value buckets of the Job (or its CronJob); `None` opens none.
    pub keyvalue: Option<Arc<dyn super::keyvalue::KeyValueStore>>,
}

impl fmt::Debug for PluginEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginEnv")
            .field("context", &self.context)
            .field("checkpoint", &self.checkpoint.as_ref().map(Vec::len))
            .field("queue", &self.queue.as_ref().map(|q| q.describe()))
            .finish()
    }
}

/// A structured log record's level, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
}

impl LogLevel {
    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Parses a spelling (any case; `warning` too).
    pub fn parse(text: &str) -> Option<LogLevel> {
        Some(match text.to_ascii_lowercase().as_str() {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return None,
        })
    }
}

/// One structured record a plugin logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When, µs since the epoch.
    pub time: Micros,
    /// How much it matters.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// The fields, in the order given.
    pub fields: Vec<(String, String)>,
}

impl LogRecord {
    /// The logfmt line written to the instance's log:
    /// `level=info msg="item done" item=apple`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "level={} msg={}",
            self.level.as_str(),
            quoted(&self.message)
        );
        for (key, value) in &self.fields {
            line.push(' ');
            line.push_str(key);
            line.push('=');
            line.push_str(&quoted(value));
        }
        line
    }
}

/// A logfmt value: bare when it is one plain word, quoted otherwise.
fn quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '=' && c != '\\');
    if plain {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A field key as given when it is a plain name, else with the other
/// characters replaced by `_`, so every stored key can be filtered on.
fn clean_key(key: &str) -> String {
    let key: String = key
        .chars()
        .take(128)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() { "_".to_owned() } else { key }
}

/// The host interfaces' state inside one instance's store.
pub struct PluginState {
    env: PluginEnv,
    output: CapturedOutput,
    records: Vec<LogRecord>,
    dropped_records: usize,
}

impl PluginState {
    /// The state of an instance whose output goes to `output`.
    pub fn new(env: PluginEnv, output: CapturedOutput) -> Self {
        PluginState {
            env,
            output,
            records: Vec::new(),
            dropped_records: 0,
        }
    }

    /// The records logged, and how many were dropped past [`MAX_RECORDS`].
    pub fn into_records(self) -> (Vec<LogRecord>, usize) {
        (self.records, self.dropped_records)
    }
}

/// Links the `wasmjob:plugin` interfaces into a component linker whose
/// store data reaches a [`PluginState`] through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut PluginState,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasSelf<PluginState>>(linker, get)?;
    queue::add_to_linker::<T, HasSelf<PluginState>>(linker, get)?;
    checkpoint::add_to_linker::<T, HasSelf<PluginState>>(linker, get)?;
    context::add_to_linker::<T, HasSelf<PluginState>>(linker, get)?;
    Ok(())
}

impl log::Host for PluginState {
    async fn log(&mut self, level: log::Level, message: String, fields: Vec<log::Field>) {
        let record = LogRecord {
            time: time::now(),
            level: match level {
                log::Level::Trace => LogLevel::Trace,
                log::Level::Debug => LogLevel::Debug,
                log::Level::Info => LogLevel::Info,
                log::Level::Warn => LogLevel::Warn,
                log::Level::Error => LogLevel::Error,
            },
            message: clip(message),
            fields: fields
                .into_iter()
                .take(64)
                .map(|f| (clean_key(&f.key), clip(f.value)))
                .collect(),
        };
        let mut line = record.line();
        line.push('\n');
        self.output.append(line.as_bytes());
        if self.records.len() < MAX_RECORDS {
            self.records.push(record);
        } else {
            self.dropped_records += 1;
        }
    }
}

impl From<QueueError> for queue::Error {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotLeased(id) => queue::Error::NotLeased(id),
            other => queue::Error::Unavailable(other.to_string()),
        }
    }
}

impl queue::Host for PluginState {
    async fn lease(&mut self, lease_seconds: u32) -> Result<Option<queue::Item>, queue::Error> {
        let queue = self.env.queue.clone().ok_or(queue::Error::NoQueue)?;
        let item = queue.lease(lease_seconds.max(1)).await?;
        Ok(item.map(|item| queue::Item {
            id: item.id,
            body: item.body,
        }))
    }

    async fn complete(&mut self, id: String) -> Result<(), queue::Error> {
        let queue = self.env.queue.clone().ok_or(queue::Error::NoQueue)?;
        queue.complete(&id).await?;
        Ok(())
    }

    async fn empty(&mut self) -> Result<bool, queue::Error> {
        let queue = self.env.queue.clone().ok_or(queue::Error::NoQueue)?;
        Ok(queue.is_empty().await?)
    }
}

impl checkpoint::Host for PluginState {
    async fn save(&mut self, data: Vec<u8>) -> Result<(), String> {
        let Some(sink) = self.env.checkpoints.clone() else {
            return Err("checkpoints are not available to this instance".into());
        };
        // SQLite blocks; keep it off the threads that run guests.
        let saved = data.clone();
        tokio::task::spawn_blocking(move || sink.save(&saved))
            .await
            .map_err(|e| format!("saving the checkpoint was interrupted: {e}"))??;
        self.env.checkpoint = Some(data);
        Ok(())
    }

    async fn load(&mut self) -> Option<Vec<u8>> {
        self.env.checkpoint.clone()
    }
}

impl context::Host for PluginState {
    async fn job_name(&mut self) -> String {
        self.env.context.job_name.clone()
    }

    async fn instance_name(&mut self) -> String {
        self.env.context.instance_name.clone()
    }

    async fn completion_index(&mut self) -> Option<u32> {
        self.env.context.completion_index
    }

    async fn attempt(&mut self) -> u32 {
        self.env.context.attempt
    }

    async fn node_name(&mut self) -> String {
        self.env.context.node_name.clone()
    }

    async fn scheduled_time(&mut self) -> Option<String> {
        self.env.context.scheduled_time.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_logfmt_line() {
        let record = LogRecord {
            time: 0,
            level: LogLevel::Warn,
            message: "item took long".into(),
            fields: vec![
                ("item".into(), "apple".into()),
                ("note".into(), "two words".into()),
                ("empty".into(), String::new()),
            ],
        };
        assert_eq!(
            record.line(),
            r#"level=warn msg="item took long" item=apple note="two words" empty="""#
        );
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(LogLevel::Warn > LogLevel::Info);
        assert_eq!(LogLevel::parse("WARNING"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("loud"), None);
    }

    #[test]
    fn keys_are_made_filterable() {
        assert_eq!(clean_key("item id"), "item_id");
        assert_eq!(clean_key("k8s.io/name"), "k8s.io_name");
        assert_eq!(clean_key(""), "_");
    }
}
