//! What the Job controller sees of a Job's instances ([`Observed`]), and
//! every way it changes: an attempt that ended (counted, judged by the
//! failure policy, and maybe restarted in place), an instance the
//! controller stopped, a Job resumed; and the same counts rebuilt from the
//! recorded instances after a restart. The runner changes an [`Observed`]
//! only through these functions, so what counts as a failure is decided here.

use std::collections::{BTreeMap, BTreeSet};

use super::failure::{InstanceFailure, Verdict, judge};
use super::{STOPPED_BY_CONTROLLER, is_disruption};
use crate::manifest::{JobSpec, Phase, RestartPolicy};
use crate::time::Micros;

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
    /// `dependsOn`, as the runner last found it before the Job started;
    /// `None` once met or when there is none.
    pub dependencies: Option<super::depends::Dependencies>,
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

    /// One attempt of a live instance ended: counted, and judged by the
    /// failure policy when it failed. Returns whether the instance restarts
    /// in place: `restartPolicy: OnFailure`, a failure that is no
    /// disruption (a lost node's instance is replaced, not restarted),
    /// within `backoffLimit`, no FailJob rule matched and its index has not
    /// failed for good. Otherwise it is no longer active: see
    /// [`Observed::instance_gone`].
    pub fn attempt_ended(&mut self, spec: &JobSpec, end: &AttemptEnd<'_>) -> bool {
        if end.succeeded {
            self.record_success(end.completion_index);
            return false;
        }
        let failure = InstanceFailure {
            instance: end.instance.to_owned(),
            exit_code: end.exit_code,
            disruption: end.disruption,
        };
        let verdict = judge(spec, &failure);
        let index = end.completion_index;
        match end.finish_time {
            Some(at) if !end.disruption => self.record_failure(spec, verdict, index, at),
            _ => self.record_disruption(spec, verdict, index),
        };
        let index_failed = index.is_some_and(|i| self.failed_indexes.contains(&i));
        !end.disruption
            && spec.restart_policy() == RestartPolicy::OnFailure
            && self.failed <= spec.backoff_limit()
            && self.fail_job.is_none()
            && !index_failed
    }

    /// A new instance runs (or is offered to the cluster) from `now`; the
    /// Job's start time is its first instance's. Returns whether this was
    /// the first.
    pub fn instance_started(&mut self, index: Option<u32>, now: Micros) -> bool {
        self.active += 1;
        if let Some(i) = index {
            self.active_indexes.insert(i);
        }
        let first = self.start_time.is_none();
        if first {
            self.start_time = Some(now);
        }
        first
    }

    /// An instance no longer runs, its end counted already.
    pub fn instance_gone(&mut self, index: Option<u32>) {
        self.active -= 1;
        if let Some(i) = index {
            self.active_indexes.remove(&i);
        }
    }

    /// The controller stopped a running instance (the Job ended, was
    /// suspended or deleted, or its node drains). It counts as a failure
    /// only when `counted` (a failing Job's, see [`super::End`]): never
    /// judged by the failure policy, since the program did not fail.
    pub fn instance_stopped(&mut self, index: Option<u32>, counted: bool) {
        if counted {
            self.failed += 1;
        }
        self.instance_gone(index);
    }

    /// Failures of this work before a new instance of it: its index's, or
    /// the Job's. The plugin context calls this (plus restarts in place)
    /// the instance's attempt.
    pub fn failures_before(&self, index: Option<u32>) -> u32 {
        match index {
            Some(i) => self.index_failures.get(&i).copied().unwrap_or(0),
            None => self.failed,
        }
    }
}

/// One attempt of an instance that ended, as the controller counts it.
#[derive(Debug, Clone, Copy)]
pub struct AttemptEnd<'a> {
    /// The instance's name, for the failure policy's messages.
    pub instance: &'a str,
    /// Indexed Jobs.
    pub completion_index: Option<u32>,
    /// Exit code 0.
    pub succeeded: bool,
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Lost to its node going away (`NodeRestart`, `NodeShutdown`,
    /// `NodeLost`): the `DisruptionTarget` condition.
    pub disruption: bool,
    /// When it ended.
    pub finish_time: Option<Micros>,
}

/// What the controller needs of one recorded instance to count it again.
#[derive(Debug, Clone, Copy)]
pub struct RecordedInstance<'a> {
    /// The instance's name.
    pub name: &'a str,
    /// Indexed Jobs.
    pub completion_index: Option<u32>,
    /// Its phase as recorded.
    pub phase: Phase,
    /// Why it failed.
    pub reason: Option<&'a str>,
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Restarts in place (`OnFailure`), each a counted failure.
    pub restart_count: u32,
    /// When it was created.
    pub created_at: Micros,
    /// When it ended.
    pub finish_time: Option<Micros>,
}

/// Rebuilds what the controller sees from a Job's recorded instances, oldest
/// first, as after a restart of the process. Instances still marked running
/// must have been ended (as [`NODE_RESTART`]) by the caller first. Every
/// failure is judged again by the failure policy, so the counts are the same
/// as if the process had never stopped.
pub fn observe<'a>(
    spec: &JobSpec,
    start_time: Option<Micros>,
    instances: impl IntoIterator<Item = RecordedInstance<'a>>,
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
                let reason = instance.reason.unwrap_or("");
                if STOPPED_BY_CONTROLLER.contains(&reason) {
                    continue;
                }
                let failure = InstanceFailure {
                    instance: instance.name.to_owned(),
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
