//! One test per Job rule, with an injected clock (microseconds).

use super::*;
use crate::manifest::Phase;
use crate::manifest::{BackoffPolicy, CompletionMode, SuccessPolicy, SuccessPolicyRule};

const SEC: Micros = 1_000_000;

fn spec(completions: Option<i32>, parallelism: i32, backoff: i32) -> JobSpec {
    JobSpec {
        completions,
        parallelism: Some(parallelism),
        backoff_limit: Some(backoff),
        // Most rules are easier to read without the retry delay.
        backoff_policy: Some(BackoffPolicy {
            initial_delay_seconds: Some(0),
            max_delay_seconds: Some(0),
        }),
        ..JobSpec::default()
    }
}

fn indexed(completions: i32, parallelism: i32) -> JobSpec {
    JobSpec {
        completion_mode: Some(CompletionMode::Indexed),
        ..spec(Some(completions), parallelism, 6)
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

fn failed_with(reason: FailureReason) -> impl Fn(&Decision) -> bool {
    move |d| matches!(d, Decision::Fail { reason: r, .. } if *r == reason)
}

#[test]
fn reserved_successors_count_against_completions_not_parallelism() {
    // 10 completions, 3 at once: 7 succeeded, 2 run, one of them has its
    // successor decided already. Nothing more may start: 7 + 2 + 1 = 10.
    let s = spec(Some(10), 3, 6);
    let mut o = observed(2, 7, 0);
    o.reserved = 1;
    assert_eq!(reconcile(&s, &o, 0), Decision::Wait { until: None });
    // One of the two fails (its reservation lapses or not): one may start.
    let mut o = observed(1, 7, 1);
    o.reserved = 1;
    assert_eq!(reconcile(&s, &o, 0), Decision::Create(vec![None]));
    // Reservations take no parallelism: with room and work left, the
    // controller fills the room.
    let mut o = observed(1, 0, 0);
    o.reserved = 1;
    assert_eq!(reconcile(&s, &o, 0), Decision::Create(vec![None; 2]));
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
    assert_eq!(
        reconcile(&s, &observed(0, 5, 3), 0),
        Decision::Complete(SuccessReason::CompletionsReached)
    );
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
    assert_eq!(
        reconcile(&s, &observed(0, 0, 2), 0),
        Decision::Create(vec![None])
    );
    assert!(failed_with(FailureReason::BackoffLimitExceeded)(
        &reconcile(&s, &observed(0, 0, 3), 0)
    ));
}

#[test]
fn unset_completions_complete_on_first_success_once_all_ended() {
    let s = spec(None, 2, 6);
    assert_eq!(
        reconcile(&s, &observed(0, 0, 0), 0),
        Decision::Create(vec![None; 2])
    );
    assert_eq!(
        reconcile(&s, &observed(1, 1, 0), 0),
        Decision::Wait { until: None }
    );
    assert_eq!(
        reconcile(&s, &observed(0, 1, 0), 0),
        Decision::Complete(SuccessReason::CompletionsReached)
    );
}

#[test]
fn replacements_wait_10s_doubling_by_default() {
    let mut s = spec(Some(3), 1, 6);
    s.backoff_policy = None;
    let mut o = observed(0, 0, 0);
    assert!(o.record_failure(&s, Verdict::Count, None, 100 * SEC));
    assert_eq!(
        reconcile(&s, &o, 100 * SEC),
        Decision::Wait {
            until: Some(110 * SEC)
        }
    );
    assert_eq!(reconcile(&s, &o, 110 * SEC), Decision::Create(vec![None]));
    o.record_failure(&s, Verdict::Count, None, 200 * SEC);
    assert_eq!(
        reconcile(&s, &o, 200 * SEC),
        Decision::Wait {
            until: Some(220 * SEC)
        }
    );
    // A success resets the count of failures in a row.
    o.record_success(None);
    o.record_failure(&s, Verdict::Count, None, 300 * SEC);
    assert_eq!(
        reconcile(&s, &o, 300 * SEC),
        Decision::Wait {
            until: Some(310 * SEC)
        }
    );
}

#[test]
fn backoff_policy_zero_retries_at_once() {
    let s = spec(Some(1), 1, 6);
    let mut o = observed(0, 0, 0);
    o.record_failure(&s, Verdict::Count, None, 5 * SEC);
    assert_eq!(reconcile(&s, &o, 5 * SEC), Decision::Create(vec![None]));
}

#[test]
fn active_deadline_counts_from_start_time() {
    let mut s = spec(Some(1), 1, 6);
    s.active_deadline_seconds = Some(2);
    let o = observed(1, 0, 0);
    assert_eq!(
        reconcile(&s, &o, 2 * SEC - 1),
        Decision::Wait {
            until: Some(2 * SEC)
        }
    );
    assert!(failed_with(FailureReason::DeadlineExceeded)(&reconcile(
        &s,
        &o,
        2 * SEC
    )));
}

#[test]
fn the_deadline_wakes_the_controller_even_while_backing_off() {
    let mut s = spec(Some(1), 1, 6);
    s.backoff_policy = None;
    s.active_deadline_seconds = Some(5);
    let mut o = observed(0, 0, 0);
    o.record_failure(&s, Verdict::Count, None, SEC);
    assert_eq!(
        reconcile(&s, &o, SEC),
        Decision::Wait {
            until: Some(5 * SEC)
        }
    );
}

#[test]
fn suspension_stops_instances_creates_none_and_stops_the_clock() {
    let mut s = spec(Some(3), 2, 6);
    s.suspend = Some(true);
    s.active_deadline_seconds = Some(1);
    assert_eq!(
        reconcile(&s, &observed(2, 0, 0), 10 * SEC),
        Decision::Suspend
    );
    assert_eq!(
        reconcile(&s, &observed(0, 0, 0), 10 * SEC),
        Decision::Wait { until: None }
    );
    s.suspend = Some(false);
    assert_eq!(
        reconcile(&s, &observed(0, 0, 0), 0),
        Decision::Create(vec![None; 2])
    );
}

#[test]
fn fail_job_rule_fails_at_once_with_its_message() {
    let s = spec(Some(3), 1, 6);
    let mut o = observed(0, 0, 0);
    o.record_failure(&s, Verdict::FailJob("exit code 42".into()), None, 0);
    assert_eq!(
        reconcile(&s, &o, 0),
        Decision::Fail {
            reason: FailureReason::PodFailurePolicy,
            message: "exit code 42".into()
        }
    );
}

#[test]
fn ignored_failures_do_not_count() {
    let s = spec(Some(1), 1, 0);
    let mut o = observed(0, 0, 0);
    assert!(!o.record_failure(&s, Verdict::Ignore, None, 0));
    assert_eq!(o.failed, 0);
    assert_eq!(reconcile(&s, &o, 0), Decision::Create(vec![None]));
}

#[test]
fn indexed_jobs_create_each_missing_index_once() {
    let s = indexed(4, 2);
    let mut o = observed(0, 0, 0);
    assert_eq!(
        reconcile(&s, &o, 0),
        Decision::Create(vec![Some(0), Some(1)])
    );
    o.active = 1;
    o.active_indexes = [1].into();
    o.record_success(Some(0));
    assert_eq!(reconcile(&s, &o, 0), Decision::Create(vec![Some(2)]));
    o.active = 0;
    o.active_indexes.clear();
    for i in 1..4 {
        o.record_success(Some(i));
    }
    assert_eq!(
        reconcile(&s, &o, 0),
        Decision::Complete(SuccessReason::CompletionsReached)
    );
}

#[test]
fn an_index_past_its_own_limit_fails_and_is_not_retried() {
    let mut s = indexed(3, 3);
    s.backoff_limit_per_index = Some(1);
    s.backoff_limit = Some(i32::MAX);
    let mut o = observed(0, 0, 0);
    o.record_failure(&s, Verdict::Count, Some(1), 0);
    assert!(
        o.failed_indexes.is_empty(),
        "one failure is within the limit of 1"
    );
    o.record_failure(&s, Verdict::Count, Some(1), 0);
    assert_eq!(o.failed_indexes, [1].into());
    assert_eq!(
        reconcile(&s, &o, 0),
        Decision::Create(vec![Some(0), Some(2)])
    );
    // Once every index ended, the failed one fails the Job.
    o.record_success(Some(0));
    o.record_success(Some(2));
    assert!(failed_with(FailureReason::FailedIndexes)(&reconcile(
        &s, &o, 0
    )));
}

#[test]
fn fail_index_fails_only_that_index() {
    let mut s = indexed(2, 2);
    s.backoff_limit_per_index = Some(5);
    let mut o = observed(0, 0, 0);
    o.record_failure(&s, Verdict::FailIndex, Some(0), 0);
    assert_eq!(o.failed_indexes, [0].into());
    assert_eq!(reconcile(&s, &o, 0), Decision::Create(vec![Some(1)]));
}

#[test]
fn too_many_failed_indexes_fail_the_job() {
    let mut s = indexed(4, 4);
    s.backoff_limit_per_index = Some(0);
    s.max_failed_indexes = Some(1);
    let mut o = observed(2, 0, 0);
    o.record_failure(&s, Verdict::Count, Some(0), 0);
    assert!(!failed_with(FailureReason::MaxFailedIndexesExceeded)(
        &reconcile(&s, &o, 0)
    ));
    o.record_failure(&s, Verdict::Count, Some(1), 0);
    assert!(failed_with(FailureReason::MaxFailedIndexesExceeded)(
        &reconcile(&s, &o, 0)
    ));
}

#[test]
fn a_met_success_policy_completes_before_all_indexes() {
    let mut s = indexed(5, 5);
    s.success_policy = Some(SuccessPolicy {
        rules: vec![SuccessPolicyRule {
            succeeded_indexes: Some("0".into()),
            succeeded_count: None,
        }],
    });
    let mut o = observed(4, 0, 0);
    o.record_success(Some(0));
    assert_eq!(
        reconcile(&s, &o, 0),
        Decision::Complete(SuccessReason::SuccessPolicy)
    );
}

fn instance(
    phase: Phase,
    index: Option<u32>,
    exit_code: Option<i32>,
    reason: Option<&'static str>,
) -> RecordedInstance<'static> {
    RecordedInstance {
        name: "job-x",
        completion_index: index,
        phase,
        exit_code,
        reason,
        restart_count: 0,
        created_at: 0,
        finish_time: Some(SEC),
    }
}

#[test]
fn observing_recorded_instances_gives_the_same_counts() {
    let s = indexed(3, 2);
    let recorded = [
        instance(Phase::Succeeded, Some(0), Some(0), None),
        instance(Phase::Failed, Some(1), Some(1), Some("Error")),
        instance(Phase::Failed, Some(1), None, Some(NODE_RESTART)),
        instance(Phase::Running, Some(2), None, None),
    ];
    let o = observe(&s, Some(0), recorded);
    assert_eq!((o.succeeded, o.failed, o.active), (1, 2, 1));
    assert_eq!(o.succeeded_indexes, [0].into());
    assert_eq!(o.active_indexes, [2].into());
    assert_eq!(o.last_failure, Some(SEC));
}

#[test]
fn a_node_restart_is_a_disruption_for_the_failure_policy() {
    use crate::manifest::{
        Container, FailureAction, OnPodCondition, PodFailurePolicy, PodFailurePolicyRule,
    };
    let mut s = spec(Some(2), 1, 0);
    s.template.spec.containers.push(Container::default());
    s.pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![PodFailurePolicyRule {
            action: FailureAction::Ignore,
            on_exit_codes: None,
            on_pod_conditions: vec![OnPodCondition {
                kind: "DisruptionTarget".into(),
                status: "True".into(),
            }],
        }],
    });
    let o = observe(
        &s,
        Some(0),
        [instance(Phase::Failed, None, None, Some(NODE_RESTART))],
    );
    assert_eq!(
        o.failed, 0,
        "ignored by the policy, so backoffLimit 0 still allows a retry"
    );
    assert_eq!(reconcile(&s, &o, SEC), Decision::Create(vec![None]));
}

#[test]
fn instances_stopped_by_the_controller_are_not_failures() {
    let s = spec(Some(2), 1, 6);
    let o = observe(
        &s,
        Some(0),
        [instance(Phase::Failed, None, None, Some("Suspended"))],
    );
    assert_eq!(o.failed, 0);
}

#[test]
fn in_place_restarts_count_as_failures() {
    let s = spec(Some(1), 1, 6);
    let mut restarted = instance(Phase::Succeeded, None, Some(0), None);
    restarted.restart_count = 2;
    let o = observe(&s, Some(0), [restarted]);
    assert_eq!((o.succeeded, o.failed), (1, 2));
}

#[test]
fn a_node_restart_counts_but_does_not_delay_the_replacement() {
    let mut s = spec(Some(3), 1, 6);
    s.backoff_policy = None;
    let o = observe(
        &s,
        Some(0),
        [instance(Phase::Failed, None, None, Some(NODE_RESTART))],
    );
    assert_eq!(o.failed, 1);
    assert_eq!(reconcile(&s, &o, SEC), Decision::Create(vec![None]));
}

#[test]
fn resuming_restarts_the_deadline_clock() {
    let mut s = spec(Some(1), 1, 6);
    s.active_deadline_seconds = Some(10);
    let mut o = observed(0, 0, 0);
    // Suspended at 5 s, resumed at 100 s: the deadline is 110 s, not 10 s.
    o.resumed(100 * SEC);
    assert_eq!(reconcile(&s, &o, 100 * SEC), Decision::Create(vec![None]));
    o.active = 1;
    assert_eq!(
        reconcile(&s, &o, 100 * SEC),
        Decision::Wait {
            until: Some(110 * SEC)
        }
    );
}

fn stdin_queue(completions: Option<i32>, parallelism: i32) -> JobSpec {
    JobSpec {
        queue: Some(crate::manifest::QueueSource {
            url: None,
            name: "fruit".into(),
            mode: crate::manifest::QueueMode::Stdin,
        }),
        ..spec(completions, parallelism, 6)
    }
}

fn waiting(mut o: Observed, items: u64) -> Observed {
    o.queue_waiting = items;
    o
}

#[test]
fn a_stdin_queue_job_never_starts_more_instances_than_waiting_items() {
    let s = stdin_queue(Some(8), 2);
    assert_eq!(
        reconcile(&s, &waiting(observed(0, 0, 0), 1), 0),
        Decision::Create(vec![None])
    );
    assert_eq!(
        reconcile(&s, &waiting(observed(0, 0, 0), 5), 0),
        Decision::Create(vec![None; 2])
    );
}

#[test]
fn a_stdin_queue_job_with_nothing_waiting_looks_again_soon() {
    let s = stdin_queue(Some(8), 2);
    assert_eq!(
        reconcile(&s, &waiting(observed(0, 3, 0), 0), 10 * SEC),
        Decision::Wait {
            until: Some(10 * SEC + QUEUE_POLL)
        }
    );
}

#[test]
fn without_completions_a_stdin_queue_job_runs_until_the_queue_is_drained() {
    let s = stdin_queue(None, 2);
    // A success does not end it while items wait, unlike a plain work-queue Job.
    assert_eq!(
        reconcile(&s, &waiting(observed(1, 3, 0), 4), 0),
        Decision::Create(vec![None])
    );
    assert_eq!(
        reconcile(&s, &waiting(observed(1, 3, 0), 0), 0),
        Decision::Wait {
            until: Some(QUEUE_POLL)
        }
    );
    assert_eq!(
        reconcile(&s, &waiting(observed(0, 9, 0), 0), 0),
        Decision::Complete(SuccessReason::CompletionsReached)
    );
}

#[test]
fn start_after_holds_the_first_instance_until_its_time() {
    let s = JobSpec {
        start_after: Some("2026-12-24T18:00:00Z".into()),
        active_deadline_seconds: Some(60),
        ..spec(Some(2), 2, 6)
    };
    let at = s.start_after().unwrap();
    let fresh = Observed::default();
    // Before it: wait until then; the deadline has not started counting.
    assert_eq!(
        reconcile(&s, &fresh, at - SEC),
        Decision::Wait { until: Some(at) }
    );
    // At it: the instances start.
    assert_eq!(
        reconcile(&s, &fresh, at),
        Decision::Create(vec![None, None])
    );
    // Once started, a later startAfter (an update) stops nothing.
    let later = JobSpec {
        start_after: Some("2027-01-01T00:00:00Z".into()),
        ..s.clone()
    };
    let started = Observed {
        start_time: Some(at),
        active: 1,
        ..Observed::default()
    };
    assert_eq!(
        reconcile(&later, &started, at + SEC),
        Decision::Create(vec![None])
    );
}
