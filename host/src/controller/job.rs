//! The Job controller: how many instances to create, and when a Job is
//! Complete or Failed, by Kubernetes' batch/v1 rules.

use std::collections::BTreeSet;

use crate::manifest::JobSpec;
use crate::time::Micros;

/// What the controller sees of a Job's instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// When the Job first started running, if it has.
    pub start_time: Option<Micros>,
    /// Instances running now.
    pub active: u32,
    /// Succeeded instances.
    pub succeeded: u32,
    /// Failed instances (and failed attempts of instances restarted in place).
    pub failed: u32,
    /// Indexed Jobs: indexes with a success.
    pub succeeded_indexes: BTreeSet<u32>,
    /// Indexed Jobs: indexes with an instance running.
    pub active_indexes: BTreeSet<u32>,
}

/// Why a Job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// More failed instances than `backoffLimit`.
    BackoffLimitExceeded,
    /// `activeDeadlineSeconds` passed.
    DeadlineExceeded,
}

impl FailureReason {
    /// Kubernetes' reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::BackoffLimitExceeded => "BackoffLimitExceeded",
            FailureReason::DeadlineExceeded => "DeadlineExceeded",
        }
    }

    /// Kubernetes' condition message.
    pub fn message(self) -> &'static str {
        match self {
            FailureReason::BackoffLimitExceeded => "Job has reached the specified backoff limit",
            FailureReason::DeadlineExceeded => "Job was active longer than specified deadline",
        }
    }
}

/// What should happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create instances: one per entry, with its completion index if Indexed.
    Create(Vec<Option<u32>>),
    /// Every required completion succeeded.
    Complete,
    /// The Job failed; running instances must be stopped.
    Fail(FailureReason),
    /// Nothing to do until an instance ends, or until this time passes.
    Wait {
        /// When the controller must look again even if nothing ends.
        until: Option<Micros>,
    },
}

/// Decides the next step of a Job that has not finished yet.
pub fn reconcile(spec: &JobSpec, observed: &Observed, now: Micros) -> Decision {
    let deadline = deadline(spec, observed);
    if deadline.is_some_and(|d| now >= d) {
        return Decision::Fail(FailureReason::DeadlineExceeded);
    }
    if observed.failed > spec.backoff_limit() {
        return Decision::Fail(FailureReason::BackoffLimitExceeded);
    }
    if is_complete(spec, observed) {
        return Decision::Complete;
    }
    let create = to_create(spec, observed);
    if create.is_empty() {
        Decision::Wait { until: deadline }
    } else {
        Decision::Create(create)
    }
}

/// When `activeDeadlineSeconds` runs out, counted from the start time.
fn deadline(spec: &JobSpec, observed: &Observed) -> Option<Micros> {
    let secs = spec.active_deadline_seconds?;
    Some(observed.start_time? + secs * 1_000_000)
}

fn is_complete(spec: &JobSpec, observed: &Observed) -> bool {
    match spec.completions() {
        Some(n) if spec.indexed() => observed.succeeded_indexes.len() as u32 >= n,
        Some(n) => observed.succeeded >= n,
        // Work-queue Jobs: the first success means the work is done, and the
        // Job completes once the others have ended too.
        None => observed.succeeded >= 1 && observed.active == 0,
    }
}

fn to_create(spec: &JobSpec, observed: &Observed) -> Vec<Option<u32>> {
    let parallelism = spec.parallelism();
    let room = parallelism.saturating_sub(observed.active);
    match spec.completions() {
        Some(n) if spec.indexed() => (0..n)
            .filter(|i| {
                !observed.succeeded_indexes.contains(i) && !observed.active_indexes.contains(i)
            })
            .take(room as usize)
            .map(Some)
            .collect(),
        Some(n) => {
            // Never more running than the completions still missing.
            let missing = n.saturating_sub(observed.succeeded);
            let want = missing.min(parallelism).saturating_sub(observed.active);
            vec![None; want as usize]
        }
        None if observed.succeeded == 0 => vec![None; room as usize],
        None => Vec::new(),
    }
}

/// Kubernetes' compact form of a set of indexes: `1,3-5,7`.
pub fn compact_indexes(indexes: &BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().expect("peeked");
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::CompletionMode;

    fn spec(completions: Option<i32>, parallelism: i32, backoff: i32) -> JobSpec {
        JobSpec {
            completions,
            parallelism: Some(parallelism),
            backoff_limit: Some(backoff),
            ..JobSpec::default()
        }
    }

    fn observed(active: u32, succeeded: u32, failed: u32) -> Observed {
        Observed {
            start_time: Some(0),
            active,
            succeeded,
            failed,
            ..Observed::default()
        }
    }

    #[test]
    fn a_new_job_creates_up_to_parallelism() {
        let s = spec(Some(5), 2, 6);
        assert_eq!(
            reconcile(&s, &observed(0, 0, 0), 0),
            Decision::Create(vec![None; 2])
        );
        assert_eq!(
            reconcile(&s, &observed(1, 0, 0), 0),
            Decision::Create(vec![None])
        );
        assert_eq!(
            reconcile(&s, &observed(2, 0, 0), 0),
            Decision::Wait { until: None }
        );
    }

    #[test]
    fn never_more_running_than_completions_missing() {
        let s = spec(Some(5), 2, 6);
        // Four succeeded, one running: the fifth completion is covered.
        assert_eq!(
            reconcile(&s, &observed(1, 4, 0), 0),
            Decision::Wait { until: None }
        );
        assert_eq!(
            reconcile(&s, &observed(0, 4, 0), 0),
            Decision::Create(vec![None])
        );
    }

    #[test]
    fn completions_reached_completes() {
        let s = spec(Some(5), 2, 6);
        assert_eq!(reconcile(&s, &observed(0, 5, 3), 0), Decision::Complete);
    }

    #[test]
    fn parallelism_zero_pauses() {
        let s = spec(Some(5), 0, 6);
        assert_eq!(
            reconcile(&s, &observed(0, 0, 0), 0),
            Decision::Wait { until: None }
        );
    }

    #[test]
    fn failures_beyond_backoff_limit_fail_the_job() {
        let s = spec(Some(1), 1, 2);
        // Two failures are within the limit: retry.
        assert_eq!(
            reconcile(&s, &observed(0, 0, 2), 0),
            Decision::Create(vec![None])
        );
        // The third exceeds it.
        assert_eq!(
            reconcile(&s, &observed(0, 0, 3), 0),
            Decision::Fail(FailureReason::BackoffLimitExceeded)
        );
    }

    #[test]
    fn unset_completions_complete_on_first_success_once_all_ended() {
        let s = spec(None, 2, 6);
        assert_eq!(
            reconcile(&s, &observed(0, 0, 0), 0),
            Decision::Create(vec![None; 2])
        );
        // One succeeded, one still running: no new instances, not complete yet.
        assert_eq!(
            reconcile(&s, &observed(1, 1, 0), 0),
            Decision::Wait { until: None }
        );
        assert_eq!(reconcile(&s, &observed(0, 1, 0), 0), Decision::Complete);
    }

    #[test]
    fn active_deadline_counts_from_start_time() {
        let mut s = spec(Some(1), 1, 6);
        s.active_deadline_seconds = Some(2);
        let o = observed(1, 0, 0);
        assert_eq!(
            reconcile(&s, &o, 1_999_999),
            Decision::Wait {
                until: Some(2_000_000)
            }
        );
        assert_eq!(
            reconcile(&s, &o, 2_000_000),
            Decision::Fail(FailureReason::DeadlineExceeded)
        );
    }

    #[test]
    fn indexed_jobs_create_each_missing_index_once() {
        let mut s = spec(Some(4), 2, 6);
        s.completion_mode = Some(CompletionMode::Indexed);
        let mut o = observed(0, 0, 0);
        assert_eq!(
            reconcile(&s, &o, 0),
            Decision::Create(vec![Some(0), Some(1)])
        );
        o.active = 1;
        o.active_indexes = [1].into();
        o.succeeded = 1;
        o.succeeded_indexes = [0].into();
        assert_eq!(reconcile(&s, &o, 0), Decision::Create(vec![Some(2)]));
        o.active = 0;
        o.active_indexes.clear();
        o.succeeded = 4;
        o.succeeded_indexes = [0, 1, 2, 3].into();
        assert_eq!(reconcile(&s, &o, 0), Decision::Complete);
    }

    #[test]
    fn indexes_print_in_kubernetes_compact_form() {
        let set: BTreeSet<u32> = [1, 3, 4, 5, 7].into();
        assert_eq!(compact_indexes(&set), "1,3-5,7");
        assert_eq!(compact_indexes(&BTreeSet::new()), "");
    }
}
