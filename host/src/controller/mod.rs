//! Controllers: pure functions of (spec, observed state, now) that decide what
//! should happen next. They never touch Wasm, the store or the clock; each
//! has its own view types, and the runner carries their decisions out, so
//! every rule is unit-tested here.
//!
//! - [`job`]: Jobs — instances to create, failures, restarts in place,
//!   conditions, update rules, instance names and labels.
//! - [`cronjob`]: CronJobs — due times, missed runs, concurrency, history
//!   limits, the Jobs made from the template, status.
//! - [`daemonset`]: DaemonSets — which nodes run an instance, rolling
//!   updates, the crash-loop back-off, status, update rules.
//! - [`node`]: a node's labels changed by `label node`.
//! - [`lease`]: when a node cut off from its cluster may still start work,
//!   and where a new owner's scheduled times begin.
//! - [`instance`]: how one run of an instance ends up in its record.
//! - [`image_pull`]: a Job waiting for its registry image — the back-off
//!   between pulls, its status and events meanwhile.

pub mod cronjob;
pub mod daemonset;
pub mod image_pull;
pub mod instance;
pub mod job;
pub mod lease;
pub mod node;

/// An event a controller's decision records about its object, as
/// `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    /// `SuccessfulCreate`, `Completed`, `BackoffLimitExceeded`, …
    pub reason: String,
    /// The sentence shown.
    pub message: String,
}

impl Event {
    /// A `Normal` event.
    pub fn normal(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Event {
            kind: "Normal",
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A `Warning` event.
    pub fn warning(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Event {
            kind: "Warning",
            reason: reason.into(),
            message: message.into(),
        }
    }
}
