//! `wasmjob-sdk`: what a Rust plugin author depends on to write a wasmjob job.
//!
//! Any WASI command is already a valid job: build a `main` with
//! `cargo build --target wasm32-wasip1` (or `wasm32-wasip2`) and point a Job's
//! `containers[0].image` at the `.wasm`. This crate adds the host's own
//! interfaces (the WIT package `wasmjob:plugin@0.1.0` in `wit/`) with types:
//! structured [`log`], the Job's work [`queue`], [`checkpoint`]s that let a
//! retried instance resume, the instance's [`Context`], its [`config`]
//! through `wasi:config`, values kept between runs in [`keyvalue`]
//! buckets, and outgoing [`http`] where a NetworkPolicy grants it. They need a component: build
//! with `cargo build --target wasm32-wasip2`, nothing else.
//!
//! ```no_run
//! // A whole plugin: counts to 10, saving progress, so a retry resumes.
//! use wasmjob_sdk::{Context, checkpoint, log};
//!
//! fn main() {
//!     let ctx = Context::current();
//!     let mut n: u32 = checkpoint::load()
//!         .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
//!         .unwrap_or(0);
//!     while n < 10 {
//!         n += 1;
//!         log::info("counted", &[("n", &n.to_string()), ("node", &ctx.node_name)]);
//!         checkpoint::save(n.to_string().as_bytes()).expect("saving progress");
//!     }
//! }
//! ```
//!
//! Outside wasmjob (a unit test on the build machine, say) the host calls
//! are absent: [`Context::from_env`] still works there; the rest panics.

// The crate example is a whole plugin, so its `main` is the point.
#![allow(clippy::needless_doctest_main)]

use std::env;

pub mod config;
pub mod http;
pub mod keyvalue;

/// The generated bindings of the `plugin` world. Prefer the typed API of
/// this crate; these are here for what it does not cover yet.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasmjob:plugin/plugin",
    });
}

use bindings::wasmjob::plugin as wit;

/// Who and where this instance is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// The owning Job's name (`JOB_NAME`).
    pub job_name: String,
    /// This instance's name (`INSTANCE_NAME`, also `HOSTNAME`).
    pub instance_name: String,
    /// The node running it (`NODE_NAME`).
    pub node_name: String,
    /// Indexed Jobs only: this instance's index (`JOB_COMPLETION_INDEX`).
    pub completion_index: Option<u32>,
    /// Failed attempts at this work before this one (0 the first time).
    /// Only [`Context::current`] knows it; the environment does not.
    pub attempt: u32,
    /// A CronJob run's scheduled time, RFC 3339 (`SCHEDULED_TIME`).
    pub scheduled_time: Option<String>,
}

impl Context {
    /// Asks the host (the `context` interface). Components only.
    pub fn current() -> Self {
        Context {
            job_name: wit::context::job_name(),
            instance_name: wit::context::instance_name(),
            node_name: wit::context::node_name(),
            completion_index: wit::context::completion_index(),
            attempt: wit::context::attempt(),
            scheduled_time: wit::context::scheduled_time(),
        }
    }

    /// Reads the context from the environment the host gave this instance;
    /// works in core modules (`wasm32-wasip1`) too. Missing variables
    /// (running outside wasmjob) read as empty.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| env::var(key).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        Context {
            job_name: get("JOB_NAME").unwrap_or_default(),
            instance_name: get("INSTANCE_NAME")
                .or_else(|| get("HOSTNAME"))
                .unwrap_or_default(),
            node_name: get("NODE_NAME").unwrap_or_default(),
            completion_index: get("JOB_COMPLETION_INDEX").and_then(|v| v.parse().ok()),
            attempt: 0,
            scheduled_time: get("SCHEDULED_TIME"),
        }
    }
}

/// Structured, levelled logging. Each record becomes one line of the
/// instance's log (`level=info msg="counted" n=3`) and a record that
/// `wasmjob logs --level/--field` filters on.
pub mod log {
    use super::wit::log as host;

    pub use host::Level;

    /// Writes a record at `level` with `fields` (key, value).
    pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<host::Field> = fields
            .iter()
            .map(|(key, value)| host::Field {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect();
        host::log(level, message, &fields);
    }

    /// A `debug` record.
    pub fn debug(message: &str, fields: &[(&str, &str)]) {
        log(Level::Debug, message, fields)
    }

    /// An `info` record.
    pub fn info(message: &str, fields: &[(&str, &str)]) {
        log(Level::Info, message, fields)
    }

    /// A `warn` record.
    pub fn warn(message: &str, fields: &[(&str, &str)]) {
        log(Level::Warn, message, fields)
    }

    /// An `error` record.
    pub fn error(message: &str, fields: &[(&str, &str)]) {
        log(Level::Error, message, fields)
    }
}

/// Progress that survives a failed attempt: saved per Job and completion
/// index, loaded by the next attempt.
pub mod checkpoint {
    use super::wit::checkpoint as host;

    /// Durably replaces this Job's (and index's) checkpoint.
    pub fn save(data: &[u8]) -> Result<(), String> {
        host::save(data)
    }

    /// The checkpoint saved last, if any.
    pub fn load() -> Option<Vec<u8>> {
        host::load()
    }
}

/// The Job's work queue (`spec.queue` with `mode: lease`), as the seed's
/// `rediswq` library offers it: lease an item, process it, complete it;
/// stop when the queue is empty.
///
/// ```no_run
/// use std::time::Duration;
/// while !wasmjob_sdk::queue::is_empty().unwrap() {
///     match wasmjob_sdk::queue::lease(Duration::from_secs(10)).unwrap() {
///         Some(item) => {
///             println!("Working on {}", String::from_utf8_lossy(&item.body));
///             item.complete().unwrap();
///         }
///         None => std::thread::sleep(Duration::from_millis(200)),
///     }
/// }
/// ```
pub mod queue {
    use std::time::Duration;

    use super::wit::queue as host;

    pub use host::Error;

    /// An item this worker holds until its lease runs out.
    #[derive(Debug)]
    pub struct Item {
        /// The lease's id.
        pub id: String,
        /// The item's bytes.
        pub body: Vec<u8>,
    }

    impl Item {
        /// The body as text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// Done: the item leaves the queue for good.
        pub fn complete(self) -> Result<(), Error> {
            host::complete(&self.id)
        }
    }

    /// Leases the next item for `lease` (whole seconds, at least 1); `None`
    /// when nothing waits right now.
    pub fn lease(lease: Duration) -> Result<Option<Item>, Error> {
        let secs = lease.as_secs().clamp(1, u64::from(u32::MAX)) as u32;
        Ok(host::lease(secs)?.map(|item| Item {
            id: item.id,
            body: item.body,
        }))
    }

    /// Nothing waiting and nothing leased by anyone.
    pub fn is_empty() -> Result<bool, Error> {
        host::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Context;

    #[test]
    fn reads_the_injected_variables() {
        let vars = [
            ("JOB_NAME", "pi"),
            ("INSTANCE_NAME", "pi-2-x7k2q"),
            ("NODE_NAME", "edge-1"),
            ("JOB_COMPLETION_INDEX", "2"),
        ];
        let ctx = Context::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(
            ctx,
            Context {
                job_name: "pi".into(),
                instance_name: "pi-2-x7k2q".into(),
                node_name: "edge-1".into(),
                completion_index: Some(2),
                attempt: 0,
                scheduled_time: None,
            }
        );
    }

    #[test]
    fn outside_wasmjob_everything_is_empty() {
        assert_eq!(Context::from_lookup(|_| None), Context::default());
    }
}
