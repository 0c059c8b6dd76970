//! A Job's `status` as the controller writes it: the counts of what it
//! observed, the conditions of its end or suspension (with their events),
//! and when a finished Job expires (`ttlSecondsAfterFinished`).

use super::{FailureReason, Observed, SuccessReason, compact_indexes};
use crate::controller::Event;
use crate::manifest::{Condition, JobSpec, JobStatus};
use crate::time::{Micros, rfc3339};

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// It succeeded.
    Complete(SuccessReason),
    /// It failed.
    Failed {
        /// Why.
        reason: FailureReason,
        /// Kubernetes' message.
        message: String,
    },
}

impl End {
    /// The condition type the end sets: `Complete` or `Failed`.
    pub fn condition(&self) -> &'static str {
        match self {
            End::Complete(_) => "Complete",
            End::Failed { .. } => "Failed",
        }
    }

    /// Kubernetes' reason.
    pub fn reason(&self) -> &'static str {
        match self {
            End::Complete(reason) => reason.as_str(),
            End::Failed { reason, .. } => reason.as_str(),
        }
    }

    /// Kubernetes' message.
    pub fn message(&self) -> String {
        match self {
            End::Complete(reason) => reason.message().to_owned(),
            End::Failed { message, .. } => message.clone(),
        }
    }

    /// What an instance still running when the Job ends is stopped with:
    /// the end's reason, and a message naming the end.
    pub fn stop_message(&self) -> String {
        format!(
            "stopped: the Job is {} ({})",
            self.condition(),
            self.reason()
        )
    }

    /// Stopped by a failing Job, an instance counts as failed, as in
    /// Kubernetes; stopped by a Job that succeeded (a met success policy),
    /// it does not.
    pub fn stops_count_as_failures(&self) -> bool {
        matches!(self, End::Failed { .. })
    }
}

/// What a Job's end records beside its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// `Completed`, or the failure's reason.
    pub event: Event,
    /// When the finished Job is deleted (`ttlSecondsAfterFinished`).
    pub expires_at: Option<Micros>,
}

/// The Job ended at `now`: the conditions Kubernetes sets (1.31 and later:
/// `SuccessCriteriaMet` then `Complete`, or `FailureTarget` then `Failed`),
/// the completion time on success only, its event and its expiry.
pub fn conclude(status: &mut JobStatus, spec: &JobSpec, end: &End, now: Micros) -> Ending {
    let (reason, message) = (end.reason(), end.message());
    let target = match end {
        End::Complete(_) => "SuccessCriteriaMet",
        End::Failed { .. } => "FailureTarget",
    };
    for kind in [target, end.condition()] {
        let condition = Condition::new(kind, reason, &message, now);
        status.conditions.push(condition);
    }
    let event = match end {
        End::Complete(_) => {
            status.completion_time = Some(rfc3339(now));
            Event::normal("Completed", "Job completed")
        }
        End::Failed { .. } => Event::warning(reason, message),
    };
    let ttl = spec.ttl_seconds_after_finished;
    Ending {
        event,
        expires_at: ttl.map(|ttl| now + i64::from(ttl) * 1_000_000),
    }
}

/// The status counts follow what the controller observed: active (and
/// ready: a Wasm instance is ready once it runs), succeeded, failed, and an
/// Indexed Job's completed and failed indexes in compact form.
pub fn count(status: &mut JobStatus, spec: &JobSpec, observed: &Observed) {
    status.active = observed.active;
    status.ready = observed.active;
    status.succeeded = observed.succeeded;
    status.failed = observed.failed;
    if spec.indexed() {
        let completed = compact_indexes(&observed.succeeded_indexes);
        status.completed_indexes = (!completed.is_empty()).then_some(completed);
    }
    if spec.backoff_limit_per_index.is_some() {
        status.failed_indexes = Some(compact_indexes(&observed.failed_indexes));
    }
}

/// The Job's first instance started at `now`: its start time.
pub fn started(status: &mut JobStatus, now: Micros) {
    status.start_time = Some(rfc3339(now));
}

/// The reason and message of instances stopped by a suspension.
pub const SUSPENDED: (&str, &str) = ("Suspended", "stopped: the Job was suspended");

/// The Job is suspended at `now`: the `Suspended` condition, set once,
/// and its event the first time.
pub fn suspend(status: &mut JobStatus, now: Micros) -> Option<Event> {
    if status.conditions.iter().any(|c| c.kind == "Suspended") {
        return None;
    }
    let condition = Condition::new("Suspended", "JobSuspended", "Job suspended", now);
    status.conditions.push(condition);
    Some(Event::normal("Suspended", "Job suspended"))
}

/// `suspend` went back to false at `now`: the condition goes, and
/// `activeDeadlineSeconds` counts again from now (see [`Observed::resumed`]).
pub fn resume(status: &mut JobStatus, observed: &mut Observed, now: Micros) {
    observed.resumed(now);
    status.conditions.retain(|c| c.kind != "Suspended");
}

/// A Job's first instances each get a `SuccessfulCreate` event; the rest
/// are counted in one event when the Job ends, as Kubernetes' event
/// aggregation folds similar events, so a Job of ten thousand instances
/// keeps a readable `describe`.
pub const CREATE_EVENTS: u32 = 10;

/// The event of the `created`th instance (1 first), named `name`, if it
/// gets one of its own.
pub fn create_event(created: u32, name: &str) -> Option<Event> {
    (created <= CREATE_EVENTS)
        .then(|| Event::normal("SuccessfulCreate", format!("Created instance: {name}")))
}

/// When the Job ends: the one event that counts the instances created
/// beyond the first [`CREATE_EVENTS`], and names the last.
pub fn combined_creates(created: u32, last: &str) -> Option<Event> {
    let more = created.checked_sub(CREATE_EVENTS).filter(|n| *n > 0)?;
    Some(Event::normal(
        "SuccessfulCreate",
        format!("Created {more} more instances (combined from similar events); the last: {last}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_job_gets_success_criteria_met_then_complete_and_a_completion_time() {
        let mut status = JobStatus::default();
        let spec = JobSpec {
            ttl_seconds_after_finished: Some(5),
            ..JobSpec::default()
        };
        let end = End::Complete(SuccessReason::CompletionsReached);
        let ending = conclude(&mut status, &spec, &end, 1_000_000);
        let kinds: Vec<&str> = status.conditions.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["SuccessCriteriaMet", "Complete"]);
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.reason == "CompletionsReached")
        );
        assert!(status.completion_time.is_some());
        assert_eq!(ending.event, Event::normal("Completed", "Job completed"));
        assert_eq!(ending.expires_at, Some(6_000_000));
        assert!(!end.stops_count_as_failures());
    }

    #[test]
    fn a_failed_job_gets_failure_target_then_failed_and_no_completion_time() {
        let mut status = JobStatus::default();
        let end = End::Failed {
            reason: FailureReason::BackoffLimitExceeded,
            message: "Job has reached the specified backoff limit".into(),
        };
        let ending = conclude(&mut status, &JobSpec::default(), &end, 0);
        let kinds: Vec<&str> = status.conditions.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["FailureTarget", "Failed"]);
        assert_eq!(status.completion_time, None);
        assert_eq!(ending.event.kind, "Warning");
        assert_eq!(ending.event.reason, "BackoffLimitExceeded");
        assert_eq!(ending.expires_at, None);
        assert!(end.stops_count_as_failures());
        assert_eq!(
            end.stop_message(),
            "stopped: the Job is Failed (BackoffLimitExceeded)"
        );
    }

    #[test]
    fn suspension_sets_its_condition_once_and_resuming_removes_it() {
        let mut status = JobStatus::default();
        assert!(suspend(&mut status, 0).is_some());
        assert!(
            suspend(&mut status, 5).is_none(),
            "one event, one condition"
        );
        assert_eq!(status.conditions.len(), 1);
        let mut observed = Observed::default();
        resume(&mut status, &mut observed, 9);
        assert!(status.conditions.is_empty());
        assert_eq!(observed.start_time, Some(9));
    }

    #[test]
    fn the_first_ten_creations_get_events_and_the_rest_one_combined() {
        assert!(create_event(10, "a").is_some());
        assert!(create_event(11, "b").is_none());
        assert_eq!(combined_creates(10, "x"), None);
        let combined = combined_creates(12, "x").unwrap();
        assert!(combined.message.starts_with("Created 2 more instances"));
    }
}
