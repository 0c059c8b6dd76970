//! The Job controller: how many instances to create, when to wait, and when a
//! Job is Complete or Failed, by Kubernetes' batch/v1 rules. Each rule is one
//! function here (or in the submodule named for it), pinned by the tests below.
//!
//! The runner keeps an [`Observed`] per Job and changes it only through
//! the functions of [`observed`], so what counts as a failure — and whether
//! a failed instance restarts in place — is decided here too; the Job's
//! status, its conditions and events come from [`status`]; which updates
//! are allowed from [`update`]; what an instance is called and labelled
//! from [`labels`].
//!
//! | rule | where |
//! | --- | --- |
//! | instances to create, back-off, deadline, Complete/Failed | [`reconcile`] |
//! | `podFailurePolicy` | [`judge`] |
//! | `successPolicy` | `success` |
//! | counting ends, restart in place, stops | [`Observed::attempt_ended`], [`Observed::instance_stopped`] |
//! | counts rebuilt after a restart | [`observe`] |
//! | status counts, end and suspension conditions, TTL | [`status`] |
//! | immutable fields | [`check_update`] |
//! | instance names and labels | [`instance_labels`], [`instance_name`] |
//! | chains: many completions per offer in a cluster | [`chains`] |
//! | `dependsOn`: waiting for other Jobs, cycles | [`depends`] |

mod backoff;
pub mod chains;
pub mod depends;
mod failure;
mod indexes;
mod labels;
mod observed;
pub mod status;
mod success;
mod update;

pub use failure::{InstanceFailure, Verdict, judge};
pub use indexes::compact as compact_indexes;
pub use labels::{instance_labels, instance_name};
pub use observed::{AttemptEnd, Observed, RecordedInstance, observe};
pub use status::End;
pub use update::check_update;

use crate::manifest::JobSpec;
use crate::time::Micros;

/// The reason of an instance that was running when its node (this process)
/// went away; it counts as a disruption (`DisruptionTarget`).
pub const NODE_RESTART: &str = "NodeRestart";

/// The reason of an instance still running when its node shut down (SIGTERM)
/// and the grace period ran out; also a disruption.
pub const NODE_SHUTDOWN: &str = "NodeShutdown";

/// The reason of an instance ended because its node got a `NoExecute`
/// taint it does not tolerate (Kubernetes' taint manager's); a disruption.
pub const DELETION_BY_TAINT_MANAGER: &str = "DeletionByTaintManager";

/// The reason of an instance whose node stopped sending heartbeats (a
/// cluster): another node recorded it as ended; also a disruption.
pub const NODE_LOST: &str = "NodeLost";

/// Whether an instance that ended for `reason` was lost to its node going
/// away rather than ending on its own: a disruption (`DisruptionTarget`).
pub fn is_disruption(reason: &str) -> bool {
    [
        NODE_RESTART,
        NODE_SHUTDOWN,
        NODE_LOST,
        DELETION_BY_TAINT_MANAGER,
    ]
    .contains(&reason)
}

/// Reasons of instances stopped by the controller itself (the Job ended or
/// was suspended): they say nothing about the module and are not failures.
const STOPPED_BY_CONTROLLER: &[&str] = &[
    "Suspended",
    "SuccessPolicy",
    "CompletionsReached",
    "Deleted",
];

/// Why a Job succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessReason {
    /// `completions` successes (or the first, when unset).
    CompletionsReached,
    /// A `successPolicy` rule was met.
    SuccessPolicy,
}

impl SuccessReason {
    /// Kubernetes' reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            SuccessReason::CompletionsReached => "CompletionsReached",
            SuccessReason::SuccessPolicy => "SuccessPolicy",
        }
    }

    /// Kubernetes' condition message.
    pub fn message(self) -> &'static str {
        match self {
            SuccessReason::CompletionsReached => "Reached expected number of succeeded pods",
            SuccessReason::SuccessPolicy => "Matched rules at success policy",
        }
    }
}

/// Why a Job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// More counted failures than `backoffLimit`.
    BackoffLimitExceeded,
    /// `activeDeadlineSeconds` passed.
    DeadlineExceeded,
    /// A `podFailurePolicy` FailJob rule matched.
    PodFailurePolicy,
    /// More failed indexes than `maxFailedIndexes`.
    MaxFailedIndexesExceeded,
    /// Every index ended and some failed (with `backoffLimitPerIndex`).
    FailedIndexes,
    /// wasmjob's `dependsOn`: a dependency ended the other way.
    DependencyFailed,
}

impl FailureReason {
    /// Kubernetes' reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::BackoffLimitExceeded => "BackoffLimitExceeded",
            FailureReason::DeadlineExceeded => "DeadlineExceeded",
            FailureReason::PodFailurePolicy => "PodFailurePolicy",
            FailureReason::MaxFailedIndexesExceeded => "MaxFailedIndexesExceeded",
            FailureReason::FailedIndexes => "FailedIndexes",
            FailureReason::DependencyFailed => "DependencyFailed",
        }
    }
}

/// What should happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create instances: one per entry, with its completion index if Indexed.
    Create(Vec<Option<u32>>),
    /// The Job succeeded; instances still running are stopped.
    Complete(SuccessReason),
    /// The Job failed; instances still running are stopped.
    Fail {
        /// Why.
        reason: FailureReason,
        /// Kubernetes' message.
        message: String,
    },
    /// The Job is suspended: stop what runs, create nothing.
    Suspend,
    /// Nothing to do until an instance ends, or until this time passes.
    Wait {
        /// When the controller must look again even if nothing ends.
        until: Option<Micros>,
    },
}

fn fail(reason: FailureReason, message: impl Into<String>) -> Decision {
    Decision::Fail {
        reason,
        message: message.into(),
    }
}

/// Decides the next step of a Job that has not finished yet.
pub fn reconcile(spec: &JobSpec, observed: &Observed, now: Micros) -> Decision {
    if let Some(message) = &observed.fail_job {
        return fail(FailureReason::PodFailurePolicy, message.clone());
    }
    // `dependsOn`: nothing starts before the dependencies are met.
    match &observed.dependencies {
        Some(depends::Dependencies::Failed(message)) => {
            return fail(FailureReason::DependencyFailed, message.clone());
        }
        Some(depends::Dependencies::Waiting(_)) => {
            return Decision::Wait {
                until: Some(now + depends::DEPENDENCY_POLL),
            };
        }
        _ => {}
    }
    if observed.failed > spec.backoff_limit() {
        return fail(
            FailureReason::BackoffLimitExceeded,
            "Job has reached the specified backoff limit",
        );
    }
    let deadline = deadline(spec, observed);
    if deadline.is_some_and(|d| now >= d) {
        return fail(
            FailureReason::DeadlineExceeded,
            "Job was active longer than specified deadline",
        );
    }
    if let Some(max) = spec.max_failed_indexes
        && observed.failed_indexes.len() > max.max(0) as usize
    {
        return fail(
            FailureReason::MaxFailedIndexesExceeded,
            "Job has exceeded the specified maximal number of failed indexes",
        );
    }
    if success::met(spec, &observed.succeeded_indexes) {
        return Decision::Complete(SuccessReason::SuccessPolicy);
    }
    if let Some(decision) = completion(spec, observed) {
        return decision;
    }
    if spec.suspended() {
        return if observed.active > 0 {
            Decision::Suspend
        } else {
            Decision::Wait { until: None }
        };
    }
    // `startAfter`: nothing starts before it (after the first start, a
    // changed time changes nothing).
    if let Some(at) = spec.start_after().filter(|at| *at > now)
        && observed.start_time.is_none()
        && observed.active == 0
    {
        return Decision::Wait {
            until: Some(deadline.map_or(at, |d| d.min(at))),
        };
    }
    let create = to_create(spec, observed);
    if create.is_empty() {
        if spec.stdin_queue().is_some() && observed.queue_waiting == 0 {
            // Items may be pushed at any time: look at the queue again soon.
            let poll = now + QUEUE_POLL;
            return Decision::Wait {
                until: Some(deadline.map_or(poll, |d| d.min(poll))),
            };
        }
        return Decision::Wait { until: deadline };
    }
    match retry_at(spec, observed) {
        Some(at) if at > now => Decision::Wait {
            until: Some(deadline.map_or(at, |d| d.min(at))),
        },
        _ => Decision::Create(create),
    }
}

/// When `activeDeadlineSeconds` runs out, counted from the start time. A
/// suspended Job's clock is stopped.
fn deadline(spec: &JobSpec, observed: &Observed) -> Option<Micros> {
    if spec.suspended() {
        return None;
    }
    let secs = spec.active_deadline_seconds?;
    Some(observed.start_time? + secs * 1_000_000)
}

/// How often a stdin-queue Job with nothing to take looks at its queue.
pub const QUEUE_POLL: Micros = 1_000_000;

/// Complete, or failed because every index ended and some failed.
fn completion(spec: &JobSpec, observed: &Observed) -> Option<Decision> {
    let complete = match spec.completions() {
        // A stdin queue without completions: done when the queue is drained
        // and nothing runs (a success alone does not end it, as it would a
        // Kubernetes work-queue Job: every item must be processed).
        None if spec.stdin_queue().is_some() => observed.queue_waiting == 0 && observed.active == 0,
        Some(n) if spec.indexed() => {
            let ended = observed.succeeded_indexes.len() + observed.failed_indexes.len();
            if ended as u32 >= n && observed.active == 0 && !observed.failed_indexes.is_empty() {
                return Some(fail(FailureReason::FailedIndexes, "Job has failed indexes"));
            }
            observed.succeeded_indexes.len() as u32 >= n
        }
        Some(n) => observed.succeeded >= n,
        // Work-queue Jobs: the first success means the work is done, and the
        // Job completes once the others have ended too.
        None => observed.succeeded >= 1 && observed.active == 0,
    };
    complete.then_some(Decision::Complete(SuccessReason::CompletionsReached))
}

/// When the next replacement may be created: the last failure plus the
/// backoff delay for the failures in a row so far.
fn retry_at(spec: &JobSpec, observed: &Observed) -> Option<Micros> {
    let last = observed.last_failure?;
    let (initial, max) = spec.backoff_delays();
    Some(last + backoff::delay(observed.consecutive_failures, initial, max))
}

fn to_create(spec: &JobSpec, observed: &Observed) -> Vec<Option<u32>> {
    let mut create = wanted(spec, observed);
    if spec.stdin_queue().is_some() {
        // One item per instance: never more instances than waiting items.
        create.truncate(observed.queue_waiting.min(usize::MAX as u64) as usize);
    }
    create
}

fn wanted(spec: &JobSpec, observed: &Observed) -> Vec<Option<u32>> {
    let parallelism = spec.parallelism();
    let room = parallelism.saturating_sub(observed.active);
    match spec.completions() {
        Some(n) if spec.indexed() => (0..n)
            .filter(|i| {
                !observed.succeeded_indexes.contains(i)
                    && !observed.active_indexes.contains(i)
                    && !observed.failed_indexes.contains(i)
            })
            .take(room as usize)
            .map(Some)
            .collect(),
        Some(n) => {
            // Never more running than the completions still missing.
            let missing = n.saturating_sub(observed.succeeded + observed.reserved);
            let want = missing.min(parallelism).saturating_sub(observed.active);
            vec![None; want as usize]
        }
        None if observed.succeeded == 0 || spec.stdin_queue().is_some() => {
            vec![None; room as usize]
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
