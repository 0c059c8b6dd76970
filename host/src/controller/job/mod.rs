//! The Job controller: how many instances to create, when to wait, and when a
//! Job is Complete or Failed, by Kubernetes' batch/v1 rules. Each rule is one
//! function here (or in the submodule named for it), pinned by the tests below.
//!
//! The runner keeps an [`Observed`] per Job and updates it only through
//! [`Observed::record_success`] and [`Observed::record_failure`], so what
//! counts as a failure is decided here too.

mod backoff;
mod failure;
mod indexes;
mod success;

pub use failure::{InstanceFailure, Verdict, judge};
pub use indexes::compact as compact_indexes;

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::JobSpec;
use crate::store::{InstanceRecord, Phase};
use crate::time::Micros;

/// The reason of an instance that was running when its node (this process)
/// went away; it counts as a disruption (`DisruptionTarget`).
pub const NODE_RESTART: &str = "NodeRestart";

/// The reason of an instance still running when its node shut down (SIGTERM)
/// and the grace period ran out; also a disruption.
pub const NODE_SHUTDOWN: &str = "NodeShutdown";

/// The reason of an instance whose node stopped sending heartbeats (a
/// cluster): another node recorded it as ended; also a disruption.
pub const NODE_LOST: &str = "NodeLost";

/// Whether an instance that ended for `reason` was lost to its node going
/// away rather than ending on its own: a disruption (`DisruptionTarget`).
pub fn is_disruption(reason: &str) -> bool {
    [NODE_RESTART, NODE_SHUTDOWN, NODE_LOST].contains(&reason)
}

/// Reasons of instances stopped by the controller itself (the Job ended or
/// was suspended): they say nothing about the module and are not failures.
const STOPPED_BY_CONTROLLER: &[&str] = &[
    "Suspended",
    "SuccessPolicy",
    "CompletionsReached",
    "Deleted",
];

/// What the controller sees of a Job's instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// When the Job started running (reset when it is resumed).
    pub start_time: Option<Micros>,
    /// Instances running now.
    pub active: u32,
    /// Succeeded instances.
    pub succeeded: u32,
    /// Failed instances (and failed attempts of instances restarted in place)
    /// that count against `backoffLimit`.
    pub failed: u32,
    /// Failures since the last success, for the retry delay.
    pub consecutive_failures: u32,
    /// When the last counted failure happened.
    pub last_failure: Option<Micros>,
    /// Indexed Jobs: indexes with a success.
    pub succeeded_indexes: BTreeSet<u32>,
    /// Indexed Jobs: indexes with an instance running.
    pub active_indexes: BTreeSet<u32>,
    /// Indexed Jobs: indexes that failed for good.
    pub failed_indexes: BTreeSet<u32>,
    /// Indexed Jobs: counted failures per index.
    pub index_failures: BTreeMap<u32, u32>,
    /// Set when a `podFailurePolicy` FailJob rule matched.
    pub fail_job: Option<String>,
    /// `spec.queue` in stdin mode: items waiting in the queue, as last seen.
    pub queue_waiting: u64,
    /// Successors already decided and waiting to start the moment a running
    /// instance succeeds (the runner's relaying slots): they count against
    /// `completions`, not against `parallelism`, since each takes the place
    /// of the instance it follows.
    pub reserved: u32,
}

impl Observed {
    /// An instance ended with exit code 0.
    pub fn record_success(&mut self, index: Option<u32>) {
        self.succeeded += 1;
        self.consecutive_failures = 0;
        if let Some(i) = index {
            self.succeeded_indexes.insert(i);
        }
    }

    /// The Job was resumed (`suspend` set back to false): as in Kubernetes,
    /// `activeDeadlineSeconds` counts again from now, so time spent suspended
    /// never counts against it.
    pub fn resumed(&mut self, now: Micros) {
        self.start_time = Some(now);
    }

    /// An instance (or attempt) failed; `verdict` is the failure policy's
    /// judgement. Returns whether the failure counted.
    pub fn record_failure(
        &mut self,
        spec: &JobSpec,
        verdict: Verdict,
        index: Option<u32>,
        now: Micros,
    ) -> bool {
        self.record(spec, verdict, index, Some(now))
    }

    /// An instance was lost to its node going away. It counts like any
    /// failure (unless the policy ignores it), but its replacement is not
    /// delayed: the backoff protects against a crashing program, and a node
    /// restart says nothing about the program.
    pub fn record_disruption(
        &mut self,
        spec: &JobSpec,
        verdict: Verdict,
        index: Option<u32>,
    ) -> bool {
        self.record(spec, verdict, index, None)
    }

    /// `delay_from`: when the failure happened, if it delays the replacement.
    fn record(
        &mut self,
        spec: &JobSpec,
        verdict: Verdict,
        index: Option<u32>,
        delay_from: Option<Micros>,
    ) -> bool {
        match verdict {
            Verdict::Ignore => return false,
            Verdict::FailJob(message) => {
                self.fail_job.get_or_insert(message);
            }
            Verdict::FailIndex => {
                if let Some(i) = index {
                    self.failed_indexes.insert(i);
                }
            }
            Verdict::Count => {
                if let (Some(i), Some(limit)) = (index, spec.backoff_limit_per_index) {
                    let failures = self.index_failures.entry(i).or_default();
                    *failures += 1;
                    if *failures > limit.max(0) as u32 {
                        self.failed_indexes.insert(i);
                    }
                }
            }
        }
        self.failed += 1;
        if let Some(at) = delay_from {
            self.consecutive_failures += 1;
            self.last_failure = Some(at);
        }
        true
    }
}

/// Rebuilds what the controller sees from a Job's recorded instances, oldest
/// first, as after a restart of the process. Instances still marked running
/// must have been ended (as [`NODE_RESTART`]) by the caller first. Every
/// failure is judged again by the failure policy, so the counts are the same
/// as if the process had never stopped.
pub fn observe(
    spec: &JobSpec,
    start_time: Option<Micros>,
    instances: &[InstanceRecord],
) -> Observed {
    let mut observed = Observed {
        start_time,
        ..Observed::default()
    };
    for instance in instances {
        // Attempts restarted in place (OnFailure) were each a counted failure.
        for _ in 0..instance.restart_count {
            observed.record_failure(
                spec,
                Verdict::Count,
                instance.completion_index,
                instance.created_at,
            );
        }
        match instance.phase {
            Phase::Succeeded => observed.record_success(instance.completion_index),
            Phase::Failed => {
                let reason = instance.reason.as_deref().unwrap_or("");
                if STOPPED_BY_CONTROLLER.contains(&reason) {
                    continue;
                }
                let failure = InstanceFailure {
                    instance: instance.name.clone(),
                    exit_code: instance.exit_code,
                    disruption: is_disruption(reason),
                };
                let verdict = judge(spec, &failure);
                if failure.disruption {
                    observed.record_disruption(spec, verdict, instance.completion_index);
                } else {
                    let at = instance.finish_time.unwrap_or(instance.created_at);
                    observed.record_failure(spec, verdict, instance.completion_index, at);
                }
            }
            Phase::Pending | Phase::Running => {
                observed.active += 1;
                if let Some(i) = instance.completion_index {
                    observed.active_indexes.insert(i);
                }
            }
        }
    }
    observed
}

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
