//! Which fields of a Job an update may change: Kubernetes lets
//! `parallelism`, `suspend`, `activeDeadlineSeconds`,
//! `ttlSecondsAfterFinished`, `backoffLimit` (with wasmjob's
//! `backoffPolicy`) and `maxFailedIndexes` change, and wasmjob's
//! `startAfter` (moving a time not reached yet, as `at` would); the
//! template, `completions`, the policies, the queue, `disconnect` and
//! `dependsOn` are immutable once the Job exists.

use crate::manifest::JobSpec;

/// `Ok` when `new` differs from `old` only in mutable fields; otherwise
/// the path of the first immutable field that differs.
pub fn check_update(new: &JobSpec, old: &JobSpec) -> Result<(), &'static str> {
    if with_mutable_fields_of(new, old) == *old {
        return Ok(());
    }
    Err(immutable_difference(new, old))
}

/// `new` with the fields an update may change taken from `old`.
fn with_mutable_fields_of(new: &JobSpec, old: &JobSpec) -> JobSpec {
    let mut spec = new.clone();
    spec.parallelism = old.parallelism;
    spec.suspend = old.suspend;
    spec.active_deadline_seconds = old.active_deadline_seconds;
    spec.ttl_seconds_after_finished = old.ttl_seconds_after_finished;
    spec.backoff_limit = old.backoff_limit;
    spec.backoff_policy = old.backoff_policy.clone();
    spec.max_failed_indexes = old.max_failed_indexes;
    spec.start_after = old.start_after.clone();
    spec
}

/// The first immutable field that differs, for the error message.
fn immutable_difference(new: &JobSpec, old: &JobSpec) -> &'static str {
    if new.template != old.template {
        "spec.template"
    } else if new.completions != old.completions {
        "spec.completions"
    } else if new.completion_mode != old.completion_mode {
        "spec.completionMode"
    } else if new.pod_failure_policy != old.pod_failure_policy {
        "spec.podFailurePolicy"
    } else if new.success_policy != old.success_policy {
        "spec.successPolicy"
    } else if new.depends_on != old.depends_on {
        "spec.dependsOn"
    } else if new.queue != old.queue {
        "spec.queue"
    } else if new.disconnect != old.disconnect {
        "spec.disconnect"
    } else {
        "spec.backoffLimitPerIndex"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutable_fields_change_and_immutable_ones_are_named() {
        let old = JobSpec {
            completions: Some(3),
            parallelism: Some(1),
            ..JobSpec::default()
        };
        let mut new = old.clone();
        new.parallelism = Some(5);
        new.suspend = Some(true);
        new.backoff_limit = Some(9);
        assert_eq!(check_update(&new, &old), Ok(()));
        new.start_after = Some("2027-01-01T00:00:00Z".into());
        assert_eq!(check_update(&new, &old), Ok(()), "startAfter moves");
        new.completions = Some(4);
        assert_eq!(check_update(&new, &old), Err("spec.completions"));
        new.template.spec.active_deadline_seconds = Some(1);
        assert_eq!(check_update(&new, &old), Err("spec.template"));
    }
}
